//! The R-parity numeric kernels every evomics crate uses, each written once and each equal to
//! the R function named in its doc comment (R 4.2, `src/main/summary.c`, `src/library/stats`).
//!
//! Conventions:
//! - **Sums** are Neumaier-compensated ([`sum`]): R accumulates `sum`, `mean`, `var` and `cor` in
//!   80-bit long doubles, and a compensated double sum reproduces those results where a plain
//!   loop drifts by a few ulps, which keeps threshold decisions on the same side as in R.
//! - **Missing values** are the caller's business: evomics keeps missingness in
//!   [`ValueFlag`](crate::ValueFlag)s and passes only observed values here. A NaN that reaches a
//!   kernel is not skipped: it propagates through [`sum`], [`mean`], [`var`] and [`pearson`]
//!   (as R's `NA` does without `na.rm`), and the order-based kernels ([`quantile7`],
//!   [`median`], [`mad`], [`rank_average`], [`rank_min`]) sort it last by IEEE total order (R's `quantile`
//!   and `median` refuse `NA` without `na.rm`; callers never pass one).
//! - **Empty or too short input** gives NaN for a location ([`mean`], [`quantile7`],
//!   [`median`], [`mad`]) and `None` where R returns `NA` for lack of data ([`var`] with n < 2,
//!   [`pearson`] with fewer than two pairs or no spread).

/// Neumaier-compensated sum, standing in for R's long-double accumulation (`sum`, and the sums
/// inside `mean`, `var`, `cor`).
pub fn sum(xs: impl IntoIterator<Item = f64>) -> f64 {
    let mut acc = CompensatedSum::default();
    for x in xs {
        acc.add(x);
    }
    acc.total()
}

/// The running state of [`sum`]: values added one at a time give the same total, bit for bit,
/// as [`sum`] of them in the same order (for sums kept side by side, e.g. one per sample while
/// a matrix is read along its rows).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CompensatedSum {
    s: f64,
    c: f64,
}

impl CompensatedSum {
    /// Add `x` (Neumaier's step).
    ///
    /// The rounding error of `s + x` is found by Knuth's TwoSum (Knuth, *TAOCP* vol. 2,
    /// §4.2.2), six additions without a branch, where Neumaier's own step takes Dekker's
    /// Fast2Sum on whichever of the two is larger in magnitude. Both give that error exactly
    /// whenever `s + x` is finite, so the compensation and the total are Neumaier's bit for bit;
    /// once the running sum is infinite or NaN the compensation is not used ([`total`]
    /// returns the sum). The branch depended on the data: summing residuals around their
    /// mean, as [`mean`] and [`var`] do, it went either way about half the time.
    ///
    /// [`total`]: CompensatedSum::total
    #[inline]
    pub fn add(&mut self, x: f64) {
        let t = self.s + x;
        let xv = t - self.s;
        let sv = t - xv;
        self.c += (self.s - sv) + (x - xv);
        self.s = t;
    }

    /// The compensated total of the values added.
    #[inline]
    pub fn total(self) -> f64 {
        // an infinite or NaN total makes the compensation NaN (inf − inf); R's sum is the
        // total then
        if self.s.is_finite() {
            self.s + self.c
        } else {
            self.s
        }
    }
}

/// Arithmetic mean, as R's `mean(x)` (`summary.c`: the sum over n, then, when finite, the mean
/// of the residuals added as a refinement pass); NaN for an empty slice.
pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let n = xs.len() as f64;
    let m = sum(xs.iter().copied()) / n;
    if !m.is_finite() {
        return m;
    }
    m + sum(xs.iter().map(|x| x - m)) / n
}

/// Trimmed mean, as R's `mean(x, trim)`: with `lo = floor(n · trim)`, the [`mean`] of the
/// sorted values after dropping `lo` from each end; R's [`median`] for `trim ≥ 0.5`; NaN for an
/// empty slice. `trim` is clamped to [0, 0.5] (R refuses values outside, and evomics passes
/// constants).
pub fn trimmed_mean(xs: &[f64], trim: f64) -> f64 {
    let n = xs.len();
    if n == 0 {
        return f64::NAN;
    }
    if trim >= 0.5 {
        return median(xs);
    }
    let mut v = xs.to_vec();
    sort(&mut v);
    // R: lo = floor(n * trim) + 1 and hi = n + 1 - lo, both 1-based and inclusive
    let lo = (n as f64 * trim.max(0.0)).floor() as usize;
    mean(&v[lo..n - lo])
}

