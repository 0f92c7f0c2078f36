//! MISEV protein marker categories, at gene level, with a UniProt lookup for tables without genes.
//!
//! MISEV2018 (Théry et al. 2018, Table 3) sorts proteins found in EV preparations into five
//! categories; MISEV2023 (Welsh et al. 2024) keeps the scheme for protein characterisation:
//!
//! 1. transmembrane or GPI-anchored proteins associated with the plasma membrane/endosomes
//!    (1a cell-unspecific: tetraspanins CD63/CD81/CD82, integrins, MHC I, LAMP1/2, …;
//!    1b cell-specific: CD9, THY1, PTPRC, …) — evidence of a lipid-bilayer EV;
//! 2. cytosolic proteins recovered in EVs (2a with lipid/membrane-binding ability: TSG101,
//!    PDCD6IP/ALIX, SDCBP, flotillins, caveolins, annexins, HSPA8, …; 2b promiscuous: HSPA1A,
//!    actins, GAPDH, tubulin) — evidence of enclosed cytosol;
//! 3. major non-EV co-isolated structures (3a lipoproteins and albumin: APOA1, APOA2, APOB, ALB;
//!    3b protein/nucleic-acid aggregates: UMOD, ribosomal proteins) — purity markers;
//! 4. proteins of other intracellular compartments (4a nucleus incl. histones, 4b mitochondria,
//!    4c secretory pathway: CANX, HSP90B1, HSPA5, GOLGA2; 4d autophagosomes/cytoskeleton);
//! 5. secreted or extracellular proteins that may bind EVs (5a cytokines/growth factors,
//!    5b adhesion/ECM such as FN1, MFGE8).
//!
//! The gene list is `data/misev2018_categories.tsv`, derived from the EVqualityMS transcription of
//! Table 3 (its header gives source file, SHA-256 and every correction). Accession and entry-name
//! lookup uses `data/misev_marker_uniprot.tsv`, built from the accession–gene pairs that the
//! shared real proteomics tables report together; markers not seen there are found by symbol or
//! by the entry-name mnemonic only.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::{PanelError, Result};

/// The embedded MISEV2018 category table.
pub const MISEV2018_TABLE: &str = include_str!("../data/misev2018_categories.tsv");

/// The embedded accession / entry-name table of MISEV marker genes.
pub const MARKER_UNIPROT_TABLE: &str = include_str!("../data/misev_marker_uniprot.tsv");

/// Citation of the category scheme.
pub const MISEV2018_CITATION: &str = "Théry C, Witwer KW, Aikawa E, et al. Minimal information for studies of extracellular vesicles 2018 (MISEV2018): a position statement of the International Society for Extracellular Vesicles and update of the MISEV2014 guidelines. J Extracell Vesicles. 2018;7(1):1535750. doi:10.1080/20013078.2018.1535750";

/// Citation of the current guideline, which keeps the category scheme.
pub const MISEV2023_CITATION: &str = "Welsh JA, Goberdhan DCI, O'Driscoll L, et al. Minimal information for studies of extracellular vesicles (MISEV2023): from basic to advanced approaches. J Extracell Vesicles. 2024;13(2):e12404. doi:10.1002/jev2.12404";

/// A MISEV2018 protein category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MisevCategory {
    /// 1: transmembrane or GPI-anchored, plasma membrane/endosome.
    Transmembrane = 1,
    /// 2: cytosolic, recovered in EVs.
    Cytosolic = 2,
    /// 3: non-EV co-isolated structures (lipoproteins, albumin, aggregates).
    CoIsolated = 3,
    /// 4: other intracellular compartments (nucleus, mitochondria, ER/Golgi, autophagosomes).
    OtherCompartment = 4,
    /// 5: secreted or extracellular proteins that may bind EVs.
    Secreted = 5,
}

impl MisevCategory {
    /// All categories in order.
    pub const ALL: [MisevCategory; 5] = [
        MisevCategory::Transmembrane,
        MisevCategory::Cytosolic,
        MisevCategory::CoIsolated,
        MisevCategory::OtherCompartment,
        MisevCategory::Secreted,
    ];

    /// The category number (1–5).
    pub fn number(self) -> u8 {
        self as u8
    }

    /// From the category number.
    pub fn from_number(n: u8) -> Option<MisevCategory> {
        MisevCategory::ALL
            .get(usize::from(n).wrapping_sub(1))
            .copied()
    }

