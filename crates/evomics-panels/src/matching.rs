//! Matching panel entries to the features of a data layer.
//!
//! A panel names molecules (miRBase v22 names, gene symbols, or what a user wrote); a layer has
//! feature ids and, for proteomes, a gene annotation. [`match_panels`] finds, for every panel of
//! a [`PanelSet`], the layer features each entry stands for:
//!
//! - **miRNA entries** (kind `mirna`) match a feature whose id harmonizes to one of the entry's
//!   candidate names ([`PanelEntry::match_names`]) under miRBase v22 ([`MirnaHarmonizer`]), so
//!   `miR-27a-5p`, `hsa-miR-27a-5p` and `MIMAT0004501` in the data all match the entry
//!   `hsa-miR-27a-5p`; an ambiguous entry (`miR-27a`, no arm) matches every arm present. miRNA
//!   names are compared exactly after harmonization (`miR` and `mir` differ in miRBase: mature
//!   versus precursor). When nothing harmonizes, the written name is compared with the ids
//!   ignoring case.
//! - **Other entries** (proteins, user features kept as written) match a feature whose id equals
//!   the name ignoring case, else a feature whose gene annotation lists the name ignoring case
//!   (protein groups such as `CD9;CD81` are split on `;` and `,`).
//!
//! A feature belongs to a panel once: when two entries of one panel match the same feature (an
//! ambiguous `miR-27a` and an explicit `miR-27a-5p`), the first entry wins and, if their
//! directions differ, the clash is reported in [`MatchedPanel::conflicts`]. Output order is
//! deterministic: panels in set order, members in entry order then layer order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::mirna::MirnaHarmonizer;
use crate::panels::{Direction, FeatureKind, PanelEntry, PanelSet};

/// How a panel entry was found in the layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// The feature id harmonizes to the entry's miRBase v22 name.
    MirnaName,
    /// The feature id equals the entry's name (ignoring case).
    Id,
    /// The feature's gene annotation lists the entry's name (ignoring case).
    Gene,
}

impl MatchedBy {
    /// Stable lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            MatchedBy::MirnaName => "mirna_name",
            MatchedBy::Id => "id",
            MatchedBy::Gene => "gene",
        }
    }
}

/// One layer feature that belongs to a panel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PanelMember {
    /// Row of the feature in the layer.
    pub feature: usize,
    /// The entry's feature name (v22 name, symbol, or as written).
    pub entry: String,
    /// The entry's name as its source wrote it.
    pub as_written: String,
    /// The entry's direction.
    pub direction: Direction,
    /// How the feature was matched.
    pub matched_by: MatchedBy,
    /// The name that matched (a candidate miRNA name, the id, or the gene symbol).
    pub matched_name: String,
}

/// A panel with the layer features its entries matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchedPanel {
    /// Panel name.
    pub panel: String,
    /// Number of entries the panel has.
    pub n_entries: usize,
    /// Matched features, each once.
    pub members: Vec<PanelMember>,
    /// Entries (their `feature` names) that matched nothing in the layer.
    pub unmatched: Vec<String>,
    /// Features matched by two entries of the panel with different directions (the first
    /// entry's direction is kept), as `feature_id: entry (direction) vs entry (direction)`.
    pub conflicts: Vec<String>,
}

impl MatchedPanel {
    /// True when the members carry both signs (up/pro and down/anti), i.e. the panel is a
    /// signed signature rather than a list of molecules.
    pub fn is_signed(&self) -> bool {
        let pos = self.members.iter().any(|m| m.direction.sign() > 0.0);
        let neg = self.members.iter().any(|m| m.direction.sign() < 0.0);
        pos && neg
    }
}

/// Lookup tables of a layer's features.
struct FeatureIndex {
    by_id: BTreeMap<String, Vec<usize>>,
    by_gene: BTreeMap<String, Vec<usize>>,
    by_mirna: BTreeMap<String, Vec<usize>>,
}

impl FeatureIndex {
    fn new(ids: &[String], genes: Option<&[Option<String>]>) -> FeatureIndex {
        let harmonizer = MirnaHarmonizer::mirbase_v22();
        let mut by_id: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut by_gene: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut by_mirna: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, id) in ids.iter().enumerate() {
            by_id.entry(id.trim().to_lowercase()).or_default().push(i);
            if let Some(c) = harmonizer.harmonize(id).canonical {
                by_mirna.entry(c).or_default().push(i);
            }
            if let Some(Some(g)) = genes.and_then(|g| g.get(i)) {
                for sym in g.split([';', ',']).map(str::trim).filter(|s| !s.is_empty()) {
                    let list = by_gene.entry(sym.to_lowercase()).or_default();
                    if list.last() != Some(&i) {
                        list.push(i);
                    }
                }
            }
        }
        FeatureIndex {
            by_id,
            by_gene,
            by_mirna,
        }
    }

    /// Features an entry stands for, with how and through which name they matched.
    fn find(&self, entry: &PanelEntry) -> Vec<(usize, MatchedBy, String)> {
        let mut out: Vec<(usize, MatchedBy, String)> = Vec::new();
        fn push(
            out: &mut Vec<(usize, MatchedBy, String)>,
            rows: &[usize],
            by: MatchedBy,
            name: &str,
        ) {
            for &r in rows {
                if !out.iter().any(|(f, _, _)| *f == r) {
                    out.push((r, by, name.to_string()));
                }
            }
        }
        if entry.kind == FeatureKind::Mirna {
            for name in entry.match_names() {
                if let Some(rows) = self.by_mirna.get(name) {
                    push(&mut out, rows, MatchedBy::MirnaName, name);
                }
            }
            if out.is_empty() {
                if let Some(rows) = self.by_id.get(&entry.feature.trim().to_lowercase()) {
                    push(&mut out, rows, MatchedBy::Id, &entry.feature);
                }
            }
            return out;
        }
        for name in entry.match_names() {
            let key = name.trim().to_lowercase();
            if let Some(rows) = self.by_id.get(&key) {
                push(&mut out, rows, MatchedBy::Id, name);
            }
        }
        if out.is_empty() {
            for name in entry.match_names() {
                let key = name.trim().to_lowercase();
                if let Some(rows) = self.by_gene.get(&key) {
                    push(&mut out, rows, MatchedBy::Gene, name);
                }
            }
        }
        out
    }
}

