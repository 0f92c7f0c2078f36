//! Per-feature effects shared by both layers (source, conditioning, batch) and draw helpers.

use rand::seq::index;
use rand::Rng as _;
use rand_distr::StandardNormal;

use evomics_core::rng::Rng;

use crate::params::SimParams;

/// `mean + sd · z` with z standard normal.
pub(crate) fn normal(rng: &mut Rng, mean: f64, sd: f64) -> f64 {
    let z: f64 = rng.sample(StandardNormal);
    mean + sd * z
}

/// Uniform on `[lo, hi)`; `lo` when the range is empty (never panics).
pub(crate) fn uniform(rng: &mut Rng, [lo, hi]: [f64; 2]) -> f64 {
    lo + (hi - lo) * rng.gen::<f64>()
}

/// Log-uniform on `[lo, hi)` for `0 < lo ≤ hi`.
pub(crate) fn log_uniform(rng: &mut Rng, [lo, hi]: [f64; 2]) -> f64 {
    uniform(rng, [lo.ln(), hi.ln()]).exp()
}

/// `+1` with probability `p_positive`, else `-1`.
pub(crate) fn sign(rng: &mut Rng, p_positive: f64) -> f64 {
    if rng.gen::<f64>() < p_positive {
        1.0
    } else {
        -1.0
    }
}

/// z-scores over samples (n − 1 denominator); a row without spread contributes zeros.
pub(crate) fn zscore(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    if n < 2 {
        return vec![0.0; n];
    }
    let mean = x.iter().sum::<f64>() / n as f64;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let sd = var.sqrt();
    if sd > 0.0 && sd.is_finite() {
        x.iter().map(|v| (v - mean) / sd).collect()
    } else {
        vec![0.0; n]
    }
}

/// ln Γ(x) for x ≥ 1 (Stirling series with upward shift, as in numpy's `random_loggam`).
fn ln_gamma(x: f64) -> f64 {
    const A: [f64; 10] = [
        8.333333333333333e-02,
        -2.777777777777778e-03,
        7.936507936507937e-04,
        -5.952380952380952e-04,
        8.417508417508418e-04,
        -1.917526917526918e-03,
        6.410_256_410_256_41e-3,
        -2.955065359477124e-02,
        1.796443723688307e-01,
        -1.392_432_216_905_9,
    ];
    if x == 1.0 || x == 2.0 {
        return 0.0;
    }
    let n = if x <= 7.0 { (7.0 - x).floor() } else { 0.0 };
    let mut x0 = x + n;
    let x2 = 1.0 / (x0 * x0);
    let mut gl0 = A[9];
    for a in A[..9].iter().rev() {
        gl0 = gl0 * x2 + a;
    }
    let mut gl = gl0 / x0 + 0.5 * (2.0 * std::f64::consts::PI).ln() + (x0 - 0.5) * x0.ln() - x0;
    for _ in 0..n as usize {
        gl -= (x0 - 1.0).ln();
        x0 -= 1.0;
    }
    gl
}

/// One Poisson(λ) draw. rand_distr 0.4's sampler costs ~300 ns (a log-gamma per call and per
/// rejection), which dominated large cohorts; this is inversion for λ < 10 and Hörmann's PTRS
/// transformed rejection (1993) for λ ≥ 10, the pair numpy uses. λ ≤ 0 or NaN gives 0.
pub(crate) fn poisson(rng: &mut Rng, lambda: f64) -> f64 {
    if lambda.is_nan() || lambda <= 0.0 {
        return 0.0;
    }
    if lambda < 10.0 {
        let mut u: f64 = rng.gen();
        let mut p = (-lambda).exp();
        let mut k = 0.0;
        // p reaches 0 only through rounding in the far tail; stop there rather than loop.
        while u > p && p > 0.0 {
            u -= p;
            k += 1.0;
            p *= lambda / k;
        }
        return k;
    }
    let slam = lambda.sqrt();
    let loglam = lambda.ln();
    let b = 0.931 + 2.53 * slam;
    let a = -0.059 + 0.02483 * b;
    let inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
    let vr = 0.9277 - 3.6224 / (b - 2.0);
    loop {
        let u = rng.gen::<f64>() - 0.5;
        let v: f64 = rng.gen();
        let us = 0.5 - u.abs();
        let k = ((2.0 * a / us + b) * u + lambda + 0.43).floor();
        if us >= 0.07 && v <= vr {
            return k;
        }
        if k.is_nan() || k < 0.0 || (us < 0.013 && v > us) {
            continue;
        }
        if v.ln() + inv_alpha.ln() - (a / (us * us) + b).ln()
            <= -lambda + k * loglam - ln_gamma(k + 1.0)
        {
            return k;
        }
    }
}