/// Sample variance with the n − 1 denominator, two-pass around [`mean`], as R's `var(x)`;
/// `None` for fewer than two values (R's `NA`).
pub fn var(xs: &[f64]) -> Option<f64> {
    mean_var(xs).1
}

/// [`mean`] and [`var`] of the same values, the mean computed once for both.
pub fn mean_var(xs: &[f64]) -> (f64, Option<f64>) {
    let m = mean(xs);
    if xs.len() < 2 {
        return (m, None);
    }
    let v = sum(xs.iter().map(|x| (x - m) * (x - m))) / (xs.len() as f64 - 1.0);
    (m, Some(v))
}

/// Sample standard deviation, R's `sd(x)` = `sqrt(var(x))`; `None` for fewer than two values.
pub fn sd(xs: &[f64]) -> Option<f64> {
    var(xs).map(f64::sqrt)
}

/// Sort ascending by IEEE total order (a NaN sorts last).
pub fn sort(xs: &mut [f64]) {
    xs.sort_by(f64::total_cmp);
}

/// R's default quantile, `quantile(x, p, type = 7)`, of ascending values; NaN for an empty slice
/// or `p` outside [0, 1].
///
/// Computed as `quantile.default` does: `index = 1 + (n − 1)·p`, `lo = floor(index)`,
/// `h = index − lo`, and `(1 − h)·x[lo] + h·x[hi]` only where `index > lo` and the two order
/// statistics differ, so the interpolation weight carries R's rounding.
pub fn quantile7_sorted(sorted: &[f64], p: f64) -> f64 {
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

/// [`quantile7_sorted`] of unsorted values: the same two order statistics, found by selection
/// instead of a full sort (R's partial sort).
pub fn quantile7(xs: &[f64], p: f64) -> f64 {
    quantile7_in_place(&mut xs.to_vec(), p)
}

/// [`quantile7`] of values the caller no longer needs in their order: they are reordered in
/// place instead of copied.
pub fn quantile7_in_place(v: &mut [f64], p: f64) -> f64 {
    let n = v.len();
    if n == 0 || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    let index = 1.0 + (n - 1) as f64 * p;
    let (lo, hi) = (index.floor(), index.ceil());
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

/// Median, R's `median(x)` (the middle value, or the mean of the two middle values); NaN for an
/// empty slice.
pub fn median(xs: &[f64]) -> f64 {
    quantile7(xs, 0.5)
}

/// [`median`] of values the caller no longer needs in their order (reordered in place).
pub fn median_in_place(v: &mut [f64]) -> f64 {
    quantile7_in_place(v, 0.5)
}

/// Median absolute deviation, R's `mad(x)` = `1.4826 · median(|x − median(x)|)`; NaN for an
/// empty slice.
pub fn mad(xs: &[f64]) -> f64 {
    let m = median(xs);
    let dev: Vec<f64> = xs.iter().map(|x| (x - m).abs()).collect();
    1.4826 * median(&dev)
}

/// (value, position) pairs in `f64::total_cmp` order of the values, sorted in place by an
/// integer key with that order (no index chasing into `xs`, no float comparisons). The order
/// among bit-identical values is unspecified: callers give them one rank.
fn sorted_pairs(xs: &[f64]) -> Vec<(f64, usize)> {
    let mut keyed: Vec<(u64, usize)> = xs.iter().map(|x| total_order_key(*x)).zip(0..).collect();
    // by key, then index: values of the same bits (NaNs, which `==` never ties) in input order
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, i)| (xs[i], i)).collect()
}

/// An unsigned key whose order is `f64::total_cmp`'s (the same bit flip, made unsigned): a
/// negative value has every bit flipped, any other only its sign bit.
#[inline]
pub fn total_order_key(x: f64) -> u64 {
    let b = x.to_bits() as i64;
    ((b ^ ((((b >> 63) as u64) >> 1) as i64)) as u64) ^ (1 << 63)
}

