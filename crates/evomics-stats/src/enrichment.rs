//! Panel (gene-set) enrichment of a differential-statistics result.
//!
//! Two questions are asked of a per-feature result such as one group's one-vs-rest contrast:
//!
//! - **Over-representation on a cut-off** ([`hypergeometric_upper`]): among the features with a
//!   result (the universe, N), K belong to the panel and n pass the cut-off (e.g. adjusted
//!   p ≤ 0.05 and logFC > 0); is the overlap k larger than chance? The one-sided p-value is the
//!   hypergeometric upper tail P(X ≥ k), R's `phyper(k - 1, K, N - K, n, lower.tail = FALSE)`
//!   (the one-sided Fisher exact test).
//! - **A competitive test on the whole ranked list** ([`camera_pr`]): limma's `cameraPR`
//!   (Wu & Smyth 2012, *Nucleic Acids Res* 40:e133), which compares the statistics of the panel's
//!   features with those of all other features while allowing for a correlation between the
//!   panel's features (`inter.gene.cor`, default 0.01 as in limma ≥ 3.29). With
//!   `use_ranks = false` it is a two-sample t-test with the variance inflation factor
//!   1 + (m − 1)ρ on G − 2 df; with `use_ranks = true` it is limma's
//!   `rankSumTestWithCorrelation`, a Wilcoxon–Mann–Whitney test whose variance allows for the
//!   correlation ρ (Wu & Smyth 2012; Barry et al. 2008's rank formulation), with a normal
//!   reference (`df = Inf`), as `cameraPR(use.ranks = TRUE)` does. Both are translations of
//!   limma's R code term by term.

use edge_rs::numeric::dist::{norm_cdf, norm_sf, t_cdf};
use edge_rs::numeric::gamma::ln_gamma;
use evomics_core::num::{mean, rank_average, var};
use serde::{Deserialize, Serialize};

use crate::error::{engine, Result, StatsError};

fn ln_choose(n: u64, k: u64) -> f64 {
    ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
}

/// Upper tail P(X ≥ k) of the hypergeometric distribution of the overlap X between a panel of
/// `panel` features and a selection of `selected` features drawn from `universe` features.
///
/// Equals R's `phyper(k - 1, panel, universe - panel, selected, lower.tail = FALSE)`. Errors
/// when the counts are inconsistent (panel or selection larger than the universe).
pub fn hypergeometric_upper(k: u64, selected: u64, panel: u64, universe: u64) -> Result<f64> {
    if panel > universe || selected > universe {
        return Err(StatsError::Option {
            option: "hypergeometric".into(),
            problem: format!(
                "panel size {panel} and selection size {selected} must not exceed the universe of {universe} features"
            ),
        });
    }
    let lo = k.max((selected + panel).saturating_sub(universe));
    let hi = panel.min(selected);
    if lo > hi {
        return Ok(if k == 0 { 1.0 } else { 0.0 });
    }
    let denom = ln_choose(universe, selected);
    // Sum the tail from its largest term outwards for accuracy (log-sum-exp).
    let terms: Vec<f64> = (lo..=hi)
        .map(|x| ln_choose(panel, x) + ln_choose(universe - panel, selected - x) - denom)
        .collect();
    let m = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let s: f64 = terms.iter().map(|t| (t - m).exp()).sum();
    Ok((m + s.ln()).exp().min(1.0))
}

/// Direction of a competitive test's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CameraDirection {
    /// The set's statistics are larger than the rest's.
    Up,
    /// The set's statistics are smaller than the rest's.
    Down,
}

impl CameraDirection {
    /// `Up` or `Down`, as limma writes it.
    pub fn name(self) -> &'static str {
        match self {
            CameraDirection::Up => "Up",
            CameraDirection::Down => "Down",
        }
    }
}

