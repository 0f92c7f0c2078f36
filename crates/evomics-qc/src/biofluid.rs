//! Biofluid contamination checks for miRNA layers: haemolysis and blood-cell share.
//!
//! EVs isolated from plasma, serum, urine or other body fluids carry miRNAs of blood cells, and
//! their amount varies between preparations far more than any biological effect. Two per-sample
//! checks, on counts per million (CPM: a feature's reads / the sample's observed reads × 10⁶;
//! log2 layers are brought back to the linear scale first):
//!
//! - **haemolysis**: log2(CPM miR-451a / CPM miR-23a-3p), the sequencing analogue of the qPCR
//!   ΔCq(miR-23a − miR-451a) of Blondal et al. (2013, Methods 59:S1–S6,
//!   doi:10.1016/j.ymeth.2012.09.015): miR-451a is erythrocyte-specific, miR-23a-3p is stable in
//!   plasma and not affected by haemolysis, and at 100 % PCR efficiency one Cq is one doubling, so
//!   ΔCq equals the log2 ratio. Blondal's cut-offs are the defaults: above 7 the sample is
//!   haemolysed (**fail**), from 5 to 7 possibly haemolysed (**warn**);
//! - **blood-cell share**: the share of the sample's reads from miR-223-3p, miR-142-3p,
//!   miR-142-5p, miR-16-5p and miR-486-5p, the miRNAs whose plasma levels Pritchard et al. (2012,
//!   Cancer Prev Res 5:492–497, doi:10.1158/1940-6207.CAPR-11-0370) traced to blood cells
//!   (myeloid/lymphoid: miR-223, miR-142; erythrocytes: miR-16, miR-486) and showed to rise with
//!   cell counts and haemolysis. Defaults: **warn** above 5 %, **fail** above 20 % (see
//!   [`BiofluidParams`] for how they were chosen).
//!
//! Feature ids are matched through the miRBase v22 harmonizer ([`MirnaHarmonizer`]), so
//! `hsa-miR-451a`, `miR-451a`, `MIMAT0001631` and mouse `mmu-miR-451a` (mapped to the human name
//! after its species prefix) all count as miR-451a; several features of one miRNA are summed. A
//! miRNA absent from the layer, or not observed in a sample, makes that sample's metric NA with a
//! reason, never a pass.
//!
//! Which samples the checks apply to comes from a sample-sheet column (`biofluid_column`,
//! default `biofluid` when the sheet has it): rows whose value is a cell-culture medium
//! (`conditioned_medium`, `culture`, `medium`, or empty) are **skipped** ("not a biofluid");
//! other values (plasma, serum, urine, …) are checked. Without such a column every sample is
//! checked but the verdicts are **informational**: EVs from cell culture carry no blood, and a
//! high miR-451a or miR-142 there is biology, not contamination.

use std::collections::BTreeMap;

use evomics_core::{Assay, LayerKind, SampleSheet, ValueFlag, ValueScale};
use evomics_panels::{HarmonizeStatus, MirnaHarmonizer};
use serde::{Deserialize, Serialize};

use crate::error::{QcError, Result};
use crate::purity::Verdict;
use crate::stats::linear_value;

/// The erythrocyte miRNA whose rise marks haemolysis.
pub const HAEMOLYSIS_MARKER: &str = "hsa-miR-451a";
/// The haemolysis-insensitive reference miRNA of the ratio.
pub const HAEMOLYSIS_REFERENCE: &str = "hsa-miR-23a-3p";
/// Blood-cell miRNAs (Pritchard et al. 2012) whose summed read share is the blood-cell share.
pub const BLOOD_CELL_MIRNAS: [&str; 5] = [
    "hsa-miR-223-3p",
    "hsa-miR-142-3p",
    "hsa-miR-142-5p",
    "hsa-miR-16-5p",
    "hsa-miR-486-5p",
];

