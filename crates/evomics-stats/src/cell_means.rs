//! limma's `lmFit` for a cell-means design (`~ 0 + group`: every sample in exactly one
//! coefficient's column, as a 1) when features have missing cells or observation weights.
//!
//! With a missing cell or per-observation weights, limma (`lm.series`) and edge-rs fit each
//! feature on its own observed (weighted) samples by a pivoted Householder QR. For a cell-means design the columns are orthogonal, so
//! that least-squares fit has a closed form, which is what this module computes: a group's
//! coefficient is the (weighted) mean of the feature's observed samples in the group,
//! `stdev.unscaled` is `1/√(Σw)` over them, the residual standard deviation is
//! `√(Σ w (y − mean)² / (m − rank))` with `rank` the number of groups the feature observes, and
//! a group it does not observe is not estimable (`NA`, as the QR's rank test rejects an all-zero
//! column and accepts every other: orthogonal columns keep their whole norm). The design-level
//! parts (`cov.coefficients`, pivot, rank) are edge-rs's own for the design. Results agree with
//! the QR to rounding (the tests compare both paths; the R oracles hold unchanged), at a few
//! operations per cell instead of a QR per feature: on the L cohort, 7,913 proteins × 2,000
//! samples with 7 % of cells imputed and fitted as missing, the QRs were about 1 s of CPU per
//! run.
//!
//! Features without a missing cell and without weights take edge-rs's shared factorisation, so
//! this path is only used where edge-rs would fit feature by feature.

use edge_rs::limma::lm_fit::{lm_fit as engine_lm_fit, LmFitResult};
use rayon::prelude::*;

use crate::error::{engine, Result};

/// Below this an observation weight drops the observation, as in edge-rs's `lmFit`.
const MIN_WEIGHT: f64 = 1e-15;

/// Each sample's group (the column holding its 1) when `design` (row-major, samples ×
/// coefficients) is a cell-means design: every row one 1 and otherwise 0, every column used.
pub(crate) fn cell_means_groups(
    design: &[f64],
    n_samples: usize,
    n_coef: usize,
) -> Option<Vec<usize>> {
    if n_coef == 0 || design.len() != n_samples * n_coef {
        return None;
    }
    let mut used = vec![false; n_coef];
    let groups = design
        .chunks(n_coef)
        .map(|row| {
            let mut ones = row.iter().enumerate().filter(|(_, &x)| x != 0.0);
            match (ones.next(), ones.next()) {
                (Some((k, &1.0)), None) => {
                    used[k] = true;
                    Some(k)
                }
                _ => None,
            }
        })
        .collect::<Option<Vec<usize>>>()?;
    used.iter().all(|&u| u).then_some(groups)
}