/// One set's `cameraPR` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraRow {
    /// Number of features in the set (`NGenes`).
    pub n_genes: usize,
    /// `Up` when the set's statistics are larger (`Up` p-value smaller), else `Down`.
    pub direction: CameraDirection,
    /// Two-sided p-value, 2 · min(P_down, P_up) (`PValue`). With ranks the two one-sided values
    /// need not sum to 1 (continuity correction), so this can slightly exceed 1 when both are
    /// near 0.5; limma does not cap it and neither does this.
    pub p_value: f64,
    /// One-sided p-value for the set being lower (`Down`).
    pub p_down: f64,
    /// One-sided p-value for the set being higher (`Up`).
    pub p_up: f64,
}

/// limma's `rankSumTestWithCorrelation(index, statistics, correlation, df)`: returns the
/// one-sided p-values `(less, greater)`, i.e. (set lower, set higher).
pub fn rank_sum_test_with_correlation(
    index: &[usize],
    statistics: &[f64],
    correlation: f64,
    df: f64,
) -> Result<(f64, f64)> {
    let n = statistics.len() as f64;
    let r = rank_average(statistics);
    let n1 = index.len() as f64;
    let n2 = n - n1;
    let sum_r1: f64 = index.iter().map(|&i| r[i]).sum();
    let u = n1 * n2 + n1 * (n1 + 1.0) / 2.0 - sum_r1;
    let mu = n1 * n2 / 2.0;
    let mut sigma2 = if correlation == 0.0 || index.len() == 1 {
        n1 * n2 * (n + 1.0) / 12.0
    } else {
        let s = 1f64.asin() * n1 * n2
            + 0.5f64.asin() * n1 * n2 * (n2 - 1.0)
            + (correlation / 2.0).asin() * n1 * (n1 - 1.0) * n2 * (n2 - 1.0)
            + ((correlation + 1.0) / 2.0).asin() * n1 * (n1 - 1.0) * n2;
        s / 2.0 / std::f64::consts::PI
    };
    // tie correction: sum over tied groups of t(t+1)(t-1) / (n(n+1)(n-1))
    let mut sorted = r.clone();
    sorted.sort_by(f64::total_cmp);
    let mut adjustment = 0.0;
    let mut any_tie = false;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[i] {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        if t > 1.0 {
            any_tie = true;
        }
        adjustment += t * (t + 1.0) * (t - 1.0);
        i = j + 1;
    }
    if any_tie {
        sigma2 *= 1.0 - adjustment / (n * (n + 1.0) * (n - 1.0));
    }
    if sigma2.is_nan() || sigma2 <= 0.0 {
        return Err(StatsError::Option {
            option: "cameraPR".into(),
            problem: "the statistics are all tied, so the rank-sum variance is 0; there is nothing to rank".into(),
        });
    }
    let z_lower = (u + 0.5 - mu) / sigma2.sqrt();
    let z_upper = (u - 0.5 - mu) / sigma2.sqrt();
    // R's ranks are the reverse of Mann-Whitney's: "less" is the upper tail of z_upper.
    if df.is_infinite() {
        Ok((norm_sf(z_upper), norm_cdf(z_lower)))
    } else {
        let less = 1.0 - t_cdf(z_upper, df).map_err(engine("rankSumTestWithCorrelation"))?;
        let greater = t_cdf(z_lower, df).map_err(engine("rankSumTestWithCorrelation"))?;
        Ok((less, greater))
    }
}

