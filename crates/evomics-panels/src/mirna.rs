//! miRNA name harmonization to miRBase release 22 human mature names.
//!
//! Count tables name miRNAs in many ways: `hsa-miR-27a-3p` (miRBase), `miR-27a-3p` (no species
//! prefix), `HSA-MIR-27A-3P` (case lost), `MIMAT0000084` (accession), `hsa-mir-27a` (the
//! precursor), `hsa-mir-7-1_mature` (sRNAbench-style precursor plus suffix), or an arm-less
//! `miR-27a`. [`MirnaHarmonizer::harmonize`] maps each to the v22 mature name when that is
//! unambiguous and says how it got there ([`HarmonizeStatus`]); anything it cannot map is kept
//! unchanged and marked so the caller can warn.
//!
//! The reference is the embedded table `data/mirbase_v22_hsa_mature.tsv` (2,656 mature
//! miRNAs with MIMAT accession and precursor(s)), derived from miRBase v22 as its header
//! comment states. miRBase's alias history (`aliases.txt`) is not in the shared reference data,
//! so dead or renamed names (e.g. `hsa-miR-27a*`, pre-v18 star names) are reported as
//! [`HarmonizeStatus::Unknown`] and kept; a MIMAT accession, which is stable across renames, is
//! the reliable way to bring such names forward.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

/// The embedded miRBase v22 human mature table.
pub const MIRBASE_V22_TABLE: &str = include_str!("../data/mirbase_v22_hsa_mature.tsv");

/// Name of the reference release, as reported in outputs.
pub const MIRBASE_RELEASE: &str = "miRBase v22";

/// One human mature miRNA of the reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatureMirna {
    /// Mature name, e.g. `hsa-miR-27a-3p`.
    pub name: String,
    /// MIMAT accession, e.g. `MIMAT0000084`.
    pub accession: String,
    /// Precursor (stem-loop) names it derives from, e.g. `hsa-mir-27a`.
    pub precursors: Vec<String>,
    /// Precursor accessions (`MI…`), in the same order as `precursors`.
    pub precursor_accessions: Vec<String>,
}

/// How an input name was mapped (or why it was not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HarmonizeStatus {
    /// The input is a v22 mature name, character for character.
    Exact,
    /// Equal to a v22 mature name after adding the `hsa-` prefix and/or fixing letter case.
    Normalized,
    /// The input is a MIMAT accession (an `_n` locus suffix is dropped).
    FromAccession,
    /// An arm-less mature name (`miR-1307`) whose precursor family yields a single v22 mature.
    ArmResolved,
    /// A precursor name or accession (`hsa-mir-451a`, `MI0001729`, `hsa-mir-451a_mature`) that
    /// yields a single v22 mature.
    FromPrecursor,
    /// The input could mean several v22 matures (arm-less name or multi-product precursor); kept.
    Ambiguous {
        /// The v22 mature names it could mean, sorted.
        candidates: Vec<String>,
    },
    /// A miRNA of another species (`mmu-`, `rno-`, …); kept unchanged.
    NotHuman {
        /// The species prefix as written, lower-cased (e.g. `mmu`).
        species: String,
    },
    /// Reads on the precursor rather than a mature product (`_precursor`, `_stemloop`,
    /// `_hairpin`, `_unannotated` suffixes); kept unchanged.
    NotMature,
    /// Not a v22 human name in any recognised form (dead/renamed names included); kept unchanged.
    Unknown,
}

impl HarmonizeStatus {
    /// Stable lower-case name used in output tables.
    pub fn name(&self) -> &'static str {
        match self {
            HarmonizeStatus::Exact => "exact",
            HarmonizeStatus::Normalized => "normalized",
            HarmonizeStatus::FromAccession => "from_accession",
            HarmonizeStatus::ArmResolved => "arm_resolved",
            HarmonizeStatus::FromPrecursor => "from_precursor",
            HarmonizeStatus::Ambiguous { .. } => "ambiguous",
            HarmonizeStatus::NotHuman { .. } => "not_human",
            HarmonizeStatus::NotMature => "not_mature",
            HarmonizeStatus::Unknown => "unknown",
        }
    }

    /// True when the input was left unchanged for a reason the user should see.
    pub fn needs_warning(&self) -> bool {
        matches!(
            self,
            HarmonizeStatus::Ambiguous { .. }
                | HarmonizeStatus::NotHuman { .. }
                | HarmonizeStatus::NotMature
                | HarmonizeStatus::Unknown
        )
    }
}