/// Settings of the biofluid checks: `[biofluid]` of the QC config.
///
/// The haemolysis thresholds are Blondal et al.'s ΔCq cut-offs (5 and 7). The blood-cell share
/// has no published cut-off; the defaults were chosen from what blood looks like: in a
/// urinary-EV cohort one preparation with a blood-cell profile had 25 % of its reads from
/// miR-223-3p and miR-142-3p, so **fail** at 20 % catches such a preparation, and **warn** at
/// 5 % sits well above what these five miRNAs make up of EVs from cells or low-blood fluids
/// (a few per cent at most). Plasma and serum EVs carry these miRNAs by nature (miR-16 and
/// miR-486 are among the most abundant plasma miRNAs); raise both shares for such cohorts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BiofluidParams {
    /// Sample-sheet column naming the fluid of each preparation; `None`: `biofluid` when the
    /// sheet has it. A column named here that the sheet lacks is an error.
    pub biofluid_column: Option<String>,
    /// Values of that column (compared ignoring case) meaning cell-culture medium, skipped.
    pub not_biofluid: Vec<String>,
    /// log2(miR-451a / miR-23a-3p) at or above which a sample is possibly haemolysed (warn).
    pub haemolysis_warn_log2: f64,
    /// log2(miR-451a / miR-23a-3p) above which a sample is haemolysed (fail).
    pub haemolysis_fail_log2: f64,
    /// Blood-cell read share above which a sample is warned (0.05 = 5 %).
    pub blood_cell_warn_share: f64,
    /// Blood-cell read share above which a sample fails.
    pub blood_cell_fail_share: f64,
}

impl Default for BiofluidParams {
    fn default() -> Self {
        BiofluidParams {
            biofluid_column: None,
            not_biofluid: ["conditioned_medium", "culture", "medium"]
                .map(String::from)
                .to_vec(),
            haemolysis_warn_log2: 5.0,
            haemolysis_fail_log2: 7.0,
            blood_cell_warn_share: 0.05,
            blood_cell_fail_share: 0.20,
        }
    }
}

impl BiofluidParams {
    /// Check the settings alone (before any data is read).
    pub fn validate(&self) -> Result<()> {
        let bad =
            |param: &'static str, problem: String| Err(QcError::InvalidParam { param, problem });
        for (param, v) in [
            ("biofluid.haemolysis_warn_log2", self.haemolysis_warn_log2),
            ("biofluid.haemolysis_fail_log2", self.haemolysis_fail_log2),
        ] {
            if !v.is_finite() {
                return bad(
                    param,
                    format!("{v} is not a finite log2 ratio (Blondal: 5 and 7)"),
                );
            }
        }
        if self.haemolysis_warn_log2 > self.haemolysis_fail_log2 {
            return bad(
                "biofluid.haemolysis_warn_log2",
                format!(
                    "{} is above haemolysis_fail_log2 {}",
                    self.haemolysis_warn_log2, self.haemolysis_fail_log2
                ),
            );
        }
        for (param, v) in [
            ("biofluid.blood_cell_warn_share", self.blood_cell_warn_share),
            ("biofluid.blood_cell_fail_share", self.blood_cell_fail_share),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(
                    param,
                    format!("{v} is not a share between 0 and 1 (0.05 = 5 %)"),
                );
            }
        }
        if self.blood_cell_warn_share > self.blood_cell_fail_share {
            return bad(
                "biofluid.blood_cell_warn_share",
                format!(
                    "{} is above blood_cell_fail_share {}",
                    self.blood_cell_warn_share, self.blood_cell_fail_share
                ),
            );
        }
        if let Some(c) = &self.biofluid_column {
            if c.trim().is_empty() {
                return bad(
                    "biofluid.biofluid_column",
                    "is empty; name a sample-sheet column or leave it out".into(),
                );
            }
        }
        Ok(())
    }
}

