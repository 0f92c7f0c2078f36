//! Osteogenic EV cargo panels (curated, versioned, cited) and user-supplied panels.
//!
//! The curated panels come from Dalle Carbonare et al. (2025), a CC BY 4.0 review of EVs in
//! osteogenesis: pro- and anti-osteogenic miRNAs of its Table 2 (plus miR-148a-3p of its
//! Section 6), the BM-MSC EV proteins and source-typical cargo of its Table 1, and the cargo
//! changes of conditioning strategies in its Table 3. Every entry keeps the review's spelling
//! (`as_written`), the miRBase v22 name it maps to, and the review's reference numbers, whose
//! citations (as the review gives them) are in `data/osteogenic_panel_refs.tsv`.
//!
//! Users add panels as a tab-separated file with columns `panel, feature, direction` and an
//! optional `note` ([`PanelSet::parse_user`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::{PanelError, Result};
use crate::mirna::{HarmonizeStatus, MirnaHarmonizer};
use crate::misev::data_rows;

/// The embedded curated panel table.
pub const OSTEOGENIC_PANELS_TABLE: &str = include_str!("../data/osteogenic_panels.tsv");

/// The embedded citations of the review's reference numbers used by the panels.
pub const OSTEOGENIC_REFS_TABLE: &str = include_str!("../data/osteogenic_panel_refs.tsv");

/// Version of the curated panel file; bump it whenever an entry changes.
pub const PANEL_VERSION: &str = "2025.12-1";

/// Citation of the review the curated panels are taken from.
pub const REVIEW_CITATION: &str = "Dalle Carbonare L, Minoia A, Braggio M, Piritore FC, Vareschi A, Cominacini M, Gandini A, Antoniazzi F, Cui D, Romanelli MG, Valenti MT. Extracellular Vesicles in Osteogenesis: Comparative Analysis of Stem Cell Sources, Conditioning Strategies, and In Vitro Models Toward Advanced Bone Regeneration. MDPI, published 23 December 2025. CC BY 4.0.";

/// The direction of a panel entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Higher in the stated source or after the stated conditioning.
    Up,
    /// Lower in the stated source or after the stated conditioning.
    Down,
    /// Promotes osteogenesis.
    Pro,
    /// Inhibits osteogenesis.
    Anti,
}

impl Direction {
    /// Stable lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
            Direction::Pro => "pro",
            Direction::Anti => "anti",
        }
    }

    /// Parse `up`, `down`, `pro`, `anti` (case-insensitive).
    pub fn parse(s: &str) -> Option<Direction> {
        match s.trim().to_ascii_lowercase().as_str() {
            "up" => Some(Direction::Up),
            "down" => Some(Direction::Down),
            "pro" => Some(Direction::Pro),
            "anti" => Some(Direction::Anti),
            _ => None,
        }
    }

    /// +1 for up/pro, -1 for down/anti (the sign a signature score gives the feature).
    pub fn sign(self) -> f64 {
        match self {
            Direction::Up | Direction::Pro => 1.0,
            Direction::Down | Direction::Anti => -1.0,
        }
    }
}

/// What kind of molecule a panel feature is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// A miRNA (feature is a miRBase v22 name or an ambiguous written name).
    Mirna,
    /// A protein (feature is an HGNC gene symbol).
    Protein,
    /// A circular RNA.
    Circrna,
    /// Not stated (user panels whose feature is not a recognisable miRNA).
    Unspecified,
}

impl FeatureKind {
    /// Stable lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            FeatureKind::Mirna => "mirna",
            FeatureKind::Protein => "protein",
            FeatureKind::Circrna => "circrna",
            FeatureKind::Unspecified => "unspecified",
        }
    }

    fn parse(s: &str) -> Option<FeatureKind> {
        match s {
            "mirna" => Some(FeatureKind::Mirna),
            "protein" => Some(FeatureKind::Protein),
            "circrna" => Some(FeatureKind::Circrna),
            "unspecified" => Some(FeatureKind::Unspecified),
            _ => None,
        }
    }
}

