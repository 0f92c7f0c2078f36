//! UMAP embedding of samples (McInnes, Healy & Melville 2018, arXiv:1802.03426), following the
//! reference implementation umap-learn (`fuzzy_simplicial_set`, `simplicial_set_embedding`,
//! `optimize_layout_euclidean`):
//!
//! 1. **k nearest neighbours** of every sample by exact Euclidean distance (the sample itself is
//!    its own first neighbour, as in umap-learn); ties go to the lower index.
//! 2. **Fuzzy simplicial set**: per sample, ρ_i is the distance to the nearest other neighbour
//!    and σ_i is found by bisection (64 steps, tolerance 1e-5) so that
//!    `Σ_j exp(−max(0, d_ij − ρ_i)/σ_i) = log₂ k`, bounded below by 1e-3 × the mean neighbour
//!    distance; memberships `exp(−(d_ij − ρ_i)/σ_i)` (1 within ρ_i) are symmetrized by the fuzzy
//!    union `A + Aᵀ − A∘Aᵀ`. Edges below max weight / n_epochs are dropped.
//! 3. **Initialization**: spectral (the eigenvectors 2…d+1 of the symmetric normalized Laplacian
//!    `I − D^{−1/2} A D^{−1/2}`, scaled to a maximum |coordinate| of 10 and jittered by seeded
//!    N(0, 10⁻⁴) noise, as umap-learn) or seeded uniform on [−10, 10]; then every coordinate is
//!    rescaled to [0, 10] (umap-learn ≥ 0.5).
//! 4. **Optimization**: the curve `1/(1 + a d^{2b})` is fitted to the target
//!    `1 if d < min_dist else exp(−(d − min_dist)/spread)` (umap-learn's `find_ab_params`, by
//!    Gauss–Newton with step halving on 300 points of [0, 3·spread]); then `n_epochs` epochs of
//!    stochastic gradient descent with a linearly decaying learning rate sample every edge in
//!    proportion to its weight (attraction, both ends move) and, per sampled edge,
//!    `negative_sample_rate` random samples (repulsion with strength γ), gradients clipped to
//!    ±4 — exactly umap-learn's loop, in f64.
//!
//! Every random draw comes from one ChaCha8 stream seeded by `seed`, and the optimization runs
//! on one thread in a fixed order (umap-learn's seeded mode), so the embedding is byte-identical
//! for a seed whatever the thread count. Distances in an embedding are not interpretable:
//! UMAP keeps neighbourhoods, not distances or densities, so clusters' sizes and the gaps between
//! them carry no meaning.

use evomics_core::rng::{derive_seed, seeded};
use ndarray::{Array2, ArrayView2};
use rand::Rng;
use rand_distr_compat::normal;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{data_err, ensure, Result};
use crate::matrix::{check_matrix, sq_dist, sym_eigen};

/// How the embedding starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UmapInit {
    /// Eigenvectors of the graph's normalized Laplacian (umap-learn's default).
    #[default]
    Spectral,
    /// Seeded uniform coordinates in [−10, 10].
    Random,
}

/// UMAP parameters (defaults are umap-learn's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UmapParams {
    /// Neighbours per sample, itself included, 2 ≤ k < samples (default 15).
    pub n_neighbors: usize,
    /// Embedding dimensions, ≥ 1 (default 2).
    pub n_components: usize,
    /// Smallest distance between embedded points, ≥ 0 and < spread (default 0.1).
    pub min_dist: f64,
    /// Scale of the embedded points, > 0 (default 1).
    pub spread: f64,
    /// Optimization epochs (default 500 up to 10,000 samples, 200 above).
    pub n_epochs: Option<usize>,
    /// Initial learning rate, > 0 (default 1).
    pub learning_rate: f64,
    /// Negative samples per positive sample, ≥ 0 (default 5).
    pub negative_sample_rate: usize,
    /// Weight γ of the repulsion, ≥ 0 (default 1).
    pub repulsion_strength: f64,
    /// Initialization (default spectral).
    pub init: UmapInit,
    /// Seed of the initialization noise and the negative sampling.
    pub seed: u64,
}

impl Default for UmapParams {
    fn default() -> Self {
        UmapParams {
            n_neighbors: 15,
            n_components: 2,
            min_dist: 0.1,
            spread: 1.0,
            n_epochs: None,
            learning_rate: 1.0,
            negative_sample_rate: 5,
            repulsion_strength: 1.0,
            init: UmapInit::Spectral,
            seed: 1,
        }
    }
}

crate::param_guard!(UmapParams);

