//! Agglomerative hierarchical clustering as R's `hclust`, and cutting the tree into k groups as
//! `cutree`.
//!
//! Linkages (Lance & Williams 1967 update formulas; Murtagh & Legendre 2014, *J Classif* 31:274
//! for the two Ward variants):
//!
//! - `ward_d2`: Ward's minimum-variance criterion on the input dissimilarities, R
//!   `method = "ward.D2"` (the Lance–Williams update runs on squared dissimilarities and merge
//!   heights are their square roots, so with Euclidean input the height is the Ward distance);
//! - `average`: UPGMA, R `"average"`;
//! - `complete`: furthest neighbour, R `"complete"`.
//!
//! All three are reducible, so the nearest-neighbour-chain algorithm (Murtagh 1983) finds the
//! same merges as the naive algorithm in O(n²) time; merges are then sorted by height (stable),
//! as R reports them. Ties between equal dissimilarities are broken by the smaller index, so the
//! tree can differ from R's only where R's own choice between equal distances is arbitrary.

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::error::{data_err, ensure, Result};
use crate::matrix::{check_matrix, distance_matrix, Distance};

/// The linkage criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Linkage {
    /// Ward's minimum variance (R `ward.D2`).
    #[default]
    WardD2,
    /// Average linkage, UPGMA (R `average`).
    Average,
    /// Complete linkage (R `complete`).
    Complete,
}

impl Linkage {
    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            Linkage::WardD2 => "ward_d2",
            Linkage::Average => "average",
            Linkage::Complete => "complete",
        }
    }
}

/// Hierarchical clustering parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct HclustParams {
    /// Linkage (default Ward.D2).
    pub linkage: Linkage,
    /// Dissimilarity between rows (default Euclidean).
    pub distance: Distance,
}

crate::param_guard!(HclustParams);

/// One merge of the tree: two clusters joined at a height.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Merge {
    /// First merged cluster: `-(i+1)` for observation `i`, `m` (1-based) for the cluster made
    /// by merge `m` — R's `merge` matrix convention.
    pub left: i64,
    /// Second merged cluster, same convention.
    pub right: i64,
    /// Merge height.
    pub height: f64,
    /// Number of observations in the new cluster.
    pub size: usize,
}

/// A fitted dendrogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dendrogram {
    /// Number of observations.
    pub n: usize,
    /// The n − 1 merges in increasing height.
    pub merges: Vec<Merge>,
    /// Linkage used.
    pub linkage: Linkage,
}

impl HclustParams {
    /// Check the parameters alone (every combination is valid).
    pub fn validate(&self) -> Result<()> {
        Ok(())
    }

    /// Cluster the rows of a complete matrix.
    pub fn fit(&self, x: ArrayView2<f64>) -> Result<Dendrogram> {
        self.validate()?;
        check_matrix(x, "hierarchical clustering", 2)?;
        let d = distance_matrix(x, self.distance);
        self.fit_dissimilarity(d.view())
    }

    /// Cluster from a precomputed symmetric dissimilarity matrix.
    pub fn fit_dissimilarity(&self, d: ArrayView2<f64>) -> Result<Dendrogram> {
        self.validate()?;
        let n = d.nrows();
        if n < 2 || d.ncols() != n {
            return Err(data_err(
                "hierarchical clustering",
                format!(
                    "needs a square dissimilarity matrix of at least 2 observations, got {:?}",
                    d.dim()
                ),
            ));
        }
        if d.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(data_err(
                "hierarchical clustering",
                "dissimilarities must be finite and non-negative",
            ));
        }
        Ok(nn_chain(d, self.linkage))
    }
}

