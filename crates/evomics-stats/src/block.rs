//! Donor blocking at cohort scale: limma's `duplicateCorrelation` and the blocked `lmFit`
//! (`gls.series`) computed from the block structure of the covariance instead of dense n × n
//! algebra.
//!
//! With samples grouped in blocks (donors) and a common within-block correlation ρ, the
//! correlation matrix is block diagonal with compound-symmetry blocks `C_b = (1 − ρ)I + ρJ`.
//! Each block has two eigenvalues: `1 − ρ` on the contrasts within the block and
//! `1 + (m_b − 1)ρ` on its mean, so `C_b^{-1/2} = aI + (c_b − a)J/m_b` with `a = (1 − ρ)^{-1/2}`
//! and `c_b = (1 + (m_b − 1)ρ)^{-1/2}`: whitening a feature is one pass over its observed values
//! (the block means), and the generalized least-squares fit becomes an ordinary one on n × p
//! numbers. limma whitens by the Cholesky factor of the n × n correlation matrix (refactorised
//! for every feature with a missing value); any square root of `V^{-1}` gives the same
//! coefficients, residual variance and unscaled standard deviations, which are all limma reports.
//!
//! `duplicateCorrelation` fits, per feature, statmod's `mixedModel2Fit`: it rotates the
//! (weighted) response into the residual space of the fixed effects, takes the squared singular
//! values `d` of the projected block indicators `Q₂ᵀZ` and the squared rotated residuals `uᵀQ₂ᵀy`,
//! and fits the gamma GLM `E(u²) = σ² + σ²_b d` by statmod's `glmgam.fit`. Those `d` are the
//! eigenvalues of the B × B matrix `Zᵀ(I − H)Z = diag(m_b) − (ZᵀQ₁)(ZᵀQ₁)ᵀ` (B blocks, `H` the hat
//! matrix of the fixed effects), and the rotated residuals of the non-zero `d` are
//! `v_kᵀZᵀr / √d_k` with `r` the least-squares residuals; the `n − p − K` components with
//! `d = 0` share one mean, so the GLM needs only their number and the sum of their squares
//! (`‖r‖²` minus the others). A feature costs O(n·p² + B³) once and O(K) per iteration of the
//! REML fit, instead of an SVD of an (n − p) × B matrix; `glmgam.fit`'s Levenberg–Marquardt
//! schedule, its starting values and its stopping rules are reproduced step by step, so the
//! per-feature correlations are limma's to rounding (the aggregated zero-`d` group changes the
//! deviance by a constant, which no comparison of the schedule sees).
//!
//! References: Smyth, Michaud & Scott (2005) Bioinformatics 21:2067 (duplicateCorrelation);
//! limma 3.54 `duplicateCorrelation`, `gls.series`; statmod 1.5 `mixedModel2Fit`,
//! `glmgam.fit` (Smyth 2002, Statistics and Computing 12:47 for the REML-by-gamma-GLM device).

use evomics_core::num::trimmed_mean;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self_adjoint_evd, self_adjoint_evd_scratch, ComputeEigenvectors};
use rayon::prelude::*;

/// R's `lm.fit` tolerance for a linearly dependent column (LINPACK `dqrdc2`).
const RANK_TOL: f64 = 1e-7;
/// `gls.series` drops observations with weight below this (`M[weights < 1e-15] <- NA`).
const GLS_MIN_WEIGHT: f64 = 1e-15;
/// statmod `mixedModel2Fit`: singular values squared at or below this count as zero.
const D_ZERO: f64 = 1e-15;
/// Eigenvalues of `Zᵀ(I − H)Z` below this fraction of the largest block size are rounding
/// residue of directions the design already spans (R's SVD gives them as ~1e-30).
const EIGEN_ZERO_REL: f64 = 1e-10;
/// `duplicateCorrelation` calls `mixedModel2Fit(…, maxit = 20)`; `glmgam.fit`'s `tol` is 1e-6.
const GLMGAM_MAXIT: usize = 20;
const GLMGAM_TOL: f64 = 1e-6;
/// limma's cap on a per-feature correlation.
const RHO_MAX: f64 = 0.99;
/// `duplicateCorrelation`'s test that the blocks are already in the design.
const ABSORBED_TOL: f64 = 1e-8;

/// Dot product in four interleaved sums (element i to sum i mod 4, added in a fixed order), so
/// the loop vectorizes; the result depends only on the inputs.
#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    for (l, (x, y)) in ra.iter().zip(rb).enumerate() {
        acc[l] += x * y;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// Householder QR with R's `lm.fit` (LINPACK `dqrdc2`) column handling: columns are taken
/// left to right, and a column whose remaining norm is at most 1e-7 of its original norm is
/// set aside as linearly dependent (its coefficient is `NA`).
pub(crate) struct Qr {
    m: usize,
    /// Householder vectors, reflector t occupying `v[t * m + t .. t * m + m]`.
    v: Vec<f64>,
    tau: Vec<f64>,
    /// Upper triangle, row-major `rank × p` (only the first `rank` columns are used).
    r: Vec<f64>,
    p: usize,
    /// Accepted design columns, in order.
    pub(crate) est: Vec<usize>,
}

