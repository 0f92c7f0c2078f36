//! The MISEV purity gate for proteome layers.
//!
//! MISEV2018 (Théry et al. 2018) asks an EV preparation to show at least one transmembrane or
//! GPI-anchored protein (category 1) and one cytosolic protein recovered in EVs (category 2),
//! and to assess non-EV co-isolates (category 3: lipoproteins, albumin, aggregates) and proteins
//! of other compartments (category 4: nucleus, mitochondria, ER/Golgi, autophagosomes).
//! MISEV2023 (Welsh et al. 2024) keeps these requirements. The gate applies them to each sample
//! of a proteome layer:
//!
//! - **fail** when fewer than `min_transmembrane` category-1 marker genes are observed;
//! - **fail** when fewer than `min_cytosolic` category-2 marker genes of the counted
//!   subcategories (default 2a only; 2b holds promiscuous proteins such as ACTB and GAPDH that
//!   any lysate or medium contains) are observed;
//! - **warn** / **fail** when the summed linear intensity of category-3 features exceeds
//!   `co_isolate_warn_share` / `co_isolate_fail_share` of the sample's total intensity;
//! - **warn** / **fail** likewise for category 4 with `other_compartment_*_share`;
//! - **warn** when fewer than `min_core_markers` of the canonical EV markers the review and
//!   MISEV name (`core_markers`: CD9, CD63, CD81, TSG101, PDCD6IP/ALIX, SDCBP) are observed:
//!   categories 1a and 2a also hold integrins, MHC I, annexins and HSC70, which any cell-derived
//!   material contains, so the category rules alone are weak evidence of EVs.
//!
//! Features are matched to markers by the gene-symbol annotation (`gene_column`, default
//! `gene`), splitting protein groups such as `CD9;CD81`; features without a gene are matched by
//! their id (UniProt accession, entry name, FASTA-style `sp|…|…`, or a symbol). A protein group
//! counts towards every category one of its genes belongs to, once per category. Features the
//! reader flagged as decoy or contaminant are left out by default (FragPipe `contam_` entries
//! include bovine serum albumin from culture medium, which is then not counted as category 3).

use std::collections::{BTreeMap, BTreeSet};

use evomics_core::{Assay, FeatureFlags, LayerKind, ValueFlag, ValueScale};
use evomics_panels::{IdMatch, MisevCategory, MisevMarkers};
use serde::{Deserialize, Serialize};

use crate::error::{QcError, Result};
use crate::stats::linear_value;

/// A matched marker gene of a feature: (gene label, category, subcategory).
type MarkerHit = (String, MisevCategory, String);

/// Thresholds and matching options of the purity gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PurityParams {
    /// Feature annotation holding gene symbols.
    pub gene_column: String,
    /// Fewest observed category-1 marker genes for a sample not to fail (0 disables the rule).
    pub min_transmembrane: usize,
    /// Fewest observed category-2 marker genes (of `cytosolic_subcategories`) not to fail.
    pub min_cytosolic: usize,
    /// Category-2 subcategories that count for `min_cytosolic` (`2a`, `2b`).
    pub cytosolic_subcategories: Vec<String>,
    /// Canonical EV markers (gene symbols) looked for in addition to the category rules.
    pub core_markers: Vec<String>,
    /// Fewest observed `core_markers` for a sample not to be warned (0 disables the rule).
    pub min_core_markers: usize,
    /// Category-3 intensity share above which a sample is warned.
    pub co_isolate_warn_share: f64,
    /// Category-3 intensity share above which a sample fails.
    pub co_isolate_fail_share: f64,
    /// Category-4 intensity share above which a sample is warned.
    pub other_compartment_warn_share: f64,
    /// Category-4 intensity share above which a sample fails.
    pub other_compartment_fail_share: f64,
    /// Optional: category-5 (secreted/ECM) intensity share above which a sample is warned.
    /// Off by default: MISEV does not treat category 5 as a contaminant class, but in
    /// conditioned medium a high share shows that soluble secreted protein dominates.
    pub secreted_warn_share: Option<f64>,
    /// Leave out features flagged decoy or contaminant by the reader.
    pub exclude_flagged_features: bool,
}