    /// Stable short name used in output columns.
    pub fn name(self) -> &'static str {
        match self {
            MisevCategory::Transmembrane => "transmembrane",
            MisevCategory::Cytosolic => "cytosolic",
            MisevCategory::CoIsolated => "co_isolated",
            MisevCategory::OtherCompartment => "other_compartment",
            MisevCategory::Secreted => "secreted",
        }
    }

    /// Human description.
    pub fn description(self) -> &'static str {
        match self {
            MisevCategory::Transmembrane => {
                "transmembrane or GPI-anchored (plasma membrane/endosome)"
            }
            MisevCategory::Cytosolic => "cytosolic protein recovered in EVs",
            MisevCategory::CoIsolated => "non-EV co-isolate (lipoprotein, albumin, aggregate)",
            MisevCategory::OtherCompartment => {
                "other intracellular compartment (nucleus, mitochondria, ER/Golgi, autophagosome)"
            }
            MisevCategory::Secreted => "secreted or extracellular protein",
        }
    }
}

/// One marker row of the category table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MisevMarker {
    /// Gene symbol (upper case); for prefix rules the prefix without `*` (e.g. `H4C`).
    pub gene: String,
    /// True when `gene` is a prefix rule (histone classes).
    pub is_prefix: bool,
    /// Category.
    pub category: MisevCategory,
    /// Sub-category, e.g. `1a`, `2b`, `4c`.
    pub subcategory: String,
    /// Protein family as transcribed (e.g. `Tetraspanins`).
    pub family: String,
    /// Compartment / category description as transcribed.
    pub compartment: String,
    /// What was changed relative to the source row (`as in source` when nothing).
    pub curation: String,
}

/// How a protein identifier was matched to a marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdMatch {
    /// By gene symbol (case-insensitive; prefix rules for histones).
    Symbol,
    /// By UniProt accession (isoform suffix dropped) via the embedded table.
    Accession,
    /// By UniProt entry name (e.g. `CD63_HUMAN`) via the embedded table.
    EntryName,
    /// By the entry-name mnemonic read as a symbol (`FLOT1_MOUSE` → `FLOT1`).
    Mnemonic,
}

impl IdMatch {
    /// Stable lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            IdMatch::Symbol => "symbol",
            IdMatch::Accession => "accession",
            IdMatch::EntryName => "entry_name",
            IdMatch::Mnemonic => "mnemonic",
        }
    }
}

/// The MISEV marker categories with symbol, accession and entry-name lookup.
#[derive(Debug, Clone)]
pub struct MisevMarkers {
    markers: Vec<MisevMarker>,
    by_gene: HashMap<String, usize>,
    prefixes: Vec<usize>,
    gene_by_accession: HashMap<String, String>,
    gene_by_entry: HashMap<String, String>,
}