impl Qr {
    /// Factor a column-major `m × p` matrix (overwritten).
    pub(crate) fn new(a: &mut [f64], m: usize, p: usize) -> Qr {
        let orig: Vec<f64> = (0..p)
            .map(|j| dot(&a[j * m..(j + 1) * m], &a[j * m..(j + 1) * m]).sqrt())
            .collect();
        let mut v = vec![0.0; p.min(m) * m];
        let mut tau = Vec::with_capacity(p.min(m));
        let mut r = vec![0.0; p.min(m) * p];
        let mut est = Vec::with_capacity(p);
        let mut rank = 0usize;
        for j in 0..p {
            if rank == m {
                break;
            }
            let col = &a[j * m + rank..(j + 1) * m];
            let norm = dot(col, col).sqrt();
            if norm == 0.0 || norm <= RANK_TOL * orig[j] {
                continue;
            }
            for i in 0..rank {
                r[i * p + rank] = a[j * m + i];
            }
            let head = a[j * m + rank];
            let alpha = if head >= 0.0 { -norm } else { norm };
            r[rank * p + rank] = alpha;
            let base = rank * m;
            v[base + rank..base + m].copy_from_slice(&a[j * m + rank..(j + 1) * m]);
            v[base + rank] = head - alpha;
            let t = 1.0 / (norm * (norm + head.abs()));
            let hv = &v[base + rank..base + m];
            for jj in (j + 1)..p {
                let col = &mut a[jj * m + rank..(jj + 1) * m];
                let f = dot(hv, col) * t;
                for (c, h) in col.iter_mut().zip(hv) {
                    *c -= f * h;
                }
            }
            tau.push(t);
            est.push(j);
            rank += 1;
        }
        Qr {
            m,
            v,
            tau,
            r,
            p,
            est,
        }
    }

    pub(crate) fn rank(&self) -> usize {
        self.est.len()
    }

    fn reflect(&self, t: usize, z: &mut [f64]) {
        let hv = &self.v[t * self.m + t..(t + 1) * self.m];
        let z = &mut z[t..self.m];
        let f = dot(hv, z) * self.tau[t];
        for (x, h) in z.iter_mut().zip(hv) {
            *x -= f * h;
        }
    }

    /// `z ← Qᵀz`.
    pub(crate) fn qty(&self, z: &mut [f64]) {
        for t in 0..self.rank() {
            self.reflect(t, z);
        }
    }

    /// Coefficients of the accepted columns from the rotated response `Qᵀy`.
    pub(crate) fn solve(&self, qty: &[f64]) -> Vec<f64> {
        let k = self.rank();
        let mut beta = vec![0.0; k];
        for i in (0..k).rev() {
            let row = &self.r[i * self.p..i * self.p + k];
            let s: f64 = qty[i]
                - (i + 1..k)
                    .zip(&beta[i + 1..k])
                    .map(|(t, b)| row[t] * b)
                    .sum::<f64>();
            beta[i] = s / row[i];
        }
        beta
    }

    /// `(RᵀR)^{-1}` of the accepted columns, row-major `rank × rank` (R's
    /// `chol2inv(qr$qr, size = rank)`).
    pub(crate) fn unscaled_cov(&self) -> Vec<f64> {
        let k = self.rank();
        let mut rinv = vec![0.0; k * k];
        for j in 0..k {
            rinv[j * k + j] = 1.0 / self.r[j * self.p + j];
            for i in (0..j).rev() {
                let s: f64 = ((i + 1)..=j)
                    .map(|t| self.r[i * self.p + t] * rinv[t * k + j])
                    .sum();
                rinv[i * k + j] = -s / self.r[i * self.p + i];
            }
        }
        let mut cov = vec![0.0; k * k];
        for a in 0..k {
            for b in a..k {
                let s: f64 = (b..k).map(|t| rinv[a * k + t] * rinv[b * k + t]).sum();
                cov[a * k + b] = s;
                cov[b * k + a] = s;
            }
        }
        cov
    }
}

/// Samples grouped by block: block code per design sample (0-based, dense) and the largest
/// block size over all samples.
#[derive(Debug, Clone)]
pub(crate) struct Blocks {
    pub(crate) codes: Vec<usize>,
    pub(crate) n_blocks: usize,
    pub(crate) max_size: usize,
}

impl Blocks {
    pub(crate) fn new(codes: Vec<usize>) -> Blocks {
        let n_blocks = codes.iter().map(|c| c + 1).max().unwrap_or(0);
        let mut size = vec![0usize; n_blocks];
        for &c in &codes {
            size[c] += 1;
        }
        Blocks {
            codes,
            n_blocks,
            max_size: size.into_iter().max().unwrap_or(0),
        }
    }
}