/// The result of harmonizing one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Harmonized {
    /// The name as given.
    pub input: String,
    /// The v22 mature name, when the mapping is unambiguous.
    pub canonical: Option<String>,
    /// The MIMAT accession of `canonical`.
    pub accession: Option<String>,
    /// How the mapping was made.
    pub status: HarmonizeStatus,
}

impl Harmonized {
    /// The name to use downstream: the canonical name, or the trimmed input when unmapped.
    pub fn output_name(&self) -> &str {
        self.canonical.as_deref().unwrap_or(self.input.trim())
    }

    /// A one-line explanation for logs and warnings.
    pub fn message(&self) -> String {
        let input = &self.input;
        match (&self.status, &self.canonical) {
            (HarmonizeStatus::Ambiguous { candidates }, _) => format!(
                "'{input}' is ambiguous in {MIRBASE_RELEASE} (could be {}); kept unchanged",
                candidates.join(", ")
            ),
            (HarmonizeStatus::NotHuman { species }, _) => {
                format!("'{input}' is a {species} (not human) miRNA; kept unchanged")
            }
            (HarmonizeStatus::NotMature, _) => {
                format!("'{input}' counts precursor reads, not a mature miRNA; kept unchanged")
            }
            (HarmonizeStatus::Unknown, _) => format!(
                "'{input}' is not a {MIRBASE_RELEASE} human mature name (dead, renamed or misspelt names are not mapped); kept unchanged"
            ),
            (status, Some(c)) => format!("'{input}' -> {c} ({})", status.name()),
            (status, None) => format!("'{input}' ({})", status.name()),
        }
    }
}

/// Several input names that map to the same output name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateGroup {
    /// The shared output name.
    pub name: String,
    /// Input rows (0-based) that map to it, in input order.
    pub rows: Vec<usize>,
    /// The input names of those rows.
    pub inputs: Vec<String>,
}

/// A harmonized list of names, with the grouping a reader needs to sum duplicates.
#[derive(Debug, Clone, PartialEq)]
pub struct HarmonizedList {
    /// One result per input, in input order.
    pub items: Vec<Harmonized>,
    /// Distinct output names in order of first appearance.
    pub names: Vec<String>,
    /// For each input row, the index into `names` it contributes to.
    pub row_of: Vec<usize>,
    /// Output names that more than one input maps to (the caller sums those rows and warns).
    pub duplicates: Vec<DuplicateGroup>,
}

impl HarmonizedList {
    /// How many inputs got each status, by status name.
    pub fn status_counts(&self) -> BTreeMap<&'static str, usize> {
        let mut m = BTreeMap::new();
        for h in &self.items {
            *m.entry(h.status.name()).or_insert(0) += 1;
        }
        m
    }

    /// Warning lines: one per input left unchanged for a reason, one per duplicate group.
    pub fn warnings(&self) -> Vec<String> {
        let mut w: Vec<String> = self
            .items
            .iter()
            .filter(|h| h.status.needs_warning())
            .map(Harmonized::message)
            .collect();
        for d in &self.duplicates {
            w.push(format!(
                "{} input names map to {} ({}); their values are summed",
                d.rows.len(),
                d.name,
                d.inputs.join(", ")
            ));
        }
        w
    }
}

