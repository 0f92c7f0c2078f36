//! k-means with k-means++ seeding and several seeded restarts.
//!
//! - Seeding: k-means++ (Arthur & Vassilvitskii 2007, *SODA*): the first centre uniformly, each
//!   next one with probability proportional to the squared distance to the nearest chosen centre.
//! - Iterations, by `algorithm`:
//!   - `lloyd` (Lloyd 1982, *IEEE Trans Inf Theory* 28:129): assign every point to its nearest
//!     centre, recompute the centres, until no assignment changes;
//!   - `hartigan` (Hartigan & Wong 1979, *Appl Stat* 28:100, the criterion R's default
//!     `kmeans(algorithm = "Hartigan-Wong")` optimises): starting from Lloyd's solution, visit
//!     the points in order and move point x from cluster a to the cluster b that minimises
//!     `n_b/(n_b+1)·|x − c_b|² − n_a/(n_a−1)·|x − c_a|²` when that is negative, updating both
//!     centres at once; repeat until a full pass moves nothing. Every move strictly lowers the
//!     within-cluster sum of squares, so it never ends worse than Lloyd. (R's implementation adds
//!     "live set" bookkeeping for speed; the fixed point criterion is the same.)
//! - Restarts: `n_init` runs from seeds `derive_seed(seed, "kmeans/<run>")`; the run with the
//!   lowest total within-cluster sum of squares wins (the first on ties).
//!
//! - Distances: when there are fewer samples than features (omics: thousands of features,
//!   hundreds or a few thousand samples) and at most 4,096 samples, every distance comes from
//!   the Gram matrix `G = X Xᵀ`, computed once for all restarts: `|x_i − c_a|² = g_ii −
//!   2/n_a Σ_{m∈a} g_im + 1/n_a² Σ_{m,m'∈a} g_mm'` (kernel k-means with the linear kernel;
//!   Dhillon, Guan & Kulis 2004, *KDD*). A Lloyd iteration then costs O(n²) instead of
//!   O(k·n·p) and a Hartigan move O(n); the steps and the objective are the same as with
//!   explicit centres, only rounding differs. Centres, sums of squares and the winning run are
//!   computed from `X` itself.
//!
//! Labels are renumbered in order of first appearance, so equal partitions give equal labels.
//! The restarts run in parallel (rayon), each from its own seed, and the winner is chosen in run
//! order; the Gram product is computed in fixed row blocks. The same seed gives bit-identical
//! results for any number of threads.

use evomics_core::rng::{derive_seed, seeded, Rng};
use ndarray::{Array1, Array2, ArrayView2};
use rand::Rng as _;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{data_err, ensure, Result};
use crate::matrix::{centred_gram, check_matrix, sq_dist};

/// The iteration scheme of k-means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum KMeansAlgorithm {
    /// Lloyd's batch assignments.
    Lloyd,
    /// Lloyd followed by Hartigan's single-point transfers (default).
    #[default]
    Hartigan,
}

/// k-means parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KMeansParams {
    /// Number of clusters, ≥ 1.
    pub k: usize,
    /// Number of seeded restarts, ≥ 1 (default 10).
    pub n_init: usize,
    /// Maximum Lloyd iterations per run, ≥ 1 (default 100).
    pub max_iter: usize,
    /// Iteration scheme (default Hartigan).
    pub algorithm: KMeansAlgorithm,
    /// Seed of the k-means++ draws.
    pub seed: u64,
}

impl Default for KMeansParams {
    fn default() -> Self {
        KMeansParams {
            k: 2,
            n_init: 10,
            max_iter: 100,
            algorithm: KMeansAlgorithm::Hartigan,
            seed: 1,
        }
    }
}

/// A fitted k-means partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KMeans {
    /// Cluster centres, k × features (rows in label order).
    pub centroids: Array2<f64>,
    /// Label of every training row, 0..k in order of first appearance.
    pub labels: Vec<usize>,
    /// Total within-cluster sum of squares.
    pub inertia: f64,
    /// Within-cluster sum of squares per cluster.
    pub within_ss: Vec<f64>,
    /// Cluster sizes.
    pub sizes: Vec<usize>,
    /// Lloyd iterations of the winning run.
    pub n_iter: usize,
    /// Whether the winning run converged before `max_iter`.
    pub converged: bool,
}

impl KMeansParams {
    /// A k-means with `k` clusters and the given seed, other parameters at their defaults.
    pub fn new(k: usize, seed: u64) -> KMeansParams {
        KMeansParams {
            k,
            seed,
            ..Default::default()
        }
    }