/// Whiten the observed values of one column in place: `C^{-1/2}` block by block.
/// `obs_block[k]` is the block of the k-th observed value; `shift[b]` is `(c_b − a) / m_b` for
/// the observed size m_b of block b and `a = (1 − ρ)^{-1/2}` (see [`whitening`]).
fn whiten(col: &mut [f64], obs_block: &[usize], a: f64, shift: &[f64], sums: &mut [f64]) {
    sums.iter_mut().for_each(|s| *s = 0.0);
    for (x, &b) in col.iter().zip(obs_block) {
        sums[b] += *x;
    }
    for (x, &b) in col.iter_mut().zip(obs_block) {
        *x = a * *x + shift[b] * sums[b];
    }
}

/// The whitening constants of the observed blocks: `a` and `(c_b − a)/m_b` per block.
fn whitening(count: &[usize], rho: f64) -> (f64, Vec<f64>) {
    let a = 1.0 / (1.0 - rho).sqrt();
    let shift = count
        .iter()
        .map(|&m| {
            if m == 0 {
                0.0
            } else {
                let m = m as f64;
                (1.0 / (1.0 + (m - 1.0) * rho).sqrt() - a) / m
            }
        })
        .collect();
    (a, shift)
}

/// One feature's generalized least-squares fit.
pub(crate) struct GlsGene {
    pub(crate) coef: Vec<f64>,
    pub(crate) stdev: Vec<f64>,
    pub(crate) sigma: f64,
    pub(crate) df: f64,
}

/// The blocked fit of every feature: `gls.series` with `block` and `correlation`, per feature on
/// its observed values (and weights at or above 1e-15), with the design-wide unscaled
/// covariance limma stores (`cov.coefficients`, from the design whitened by the full
/// correlation matrix, without weights).
pub(crate) struct GlsFit {
    pub(crate) genes: Vec<GlsGene>,
    pub(crate) cov: Vec<f64>,
    pub(crate) pivot: Vec<usize>,
    pub(crate) rank: usize,
}

/// Check that the correlation gives a positive definite covariance for every block size.
pub(crate) fn check_correlation(rho: f64, max_size: usize) -> std::result::Result<(), String> {
    if !(rho.is_finite() && rho.abs() < 1.0) {
        return Err(format!("{rho} is not strictly between -1 and 1"));
    }
    if 1.0 + (max_size as f64 - 1.0) * rho <= 0.0 {
        return Err(format!(
            "{rho} makes the covariance of a block of {max_size} samples singular (a negative correlation must exceed -1/(size − 1) = {})",
            -1.0 / (max_size as f64 - 1.0)
        ));
    }
    Ok(())
}

/// Blocked least squares of every feature (`y` row-major `g × n`, NaN = missing; `x` row-major
/// `n × p`; `w` row-major `g × n` weights).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gls_series(
    y: &[f64],
    g: usize,
    x: &[f64],
    n: usize,
    p: usize,
    w: Option<&[f64]>,
    blocks: &Blocks,
    rho: f64,
) -> GlsFit {
    let xt = column_major(x, n, p);
    let genes: Vec<GlsGene> = (0..g)
        .into_par_iter()
        .map(|i| {
            gls_gene(
                &y[i * n..(i + 1) * n],
                w.map(|w| &w[i * n..(i + 1) * n]),
                x,
                &xt,
                n,
                p,
                blocks,
                rho,
            )
        })
        .collect();
    // cov.coefficients: the whole design whitened by the correlation alone
    let all: Vec<usize> = (0..n).collect();
    let (mut a, _) = whitened_design(&xt, n, p, &all, None, &blocks.codes, blocks.n_blocks, rho);
    let qr = Qr::new(&mut a, n, p);
    let mut pivot = qr.est.clone();
    pivot.extend((0..p).filter(|j| !qr.est.contains(j)));
    let (cov, rank) = (qr.unscaled_cov(), qr.rank());
    GlsFit {
        genes,
        cov,
        pivot,
        rank,
    }
}

/// The design rows `obs` (design column-major `xt`, `n` rows), scaled by √w and whitened;
/// column-major `m × p`, with the observed block of each row. Each column is gathered and
/// summed by block in one pass and whitened in a second.
#[allow(clippy::too_many_arguments)]
fn whitened_design(
    xt: &[f64],
    n: usize,
    p: usize,
    obs: &[usize],
    sw: Option<&[f64]>,
    codes: &[usize],
    n_blocks: usize,
    rho: f64,
) -> (Vec<f64>, Vec<usize>) {
    let m = obs.len();
    let obs_block: Vec<usize> = obs.iter().map(|&j| codes[j]).collect();
    let mut count = vec![0usize; n_blocks];
    for &b in &obs_block {
        count[b] += 1;
    }
    let (wa, shift) = whitening(&count, rho);
    let mut a = vec![0.0; m * p];
    let mut sums = vec![0.0; n_blocks];
    for c in 0..p {
        let src = &xt[c * n..(c + 1) * n];
        let col = &mut a[c * m..(c + 1) * m];
        sums.iter_mut().for_each(|v| *v = 0.0);
        match sw {
            Some(sw) => {
                for (k, &j) in obs.iter().enumerate() {
                    let v = sw[k] * src[j];
                    col[k] = v;
                    sums[obs_block[k]] += v;
                }
            }
            None => {
                for (k, &j) in obs.iter().enumerate() {
                    let v = src[j];
                    col[k] = v;
                    sums[obs_block[k]] += v;
                }
            }
        }
        for (v, &b) in col.iter_mut().zip(&obs_block) {
            *v = wa * *v + shift[b] * sums[b];
        }
    }
    (a, obs_block)
}