/// Ranks with ties averaged, 1-based, as R's `rank(x, ties.method = "average")`. NaNs, which
/// `==` ties to nothing, take single ranks where `f64::total_cmp` orders them (NaNs of the same
/// bits in input order).
pub fn rank_average(xs: &[f64]) -> Vec<f64> {
    let pairs = sorted_pairs(xs);
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

/// Whether each value's [`rank_average`] lies in `[lo, hi]` (1-based ranks), found by two
/// selections and counting passes instead of a sort: a value strictly between the values at
/// sorted positions `lo` and `hi` has its whole tie group inside those positions, one below
/// the first or above the second has it outside, and the tie groups of those two values get
/// their average rank from the counts of smaller and equal values, with the arithmetic of
/// [`rank_average`]. This is the trimming of edgeR's TMM (Robinson & Oshlack 2010,
/// *Genome Biol* 11:R25; `.calcFactorTMM`: `rank(x) >= lo & rank(x) <= hi`).
pub fn average_rank_within(xs: &[f64], lo: f64, hi: f64) -> Vec<bool> {
    let n = xs.len();
    // NaN bounds hold no rank either.
    if n == 0 || lo.partial_cmp(&hi).is_none_or(|o| o.is_gt()) || hi < 1.0 || lo > n as f64 {
        return vec![false; n];
    }
    // The smallest and largest whole positions inside [lo, hi], clamped to 1..=n.
    let first = (lo.ceil().max(1.0) as usize).min(n);
    let last = (hi.floor() as usize).clamp(1, n);
    if first > last {
        // [lo, hi] holds no whole rank, but a tie group's half rank may still fall inside.
        return xs
            .iter()
            .map(|&x| {
                let r = average_rank_of(xs, x);
                r >= lo && r <= hi
            })
            .collect();
    }
    // Without NaNs, the values' total-order keys (−0.0 taken as +0.0: the two are tied by `==`
    // and adjacent in the total order, so their group's positions do not change) order and tie
    // them as the values do, and integers compare in one instruction.
    if xs.iter().all(|x| !x.is_nan()) {
        let keys: Vec<u64> = xs.iter().map(|&x| total_order_key(x + 0.0)).collect();
        return within_positions(&keys, first, last, lo, hi, u64::cmp);
    }
    within_positions(xs, first, last, lo, hi, f64::total_cmp)
}

/// [`average_rank_within`] once the whole positions `first..=last` (1-based) inside `[lo, hi]`
/// are known: values ordered by `cmp` (a total order agreeing with `<` on values that are not
/// NaN) and tied by `==`.
fn within_positions<K: Copy + PartialOrd>(
    xs: &[K],
    first: usize,
    last: usize,
    lo: f64,
    hi: f64,
    cmp: impl Fn(&K, &K) -> std::cmp::Ordering + Copy,
) -> Vec<bool> {
    let mut v = xs.to_vec();
    let (_, &mut v_lo, above) = v.select_nth_unstable_by(first - 1, cmp);
    // The value at position `last` is among those after position `first` (all of them at
    // or above `v_lo` in the total order): selected there, not in the whole copy again.
    let v_hi = if last == first {
        v_lo
    } else {
        *above.select_nth_unstable_by(last - first - 1, cmp).1
    };
    let (r_lo, r_hi) = average_ranks_of(xs, v_lo, v_hi, cmp);
    let (in_lo, in_hi) = (r_lo >= lo && r_lo <= hi, r_hi >= lo && r_hi <= hi);
    xs.iter()
        .enumerate()
        .map(|(i, &x)| {
            #[allow(clippy::eq_op)]
            if x != x {
                // A NaN, unequal to everything, is a tie group of its own; `rank_average`
                // places NaNs of the same bits in input order.
                let before = xs.iter().filter(|y| cmp(y, &x).is_lt()).count()
                    + xs[..i].iter().filter(|y| cmp(y, &x).is_eq()).count();
                let r = before as f64 + 1.0;
                r >= lo && r <= hi
            } else if x == v_lo {
                in_lo
            } else if x == v_hi {
                in_hi
            } else {
                cmp(&x, &v_lo).is_gt() && cmp(&x, &v_hi).is_lt()
            }
        })
        .collect()
}

/// The average rank of the tie group of `x` among `xs` (ties by `==`, as [`rank_average`]).
fn average_rank_of(xs: &[f64], x: f64) -> f64 {
    average_ranks_of(xs, x, x, f64::total_cmp).0
}

/// The average ranks of the tie groups of `a` and `b` among `xs` (ties by `==`, as
/// [`rank_average`]; smaller by `cmp`), counted in one pass.
fn average_ranks_of<K: Copy + PartialEq>(
    xs: &[K],
    a: K,
    b: K,
    cmp: impl Fn(&K, &K) -> std::cmp::Ordering,
) -> (f64, f64) {
    let (mut less_a, mut equal_a, mut less_b, mut equal_b) = (0usize, 0usize, 0usize, 0usize);
    for &y in xs {
        if y == a {
            equal_a += 1;
        } else if cmp(&y, &a).is_lt() {
            less_a += 1;
        }
        if y == b {
            equal_b += 1;
        } else if cmp(&y, &b).is_lt() {
            less_b += 1;
        }
    }
    // positions less..=less + equal − 1 (0-based), averaged as rank_average does
    let rank = |less: usize, equal: usize| (2 * less + equal.max(1) - 1) as f64 / 2.0 + 1.0;
    (rank(less_a, equal_a), rank(less_b, equal_b))
}

/// Ranks with ties given the smallest of their ranks, 1-based, as R's
/// `rank(x, ties.method = "min")`.
pub fn rank_min(xs: &[f64]) -> Vec<f64> {
    let pairs = sorted_pairs(xs);
    let mut ranks = vec![0.0; xs.len()];
    let mut i = 0;
    while i < pairs.len() {
        let mut j = i;
        while j + 1 < pairs.len() && pairs[j + 1].0 == pairs[i].0 {
            j += 1;
        }
        for &(_, k) in &pairs[i..=j] {
            ranks[k] = (i + 1) as f64;
        }
        i = j + 1;
    }
    ranks
}

/// Pearson correlation of paired values, as R's `cor(x, y)`: centred on the [`mean`]s, sums of
/// cross-products and squares compensated, the result clamped to [−1, 1] as R's `cov.c` does.
/// `None` when the lengths differ, with fewer than two pairs, or when either variable has no
/// spread (R's `NA` with the warning "the standard deviation is zero").
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 2 {
        return None;
    }
    let (mx, my) = (mean(x), mean(y));
    let sxy = sum(x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)));
    let sxx = sum(x.iter().map(|a| (a - mx) * (a - mx)));
    let syy = sum(y.iter().map(|b| (b - my) * (b - my)));
    let d = (sxx * syy).sqrt();
    (d > 0.0).then(|| (sxy / d).clamp(-1.0, 1.0))
}

