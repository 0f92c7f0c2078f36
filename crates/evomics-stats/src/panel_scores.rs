//! Per-sample panel scores: how strongly each EV preparation carries a panel of features.
//!
//! A panel arrives here as a [`FeatureSet`]: rows of the layer with a sign (+1 for up/pro, −1
//! for down/anti). Two scores are computed for every panel and sample, on the layer's values
//! (which should be on a log scale):
//!
//! - **mean z-score** — the z-score method of Lee, Chuang, Kim, Ideker & Lee (2008, *PLoS Comput
//!   Biol* 4:e1000217) as a mean: each member is standardized across samples,
//!   z_ij = (x_ij − x̄_i) / s_i (mean and SD, denominator n − 1, over the feature's observed
//!   samples), and the score of sample j is the mean of the members' z_ij. Members with fewer
//!   than two values or no spread are left out.
//! - **singscore** — Foroutan, Bhuva, Lyu, Horan, Cursons & Davis (2018, *BMC Bioinformatics*
//!   19:404), as the R package's `simpleScore(rankGenes(x), upSet, downSet)` with its defaults
//!   (`centerScore = TRUE`, `knownDirection = TRUE`, ranks with `ties.method = "min"`): in each
//!   sample the features are ranked by abundance (1 = lowest), the mean rank of the set's N_s
//!   members is scaled between its theoretical minimum (N_s + 1)/2 and maximum
//!   (2N − N_s + 1)/2 (N features ranked) and centred by −0.5, so the score lies in
//!   [−0.5, 0.5]. For a signed set the down members get 1 − scaled − 0.5 and the total is the
//!   sum (range [−1, 1]). The dispersion is the sum of the MADs of the members' ranks (R `mad`,
//!   constant 1.4826).
//!
//! **Signed and unsigned panels.** A set whose members all carry the same sign (a curated list
//! of pro-osteogenic miRNAs, the proteins typical of a source) is scored as one set of molecules:
//! the score measures their abundance whatever the sign. A set mixing signs (a signature with up
//! and down members) is scored as singscore's up/down pair, and its mean z-score negates the down
//! members, so both measure agreement with the stated directions.
//!
//! **Missing values.** singscore expects a complete matrix. Here each sample's ranks are taken
//! over the features observed in that sample (N = that number) and a member not observed in the
//! sample is left out of that sample's score, exactly as singscore drops set members absent from
//! the data; the z-scores likewise use observed values only. `n_used` reports how many members
//! entered each score; a score with no member is `None`.

use evomics_core::num::{mad, mean, rank_min, sd};
use evomics_core::Assay;
use serde::{Deserialize, Serialize};

use crate::error::{Result, StatsError};

/// A set of layer rows with signs (+1 up/pro, −1 down/anti).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSet {
    /// Set (panel) name.
    pub name: String,
    /// Layer rows, distinct.
    pub members: Vec<usize>,
    /// One sign per member, ±1.
    pub signs: Vec<f64>,
}

impl FeatureSet {
    /// A set from (row, sign) pairs; rows must be distinct and signs ±1.
    pub fn new(name: &str, members: &[(usize, f64)]) -> Result<FeatureSet> {
        let bad = |problem: String| StatsError::Option {
            option: format!("panel '{name}'"),
            problem,
        };
        if members.is_empty() {
            return Err(bad("has no member in the layer".into()));
        }
        for (k, (r, s)) in members.iter().enumerate() {
            if *s != 1.0 && *s != -1.0 {
                return Err(bad(format!("member sign {s} is not +1 or -1")));
            }
            if members[..k].iter().any(|(q, _)| q == r) {
                return Err(bad(format!("layer row {r} is listed twice")));
            }
        }
        Ok(FeatureSet {
            name: name.to_string(),
            members: members.iter().map(|m| m.0).collect(),
            signs: members.iter().map(|m| m.1).collect(),
        })
    }

    /// True when the members carry both signs (scored as an up/down signature).
    pub fn is_signed(&self) -> bool {
        self.signs.iter().any(|&s| s > 0.0) && self.signs.iter().any(|&s| s < 0.0)
    }
}

/// One panel's scores in one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PanelScoreRow {
    /// Panel name.
    pub panel: String,
    /// Sample id.
    pub sample_id: String,
    /// Members of the panel in the layer.
    pub n_members: usize,
    /// Members observed in this sample (entering singscore).
    pub n_used: usize,
    /// Mean z-score (`None` without a usable member).
    pub mean_z: Option<f64>,
    /// singscore total score.
    pub singscore: Option<f64>,
    /// singscore dispersion (sum of the MADs of the members' ranks).
    pub singscore_dispersion: Option<f64>,
    /// Up part of a signed set's singscore (`None` for unsigned sets).
    pub singscore_up: Option<f64>,
    /// Down part of a signed set's singscore (`None` for unsigned sets).
    pub singscore_down: Option<f64>,
}