/// `lmFit` of a cell-means design (`groups`, from [`cell_means_groups`]) to `y` (features ×
/// samples, row-major; a non-finite value is a missing cell) with optional observation
/// `weights` of the same shape: the fields of edge-rs's [`LmFitResult`], each feature's from
/// the closed form above, but for the fitted values, which nothing downstream reads (left empty,
/// as the blocked fit leaves them; 127 MB on the L cohort).
pub(crate) fn lm_fit_cell_means(
    y: &[f64],
    n_genes: usize,
    design: &[f64],
    groups: &[usize],
    n_coef: usize,
    weights: Option<&[f64]>,
) -> Result<LmFitResult> {
    let n = groups.len();
    // The design's own factorisation (covariance, pivot, rank), as edge-rs computes it for a
    // fit with missing cells: on the bare design.
    let whole = engine_lm_fit(&vec![0.0; n], 1, n, design, n_coef, None, None, None)
        .map_err(engine("lmFit"))?;
    let mut out = LmFitResult {
        coefficients: vec![0.0; n_genes * n_coef],
        stdev_unscaled: vec![0.0; n_genes * n_coef],
        sigma: vec![0.0; n_genes],
        df_residual: vec![0.0; n_genes],
        fitted: Vec::new(),
        cov_coefficients: whole.cov_coefficients,
        pivot: whole.pivot,
        rank: whole.rank,
    };
    out.coefficients
        .par_chunks_mut(n_coef)
        .zip(out.stdev_unscaled.par_chunks_mut(n_coef))
        .zip(out.sigma.par_iter_mut())
        .zip(out.df_residual.par_iter_mut())
        .enumerate()
        .for_each_init(
            || vec![(0.0, 0.0); n_coef],
            |sums, (gene, (((coef, stdev), sigma), df))| {
                let row = &y[gene * n..(gene + 1) * n];
                let w_row = weights.map(|w| &w[gene * n..(gene + 1) * n]);
                let weight = |s: usize| w_row.map_or(1.0, |w| w[s]);
                let usable = |s: usize| {
                    row[s].is_finite()
                        && w_row.is_none_or(|w| w[s].is_finite() && w[s] > MIN_WEIGHT)
                };
                sums.fill((0.0, 0.0));
                let mut m = 0usize;
                for (s, &g) in groups.iter().enumerate() {
                    if usable(s) {
                        let w = weight(s);
                        sums[g].0 += w;
                        sums[g].1 += w * row[s];
                        m += 1;
                    }
                }
                if m == 0 {
                    coef.fill(f64::NAN);
                    stdev.fill(f64::NAN);
                    *sigma = 0.0;
                    *df = 0.0;
                    return;
                }
                let mut rank = 0;
                for ((c, sd), &(sw, swy)) in coef.iter_mut().zip(stdev.iter_mut()).zip(&*sums) {
                    if sw > 0.0 {
                        *c = swy / sw;
                        *sd = 1.0 / sw.sqrt();
                        rank += 1;
                    } else {
                        *c = f64::NAN;
                        *sd = f64::NAN;
                    }
                }
                let mut rss = 0.0;
                for (s, &g) in groups.iter().enumerate() {
                    if usable(s) {
                        let e = row[s] - coef[g];
                        rss += weight(s) * e * e;
                    }
                }
                let d = m - rank;
                *df = d as f64;
                *sigma = if d > 0 { (rss / d as f64).sqrt() } else { 0.0 };
            },
        );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_rs::utils::recycled::Recycled;

    fn one_hot(groups: &[usize], p: usize) -> Vec<f64> {
        groups
            .iter()
            .flat_map(|&g| (0..p).map(move |k| if k == g { 1.0 } else { 0.0 }))
            .collect()
    }

    #[test]
    fn cell_means_designs_are_recognised() {
        let x = one_hot(&[0, 1, 1, 2, 0], 3);
        assert_eq!(cell_means_groups(&x, 5, 3), Some(vec![0, 1, 1, 2, 0]));
        // An unused column, an intercept, a 2 instead of a 1, a row of zeros: not cell means.
        assert_eq!(cell_means_groups(&one_hot(&[0, 1, 1], 3), 3, 3), None);
        let mut intercept = x.clone();
        intercept[1] = 1.0;
        assert_eq!(cell_means_groups(&intercept, 5, 3), None);
        let mut two = x.clone();
        two[0] = 2.0;
        assert_eq!(cell_means_groups(&two, 5, 3), None);
        let mut zero = x.clone();
        zero[0] = 0.0;
        assert_eq!(cell_means_groups(&zero, 5, 3), None);
        assert_eq!(cell_means_groups(&x, 4, 3), None);
    }

    fn close(a: f64, b: f64) -> bool {
        (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-12 * (1.0 + a.abs().max(b.abs()))
    }

    /// The closed form against edge-rs's per-feature QR: features with missing cells, a group
    /// a feature does not observe, one observation per group (no residual df), no value at
    /// all, with and without weights (some below edge-rs's minimum).
    #[test]
    fn closed_form_is_the_qr_fit() {
        let p = 4;
        let groups: Vec<usize> = (0..23).map(|s| (s * 7 + s / 5) % p).collect();
        let n = groups.len();
        let x = one_hot(&groups, p);
        let g = 9;
        let mut y: Vec<f64> = (0..g * n)
            .map(|i| ((i * 37 % 101) as f64 / 7.0).sin() * 3.0 + (i % n) as f64 / 10.0)
            .collect();
        for (i, v) in y.iter_mut().enumerate() {
            if i % 11 == 3 {
                *v = f64::NAN;
            }
        }
        // Feature 2 loses group 1; feature 3 keeps one sample per group; feature 4 has none.
        for s in 0..n {
            if groups[s] == 1 {
                y[2 * n + s] = f64::NAN;
            }
            let first = groups.iter().position(|&k| k == groups[s]) == Some(s);
            if !first {
                y[3 * n + s] = f64::NAN;
            }
            y[4 * n + s] = f64::NAN;
        }
        let w: Vec<f64> = (0..g * n)
            .map(|i| match i % 13 {
                5 => 1e-16,
                k => 0.25 + k as f64 / 8.0,
            })
            .collect();
        for weights in [None, Some(&w)] {
            let fast =
                lm_fit_cell_means(&y, g, &x, &groups, p, weights.map(|w| w.as_slice())).unwrap();
            let full = weights.map(|w| Recycled::Full(w.clone()));
            let qr = engine_lm_fit(&y, g, n, &x, p, full.as_ref(), None, None).unwrap();
            assert_eq!(fast.df_residual, qr.df_residual);
            assert_eq!(fast.pivot, qr.pivot);
            assert_eq!(fast.rank, qr.rank);
            assert_eq!(fast.cov_coefficients, qr.cov_coefficients);
            for (name, a, b) in [
                ("coefficients", &fast.coefficients, &qr.coefficients),
                ("stdev_unscaled", &fast.stdev_unscaled, &qr.stdev_unscaled),
                ("sigma", &fast.sigma, &qr.sigma),
            ] {
                assert_eq!(a.len(), b.len(), "{name}");
                for (i, (u, v)) in a.iter().zip(b).enumerate() {
                    assert!(
                        close(*u, *v),
                        "{name}[{i}]: {u} vs {v} (weights {})",
                        weights.is_some()
                    );
                }
            }
            assert!(fast.fitted.is_empty());
            assert!(fast.coefficients[2 * p + 1].is_nan());
            assert_eq!(fast.df_residual[3], 0.0);
            assert!(fast.coefficients[4 * p..5 * p].iter().all(|c| c.is_nan()));
        }
    }
}