/// Whether the checks apply to a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BiofluidScope {
    /// The sheet names a biofluid for the sample: the verdict counts.
    Checked,
    /// No biofluid column: checked, but the verdict is informational only.
    Informational,
    /// The sheet names a cell-culture medium (or nothing): not checked.
    NotBiofluid,
}

impl BiofluidScope {
    /// Stable lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            BiofluidScope::Checked => "checked",
            BiofluidScope::Informational => "informational",
            BiofluidScope::NotBiofluid => "not_biofluid",
        }
    }
}

/// The checks for one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleBiofluid {
    /// Sample id.
    pub sample: String,
    /// The sheet's biofluid value, if any.
    pub biofluid: Option<String>,
    /// Whether the verdict counts.
    pub scope: BiofluidScope,
    /// CPM of miR-451a.
    pub mir451a_cpm: Option<f64>,
    /// CPM of miR-23a-3p.
    pub mir23a_cpm: Option<f64>,
    /// log2(miR-451a / miR-23a-3p); NA when either is absent, unobserved or zero.
    pub haemolysis_log2: Option<f64>,
    /// Verdict of the haemolysis rule (NA when the ratio is).
    pub haemolysis: Option<Verdict>,
    /// Summed share of the blood-cell miRNAs among the sample's reads.
    pub blood_cell_share: Option<f64>,
    /// Verdict of the blood-cell rule (NA when the share is).
    pub blood_cell: Option<Verdict>,
    /// Worst of the two rules; NA when the sample is skipped, or when neither rule warns or
    /// fails and one of them is NA (an incomplete check is never a pass).
    pub verdict: Option<Verdict>,
    /// One sentence per triggered rule or NA.
    pub reasons: Vec<String>,
}

/// The biofluid checks of one miRNA layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BiofluidReport {
    /// Layer name.
    pub layer: String,
    /// The sheet column that decided the scope, if any.
    pub column: Option<String>,
    /// Feature ids matched to each checked miRNA (human v22 name → ids, in layer order).
    pub matched: BTreeMap<String, Vec<String>>,
    /// One result per layer sample, in layer order.
    pub samples: Vec<SampleBiofluid>,
    /// The parameters used.
    pub params: BiofluidParams,
}

impl BiofluidReport {
    /// Samples whose verdict counts (scope checked) and is warn or fail.
    pub fn flagged(&self) -> Vec<&SampleBiofluid> {
        self.samples
            .iter()
            .filter(|s| s.scope == BiofluidScope::Checked)
            .filter(|s| matches!(s.verdict, Some(Verdict::Warn | Verdict::Fail)))
            .collect()
    }
}

/// The human v22 mature name a feature id stands for: harmonized directly, or for another
/// species' name (`mmu-miR-451a`) after replacing its prefix with `hsa-`.
fn human_name(h: &MirnaHarmonizer, id: &str) -> Option<String> {
    let r = h.harmonize(id);
    match r.status {
        HarmonizeStatus::NotHuman { species } => {
            let rest = id.trim().get(species.len() + 1..)?;
            h.harmonize(&format!("hsa-{rest}")).canonical
        }
        _ => r.canonical,
    }
}