impl Default for PurityParams {
    fn default() -> Self {
        PurityParams {
            gene_column: "gene".into(),
            min_transmembrane: 1,
            min_cytosolic: 1,
            cytosolic_subcategories: vec!["2a".into()],
            core_markers: ["CD9", "CD63", "CD81", "TSG101", "PDCD6IP", "SDCBP"]
                .map(String::from)
                .to_vec(),
            min_core_markers: 1,
            co_isolate_warn_share: 0.05,
            co_isolate_fail_share: 0.20,
            other_compartment_warn_share: 0.05,
            other_compartment_fail_share: 0.20,
            secreted_warn_share: None,
            exclude_flagged_features: true,
        }
    }
}

impl PurityParams {
    /// Validate the parameters and return the gate, ready to evaluate layers.
    pub fn check(&self) -> Result<PurityGate> {
        let share = |param: &'static str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(QcError::InvalidParam {
                    param,
                    problem: format!("{v} is not a share between 0 and 1 (0.05 = 5 %)"),
                })
            }
        };
        share("co_isolate_warn_share", self.co_isolate_warn_share)?;
        share("co_isolate_fail_share", self.co_isolate_fail_share)?;
        share(
            "other_compartment_warn_share",
            self.other_compartment_warn_share,
        )?;
        share(
            "other_compartment_fail_share",
            self.other_compartment_fail_share,
        )?;
        if let Some(v) = self.secreted_warn_share {
            share("secreted_warn_share", v)?;
        }
        for (param, w, f) in [
            (
                "co_isolate_warn_share",
                self.co_isolate_warn_share,
                self.co_isolate_fail_share,
            ),
            (
                "other_compartment_warn_share",
                self.other_compartment_warn_share,
                self.other_compartment_fail_share,
            ),
        ] {
            if w > f {
                return Err(QcError::InvalidParam {
                    param,
                    problem: format!("warn share {w} is above the fail share {f}"),
                });
            }
        }
        if self.gene_column.trim().is_empty() {
            return Err(QcError::InvalidParam {
                param: "gene_column",
                problem: "empty; name the feature annotation with gene symbols (e.g. gene)".into(),
            });
        }
        if self.cytosolic_subcategories.is_empty() && self.min_cytosolic > 0 {
            return Err(QcError::InvalidParam {
                param: "cytosolic_subcategories",
                problem: "empty while min_cytosolic > 0; list 2a and/or 2b".into(),
            });
        }
        if self.core_markers.len() < self.min_core_markers {
            return Err(QcError::InvalidParam {
                param: "min_core_markers",
                problem: format!(
                    "{} exceeds the {} core_markers listed",
                    self.min_core_markers,
                    self.core_markers.len()
                ),
            });
        }
        let markers = MisevMarkers::misev2018();
        if let Some(g) = self
            .core_markers
            .iter()
            .find(|g| markers.lookup_symbol(g).is_none())
        {
            return Err(QcError::InvalidParam {
                param: "core_markers",
                problem: format!(
                    "'{g}' is not a MISEV marker gene; core markers are looked up among them"
                ),
            });
        }
        for s in &self.cytosolic_subcategories {
            if s != "2a" && s != "2b" {
                return Err(QcError::InvalidParam {
                    param: "cytosolic_subcategories",
                    problem: format!("'{s}' is not a category-2 subcategory (2a or 2b)"),
                });
            }
        }
        Ok(PurityGate {
            params: self.clone(),
            markers,
        })
    }
}

/// A validated purity gate.
#[derive(Debug, Clone)]
pub struct PurityGate {
    params: PurityParams,
    markers: &'static MisevMarkers,
}

/// Outcome of the gate for one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// All rules met.
    Pass,
    /// A share exceeds its warn threshold.
    Warn,
    /// A required marker class is absent or a share exceeds its fail threshold.
    Fail,
}

impl Verdict {
    /// Stable lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
        }
    }
}