/// How the written name relates to `feature`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mapping {
    /// The written name (with `hsa-`) is a miRBase v22 mature name.
    V22Name,
    /// The written name could mean several v22 matures; see `candidates`.
    Ambiguous,
    /// The written name is another species' miRNA; `feature` is the human product of the same
    /// name (mapped by name, not by sequence).
    HumanOrtholog,
    /// A gene symbol.
    GeneSymbol,
    /// A molecule without a miRBase entry (e.g. a circRNA).
    NotMirbase,
    /// A user entry that harmonized to a v22 name (`feature` is that name).
    UserHarmonized,
    /// A user entry kept as written.
    UserAsWritten,
}

impl Mapping {
    /// Stable lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Mapping::V22Name => "v22_name",
            Mapping::Ambiguous => "ambiguous",
            Mapping::HumanOrtholog => "human_ortholog",
            Mapping::GeneSymbol => "gene_symbol",
            Mapping::NotMirbase => "not_mirbase",
            Mapping::UserHarmonized => "user_harmonized",
            Mapping::UserAsWritten => "user_as_written",
        }
    }

    fn parse(s: &str) -> Option<Mapping> {
        [
            Mapping::V22Name,
            Mapping::Ambiguous,
            Mapping::HumanOrtholog,
            Mapping::GeneSymbol,
            Mapping::NotMirbase,
            Mapping::UserHarmonized,
            Mapping::UserAsWritten,
        ]
        .into_iter()
        .find(|m| m.name() == s)
    }
}

/// One feature of one panel.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelEntry {
    /// Panel name, e.g. `osteo_mirna_pro`.
    pub panel: String,
    /// The feature name to match in data (v22 name, gene symbol, or written name when ambiguous).
    pub feature: String,
    /// The name as the source wrote it.
    pub as_written: String,
    /// Molecule kind.
    pub kind: FeatureKind,
    /// Direction.
    pub direction: Direction,
    /// EV source(s) the finding refers to (empty when not stated).
    pub sources: Vec<String>,
    /// Conditioning the finding refers to (e.g. `osteogenic_induction`), if any.
    pub conditioning: Option<String>,
    /// Reference numbers of the review (see [`PanelSet::citation`]); empty for user panels.
    pub refs: Vec<u32>,
    /// How `as_written` relates to `feature`.
    pub mapping: Mapping,
    /// v22 names the entry may stand for (several when ambiguous; otherwise just `feature`).
    pub candidates: Vec<String>,
    /// Free-text note (context, caveats).
    pub note: String,
    /// 1-based line of the entry in its table.
    pub line: usize,
}

impl PanelEntry {
    /// Names to look for in a data set: the candidates, or the feature itself.
    pub fn match_names(&self) -> &[String] {
        if self.candidates.is_empty() {
            std::slice::from_ref(&self.feature)
        } else {
            &self.candidates
        }
    }
}

/// A set of panels with their version and references.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelSet {
    origin: String,
    version: String,
    entries: Vec<PanelEntry>,
    references: BTreeMap<u32, String>,
}

