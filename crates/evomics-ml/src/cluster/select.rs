//! Cluster validity and the choice of k: silhouette widths and the gap statistic.

use evomics_core::rng::{derive_seed, seeded};
use ndarray::{Array2, ArrayView2, Axis};
use rand::Rng as _;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::cluster::gmm::GmmParams;
use crate::cluster::hclust::HclustParams;
use crate::cluster::kmeans::{Gram, KMeansParams};
use crate::error::{data_err, ensure, Result};
use crate::matrix::{
    check_matrix, distance_matrix, distances_from_gram, euclidean_via_gram, sq_dist, Distance,
};
use crate::pca::PcaParams;

/// A clustering method whose number of clusters is chosen by [`ChooseKParams`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum ClusterMethod {
    /// k-means (its `k` is replaced by each candidate).
    KMeans(KMeansParams),
    /// Hierarchical clustering cut at each candidate k.
    Hierarchical(HclustParams),
    /// Diagonal Gaussian mixture (its `k` is replaced by each candidate).
    Gmm(GmmParams),
}

impl ClusterMethod {
    /// The dissimilarity the method works with (silhouettes use it).
    pub fn distance(&self) -> Distance {
        match self {
            ClusterMethod::Hierarchical(h) => h.distance,
            _ => Distance::Euclidean,
        }
    }

    /// Check the method's parameters (except `k`).
    pub fn validate(&self) -> Result<()> {
        match self {
            ClusterMethod::KMeans(p) => KMeansParams { k: 1, ..p.clone() }.validate(),
            ClusterMethod::Hierarchical(p) => p.validate(),
            ClusterMethod::Gmm(p) => GmmParams { k: 1, ..p.clone() }.validate(),
        }
    }

    /// Labels of the rows of `x` for `k` clusters.
    pub fn labels(&self, x: ArrayView2<f64>, k: usize) -> Result<Vec<usize>> {
        Ok(match self {
            ClusterMethod::KMeans(p) => KMeansParams { k, ..p.clone() }.fit(x)?.labels,
            ClusterMethod::Hierarchical(p) => p.fit(x)?.cut(k)?,
            ClusterMethod::Gmm(p) => GmmParams { k, ..p.clone() }.fit(x)?.labels,
        })
    }

    /// Labels of the rows of `x` for each of `ks`: hierarchical clustering builds its tree once
    /// and cuts it at every k (R: one `hclust`, then `cutree` per k).
    pub fn labels_for(&self, x: ArrayView2<f64>, ks: &[usize]) -> Result<Vec<Vec<usize>>> {
        match self {
            ClusterMethod::Hierarchical(p) => {
                let tree = p.fit(x)?;
                ks.iter().map(|&k| tree.cut(k)).collect()
            }
            _ => ks.iter().map(|&k| self.labels(x, k)).collect(),
        }
    }
}

/// Silhouette width of every observation (Rousseeuw 1987, *J Comput Appl Math* 20:53), from a
/// dissimilarity matrix: `s(i) = (b(i) − a(i)) / max(a(i), b(i))` with a(i) the mean
/// dissimilarity to the other members of its cluster and b(i) the smallest mean dissimilarity to
/// another cluster; 0 for members of singleton clusters (as R `cluster::silhouette`).
pub fn silhouette(d: ArrayView2<f64>, labels: &[usize]) -> Result<Vec<f64>> {
    let n = labels.len();
    if d.dim() != (n, n) {
        return Err(data_err(
            "silhouette",
            format!("dissimilarity matrix is {:?} for {n} labels", d.dim()),
        ));
    }
    let k = labels.iter().copied().max().map_or(0, |m| m + 1);
    if k < 2 {
        return Err(data_err("silhouette", "needs at least 2 clusters"));
    }
    let mut sizes = vec![0usize; k];
    for &l in labels {
        sizes[l] += 1;
    }
    let mut out = vec![0.0; n];
    let mut sums = vec![0.0; k];
    for i in 0..n {
        sums.iter_mut().for_each(|s| *s = 0.0);
        for j in 0..n {
            sums[labels[j]] += d[[i, j]];
        }
        let own = labels[i];
        if sizes[own] <= 1 {
            continue;
        }
        let a = sums[own] / (sizes[own] - 1) as f64;
        let b = (0..k)
            .filter(|&c| c != own && sizes[c] > 0)
            .map(|c| sums[c] / sizes[c] as f64)
            .fold(f64::INFINITY, f64::min);
        let m = a.max(b);
        out[i] = if m > 0.0 && b.is_finite() {
            (b - a) / m
        } else {
            0.0
        };
    }
    Ok(out)
}