/// limma's `cameraPR(statistic, index, use.ranks, inter.gene.cor)` for several sets: one row per
/// set, in the order given (limma sorts by p-value with `sort = TRUE`; here the caller sorts).
///
/// `statistic` must be finite (limma refuses `NA`) and have at least 3 values; each set is a
/// list of distinct positions in `statistic` with 1 ≤ m < G members. Statistics without spread
/// (all equal: R's t is 0/0 and its p-values NaN) are an error, not a result.
pub fn camera_pr(
    statistic: &[f64],
    sets: &[Vec<usize>],
    use_ranks: bool,
    inter_gene_cor: f64,
) -> Result<Vec<CameraRow>> {
    let bad = |problem: String| StatsError::Option {
        option: "cameraPR".into(),
        problem,
    };
    let g = statistic.len();
    if g < 3 {
        return Err(bad(format!(
            "{g} statistics; at least 3 are needed (limma: too few genes)"
        )));
    }
    if statistic.iter().any(|v| !v.is_finite()) {
        return Err(bad(
            "the statistics must be finite (drop NA rows first)".into()
        ));
    }
    if !(inter_gene_cor.is_finite() && inter_gene_cor.abs() < 1.0) {
        return Err(bad(format!(
            "inter-gene correlation {inter_gene_cor} must lie in (-1, 1)"
        )));
    }
    let mean_stat = mean(statistic);
    let Some(var_stat) = var(statistic) else {
        return Err(bad(format!("{g} statistics have no variance")));
    };
    let gf = g as f64;
    sets.iter()
        .map(|set| {
            let m = set.len();
            if m == 0 || m >= g || set.iter().any(|&i| i >= g) {
                return Err(bad(format!(
                    "a set must hold between 1 and {} of the {g} features, by position",
                    g - 1
                )));
            }
            let (down, up) = if use_ranks {
                rank_sum_test_with_correlation(set, statistic, inter_gene_cor, f64::INFINITY)?
            } else {
                let mf = m as f64;
                let vif = 1.0 + (mf - 1.0) * inter_gene_cor;
                let m2 = gf - mf;
                let in_set: Vec<f64> = set.iter().map(|&i| statistic[i]).collect();
                let delta = gf / m2 * (mean(&in_set) - mean_stat);
                let var_pooled =
                    ((gf - 1.0) * var_stat - delta * delta * mf * m2 / gf) / (gf - 2.0);
                let t = delta / (var_pooled * (vif / mf + 1.0 / m2)).sqrt();
                if t.is_nan() {
                    // statistics without spread: R's t is 0/0 and its p-values NaN
                    return Err(bad(
                        "the statistics have no spread (every value the same), so cameraPR's t is 0/0; there is nothing to rank (a layer with zero variance gives no moderated statistics)".into(),
                    ));
                }
                let down = t_cdf(t, gf - 2.0).map_err(engine("cameraPR"))?;
                (down, 1.0 - down)
            };
            Ok(CameraRow {
                n_genes: m,
                direction: if down < up {
                    CameraDirection::Down
                } else {
                    CameraDirection::Up
                },
                p_value: 2.0 * down.min(up),
                p_down: down,
                p_up: up,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choose(n: u64, k: u64) -> f64 {
        (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
    }

    #[test]
    fn hypergeometric_tail_equals_exact_sum() {
        // N = 20, K = 6 in the panel, n = 5 selected: P(X >= k) by direct counting.
        for k in 0..=6u64 {
            let exact: f64 = (k..=5)
                .filter(|&x| x <= 6)
                .map(|x| choose(6, x) * choose(14, 5 - x) / choose(20, 5))
                .sum();
            let got = hypergeometric_upper(k, 5, 6, 20).unwrap();
            assert!((got - exact).abs() < 1e-12, "k={k}: {got} vs {exact}");
        }
        // a larger case, phyper(2, 40, 960, 50, lower.tail = FALSE), against the direct sum
        let exact: f64 = (3..=40)
            .map(|x| (ln_choose(40, x) + ln_choose(960, 50 - x) - ln_choose(1000, 50)).exp())
            .sum();
        assert!((hypergeometric_upper(3, 50, 40, 1000).unwrap() - exact).abs() < 1e-12);
        assert!(hypergeometric_upper(1, 5, 30, 20).is_err());
    }

    #[test]
    fn camera_pr_matches_limma_formulas_by_hand() {
        // statistic = 1..10 with the set {8, 9, 10} (positions 7, 8, 9), inter.gene.cor 0.01.
        let stat: Vec<f64> = (1..=10).map(f64::from).collect();
        let set = vec![7, 8, 9];
        let r = camera_pr(&stat, std::slice::from_ref(&set), false, 0.01).unwrap();
        // by hand: mean 5.5, var 55/6, set mean 9, delta = 10/7 * 3.5 = 5,
        // varPooled = (9 * 55/6 - 25 * 3 * 7/10) / 8 = (82.5 - 52.5)/8 = 3.75,
        // vif = 1.02, t = 5 / sqrt(3.75 * (1.02/3 + 1/7))
        let t = 5.0 / (3.75f64 * (1.02 / 3.0 + 1.0 / 7.0)).sqrt();
        let up = 1.0 - t_cdf(t, 8.0).unwrap();
        assert_eq!(r[0].direction, CameraDirection::Up);
        assert!((r[0].p_up - up).abs() < 1e-14);
        assert!((r[0].p_value - 2.0 * up).abs() < 1e-14);
        // the ranks version: no ties, rho = 0 gives the plain Wilcoxon normal approximation
        let (less, greater) =
            rank_sum_test_with_correlation(&set, &stat, 0.0, f64::INFINITY).unwrap();
        // U = n1 n2 + n1(n1+1)/2 - sum(r1) = 21 + 6 - 27 = 0; mu = 10.5; sigma2 = 21*11/12
        let s = (21.0f64 * 11.0 / 12.0).sqrt();
        assert!((less - norm_sf((0.0 - 0.5 - 10.5) / s)).abs() < 1e-14);
        assert!((greater - norm_cdf((0.0 + 0.5 - 10.5) / s)).abs() < 1e-14);
        assert!(greater < 0.02 && less > 0.98);
        let rr = camera_pr(&stat, &[set], true, 0.01).unwrap();
        assert_eq!(rr[0].direction, CameraDirection::Up);
        assert!(rr[0].p_up < 0.02);
    }

    #[test]
    fn rank_sum_tie_correction_and_correlation() {
        // ties: R's table(r) of rank(c(1,1,2,3,3,3)) = 1.5 x2, 3, 5 x3 -> adjustment
        let stat = [1.0, 1.0, 2.0, 3.0, 3.0, 3.0];
        let idx = [3usize, 4];
        let (l0, g0) = rank_sum_test_with_correlation(&idx, &stat, 0.0, f64::INFINITY).unwrap();
        let n: f64 = 6.0;
        let sigma2 =
            2.0 * 4.0 * 7.0 / 12.0 * (1.0 - (2.0 * 3.0 * 1.0 + 3.0 * 4.0 * 2.0) / (n * 7.0 * 5.0));
        let u = 8.0 + 3.0 - 10.0;
        assert!((l0 - norm_sf((u - 0.5 - 4.0) / sigma2.sqrt())).abs() < 1e-14);
        assert!((g0 - norm_cdf((u + 0.5 - 4.0) / sigma2.sqrt())).abs() < 1e-14);
        // a positive correlation inflates the variance: p-values move towards 1/2
        let stat: Vec<f64> = (1..=30).map(f64::from).collect();
        let idx: Vec<usize> = (24..30).collect();
        let (_, g_0) = rank_sum_test_with_correlation(&idx, &stat, 0.0, f64::INFINITY).unwrap();
        let (_, g_c) = rank_sum_test_with_correlation(&idx, &stat, 0.3, f64::INFINITY).unwrap();
        assert!(g_0 < g_c && g_c < 0.5);
    }

    #[test]
    fn camera_on_statistics_without_spread_is_an_error_not_a_panic() {
        for stat in [vec![1.0; 10], vec![0.0; 10]] {
            for ranks in [false, true] {
                let e = camera_pr(&stat, &[vec![0, 1]], ranks, 0.01)
                    .unwrap_err()
                    .to_string();
                assert!(e.contains("nothing to rank"), "{e}");
            }
        }
        // ties everywhere but one value still rank
        let mut stat = vec![0.0; 10];
        stat[3] = 2.0;
        assert!(camera_pr(&stat, &[vec![3, 4]], true, 0.01).is_ok());
    }

    #[test]
    fn camera_rejects_bad_input() {
        assert!(camera_pr(&[1.0, 2.0], &[vec![0]], false, 0.01).is_err());
        assert!(camera_pr(&[1.0, f64::NAN, 3.0], &[vec![0]], false, 0.01).is_err());
        assert!(camera_pr(&[1.0, 2.0, 3.0], &[vec![0, 1, 2]], false, 0.01).is_err());
        assert!(camera_pr(&[1.0, 2.0, 3.0], &[vec![0]], false, 1.0).is_err());
    }
}