/// A UMAP embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Umap {
    /// Samples × components.
    pub embedding: Array2<f64>,
    /// Curve parameter a.
    pub a: f64,
    /// Curve parameter b.
    pub b: f64,
    /// Edges of the fuzzy graph that were optimized (each direction counted).
    pub n_edges: usize,
    /// Epochs run.
    pub n_epochs: usize,
}

/// umap-learn's `find_ab_params`: least-squares fit of `1/(1 + a x^{2b})` to the target curve.
pub fn find_ab_params(spread: f64, min_dist: f64) -> (f64, f64) {
    let xs: Vec<f64> = (0..300).map(|i| 3.0 * spread * i as f64 / 299.0).collect();
    let ys: Vec<f64> = xs
        .iter()
        .map(|&x| {
            if x < min_dist {
                1.0
            } else {
                (-(x - min_dist) / spread).exp()
            }
        })
        .collect();
    let sse = |a: f64, b: f64| -> f64 {
        xs.iter()
            .zip(&ys)
            .map(|(&x, &y)| {
                let f = 1.0 / (1.0 + a * x.powf(2.0 * b));
                (f - y) * (f - y)
            })
            .sum()
    };
    let (mut a, mut b) = (1.0, 1.0);
    let mut cur = sse(a, b);
    for _ in 0..500 {
        // Gauss–Newton normal equations for (a, b).
        let (mut jtj, mut jtr) = ([[0.0f64; 2]; 2], [0.0f64; 2]);
        for (&x, &y) in xs.iter().zip(&ys) {
            if x <= 0.0 {
                continue;
            }
            let x2b = x.powf(2.0 * b);
            let den = 1.0 + a * x2b;
            let f = 1.0 / den;
            let da = -x2b / (den * den);
            let db = -a * x2b * 2.0 * x.ln() / (den * den);
            let r = f - y;
            jtj[0][0] += da * da;
            jtj[0][1] += da * db;
            jtj[1][1] += db * db;
            jtr[0] += da * r;
            jtr[1] += db * r;
        }
        jtj[1][0] = jtj[0][1];
        let det = jtj[0][0] * jtj[1][1] - jtj[0][1] * jtj[1][0];
        if det.abs() < 1e-300 {
            break;
        }
        let sa = -(jtj[1][1] * jtr[0] - jtj[0][1] * jtr[1]) / det;
        let sb = -(-jtj[1][0] * jtr[0] + jtj[0][0] * jtr[1]) / det;
        let mut step = 1.0;
        let mut improved = false;
        while step > 1e-10 {
            let (na, nb) = (a + step * sa, b + step * sb);
            if na > 0.0 && nb > 0.0 {
                let v = sse(na, nb);
                if v < cur {
                    let done = (cur - v) < 1e-15 * cur.max(1e-300);
                    a = na;
                    b = nb;
                    cur = v;
                    improved = !done;
                    break;
                }
            }
            step /= 2.0;
        }
        if !improved {
            break;
        }
    }
    (a, b)
}

/// Neighbour indices and distances (row i: k nearest samples of i, nearest first, i itself
/// first), by exact Euclidean distance.
fn knn(x: ArrayView2<f64>, k: usize) -> (Vec<Vec<usize>>, Vec<Vec<f64>>) {
    let n = x.nrows();
    let rows: Vec<(Vec<usize>, Vec<f64>)> = (0..n)
        .into_par_iter()
        .map(|i| {
            let mut d: Vec<(f64, usize)> = (0..n)
                .map(|j| {
                    if i == j {
                        (0.0, j)
                    } else {
                        (sq_dist(x.row(i), x.row(j)).sqrt(), j)
                    }
                })
                .collect();
            // The sample itself first, then by distance, ties to the lower index.
            d.sort_by(|a, b| {
                (a.1 != i)
                    .cmp(&(b.1 != i))
                    .then(a.0.total_cmp(&b.0))
                    .then(a.1.cmp(&b.1))
            });
            d.truncate(k);
            (
                d.iter().map(|v| v.1).collect(),
                d.iter().map(|v| v.0).collect(),
            )
        })
        .collect();
    rows.into_iter().unzip()
}