/// Spearman rank correlation, R's `cor(x, y, method = "spearman")`: [`pearson`] of the
/// [`rank_average`] ranks.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() {
        return None;
    }
    pearson(&rank_average(x), &rank_average(y))
}

/// Linear interpolation of `(x, y)` at `v`, as R's `approx(x, y, v, rule = 2)` (`approx1` in R's
/// C code, including its exact-knot shortcuts); `x` strictly increasing. Outside the range the
/// nearest end value is returned (`rule = 2`); NaN for no knots.
pub fn approx(x: &[f64], y: &[f64], v: f64) -> f64 {
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    /// Neumaier's step as published: Fast2Sum on the larger of the two in magnitude.
    fn neumaier(xs: &[f64]) -> f64 {
        let (mut s, mut c) = (0.0_f64, 0.0_f64);
        for &x in xs {
            let t = s + x;
            if s.abs() >= x.abs() {
                c += (s - t) + x;
            } else {
                c += (x - t) + s;
            }
            s = t;
        }
        if s.is_finite() {
            s + c
        } else {
            s
        }
    }

    proptest! {
        #[test]
        fn twosum_compensation_is_neumaiers_bit_for_bit(
            xs in proptest::collection::vec(
                prop_oneof![
                    -1e3..1e3f64,
                    (-1e300..1e300f64),
                    (-1e-300..1e-300f64),
                    (-20i32..20).prop_map(|e| 3.0_f64.powi(e)),
                    Just(1e308), Just(-1e308), Just(-0.0), Just(5e-324),
                    Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(f64::NAN),
                ],
                0..40,
            ),
        ) {
            let (want, got) = (neumaier(&xs), super::sum(xs.iter().copied()));
            prop_assert!(
                want.to_bits() == got.to_bits() || (want.is_nan() && got.is_nan()),
                "{:?}: Neumaier {} TwoSum {}", xs, want, got
            );
        }
        #[test]
        fn average_rank_within_is_the_rank_test(
            xs in proptest::collection::vec(
                prop_oneof![
                    8 => (-6i32..6).prop_map(|v| f64::from(v) / 2.0),
                    1 => Just(-0.0),
                    8 => -1e3..1e3f64,
                    // with a NaN the values are compared as numbers, without as integer keys
                    1 => Just(f64::NAN),
                ],
                0..60,
            ),
            trim in 0.0..0.5f64,
            shift in -1.0..1.5f64,
        ) {
            let n = xs.len() as f64;
            // TMM's integer bounds, and bounds that are not whole ranks.
            let lo = (n * trim).floor() + 1.0;
            for (lo, hi) in [(lo, n + 1.0 - lo), (lo + shift, n + 0.5 - lo)] {
                let ranks = super::rank_average(&xs);
                let want: Vec<bool> = ranks.iter().map(|&r| r >= lo && r <= hi).collect();
                prop_assert_eq!(super::average_rank_within(&xs, lo, hi), want, "lo {} hi {}", lo, hi);
            }
        }
    }

    #[test]
    fn total_order_key_sorts_as_total_cmp() {
        let mut v = vec![
            3.5,
            -0.0,
            0.0,
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -2.0,
            1e-310,
            -1e-310,
            2.0,
        ];
        let mut w = v.clone();
        v.sort_by(f64::total_cmp);
        w.sort_by_key(|x| super::total_order_key(*x));
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&v), bits(&w));
        assert_eq!(
            rank_average(&[2.0, 1.0, 2.0, -0.0, 0.0]),
            vec![4.5, 3.0, 4.5, 1.5, 1.5]
        );
        assert_eq!(
            rank_min(&[2.0, 1.0, 2.0, -0.0, 0.0]),
            vec![4.0, 3.0, 4.0, 1.0, 1.0]
        );
    }

    use super::*;
    use rand::Rng as _;

    #[test]
    fn quantiles_match_r_type_7() {
        // R: sprintf("%.17g", quantile(c(1, 2, 3, 4, 10), c(0, 0.01, 0.25, 0.5, 0.75, 0.9, 1)))
        //    = 1, 1.04, 2, 3, 4, 7.5999999999999979, 10 (bit for bit)
        let x = [10.0, 2.0, 1.0, 4.0, 3.0];
        let want = [
            (0.0, 1.0),
            (0.01, 1.04),
            (0.25, 2.0),
            (0.5, 3.0),
            (0.75, 4.0),
            (0.9, 7.599999999999998),
            (1.0, 10.0),
        ];
        for (p, q) in want {
            assert_eq!(quantile7(&x, p), q, "p {p}");
        }
        // R: quantile(c(3, 1, 4, 1, 5, 9, 2, 6), c(0.1, 0.25, 0.5, 0.75)) = 1, 1.75, 3.5, 5.25
        let v = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        assert_eq!(quantile7(&v, 0.1), 1.0);
        assert_eq!(quantile7(&v, 0.25), 1.75);
        assert_eq!(quantile7(&v, 0.5), 3.5);
        assert_eq!(quantile7(&v, 0.75), 5.25);
        // R: sprintf("%.17g", quantile(c(0.1, 0.7, 0.2), 0.3)) = "0.16000000000000003"
        assert_eq!(quantile7(&[0.1, 0.7, 0.2], 0.3), 0.16000000000000003);
        assert_eq!(quantile7(&[7.0], 0.3), 7.0);
        assert!(quantile7(&[], 0.5).is_nan());
        assert!(quantile7(&x, 1.5).is_nan());
    }

    #[test]
    fn median_and_mad_match_r() {
        // R: median(c(3, 1, 2, 10)) = 2.5; median(c(5, 1, 3)) = 3
        assert_eq!(median(&[3.0, 1.0, 2.0, 10.0]), 2.5);
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
        assert!(median(&[]).is_nan());
        // R: mad(c(1, 2, 3, 4, 10)) = 1.4826; mad(c(1, 1, 1, 5)) = 0
        assert_eq!(mad(&[1.0, 2.0, 3.0, 4.0, 10.0]), 1.4826);
        assert_eq!(mad(&[1.0, 1.0, 1.0, 5.0]), 0.0);
    }

    #[test]
    fn selection_quantile_equals_sorted_quantile() {
        let mut rng = crate::rng::seeded(5);
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
    }

    #[test]
    fn ranks_average_ties_as_r() {
        // R: rank(c(3, 1, 3, 2)) = 3.5 1.0 3.5 2.0
        assert_eq!(
            rank_average(&[3.0, 1.0, 3.0, 2.0]),
            vec![3.5, 1.0, 3.5, 2.0]
        );
        // R: rank(c(2, 2, 2, 1, 5, 5)) = 3 3 3 1 5.5 5.5
        assert_eq!(
            rank_average(&[2.0, 2.0, 2.0, 1.0, 5.0, 5.0]),
            vec![3.0, 3.0, 3.0, 1.0, 5.5, 5.5]
        );
        assert!(rank_average(&[]).is_empty());
        // R: rank(c(3, 1, 3, 2), ties.method = "min") = 3 1 3 2; rank(c(5, 5, 5), ...) = 1 1 1
        assert_eq!(rank_min(&[3.0, 1.0, 3.0, 2.0]), vec![3.0, 1.0, 3.0, 2.0]);
        assert_eq!(rank_min(&[5.0, 5.0, 5.0]), vec![1.0, 1.0, 1.0]);
    }

    #[test]
    fn mean_and_variance_match_r() {
        assert_eq!(mean(&[1.0, 2.0, 3.0]), 2.0);
        assert!(mean(&[]).is_nan());
        assert!(mean(&[1.0, f64::NAN]).is_nan());
        assert_eq!(mean(&[1.0, f64::INFINITY]), f64::INFINITY);
        // R: sprintf("%.17g", mean(c(0.1, 0.2, 0.3))) = "0.20000000000000001" (the naive
        // (0.1 + 0.2 + 0.3) / 3 is 0.19999999999999998)
        assert_eq!(mean(&[0.1, 0.2, 0.3]), 0.2);
        assert_eq!(var(&[1.0, 2.0, 3.0, 4.0]), Some(5.0 / 3.0));
        // R: var(1) is NA
        assert_eq!(var(&[1.0]), None);
        assert_eq!(var(&[]), None);
        assert_eq!(sd(&[2.0, 4.0]), Some(2.0_f64.sqrt()));
    }

    #[test]
    fn trimmed_mean_matches_r() {
        // R: mean(c(1, 2, 3, 4, 100, -50, 7), trim = 0.15) = 3.4 (one value off each end)
        let x = [1.0, 2.0, 3.0, 4.0, 100.0, -50.0, 7.0];
        assert_eq!(trimmed_mean(&x, 0.15), 3.4);
        // R: mean(1:6, trim = 0.1) = 3.5 (floor(0.6) = 0: nothing trimmed)
        assert_eq!(trimmed_mean(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 0.1), 3.5);
        // R: mean(c(1, 2, 10), trim = 0.5) = 2 (the median)
        assert_eq!(trimmed_mean(&[1.0, 2.0, 10.0], 0.5), 2.0);
        assert!(trimmed_mean(&[], 0.1).is_nan());
    }

    #[test]
    fn compensated_sum_beats_naive() {
        let v = [1e16, 1.0, -1e16, 1.0];
        assert_eq!(sum(v), 2.0);
        // R: sum(c(1, Inf)) = Inf; sum(c(Inf, -Inf)) = NaN
        assert_eq!(sum([1.0, f64::INFINITY]), f64::INFINITY);
        assert!(sum([f64::INFINITY, f64::NEG_INFINITY]).is_nan());
    }

    #[test]
    fn correlations_match_r() {
        // R: sprintf("%.17g", cor(c(1, 2, 3), c(2, 4, 6.5))) = "0.99794871578867328"
        let r = pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.5]).unwrap();
        assert!((r - 0.9979487157886733).abs() < 1e-15, "{r}");
        // R: cor(c(1, 1, 1), 1:3) is NA (zero standard deviation)
        assert_eq!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(pearson(&[1.0], &[1.0]), None);
        assert_eq!(pearson(&[1.0, 2.0], &[1.0]), None);
        assert_eq!(pearson(&[1.0, 2.0], &[2.0, 1.0]), Some(-1.0));
        // R: sprintf("%.17g", cor(1:5, c(5, 6, 7, 8, 7), method = "spearman"))
        //    = "0.82078268166812329"
        let s = spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5.0, 6.0, 7.0, 8.0, 7.0]).unwrap();
        assert!((s - 0.8207826816681233).abs() < 1e-15, "{s}");
    }

    #[test]
    fn approx_hits_knots_exactly() {
        let x = [0.0, 0.5, 1.0];
        let y = [1.0, 2.0, 4.0];
        assert_eq!(approx(&x, &y, 0.5), 2.0);
        assert_eq!(approx(&x, &y, 0.75), 3.0);
        assert_eq!(approx(&x, &y, 1.0), 4.0);
        assert_eq!(approx(&x, &y, -1.0), 1.0);
        assert_eq!(approx(&x, &y, 2.0), 4.0);
    }
}