/// What one sample shows for one MISEV category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryEvidence {
    /// The category.
    pub category: MisevCategory,
    /// Marker genes observed in the sample (sorted).
    pub markers: Vec<String>,
    /// Summed linear intensity of the category's features / the sample's total intensity;
    /// `None` when the layer has no linear scale or the sample has no intensity.
    pub share: Option<f64>,
}

/// The gate's result for one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplePurity {
    /// Sample id.
    pub sample: String,
    /// Pass, warn or fail.
    pub verdict: Verdict,
    /// Why, one sentence per triggered rule (empty on pass).
    pub reasons: Vec<String>,
    /// Evidence per category 1–5, in order.
    pub evidence: Vec<CategoryEvidence>,
    /// Category-2 marker genes that count for the cytosolic rule.
    pub n_cytosolic_counted: usize,
    /// `core_markers` observed in the sample (sorted).
    pub core_markers: Vec<String>,
    /// Sum of the sample's observed linear intensities (the share denominator).
    pub total_intensity: Option<f64>,
}

impl SamplePurity {
    /// The evidence for one category.
    pub fn category(&self, c: MisevCategory) -> &CategoryEvidence {
        &self.evidence[usize::from(c.number() - 1)]
    }
}

/// A feature matched to one or more MISEV markers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkerFeature {
    /// Feature id.
    pub feature: String,
    /// Matched marker genes with their subcategory (e.g. `CD63` / `1a`).
    pub markers: Vec<(String, String)>,
    /// How the match was made.
    pub matched_by: IdMatch,
}

/// The purity gate's result for a layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PurityReport {
    /// Layer name.
    pub layer: String,
    /// What identifiers were matched (`annotation 'gene'`, `feature ids`, or both).
    pub matched_on: String,
    /// Features that matched a marker, in layer order.
    pub marker_features: Vec<MarkerFeature>,
    /// Features left out because the reader flagged them decoy/contaminant.
    pub n_excluded_flagged: usize,
    /// One result per sample, in layer order.
    pub samples: Vec<SamplePurity>,
    /// The parameters used.
    pub params: PurityParams,
    /// Remarks about the whole run.
    pub notes: Vec<String>,
}

impl PurityReport {
    /// Number of samples that passed, warned and failed.
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |v| self.samples.iter().filter(|s| s.verdict == v).count();
        (n(Verdict::Pass), n(Verdict::Warn), n(Verdict::Fail))
    }
}

/// Validate `params` and run the gate on `assay` (shorthand for `params.check()?.evaluate(assay)`).
pub fn purity_gate(assay: &Assay, params: &PurityParams) -> Result<PurityReport> {
    params.check()?.evaluate(assay)
}

impl PurityGate {
    /// The validated parameters.
    pub fn params(&self) -> &PurityParams {
        &self.params
    }

