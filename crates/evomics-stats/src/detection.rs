//! Present/absent cargo: detection per group and Fisher's exact test on detection.
//!
//! Source-specific EV cargo is often present in every preparation of one source and absent from
//! another's. limma cannot test such a feature (a whole group missing leaves its coefficient
//! without data, so the toptable has NA), and valid-value filters drop it. Here each feature's
//! detection (a measured value; for a count layer a count above zero) is counted in the two
//! sides of a contrast and compared with the two-sided Fisher exact test on the 2 × 2 table
//! (detected / not detected × side), as R's `fisher.test(matrix(c(a, b, c, d), 2))` computes it:
//! the sum of the hypergeometric probabilities of the tables with the same margins that are no
//! more probable than the observed one (with R's relative tolerance 1e-7). p-values are
//! BH-adjusted over the features of each contrast. Imputed cells count as not detected, so
//! imputation never creates presence.

use edge_rs::numeric::gamma::ln_gamma;
use evomics_core::{Assay, Kind, Table, ValueFlag, ValueScale};
use serde::{Deserialize, Serialize};

use crate::adjust::{p_adjust, AdjustMethod};

/// One feature of one contrast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectionRow {
    /// The contrast.
    pub contrast: String,
    /// Feature id.
    pub feature: String,
    /// Samples on the contrast's positive side (its groups with positive weight).
    pub n_up: usize,
    /// Of those, samples where the feature was detected.
    pub detected_up: usize,
    /// Samples on the negative side.
    pub n_down: usize,
    /// Of those, samples where the feature was detected.
    pub detected_down: usize,
    /// Detection rate of the positive side minus that of the negative side.
    pub rate_difference: f64,
    /// Two-sided Fisher exact p-value.
    pub p_value: f64,
    /// BH-adjusted over the contrast's features.
    pub adj_p_value: f64,
    /// Detected in every sample of one side and in none of the other.
    pub all_or_none: bool,
}

/// Two-sided Fisher exact test of the 2 × 2 table `[[a, b], [c, d]]` (rows: detected, not
/// detected; columns: the two sides), equal to R's `fisher.test(matrix(c(a, c, b, d), 2))$p.value`.
pub fn fisher_exact_two_sided(a: usize, b: usize, c: usize, d: usize) -> f64 {
    fisher_with(a, b, c, d, |x| ln_gamma(x as f64 + 1.0))
}

/// [`fisher_exact_two_sided`] with `ln_fact(x)` = ln x! (`ln_gamma(x + 1)`, or a table of it:
/// the same numbers, so the same p-value).
fn fisher_with(a: usize, b: usize, c: usize, d: usize, ln_fact: impl Fn(usize) -> f64) -> f64 {
    let ln_choose = |n: usize, k: usize| ln_fact(n) - ln_fact(k) - ln_fact(n - k);
    // X = a ~ Hypergeometric: m = a + c "detected" draws among m + n, k = a + b in the first side.
    let (m, n, k) = (a + c, b + d, a + b);
    let lo = k.saturating_sub(n);
    let hi = k.min(m);
    let ln_total = ln_choose(m + n, k);
    let ln_p = |x: usize| ln_choose(m, x) + ln_choose(n, k - x) - ln_total;
    let observed = ln_p(a);
    // R: sum(d[d <= d[x] * (1 + 1e-7)]), computed in logs.
    let cut = observed + (1.0f64 + 1e-7).ln();
    let terms: Vec<f64> = (lo..=hi).map(ln_p).filter(|&t| t <= cut).collect();
    let top = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let s: f64 = terms.iter().map(|t| (t - top).exp()).sum();
    (top + s.ln()).exp().min(1.0)
}

/// Whether each cell of `layer` is a detection: a measured value, and above zero for counts.
fn detected(layer: &Assay, i: usize, j: usize) -> bool {
    layer.flags()[[i, j]] == ValueFlag::Observed
        && (layer.scale() != ValueScale::Counts || layer.values()[[i, j]] > 0.0)
}