/// umap-learn's `smooth_knn_dist` (local connectivity 1, bandwidth 1): (σ_i, ρ_i).
fn smooth_knn_dist(dist: &[Vec<f64>], k: usize) -> (Vec<f64>, Vec<f64>) {
    const TOL: f64 = 1e-5;
    const MIN_K_DIST_SCALE: f64 = 1e-3;
    let target = (k as f64).log2();
    let all_mean = {
        let (s, c) = dist
            .iter()
            .flatten()
            .fold((0.0, 0usize), |(s, c), &v| (s + v, c + 1));
        s / c.max(1) as f64
    };
    let mut sigmas = Vec::with_capacity(dist.len());
    let mut rhos = Vec::with_capacity(dist.len());
    for row in dist {
        let rho = row.iter().copied().find(|&v| v > 0.0).unwrap_or(0.0);
        let (mut lo, mut hi, mut mid) = (0.0f64, f64::INFINITY, 1.0f64);
        for _ in 0..64 {
            let mut psum = 0.0;
            for &d in &row[1..] {
                let e = d - rho;
                psum += if e > 0.0 { (-e / mid).exp() } else { 1.0 };
            }
            if (psum - target).abs() < TOL {
                break;
            }
            if psum > target {
                hi = mid;
                mid = (lo + hi) / 2.0;
            } else {
                lo = mid;
                if hi == f64::INFINITY {
                    mid *= 2.0;
                } else {
                    mid = (lo + hi) / 2.0;
                }
            }
        }
        let mean_i = row.iter().sum::<f64>() / row.len() as f64;
        let floor = if rho > 0.0 { mean_i } else { all_mean } * MIN_K_DIST_SCALE;
        sigmas.push(mid.max(floor));
        rhos.push(rho);
    }
    (sigmas, rhos)
}

fn clip(v: f64) -> f64 {
    v.clamp(-4.0, 4.0)
}

mod rand_distr_compat {
    //! A standard normal draw by Box–Muller from the crate's ChaCha8 stream (so no extra
    //! dependency is needed for the initialization jitter).
    use evomics_core::rng::Rng as ChaCha;
    use rand::Rng;

    /// One N(0, 1) draw.
    pub fn normal(rng: &mut ChaCha) -> f64 {
        let u1: f64 = 1.0 - rng.gen::<f64>();
        let u2: f64 = rng.gen::<f64>();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

impl UmapParams {
    /// Check the parameters alone.
    pub fn validate(&self) -> Result<()> {
        const W: &str = "umap";
        ensure(self.n_neighbors >= 2, W, "n_neighbors", || {
            format!("is {}; use at least 2", self.n_neighbors)
        })?;
        ensure(self.n_components >= 1, W, "n_components", || "is 0".into())?;
        ensure(
            self.spread > 0.0 && self.spread.is_finite(),
            W,
            "spread",
            || format!("is {}; use a positive number", self.spread),
        )?;
        ensure(
            self.min_dist >= 0.0 && self.min_dist < self.spread,
            W,
            "min_dist",
            || format!("is {}; use a value in [0, spread)", self.min_dist),
        )?;
        ensure(self.n_epochs != Some(0), W, "n_epochs", || {
            "is 0; use at least 1 or leave it unset".into()
        })?;
        ensure(
            self.learning_rate > 0.0 && self.learning_rate.is_finite(),
            W,
            "learning_rate",
            || format!("is {}; use a positive number", self.learning_rate),
        )?;
        ensure(
            self.repulsion_strength >= 0.0 && self.repulsion_strength.is_finite(),
            W,
            "repulsion_strength",
            || format!("is {}; use a value ≥ 0", self.repulsion_strength),
        )
    }

    /// Embed the samples (rows) of a complete samples × features matrix (or of PCA scores).
    pub fn fit(&self, x: ArrayView2<f64>) -> Result<Umap> {
        self.validate()?;
        check_matrix(x, "umap", 2)?;
        let n = x.nrows();
        if self.n_neighbors >= n {
            return Err(data_err(
                "umap",
                format!(
                    "n_neighbors is {} but there are only {n} samples; use fewer neighbours than samples",
                    self.n_neighbors
                ),
            ));
        }
        let k = self.n_neighbors;
        let n_epochs = self.n_epochs.unwrap_or(if n <= 10_000 { 500 } else { 200 });
        let (idx, dist) = knn(x, k);
        let (sigmas, rhos) = smooth_knn_dist(&dist, k);
        // Directed memberships, then the fuzzy union, as a sorted edge map.
        let mut directed = std::collections::BTreeMap::<(usize, usize), f64>::new();
        for i in 0..n {
            for (&j, &d) in idx[i].iter().zip(&dist[i]) {
                if j == i {
                    continue;
                }
                let v = if d - rhos[i] <= 0.0 || sigmas[i] == 0.0 {
                    1.0
                } else {
                    (-(d - rhos[i]) / sigmas[i]).exp()
                };
                directed.insert((i, j), v);
            }
        }
        let mut graph = std::collections::BTreeMap::<(usize, usize), f64>::new();
        for (&(i, j), &v) in &directed {
            let t = directed.get(&(j, i)).copied().unwrap_or(0.0);
            let w = v + t - v * t;
            graph.insert((i, j), w);
            graph.insert((j, i), w);
        }
        let max_w = graph.values().copied().fold(0.0, f64::max);
        let edges: Vec<(usize, usize, f64)> = graph
            .iter()
            .filter(|(_, &w)| w >= max_w / n_epochs as f64 && w > 0.0)
            .map(|(&(i, j), &w)| (i, j, w))
            .collect();
        if edges.is_empty() {
            return Err(data_err(
                "umap",
                "the neighbour graph has no edge (all samples identical?)",
            ));
        }
        let mut rng = seeded(derive_seed(self.seed, "umap"));
        let d = self.n_components;
        let mut emb = match self.init {
            UmapInit::Spectral => self
                .spectral(n, &edges, &mut rng)
                .unwrap_or_else(|| random_init(n, d, &mut rng)),
            UmapInit::Random => random_init(n, d, &mut rng),
        };
        // umap-learn ≥ 0.5: every coordinate rescaled to [0, 10].
        for c in 0..d {
            let col = emb.column(c);
            let (lo, hi) = col
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                    (l.min(v), h.max(v))
                });
            let span = if hi > lo { hi - lo } else { 1.0 };
            emb.column_mut(c).mapv_inplace(|v| 10.0 * (v - lo) / span);
        }
        let (a, b) = find_ab_params(self.spread, self.min_dist);
        self.optimize(&mut emb, &edges, n_epochs, a, b, &mut rng);
        Ok(Umap {
            embedding: emb,
            a,
            b,
            n_edges: edges.len(),
            n_epochs,
        })
    }