    /// Check the parameters alone.
    pub fn validate(&self) -> Result<()> {
        ensure(self.k >= 1, "k-means", "k", || {
            "is 0; ask for at least one cluster".into()
        })?;
        ensure(self.n_init >= 1, "k-means", "n_init", || {
            "is 0; run at least once".into()
        })?;
        ensure(self.max_iter >= 1, "k-means", "max_iter", || {
            "is 0; allow at least one iteration".into()
        })
    }

    /// Partition the rows of a complete matrix.
    pub fn fit(&self, x: ArrayView2<f64>) -> Result<KMeans> {
        self.validate()?;
        check_matrix(x, "k-means", 1)?;
        let n = x.nrows();
        if self.k > n {
            return Err(data_err(
                "k-means",
                format!(
                    "k = {} clusters asked for {n} samples; choose k ≤ {n}",
                    self.k
                ),
            ));
        }
        if use_gram(x) {
            self.fit_with(x, Some(&Gram::new(x)))
        } else {
            self.fit_with(x, None)
        }
    }

    /// [`Self::fit`] from a Gram matrix already computed for `x` (by [`Gram::for_rows`], which
    /// is `None` where `fit` would not use one): the same partition as `fit`, bit for bit.
    pub(crate) fn fit_gram(&self, x: ArrayView2<f64>, gram: &Gram) -> Result<KMeans> {
        self.validate()?;
        let n = x.nrows();
        if self.k > n || gram.n() != n {
            return Err(data_err(
                "k-means",
                format!(
                    "k = {} clusters asked for {n} samples (Gram matrix of {} rows); choose k ≤ {n}",
                    self.k,
                    gram.n()
                ),
            ));
        }
        self.fit_with(x, Some(gram))
    }

    /// [`Self::fit`] on checked input, from the Gram matrix or from explicit centres.
    fn fit_with(&self, x: ArrayView2<f64>, gram: Option<&Gram>) -> Result<KMeans> {
        let runs: Vec<KMeans> = (0..self.n_init)
            .into_par_iter()
            .map(|run| {
                let mut rng = seeded(derive_seed(self.seed, &format!("kmeans/{run}")));
                match gram {
                    Some(g) => {
                        let seeds = g.plus_plus(self.k, &mut rng);
                        self.run_gram(x, g, &seeds)
                    }
                    None => {
                        let init = plus_plus(x, self.k, &mut rng);
                        self.run_from(x, init)
                    }
                }
            })
            .collect();
        // The first run with the lowest inertia, as a sequential loop would pick it.
        let mut best: Option<KMeans> = None;
        for fit in runs {
            if best.as_ref().is_none_or(|b| fit.inertia < b.inertia) {
                best = Some(fit);
            }
        }
        Ok(best.expect("n_init >= 1"))
    }

    /// One run in inner-product form: the same steps as [`Self::run_from`], every distance
    /// `|x_i − c_a|²` taken from the Gram matrix as `g_ii − 2·S_ia/n_a + Q_a/n_a²`, where
    /// `S_ia = Σ_{m∈a} g_im` and `Q_a = Σ_{m∈a} S_ma`.
    fn run_gram(&self, x: ArrayView2<f64>, g: &Gram, seeds: &[usize]) -> KMeans {
        let n = g.n();
        let k = self.k;
        let mut labels = vec![usize::MAX; n];
        let mut centres = KernelCentres::Points(seeds.to_vec());
        let mut converged = false;
        let mut it = 0;
        while it < self.max_iter {
            it += 1;
            let mut changed = false;
            for (i, label) in labels.iter_mut().enumerate() {
                let l = centres.nearest(g, i);
                if *label != l {
                    *label = l;
                    changed = true;
                }
            }
            for cl in 0..k {
                if !labels.contains(&cl) {
                    let far = (0..n)
                        .max_by(|&a, &b| {
                            let da = centres.dist(g, a, labels[a]);
                            let db = centres.dist(g, b, labels[b]);
                            da.total_cmp(&db).then(b.cmp(&a))
                        })
                        .unwrap_or(0);
                    labels[far] = cl;
                    changed = true;
                }
            }
            centres = KernelCentres::Means(Sums::new(g, &labels, k));
            if !changed {
                converged = true;
                break;
            }
        }
        if self.algorithm == KMeansAlgorithm::Hartigan {
            hartigan_gram(g, &mut labels, k);
        }
        finish(x, labels, k, it, converged)
    }