/// Mean silhouette width.
pub fn mean_silhouette(d: ArrayView2<f64>, labels: &[usize]) -> Result<f64> {
    let s = silhouette(d, labels)?;
    Ok(s.iter().sum::<f64>() / s.len().max(1) as f64)
}

/// The reference distribution of the gap statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GapReference {
    /// Uniform over the box aligned with the principal components of the data (Tibshirani et
    /// al.'s reference (b); R `cluster::clusGap(spaceH0 = "scaledPCA")`, its default).
    #[default]
    ScaledPca,
    /// Uniform over the range of each original feature (reference (a); `spaceH0 = "original"`).
    Original,
}

/// How the gap statistic picks k (the rules of R `cluster::maxSE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GapRule {
    /// The first k whose gap is within one standard error of the first local maximum of the gap
    /// curve (`clusGap`'s default, `"firstSEmax"`).
    #[default]
    FirstSeMax,
    /// The smallest k with Gap(k) ≥ Gap(k+1) − s_{k+1} (Tibshirani et al. 2001, `"Tibs2001SEmax"`).
    Tibs2001SeMax,
}

/// Parameters of the choice of k.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChooseKParams {
    /// Candidate numbers of clusters, each ≥ 1 (silhouettes skip k = 1), in increasing order.
    pub ks: Vec<usize>,
    /// The clustering method.
    pub method: ClusterMethod,
    /// Reference data sets of the gap statistic, ≥ 1 (default 50; 0 skips the gap statistic).
    pub gap_references: usize,
    /// Reference distribution of the gap statistic.
    pub gap_reference: GapReference,
    /// Rule that turns the gap curve into a choice of k.
    pub gap_rule: GapRule,
    /// Seed of the reference draws.
    pub seed: u64,
}

/// Scores of one candidate k.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KScore {
    /// Number of clusters.
    pub k: usize,
    /// Mean silhouette width (None for k = 1).
    pub silhouette: Option<f64>,
    /// log W_k, the log pooled within-cluster sum of squares.
    pub log_w: f64,
    /// Gap(k) = E*[log W*_k] − log W_k (None without references).
    pub gap: Option<f64>,
    /// s_k = sd(log W*_k) · sqrt(1 + 1/B).
    pub gap_se: Option<f64>,
}

/// The outcome of [`ChooseKParams::fit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KSelection {
    /// Per-candidate scores, in the order of `ks`.
    pub scores: Vec<KScore>,
    /// k with the largest mean silhouette (the smallest on ties), when any k ≥ 2 was scored.
    pub best_silhouette: Option<usize>,
    /// k chosen from the gap curve by `gap_rule` (None without references).
    pub best_gap: Option<usize>,
}

impl ChooseKParams {
    /// Check the parameters alone.
    pub fn validate(&self) -> Result<()> {
        ensure(!self.ks.is_empty(), "choose k", "ks", || {
            "is empty; list candidate numbers of clusters".into()
        })?;
        ensure(self.ks.iter().all(|&k| k >= 1), "choose k", "ks", || {
            "contains 0".into()
        })?;
        ensure(
            self.ks.windows(2).all(|w| w[0] < w[1]),
            "choose k",
            "ks",
            || "must be strictly increasing".into(),
        )?;
        self.method.validate()
    }

    /// Score every candidate k on the rows of `x` and pick k by silhouette and by gap.
    pub fn fit(&self, x: ArrayView2<f64>) -> Result<KSelection> {
        Ok(self.fit_labelled(x)?.0)
    }