/// Row-major per-feature effect tables of one layer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FeatureEffects {
    pub n_sources: usize,
    pub n_conditionings: usize,
    pub n_batches: usize,
    /// n_features × n_sources.
    pub source: Vec<f64>,
    /// n_features × n_conditionings.
    pub conditioning: Vec<f64>,
    /// n_features × n_batches.
    pub batch: Vec<f64>,
}

fn any_nonzero(row: &[f64]) -> bool {
    row.iter().any(|&v| v != 0.0)
}

impl FeatureEffects {
    pub fn source_row(&self, i: usize) -> &[f64] {
        &self.source[i * self.n_sources..(i + 1) * self.n_sources]
    }
    pub fn conditioning_row(&self, i: usize) -> &[f64] {
        &self.conditioning[i * self.n_conditionings..(i + 1) * self.n_conditionings]
    }
    pub fn batch_row(&self, i: usize) -> &[f64] {
        &self.batch[i * self.n_batches..(i + 1) * self.n_batches]
    }
    pub fn add_source(&mut self, i: usize, s: usize, v: f64) {
        self.source[i * self.n_sources + s] += v;
    }
    pub fn add_conditioning(&mut self, i: usize, c: usize, v: f64) {
        self.conditioning[i * self.n_conditionings + c] += v;
    }
    pub fn is_source_de(&self, i: usize) -> bool {
        any_nonzero(self.source_row(i))
    }
    pub fn is_conditioning_de(&self, i: usize) -> bool {
        any_nonzero(self.conditioning_row(i))
    }
    pub fn is_batch_affected(&self, i: usize) -> bool {
        any_nonzero(self.batch_row(i))
    }
}

/// Draw source-DE, conditioning and batch effects for `eligible.len()` features.
///
/// Source DE: `round(source_de_fraction · n_eligible)` eligible features; each has between 1 and
/// k−1 deviating sources (so at least one source stays at the base), each deviating by ±U(range).
/// Conditioning: `round(conditioning_de_fraction · n_eligible)` eligible features with N(0, sd)
/// effects in every non-reference conditioning. Batch: `round(batch_affected_fraction · n)` of all
/// features with N(0, sd) effects in every batch (none with a single batch).
pub(crate) fn draw_effects(rng: &mut Rng, eligible: &[bool], p: &SimParams) -> FeatureEffects {
    let n = eligible.len();
    let (k, c, b) = (p.sources.len(), p.conditionings.len(), p.n_batches);
    let e = &p.effects;
    let elig: Vec<usize> = (0..n).filter(|&i| eligible[i]).collect();
    let count = |frac: f64, of: usize| ((frac * of as f64).round() as usize).min(of);

    let mut fx = FeatureEffects {
        n_sources: k,
        n_conditionings: c,
        n_batches: b,
        source: vec![0.0; n * k],
        conditioning: vec![0.0; n * c],
        batch: vec![0.0; n * b],
    };
    if k >= 2 {
        for pick in index::sample(rng, elig.len(), count(e.source_de_fraction, elig.len())) {
            let f = elig[pick];
            let m = rng.gen_range(1..k);
            for s in index::sample(rng, k, m) {
                let v = sign(rng, 0.5) * uniform(rng, e.source_effect_log2);
                fx.source[f * k + s] = v;
            }
        }
    }
    if c >= 2 {
        for pick in index::sample(
            rng,
            elig.len(),
            count(e.conditioning_de_fraction, elig.len()),
        ) {
            let f = elig[pick];
            for cc in 1..c {
                fx.conditioning[f * c + cc] = normal(rng, 0.0, e.conditioning_sd_log2);
            }
        }
    }
    if b >= 2 {
        for f in index::sample(rng, n, count(e.batch_affected_fraction, n)) {
            for bb in 0..b {
                fx.batch[f * b + bb] = normal(rng, 0.0, e.batch_sd_log2);
            }
        }
    }
    fx
}