#[allow(clippy::too_many_arguments)]
fn gls_gene(
    y: &[f64],
    w: Option<&[f64]>,
    x: &[f64],
    xt: &[f64],
    n: usize,
    p: usize,
    blocks: &Blocks,
    rho: f64,
) -> GlsGene {
    let obs: Vec<usize> = (0..n)
        .filter(|&j| {
            y[j].is_finite() && w.is_none_or(|w| w[j].is_finite() && w[j] >= GLS_MIN_WEIGHT)
        })
        .collect();
    let m = obs.len();
    let mut out = GlsGene {
        coef: vec![f64::NAN; p],
        stdev: vec![f64::NAN; p],
        sigma: 0.0,
        df: 0.0,
    };
    if m == 0 {
        return out;
    }
    let sw: Option<Vec<f64>> = w.map(|w| obs.iter().map(|&j| w[j].sqrt()).collect());
    let (mut a, obs_block) = whitened_design(
        xt,
        n,
        p,
        &obs,
        sw.as_deref(),
        &blocks.codes,
        blocks.n_blocks,
        rho,
    );
    let mut z: Vec<f64> = obs
        .iter()
        .enumerate()
        .map(|(k, &j)| sw.as_ref().map_or(1.0, |s| s[k]) * y[j])
        .collect();
    let mut count = vec![0usize; blocks.n_blocks];
    for &b in &obs_block {
        count[b] += 1;
    }
    let mut sums = vec![0.0; blocks.n_blocks];
    let (wa, shift) = whitening(&count, rho);
    whiten(&mut z, &obs_block, wa, &shift, &mut sums);
    if obs
        .iter()
        .all(|&j| x[j * p..(j + 1) * p].iter().all(|v| *v == 0.0))
    {
        out.df = m as f64;
        out.sigma = (z.iter().map(|v| v * v).sum::<f64>() / m as f64).sqrt();
        return out;
    }
    let qr = Qr::new(&mut a, m, p);
    qr.qty(&mut z);
    let k = qr.rank();
    let beta = qr.solve(&z[..k]);
    let cov = qr.unscaled_cov();
    for (t, &j) in qr.est.iter().enumerate() {
        out.coef[j] = beta[t];
        out.stdev[j] = cov[t * k + t].sqrt();
    }
    let df = m - k;
    out.df = df as f64;
    if df > 0 {
        out.sigma = (z[k..].iter().map(|v| v * v).sum::<f64>() / df as f64).sqrt();
    }
    out
}

/// Per-feature within-block correlations (`rho`, before limma's clamping) of
/// `duplicateCorrelation`, `None` where limma has `NA`.
pub(crate) fn feature_correlations(
    y: &[f64],
    g: usize,
    x: &[f64],
    n: usize,
    p: usize,
    w: Option<&[f64]>,
    blocks: &Blocks,
) -> Vec<Option<f64>> {
    let xt = column_major(x, n, p);
    (0..g)
        .into_par_iter()
        .map(|i| {
            reml_gene(
                &y[i * n..(i + 1) * n],
                w.map(|w| &w[i * n..(i + 1) * n]),
                &xt,
                n,
                p,
                blocks,
            )
        })
        .collect()
}

/// Column-major copy of a row-major `n × p` matrix.
fn column_major(x: &[f64], n: usize, p: usize) -> Vec<f64> {
    let mut t = vec![0.0; n * p];
    for j in 0..n {
        for c in 0..p {
            t[c * n + j] = x[j * p + c];
        }
    }
    t
}

/// Whether the block factor lies in the column space of the design (limma then sets the
/// correlation to zero): the treatment-coded block indicators leave nothing above 1e-8 in the
/// design's residual space.
pub(crate) fn block_in_design(x: &[f64], n: usize, p: usize, blocks: &Blocks) -> bool {
    let mut a = vec![0.0; n * p];
    for j in 0..n {
        for c in 0..p {
            a[c * n + j] = x[j * p + c];
        }
    }
    let qr = Qr::new(&mut a, n, p);
    let k = qr.rank();
    for b in 1..blocks.n_blocks {
        let mut z: Vec<f64> = blocks
            .codes
            .iter()
            .map(|&c| if c == b { 1.0 } else { 0.0 })
            .collect();
        qr.qty(&mut z);
        if z[k..].iter().any(|v| v.abs() >= ABSORBED_TOL) {
            return false;
        }
    }
    true
}

/// limma's consensus: per-feature ρ clamped to [1/(1 − max block size) + 0.01, 0.99] (as
/// limma clamps, only when some value is outside), Fisher-transformed, trimmed mean (trim 0.15)
/// of the available ones, transformed back. Returns (consensus, atanh per feature).
pub(crate) fn consensus(rho: &[Option<f64>], max_size: usize) -> (Option<f64>, Vec<Option<f64>>) {
    let rho_min = 1.0 / (1.0 - max_size as f64) + 0.01;
    let z: Vec<Option<f64>> = rho
        .iter()
        .map(|r| r.map(|r| r.clamp(rho_min, RHO_MAX).atanh()))
        .collect();
    let v: Vec<f64> = z.iter().flatten().copied().collect();
    if v.is_empty() {
        return (None, z);
    }
    (Some(trimmed_mean(&v, 0.15).tanh()), z)
}