    /// [`Self::fit`], also returning each candidate's labels (in the order of `ks`), so that the
    /// chosen clustering need not be computed again. k-means on wide data computes its Gram
    /// matrix once, for every candidate k and for the silhouette's distances.
    pub fn fit_labelled(&self, x: ArrayView2<f64>) -> Result<(KSelection, Vec<Vec<usize>>)> {
        self.validate()?;
        check_matrix(x, "choose k", 2)?;
        let n = x.nrows();
        if let Some(&k) = self.ks.iter().find(|&&k| k > n) {
            return Err(data_err(
                "choose k",
                format!("candidate k = {k} exceeds the {n} samples"),
            ));
        }
        // Wide data (omics: more features than samples): the silhouette's Euclidean distances
        // from one matrix product; the clusterings themselves use their own distances.
        let gram = match &self.method {
            ClusterMethod::KMeans(_) => Gram::for_rows(x),
            _ => None,
        };
        let d = if let Some(g) = &gram {
            distances_from_gram(g.matrix())
        } else if self.method.distance() == Distance::Euclidean && n <= x.ncols() {
            euclidean_via_gram(x)
        } else {
            distance_matrix(x, self.method.distance())
        };
        let candidate_labels = match (&self.method, &gram) {
            (ClusterMethod::KMeans(p), Some(g)) => self
                .ks
                .iter()
                .map(|&k| Ok(KMeansParams { k, ..p.clone() }.fit_gram(x, g)?.labels))
                .collect::<Result<Vec<_>>>()?,
            _ => self.method.labels_for(x, &self.ks)?,
        };
        let mut scores = Vec::with_capacity(self.ks.len());
        let mut all_labels = Vec::with_capacity(self.ks.len());
        for (&k, labels) in self.ks.iter().zip(candidate_labels) {
            let sil = if k >= 2 && k < n {
                Some(mean_silhouette(d.view(), &labels)?)
            } else {
                None
            };
            scores.push(KScore {
                k,
                silhouette: sil,
                log_w: log_within(x, &labels),
                gap: None,
                gap_se: None,
            });
            all_labels.push(labels);
        }
        if self.gap_references > 0 {
            let refs = self.reference_log_w(x)?;
            let b = self.gap_references as f64;
            for (c, s) in scores.iter_mut().enumerate() {
                let vals: Vec<f64> = refs.iter().map(|r| r[c]).collect();
                let mean = vals.iter().sum::<f64>() / b;
                let var = if vals.len() > 1 {
                    vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (b - 1.0)
                } else {
                    0.0
                };
                s.gap = Some(mean - s.log_w);
                s.gap_se = Some(var.sqrt() * (1.0 + 1.0 / b).sqrt());
            }
        }
        let best_silhouette = scores
            .iter()
            .filter_map(|s| s.silhouette.map(|v| (s.k, v)))
            .fold(None, |acc: Option<(usize, f64)>, (k, v)| match acc {
                Some((_, bv)) if bv >= v => acc,
                _ => Some((k, v)),
            })
            .map(|(k, _)| k);
        let best_gap = if self.gap_references > 0 {
            let f: Vec<f64> = scores.iter().map(|s| s.gap.unwrap_or(f64::NAN)).collect();
            let se: Vec<f64> = scores.iter().map(|s| s.gap_se.unwrap_or(0.0)).collect();
            Some(scores[gap_pick(&f, &se, self.gap_rule)].k)
        } else {
            None
        };
        Ok((
            KSelection {
                scores,
                best_silhouette,
                best_gap,
            },
            all_labels,
        ))
    }

    /// log W*_k of every reference set (rows) for every candidate (columns).
    ///
    /// With the scaled-PCA reference, R's `clusGap` draws each set uniformly in the box of the
    /// data's principal-component scores and rotates it back, `z Vᵀ + mean`. V has orthonormal
    /// columns, so the rotation keeps every Euclidean distance and every within-cluster sum of
    /// squares: k-means and hierarchical clustering on Euclidean distances give the same
    /// partitions and W*_k on the scores themselves (up to rounding), at a cost in min(n, p)
    /// instead of p dimensions, and without the n × r × p product per set. The back-rotation
    /// is kept for the methods it changes (diagonal mixtures, correlation distances). The sets
    /// are clustered in parallel, each from its own seed, so the result does not depend on the
    /// number of threads.
    fn reference_log_w(&self, x: ArrayView2<f64>) -> Result<Vec<Vec<f64>>> {
        let invariant = match &self.method {
            ClusterMethod::KMeans(_) => true,
            ClusterMethod::Hierarchical(h) => h.distance == Distance::Euclidean,
            ClusterMethod::Gmm(_) => false,
        };
        self.reference_log_w_in(x, !invariant)
    }