fn nn_chain(d: ArrayView2<f64>, linkage: Linkage) -> Dendrogram {
    let n = d.nrows();
    let ward = linkage == Linkage::WardD2;
    let mut dm: Array2<f64> = if ward {
        d.mapv(|v| v * v)
    } else {
        d.to_owned()
    };
    let mut size = vec![1usize; n];
    let mut active = vec![true; n];
    // Cluster id (R convention) currently held in each slot.
    let mut label: Vec<i64> = (0..n).map(|i| -(i as i64 + 1)).collect();
    let mut raw: Vec<(i64, i64, f64, usize, usize, usize)> = Vec::with_capacity(n - 1);
    let mut chain: Vec<usize> = Vec::with_capacity(n);
    let mut remaining = n;
    while remaining > 1 {
        if chain.is_empty() {
            chain.push((0..n).find(|&i| active[i]).unwrap_or(0));
        }
        loop {
            let a = *chain.last().unwrap_or(&0);
            let prev = if chain.len() >= 2 {
                Some(chain[chain.len() - 2])
            } else {
                None
            };
            // Nearest active neighbour of a; prefer the previous chain element on ties so the
            // chain terminates.
            let mut best = f64::INFINITY;
            let mut b = usize::MAX;
            if let Some(p) = prev {
                best = dm[[a, p]];
                b = p;
            }
            for j in 0..n {
                if j != a && active[j] && dm[[a, j]] < best {
                    best = dm[[a, j]];
                    b = j;
                }
            }
            if Some(b) == prev {
                chain.pop();
                chain.pop();
                let (i, j) = if a < b { (a, b) } else { (b, a) };
                let h = if ward { best.sqrt() } else { best };
                raw.push((label[i], label[j], h, size[i] + size[j], i, j));
                // Lance–Williams update into slot i; j is retired.
                for k in 0..n {
                    if !active[k] || k == i || k == j {
                        continue;
                    }
                    let (ni, nj, nk) = (size[i] as f64, size[j] as f64, size[k] as f64);
                    let (dik, djk, dij) = (dm[[i, k]], dm[[j, k]], dm[[i, j]]);
                    let v = match linkage {
                        Linkage::WardD2 => {
                            ((ni + nk) * dik + (nj + nk) * djk - nk * dij) / (ni + nj + nk)
                        }
                        Linkage::Average => (ni * dik + nj * djk) / (ni + nj),
                        Linkage::Complete => dik.max(djk),
                    };
                    dm[[i, k]] = v;
                    dm[[k, i]] = v;
                }
                size[i] += size[j];
                active[j] = false;
                remaining -= 1;
                // Temporary label; final numbering after sorting by height.
                label[i] = i64::MAX - raw.len() as i64 + 1;
                break;
            }
            chain.push(b);
        }
    }
    // Sort merges by height (stable) and renumber clusters as R does.
    let mut order: Vec<usize> = (0..raw.len()).collect();
    order.sort_by(|&a, &b| raw[a].2.total_cmp(&raw[b].2).then(a.cmp(&b)));
    let mut new_id = vec![0i64; raw.len()];
    for (pos, &m) in order.iter().enumerate() {
        new_id[m] = pos as i64 + 1;
    }
    let map = |l: i64| -> i64 {
        if l < 0 {
            l
        } else {
            // temp label i64::MAX - m + 1 where m is 1-based raw index
            let m = (i64::MAX - l + 1) as usize;
            new_id[m - 1]
        }
    };
    let merges = order
        .iter()
        .map(|&m| {
            let (l, r, h, s, _, _) = raw[m];
            let (l, r) = (map(l), map(r));
            // R puts singletons first, then the smaller cluster id.
            let (l, r) = match (l < 0, r < 0) {
                (true, true) => (l.max(r), l.min(r)),
                (true, false) => (l, r),
                (false, true) => (r, l),
                (false, false) => (l.min(r), l.max(r)),
            };
            Merge {
                left: l,
                right: r,
                height: h,
                size: s,
            }
        })
        .collect();
    Dendrogram { n, merges, linkage }
}