    fn run_from(&self, x: ArrayView2<f64>, mut c: Array2<f64>) -> KMeans {
        let n = x.nrows();
        let k = self.k;
        let mut labels = vec![usize::MAX; n];
        let mut converged = false;
        let mut it = 0;
        while it < self.max_iter {
            it += 1;
            let mut changed = false;
            for i in 0..n {
                let l = nearest(x.row(i), &c).0;
                if labels[i] != l {
                    labels[i] = l;
                    changed = true;
                }
            }
            // Empty cluster: move its centre to the point farthest from its own centre.
            for cl in 0..k {
                if !labels.contains(&cl) {
                    let far = (0..n)
                        .max_by(|&a, &b| {
                            let da = sq_dist(x.row(a), c.row(labels[a]));
                            let db = sq_dist(x.row(b), c.row(labels[b]));
                            da.total_cmp(&db).then(b.cmp(&a))
                        })
                        .unwrap_or(0);
                    labels[far] = cl;
                    changed = true;
                }
            }
            c = centres(x, &labels, k);
            if !changed {
                converged = true;
                break;
            }
        }
        if self.algorithm == KMeansAlgorithm::Hartigan {
            hartigan(x, &mut labels, &mut c);
        }
        finish(x, labels, k, it, converged)
    }
}

fn nearest(row: ndarray::ArrayView1<f64>, c: &Array2<f64>) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (j, cr) in c.rows().into_iter().enumerate() {
        let d = sq_dist(row, cr);
        if d < best.1 {
            best = (j, d);
        }
    }
    best
}

fn plus_plus(x: ArrayView2<f64>, k: usize, rng: &mut Rng) -> Array2<f64> {
    let picks = plus_plus_rows(x.nrows(), k, rng, |i, j| sq_dist(x.row(i), x.row(j)));
    let mut c = Array2::zeros((k, x.ncols()));
    for (m, &pick) in picks.iter().enumerate() {
        c.row_mut(m).assign(&x.row(pick));
    }
    c
}

/// k-means++ seeding over n rows with squared distances `d2(i, j)`: the first row uniformly,
/// each next one with probability proportional to its squared distance to the nearest pick.
fn plus_plus_rows(
    n: usize,
    k: usize,
    rng: &mut Rng,
    d2_of: impl Fn(usize, usize) -> f64,
) -> Vec<usize> {
    let first = rng.gen_range(0..n);
    let mut picks = vec![first];
    let mut d2: Vec<f64> = (0..n).map(|i| d2_of(i, first)).collect();
    for _ in 1..k {
        let total: f64 = d2.iter().sum();
        let pick = if total > 0.0 {
            let u = rng.gen::<f64>() * total;
            let mut acc = 0.0;
            let mut at = n - 1;
            for (i, &d) in d2.iter().enumerate() {
                acc += d;
                if acc > u {
                    at = i;
                    break;
                }
            }
            at
        } else {
            rng.gen_range(0..n)
        };
        picks.push(pick);
        for (i, d) in d2.iter_mut().enumerate() {
            *d = d.min(d2_of(i, pick));
        }
    }
    picks
}

fn centres(x: ArrayView2<f64>, labels: &[usize], k: usize) -> Array2<f64> {
    let mut c = Array2::zeros((k, x.ncols()));
    let mut counts = vec![0usize; k];
    for (i, &l) in labels.iter().enumerate() {
        let mut row = c.row_mut(l);
        row += &x.row(i);
        counts[l] += 1;
    }
    for (l, &m) in counts.iter().enumerate() {
        if m > 0 {
            c.row_mut(l).mapv_inplace(|v| v / m as f64);
        }
    }
    c
}