    fn reference_log_w_in(&self, x: ArrayView2<f64>, rotate_back: bool) -> Result<Vec<Vec<f64>>> {
        let p = x.ncols();
        let n = x.nrows();
        // The box to draw from: in PC coordinates (ScaledPca) or the original ones.
        let (space, back) = match self.gap_reference {
            GapReference::Original => (x.to_owned(), None),
            GapReference::ScaledPca => {
                let pca = PcaParams {
                    n_components: None,
                    scale: false,
                }
                .fit(x)?;
                let back = rotate_back.then_some((pca.rotation, pca.standardizer.mean));
                (pca.scores, back)
            }
        };
        let lo = space.fold_axis(Axis(0), f64::INFINITY, |a, &b| a.min(b));
        let hi = space.fold_axis(Axis(0), f64::NEG_INFINITY, |a, &b| a.max(b));
        (0..self.gap_references)
            .into_par_iter()
            .map(|b| {
                let mut rng = seeded(derive_seed(self.seed, &format!("gap/{b}")));
                let z = Array2::from_shape_fn((n, space.ncols()), |(_, j)| {
                    lo[j] + (hi[j] - lo[j]) * rng.gen::<f64>()
                });
                let z = match &back {
                    Some((rot, m)) => {
                        let mut back = z.dot(&rot.t());
                        for mut row in back.rows_mut() {
                            for (v, mj) in row.iter_mut().zip(m) {
                                *v += mj;
                            }
                        }
                        debug_assert_eq!(back.ncols(), p);
                        back
                    }
                    None => z,
                };
                Ok(self
                    .method
                    .labels_for(z.view(), &self.ks)?
                    .iter()
                    .map(|labels| log_within(z.view(), labels))
                    .collect())
            })
            .collect()
    }
}

/// Index of the chosen candidate on a gap curve `f` with standard errors `se` (R `maxSE`).
fn gap_pick(f: &[f64], se: &[f64], rule: GapRule) -> usize {
    let k = f.len();
    match rule {
        GapRule::FirstSeMax => {
            let nc = (0..k.saturating_sub(1))
                .find(|&i| f[i + 1] <= f[i])
                .unwrap_or(k - 1);
            (0..nc).find(|&i| f[i] >= f[nc] - se[nc]).unwrap_or(nc)
        }
        GapRule::Tibs2001SeMax => (0..k.saturating_sub(1))
            .find(|&i| f[i] >= f[i + 1] - se[i + 1])
            .unwrap_or(k - 1),
    }
}