/// Maps miRNA names to miRBase v22 human mature names.
#[derive(Debug, Clone)]
pub struct MirnaHarmonizer {
    matures: Vec<MatureMirna>,
    by_name: HashMap<String, usize>,
    by_lower: HashMap<String, usize>,
    by_accession: HashMap<String, usize>,
    // lower-case precursor name -> mature indices
    precursor_matures: HashMap<String, Vec<usize>>,
    // precursor accession -> lower-case precursor name
    precursor_by_accession: HashMap<String, String>,
    // lower-case family key (precursor name without a trailing locus number) -> precursors
    families: HashMap<String, Vec<String>>,
}

impl MirnaHarmonizer {
    /// The embedded miRBase v22 human reference (parsed once).
    pub fn mirbase_v22() -> &'static MirnaHarmonizer {
        static H: OnceLock<MirnaHarmonizer> = OnceLock::new();
        H.get_or_init(|| {
            MirnaHarmonizer::from_table(MIRBASE_V22_TABLE)
                .expect("the embedded miRBase v22 table is well-formed (checked by unit tests)")
        })
    }

    /// Build a harmonizer from a table with columns `name, mimat, precursor_acc, precursor_name`
    /// (`#` comment lines allowed; `;`-joined precursors). Errors name the line.
    pub fn from_table(text: &str) -> Result<MirnaHarmonizer, crate::PanelError> {
        let err = |line: usize, problem: String| crate::PanelError::Parse {
            source_name: "miRBase table".into(),
            line,
            problem,
        };
        let mut matures = Vec::new();
        let mut header_seen = false;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            if raw.starts_with('#') || raw.trim().is_empty() {
                continue;
            }
            let cols: Vec<&str> = raw.split('\t').collect();
            if !header_seen {
                if cols != ["name", "mimat", "precursor_acc", "precursor_name"] {
                    return Err(err(
                        line,
                        "header must be: name, mimat, precursor_acc, precursor_name".into(),
                    ));
                }
                header_seen = true;
                continue;
            }
            if cols.len() != 4 {
                return Err(err(line, format!("{} columns, expected 4", cols.len())));
            }
            let precursors: Vec<String> = cols[3].split(';').map(str::to_string).collect();
            let precursor_accessions: Vec<String> =
                cols[2].split(';').map(str::to_string).collect();
            if precursors.len() != precursor_accessions.len() {
                return Err(err(
                    line,
                    "precursor names and accessions differ in number".into(),
                ));
            }
            matures.push(MatureMirna {
                name: cols[0].to_string(),
                accession: cols[1].to_string(),
                precursors,
                precursor_accessions,
            });
        }
        if matures.is_empty() {
            return Err(err(1, "no rows".into()));
        }
        let mut h = MirnaHarmonizer {
            by_name: HashMap::new(),
            by_lower: HashMap::new(),
            by_accession: HashMap::new(),
            precursor_matures: HashMap::new(),
            precursor_by_accession: HashMap::new(),
            families: HashMap::new(),
            matures: Vec::new(),
        };
        for (k, m) in matures.iter().enumerate() {
            if h.by_name.insert(m.name.clone(), k).is_some() {
                return Err(err(0, format!("mature name '{}' occurs twice", m.name)));
            }
            h.by_lower.insert(m.name.to_ascii_lowercase(), k);
            h.by_accession.insert(m.accession.clone(), k);
            for (p, acc) in m.precursors.iter().zip(&m.precursor_accessions) {
                let pl = p.to_ascii_lowercase();
                h.precursor_matures.entry(pl.clone()).or_default().push(k);
                h.precursor_by_accession.insert(acc.clone(), pl);
            }
        }
        for p in h.precursor_matures.keys() {
            if let Some(f) = family_key(p) {
                h.families.entry(f.to_string()).or_default().push(p.clone());
            }
        }
        h.matures = matures;
        Ok(h)
    }

    /// Number of mature miRNAs in the reference.
    pub fn len(&self) -> usize {
        self.matures.len()
    }

    /// True when the reference is empty (never for the embedded table).
    pub fn is_empty(&self) -> bool {
        self.matures.is_empty()
    }

    /// All mature miRNAs, sorted by name.
    pub fn matures(&self) -> &[MatureMirna] {
        &self.matures
    }

    /// A mature miRNA by its exact v22 name.
    pub fn mature(&self, name: &str) -> Option<&MatureMirna> {
        self.by_name.get(name).map(|&k| &self.matures[k])
    }

    /// Harmonize one name (see the module docs for the rules, applied in that order).
    pub fn harmonize(&self, input: &str) -> Harmonized {
        let status_only = |status| Harmonized {
            input: input.to_string(),
            canonical: None,
            accession: None,
            status,
        };
        let s = input.trim();
        if s.is_empty() {
            return status_only(HarmonizeStatus::Unknown);
        }
        let (base, suffix) = split_suffix(s);
        if let Some(acc) = mimat_accession(base) {
            return match self.by_accession.get(&acc) {
                Some(&k) => self.resolved(input, k, HarmonizeStatus::FromAccession),
                None => status_only(HarmonizeStatus::Unknown),
            };
        }
        if let Some(acc) = mi_accession(base) {
            return match self.precursor_by_accession.get(&acc) {
                Some(p) => self.resolve_precursor(input, p),
                None => status_only(HarmonizeStatus::Unknown),
            };
        }
        if let Some(species) = foreign_species(base) {
            return status_only(HarmonizeStatus::NotHuman { species });
        }
        if suffix == Suffix::NotMature {
            return status_only(HarmonizeStatus::NotMature);
        }
        let full = with_human_prefix(base);
        let lower = full.to_ascii_lowercase();
        if suffix == Suffix::Mature {
            return if self.precursor_matures.contains_key(&lower) {
                self.resolve_precursor(input, &lower)
            } else {
                status_only(HarmonizeStatus::Unknown)
            };
        }
        if let Some(&k) = self.by_name.get(&full) {
            let status = if full == input {
                HarmonizeStatus::Exact
            } else {
                HarmonizeStatus::Normalized
            };
            return self.resolved(input, k, status);
        }
        // miRBase writes precursors with lower-case `mir`; an input spelt that way is a precursor.
        if self.precursor_matures.contains_key(&full) {
            return self.resolve_precursor(input, &full);
        }
        if let Some(&k) = self.by_lower.get(&lower) {
            return self.resolved(input, k, HarmonizeStatus::Normalized);
        }
        let mut candidates: Vec<usize> = Vec::new();
        let mut precursors: Vec<&String> =
            self.families.get(&lower).into_iter().flatten().collect();
        if let Some((p, _)) = self.precursor_matures.get_key_value(&lower) {
            precursors.push(p);
        }
        for p in precursors {
            candidates.extend(&self.precursor_matures[p]);
        }
        candidates.sort_unstable();
        candidates.dedup();
        match candidates.len() {
            0 => status_only(HarmonizeStatus::Unknown),
            1 => self.resolved(input, candidates[0], HarmonizeStatus::ArmResolved),
            _ => status_only(HarmonizeStatus::Ambiguous {
                candidates: self.names_sorted(&candidates),
            }),
        }
    }

    /// Harmonize a list of names and group the inputs that end up with the same output name.
    pub fn harmonize_all<S: AsRef<str>>(&self, inputs: &[S]) -> HarmonizedList {
        let items: Vec<Harmonized> = inputs.iter().map(|s| self.harmonize(s.as_ref())).collect();
        let mut names: Vec<String> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut row_of = Vec::with_capacity(items.len());
        for h in &items {
            let out = h.output_name().to_string();
            let k = match index.get(&out) {
                Some(&k) => k,
                None => {
                    index.insert(out.clone(), names.len());
                    names.push(out);
                    names.len() - 1
                }
            };
            row_of.push(k);
        }
        let mut rows_per_name: Vec<Vec<usize>> = vec![Vec::new(); names.len()];
        for (row, &k) in row_of.iter().enumerate() {
            rows_per_name[k].push(row);
        }
        let duplicates = rows_per_name
            .into_iter()
            .enumerate()
            .filter(|(_, rows)| rows.len() > 1)
            .map(|(k, rows)| DuplicateGroup {
                name: names[k].clone(),
                inputs: rows.iter().map(|&r| items[r].input.clone()).collect(),
                rows,
            })
            .collect();
        HarmonizedList {
            items,
            names,
            row_of,
            duplicates,
        }
    }

    fn resolved(&self, input: &str, k: usize, status: HarmonizeStatus) -> Harmonized {
        Harmonized {
            input: input.to_string(),
            canonical: Some(self.matures[k].name.clone()),
            accession: Some(self.matures[k].accession.clone()),
            status,
        }
    }

    fn resolve_precursor(&self, input: &str, precursor_lower: &str) -> Harmonized {
        let ks = &self.precursor_matures[precursor_lower];
        if ks.len() == 1 {
            return self.resolved(input, ks[0], HarmonizeStatus::FromPrecursor);
        }
        Harmonized {
            input: input.to_string(),
            canonical: None,
            accession: None,
            status: HarmonizeStatus::Ambiguous {
                candidates: self.names_sorted(ks),
            },
        }
    }

    fn names_sorted(&self, ks: &[usize]) -> Vec<String> {
        let mut v: Vec<String> = ks.iter().map(|&k| self.matures[k].name.clone()).collect();
        v.sort();
        v.dedup();
        v
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Suffix {
    None,
    Mature,
    NotMature,
}

fn split_suffix(s: &str) -> (&str, Suffix) {
    if let Some((base, suf)) = s.rsplit_once('_') {
        match suf.to_ascii_lowercase().as_str() {
            "mature" => return (base, Suffix::Mature),
            "precursor" | "stemloop" | "hairpin" | "unannotated" => {
                return (base, Suffix::NotMature)
            }
            _ => {}
        }
    }
    (s, Suffix::None)
}

fn digits_after<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = &s[prefix.len()..];
    let digits = rest.split('_').next().unwrap_or("");
    let tail_ok = match rest.split_once('_') {
        None => true,
        Some((_, t)) => !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()),
    };
    (digits.len() == 7 && digits.bytes().all(|b| b.is_ascii_digit()) && tail_ok).then_some(digits)
}