impl PanelSet {
    /// The curated osteogenic panels (parsed once).
    pub fn osteogenic() -> &'static PanelSet {
        static P: OnceLock<PanelSet> = OnceLock::new();
        P.get_or_init(|| {
            parse_curated(OSTEOGENIC_PANELS_TABLE, OSTEOGENIC_REFS_TABLE).expect(
                "the embedded osteogenic panel tables are well-formed (checked by unit tests)",
            )
        })
    }

    /// Parse a user panel file's text: tab-separated, a header with `panel`, `feature`,
    /// `direction` and optionally `note` (any order, no other columns), `#` comment lines and
    /// blank lines ignored. Each feature is passed through the miRBase v22 harmonizer: names
    /// that map unambiguously are replaced by the v22 name (the written name is kept in
    /// `as_written`), ambiguous miRNA names keep their candidates, anything else is kept as
    /// written. `origin` names the file in messages. Errors give the 1-based line number.
    pub fn parse_user(text: &str, origin: &str) -> Result<PanelSet> {
        let bad = |line: usize, problem: String| PanelError::Parse {
            source_name: origin.to_string(),
            line,
            problem,
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut col: HashMap<&str, usize> = HashMap::new();
        let mut n_cols = 0;
        let mut entries: Vec<PanelEntry> = Vec::new();
        let mut first_line: HashMap<(String, String), usize> = HashMap::new();
        let harmonizer = MirnaHarmonizer::mirbase_v22();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let raw = raw.trim_end_matches('\r');
            if raw.trim_start().starts_with('#') || raw.trim().is_empty() {
                continue;
            }
            let cells: Vec<&str> = raw.split('\t').map(str::trim).collect();
            if col.is_empty() {
                if cells.len() == 1 && raw.contains(',') {
                    return Err(bad(
                        line,
                        "the header has no tab; panel files are tab-separated (panel<TAB>feature<TAB>direction<TAB>note)".into(),
                    ));
                }
                for (k, name) in cells.iter().enumerate() {
                    let name = name.to_ascii_lowercase();
                    let key = match name.as_str() {
                        "panel" => "panel",
                        "feature" => "feature",
                        "direction" => "direction",
                        "note" => "note",
                        other => {
                            return Err(bad(
                                line,
                                format!("unknown column '{other}'; the columns are panel, feature, direction and optionally note"),
                            ))
                        }
                    };
                    if col.insert(key, k).is_some() {
                        return Err(bad(line, format!("column '{key}' appears twice")));
                    }
                }
                for required in ["panel", "feature", "direction"] {
                    if !col.contains_key(required) {
                        return Err(bad(line, format!("the header lacks column '{required}'")));
                    }
                }
                n_cols = cells.len();
                continue;
            }
            if cells.len() > n_cols {
                return Err(bad(
                    line,
                    format!(
                        "{} fields but the header has {n_cols} columns (a tab inside a note?)",
                        cells.len()
                    ),
                ));
            }
            let cell = |name: &str| {
                col.get(name)
                    .and_then(|&k| cells.get(k).copied())
                    .unwrap_or("")
            };
            let panel = cell("panel");
            let feature = cell("feature");
            if panel.is_empty() {
                return Err(bad(line, "empty panel name".into()));
            }
            if feature.is_empty() {
                return Err(bad(line, "empty feature".into()));
            }
            let direction = Direction::parse(cell("direction")).ok_or_else(|| {
                bad(
                    line,
                    format!(
                        "direction '{}' is not one of up, down, pro, anti",
                        cell("direction")
                    ),
                )
            })?;
            let h = harmonizer.harmonize(feature);
            let (name, kind, mapping, candidates) = match (&h.canonical, &h.status) {
                (Some(c), _) => (
                    c.clone(),
                    FeatureKind::Mirna,
                    Mapping::UserHarmonized,
                    vec![c.clone()],
                ),
                (None, HarmonizeStatus::Ambiguous { candidates }) => (
                    feature.to_string(),
                    FeatureKind::Mirna,
                    Mapping::Ambiguous,
                    candidates.clone(),
                ),
                (None, HarmonizeStatus::NotHuman { .. }) => (
                    feature.to_string(),
                    FeatureKind::Mirna,
                    Mapping::UserAsWritten,
                    Vec::new(),
                ),
                (None, _) => (
                    feature.to_string(),
                    FeatureKind::Unspecified,
                    Mapping::UserAsWritten,
                    Vec::new(),
                ),
            };
            let key = (panel.to_string(), name.clone());
            if let Some(&first) = first_line.get(&key) {
                return Err(PanelError::DuplicateEntry {
                    source_name: origin.to_string(),
                    line,
                    first_line: first,
                    panel: key.0,
                    feature: key.1,
                });
            }
            first_line.insert(key, line);
            entries.push(PanelEntry {
                panel: panel.to_string(),
                feature: name,
                as_written: feature.to_string(),
                kind,
                direction,
                sources: Vec::new(),
                conditioning: None,
                refs: Vec::new(),
                mapping,
                candidates,
                note: cell("note").to_string(),
                line,
            });
        }
        if col.is_empty() {
            return Err(bad(
                1,
                "no header; the first non-comment line must be: panel, feature, direction, note"
                    .into(),
            ));
        }
        if entries.is_empty() {
            return Err(bad(1, "the file has a header but no panel entries".into()));
        }
        Ok(PanelSet {
            origin: origin.to_string(),
            version: "user".into(),
            entries,
            references: BTreeMap::new(),
        })
    }

    /// Where the set comes from (file name or `embedded osteogenic_panels.tsv`).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The panel file version (`user` for user panels).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// All entries in file order.
    pub fn entries(&self) -> &[PanelEntry] {
        &self.entries
    }

    /// Panel names in order of first appearance.
    pub fn panel_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for e in &self.entries {
            if !names.contains(&e.panel.as_str()) {
                names.push(&e.panel);
            }
        }
        names
    }

    /// The entries of one panel, or an error listing the panels.
    pub fn panel(&self, name: &str) -> Result<Vec<&PanelEntry>> {
        let v: Vec<&PanelEntry> = self.entries.iter().filter(|e| e.panel == name).collect();
        if v.is_empty() {
            return Err(PanelError::UnknownPanel {
                name: name.to_string(),
                available: self.panel_names().join(", "),
            });
        }
        Ok(v)
    }

    /// The citation of a reference number, as the review gives it.
    pub fn citation(&self, reference: u32) -> Option<&str> {
        self.references.get(&reference).map(String::as_str)
    }

    /// Reference numbers and citations of one entry.
    pub fn citations_for(&self, entry: &PanelEntry) -> Vec<(u32, &str)> {
        entry
            .refs
            .iter()
            .filter_map(|&r| self.citation(r).map(|c| (r, c)))
            .collect()
    }

    /// A new set holding both sets' panels; a panel name defined in both is an error.
    pub fn merged(&self, other: &PanelSet) -> Result<PanelSet> {
        let mine = self.panel_names();
        if let Some(clash) = other.panel_names().into_iter().find(|p| mine.contains(p)) {
            return Err(PanelError::PanelClash {
                panel: clash.to_string(),
                first: self.origin.clone(),
                second: other.origin.clone(),
            });
        }
        let mut references = self.references.clone();
        references.extend(other.references.clone());
        Ok(PanelSet {
            origin: format!("{} + {}", self.origin, other.origin),
            version: format!("{} + {}", self.version, other.version),
            entries: self.entries.iter().chain(&other.entries).cloned().collect(),
            references,
        })
    }
}