/// Detection tests of one contrast: `up` and `down` are the layer's sample columns on the
/// contrast's positive and negative sides. Empty when a side has no sample.
pub fn detection_tests(
    contrast: &str,
    layer: &Assay,
    up: &[usize],
    down: &[usize],
) -> Vec<DetectionRow> {
    if up.is_empty() || down.is_empty() {
        return Vec::new();
    }
    // Every table of the contrast has up.len() + down.len() samples: ln x! is looked up, not
    // recomputed for each of a test's terms.
    let ln_fact: Vec<f64> = (0..=up.len() + down.len())
        .map(|x| ln_gamma(x as f64 + 1.0))
        .collect();
    let mut rows: Vec<DetectionRow> = (0..layer.n_features())
        .map(|i| {
            let du = up.iter().filter(|&&j| detected(layer, i, j)).count();
            let dd = down.iter().filter(|&&j| detected(layer, i, j)).count();
            let (nu, nd) = (up.len(), down.len());
            DetectionRow {
                contrast: contrast.to_string(),
                feature: layer.features().ids()[i].clone(),
                n_up: nu,
                detected_up: du,
                n_down: nd,
                detected_down: dd,
                rate_difference: du as f64 / nu as f64 - dd as f64 / nd as f64,
                p_value: fisher_with(du, dd, nu - du, nd - dd, |x| ln_fact[x]),
                adj_p_value: f64::NAN,
                all_or_none: (du == nu && dd == 0) || (du == 0 && dd == nd),
            }
        })
        .collect();
    let adj = p_adjust(
        &rows.iter().map(|r| Some(r.p_value)).collect::<Vec<_>>(),
        AdjustMethod::Bh,
    );
    for (r, q) in rows.iter_mut().zip(adj) {
        r.adj_p_value = q.unwrap_or(f64::NAN);
    }
    rows
}

/// The `absent_present` table of `rows`: detection counts, rate difference, the exact p-values,
/// `all_or_none` and `limma_tested` (whether `tested` says limma gave the feature a p-value in
/// the same comparison).
pub fn detection_table(rows: &[DetectionRow], tested: &dyn Fn(&DetectionRow) -> bool) -> Table {
    let mut t = Table::new("absent_present")
        .cols(["contrast", "feature_id"], Kind::Text)
        .cols(
            ["n_up", "detected_up", "n_down", "detected_down"],
            Kind::Int,
        )
        .cols(["rate_difference", "P.Value", "adj.P.Val"], Kind::Float)
        .cols(["all_or_none", "limma_tested"], Kind::Bool);
    for r in rows {
        t.push(vec![
            r.contrast.as_str().into(),
            r.feature.as_str().into(),
            r.n_up.into(),
            r.detected_up.into(),
            r.n_down.into(),
            r.detected_down.into(),
            r.rate_difference.into(),
            r.p_value.into(),
            r.adj_p_value.into(),
            r.all_or_none.into(),
            tested(r).into(),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// R 4.2: `fisher.test(matrix(c(a, c, b, d), 2))$p.value` (see
    /// test-data/r-reference/fisher/fisher.R, whose output the integration test checks in full).
    #[test]
    fn equals_r_on_small_tables() {
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-12 * y.max(1e-300);
        // all of 5 vs none of 5: 2 / choose(10, 5)
        assert!(close(fisher_exact_two_sided(5, 0, 0, 5), 2.0 / 252.0));
        // identical rates: p = 1
        assert!(close(fisher_exact_two_sided(3, 3, 2, 2), 1.0));
        assert!(close(fisher_exact_two_sided(0, 0, 4, 6), 1.0));
    }

    /// The contrast's tests look ln x! up in a table: the p-values are those of the direct
    /// test, bit for bit, over every table of 4 + 3 samples.
    #[test]
    fn contrast_tests_equal_the_direct_test() {
        use evomics_core::{Features, LayerKind};
        let (up, down) = ([0, 2, 4, 6], [1, 3, 5]);
        // Feature i is detected in the samples whose bit is set in i.
        let n_f = 1 << 7;
        let mut values = ndarray::Array2::from_elem((n_f, 7), f64::NAN);
        let mut flags = ndarray::Array2::from_elem((n_f, 7), ValueFlag::Missing);
        for i in 0..n_f {
            for j in 0..7 {
                if i >> j & 1 == 1 {
                    values[[i, j]] = 1.0 + j as f64;
                    flags[[i, j]] = ValueFlag::Observed;
                }
            }
        }
        let layer = Assay::new(
            "p",
            LayerKind::Proteome,
            ValueScale::Log2,
            Features::new((0..n_f).map(|i| format!("F{i}")).collect()).unwrap(),
            (0..7).map(|j| format!("S{j}")).collect(),
            values,
            flags,
        )
        .unwrap();
        let rows = detection_tests("a - b", &layer, &up, &down);
        assert_eq!(rows.len(), n_f);
        for (i, r) in rows.iter().enumerate() {
            let du = up.iter().filter(|&&j| i >> j & 1 == 1).count();
            let dd = down.iter().filter(|&&j| i >> j & 1 == 1).count();
            assert_eq!((r.detected_up, r.detected_down), (du, dd));
            let direct = fisher_exact_two_sided(du, dd, 4 - du, 3 - dd);
            assert_eq!(r.p_value.to_bits(), direct.to_bits(), "feature {i}");
        }
    }
}
