//! Multiple-testing adjustment of p-values, as R's `stats::p.adjust`.
//!
//! A p-value that is not available (`None`: the test could not be done) stays `None` and is not
//! counted in the number of tests, exactly as `p.adjust` drops `NA` before adjusting
//! (`n = length(p[!is.na(p)])`).
//!
//! References: Benjamini & Hochberg (1995) JRSS-B 57:289; Benjamini & Yekutieli (2001) Ann.
//! Statist. 29:1165; Holm (1979) Scand. J. Statist. 6:65; Bonferroni correction.

use serde::{Deserialize, Serialize};

use crate::error::{Result, StatsError};

/// How p-values are adjusted for multiple testing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AdjustMethod {
    /// Benjamini–Hochberg false discovery rate (R `"BH"`, alias `"fdr"`).
    #[default]
    Bh,
    /// Benjamini–Yekutieli false discovery rate under arbitrary dependence (R `"BY"`).
    By,
    /// Holm's step-down family-wise error rate (R `"holm"`).
    Holm,
    /// Bonferroni family-wise error rate (R `"bonferroni"`).
    Bonferroni,
    /// No adjustment (R `"none"`).
    None,
}

impl AdjustMethod {
    /// Every method, in documentation order.
    pub const ALL: [AdjustMethod; 5] = [
        AdjustMethod::Bh,
        AdjustMethod::By,
        AdjustMethod::Holm,
        AdjustMethod::Bonferroni,
        AdjustMethod::None,
    ];

    /// The name R's `p.adjust` uses (`BH`, `BY`, `holm`, `bonferroni`, `none`).
    pub fn name(self) -> &'static str {
        match self {
            AdjustMethod::Bh => "BH",
            AdjustMethod::By => "BY",
            AdjustMethod::Holm => "holm",
            AdjustMethod::Bonferroni => "bonferroni",
            AdjustMethod::None => "none",
        }
    }

    /// Parse a method name, case-insensitively; `fdr` is accepted for BH as in R.
    pub fn parse(s: &str) -> Result<AdjustMethod> {
        match s.trim().to_ascii_lowercase().as_str() {
            "bh" | "fdr" => Ok(AdjustMethod::Bh),
            "by" => Ok(AdjustMethod::By),
            "holm" => Ok(AdjustMethod::Holm),
            "bonferroni" => Ok(AdjustMethod::Bonferroni),
            "none" => Ok(AdjustMethod::None),
            _ => Err(StatsError::Option {
                option: "adjust".into(),
                problem: format!(
                    "unknown adjustment '{s}'; use one of BH, BY, holm, bonferroni, none"
                ),
            }),
        }
    }
}

/// Adjust p-values; `None` stays `None` and is excluded from the count, as `p.adjust` does with `NA`.
///
/// The arithmetic follows `p.adjust` term by term (e.g. BH is `cummin(n / i * p[o])` over the
/// p-values in decreasing order), so results agree with R to the last bits.
pub fn p_adjust(p: &[Option<f64>], method: AdjustMethod) -> Vec<Option<f64>> {
    let idx: Vec<usize> = (0..p.len()).filter(|&i| p[i].is_some()).collect();
    let vals: Vec<f64> = idx.iter().filter_map(|&i| p[i]).collect();
    let adj = adjust_complete(&vals, method);
    let mut out = vec![None; p.len()];
    for (k, &i) in idx.iter().enumerate() {
        out[i] = Some(adj[k]);
    }
    out
}

fn adjust_complete(p: &[f64], method: AdjustMethod) -> Vec<f64> {
    let n = p.len();
    if n == 0 {
        return Vec::new();
    }
    let nf = n as f64;
    let mut out = vec![0.0; n];
    match method {
        AdjustMethod::None => out.copy_from_slice(p),
        AdjustMethod::Bonferroni => {
            for (o, &v) in out.iter_mut().zip(p) {
                *o = (nf * v).min(1.0);
            }
        }
        AdjustMethod::Holm => {
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
            let mut running = f64::NEG_INFINITY;
            for (k, &i) in order.iter().enumerate() {
                let cand = (nf + 1.0 - (k + 1) as f64) * p[i];
                running = running.max(cand);
                out[i] = running.min(1.0);
            }
        }
        AdjustMethod::Bh | AdjustMethod::By => {
            let q = if method == AdjustMethod::By {
                (1..=n).map(|i| 1.0 / i as f64).sum::<f64>()
            } else {
                1.0
            };
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
            let mut running = f64::INFINITY;
            for (k, &i) in order.iter().enumerate() {
                let rank = (n - k) as f64;
                let cand = if method == AdjustMethod::By {
                    q * nf / rank * p[i]
                } else {
                    nf / rank * p[i]
                };
                running = running.min(cand);
                out[i] = running.min(1.0);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[f64]) -> Vec<Option<f64>> {
        v.iter().map(|&x| Some(x)).collect()
    }

    fn close(a: &[Option<f64>], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            let x = x.unwrap();
            assert!((x - y).abs() < 1e-12, "{x} vs {y}");
        }
    }

    // Expected values worked by hand with p.adjust's formulas for p = c(0.01, 0.04, 0.03, 0.005, 0.2)
    const P: [f64; 5] = [0.01, 0.04, 0.03, 0.005, 0.2];

    #[test]
    fn bh_matches_r() {
        close(
            &p_adjust(&s(&P), AdjustMethod::Bh),
            &[0.025, 0.05, 0.05, 0.025, 0.2],
        );
    }

    #[test]
    fn by_matches_r() {
        // q = 1 + 1/2 + 1/3 + 1/4 + 1/5 = 2.283333…
        let q = 137.0 / 60.0;
        close(
            &p_adjust(&s(&P), AdjustMethod::By),
            &[0.025 * q, 0.05 * q, 0.05 * q, 0.025 * q, (0.2 * q).min(1.0)],
        );
    }

    #[test]
    fn holm_and_bonferroni_match_r() {
        close(
            &p_adjust(&s(&P), AdjustMethod::Holm),
            &[0.04, 0.09, 0.09, 0.025, 0.2],
        );
        close(
            &p_adjust(&s(&P), AdjustMethod::Bonferroni),
            &[0.05, 0.2, 0.15, 0.025, 1.0],
        );
        close(&p_adjust(&s(&P), AdjustMethod::None), &P);
    }

    #[test]
    fn missing_stay_missing_and_are_not_counted() {
        let p = vec![Some(0.01), None, Some(0.04), None];
        let a = p_adjust(&p, AdjustMethod::Bonferroni);
        assert_eq!(a, vec![Some(0.02), None, Some(0.08), None]);
        assert!(p_adjust(&[], AdjustMethod::Bh).is_empty());
    }

    #[test]
    fn names_round_trip() {
        for m in AdjustMethod::ALL {
            assert_eq!(AdjustMethod::parse(m.name()).unwrap(), m);
        }
        assert_eq!(AdjustMethod::parse("fdr").unwrap(), AdjustMethod::Bh);
        assert!(AdjustMethod::parse("sidak").is_err());
    }
}