    /// Spectral initialization; None when the eigen decomposition fails.
    fn spectral(
        &self,
        n: usize,
        edges: &[(usize, usize, f64)],
        rng: &mut evomics_core::rng::Rng,
    ) -> Option<Array2<f64>> {
        let d = self.n_components;
        if d + 1 >= n {
            return None;
        }
        let mut adj = Array2::<f64>::zeros((n, n));
        for &(i, j, w) in edges {
            adj[[i, j]] = w;
        }
        let deg: Vec<f64> = adj.rows().into_iter().map(|r| r.sum()).collect();
        let inv: Vec<f64> = deg
            .iter()
            .map(|&v| if v > 0.0 { 1.0 / v.sqrt() } else { 0.0 })
            .collect();
        let lap = Array2::from_shape_fn((n, n), |(i, j)| {
            f64::from(u8::from(i == j)) - inv[i] * adj[[i, j]] * inv[j]
        });
        let (_, vecs) = sym_eigen(lap).ok()?;
        let mut coords = Array2::zeros((n, d));
        for c in 0..d {
            let v = vecs.column(c + 1);
            // A fixed sign: the entry of largest magnitude positive.
            let big = v
                .iter()
                .copied()
                .fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
            let s = if big < 0.0 { -1.0 } else { 1.0 };
            coords.column_mut(c).assign(&v.mapv(|x| s * x));
        }
        let m = coords.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if m.is_nan() || m <= 0.0 || !m.is_finite() {
            return None;
        }
        let expansion = 10.0 / m;
        coords.mapv_inplace(|v| v * expansion);
        for v in coords.iter_mut() {
            *v += 1e-4 * normal(rng);
        }
        Some(coords)
    }