fn hartigan(x: ArrayView2<f64>, labels: &mut [usize], c: &mut Array2<f64>) {
    let n = x.nrows();
    let k = c.nrows();
    let mut sizes = vec![0usize; k];
    for &l in labels.iter() {
        sizes[l] += 1;
    }
    // A bounded number of passes guards against float cycling; each move lowers the objective.
    for _pass in 0..(50 * n.max(1)) {
        let mut moved = false;
        for i in 0..n {
            let a = labels[i];
            if sizes[a] <= 1 {
                continue;
            }
            let na = sizes[a] as f64;
            let cost_out = na / (na - 1.0) * sq_dist(x.row(i), c.row(a));
            let mut best = (a, 0.0);
            for b in 0..k {
                if b == a {
                    continue;
                }
                let nb = sizes[b] as f64;
                let delta = nb / (nb + 1.0) * sq_dist(x.row(i), c.row(b)) - cost_out;
                if delta < best.1 - 1e-12 * cost_out.max(1e-300) {
                    best = (b, delta);
                }
            }
            if best.0 != a {
                let b = best.0;
                let (na, nb) = (sizes[a] as f64, sizes[b] as f64);
                let xi = x.row(i);
                let ca: Array1<f64> = (&c.row(a) * na - xi) / (na - 1.0);
                let cb: Array1<f64> = (&c.row(b) * nb + xi) / (nb + 1.0);
                c.row_mut(a).assign(&ca);
                c.row_mut(b).assign(&cb);
                sizes[a] -= 1;
                sizes[b] += 1;
                labels[i] = b;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
}

/// Hartigan transfers in inner-product form (see [`hartigan`]); the sums are recomputed from
/// the labels at the start of every pass, so rounding cannot build up over many moves.
fn hartigan_gram(g: &Gram, labels: &mut [usize], k: usize) {
    let n = g.n();
    for _pass in 0..(50 * n.max(1)) {
        let mut sums = Sums::new(g, labels, k);
        let mut moved = false;
        for i in 0..n {
            let a = labels[i];
            if sums.sizes[a] <= 1 {
                continue;
            }
            let na = sums.sizes[a] as f64;
            let cost_out = na / (na - 1.0) * sums.dist(g, i, a);
            let mut best = (a, 0.0);
            for b in 0..k {
                if b == a {
                    continue;
                }
                let nb = sums.sizes[b] as f64;
                let delta = nb / (nb + 1.0) * sums.dist(g, i, b) - cost_out;
                if delta < best.1 - 1e-12 * cost_out.max(1e-300) {
                    best = (b, delta);
                }
            }
            if best.0 != a {
                sums.transfer(g, i, a, best.0);
                labels[i] = best.0;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
}

/// Largest number of rows for which k-means works from the n × n Gram matrix (128 MiB).
const GRAM_MAX_ROWS: usize = 4096;

/// Whether to run k-means from inner products: when there are fewer rows than features (one
/// n²·p product then replaces a k·n·p pass per iteration) and the n × n matrix stays small.
fn use_gram(x: ArrayView2<f64>) -> bool {
    x.nrows() <= x.ncols() && x.nrows() <= GRAM_MAX_ROWS && x.nrows() >= 2
}

/// The inner products of the column-centred rows of a matrix, `G = X_c X_cᵀ`.
pub(crate) struct Gram {
    g: Array2<f64>,
}

impl Gram {
    /// The Gram matrix of the column-centred rows: distances do not change, and centring keeps
    /// `g_ii − 2 g_ij + g_jj` from cancelling digits when the values sit far from zero.
    fn new(x: ArrayView2<f64>) -> Gram {
        Gram { g: centred_gram(x) }
    }

    /// The Gram matrix [`KMeansParams::fit`] would compute for `x`, or `None` where it works
    /// from explicit centres (more rows than features, or too many rows).
    pub(crate) fn for_rows(x: ArrayView2<f64>) -> Option<Gram> {
        use_gram(x).then(|| Gram::new(x))
    }

    /// The matrix.
    pub(crate) fn matrix(&self) -> &Array2<f64> {
        &self.g
    }

    fn n(&self) -> usize {
        self.g.nrows()
    }

    /// `|x_i − x_j|²`, never below 0.
    fn point_dist(&self, i: usize, j: usize) -> f64 {
        (self.g[[i, i]] + self.g[[j, j]] - 2.0 * self.g[[i, j]]).max(0.0)
    }

    /// k-means++ seeding (as [`plus_plus`]), returning the chosen rows.
    fn plus_plus(&self, k: usize, rng: &mut Rng) -> Vec<usize> {
        plus_plus_rows(self.n(), k, rng, |i, j| self.point_dist(i, j))
    }
}

/// Cluster sums in inner-product form: `S_ia = Σ_{m∈a} g_im`, `Q_a = Σ_{m∈a} S_ma`, sizes.
struct Sums {
    s: Array2<f64>,
    q: Vec<f64>,
    sizes: Vec<usize>,
}

impl Sums {
    fn new(g: &Gram, labels: &[usize], k: usize) -> Sums {
        let n = g.n();
        let mut s = Array2::zeros((n, k));
        for i in 0..n {
            let mut row = s.row_mut(i);
            for (m, &v) in g.g.row(i).iter().enumerate() {
                row[labels[m]] += v;
            }
        }
        let mut q = vec![0.0; k];
        let mut sizes = vec![0usize; k];
        for (m, &l) in labels.iter().enumerate() {
            q[l] += s[[m, l]];
            sizes[l] += 1;
        }
        Sums { s, q, sizes }
    }

    /// `|x_i − c_a|²`; an empty cluster's centre is the origin, as [`centres`] leaves it.
    fn dist(&self, g: &Gram, i: usize, a: usize) -> f64 {
        let gii = g.g[[i, i]];
        match self.sizes[a] {
            0 => gii,
            m => {
                let m = m as f64;
                gii - 2.0 * self.s[[i, a]] / m + self.q[a] / (m * m)
            }
        }
    }

    /// Move row i from cluster a to cluster b.
    fn transfer(&mut self, g: &Gram, i: usize, a: usize, b: usize) {
        let gii = g.g[[i, i]];
        self.q[a] += gii - 2.0 * self.s[[i, a]];
        self.q[b] += gii + 2.0 * self.s[[i, b]];
        for (m, &v) in g.g.row(i).iter().enumerate() {
            self.s[[m, a]] -= v;
            self.s[[m, b]] += v;
        }
        self.sizes[a] -= 1;
        self.sizes[b] += 1;
    }
}

/// The centres of one Lloyd step: the seeds (rows) at first, then the cluster means.
enum KernelCentres {
    Points(Vec<usize>),
    Means(Sums),
}

impl KernelCentres {
    fn dist(&self, g: &Gram, i: usize, a: usize) -> f64 {
        match self {
            KernelCentres::Points(p) => g.point_dist(i, p[a]),
            KernelCentres::Means(s) => s.dist(g, i, a),
        }
    }

    /// The nearest centre (the first on ties, as [`nearest`]).
    fn nearest(&self, g: &Gram, i: usize) -> usize {
        let k = match self {
            KernelCentres::Points(p) => p.len(),
            KernelCentres::Means(s) => s.sizes.len(),
        };
        let mut best = (0, f64::INFINITY);
        for a in 0..k {
            let d = self.dist(g, i, a);
            if d < best.1 {
                best = (a, d);
            }
        }
        best.0
    }
}

fn finish(
    x: ArrayView2<f64>,
    labels: Vec<usize>,
    k: usize,
    n_iter: usize,
    converged: bool,
) -> KMeans {
    let (labels, perm) = relabel(&labels, k);
    let c = centres(x, &labels, k);
    let _ = perm;
    let mut within_ss = vec![0.0; k];
    let mut sizes = vec![0usize; k];
    for (i, &l) in labels.iter().enumerate() {
        within_ss[l] += sq_dist(x.row(i), c.row(l));
        sizes[l] += 1;
    }
    KMeans {
        centroids: c,
        inertia: within_ss.iter().sum(),
        within_ss,
        sizes,
        labels,
        n_iter,
        converged,
    }
}

/// Renumber labels in order of first appearance; returns the new labels and old → new.
pub(crate) fn relabel(labels: &[usize], k: usize) -> (Vec<usize>, Vec<usize>) {
    let mut map = vec![usize::MAX; k.max(labels.iter().copied().max().map_or(0, |m| m + 1))];
    let mut next = 0;
    let out = labels
        .iter()
        .map(|&l| {
            if map[l] == usize::MAX {
                map[l] = next;
                next += 1;
            }
            map[l]
        })
        .collect();
    for m in map.iter_mut() {
        if *m == usize::MAX {
            *m = next;
            next += 1;
        }
    }
    (out, map)
}

impl KMeans {
    /// Number of clusters.
    pub fn k(&self) -> usize {
        self.centroids.nrows()
    }

    /// Nearest centre of each new row.
    pub fn predict(&self, x: ArrayView2<f64>) -> Result<Vec<usize>> {
        if x.ncols() != self.centroids.ncols() {
            return Err(data_err(
                "k-means",
                format!(
                    "new data have {} features; the model has {}",
                    x.ncols(),
                    self.centroids.ncols()
                ),
            ));
        }
        check_matrix(x, "k-means", 0)?;
        Ok(x.rows()
            .into_iter()
            .map(|r| nearest(r, &self.centroids).0)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use proptest::prelude::*;

    fn blobs() -> Array2<f64> {
        array![
            [0.0, 0.0],
            [0.2, 0.1],
            [0.1, 0.3],
            [10.0, 10.0],
            [10.2, 9.9],
            [9.8, 10.1],
            [0.0, 10.0],
            [0.1, 10.2],
        ]
    }

    #[test]
    fn finds_three_blobs_both_algorithms() {
        for algorithm in [KMeansAlgorithm::Lloyd, KMeansAlgorithm::Hartigan] {
            let m = KMeansParams {
                k: 3,
                algorithm,
                ..Default::default()
            }
            .fit(blobs().view())
            .unwrap();
            assert_eq!(m.labels, vec![0, 0, 0, 1, 1, 1, 2, 2]);
            assert_eq!(m.sizes, vec![3, 3, 2]);
            assert!(m.converged);
            assert_eq!(m.predict(array![[9.0, 9.0]].view()).unwrap(), vec![1]);
        }
    }

    #[test]
    fn hartigan_never_worse_than_lloyd() {
        let x = Array2::from_shape_fn((40, 2), |(i, j)| {
            (((i * 7 + j * 13) % 17) as f64).sin() * 3.0 + (i % 4) as f64
        });
        for seed in 0..5 {
            let l = KMeansParams {
                k: 4,
                n_init: 1,
                algorithm: KMeansAlgorithm::Lloyd,
                seed,
                ..Default::default()
            }
            .fit(x.view())
            .unwrap();
            let h = KMeansParams {
                k: 4,
                n_init: 1,
                algorithm: KMeansAlgorithm::Hartigan,
                seed,
                ..Default::default()
            }
            .fit(x.view())
            .unwrap();
            assert!(
                h.inertia <= l.inertia + 1e-9,
                "{} > {}",
                h.inertia,
                l.inertia
            );
        }
    }

    #[test]
    fn errors_before_and_after_data() {
        assert!(KMeansParams {
            k: 0,
            ..Default::default()
        }
        .fit(blobs().view())
        .is_err());
        let e = KMeansParams::new(9, 1).fit(blobs().view()).unwrap_err();
        assert!(e.to_string().contains("k ≤ 8"), "{e}");
    }

    fn wide_blobs() -> Array2<f64> {
        let mut rng = seeded(11);
        Array2::from_shape_fn((60, 150), |(i, j)| {
            let centre = match i % 3 {
                0 => 0.0,
                1 => ((j % 7) as f64 - 3.0) * 0.6,
                _ => ((j % 5) as f64 - 2.0) * -0.5,
            };
            20.0 + centre + rng.gen::<f64>() * 1.5
        })
    }

    #[test]
    fn gram_and_explicit_centres_agree() {
        let x = wide_blobs();
        assert!(use_gram(x.view()));
        for algorithm in [KMeansAlgorithm::Lloyd, KMeansAlgorithm::Hartigan] {
            for (k, seed) in [(3, 1), (4, 2), (6, 3)] {
                let p = KMeansParams {
                    k,
                    algorithm,
                    seed,
                    ..Default::default()
                };
                let g = p.fit_with(x.view(), Some(&Gram::new(x.view()))).unwrap();
                let e = p.fit_with(x.view(), None).unwrap();
                assert_eq!(g.labels, e.labels, "k = {k}, {algorithm:?}");
                assert!((g.inertia - e.inertia).abs() <= 1e-9 * e.inertia);
                assert_eq!(g.n_iter, e.n_iter);
            }
        }
        let three = KMeansParams::new(3, 5).fit(x.view()).unwrap();
        let truth: Vec<usize> = (0..60).map(|i| i % 3).collect();
        assert_eq!(three.labels, truth);
    }

    #[test]
    fn restarts_do_not_depend_on_thread_count() {
        let x = wide_blobs();
        let p = KMeansParams::new(5, 9);
        let on = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| p.fit(x.view()).unwrap())
        };
        assert_eq!(on(1), on(3));
    }

    proptest! {
        #[test]
        fn same_seed_same_partition(vals in proptest::collection::vec(-5.0f64..5.0, 30), seed in 0u64..1000) {
            let x = Array2::from_shape_vec((15, 2), vals).unwrap();
            let p = KMeansParams::new(3, seed);
            let a = p.fit(x.view()).unwrap();
            let b = p.fit(x.view()).unwrap();
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(a.sizes.iter().sum::<usize>(), 15);
            let ws: f64 = a.within_ss.iter().sum();
            prop_assert!((ws - a.inertia).abs() < 1e-9);
        }
    }
}