impl Dendrogram {
    /// Cut the tree into `k` groups (R `cutree(tree, k)`): labels 0..k in order of first
    /// appearance along the observations.
    pub fn cut(&self, k: usize) -> Result<Vec<usize>> {
        ensure(k >= 1 && k <= self.n, "cutree", "k", || {
            format!(
                "is {k}; choose 1 ≤ k ≤ {} (the number of observations)",
                self.n
            )
        })?;
        let mut parent: Vec<usize> = (0..self.n).collect();
        fn find(p: &mut [usize], mut i: usize) -> usize {
            while p[i] != i {
                p[i] = p[p[i]];
                i = p[i];
            }
            i
        }
        // Representative observation of each merge's cluster.
        let mut rep = Vec::with_capacity(self.merges.len());
        let obs = |id: i64, rep: &[usize]| -> usize {
            if id < 0 {
                (-id - 1) as usize
            } else {
                rep[id as usize - 1]
            }
        };
        for m in self.merges.iter().take(self.n - k) {
            let a = obs(m.left, &rep);
            let b = obs(m.right, &rep);
            let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
            parent[rb] = ra;
            rep.push(ra);
        }
        let mut labels = vec![usize::MAX; self.n];
        let mut root_label = std::collections::HashMap::new();
        for i in 0..self.n {
            let r = find(&mut parent, i);
            let next = root_label.len();
            labels[i] = *root_label.entry(r).or_insert(next);
        }
        Ok(labels)
    }

    /// Merge heights in increasing order.
    pub fn heights(&self) -> Vec<f64> {
        self.merges.iter().map(|m| m.height).collect()
    }

    /// Leaf order for plotting (left-to-right traversal of the tree from the last merge).
    pub fn order(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.n);
        if self.merges.is_empty() {
            out.extend(0..self.n);
            return out;
        }
        let mut stack = vec![self.merges.len() as i64];
        while let Some(id) = stack.pop() {
            if id < 0 {
                out.push((-id - 1) as usize);
            } else {
                let m = &self.merges[id as usize - 1];
                stack.push(m.right);
                stack.push(m.left);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn two_blobs() -> Array2<f64> {
        array![
            [0.0, 0.0],
            [0.1, 0.0],
            [0.0, 0.2],
            [5.0, 5.0],
            [5.1, 5.0],
            [5.0, 5.3]
        ]
    }

    #[test]
    fn every_linkage_finds_two_blobs() {
        for linkage in [Linkage::WardD2, Linkage::Average, Linkage::Complete] {
            {
                let d = HclustParams {
                    linkage,
                    distance: Distance::Euclidean,
                }
                .fit(two_blobs().view())
                .unwrap();
                assert_eq!(d.merges.len(), 5);
                assert_eq!(d.cut(2).unwrap(), vec![0, 0, 0, 1, 1, 1]);
                assert_eq!(d.cut(6).unwrap(), vec![0, 1, 2, 3, 4, 5]);
                assert_eq!(d.cut(1).unwrap(), vec![0; 6]);
                let h = d.heights();
                assert!(h.windows(2).all(|w| w[0] <= w[1]));
                let mut o = d.order();
                o.sort();
                assert_eq!(o, (0..6).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn heights_match_hand_computation() {
        // Points on a line 0, 1, 3: single pairs merge at 1; then
        // complete: max(3, 2) = 3; average: (3 + 2) / 2 = 2.5;
        // ward.D2: sqrt(2 * n_a n_b / (n_a + n_b)) * |centroid diff| = sqrt(4/3) * 2.5.
        let x = array![[0.0], [1.0], [3.0]];
        let h = |l| {
            HclustParams {
                linkage: l,
                distance: Distance::Euclidean,
            }
            .fit(x.view())
            .unwrap()
            .heights()
        };
        assert_eq!(h(Linkage::Complete), vec![1.0, 3.0]);
        assert_eq!(h(Linkage::Average), vec![1.0, 2.5]);
        let w = h(Linkage::WardD2);
        assert!((w[0] - 1.0).abs() < 1e-12);
        assert!((w[1] - (4.0f64 / 3.0).sqrt() * 2.5).abs() < 1e-12, "{w:?}");
        let d = HclustParams::default().fit(x.view()).unwrap();
        assert_eq!((d.merges[0].left, d.merges[0].right), (-1, -2));
        assert_eq!((d.merges[1].left, d.merges[1].right), (-3, 1));
    }

    #[test]
    fn bad_k_is_an_error() {
        let d = HclustParams::default().fit(two_blobs().view()).unwrap();
        assert!(d.cut(0).is_err());
        assert!(d.cut(7).is_err());
    }
}