    /// umap-learn's `optimize_layout_euclidean` (move_other = true), in f64.
    fn optimize(
        &self,
        emb: &mut Array2<f64>,
        edges: &[(usize, usize, f64)],
        n_epochs: usize,
        a: f64,
        b: f64,
        rng: &mut evomics_core::rng::Rng,
    ) {
        let n = emb.nrows();
        let d = emb.ncols();
        let max_w = edges.iter().map(|e| e.2).fold(0.0, f64::max);
        let eps: Vec<f64> = edges
            .iter()
            .map(|e| {
                let samples = n_epochs as f64 * e.2 / max_w;
                if samples > 0.0 {
                    n_epochs as f64 / samples
                } else {
                    -1.0
                }
            })
            .collect();
        let rate = self.negative_sample_rate.max(1) as f64;
        let eps_neg: Vec<f64> = eps.iter().map(|v| v / rate).collect();
        let mut next = eps.clone();
        let mut next_neg = eps_neg.clone();
        let gamma = self.repulsion_strength;
        let mut cur = vec![0.0; d];
        for epoch in 0..n_epochs {
            let e = epoch as f64;
            let alpha = self.learning_rate * (1.0 - e / n_epochs as f64);
            for (k, &(j, t, _)) in edges.iter().enumerate() {
                if eps[k] <= 0.0 || next[k] > e {
                    continue;
                }
                let d2: f64 = (0..d).map(|c| (emb[[j, c]] - emb[[t, c]]).powi(2)).sum();
                let coeff = if d2 > 0.0 {
                    -2.0 * a * b * d2.powf(b - 1.0) / (a * d2.powf(b) + 1.0)
                } else {
                    0.0
                };
                for c in 0..d {
                    let g = clip(coeff * (emb[[j, c]] - emb[[t, c]]));
                    emb[[j, c]] += g * alpha;
                    emb[[t, c]] -= g * alpha;
                }
                next[k] += eps[k];
                if self.negative_sample_rate == 0 {
                    continue;
                }
                let n_neg = ((e - next_neg[k]) / eps_neg[k]).floor().max(0.0) as usize;
                for c in 0..d {
                    cur[c] = emb[[j, c]];
                }
                for _ in 0..n_neg {
                    let o = rng.gen_range(0..n);
                    let d2: f64 = (0..d).map(|c| (cur[c] - emb[[o, c]]).powi(2)).sum();
                    let coeff = if d2 > 0.0 {
                        2.0 * gamma * b / ((0.001 + d2) * (a * d2.powf(b) + 1.0))
                    } else if o == j {
                        continue;
                    } else {
                        0.0
                    };
                    for c in 0..d {
                        let g = if coeff > 0.0 {
                            clip(coeff * (cur[c] - emb[[o, c]]))
                        } else {
                            0.0
                        };
                        cur[c] += g * alpha;
                    }
                }
                for c in 0..d {
                    emb[[j, c]] = cur[c];
                }
                next_neg[k] += n_neg as f64 * eps_neg[k];
            }
        }
    }
}

fn random_init(n: usize, d: usize, rng: &mut evomics_core::rng::Rng) -> Array2<f64> {
    Array2::from_shape_fn((n, d), |_| rng.gen_range(-10.0..10.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ab_params_match_umap_learn() {
        // umap-learn 0.5: find_ab_params(1.0, 0.1) = (1.5769434604035877, 0.8950608779914887).
        let (a, b) = find_ab_params(1.0, 0.1);
        assert!(
            (a - 1.5769).abs() < 2e-3 && (b - 0.8951).abs() < 2e-3,
            "{a} {b}"
        );
    }

    #[test]
    fn separated_blobs_stay_separated_and_runs_repeat_exactly() {
        let x = Array2::from_shape_fn((60, 5), |(i, j)| {
            let blob = (i / 20) as f64 * 8.0;
            blob + (((i * 31 + j * 17) % 13) as f64) / 13.0
        });
        let p = UmapParams {
            n_neighbors: 10,
            n_epochs: Some(200),
            seed: 3,
            ..Default::default()
        };
        let u = p.fit(x.view()).unwrap();
        let again = p.fit(x.view()).unwrap();
        assert_eq!(u, again);
        // Each blob's centre is far from the others relative to its spread.
        let centre = |g: usize| -> Vec<f64> {
            (0..2)
                .map(|c| {
                    (g * 20..g * 20 + 20)
                        .map(|i| u.embedding[[i, c]])
                        .sum::<f64>()
                        / 20.0
                })
                .collect()
        };
        let cs: Vec<Vec<f64>> = (0..3).map(centre).collect();
        for g in 0..3 {
            let spread = (g * 20..g * 20 + 20)
                .map(|i| {
                    ((u.embedding[[i, 0]] - cs[g][0]).powi(2)
                        + (u.embedding[[i, 1]] - cs[g][1]).powi(2))
                    .sqrt()
                })
                .fold(0.0, f64::max);
            for h in 0..3 {
                if h != g {
                    let dist =
                        ((cs[g][0] - cs[h][0]).powi(2) + (cs[g][1] - cs[h][1]).powi(2)).sqrt();
                    assert!(dist > spread, "blob {g} vs {h}: {dist} vs {spread}");
                }
            }
        }
    }

    #[test]
    fn bad_input_is_refused() {
        let x = Array2::from_shape_fn((5, 3), |(i, j)| (i + j) as f64);
        assert!(UmapParams::default().fit(x.view()).is_err());
        assert!(UmapParams {
            min_dist: 2.0,
            ..Default::default()
        }
        .validate()
        .is_err());
    }
}