/// Eigenvalues and eigenvectors (columns, row-major `k × k`) of a symmetric matrix, on one thread.
fn sym_eigen(a: &[f64], k: usize) -> Option<(Vec<f64>, Vec<f64>)> {
    let mat = faer::Mat::<f64>::from_fn(k, k, |i, j| a[i * k + j]);
    let mut u = faer::Mat::<f64>::zeros(k, k);
    let mut s = faer::diag::Diag::<f64>::zeros(k);
    let par = faer::Par::Seq;
    let mut buf = MemBuffer::new(self_adjoint_evd_scratch::<f64>(
        k,
        ComputeEigenvectors::Yes,
        par,
        Default::default(),
    ));
    self_adjoint_evd(
        mat.as_ref(),
        s.as_mut(),
        Some(u.as_mut()),
        par,
        MemStack::new(&mut buf),
        Default::default(),
    )
    .ok()?;
    let vals = (0..k).map(|i| s[i]).collect();
    let mut vecs = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..k {
            vecs[i * k + j] = u[(i, j)];
        }
    }
    Some((vals, vecs))
}

/// The REML problem of one feature reduced to the gamma GLM's data: the non-zero `d` with their
/// squared rotated residuals, and the `d = 0` group's size and sum of squares.
struct Reduced {
    d: Vec<f64>,
    y: Vec<f64>,
    m0: usize,
    s0: f64,
    mq: usize,
}

fn reml_gene(
    y: &[f64],
    w: Option<&[f64]>,
    xt: &[f64],
    n: usize,
    p: usize,
    blocks: &Blocks,
) -> Option<f64> {
    // duplicateCorrelation: weights <= 0 (or not finite) make the value NA
    let obs: Vec<usize> = (0..n)
        .filter(|&j| y[j].is_finite() && w.is_none_or(|w| w[j].is_finite() && w[j] > 0.0))
        .collect();
    let m = obs.len();
    let mut remap = vec![usize::MAX; blocks.n_blocks];
    let mut nb = 0usize;
    let obs_block: Vec<usize> = obs
        .iter()
        .map(|&j| {
            let c = blocks.codes[j];
            if remap[c] == usize::MAX {
                remap[c] = nb;
                nb += 1;
            }
            remap[c]
        })
        .collect();
    if !(m > p + 2 && nb > 1 && nb + 1 < m) {
        return None;
    }
    let sw: Option<Vec<f64>> = w.map(|w| obs.iter().map(|&j| w[j].sqrt()).collect());
    let mut a = vec![0.0; m * p];
    for c in 0..p {
        let src = &xt[c * n..(c + 1) * n];
        let col = &mut a[c * m..(c + 1) * m];
        for (k, &j) in obs.iter().enumerate() {
            col[k] = src[j];
        }
        if let Some(sw) = &sw {
            col.iter_mut().zip(sw).for_each(|(v, s)| *v *= s);
        }
    }
    let ys: Vec<f64> = obs
        .iter()
        .enumerate()
        .map(|(k, &j)| sw.as_ref().map_or(1.0, |s| s[k]) * y[j])
        .collect();
    let red = reduce(&mut a, &ys, &obs_block, m, p, nb)?;
    let varcomp = mixed_model_varcomp(&red)?;
    let rho = varcomp[1] / (varcomp[0] + varcomp[1]);
    // R: rho is NaN when both components are 0; NaN is NA to the trimmed mean
    rho.is_finite().then_some(rho)
}

