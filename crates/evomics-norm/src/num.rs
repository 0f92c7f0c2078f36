//! Numeric helpers of the normalization steps. The R-parity kernels (sum, mean, var, type-7
//! quantile, median, average ranks, approx) are [`evomics_core::num`]'s, re-exported here so the
//! steps name them in one place; what follows them is specific to normalization.

use rand::Rng as _;

pub(crate) use evomics_core::num::{
    approx, average_rank_within, mean, mean_var, median, median_in_place, quantile7,
    quantile7_in_place, quantile7_sorted, rank_average, sort, sum, var, CompensatedSum,
};

/// Solve the square system `a · x = b` for `m` right-hand sides by Gaussian elimination with
/// partial pivoting (LAPACK `dgesv`, which R's `solve` calls). `a` is k × k row-major, `b` is
/// k × m row-major; returns x (k × m) or `None` when `a` is singular.
pub(crate) fn solve(mut a: Vec<f64>, mut b: Vec<f64>, k: usize, m: usize) -> Option<Vec<f64>> {
    let scale = a.iter().fold(0.0_f64, |s, v| s.max(v.abs()));
    if scale == 0.0 || !scale.is_finite() {
        return None;
    }
    for col in 0..k {
        let mut piv = col;
        for r in col + 1..k {
            if a[r * k + col].abs() > a[piv * k + col].abs() {
                piv = r;
            }
        }
        if a[piv * k + col].abs() <= scale * 1e-13 {
            return None;
        }
        if piv != col {
            for c in 0..k {
                a.swap(col * k + c, piv * k + c);
            }
            for c in 0..m {
                b.swap(col * m + c, piv * m + c);
            }
        }
        let d = a[col * k + col];
        for r in col + 1..k {
            let f = a[r * k + col] / d;
            if f == 0.0 {
                continue;
            }
            for c in col..k {
                a[r * k + c] -= f * a[col * k + c];
            }
            for c in 0..m {
                b[r * m + c] -= f * b[col * m + c];
            }
        }
    }
    let mut x = vec![0.0; k * m];
    for c in 0..m {
        for r in (0..k).rev() {
            let mut s = b[r * m + c];
            for q in r + 1..k {
                s -= a[r * k + q] * x[q * m + c];
            }
            x[r * m + c] = s / a[r * k + r];
        }
    }
    Some(x)
}

/// Numerical rank of the columns of an n × p row-major matrix, by Gram–Schmidt with the relative
/// tolerance 1e-7 that R's `qr()` (LINPACK `dqrdc2`) uses to call a column dependent.
pub(crate) fn column_rank(x: &[f64], n: usize, p: usize) -> usize {
    orthonormal_basis(x, n, p).len()
}

/// An orthonormal basis of the column space of `x` (n × p, row-major), by Gram–Schmidt with
/// reorthogonalisation, taking columns left to right and dropping a column whose part orthogonal
/// to the earlier ones is at most 1e-7 of its norm (R's `qr` tolerance).
pub(crate) fn orthonormal_basis(x: &[f64], n: usize, p: usize) -> Vec<Vec<f64>> {
    let mut basis: Vec<Vec<f64>> = Vec::new();
    for c in 0..p {
        let mut v: Vec<f64> = (0..n).map(|r| x[r * p + c]).collect();
        let norm0 = sum(v.iter().map(|a| a * a)).sqrt();
        if norm0 == 0.0 {
            continue;
        }
        // two passes of orthogonalisation keep the residual accurate
        for _ in 0..2 {
            for q in &basis {
                let d = sum(q.iter().zip(&v).map(|(a, b)| a * b));
                for (vi, qi) in v.iter_mut().zip(q) {
                    *vi -= d * qi;
                }
            }
        }
        let norm = sum(v.iter().map(|a| a * a)).sqrt();
        if norm > 1e-7 * norm0 {
            for vi in v.iter_mut() {
                *vi /= norm;
            }
            basis.push(v);
        }
    }
    basis
}

/// A standard normal deviate by the Box–Muller transform of two uniforms from the seeded stream.
///
/// Written out here rather than taken from a distribution crate so that the stream for a given
/// seed can never change with a dependency update.
pub(crate) fn standard_normal(rng: &mut evomics_core::rng::Rng) -> f64 {
    let u1: f64 = 1.0 - rng.gen::<f64>(); // (0, 1]
    let u2: f64 = rng.gen::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A uniform deviate in (0, 1).
pub(crate) fn open_uniform(rng: &mut evomics_core::rng::Rng) -> f64 {
    loop {
        let u: f64 = rng.gen::<f64>();
        if u > 0.0 {
            return u;
        }
    }
}

/// R's `seq(from, to, by)` for `by > 0`: `from + (0:n) * by` with `n = floor((to - from)/by + 1e-10)`.
pub(crate) fn seq_by(from: f64, to: f64, by: f64) -> Vec<f64> {
    let n = ((to - from) / by + 1e-10).floor();
    if n.is_nan() || n < 0.0 {
        return vec![from];
    }
    (0..=n as usize)
        .map(|k| (from + k as f64 * by).min(to))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_and_detects_singular() {
        // [[2,1],[1,3]] x = [[3],[5]] -> x = [0.8, 1.4]
        let x = solve(vec![2.0, 1.0, 1.0, 3.0], vec![3.0, 5.0], 2, 1).unwrap();
        assert!((x[0] - 0.8).abs() < 1e-15 && (x[1] - 1.4).abs() < 1e-15);
        assert!(solve(vec![1.0, 2.0, 2.0, 4.0], vec![1.0, 1.0], 2, 1).is_none());
    }

    #[test]
    fn rank_of_columns() {
        // columns: (1,1,1), (1,0,0), (0,1,1): third = first - second
        let x = [1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0];
        assert_eq!(column_rank(&x, 3, 3), 2);
        let y = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        assert_eq!(column_rank(&y, 3, 2), 2);
    }

    #[test]
    fn seq_matches_r() {
        // R: length(seq(0.001, 0.991, 0.01)) == 100
        assert_eq!(seq_by(0.001, 0.991, 0.01).len(), 100);
        let p = 0.2;
        assert_eq!(seq_by(p + 0.001, 0.991, (0.99 - p) / 99.0).len(), 100);
    }

    #[test]
    fn normal_stream_is_reproducible() {
        let mut a = evomics_core::rng::seeded(3);
        let mut b = evomics_core::rng::seeded(3);
        for _ in 0..10 {
            assert_eq!(
                standard_normal(&mut a).to_bits(),
                standard_normal(&mut b).to_bits()
            );
        }
    }
}