    /// Run the gate on a proteome layer.
    pub fn evaluate(&self, assay: &Assay) -> Result<PurityReport> {
        if *assay.kind() != LayerKind::Proteome {
            return Err(QcError::NotProteome {
                layer: assay.name().to_string(),
                kind: assay.kind().name(),
            });
        }
        let (nf, ns) = (assay.n_features(), assay.n_samples());
        if nf == 0 || ns == 0 {
            return Err(QcError::EmptyLayer {
                layer: assay.name().to_string(),
                n_features: nf,
                n_samples: ns,
            });
        }
        let p = &self.params;
        let mut notes = Vec::new();
        let genes = assay.features().annotation(&p.gene_column);
        if genes.is_none() {
            notes.push(format!(
                "no feature annotation '{}': markers matched by feature ids (UniProt accession, entry name or symbol)",
                p.gene_column
            ));
        }
        let excluded: Vec<bool> = assay
            .features()
            .flags()
            .iter()
            .map(|f| {
                p.exclude_flagged_features
                    && (f.contains(FeatureFlags::DECOY) || f.contains(FeatureFlags::CONTAMINANT))
            })
            .collect();
        let n_excluded_flagged = excluded.iter().filter(|&&e| e).count();

        // Match every feature: (row, genes by category).
        let mut marker_features = Vec::new();
        let mut row_markers: Vec<(usize, Vec<MarkerHit>)> = Vec::new();
        let (mut by_gene, mut by_id) = (false, false);
        for i in 0..nf {
            if excluded[i] {
                continue;
            }
            let gene = genes
                .and_then(|g| g[i].as_deref())
                .filter(|g| !g.trim().is_empty());
            let mut hits: Vec<MarkerHit> = Vec::new();
            let mut how = IdMatch::Symbol;
            match gene {
                Some(g) => {
                    by_gene = true;
                    for tok in g.split([';', ',']).map(str::trim).filter(|t| !t.is_empty()) {
                        if let Some(m) = self.markers.lookup_symbol(tok) {
                            hits.push((
                                tok.to_ascii_uppercase(),
                                m.category,
                                m.subcategory.clone(),
                            ));
                        }
                    }
                }
                None => {
                    by_id = true;
                    let id = &assay.features().ids()[i];
                    for tok in id.split(';').map(str::trim).filter(|t| !t.is_empty()) {
                        if let Some((m, g, h)) = self.markers.match_protein_id(tok) {
                            hits.push((g, m.category, m.subcategory.clone()));
                            how = h;
                        }
                    }
                }
            }
            hits.sort();
            hits.dedup();
            if !hits.is_empty() {
                marker_features.push(MarkerFeature {
                    feature: assay.features().ids()[i].clone(),
                    markers: hits
                        .iter()
                        .map(|(g, _, s)| (g.clone(), s.clone()))
                        .collect(),
                    matched_by: how,
                });
                row_markers.push((i, hits));
            }
        }
        let matched_on = match (by_gene, by_id) {
            (true, true) => format!(
                "annotation '{}' (feature ids where it is empty)",
                p.gene_column
            ),
            (true, false) => format!("annotation '{}'", p.gene_column),
            _ => "feature ids".to_string(),
        };
        let scale = assay.scale();
        if scale == ValueScale::Other {
            notes.push("layer scale is 'other': intensity shares are not computed, so the co-isolate and other-compartment share rules are not applied".into());
        }

        let core_set: BTreeSet<String> = p
            .core_markers
            .iter()
            .map(|g| g.trim().to_ascii_uppercase())
            .collect();
        let values = assay.values();
        let flags = assay.flags();
        let mut samples = Vec::with_capacity(ns);
        for j in 0..ns {
            let observed = |i: usize| flags[[i, j]] == ValueFlag::Observed;
            let total: Option<f64> = (scale != ValueScale::Other).then(|| {
                (0..nf)
                    .filter(|&i| !excluded[i] && observed(i))
                    .filter_map(|i| linear_value(scale, values[[i, j]]))
                    .sum()
            });
            let mut genes_in: BTreeMap<MisevCategory, BTreeSet<String>> = BTreeMap::new();
            let mut intensity: BTreeMap<MisevCategory, f64> = BTreeMap::new();
            // per category, per gene label: intensity (for naming the main contributors)
            let mut contrib: BTreeMap<MisevCategory, BTreeMap<String, f64>> = BTreeMap::new();
            let mut counted_cyto: BTreeSet<String> = BTreeSet::new();
            let mut core: BTreeSet<String> = BTreeSet::new();
            for (i, hits) in &row_markers {
                if !observed(*i) {
                    continue;
                }
                for (g, _, _) in hits {
                    if core_set.contains(g) {
                        core.insert(g.clone());
                    }
                }
                let lin = linear_value(scale, values[[*i, j]]);
                let mut cats_seen: BTreeSet<MisevCategory> = BTreeSet::new();
                for (g, c, sub) in hits {
                    genes_in.entry(*c).or_default().insert(g.clone());
                    if *c == MisevCategory::Cytosolic && p.cytosolic_subcategories.contains(sub) {
                        counted_cyto.insert(g.clone());
                    }
                    if cats_seen.insert(*c) {
                        if let Some(l) = lin {
                            *intensity.entry(*c).or_insert(0.0) += l;
                            let label = hits
                                .iter()
                                .filter(|h| h.1 == *c)
                                .map(|h| h.0.as_str())
                                .collect::<Vec<_>>()
                                .join(";");
                            *contrib.entry(*c).or_default().entry(label).or_insert(0.0) += l;
                        }
                    }
                }
            }
            let share = |c: MisevCategory| -> Option<f64> {
                let t = total.filter(|t| *t > 0.0)?;
                Some(intensity.get(&c).copied().unwrap_or(0.0) / t)
            };
            let evidence: Vec<CategoryEvidence> = MisevCategory::ALL
                .iter()
                .map(|&c| CategoryEvidence {
                    category: c,
                    markers: genes_in
                        .get(&c)
                        .map(|s| s.iter().cloned().collect())
                        .unwrap_or_default(),
                    share: share(c),
                })
                .collect();

            let mut fail = Vec::new();
            let mut warn = Vec::new();
            let n_tm = evidence[0].markers.len();
            if n_tm < p.min_transmembrane {
                fail.push(if n_tm == 0 {
                    "no transmembrane/GPI-anchored marker (MISEV category 1, e.g. CD9, CD63, CD81) observed".to_string()
                } else {
                    format!(
                        "{n_tm} transmembrane marker(s) ({}) < {} required",
                        evidence[0].markers.join(", "),
                        p.min_transmembrane
                    )
                });
            }
            let n_cy = counted_cyto.len();
            if n_cy < p.min_cytosolic {
                let subs = p.cytosolic_subcategories.join("/");
                fail.push(if n_cy == 0 {
                    format!("no cytosolic EV marker (MISEV category {subs}, e.g. TSG101, PDCD6IP/ALIX, SDCBP, FLOT1) observed")
                } else {
                    format!(
                        "{n_cy} cytosolic marker(s) of category {subs} ({}) < {} required",
                        counted_cyto.iter().cloned().collect::<Vec<_>>().join(", "),
                        p.min_cytosolic
                    )
                });
            }
            if core.len() < p.min_core_markers {
                warn.push(if core.is_empty() {
                    format!(
                        "none of the canonical EV markers {} observed",
                        p.core_markers.join(", ")
                    )
                } else {
                    format!(
                        "{} canonical EV marker(s) ({}) < {} expected",
                        core.len(),
                        core.iter().cloned().collect::<Vec<_>>().join(", "),
                        p.min_core_markers
                    )
                });
            }
            for (c, what, w, f) in [
                (
                    MisevCategory::CoIsolated,
                    "co-isolate",
                    p.co_isolate_warn_share,
                    p.co_isolate_fail_share,
                ),
                (
                    MisevCategory::OtherCompartment,
                    "other-compartment",
                    p.other_compartment_warn_share,
                    p.other_compartment_fail_share,
                ),
            ] {
                let Some(s) = share(c) else { continue };
                let (limit, target) = if s > f {
                    (f, &mut fail)
                } else if s > w {
                    (w, &mut warn)
                } else {
                    continue;
                };
                target.push(format!(
                    "{what} (MISEV category {}) {} share {} > {}",
                    c.number(),
                    top_contributors(contrib.get(&c)),
                    percent(s),
                    percent(limit)
                ));
            }
            if let (Some(w), Some(s)) = (p.secreted_warn_share, share(MisevCategory::Secreted)) {
                if s > w {
                    warn.push(format!(
                        "secreted/ECM (MISEV category 5) {} share {} > {}",
                        top_contributors(contrib.get(&MisevCategory::Secreted)),
                        percent(s),
                        percent(w)
                    ));
                }
            }
            if scale == ValueScale::Other {
                warn.push("intensity shares not assessed (layer scale 'other')".into());
            }
            let verdict = if !fail.is_empty() {
                Verdict::Fail
            } else if !warn.is_empty() {
                Verdict::Warn
            } else {
                Verdict::Pass
            };
            fail.extend(warn);
            samples.push(SamplePurity {
                sample: assay.samples()[j].clone(),
                verdict,
                reasons: fail,
                evidence,
                n_cytosolic_counted: n_cy,
                core_markers: core.into_iter().collect(),
                total_intensity: total,
            });
        }
        Ok(PurityReport {
            layer: assay.name().to_string(),
            matched_on,
            marker_features,
            n_excluded_flagged,
            samples,
            params: self.params.clone(),
            notes,
        })
    }
}

