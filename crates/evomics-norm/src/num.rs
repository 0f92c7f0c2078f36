//! Small numeric kernels shared by the steps, each mirroring the R function it stands in for.

use rand::Rng as _;

/// Neumaier-compensated sum.
///
/// R accumulates `sum`, `mean`, `rowSums` and `rowMeans` in 80-bit long doubles; a compensated
/// double sum is as close to those results as a plain loop is far from them, which keeps
/// threshold decisions (ComBat's convergence test, trimming ranks) on the same side as in R.
pub(crate) fn sum(xs: impl IntoIterator<Item = f64>) -> f64 {
    let mut s = 0.0_f64;
    let mut c = 0.0_f64;
    for x in xs {
        let t = s + x;
        if s.abs() >= x.abs() {
            c += (s - t) + x;
        } else {
            c += (x - t) + s;
        }
        s = t;
    }
    s + c
}

/// Arithmetic mean (R `mean`, including its second refinement pass); NaN for an empty slice.
pub(crate) fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let n = xs.len() as f64;
    let m = sum(xs.iter().copied()) / n;
    m + sum(xs.iter().map(|x| x - m)) / n
}

/// Sample variance with the n − 1 denominator (R `var`); `None` for fewer than two values.
pub(crate) fn var(xs: &[f64]) -> Option<f64> {
    if xs.len() < 2 {
        return None;
    }
    let m = mean(xs);
    Some(sum(xs.iter().map(|x| (x - m) * (x - m))) / (xs.len() as f64 - 1.0))
}

/// Sort ascending (values are finite by the assay invariants; `total_cmp` keeps it total anyway).
pub(crate) fn sort(xs: &mut [f64]) {
    xs.sort_by(f64::total_cmp);
}

/// R's default quantile (type 7) of an ascending slice; NaN for an empty slice or p outside [0, 1].
pub(crate) fn quantile7_sorted(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    if n == 0 || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    // 1-based index as R computes it, so that h carries R's rounding
    let index = 1.0 + (n - 1) as f64 * p;
    let lo = index.floor();
    let hi = index.ceil();
    let qs = sorted[lo as usize - 1];
    let xh = sorted[(hi as usize).min(n) - 1];
    let h = index - lo;
    if index > lo && xh != qs {
        (1.0 - h) * qs + h * xh
    } else {
        qs
    }
}

/// Type-7 quantile of unsorted values: the same two order statistics as
/// [`quantile7_sorted`] on the sorted values, found by selection instead of a full sort.
pub(crate) fn quantile7(xs: &[f64], p: f64) -> f64 {
    let n = xs.len();
    if n == 0 || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    let index = 1.0 + (n - 1) as f64 * p;
    let (lo, hi) = (index.floor(), index.ceil());
    let mut v = xs.to_vec();
    let (_, &mut qs, above) = v.select_nth_unstable_by(lo as usize - 1, f64::total_cmp);
    let xh = if hi > lo && !above.is_empty() {
        above.iter().copied().min_by(f64::total_cmp).unwrap_or(qs)
    } else {
        qs
    };
    let h = index - lo;
    if index > lo && xh != qs {
        (1.0 - h) * qs + h * xh
    } else {
        qs
    }
}

/// Median (R `median`).
pub(crate) fn median(xs: &[f64]) -> f64 {
    quantile7(xs, 0.5)
}

/// Ranks with ties averaged (R `rank(x, ties.method = "average")`), 1-based.
pub(crate) fn rank_average(xs: &[f64]) -> Vec<f64> {
    // (value, position) pairs sort in place, without chasing indices into `xs`; the order among
    // ties does not matter, they share one rank.
    let mut pairs: Vec<(f64, usize)> = xs.iter().copied().zip(0..).collect();
    pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut ranks = vec![0.0; xs.len()];
    let mut i = 0;
    while i < pairs.len() {
        let mut j = i;
        while j + 1 < pairs.len() && pairs[j + 1].0 == pairs[i].0 {
            j += 1;
        }
        // positions i..=j (0-based) share the average of ranks i+1..=j+1
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &(_, k) in &pairs[i..=j] {
            ranks[k] = r;
        }
        i = j + 1;
    }
    ranks
}

/// Linear interpolation of `(x, y)` at `v`, as R's `approx(..., method = "linear")` (`approx1` in
/// R's C code, including its exact-knot shortcuts); `x` strictly increasing. Outside the range the
/// nearest end value is returned (`rule = 2`), which the callers never need but is safe.
pub(crate) fn approx(x: &[f64], y: &[f64], v: f64) -> f64 {
    let n = x.len();
    if n == 0 {
        return f64::NAN;
    }
    if v <= x[0] {
        return y[0];
    }
    if v >= x[n - 1] {
        return y[n - 1];
    }
    let (mut i, mut j) = (0usize, n - 1);
    while i + 1 < j {
        let ij = (i + j) / 2;
        if v < x[ij] {
            j = ij;
        } else {
            i = ij;
        }
    }
    if v == x[j] {
        return y[j];
    }
    if v == x[i] {
        return y[i];
    }
    y[i] + (y[j] - y[i]) * ((v - x[i]) / (x[j] - x[i]))
}

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
    fn quantiles_match_r() {
        // R: quantile(c(1, 2, 3, 4, 10), c(0.25, 0.75, 0.01)) = 2, 4, 1.04
        let x = [10.0, 2.0, 1.0, 4.0, 3.0];
        assert_eq!(quantile7(&x, 0.25), 2.0);
        assert_eq!(quantile7(&x, 0.75), 4.0);
        assert!((quantile7(&x, 0.01) - 1.04).abs() < 1e-15);
        assert_eq!(median(&[3.0, 1.0, 2.0, 10.0]), 2.5);
    }

    #[test]
    fn selection_quantile_equals_sorted_quantile() {
        let mut rng = evomics_core::rng::seeded(5);
        for n in [1usize, 2, 3, 7, 50, 301] {
            // few distinct values, so ties at the order statistics are common
            let x: Vec<f64> = (0..n).map(|_| rng.gen_range(0..9) as f64 * 0.5).collect();
            let mut sorted = x.clone();
            sort(&mut sorted);
            for p in [0.0, 0.01, 0.25, 0.5, 0.75, 0.9, 1.0] {
                assert_eq!(
                    quantile7(&x, p),
                    quantile7_sorted(&sorted, p),
                    "n {n}, p {p}"
                );
            }
        }
        assert!(quantile7(&[], 0.5).is_nan());
    }

    #[test]
    fn ranks_average_ties() {
        // R: rank(c(3, 1, 3, 2)) = 3.5 1.0 3.5 2.0
        assert_eq!(
            rank_average(&[3.0, 1.0, 3.0, 2.0]),
            vec![3.5, 1.0, 3.5, 2.0]
        );
    }

    #[test]
    fn variance_and_mean() {
        assert_eq!(mean(&[1.0, 2.0, 3.0]), 2.0);
        assert_eq!(var(&[1.0, 2.0, 3.0, 4.0]), Some(5.0 / 3.0));
        assert_eq!(var(&[1.0]), None);
    }

    #[test]
    fn compensated_sum_beats_naive() {
        let v = [1e16, 1.0, -1e16, 1.0];
        assert_eq!(sum(v), 2.0);
    }

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
    fn approx_hits_knots_exactly() {
        let x = [0.0, 0.5, 1.0];
        let y = [1.0, 2.0, 4.0];
        assert_eq!(approx(&x, &y, 0.5), 2.0);
        assert_eq!(approx(&x, &y, 0.75), 3.0);
        assert_eq!(approx(&x, &y, 1.0), 4.0);
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