fn reduce(
    a: &mut [f64],
    ys: &[f64],
    obs_block: &[usize],
    m: usize,
    p: usize,
    nb: usize,
) -> Option<Reduced> {
    // block sums of the (weighted) design rows and response, before the QR overwrites the design
    let mut w = vec![0.0; nb * p];
    let mut size = vec![0.0; nb];
    let mut ysum = vec![0.0; nb];
    for (k, &b) in obs_block.iter().enumerate() {
        size[b] += 1.0;
        ysum[b] += ys[k];
        for c in 0..p {
            w[b * p + c] += a[c * m + k];
        }
    }
    let qr = Qr::new(a, m, p);
    let r = qr.rank();
    let mq = m - r;
    if mq == 0 {
        return None;
    }
    let mut z = ys.to_vec();
    qr.qty(&mut z);
    let rss: f64 = z[r..].iter().map(|v| v * v).sum();
    let beta = qr.solve(&z[..r]);
    // Q₁ = X R⁻¹ on the accepted columns, so ZᵀQ₁ = (ZᵀX) R⁻¹: solve c_bᵀ R = w_bᵀ per block;
    // and the residual block sums are Zᵀ(y − Xβ) = Zᵀy − (ZᵀX)β
    let mut c = vec![0.0; nb * r];
    let mut zr = vec![0.0; nb];
    let mut wb = vec![0.0; r];
    for b in 0..nb {
        for (t, &j) in qr.est.iter().enumerate() {
            wb[t] = w[b * p + j];
        }
        for t in 0..r {
            let mut acc = wb[t];
            for u in 0..t {
                acc -= c[b * r + u] * qr.r[u * p + t];
            }
            c[b * r + t] = acc / qr.r[t * p + t];
        }
        zr[b] = ysum[b] - wb.iter().zip(&beta).map(|(x, y)| x * y).sum::<f64>();
    }
    let mut mat = vec![0.0; nb * nb];
    for i in 0..nb {
        for j in 0..=i {
            let s: f64 = (0..r).map(|t| c[i * r + t] * c[j * r + t]).sum();
            let v = if i == j { size[i] - s } else { -s };
            mat[i * nb + j] = v;
            mat[j * nb + i] = v;
        }
    }
    let (vals, vecs) = sym_eigen(&mat, nb)?;
    let largest = size.iter().copied().fold(0.0, f64::max);
    let mut d = Vec::new();
    let mut yk = Vec::new();
    for (k, &lambda) in vals.iter().enumerate() {
        if lambda > EIGEN_ZERO_REL * largest && lambda > D_ZERO {
            let proj: f64 = (0..nb).map(|b| vecs[b * nb + k] * zr[b]).sum();
            d.push(lambda);
            yk.push(proj * proj / lambda);
        }
    }
    if d.len() > mq {
        // cannot happen in exact arithmetic (rank(QᵀZ) ≤ n − p); keep the largest
        return None;
    }
    let m0 = mq - d.len();
    let s0 = (rss - yk.iter().sum::<f64>()).max(0.0);
    Some(Reduced {
        d,
        y: yk,
        m0,
        s0,
        mq,
    })
}

/// statmod's `mixedModel2Fit(only.varcomp = TRUE, maxit = 20)` on the reduced data: the
/// least-squares start, the test for a usable spread of `d`, then `glmgam.fit`. `None` is NA.
fn mixed_model_varcomp(red: &Reduced) -> Option<[f64; 2]> {
    let mq = red.mq as f64;
    let sum_d: f64 = red.d.iter().sum();
    let sum_dd: f64 = red.d.iter().map(|d| d * d).sum();
    let sum_y: f64 = red.y.iter().sum::<f64>() + red.s0;
    let dbar = sum_d / mq;
    let ybar = sum_y / mq;
    // lm.fit(cbind(1, d), dy): the d column is aliased (NA) when it is constant
    let sdd = sum_dd - sum_d * dbar; // Σ (d − d̄)²
    let norm_d = sum_dd.sqrt();
    let aliased = sdd.is_nan() || sdd <= 0.0 || sdd.sqrt() <= RANK_TOL * norm_d;
    let start = if aliased {
        [ybar, f64::NAN]
    } else {
        let sdy: f64 = red
            .d
            .iter()
            .zip(&red.y)
            .map(|(d, y)| (d - dbar) * (y - ybar))
            .sum::<f64>()
            - dbar * (red.s0 - red.m0 as f64 * ybar);
        let b1 = sdy / sdd;
        [ybar - b1 * dbar, b1]
    };
    let n_nonzero = red.d.iter().filter(|d| d.abs() > D_ZERO).count();
    let var_d = if red.mq > 1 {
        sdd / (mq - 1.0)
    } else {
        f64::NAN
    };
    if !(red.mq > 2 && n_nonzero > 1 && var_d > D_ZERO) {
        return if start[1].is_nan() { None } else { Some(start) };
    }
    let fitted_ok =
        (red.m0 == 0 || start[0] >= 0.0) && red.d.iter().all(|d| start[0] + start[1] * d >= 0.0);
    let coef_start = if fitted_ok { start } else { [ybar, 0.0] };
    glmgam_fit(red, coef_start)
}

/// Gamma deviance of the reduced data; the `d = 0` group enters with its mean, which differs
/// from its members' deviance by a constant (and is ≥ 0).
fn deviance(red: &Reduced, mu_d: &[f64], mu0: f64) -> f64 {
    if mu0 < 0.0 || mu_d.iter().any(|m| *m < 0.0) {
        return f64::INFINITY;
    }
    let term = |y: f64, mu: f64| (y - mu) / mu - (y / mu).ln();
    let mut all_zero = true;
    let mut dev = 0.0;
    for (&y, &mu) in red.y.iter().zip(mu_d) {
        if y < 1e-15 && mu < 1e-15 {
            continue;
        }
        all_zero = false;
        dev += term(y, mu);
    }
    if red.m0 > 0 {
        let ybar0 = red.s0 / red.m0 as f64;
        if !(ybar0 < 1e-15 && mu0 < 1e-15) {
            all_zero = false;
            dev += red.m0 as f64 * term(ybar0, mu0);
        }
    }
    if all_zero {
        0.0
    } else {
        2.0 * dev
    }
}