fn parse_curated(panels: &str, refs: &str) -> Result<PanelSet> {
    let origin = "embedded osteogenic_panels.tsv";
    let mut version = None;
    for l in panels.lines().filter(|l| l.starts_with('#')) {
        if let Some(v) = l.strip_prefix("# panel_version:") {
            version = Some(v.trim().to_string());
        }
    }
    let version = version.ok_or_else(|| PanelError::Parse {
        source_name: origin.into(),
        line: 1,
        problem: "no '# panel_version:' line".into(),
    })?;
    let mut references = BTreeMap::new();
    for (line, c) in data_rows(
        refs,
        "embedded osteogenic_panel_refs.tsv",
        &["ref", "citation"],
    )? {
        let n: u32 = c[0].parse().map_err(|_| PanelError::Parse {
            source_name: "embedded osteogenic_panel_refs.tsv".into(),
            line,
            problem: format!("reference number '{}' is not a number", c[0]),
        })?;
        references.insert(n, c[1].to_string());
    }
    let header = [
        "panel",
        "feature",
        "as_written",
        "kind",
        "direction",
        "source",
        "conditioning",
        "refs",
        "mapping",
        "candidates",
        "note",
    ];
    let mut entries = Vec::new();
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for (line, c) in data_rows(panels, origin, &header)? {
        let bad = |problem: String| PanelError::Parse {
            source_name: origin.into(),
            line,
            problem,
        };
        let list = |s: &str| -> Vec<String> {
            if s == "-" || s.is_empty() {
                Vec::new()
            } else {
                s.split(';').map(|x| x.trim().to_string()).collect()
            }
        };
        let kind = FeatureKind::parse(c[3]).ok_or_else(|| bad(format!("kind '{}'", c[3])))?;
        let direction =
            Direction::parse(c[4]).ok_or_else(|| bad(format!("direction '{}'", c[4])))?;
        let mapping = Mapping::parse(c[8]).ok_or_else(|| bad(format!("mapping '{}'", c[8])))?;
        let mut refs_n = Vec::new();
        for r in list(c[7]) {
            let n: u32 = r
                .parse()
                .map_err(|_| bad(format!("reference '{r}' is not a number")))?;
            if !references.contains_key(&n) {
                return Err(bad(format!("reference {n} has no citation")));
            }
            refs_n.push(n);
        }
        if let Some(first) = seen.insert((c[0].to_string(), c[1].to_string()), line) {
            return Err(PanelError::DuplicateEntry {
                source_name: origin.into(),
                line,
                first_line: first,
                panel: c[0].to_string(),
                feature: c[1].to_string(),
            });
        }
        entries.push(PanelEntry {
            panel: c[0].to_string(),
            feature: c[1].to_string(),
            as_written: c[2].to_string(),
            kind,
            direction,
            sources: list(c[5]),
            conditioning: list(c[6]).into_iter().next(),
            refs: refs_n,
            mapping,
            candidates: list(c[9]),
            note: c[10].to_string(),
            line,
        });
    }
    Ok(PanelSet {
        origin: origin.into(),
        version,
        entries,
        references,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static PanelSet {
        PanelSet::osteogenic()
    }

    #[test]
    fn curated_version_and_panels() {
        assert_eq!(p().version(), PANEL_VERSION);
        assert_eq!(
            p().panel_names(),
            [
                "osteo_mirna_pro",
                "osteo_mirna_anti",
                "bm_msc_ev_proteins",
                "source_bm_msc",
                "source_adsc",
                "source_uc_msc",
                "source_imsc",
                "source_dpsc",
                "conditioning_effects"
            ]
        );
        assert_eq!(p().panel("osteo_mirna_pro").unwrap().len(), 19);
        assert_eq!(p().panel("osteo_mirna_anti").unwrap().len(), 2);
        assert_eq!(p().panel("bm_msc_ev_proteins").unwrap().len(), 19);
        let e = p().panel("nope").unwrap_err().to_string();
        assert!(e.contains("osteo_mirna_pro"), "{e}");
    }

    #[test]
    fn curated_mirnas_agree_with_mirbase() {
        let h = MirnaHarmonizer::mirbase_v22();
        for e in p()
            .entries()
            .iter()
            .filter(|e| e.kind == FeatureKind::Mirna)
        {
            for c in e.match_names() {
                assert!(
                    h.mature(c).is_some(),
                    "line {}: {c} is not a v22 name",
                    e.line
                );
            }
            let r = h.harmonize(&e.as_written);
            match e.mapping {
                Mapping::V22Name => {
                    assert_eq!(
                        r.canonical.as_deref(),
                        Some(e.feature.as_str()),
                        "{}",
                        e.line
                    );
                    assert_eq!(e.candidates, std::slice::from_ref(&e.feature));
                }
                Mapping::Ambiguous => {
                    let HarmonizeStatus::Ambiguous { candidates } = r.status else {
                        panic!("line {}: {} is not ambiguous", e.line, e.as_written)
                    };
                    let mut mine = e.candidates.clone();
                    mine.sort();
                    assert_eq!(mine, candidates, "line {}", e.line);
                    assert!(e.note.contains("arm not given") || e.note.contains("splits"));
                }
                Mapping::HumanOrtholog => {
                    assert_eq!(r.status, HarmonizeStatus::Unknown, "line {}", e.line);
                    assert!(e.note.contains("rodent"), "line {}", e.line);
                }
                m => panic!("line {}: miRNA with mapping {}", e.line, m.name()),
            }
        }
    }

    #[test]
    fn curated_citations() {
        let e = p()
            .entries()
            .iter()
            .find(|e| e.as_written == "miR-186" && e.panel == "osteo_mirna_pro")
            .unwrap();
        assert_eq!(e.refs, [19]);
        let c = p().citations_for(e);
        assert!(
            c[0].1.contains("Exosomal miR-186 derived from BMSCs"),
            "{c:?}"
        );
        let mg = p().panel("conditioning_effects").unwrap();
        let mg = mg.iter().find(|e| e.feature == "hsa-miR-451a").unwrap();
        assert_eq!(mg.conditioning.as_deref(), Some("mg2_preconditioning"));
        assert_eq!(mg.direction, Direction::Up);
        assert!(p().citation(70).unwrap().contains("Mg"));
        let anti = p().panel("osteo_mirna_anti").unwrap();
        assert!(anti.iter().all(|e| e.direction == Direction::Anti));
        assert_eq!(anti[0].refs, [68]);
        let fb = &p().panel("bm_msc_ev_proteins").unwrap()[0];
        assert_eq!(
            (fb.feature.as_str(), fb.as_written.as_str()),
            ("FBLN1", "Fibulin-1 (FBLN1)")
        );
        assert_eq!(fb.refs, [14, 19, 36, 37, 38, 39, 40, 41, 42, 43, 44]);
    }

    #[test]
    fn user_panels_parse() {
        let text = "# my panels\npanel\tfeature\tdirection\tnote\n\
                    mine\tmiR-21-5p\tup\tfrom pilot\n\
                    mine\tmiR-21\tanti\n\
                    mine\tCD63\tUP\tmarker\n\
                    \n\
                    other\tmmu-miR-206-3p\tdown\t\n";
        let s = PanelSet::parse_user(text, "my.tsv").unwrap();
        assert_eq!(s.version(), "user");
        assert_eq!(s.panel_names(), ["mine", "other"]);
        let e = s.entries();
        assert_eq!(
            (e[0].feature.as_str(), e[0].as_written.as_str()),
            ("hsa-miR-21-5p", "miR-21-5p")
        );
        assert_eq!(e[0].mapping, Mapping::UserHarmonized);
        assert_eq!(e[0].line, 3);
        assert_eq!(e[1].mapping, Mapping::Ambiguous);
        assert_eq!(e[1].match_names(), ["hsa-miR-21-3p", "hsa-miR-21-5p"]);
        assert_eq!(
            (e[2].kind, e[2].direction),
            (FeatureKind::Unspecified, Direction::Up)
        );
        assert_eq!(e[2].note, "marker");
        assert_eq!(e[3].kind, FeatureKind::Mirna);
        assert_eq!(e[3].match_names(), ["mmu-miR-206-3p"]);
        let both = p().merged(&s).unwrap();
        assert_eq!(both.entries().len(), p().entries().len() + 4);
        assert!(both.citation(19).is_some());
    }

    #[test]
    fn user_panel_errors_name_lines() {
        let cases = [
            ("panel,feature,direction\n", "line 1", "tab-separated"),
            (
                "panel\tfeature\tdirection\tweight\n",
                "line 1",
                "unknown column 'weight'",
            ),
            ("panel\tfeature\n", "line 1", "lacks column 'direction'"),
            ("# only comments\n", "line 1", "no header"),
            ("panel\tfeature\tdirection\n", "line 1", "no panel entries"),
            (
                "panel\tfeature\tdirection\np\tCD9\tsideways\n",
                "line 2",
                "sideways",
            ),
            (
                "panel\tfeature\tdirection\n\np\t\tup\n",
                "line 3",
                "empty feature",
            ),
            (
                "panel\tfeature\tdirection\n\tCD9\tup\n",
                "line 2",
                "empty panel",
            ),
            (
                "panel\tfeature\tdirection\np\tCD9\tup\tx\n",
                "line 2",
                "3 columns",
            ),
            (
                "panel\tfeature\tdirection\np\tmiR-21-5p\tup\np\thsa-miR-21-5p\tdown\n",
                "line 3",
                "already in panel 'p' (line 2)",
            ),
        ];
        for (text, line, what) in cases {
            let e = PanelSet::parse_user(text, "u.tsv").unwrap_err().to_string();
            assert!(e.contains(line) && e.contains(what), "{text:?}: {e}");
            assert!(e.contains("u.tsv"), "{e}");
        }
        let s = PanelSet::parse_user(
            "panel\tfeature\tdirection\nosteo_mirna_pro\tX\tup\n",
            "u.tsv",
        )
        .unwrap();
        let e = p().merged(&s).unwrap_err().to_string();
        assert!(e.contains("osteo_mirna_pro") && e.contains("u.tsv"), "{e}");
    }
}