/// `MIMAT0000084` or `MIMAT0000084_1` (GFF locus suffix) → `MIMAT0000084`.
fn mimat_accession(s: &str) -> Option<String> {
    digits_after(s, "MIMAT").map(|d| format!("MIMAT{d}"))
}

/// `MI0000085` → `MI0000085` (not MIMAT, which `mimat_accession` handles first).
fn mi_accession(s: &str) -> Option<String> {
    let head_ok = s.get(..2).is_some_and(|h| h.eq_ignore_ascii_case("MI"));
    if head_ok && s.as_bytes().get(2).is_some_and(u8::is_ascii_digit) {
        return digits_after(s, "MI").map(|d| format!("MI{d}"));
    }
    None
}

/// A species prefix other than `hsa` in front of a miRNA-like name (`mmu-miR-206-3p`).
fn foreign_species(s: &str) -> Option<String> {
    let (prefix, rest) = s.split_once('-')?;
    let p = prefix.to_ascii_lowercase();
    if !(3..=4).contains(&p.len())
        || !p.bytes().all(|b| b.is_ascii_alphabetic())
        || matches!(p.as_str(), "hsa" | "mir" | "let" | "lin")
    {
        return None;
    }
    let r = rest.to_ascii_lowercase();
    ["mir", "let-", "lin-", "bantam"]
        .iter()
        .any(|k| r.starts_with(k))
        .then_some(p)
}