impl MisevMarkers {
    /// The embedded MISEV2018 categories (parsed once).
    pub fn misev2018() -> &'static MisevMarkers {
        static M: OnceLock<MisevMarkers> = OnceLock::new();
        M.get_or_init(|| {
            MisevMarkers::from_tables(MISEV2018_TABLE, MARKER_UNIPROT_TABLE)
                .expect("the embedded MISEV tables are well-formed (checked by unit tests)")
        })
    }

    /// Build from a category table (`gene, category, subcategory, family, compartment, curation`)
    /// and an accession table (`gene, accession, entry_name, seen_in`).
    pub fn from_tables(categories: &str, uniprot: &str) -> Result<MisevMarkers> {
        let cat_rows = data_rows(
            categories,
            "MISEV category table",
            &[
                "gene",
                "category",
                "subcategory",
                "family",
                "compartment",
                "curation",
            ],
        )?;
        if cat_rows.is_empty() {
            return Err(PanelError::Parse {
                source_name: "MISEV category table".into(),
                line: 1,
                problem: "no markers".into(),
            });
        }
        let mut m = MisevMarkers {
            markers: Vec::new(),
            by_gene: HashMap::new(),
            prefixes: Vec::new(),
            gene_by_accession: HashMap::new(),
            gene_by_entry: HashMap::new(),
        };
        for (line, c) in cat_rows {
            let bad = |problem: String| PanelError::Parse {
                source_name: "MISEV category table".into(),
                line,
                problem,
            };
            let category = c[1]
                .parse::<u8>()
                .ok()
                .and_then(MisevCategory::from_number)
                .ok_or_else(|| bad(format!("category '{}' is not 1-5", c[1])))?;
            if !c[2].starts_with(c[1]) {
                return Err(bad(format!(
                    "subcategory '{}' does not belong to category {}",
                    c[2], c[1]
                )));
            }
            let (gene, is_prefix) = match c[0].strip_suffix('*') {
                Some(p) => (p.to_ascii_uppercase(), true),
                None => (c[0].to_ascii_uppercase(), false),
            };
            if gene.is_empty() {
                return Err(bad("empty gene".into()));
            }
            let k = m.markers.len();
            if is_prefix {
                m.prefixes.push(k);
            } else if m.by_gene.insert(gene.clone(), k).is_some() {
                return Err(bad(format!("gene '{gene}' listed twice")));
            }
            m.markers.push(MisevMarker {
                gene,
                is_prefix,
                category,
                subcategory: c[2].to_string(),
                family: c[3].to_string(),
                compartment: c[4].to_string(),
                curation: c[5].to_string(),
            });
        }
        for (line, c) in data_rows(
            uniprot,
            "MISEV UniProt table",
            &["gene", "accession", "entry_name", "seen_in"],
        )? {
            let gene = c[0].to_ascii_uppercase();
            if !m.by_gene.contains_key(&gene) {
                return Err(PanelError::Parse {
                    source_name: "MISEV UniProt table".into(),
                    line,
                    problem: format!("gene '{gene}' is not in the category table"),
                });
            }
            m.gene_by_accession.insert(c[1].to_string(), gene.clone());
            if c[2] != "-" {
                m.gene_by_entry.insert(c[2].to_ascii_uppercase(), gene);
            }
        }
        Ok(m)
    }

    /// All markers in table order.
    pub fn markers(&self) -> &[MisevMarker] {
        &self.markers
    }

    /// Markers of one category.
    pub fn in_category(&self, c: MisevCategory) -> impl Iterator<Item = &MisevMarker> {
        self.markers.iter().filter(move |m| m.category == c)
    }

    /// The marker a gene symbol belongs to (case-insensitive; histone prefix rules apply).
    pub fn lookup_symbol(&self, symbol: &str) -> Option<&MisevMarker> {
        let s = symbol.trim().to_ascii_uppercase();
        if s.is_empty() {
            return None;
        }
        if let Some(&k) = self.by_gene.get(&s) {
            return Some(&self.markers[k]);
        }
        self.prefixes
            .iter()
            .map(|&k| &self.markers[k])
            .find(|m| s.starts_with(&m.gene) && s.len() > m.gene.len())
    }

    /// Match one protein identifier: a UniProt accession (`P08962`, `P08962-2`), an entry name
    /// (`CD63_HUMAN`), a FASTA-style id (`sp|P08962|CD63_HUMAN`) or a bare symbol. Ids that carry
    /// a contaminant or decoy prefix (`contam_`, `CON__`, `REV__`, `rev_`) never match.
    /// Returns the marker and the marker gene (which differs from the symbol for prefix rules).
    pub fn match_protein_id(&self, id: &str) -> Option<(&MisevMarker, String, IdMatch)> {
        let id = id.trim();
        let lower = id.to_ascii_lowercase();
        if ["contam_", "con__", "rev__", "rev_", "decoy_"]
            .iter()
            .any(|p| lower.starts_with(p))
        {
            return None;
        }
        let parts: Vec<&str> = id.split('|').collect();
        let (acc, entry) = match parts.as_slice() {
            [db, acc, entry, ..] if matches!(*db, "sp" | "tr") => (Some(*acc), Some(*entry)),
            [db, acc] if matches!(*db, "sp" | "tr") => (Some(*acc), None),
            [one] if one.contains('_') => (None, Some(*one)),
            [one] if is_uniprot_accession(one) => (Some(*one), None),
            [one] => {
                return self
                    .lookup_symbol(one)
                    .map(|m| (m, one.to_ascii_uppercase(), IdMatch::Symbol))
            }
            _ => (None, None),
        };
        if let Some(acc) = acc {
            let canonical = acc.split('-').next().unwrap_or(acc);
            if let Some(g) = self.gene_by_accession.get(canonical) {
                return self
                    .lookup_symbol(g)
                    .map(|m| (m, g.clone(), IdMatch::Accession));
            }
        }
        if let Some(entry) = entry {
            let e = entry.to_ascii_uppercase();
            if let Some(g) = self.gene_by_entry.get(&e) {
                return self
                    .lookup_symbol(g)
                    .map(|m| (m, g.clone(), IdMatch::EntryName));
            }
            if let Some((mnemonic, _species)) = e.split_once('_') {
                // An accession-named (unreviewed) entry has no mnemonic to read.
                if !is_uniprot_accession(mnemonic) {
                    return self
                        .lookup_symbol(mnemonic)
                        .map(|m| (m, mnemonic.to_string(), IdMatch::Mnemonic));
                }
            }
        }
        None
    }
}