/// The scaled (not yet centred) mean rank of a set of `set_ranks` among `n` ranked features,
/// `(mean − (N_s + 1)/2) / ((2N − N_s + 1)/2 − (N_s + 1)/2)`; `None` when the set fills the ranking.
fn scaled_mean_rank(set_ranks: &[f64], n: usize) -> Option<f64> {
    let ns = set_ranks.len() as f64;
    let low = (ns + 1.0) / 2.0;
    let high = (2.0 * n as f64 - ns + 1.0) / 2.0;
    (high > low && !set_ranks.is_empty())
        .then(|| (set_ranks.iter().sum::<f64>() / ns - low) / (high - low))
}

/// singscore of one sample from the ranks of its `n` ranked features: `up` and `down` are the
/// ranks of the set's members (for an unsigned set pass all members as `up` and `down = None`).
/// Returns (total, dispersion, up part, down part).
pub fn singscore(
    up: &[f64],
    down: Option<&[f64]>,
    n: usize,
) -> Option<(f64, f64, Option<f64>, Option<f64>)> {
    let up_score = scaled_mean_rank(up, n)? - 0.5;
    match down {
        None => Some((up_score, mad(up), None, None)),
        Some(d) => {
            let down_score = 1.0 - scaled_mean_rank(d, n)? - 0.5;
            Some((
                up_score + down_score,
                mad(up) + mad(d),
                Some(up_score),
                Some(down_score),
            ))
        }
    }
}