/// Add `hsa-` to names that start with `miR`/`mir`/`let`; normalise the case of a given prefix.
fn with_human_prefix(s: &str) -> String {
    if let (Some(head), Some(rest)) = (s.get(..4), s.get(4..)) {
        if head.eq_ignore_ascii_case("hsa-") && !rest.is_empty() {
            return format!("hsa-{rest}");
        }
    }
    let l = s.to_ascii_lowercase();
    if l.starts_with("mir-") || l.starts_with("let-") || l.starts_with("mir") {
        return format!("hsa-{s}");
    }
    s.to_string()
}

/// `hsa-mir-196a-1` → `hsa-mir-196a`; names with no locus number have no family key.
fn family_key(precursor_lower: &str) -> Option<&str> {
    let (head, last) = precursor_lower.rsplit_once('-')?;
    let segments = precursor_lower.split('-').count();
    (segments >= 4 && !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit())).then_some(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h() -> &'static MirnaHarmonizer {
        MirnaHarmonizer::mirbase_v22()
    }

    fn canon(s: &str) -> (Option<String>, &'static str) {
        let r = h().harmonize(s);
        (r.canonical, r.status.name())
    }

    #[test]
    fn embedded_table_is_complete() {
        assert_eq!(h().len(), 2656);
        let m = h().mature("hsa-let-7a-5p").unwrap();
        assert_eq!(m.accession, "MIMAT0000062");
        assert_eq!(m.precursors.len(), 3);
    }

    #[test]
    fn exact_and_normalized() {
        assert_eq!(
            canon("hsa-miR-27a-3p"),
            (Some("hsa-miR-27a-3p".into()), "exact")
        );
        for s in [
            "miR-27a-3p",
            "HSA-MIR-27A-3P",
            "mir-27a-3p",
            " hsa-miR-27a-3p ",
            "Hsa-miR-27a-3p",
        ] {
            assert_eq!(
                canon(s),
                (Some("hsa-miR-27a-3p".into()), "normalized"),
                "{s}"
            );
        }
        assert_eq!(
            canon("let-7c-5p"),
            (Some("hsa-let-7c-5p".into()), "normalized")
        );
        let r = h().harmonize("miR-27a-3p");
        assert_eq!(r.accession.as_deref(), Some("MIMAT0000084"));
    }

    #[test]
    fn accessions() {
        assert_eq!(
            canon("MIMAT0000084"),
            (Some("hsa-miR-27a-3p".into()), "from_accession")
        );
        assert_eq!(
            canon("mimat0000062_2"),
            (Some("hsa-let-7a-5p".into()), "from_accession")
        );
        assert_eq!(canon("MIMAT9999999"), (None, "unknown"));
        assert_eq!(canon("MIMAT00000"), (None, "unknown"));
        assert_eq!(
            canon("MI0001729"),
            (Some("hsa-miR-451a".into()), "from_precursor")
        );
        assert_eq!(canon("MI0000085"), (None, "ambiguous"));
    }

    #[test]
    fn arm_less_names() {
        assert_eq!(
            canon("hsa-miR-451a"),
            (Some("hsa-miR-451a".into()), "exact")
        );
        let r = h().harmonize("miR-27a");
        assert_eq!(
            r.status,
            HarmonizeStatus::Ambiguous {
                candidates: vec!["hsa-miR-27a-3p".into(), "hsa-miR-27a-5p".into()]
            }
        );
        assert_eq!(r.output_name(), "miR-27a");
        let r = h().harmonize("hsa-miR-196a");
        match r.status {
            HarmonizeStatus::Ambiguous { candidates } => assert_eq!(
                candidates,
                ["hsa-miR-196a-1-3p", "hsa-miR-196a-3p", "hsa-miR-196a-5p"]
            ),
            s => panic!("{s:?}"),
        }
        // hsa-mir-1 has loci 1-1 and 1-2 but no hsa-mir-10 members
        match h().harmonize("miR-1").status {
            HarmonizeStatus::Ambiguous { candidates } => {
                assert!(
                    candidates.iter().all(|c| !c.starts_with("hsa-miR-10")),
                    "{candidates:?}"
                )
            }
            s => panic!("{s:?}"),
        }
    }

    #[test]
    fn arm_resolved_when_single_product() {
        // Find every precursor family with exactly one mature that carries an arm suffix and
        // check that the arm-less spelling resolves to it.
        let mut checked = 0;
        for m in h().matures() {
            let Some(stem) = m
                .name
                .strip_suffix("-5p")
                .or_else(|| m.name.strip_suffix("-3p"))
            else {
                continue;
            };
            let r = h().harmonize(stem);
            if r.status == HarmonizeStatus::ArmResolved {
                assert_eq!(r.canonical.as_deref(), Some(m.name.as_str()));
                checked += 1;
            }
        }
        assert!(checked > 0, "no single-product family in v22?");
        let r = h().harmonize("miR-27a");
        assert_ne!(r.status, HarmonizeStatus::ArmResolved);
    }

    #[test]
    fn precursors_and_suffixes() {
        assert_eq!(
            canon("hsa-mir-451a"),
            (Some("hsa-miR-451a".into()), "from_precursor")
        );
        assert_eq!(canon("hsa-mir-21"), (None, "ambiguous"));
        assert_eq!(canon("hsa-mir-7-1_mature"), (None, "ambiguous"));
        assert_eq!(
            canon("hsa-mir-1246_mature"),
            (Some("hsa-miR-1246".into()), "from_precursor")
        );
        assert_eq!(canon("hsa-mir-627_precursor"), (None, "not_mature"));
        assert_eq!(canon("hsa-mir-107_unannotated"), (None, "not_mature"));
        assert_eq!(canon("hsa-mir-99999_mature"), (None, "unknown"));
    }

    #[test]
    fn non_human_and_unknown() {
        let r = h().harmonize("mmu-mir-206");
        assert_eq!(
            r.status,
            HarmonizeStatus::NotHuman {
                species: "mmu".into()
            }
        );
        assert_eq!(r.output_name(), "mmu-mir-206");
        assert_eq!(canon("rno-miR-328a-5p"), (None, "not_human"));
        assert_eq!(canon("mmu-let-7g_mature"), (None, "not_human"));
        assert_eq!(canon("miR-328a-5p"), (None, "unknown"));
        assert_eq!(canon("hsa-miR-27a*"), (None, "unknown"));
        assert_eq!(canon("CD63"), (None, "unknown"));
        assert_eq!(canon(""), (None, "unknown"));
        for odd in ["Mé-21", "hsé-miR-21", "MIé", "é", "hsa-", "miR-", "_mature"] {
            assert_eq!(h().harmonize(odd).canonical, None, "{odd}");
        }
        assert!(h()
            .harmonize("miR-328a-5p")
            .message()
            .contains("kept unchanged"));
    }

    #[test]
    fn list_groups_duplicates() {
        let l = h().harmonize_all(&[
            "miR-21-5p",
            "hsa-miR-21-5p",
            "MIMAT0000076",
            "miR-100-5p",
            "miR-21",
            "bogus",
            "bogus",
        ]);
        assert_eq!(
            l.names,
            ["hsa-miR-21-5p", "hsa-miR-100-5p", "miR-21", "bogus"]
        );
        assert_eq!(l.row_of, [0, 0, 0, 1, 2, 3, 3]);
        assert_eq!(l.duplicates.len(), 2);
        assert_eq!(l.duplicates[0].rows, [0, 1, 2]);
        assert_eq!(l.duplicates[1].inputs, ["bogus", "bogus"]);
        let c = l.status_counts();
        assert_eq!(c["normalized"], 2);
        assert_eq!(c["unknown"], 2);
        let w = l.warnings();
        assert!(
            w.iter()
                .any(|m| m.contains("3 input names map to hsa-miR-21-5p")),
            "{w:?}"
        );
        assert!(
            w.iter().any(|m| m.contains("'miR-21' is ambiguous")),
            "{w:?}"
        );
    }

    #[test]
    fn bad_tables_rejected() {
        assert!(MirnaHarmonizer::from_table("").is_err());
        let e = MirnaHarmonizer::from_table("a\tb\n").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        let e = MirnaHarmonizer::from_table(
            "name\tmimat\tprecursor_acc\tprecursor_name\nx\tMIMAT1\tMI1;MI2\thsa-mir-x\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }
}