/// UniProt accession pattern (with an optional isoform suffix), as documented by UniProt.
pub fn is_uniprot_accession(s: &str) -> bool {
    let base = s.split_once('-').map_or(s, |(b, iso)| {
        if !iso.is_empty() && iso.bytes().all(|c| c.is_ascii_digit()) {
            b
        } else {
            ""
        }
    });
    let b = base.as_bytes();
    let alnum = |c: &u8| c.is_ascii_uppercase() || c.is_ascii_digit();
    match b.len() {
        6 if matches!(b[0], b'O' | b'P' | b'Q') => {
            b[1].is_ascii_digit() && b[2..5].iter().all(alnum) && b[5].is_ascii_digit()
        }
        6 | 10 if b[0].is_ascii_uppercase() && !matches!(b[0], b'O' | b'P' | b'Q') => {
            b[1].is_ascii_digit()
                && b[2..].chunks(4).all(|ch| {
                    ch.len() == 4
                        && ch[0].is_ascii_uppercase()
                        && ch[1..3].iter().all(alnum)
                        && ch[3].is_ascii_digit()
                })
        }
        _ => false,
    }
}

/// Non-comment rows of a tab-separated table whose header must equal `header`.
pub(crate) fn data_rows<'a>(
    text: &'a str,
    source_name: &str,
    header: &[&str],
) -> Result<Vec<(usize, Vec<&'a str>)>> {
    let mut rows = Vec::new();
    let mut header_seen = false;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.starts_with('#') || raw.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = raw.split('\t').map(str::trim).collect();
        if !header_seen {
            if cols != header {
                return Err(PanelError::Parse {
                    source_name: source_name.into(),
                    line,
                    problem: format!("header must be: {}", header.join(", ")),
                });
            }
            header_seen = true;
            continue;
        }
        if cols.len() != header.len() {
            return Err(PanelError::Parse {
                source_name: source_name.into(),
                line,
                problem: format!("{} columns, expected {}", cols.len(), header.len()),
            });
        }
        rows.push((line, cols));
    }
    if !header_seen {
        return Err(PanelError::Parse {
            source_name: source_name.into(),
            line: 1,
            problem: format!("no header; expected: {}", header.join(", ")),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m() -> &'static MisevMarkers {
        MisevMarkers::misev2018()
    }

    #[test]
    fn embedded_categories() {
        let count = |c| m().in_category(c).count();
        // 60 + 35 - 1 duplicate (ITGA2B) in category 1; 17 + 7 histone prefix rules in 4;
        // IL1 expanded to IL1A/IL1B in 5.
        assert_eq!(count(MisevCategory::Transmembrane), 94);
        assert_eq!(count(MisevCategory::Cytosolic), 57);
        assert_eq!(count(MisevCategory::CoIsolated), 10);
        assert_eq!(count(MisevCategory::OtherCompartment), 17 + 7);
        assert_eq!(count(MisevCategory::Secreted), 32);
        for (g, c, sub) in [
            ("CD9", 1, "1b"),
            ("CD63", 1, "1a"),
            ("CD81", 1, "1a"),
            ("TSG101", 2, "2a"),
            ("PDCD6IP", 2, "2a"),
            ("SDCBP", 2, "2a"),
            ("FLOT1", 2, "2a"),
            ("APOA1", 3, "3a"),
            ("APOB", 3, "3a"),
            ("ALB", 3, "3a"),
            ("CANX", 4, "4c"),
            ("HSP90B1", 4, "4c"),
            ("GOLGA2", 4, "4c"),
            ("HSPA5", 4, "4c"),
            ("THY1", 1, "1b"),
        ] {
            let k = m().lookup_symbol(g).unwrap_or_else(|| panic!("{g}"));
            assert_eq!(
                (k.category.number(), k.subcategory.as_str()),
                (c, sub),
                "{g}"
            );
        }
        assert!(m().lookup_symbol("THY7").is_none());
    }

    #[test]
    fn symbols_case_and_histones() {
        assert_eq!(m().lookup_symbol("cd63").unwrap().gene, "CD63");
        assert_eq!(m().lookup_symbol("Tsg101").unwrap().gene, "TSG101");
        let h = m().lookup_symbol("H2BC12").unwrap();
        assert_eq!(
            (h.category, h.is_prefix),
            (MisevCategory::OtherCompartment, true)
        );
        assert_eq!(
            m().lookup_symbol("HIST1H4A").unwrap().category,
            MisevCategory::OtherCompartment
        );
        assert!(m().lookup_symbol("H4C").is_none());
        assert!(m().lookup_symbol("").is_none());
        assert!(m().lookup_symbol("GAPDHS").is_none());
    }

    #[test]
    fn protein_ids() {
        let hit = |id: &str| {
            m().match_protein_id(id)
                .map(|(k, g, how)| (k.gene.clone(), g, how))
        };
        assert_eq!(
            hit("P08962"),
            Some(("CD63".into(), "CD63".into(), IdMatch::Accession))
        );
        assert_eq!(
            hit("Q8WUM4-2"),
            Some(("PDCD6IP".into(), "PDCD6IP".into(), IdMatch::Accession))
        );
        assert_eq!(
            hit("sp|P02768|ALBU_HUMAN"),
            Some(("ALB".into(), "ALB".into(), IdMatch::Accession))
        );
        assert_eq!(
            hit("CALX_HUMAN"),
            Some(("CANX".into(), "CANX".into(), IdMatch::EntryName))
        );
        assert_eq!(
            hit("CD81_MOUSE"),
            Some(("CD81".into(), "CD81".into(), IdMatch::Mnemonic))
        );
        assert_eq!(
            hit("flot1"),
            Some(("FLOT1".into(), "FLOT1".into(), IdMatch::Symbol))
        );
        assert_eq!(hit("contam_sp|P02769|ALBU_BOVIN"), None);
        assert_eq!(hit("CON__P02769"), None);
        assert_eq!(hit("A0A024R4E5_HUMAN"), None);
        assert_eq!(hit("P99999"), None);
    }

    #[test]
    fn accession_pattern() {
        for ok in ["P08962", "Q8WUM4", "A0A024R4E5", "O00560-3", "F8WAR7"] {
            assert!(is_uniprot_accession(ok), "{ok}");
        }
        for bad in [
            "CD63",
            "P0896",
            "P08962-",
            "p08962",
            "A0A024R4E",
            "CD63_HUMAN",
        ] {
            assert!(!is_uniprot_accession(bad), "{bad}");
        }
    }

    #[test]
    fn category_numbers() {
        for c in MisevCategory::ALL {
            assert_eq!(MisevCategory::from_number(c.number()), Some(c));
        }
        assert_eq!(MisevCategory::from_number(0), None);
        assert_eq!(MisevCategory::from_number(6), None);
    }

    #[test]
    fn bad_tables_rejected() {
        let u = "gene\taccession\tentry_name\tseen_in\n";
        let e = MisevMarkers::from_tables("", u).unwrap_err();
        assert!(e.to_string().contains("no header"), "{e}");
        let hdr = "gene\tcategory\tsubcategory\tfamily\tcompartment\tcuration\n";
        let e = MisevMarkers::from_tables(&format!("{hdr}CD9\t7\t7a\tx\ty\tz\n"), u).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = MisevMarkers::from_tables(&format!("{hdr}CD9\t1\t2a\tx\ty\tz\n"), u).unwrap_err();
        assert!(e.to_string().contains("subcategory"), "{e}");
        let cats = format!("{hdr}CD9\t1\t1b\tx\ty\tz\n");
        let e = MisevMarkers::from_tables(&cats, &format!("{u}CD63\tP08962\tCD63_HUMAN\tx\n"))
            .unwrap_err();
        assert!(e.to_string().contains("CD63"), "{e}");
    }
}