/// Mean z-scores and singscores of every set in every sample of the layer (rows: sets in the
/// given order, samples in layer order). Members must be rows of the layer.
pub fn panel_scores(assay: &Assay, sets: &[FeatureSet]) -> Result<Vec<PanelScoreRow>> {
    let (nf, ns) = (assay.n_features(), assay.n_samples());
    for s in sets {
        if let Some(&r) = s.members.iter().find(|&&r| r >= nf) {
            return Err(StatsError::Data {
                layer: assay.name().to_string(),
                problem: format!(
                    "panel '{}' names row {r} but the layer has {nf} features",
                    s.name
                ),
            });
        }
    }
    // per-feature mean and SD over observed samples, for the z-scores
    let mut mean_sd: Vec<Option<(f64, f64)>> = vec![None; nf];
    for set in sets {
        for &r in &set.members {
            if mean_sd[r].is_some() {
                continue;
            }
            let v: Vec<f64> = (0..ns).filter_map(|j| assay.get(r, j)).collect();
            if let Some(sd) = sd(&v) {
                let m = mean(&v);
                // a member constant up to rounding has no z-score (its spread is rounding)
                let constant =
                    crate::constant::constant_up_to_rounding(&v, assay.scale()).is_some();
                if sd > 0.0 && sd.is_finite() && !constant {
                    mean_sd[r] = Some((m, sd));
                }
            }
        }
    }
    let mut rows = Vec::with_capacity(sets.len() * ns);
    let mut per_sample: Vec<Vec<PanelScoreRow>> = vec![Vec::new(); sets.len()];
    for j in 0..ns {
        // ranks of the observed features of sample j
        let observed: Vec<usize> = (0..nf).filter(|&i| assay.get(i, j).is_some()).collect();
        let values: Vec<f64> = observed
            .iter()
            .map(|&i| assay.get(i, j).unwrap_or(f64::NAN))
            .collect();
        let ranks = rank_min(&values);
        let mut rank_of = vec![None; nf];
        for (k, &i) in observed.iter().enumerate() {
            rank_of[i] = Some(ranks[k]);
        }
        for (si, set) in sets.iter().enumerate() {
            let signed = set.is_signed();
            let mut up = Vec::new();
            let mut down = Vec::new();
            let mut zs = Vec::new();
            for (&r, &sign) in set.members.iter().zip(&set.signs) {
                if let Some(rk) = rank_of[r] {
                    if signed && sign < 0.0 {
                        down.push(rk);
                    } else {
                        up.push(rk);
                    }
                }
                if let (Some(x), Some((m, sd))) = (assay.get(r, j), mean_sd[r]) {
                    let z = (x - m) / sd;
                    zs.push(if signed { sign * z } else { z });
                }
            }
            let n_used = up.len() + down.len();
            let ss = if signed {
                singscore(&up, Some(&down), observed.len())
            } else {
                singscore(&up, None, observed.len())
            };
            per_sample[si].push(PanelScoreRow {
                panel: set.name.clone(),
                sample_id: assay.samples()[j].clone(),
                n_members: set.members.len(),
                n_used,
                mean_z: (!zs.is_empty()).then(|| zs.iter().sum::<f64>() / zs.len() as f64),
                singscore: ss.map(|s| s.0),
                singscore_dispersion: ss.map(|s| s.1),
                singscore_up: ss.and_then(|s| s.2),
                singscore_down: ss.and_then(|s| s.3),
            });
        }
    }
    for v in per_sample {
        rows.extend(v);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use evomics_core::{Features, LayerKind, ValueScale};
    use ndarray::Array2;

    fn assay(cells: Array2<Option<f64>>) -> Assay {
        let (nf, ns) = cells.dim();
        Assay::from_options(
            "p",
            LayerKind::Proteome,
            ValueScale::Log2,
            Features::new((0..nf).map(|i| format!("F{i}")).collect()).unwrap(),
            (0..ns).map(|j| format!("S{j}")).collect(),
            &cells,
        )
        .unwrap()
    }

    #[test]
    fn singscore_bounds_by_hand() {
        // 10 genes; a 3-gene up set at the top ranks 8, 9, 10 scores the maximum 0.5,
        // at the bottom the minimum -0.5; mid ranks 4, 5, 6 give (5 - 2)/(9 - 2) - 0.5
        assert!((singscore(&[8.0, 9.0, 10.0], None, 10).unwrap().0 - 0.5).abs() < 1e-15);
        assert!((singscore(&[1.0, 2.0, 3.0], None, 10).unwrap().0 + 0.5).abs() < 1e-15);
        let s = singscore(&[4.0, 5.0, 6.0], None, 10).unwrap();
        assert!((s.0 - (3.0 / 7.0 - 0.5)).abs() < 1e-15);
        // up at the top, down at the bottom: total 1
        let t = singscore(&[9.0, 10.0], Some(&[1.0, 2.0]), 10).unwrap();
        assert!((t.0 - 1.0).abs() < 1e-15 && t.2 == Some(0.5) && t.3 == Some(0.5));
        assert!(singscore(&[1.0, 2.0], None, 2).is_none());
    }

    #[test]
    fn scores_follow_the_planted_pattern_and_skip_missing() {
        // 6 features x 4 samples; features 0,1 rise across samples, feature 2 falls.
        let cells = ndarray::array![
            [Some(1.0), Some(2.0), Some(3.0), Some(4.0)],
            [Some(1.5), Some(2.5), None, Some(4.5)],
            [Some(4.0), Some(3.0), Some(2.0), Some(1.0)],
            [Some(2.2), Some(2.2), Some(2.2), Some(2.2)],
            [Some(2.6), Some(2.4), Some(3.5), Some(2.5)],
            [Some(0.0), Some(0.1), Some(0.2), Some(0.3)],
        ];
        let a = assay(cells);
        let unsigned = FeatureSet::new("up", &[(0, 1.0), (1, 1.0)]).unwrap();
        let signed = FeatureSet::new("sig", &[(0, 1.0), (1, 1.0), (2, -1.0)]).unwrap();
        assert!(!unsigned.is_signed() && signed.is_signed());
        let rows = panel_scores(&a, &[unsigned, signed]).unwrap();
        assert_eq!(rows.len(), 8);
        let sing = |p: &str| -> Vec<f64> {
            rows.iter()
                .filter(|r| r.panel == p)
                .map(|r| r.singscore.unwrap())
                .collect()
        };
        let z = |p: &str| -> Vec<f64> {
            rows.iter()
                .filter(|r| r.panel == p)
                .map(|r| r.mean_z.unwrap())
                .collect()
        };
        for p in ["up", "sig"] {
            let s = sing(p);
            assert!(s.windows(2).all(|w| w[0] < w[1]), "{p}: {s:?}");
            let zz = z(p);
            assert!(zz.windows(2).all(|w| w[0] < w[1]), "{p}: {zz:?}");
        }
        // sample 2 lacks feature 1: 1 member used in the unsigned set, ranked among 5 features
        let r = rows
            .iter()
            .find(|r| r.panel == "up" && r.sample_id == "S2")
            .unwrap();
        assert_eq!((r.n_members, r.n_used), (2, 1));
        // feature 0 has value 3 in S2: rank 4 among {3, 2, 2.2, 3.5, 0.2}: (4 - 1)/(5 - 1) - 0.5
        assert!((r.singscore.unwrap() - 0.25).abs() < 1e-15);
        // feature 0's z in S2: mean 2.5, sd sqrt(5/3)
        assert!((r.mean_z.unwrap() - 0.5 / (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!(FeatureSet::new("x", &[(0, 1.0), (0, -1.0)]).is_err());
        assert!(FeatureSet::new("x", &[(0, 0.5)]).is_err());
        let bad = FeatureSet::new("x", &[(9, 1.0)]).unwrap();
        assert!(panel_scores(&a, &[bad]).is_err());
    }
}