#[cfg(test)]
mod tests {
    use super::*;
    use evomics_core::rng::seeded;

    #[test]
    fn zscore_handles_constant_rows() {
        assert_eq!(zscore(&[2.0, 2.0, 2.0]), vec![0.0; 3]);
        assert_eq!(zscore(&[1.0]), vec![0.0]);
        let z = zscore(&[1.0, 2.0, 3.0]);
        assert!((z[0] + 1.0).abs() < 1e-12 && z[1].abs() < 1e-12);
    }

    #[test]
    fn effect_shares() {
        let p = SimParams::default();
        let mut eligible = vec![true; 1000];
        eligible[..10].iter_mut().for_each(|e| *e = false);
        let fx = draw_effects(&mut seeded(5), &eligible, &p);
        let de = (0..1000).filter(|&i| fx.is_source_de(i)).count();
        assert_eq!(de, 99);
        assert!((0..10).all(|i| !fx.is_source_de(i) && !fx.is_conditioning_de(i)));
        for i in (0..1000).filter(|&i| fx.is_source_de(i)) {
            // at least one source stays at the base
            assert!(fx.source_row(i).contains(&0.0));
        }
        let cd = (0..1000).filter(|&i| fx.is_conditioning_de(i)).count();
        assert_eq!(cd, 30);
        assert!((0..1000).all(|i| fx.conditioning_row(i)[0] == 0.0));
        let ba = (0..1000).filter(|&i| fx.is_batch_affected(i)).count();
        assert_eq!(ba, 600);
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        let mut f = 1.0f64;
        for k in 1..30 {
            f *= k as f64;
            let got = ln_gamma(k as f64 + 1.0);
            assert!((got - f.ln()).abs() < 1e-10 * f.ln().max(1.0), "{k}: {got}");
        }
        assert!((ln_gamma(0.5 + 1.0) - 0.886_226_925_452_758f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn poisson_moments() {
        let mut rng = seeded(11);
        for lambda in [0.05, 1.0, 7.5, 10.0, 37.0, 2_500.0, 1e6] {
            let n = 40_000;
            let xs: Vec<f64> = (0..n).map(|_| poisson(&mut rng, lambda)).collect();
            assert!(xs.iter().all(|&x| x >= 0.0 && x.fract() == 0.0));
            let mean = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            let se = (lambda / n as f64).sqrt();
            assert!((mean - lambda).abs() < 5.0 * se, "λ={lambda}: mean {mean}");
            assert!((var / lambda - 1.0).abs() < 0.05, "λ={lambda}: var {var}");
        }
        assert_eq!(poisson(&mut rng, 0.0), 0.0);
        assert_eq!(poisson(&mut rng, f64::NAN), 0.0);
        assert_eq!(poisson(&mut rng, -1.0), 0.0);
    }

    #[test]
    fn helpers_never_panic_on_empty_ranges() {
        let mut rng = seeded(1);
        assert_eq!(uniform(&mut rng, [2.0, 2.0]), 2.0);
        let v = log_uniform(&mut rng, [1e5, 5e6]);
        assert!((1e5..5e6).contains(&v));
    }
}