/// log of the pooled within-cluster sum of squares W_k = Σ_r Σ_{i∈r} |x_i − x̄_r|²
/// (= Σ_r D_r / (2 n_r) of Tibshirani et al. 2001).
pub fn log_within(x: ArrayView2<f64>, labels: &[usize]) -> f64 {
    let k = labels.iter().copied().max().map_or(0, |m| m + 1);
    let p = x.ncols();
    let mut c = Array2::<f64>::zeros((k, p));
    let mut counts = vec![0usize; k];
    for (i, &l) in labels.iter().enumerate() {
        let mut r = c.row_mut(l);
        r += &x.row(i);
        counts[l] += 1;
    }
    for l in 0..k {
        if counts[l] > 0 {
            c.row_mut(l).mapv_inplace(|v| v / counts[l] as f64);
        }
    }
    let w: f64 = labels
        .iter()
        .enumerate()
        .map(|(i, &l)| sq_dist(x.row(i), c.row(l)))
        .sum();
    w.max(f64::MIN_POSITIVE).ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::hclust::Linkage;

    #[test]
    fn one_gram_matrix_gives_what_separate_fits_give() {
        // Wide data (more features than samples): k-means and the silhouette share one Gram
        // matrix; labels and scores must be those of separate fits, bit for bit.
        let x = Array2::from_shape_fn((24, 40), |(i, j)| {
            100.0 + ((i / 8) * 3) as f64 + (((i * 37 + j * 11) % 17) as f64) * 0.21
        });
        let km = KMeansParams::new(2, 5);
        let (sel, labels) = ChooseKParams {
            ks: vec![2, 3, 4],
            method: ClusterMethod::KMeans(km.clone()),
            gap_references: 0,
            gap_reference: GapReference::ScaledPca,
            gap_rule: GapRule::FirstSeMax,
            seed: 1,
        }
        .fit_labelled(x.view())
        .unwrap();
        let d = euclidean_via_gram(x.view());
        for (c, k) in [2, 3, 4].into_iter().enumerate() {
            let own = KMeansParams { k, ..km.clone() }
                .fit(x.view())
                .unwrap()
                .labels;
            assert_eq!(labels[c], own, "k = {k}");
            let sil = mean_silhouette(d.view(), &own).unwrap();
            assert_eq!(
                sel.scores[c].silhouette.map(f64::to_bits),
                Some(sil.to_bits())
            );
        }
    }

    #[test]
    fn references_clustered_in_pc_coordinates_equal_rotated_back() {
        // Wide data: the reference sets of k-means and Ward (Euclidean) are clustered in PC
        // coordinates; rotating them back first, as clusGap does, gives the same W*_k.
        let x = Array2::from_shape_fn((30, 60), |(i, j)| {
            ((i / 10) * 2) as f64 + (((i * 37 + j * 11) % 23) as f64) * 0.17 + (j % 7) as f64
        });
        for method in [
            ClusterMethod::KMeans(KMeansParams::new(2, 3)),
            ClusterMethod::Hierarchical(HclustParams::default()),
        ] {
            let params = ChooseKParams {
                ks: vec![1, 2, 3, 4],
                method,
                gap_references: 4,
                gap_reference: GapReference::ScaledPca,
                gap_rule: GapRule::FirstSeMax,
                seed: 11,
            };
            let direct = params.reference_log_w_in(x.view(), false).unwrap();
            let rotated = params.reference_log_w_in(x.view(), true).unwrap();
            assert_eq!(params.reference_log_w(x.view()).unwrap(), direct);
            for (a, b) in direct.iter().flatten().zip(rotated.iter().flatten()) {
                assert!((a - b).abs() < 1e-10, "{a} vs {b}");
            }
        }
    }

    fn three_blobs() -> Array2<f64> {
        let centres = [[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]];
        Array2::from_shape_fn((30, 2), |(i, j)| {
            let c = centres[i % 3][j];
            c + (((i * 31 + j * 17) % 11) as f64 - 5.0) * 0.12
        })
    }

    #[test]
    fn silhouette_and_gap_pick_three() {
        for method in [
            ClusterMethod::KMeans(KMeansParams::new(2, 3)),
            ClusterMethod::Hierarchical(HclustParams {
                linkage: Linkage::Average,
                distance: Distance::Euclidean,
            }),
        ] {
            let sel = ChooseKParams {
                ks: vec![1, 2, 3, 4, 5],
                method,
                gap_references: 20,
                gap_reference: GapReference::ScaledPca,
                gap_rule: GapRule::FirstSeMax,
                seed: 11,
            }
            .fit(three_blobs().view())
            .unwrap();
            assert_eq!(sel.best_silhouette, Some(3), "{sel:?}");
            assert_eq!(sel.best_gap, Some(3), "{sel:?}");
            assert!(sel.scores[0].silhouette.is_none());
        }
    }

    #[test]
    fn gap_rules_follow_max_se() {
        // cluster::maxSE(f = c(1, 2, 5, 4.9, 6), SE.f = rep(0.5, 5)):
        // firstSEmax → 3, Tibs2001SEmax → 3; with a flat start Tibs picks 1.
        let f = [1.0, 2.0, 5.0, 4.9, 6.0];
        let se = [0.5; 5];
        assert_eq!(gap_pick(&f, &se, GapRule::FirstSeMax), 2);
        assert_eq!(gap_pick(&f, &se, GapRule::Tibs2001SeMax), 2);
        let flat = [1.0, 0.8, 5.0, 4.9, 6.0];
        assert_eq!(gap_pick(&flat, &se, GapRule::Tibs2001SeMax), 0);
        assert_eq!(gap_pick(&flat, &se, GapRule::FirstSeMax), 0);
        let rising = [1.0, 2.0, 3.0];
        assert_eq!(gap_pick(&rising, &[0.1; 3], GapRule::FirstSeMax), 2);
    }

    #[test]
    fn silhouette_known_value() {
        // Points 0, 1 | 10: a(0)=1, b(0)=10 → 0.9; a(1)=1, b(1)=9 → 8/9; singleton → 0.
        let x = ndarray::array![[0.0], [1.0], [10.0]];
        let d = distance_matrix(x.view(), Distance::Euclidean);
        let s = silhouette(d.view(), &[0, 0, 1]).unwrap();
        assert!((s[0] - 0.9).abs() < 1e-12 && (s[1] - 8.0 / 9.0).abs() < 1e-12 && s[2] == 0.0);
        assert!(silhouette(d.view(), &[0, 0, 0]).is_err());
    }
}