/// statmod's `glmgam.fit(X, y, coef.start, tol = 1e-6, maxit = 20)` for `X = cbind(1, d)`:
/// Levenberg-damped Fisher scoring of a gamma GLM with identity link, step for step.
fn glmgam_fit(red: &Reduced, start: [f64; 2]) -> Option<[f64; 2]> {
    if red.s0 <= 0.0 && red.y.iter().all(|y| *y <= 0.0) {
        return Some([0.0, 0.0]);
    }
    let m0 = red.m0 as f64;
    let ybar0 = if red.m0 > 0 { red.s0 / m0 } else { 0.0 };
    let fitted = |b: [f64; 2]| -> (Vec<f64>, f64) {
        (red.d.iter().map(|d| b[0] + b[1] * d).collect(), b[0])
    };
    let max_mu = |mu_d: &[f64], mu0: f64| -> f64 {
        let mut mx = if red.m0 > 0 { mu0 } else { f64::NEG_INFINITY };
        for &v in mu_d {
            mx = mx.max(v);
        }
        mx
    };
    let mut beta = start;
    let (mut mu_d, mut mu0) = fitted(beta);
    if (red.m0 > 0 && mu0 < 0.0) || mu_d.iter().any(|v| *v < 0.0) {
        return None;
    }
    let mut dev = deviance(red, &mu_d, mu0);
    let mut lambda = 0.0;
    let mut iter = 0usize;
    loop {
        iter += 1;
        let mut vmax = if red.m0 > 0 { mu0 * mu0 } else { 0.0 };
        for v in &mu_d {
            vmax = vmax.max(v * v);
        }
        let floor = vmax / 1e3;
        let v0 = (mu0 * mu0).max(floor);
        let vd: Vec<f64> = mu_d.iter().map(|v| (v * v).max(floor)).collect();
        // XVX and the score
        let (mut i00, mut i01, mut i11) = (0.0, 0.0, 0.0);
        let (mut s0, mut s1) = (0.0, 0.0);
        for ((d, y), (mu, v)) in red.d.iter().zip(&red.y).zip(mu_d.iter().zip(&vd)) {
            i00 += 1.0 / v;
            i01 += d / v;
            i11 += d * d / v;
            let rr = (y - mu) / v;
            s0 += rr;
            s1 += d * rr;
        }
        if red.m0 > 0 {
            i00 += m0 / v0;
            s0 += m0 * (ybar0 - mu0) / v0;
        }
        let max_info = i00.max(i11);
        if iter == 1 {
            lambda = ((i00 + i11) / 2.0).abs() / 2.0;
        }
        let beta_old = beta;
        let dev_old = dev;
        let mut lev = 0usize;
        let mut step;
        let mut overdamped = false;
        loop {
            lev += 1;
            // chol(XVX + λI); fails (R: error, NA) when not positive definite
            let a = i00 + lambda;
            let c = i11 + lambda;
            let det = a * c - i01 * i01;
            if !(a > 0.0 && det > 0.0) {
                return None;
            }
            step = [(c * s0 - i01 * s1) / det, (a * s1 - i01 * s0) / det];
            beta = [beta_old[0] + step[0], beta_old[1] + step[1]];
            (mu_d, mu0) = fitted(beta);
            dev = deviance(red, &mu_d, mu0);
            if dev <= dev_old || dev / max_mu(&mu_d, mu0) < 1e-15 {
                break;
            }
            if lambda / max_info > 1e15 {
                beta = beta_old;
                overdamped = true;
                break;
            }
            lambda *= 2.0;
        }
        if overdamped || lambda / max_info > 1e15 {
            break;
        }
        if lev == 1 {
            lambda /= 10.0;
        }
        if s0 * step[0] + s1 * step[1] < GLMGAM_TOL || dev / max_mu(&mu_d, mu0) < 1e-15 {
            break;
        }
        if iter > GLMGAM_MAXIT {
            break;
        }
    }
    (beta[0].is_finite() && beta[1].is_finite()).then_some(beta)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dense reference for one feature: statmod's mixedModel2Fit with the SVD of Q₂ᵀZ, as
    /// edge-rs computes it.
    fn dense_rho(y: &[f64], x: &[f64], n: usize, p: usize, codes: &[usize]) -> Option<f64> {
        let nb = codes.iter().max().unwrap() + 1;
        let block: Vec<usize> = codes.to_vec();
        let r =
            edge_rs::limma::array_weights::duplicate_correlation(y, 1, n, x, p, &block, None, 0.0)
                .ok()?;
        let _ = nb;
        Some(r)
    }

    fn lcg(seed: &mut u64) -> f64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 11) as f64) / ((1u64 << 53) as f64)
    }

    fn normal(seed: &mut u64) -> f64 {
        let u1 = lcg(seed).max(1e-300);
        let u2 = lcg(seed);
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Two groups, donors nested and crossing, unequal block sizes.
    fn setup(n_donor: usize, seed: &mut u64) -> (Vec<f64>, Vec<usize>, usize, usize) {
        let mut codes = Vec::new();
        for d in 0..n_donor {
            for _ in 0..(2 + d % 3) {
                codes.push(d);
            }
        }
        let n = codes.len();
        let p = 3;
        let mut x = vec![0.0; n * p];
        for j in 0..n {
            x[j * p] = 1.0;
            x[j * p + 1] = f64::from(u8::from(codes[j] % 2 == 0));
            x[j * p + 2] = normal(seed);
        }
        (x, codes, n, p)
    }

    #[test]
    fn reduced_reml_equals_the_dense_fit() {
        let mut seed = 7u64;
        let (x, codes, n, p) = setup(9, &mut seed);
        let blocks = Blocks::new(codes.clone());
        for _ in 0..25 {
            let donor: Vec<f64> = (0..9).map(|_| normal(&mut seed)).collect();
            let y: Vec<f64> = (0..n)
                .map(|j| 5.0 + 0.7 * donor[codes[j]] + normal(&mut seed))
                .collect();
            let ours = reml_gene(&y, None, &column_major(&x, n, p), n, p, &blocks).map(|r| {
                let rho_min = 1.0 / (1.0 - blocks.max_size as f64) + 0.01;
                r.clamp(rho_min, RHO_MAX)
            });
            let dense = dense_rho(&y, &x, n, p, &codes);
            match (ours, dense) {
                (Some(a), Some(b)) => assert!((a - b).abs() < 1e-10, "{a} vs {b}"),
                (a, b) => panic!("{a:?} vs {b:?}"),
            }
        }
    }

    #[test]
    fn blocked_fit_equals_dense_gls() {
        let mut seed = 11u64;
        let (x, codes, n, p) = setup(7, &mut seed);
        let blocks = Blocks::new(codes.clone());
        let g = 6;
        let mut y: Vec<f64> = (0..g * n).map(|_| normal(&mut seed) + 3.0).collect();
        y[3] = f64::NAN;
        y[n + 1] = f64::NAN;
        y[n + 5] = f64::NAN;
        let w: Vec<f64> = (0..g * n).map(|_| 0.5 + lcg(&mut seed)).collect();
        for rho in [0.3, -0.1] {
            for weights in [None, Some(w.as_slice())] {
                let ours = gls_series(&y, g, &x, n, p, weights, &blocks, rho);
                let rec = weights
                    .map(|w| edge_rs::utils::recycled::Recycled::full(w.to_vec(), g, n).unwrap());
                let dense = edge_rs::limma::lm_fit::lm_fit(
                    &y,
                    g,
                    n,
                    &x,
                    p,
                    rec.as_ref(),
                    Some(&codes),
                    Some(rho),
                )
                .unwrap();
                for i in 0..g {
                    let gi = &ours.genes[i];
                    assert!((gi.sigma - dense.sigma[i]).abs() < 1e-10 * dense.sigma[i]);
                    assert_eq!(gi.df, dense.df_residual[i]);
                    for c in 0..p {
                        let (a, b) = (gi.coef[c], dense.coefficients[i * p + c]);
                        assert!((a - b).abs() < 1e-10 * (1.0 + b.abs()), "{a} {b}");
                        let (a, b) = (gi.stdev[c], dense.stdev_unscaled[i * p + c]);
                        assert!((a - b).abs() < 1e-10 * b, "{a} {b}");
                    }
                }
                assert_eq!(ours.rank, dense.rank);
                for (a, b) in ours.cov.iter().zip(&dense.cov_coefficients) {
                    assert!((a - b).abs() < 1e-10 * (1.0 + b.abs()), "{a} {b}");
                }
            }
        }
    }

    #[test]
    fn qr_sets_aside_dependent_columns() {
        // column 2 = column 0 + column 1
        let m = 5;
        let mut a = vec![
            1.0, 1.0, 1.0, 1.0, 1.0, // c0
            0.0, 1.0, 0.0, 1.0, 2.0, // c1
            1.0, 2.0, 1.0, 2.0, 3.0, // c2
            0.3, -1.0, 2.0, 0.5, 1.0, // c3
        ];
        let qr = Qr::new(&mut a, m, 4);
        assert_eq!(qr.est, vec![0, 1, 3]);
    }

    #[test]
    fn consensus_trims_and_clamps() {
        let rho = [Some(0.2), None, Some(0.999), Some(0.1), Some(0.3)];
        let (c, z) = consensus(&rho, 3);
        assert_eq!(z[1], None);
        assert!((z[2].unwrap() - 0.99f64.atanh()).abs() < 1e-15);
        // 4 values, trim 0.15: floor(0.6) = 0 dropped at each end
        let want =
            ((0.2f64.atanh() + 0.99f64.atanh() + 0.1f64.atanh() + 0.3f64.atanh()) / 4.0).tanh();
        assert!((c.unwrap() - want).abs() < 1e-15);
        assert_eq!(consensus(&[None, None], 3).0, None);
    }

    #[test]
    fn correlation_is_checked_against_block_sizes() {
        assert!(check_correlation(0.5, 10).is_ok());
        assert!(check_correlation(-0.2, 10).is_err());
        assert!(check_correlation(1.0, 2).is_err());
        assert!(check_correlation(f64::NAN, 2).is_err());
    }
}
