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
//! Labels are renumbered in order of first appearance, so equal partitions give equal labels.
//! Everything is sequential: the same seed gives bit-identical results on any machine.

use evomics_core::rng::{derive_seed, seeded, Rng};
use ndarray::{Array1, Array2, ArrayView2};
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use crate::error::{data_err, ensure, Result};
use crate::matrix::{check_matrix, sq_dist};

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
        let mut best: Option<KMeans> = None;
        for run in 0..self.n_init {
            let mut rng = seeded(derive_seed(self.seed, &format!("kmeans/{run}")));
            let init = plus_plus(x, self.k, &mut rng);
            let fit = self.run_from(x, init);
            if best.as_ref().is_none_or(|b| fit.inertia < b.inertia) {
                best = Some(fit);
            }
        }
        Ok(best.expect("n_init >= 1"))
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
    let n = x.nrows();
    let mut c = Array2::zeros((k, x.ncols()));
    let first = rng.gen_range(0..n);
    c.row_mut(0).assign(&x.row(first));
    let mut d2: Vec<f64> = (0..n).map(|i| sq_dist(x.row(i), x.row(first))).collect();
    for m in 1..k {
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
        c.row_mut(m).assign(&x.row(pick));
        for (i, d) in d2.iter_mut().enumerate() {
            *d = d.min(sq_dist(x.row(i), x.row(pick)));
        }
    }
    c
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