/// `ALB+APOA1+APOB` for the (up to) three largest contributors, `+N more` beyond.
fn top_contributors(c: Option<&BTreeMap<String, f64>>) -> String {
    let Some(c) = c else {
        return String::new();
    };
    let mut v: Vec<(&String, &f64)> = c.iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
    let mut s = v
        .iter()
        .take(3)
        .map(|(g, _)| g.as_str())
        .collect::<Vec<_>>()
        .join("+");
    if v.len() > 3 {
        s.push_str(&format!(" (+{} more)", v.len() - 3));
    }
    s
}

fn percent(x: f64) -> String {
    let p = x * 100.0;
    if p >= 10.0 || p == p.round() {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evomics_core::Features;
    use ndarray::Array2;

    const IDS: [&str; 9] = [
        "P21926;P60033",
        "P08962",
        "Q99816",
        "P60709",
        "P02768",
        "P02647",
        "P27824",
        "P02452",
        "contam_sp|P02769|ALBU_BOVIN",
    ];
    const GENES: [&str; 9] = [
        "CD9;CD81", "CD63", "TSG101", "ACTB", "ALB", "APOA1", "CANX", "COL1A1", "ALB",
    ];
    const SAMPLES: [&str; 6] = [
        "pass",
        "warn_co_isolate",
        "fail_no_tm",
        "fail_no_cyto",
        "fail_co_isolate",
        "warn_other",
    ];

    /// Columns follow `SAMPLES`; rows follow `IDS`; 0 means missing.
    fn assay(with_genes: bool, scale: ValueScale) -> Assay {
        let cols: [[f64; 9]; 6] = [
            [100.0, 100.0, 50.0, 50.0, 10.0, 0.0, 0.0, 690.0, 10000.0],
            [100.0, 0.0, 50.0, 50.0, 60.0, 40.0, 0.0, 700.0, 0.0],
            [0.0, 0.0, 50.0, 50.0, 0.0, 0.0, 0.0, 900.0, 0.0],
            [0.0, 100.0, 0.0, 100.0, 0.0, 0.0, 0.0, 800.0, 0.0],
            [0.0, 100.0, 100.0, 0.0, 300.0, 0.0, 0.0, 500.0, 0.0],
            [0.0, 100.0, 100.0, 0.0, 0.0, 0.0, 80.0, 720.0, 0.0],
        ];
        let cells = Array2::from_shape_fn((9, 6), |(i, j)| {
            let v = cols[j][i];
            (v > 0.0).then(|| {
                if scale == ValueScale::Log2 {
                    v.log2()
                } else {
                    v
                }
            })
        });
        let mut f = Features::new(IDS.iter().map(|s| s.to_string()).collect()).unwrap();
        if with_genes {
            f.set_annotation("gene", GENES.iter().map(|g| Some(g.to_string())).collect())
                .unwrap();
        }
        let mut flags = vec![FeatureFlags::NONE; 9];
        flags[8] = FeatureFlags::CONTAMINANT;
        f.set_flags(flags).unwrap();
        Assay::from_options(
            "proteome",
            LayerKind::Proteome,
            scale,
            f,
            SAMPLES.iter().map(|s| s.to_string()).collect(),
            &cells,
        )
        .unwrap()
    }

    fn verdicts(r: &PurityReport) -> Vec<&'static str> {
        r.samples.iter().map(|s| s.verdict.name()).collect()
    }

    #[test]
    fn each_outcome() {
        let r = purity_gate(&assay(true, ValueScale::Linear), &PurityParams::default()).unwrap();
        assert_eq!(
            verdicts(&r),
            ["pass", "warn", "fail", "fail", "fail", "warn"]
        );
        assert_eq!(r.counts(), (1, 2, 3));
        assert_eq!(r.matched_on, "annotation 'gene'");
        assert_eq!(r.n_excluded_flagged, 1);
        let pass = &r.samples[0];
        assert!(pass.reasons.is_empty(), "{:?}", pass.reasons);
        assert_eq!(
            pass.category(MisevCategory::Transmembrane).markers,
            ["CD63", "CD81", "CD9"]
        );
        assert_eq!(
            pass.category(MisevCategory::Cytosolic).markers,
            ["ACTB", "TSG101"]
        );
        assert_eq!(pass.n_cytosolic_counted, 1);
        assert_eq!(pass.total_intensity, Some(1000.0));
        assert_eq!(pass.category(MisevCategory::CoIsolated).share, Some(0.01));
        assert_eq!(pass.category(MisevCategory::Transmembrane).share, Some(0.2));
        assert_eq!(
            r.samples[1].reasons,
            ["co-isolate (MISEV category 3) ALB+APOA1 share 10% > 5%"]
        );
        assert!(
            r.samples[2].reasons[0].starts_with("no transmembrane"),
            "{:?}",
            r.samples[2].reasons
        );
        assert!(r.samples[3].reasons[0].starts_with("no cytosolic EV marker (MISEV category 2a"));
        assert_eq!(
            r.samples[4].reasons,
            ["co-isolate (MISEV category 3) ALB share 30% > 20%"]
        );
        assert_eq!(
            r.samples[5].reasons,
            ["other-compartment (MISEV category 4) CANX share 8% > 5%"]
        );
        let mf = &r.marker_features[0];
        assert_eq!(
            mf.markers,
            [("CD81".into(), "1a".into()), ("CD9".into(), "1b".into())]
        );
    }

    #[test]
    fn thresholds_and_options_change_outcomes() {
        let a = assay(true, ValueScale::Linear);
        let p = PurityParams {
            cytosolic_subcategories: vec!["2a".into(), "2b".into()],
            co_isolate_warn_share: 0.15,
            min_transmembrane: 0,
            ..Default::default()
        };
        let r = purity_gate(&a, &p).unwrap();
        assert_eq!(
            verdicts(&r),
            ["pass", "pass", "pass", "pass", "fail", "warn"]
        );
        let keep = PurityParams {
            exclude_flagged_features: false,
            ..Default::default()
        };
        let r = purity_gate(&a, &keep).unwrap();
        assert_eq!(r.samples[0].verdict, Verdict::Fail);
        assert!(
            r.samples[0].reasons[0].contains("ALB share 91%"),
            "{:?}",
            r.samples[0].reasons
        );
    }

    #[test]
    fn ids_without_gene_column_and_log2_scale() {
        let by_gene =
            purity_gate(&assay(true, ValueScale::Linear), &PurityParams::default()).unwrap();
        let by_id = purity_gate(&assay(false, ValueScale::Log2), &PurityParams::default()).unwrap();
        assert_eq!(by_id.matched_on, "feature ids");
        assert!(by_id.notes[0].contains("no feature annotation 'gene'"));
        assert_eq!(verdicts(&by_id), verdicts(&by_gene));
        for (a, b) in by_gene.samples.iter().zip(&by_id.samples) {
            for c in MisevCategory::ALL {
                let (x, y) = (a.category(c), b.category(c));
                assert_eq!(x.markers, y.markers, "{} {:?}", a.sample, c);
                match (x.share, y.share) {
                    (Some(x), Some(y)) => assert!((x - y).abs() < 1e-12),
                    (x, y) => assert_eq!(x, y),
                }
            }
        }
        assert!(by_id
            .marker_features
            .iter()
            .all(|m| m.matched_by == IdMatch::Accession));
    }

    #[test]
    fn category_markers_without_core_markers_warn() {
        let mut f = Features::new(vec!["a".into(), "b".into(), "c".into()]).unwrap();
        let genes = ["ITGB1", "ANXA2", "CD9"]
            .map(|g| Some(g.to_string()))
            .to_vec();
        f.set_annotation("gene", genes).unwrap();
        let cells = ndarray::array![
            [Some(10.0), Some(10.0)],
            [Some(10.0), Some(10.0)],
            [None, Some(1.0)]
        ];
        let a = Assay::from_options(
            "p",
            LayerKind::Proteome,
            ValueScale::Linear,
            f,
            vec!["weak".into(), "core".into()],
            &cells,
        )
        .unwrap();
        let r = purity_gate(&a, &PurityParams::default()).unwrap();
        assert_eq!(verdicts(&r), ["warn", "pass"]);
        assert_eq!(
            r.samples[0].reasons,
            ["none of the canonical EV markers CD9, CD63, CD81, TSG101, PDCD6IP, SDCBP observed"]
        );
        assert_eq!(r.samples[1].core_markers, ["CD9"]);
        let two = PurityParams {
            min_core_markers: 2,
            ..Default::default()
        };
        let r = purity_gate(&a, &two).unwrap();
        assert_eq!(
            r.samples[1].reasons,
            ["1 canonical EV marker(s) (CD9) < 2 expected"]
        );
    }

    #[test]
    fn other_scale_and_wrong_kind() {
        let a = assay(true, ValueScale::Linear);
        let other = a
            .with_matrices(a.values().clone(), a.flags().clone(), ValueScale::Other)
            .unwrap();
        let r = purity_gate(&other, &PurityParams::default()).unwrap();
        assert_eq!(
            verdicts(&r),
            ["warn", "warn", "fail", "fail", "warn", "warn"]
        );
        assert!(r.samples[0]
            .category(MisevCategory::CoIsolated)
            .share
            .is_none());
        assert!(r.notes.iter().any(|n| n.contains("scale is 'other'")));
        let mirna = Assay::new(
            "mirna",
            LayerKind::Mirna,
            ValueScale::Counts,
            a.features().clone(),
            a.samples().to_vec(),
            a.values().clone(),
            a.flags().clone(),
        )
        .unwrap();
        let e = purity_gate(&mirna, &PurityParams::default()).unwrap_err();
        assert!(e.to_string().contains("proteome layers only"), "{e}");
    }

    #[test]
    fn percent_formatting() {
        assert_eq!(percent(0.05), "5%");
        assert_eq!(percent(0.123), "12%");
        assert_eq!(percent(0.0312), "3.1%");
    }

    #[test]
    fn contributors_ranked() {
        let mut m = BTreeMap::new();
        for (g, v) in [("APOB", 1.0), ("ALB", 9.0), ("APOA1", 5.0), ("UMOD", 0.5)] {
            m.insert(g.to_string(), v);
        }
        assert_eq!(top_contributors(Some(&m)), "ALB+APOA1+APOB (+1 more)");
        assert_eq!(top_contributors(None), "");
    }

    #[test]
    fn params_checked() {
        assert!(PurityParams::default().check().is_ok());
        let bad = |f: fn(&mut PurityParams)| {
            let mut p = PurityParams::default();
            f(&mut p);
            p.check().unwrap_err().to_string()
        };
        assert!(bad(|p| p.co_isolate_warn_share = 1.5).contains("co_isolate_warn_share"));
        assert!(bad(|p| p.other_compartment_warn_share = 0.5).contains("above the fail share"));
        assert!(bad(|p| p.gene_column = " ".into()).contains("gene_column"));
        assert!(bad(|p| p.cytosolic_subcategories = vec!["3a".into()]).contains("3a"));
        assert!(bad(|p| p.cytosolic_subcategories.clear()).contains("min_cytosolic"));
        assert!(bad(|p| p.core_markers = vec!["COL1A1".into()]).contains("COL1A1"));
        assert!(bad(|p| p.min_core_markers = 7).contains("min_core_markers"));
        assert!(bad(|p| p.secreted_warn_share = Some(-0.1)).contains("secreted_warn_share"));
        let p: PurityParams =
            serde_json::from_str(r#"{"co_isolate_warn_share": 0.1, "gene_column": "Genes"}"#)
                .unwrap();
        assert_eq!((p.co_isolate_warn_share, p.min_transmembrane), (0.1, 1));
        let e = serde_json::from_str::<PurityParams>(r#"{"co_isolate_share": 0.1}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }
}