/// Run the biofluid checks on a miRNA layer, with the scope taken from `sheet`.
pub fn biofluid_check(
    assay: &Assay,
    sheet: &SampleSheet,
    params: &BiofluidParams,
) -> Result<BiofluidReport> {
    params.validate()?;
    let (nf, ns) = (assay.n_features(), assay.n_samples());
    if nf == 0 || ns == 0 {
        return Err(QcError::EmptyLayer {
            layer: assay.name().to_string(),
            n_features: nf,
            n_samples: ns,
        });
    }
    if *assay.kind() != LayerKind::Mirna {
        return Err(QcError::InvalidParam {
            param: "biofluid",
            problem: format!(
                "layer '{}' is a {} layer; the biofluid checks read miRNAs and run on miRNA layers only",
                assay.name(),
                assay.kind().name()
            ),
        });
    }
    let column = match &params.biofluid_column {
        Some(c) => {
            sheet.require_column(c)?;
            Some(c.clone())
        }
        None => sheet.column("biofluid").map(|c| c.name.clone()),
    };
    let fluids: Vec<Option<String>> = match &column {
        Some(c) => sheet.column_labels(c, assay.samples())?,
        None => vec![None; ns],
    };

    let h = MirnaHarmonizer::mirbase_v22();
    let targets: Vec<&str> = std::iter::once(HAEMOLYSIS_MARKER)
        .chain(std::iter::once(HAEMOLYSIS_REFERENCE))
        .chain(BLOOD_CELL_MIRNAS)
        .collect();
    let mut rows: BTreeMap<String, Vec<usize>> = targets
        .iter()
        .map(|t| (t.to_string(), Vec::new()))
        .collect();
    for (i, id) in assay.features().ids().iter().enumerate() {
        if let Some(name) = human_name(h, id) {
            if let Some(v) = rows.get_mut(&name) {
                v.push(i);
            }
        }
    }
    let matched: BTreeMap<String, Vec<String>> = rows
        .iter()
        .map(|(k, v)| {
            let ids = v
                .iter()
                .map(|&i| assay.features().ids()[i].clone())
                .collect();
            (k.clone(), ids)
        })
        .collect();

    let scale = assay.scale();
    let values = assay.values();
    let flags = assay.flags();
    let p = params;
    let short = |name: &str| name.trim_start_matches("hsa-").to_string();
    let mut samples = Vec::with_capacity(ns);
    for j in 0..ns {
        let sample = assay.samples()[j].clone();
        let fluid = fluids[j].clone().filter(|f| !f.trim().is_empty());
        let scope = match (&column, &fluid) {
            (None, _) => BiofluidScope::Informational,
            (Some(_), None) => BiofluidScope::NotBiofluid,
            (Some(_), Some(f)) => {
                let f = f.trim();
                if p.not_biofluid.iter().any(|m| m.eq_ignore_ascii_case(f)) {
                    BiofluidScope::NotBiofluid
                } else {
                    BiofluidScope::Checked
                }
            }
        };
        if scope == BiofluidScope::NotBiofluid {
            samples.push(SampleBiofluid {
                sample,
                biofluid: fluid,
                scope,
                mir451a_cpm: None,
                mir23a_cpm: None,
                haemolysis_log2: None,
                haemolysis: None,
                blood_cell_share: None,
                blood_cell: None,
                verdict: None,
                reasons: vec!["not a biofluid".into()],
            });
            continue;
        }
        let mut reasons = Vec::new();
        let lib: Option<f64> = (scale != ValueScale::Other)
            .then(|| {
                (0..nf)
                    .filter(|&i| flags[[i, j]] == ValueFlag::Observed)
                    .filter_map(|i| linear_value(scale, values[[i, j]]))
                    .sum::<f64>()
            })
            .filter(|t| *t > 0.0);
        // CPM of one target miRNA, or why it has none.
        let cpm = |name: &str| -> std::result::Result<f64, String> {
            let r = &rows[name];
            if r.is_empty() {
                return Err(format!("{} is not in the layer", short(name)));
            }
            let Some(lib) = lib else {
                return Err(if scale == ValueScale::Other {
                    "layer scale is 'other': no linear values for CPM".to_string()
                } else {
                    "the sample has no observed reads".to_string()
                });
            };
            let mut sum = 0.0;
            for &i in r {
                if flags[[i, j]] != ValueFlag::Observed {
                    return Err(format!(
                        "{} is not observed in this sample ({})",
                        short(name),
                        flags[[i, j]].name()
                    ));
                }
                sum += linear_value(scale, values[[i, j]]).unwrap_or(0.0);
            }
            Ok(sum / lib * 1e6)
        };
        let c451 = cpm(HAEMOLYSIS_MARKER);
        let c23 = cpm(HAEMOLYSIS_REFERENCE);
        let ratio = match (&c451, &c23) {
            (Ok(a), Ok(b)) if *a > 0.0 && *b > 0.0 => Some((a / b).log2()),
            (Ok(_), Ok(b)) => {
                reasons.push(format!(
                    "haemolysis ratio NA: {} has 0 reads",
                    if *b > 0.0 { "miR-451a" } else { "miR-23a-3p" }
                ));
                None
            }
            (Err(e), _) | (_, Err(e)) => {
                reasons.push(format!("haemolysis ratio NA: {e}"));
                None
            }
        };
        let haemolysis = ratio.map(|r| {
            if r > p.haemolysis_fail_log2 {
                reasons.push(format!(
                    "haemolysed: log2(miR-451a/miR-23a-3p) = {r:.2} > {}",
                    p.haemolysis_fail_log2
                ));
                Verdict::Fail
            } else if r >= p.haemolysis_warn_log2 {
                reasons.push(format!(
                    "possibly haemolysed: log2(miR-451a/miR-23a-3p) = {r:.2} ≥ {}",
                    p.haemolysis_warn_log2
                ));
                Verdict::Warn
            } else {
                Verdict::Pass
            }
        });
        let blood: std::result::Result<f64, String> = BLOOD_CELL_MIRNAS
            .iter()
            .map(|m| cpm(m))
            .sum::<std::result::Result<f64, String>>()
            .map(|c| c / 1e6);
        let blood_share = match blood {
            Ok(s) => Some(s),
            Err(e) => {
                reasons.push(format!("blood-cell share NA: {e}"));
                None
            }
        };
        let blood_cell = blood_share.map(|s| {
            let pct = 100.0 * s;
            if s > p.blood_cell_fail_share {
                reasons.push(format!(
                    "blood-cell miRNAs (miR-223-3p, miR-142-3p/5p, miR-16-5p, miR-486-5p) are {pct:.1} % of reads > {} %",
                    100.0 * p.blood_cell_fail_share
                ));
                Verdict::Fail
            } else if s > p.blood_cell_warn_share {
                reasons.push(format!(
                    "blood-cell miRNAs (miR-223-3p, miR-142-3p/5p, miR-16-5p, miR-486-5p) are {pct:.1} % of reads > {} %",
                    100.0 * p.blood_cell_warn_share
                ));
                Verdict::Warn
            } else {
                Verdict::Pass
            }
        });
        let worst = haemolysis.into_iter().chain(blood_cell).max();
        let verdict = match worst {
            Some(v @ (Verdict::Warn | Verdict::Fail)) => Some(v),
            _ if haemolysis.is_none() || blood_cell.is_none() => None,
            w => w,
        };
        samples.push(SampleBiofluid {
            sample,
            biofluid: fluid,
            scope,
            mir451a_cpm: c451.ok(),
            mir23a_cpm: c23.ok(),
            haemolysis_log2: ratio,
            haemolysis,
            blood_cell_share: blood_share,
            blood_cell,
            verdict,
            reasons,
        });
    }
    Ok(BiofluidReport {
        layer: assay.name().to_string(),
        column,
        matched,
        samples,
        params: params.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use evomics_core::{Column, ColumnValues, Features};

    /// A counts layer with the given feature ids and columns of counts (one vec per sample).
    fn layer(ids: &[&str], cols: &[Vec<f64>], scale: ValueScale) -> Assay {
        let samples: Vec<String> = (1..=cols.len()).map(|j| format!("S{j}")).collect();
        let cells =
            ndarray::Array2::from_shape_fn((ids.len(), cols.len()), |(i, j)| Some(cols[j][i]));
        Assay::from_options(
            "mirna",
            LayerKind::Mirna,
            scale,
            Features::new(ids.iter().map(|s| s.to_string()).collect()).unwrap(),
            samples,
            &cells,
        )
        .unwrap()
    }

    fn sheet(n: usize, fluid: Option<Vec<Option<&str>>>) -> SampleSheet {
        let ids: Vec<String> = (1..=n).map(|j| format!("S{j}")).collect();
        let mut s = SampleSheet::new(ids).unwrap();
        if let Some(f) = fluid {
            s.push_column(Column {
                name: "biofluid".into(),
                values: ColumnValues::Text(f.iter().map(|v| v.map(String::from)).collect()),
            })
            .unwrap();
        }
        s
    }

    const IDS: [&str; 8] = [
        "hsa-miR-451a",
        "miR-23a-3p",
        "hsa-miR-223-3p",
        "hsa-miR-142-3p",
        "hsa-miR-142-5p",
        "hsa-miR-16-5p",
        "hsa-miR-486-5p",
        "hsa-miR-21-5p",
    ];

    #[test]
    fn ratio_share_and_verdicts_by_hand() {
        // S1 clean: 451a/23a = 4 (log2 2), blood 50/1000 = 5 % (not above warn).
        // S2: ratio 2^6 = 64 (warn); blood 10/1000. S3: ratio 256 (fail); blood 300/1000 (fail).
        let cols = vec![
            vec![40.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 900.0],
            vec![640.0, 10.0, 2.0, 2.0, 2.0, 2.0, 2.0, 340.0],
            vec![512.0, 2.0, 60.0, 60.0, 60.0, 60.0, 60.0, 186.0],
        ];
        let a = layer(&IDS, &cols, ValueScale::Counts);
        let r = biofluid_check(&a, &sheet(3, None), &BiofluidParams::default()).unwrap();
        let s = &r.samples;
        assert!(s.iter().all(|x| x.scope == BiofluidScope::Informational));
        assert!((s[0].haemolysis_log2.unwrap() - 2.0).abs() < 1e-12);
        assert!((s[0].blood_cell_share.unwrap() - 0.05).abs() < 1e-12);
        assert!((s[0].mir451a_cpm.unwrap() - 40_000.0).abs() < 1e-9);
        assert_eq!(s[0].verdict, Some(Verdict::Pass));
        assert!((s[1].haemolysis_log2.unwrap() - 6.0).abs() < 1e-12);
        assert_eq!(s[1].haemolysis, Some(Verdict::Warn));
        assert_eq!(s[1].blood_cell, Some(Verdict::Pass));
        assert_eq!(s[1].verdict, Some(Verdict::Warn));
        assert_eq!(s[2].haemolysis, Some(Verdict::Fail));
        assert_eq!(s[2].blood_cell, Some(Verdict::Fail));
        assert!(
            s[2].reasons.iter().any(|x| x.contains("30.0 %")),
            "{:?}",
            s[2].reasons
        );
        assert_eq!(r.matched["hsa-miR-23a-3p"], ["miR-23a-3p"]);
        // Informational verdicts are not flagged.
        assert!(r.flagged().is_empty());
    }

    #[test]
    fn log2_layer_gives_the_same_ratio_and_share() {
        let cols = [vec![40.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 900.0]];
        let logs: Vec<Vec<f64>> = cols
            .iter()
            .map(|c| c.iter().map(|v: &f64| v.log2()).collect())
            .collect();
        let a = layer(&IDS, &logs, ValueScale::Log2);
        let r = biofluid_check(&a, &sheet(1, None), &BiofluidParams::default()).unwrap();
        assert!((r.samples[0].haemolysis_log2.unwrap() - 2.0).abs() < 1e-9);
        assert!((r.samples[0].blood_cell_share.unwrap() - 0.05).abs() < 1e-9);
    }

    #[test]
    fn mouse_names_match_and_absent_mirnas_give_na() {
        let ids = [
            "mmu-miR-451a",
            "mmu-miR-23a-3p",
            "mmu-miR-16-5p",
            "mmu-miR-21a-5p",
        ];
        let a = layer(&ids, &[vec![400.0, 100.0, 5.0, 495.0]], ValueScale::Counts);
        let r = biofluid_check(&a, &sheet(1, None), &BiofluidParams::default()).unwrap();
        let s = &r.samples[0];
        assert!((s.haemolysis_log2.unwrap() - 2.0).abs() < 1e-12);
        assert_eq!(s.haemolysis, Some(Verdict::Pass));
        assert_eq!(s.blood_cell_share, None);
        assert_eq!(s.verdict, None, "an incomplete check is never a pass");
        assert!(
            s.reasons
                .iter()
                .any(|x| x.contains("miR-223-3p is not in the layer")),
            "{:?}",
            s.reasons
        );
        assert_eq!(r.matched["hsa-miR-16-5p"], ["mmu-miR-16-5p"]);
    }

    #[test]
    fn zero_and_unobserved_reference_give_na() {
        let cols = vec![vec![40.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 900.0]];
        let a = layer(&IDS, &cols, ValueScale::Counts);
        let r = biofluid_check(&a, &sheet(1, None), &BiofluidParams::default()).unwrap();
        assert_eq!(r.samples[0].haemolysis_log2, None);
        assert!(r.samples[0].reasons[0].contains("miR-23a-3p has 0 reads"));
        assert_eq!(r.samples[0].verdict, None);

        let samples = vec!["S1".to_string()];
        let cells =
            ndarray::Array2::from_shape_fn((IDS.len(), 1), |(i, _)| (i != 0).then_some(10.0));
        let features = Features::new(IDS.iter().map(|s| s.to_string()).collect()).unwrap();
        let a = Assay::from_options(
            "mirna",
            LayerKind::Mirna,
            ValueScale::Counts,
            features,
            samples,
            &cells,
        )
        .unwrap();
        let r = biofluid_check(&a, &sheet(1, None), &BiofluidParams::default()).unwrap();
        assert!(
            r.samples[0].reasons[0].contains("miR-451a is not observed"),
            "{:?}",
            r.samples[0].reasons
        );
    }

    #[test]
    fn sheet_column_decides_scope() {
        let cols = vec![vec![640.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 100.0]; 4];
        let a = layer(&IDS, &cols, ValueScale::Counts);
        let sh = sheet(
            4,
            Some(vec![
                Some("plasma"),
                Some("Conditioned_Medium"),
                None,
                Some("urine"),
            ]),
        );
        let r = biofluid_check(&a, &sh, &BiofluidParams::default()).unwrap();
        let scopes: Vec<_> = r.samples.iter().map(|s| s.scope).collect();
        use BiofluidScope as B;
        assert_eq!(
            scopes,
            [B::Checked, B::NotBiofluid, B::NotBiofluid, B::Checked]
        );
        assert_eq!(r.samples[1].verdict, None);
        assert_eq!(r.samples[1].reasons, ["not a biofluid"]);
        assert_eq!(r.samples[0].verdict, Some(Verdict::Fail));
        // A named column the sheet lacks is an error.
        let p = BiofluidParams {
            biofluid_column: Some("fluid".into()),
            ..Default::default()
        };
        assert!(biofluid_check(&a, &sh, &p).is_err());
    }

    #[test]
    fn params_are_validated() {
        let bad = [
            BiofluidParams {
                haemolysis_warn_log2: 8.0,
                ..Default::default()
            },
            BiofluidParams {
                blood_cell_fail_share: 1.5,
                ..Default::default()
            },
            BiofluidParams {
                blood_cell_warn_share: 0.3,
                ..Default::default()
            },
            BiofluidParams {
                haemolysis_fail_log2: f64::NAN,
                ..Default::default()
            },
            BiofluidParams {
                biofluid_column: Some(" ".into()),
                ..Default::default()
            },
        ];
        for p in bad {
            assert!(p.validate().is_err(), "{p:?}");
        }
        assert!(BiofluidParams::default().validate().is_ok());
    }
}