/// Match every panel of `set` to a layer with feature `ids` and, optionally, a gene-symbol
/// annotation `genes` (one entry per feature). See the module documentation for the rules.
pub fn match_panels(
    set: &PanelSet,
    ids: &[String],
    genes: Option<&[Option<String>]>,
) -> Vec<MatchedPanel> {
    let index = FeatureIndex::new(ids, genes);
    set.panel_names()
        .into_iter()
        .map(|panel| {
            let entries: Vec<&PanelEntry> =
                set.entries().iter().filter(|e| e.panel == panel).collect();
            let mut members: Vec<PanelMember> = Vec::new();
            let mut unmatched = Vec::new();
            let mut conflicts = Vec::new();
            for e in &entries {
                let found = index.find(e);
                if found.is_empty() {
                    unmatched.push(e.feature.clone());
                }
                for (row, by, name) in found {
                    if let Some(prev) = members.iter().find(|m| m.feature == row) {
                        if prev.direction.sign() != e.direction.sign() {
                            conflicts.push(format!(
                                "{}: {} ({}) vs {} ({})",
                                ids[row],
                                prev.entry,
                                prev.direction.name(),
                                e.feature,
                                e.direction.name()
                            ));
                        }
                        continue;
                    }
                    members.push(PanelMember {
                        feature: row,
                        entry: e.feature.clone(),
                        as_written: e.as_written.clone(),
                        direction: e.direction,
                        matched_by: by,
                        matched_name: name,
                    });
                }
            }
            MatchedPanel {
                panel: panel.to_string(),
                n_entries: entries.len(),
                members,
                unmatched,
                conflicts,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn mirna_entries_match_through_harmonization_and_arms() {
        let set = PanelSet::parse_user(
            "panel\tfeature\tdirection\nP\tmiR-27a\tpro\nP\tmiR-451a\tpro\nP\thsa-miR-27a-5p\tanti\nP\tmiR-9999-3p\tpro\n",
            "t.tsv",
        )
        .unwrap();
        // data names in several spellings; miR-27a is ambiguous, so both arms match it
        let data = ids(&[
            "mir-27a-3p",
            "hsa-miR-27a-5p",
            "HSA-MIR-451A",
            "hsa-mir-451a",
        ]);
        let m = match_panels(&set, &data, None);
        assert_eq!(m.len(), 1);
        let p = &m[0];
        let rows: Vec<usize> = p.members.iter().map(|x| x.feature).collect();
        // precursor name hsa-mir-451a harmonizes to the mature too (single product)
        assert_eq!(rows, vec![0, 1, 2, 3]);
        assert!(p
            .members
            .iter()
            .all(|x| x.matched_by == MatchedBy::MirnaName));
        assert_eq!(p.unmatched, vec!["miR-9999-3p".to_string()]);
        // 27a-5p was already matched by the ambiguous pro entry; the anti entry clashes
        assert_eq!(p.conflicts.len(), 1, "{:?}", p.conflicts);
        assert_eq!(
            p.conflicts[0],
            "hsa-miR-27a-5p: miR-27a (pro) vs hsa-miR-27a-5p (anti)"
        );
        assert!(!p.is_signed());
    }

    #[test]
    fn proteins_match_by_id_then_gene_ignoring_case() {
        let set = PanelSet::parse_user(
            "panel\tfeature\tdirection\nsig\tP0001\tup\nsig\tmgp\tdown\nsig\tCD81\tup\n",
            "t.tsv",
        )
        .unwrap();
        let data = ids(&["p0001", "Q9XYZ1", "O00001", "O00002"]);
        let genes = vec![
            Some("FOO".to_string()),
            Some("MGP".to_string()),
            Some("CD9;CD81".to_string()),
            None,
        ];
        let m = match_panels(&set, &data, Some(&genes));
        let p = &m[0];
        let got: Vec<(usize, MatchedBy)> = p
            .members
            .iter()
            .map(|x| (x.feature, x.matched_by))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, MatchedBy::Id),
                (1, MatchedBy::Gene),
                (2, MatchedBy::Gene)
            ]
        );
        assert!(p.is_signed());
        assert!(p.unmatched.is_empty());
    }

    #[test]
    fn curated_bm_msc_proteins_match_gene_symbols() {
        let set = PanelSet::osteogenic();
        let data = ids(&["P23142", "P08493", "P01034", "XXXX"]);
        let genes = vec![
            Some("FBLN1".to_string()),
            Some("MGP".to_string()),
            Some("CST3".to_string()),
            Some("ALB".to_string()),
        ];
        let m = match_panels(set, &data, Some(&genes));
        let p = m.iter().find(|p| p.panel == "bm_msc_ev_proteins").unwrap();
        assert_eq!(p.n_entries, 19);
        let rows: Vec<usize> = p.members.iter().map(|x| x.feature).collect();
        assert_eq!(
            rows,
            vec![0, 1, 2],
            "entry order: FBLN1, (PRELP), MGP, CST3"
        );
        assert_eq!(p.unmatched.len(), 16);
    }
}
