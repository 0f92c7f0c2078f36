//! Random forests (Breiman 2001, *Mach Learn* 45:5) for classification and regression, on
//! histogram-binned features.
//!
//! - Each tree grows on a bootstrap sample (n draws with replacement) by CART splits (Breiman et
//!   al. 1984): Gini impurity for classes, squared error for numbers. At every node `max_features`
//!   features are drawn without replacement (more are drawn while the drawn ones are constant at
//!   the node, as scikit-learn does), and the best split of each is found by scanning its
//!   histogram. With two classes (the potency models' usual case) the features a node draws
//!   are counted two per pass over its samples, and a cut is scored only when a
//!   division-free bound shows it could beat the node's best split so far; the splits are
//!   those of the general search, bit for bit (a unit test holds the two together). Once a
//!   node has a perfect split (both children pure), the features drawn after it are only
//!   counted, not searched: none could replace it (another unit test holds the trees to those
//!   of a full search); on an L fold the trees take a tenth less CPU.
//!   Trees grow until nodes are pure or would have fewer than `min_samples_leaf`
//!   samples on a side (or `max_depth`).
//! - Binning: per feature, the training values' distinct values define up to `max_bins` bins; with
//!   at most `max_bins` distinct values (every cohort below 256 samples at the default 255) the
//!   thresholds are the midpoints between consecutive distinct values, i.e. exact CART; above
//!   that, quantile cut points. New samples are routed by comparing raw values with the
//!   thresholds, so binning is never refitted at prediction time.
//! - Prediction: class probabilities are the average over trees of each leaf's class fractions
//!   (scikit-learn's `predict_proba`), numbers the average of leaf means.
//! - Importance: mean decrease in impurity (weighted by node size, normalized per tree, averaged
//!   over trees).
//! - Determinism: tree t draws from its own ChaCha8 stream `derive_seed(seed, "tree/<t>")` and
//!   trees are stored in index order, so results are bit-identical for any `n_threads`.
//!
//! Defaults follow R `randomForest`: √p features per split for classes, p/3 for numbers; leaves of
//! at least 1 sample for classes and 5 for numbers; 500 trees.

use evomics_core::rng::{derive_seed, seeded, Rng};
use ndarray::ArrayView2;
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use crate::error::{data_err, ensure, Result};
use crate::models::binning::{bin_exact, bin_histogram, Bin, Binned};
use crate::models::{Labels, Output};

/// Features drawn at each split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "rule", content = "value")]
pub enum MaxFeatures {
    /// √p for classes, p/3 for numbers (R randomForest's `mtry` defaults).
    #[default]
    Auto,
    /// ⌊√p⌋.
    Sqrt,
    /// ⌊p/3⌋.
    Third,
    /// Every feature (bagging).
    All,
    /// A share of the features, in (0, 1].
    Fraction(f64),
    /// A fixed number, ≥ 1.
    Count(usize),
}

/// How a tree searches split points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Splitter {
    /// Split between histogram bins of the training values (at most `max_bins` per feature,
    /// learned once per fit; see [`crate::models::binning`]); thresholds are bin edges.
    #[default]
    Histogram,
    /// Split between every pair of consecutive distinct training values (scikit-learn's and R
    /// randomForest's CART); thresholds are the midpoints of the node's neighbouring values.
    Exact,
}

/// Random forest parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForestParams {
    /// Number of trees, ≥ 1 (default 500).
    pub n_trees: usize,
    /// Features per split (default auto).
    pub max_features: MaxFeatures,
    /// Minimum samples in a leaf (default: 1 for classes, 5 for numbers).
    pub min_samples_leaf: Option<usize>,
    /// Maximum depth (default unlimited).
    pub max_depth: Option<usize>,
    /// How split points are searched (default histogram).
    pub splitter: Splitter,
    /// Histogram bins per feature, 2–255 (default 255; histogram splitter only).
    pub max_bins: usize,
    /// Bootstrap samples (default true); false grows every tree on all samples.
    pub bootstrap: bool,
    /// Seed.
    pub seed: u64,
    /// Worker threads (default 1); results do not depend on it.
    pub n_threads: usize,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            n_trees: 500,
            max_features: MaxFeatures::Auto,
            min_samples_leaf: None,
            max_depth: None,
            splitter: Splitter::Histogram,
            max_bins: 255,
            bootstrap: true,
            seed: 1,
            n_threads: 1,
        }
    }
}

crate::param_guard!(ForestParams);

/// One node of a tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Split feature, or `u32::MAX` for a leaf.
    pub feature: u32,
    /// Samples with `x[feature] <= threshold` go left.
    pub threshold: f64,
    /// Left child index (leaf: index into the leaf values).
    pub left: u32,
    /// Right child index.
    pub right: u32,
}

/// One fitted tree: nodes (root first) and leaf values (`n_outputs` per leaf).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// Nodes.
    pub nodes: Vec<Node>,
    /// Leaf values: class fractions or the mean, `n_outputs` per leaf.
    pub leaves: Vec<f64>,
}

/// A fitted random forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forest {
    /// Trees in index order.
    pub trees: Vec<Tree>,
    /// Number of classes (0 for regression).
    pub n_classes: usize,
    /// Number of input features.
    pub n_features: usize,
    /// Mean decrease in impurity per feature (sums to 1 unless no tree split).
    pub importance: Vec<f64>,
}

/// Buffers reused by every split search of a tree.
#[derive(Default)]
struct Scratch {
    /// Sums per occupied bin (`w` values each): class counts, or Σwy and Σwy².
    hist: Vec<f64>,
    /// Samples (with bootstrap multiplicity) per occupied bin.
    counts: Vec<f64>,
    /// The occupied bins, ascending.
    occupied: Vec<usize>,
    /// (bin, sample) of a small node, sorted by bin.
    pairs: Vec<(usize, u32)>,
    /// Class counts per bin (classification), `k` per bin.
    class_hist: Vec<u32>,
    /// Running class counts left of a cut and in the node.
    left_counts: Vec<u32>,
    total_counts: Vec<u32>,
    /// Right part of a partition.
    right: Vec<u32>,
    /// Packed (bin, sample) keys of a small node.
    keys: Vec<u64>,
    /// Per-bin sums indexed by bin (classes: `k` counts per bin; numbers: Σwy, Σwy²), all zero
    /// between split searches: only the bins a search occupied are read and cleared.
    bin_class: Vec<u32>,
    bin_sums: Vec<f64>,
    bin_counts: Vec<f64>,
    /// Occupied bins of the current search, one bit per bin.
    bits: Vec<u64>,
    /// Class counts of the node being split (two classes).
    node_counts: [u32; 2],
    /// Two classes: the node's samples as `multiplicity << 1 | class`, in node order.
    codes: Vec<u32>,
    /// Two classes: the counts by bin and occupied-bin bitmap of each feature of a joint
    /// search (zero between searches, as `bin_class` and `bits`): `small` when every feature
    /// of the search has at most [`SMALL_BINS`] bins (always with histogram bins), `lanes`
    /// otherwise.
    small: Box<SmallLanes>,
    lanes: [Lane; LANES],
    /// Features drawn for a node, in draw order.
    batch: Vec<usize>,
}

impl Scratch {
    /// Make the per-bin buffers hold `nb` bins of `w` values and `words` bitmap words.
    fn reserve_bins(&mut self, nb: usize, w: usize, words: usize, classes: bool) {
        if classes {
            if self.bin_class.len() < nb * w {
                self.bin_class.resize(nb * w, 0);
            }
        } else if self.bin_counts.len() < nb {
            self.bin_sums.resize(nb * w, 0.0);
            self.bin_counts.resize(nb, 0.0);
        }
        if self.bits.len() < words {
            self.bits.resize(words, 0);
        }
    }

    /// Make the first `n` lanes hold `nb` bins and `words` bitmap words.
    fn reserve_lanes(&mut self, n: usize, nb: usize, words: usize) {
        for lane in &mut self.lanes[..n] {
            if lane.counts.len() < nb {
                lane.counts.resize(nb, [0; 2]);
            }
            if lane.bits.len() < words {
                lane.bits.resize(words, 0);
            }
        }
    }
}

/// How many features a two-class search counts in one pass over a node's samples (with 4, an
/// L fold's trees took up to 16 % less CPU than with 2 in alternated runs, 8 % in a quiet
/// moment; 8 was slower, or no faster in sixteen alternations in one process).
const LANES: usize = 4;
const _: () = assert!(LANES == 4, "the joint search has one arm per size up to 4");

/// One feature's counts by bin (`counts[b][c]`) and occupied-bin bitmap in a joint search.
#[derive(Default)]
struct Lane {
    counts: Vec<[u32; 2]>,
    bits: Vec<u64>,
}

/// The most bins a feature of a [`SmallLanes`] search has.
const SMALL_BINS: usize = 256;

/// [`Lane`]s of fixed size, for features with at most [`SMALL_BINS`] bins: the filling loop
/// addresses them from one base each and needs no bounds checks (a bin below `SMALL_BINS`
/// indexes them whole), which keeps a four-feature pass's state in registers.
struct SmallLanes {
    counts: [[[u32; 2]; SMALL_BINS]; LANES],
    bits: [[u64; SMALL_BINS / 64]; LANES],
}

impl Default for SmallLanes {
    fn default() -> Self {
        SmallLanes {
            counts: [[[0; 2]; SMALL_BINS]; LANES],
            bits: [[0; SMALL_BINS / 64]; LANES],
        }
    }
}

/// Visit the set bits of `bits[..words]` in ascending order, clearing them.
#[inline]
fn drain_bits(bits: &mut [u64], mut visit: impl FnMut(usize)) {
    for (w, word) in bits.iter_mut().enumerate() {
        let mut v = std::mem::take(word);
        while v != 0 {
            visit(w * 64 + v.trailing_zeros() as usize);
            v &= v - 1;
        }
    }
}

/// The best cut of a node with two classes from its counts by bin (`counts[b][c]`) and
/// bitmap of occupied bins, scored while the occupied bins are visited in order, in blocks of
/// [`CUT_BLOCK`] cuts (the node's class counts `totals` are known beforehand): (weighted
/// child Gini impurity sum, last bin on
/// the left, first occupied bin on the right), `None` when no cut leaves `min_leaf` samples on
/// both sides. Candidates, scores and ties are those of the general class path of
/// `best_split_class`, bit for bit. Leaves the counts and bitmap zero.
///
/// `beat` is the score of the node's best split on the features searched before; a cut that
/// cannot score below it is not scored. With two classes the score is
/// `2·l0·l1/nl + 2·r0·r1/nr`, so `score · nl · nr = 2·(l0·l1·nr + r0·r1·nl)`, computed without
/// a division to within a relative 1e-15; a cut is skipped when that product exceeds
/// `(beat + 1e-9·n) · nl · nr`, i.e. when its score is above `beat` by far more than rounding
/// could move either. Such cuts are never the split a search without skipping returns when
/// that split beats `beat` (they would not outrank one that does: their scores are above
/// `beat` by more than the 1e-12 · n tie margin), so the node's chosen split is the same;
/// when every valid cut is skipped the result is `(∞, 0, 0)`, which no node keeps, so the
/// feature still counts as tried. A whole block is skipped when the bound holds at the four
/// corners of the box its cuts' left class counts span ([`CutScan::block`]); on an L fold
/// 88 % of the blocks are, and the trees took a tenth less CPU than with the bound cut by cut.
#[inline(never)]
fn two_class_cut(
    bits: &mut [u64],
    counts: &mut [[u32; 2]],
    n: f64,
    min_leaf: usize,
    totals: [u32; 2],
    beat: Option<f64>,
) -> Option<(f64, usize, usize)> {
    let mut scan = CutScan {
        t: totals,
        n,
        min_leaf: u32::try_from(min_leaf).unwrap_or(u32::MAX),
        skip_from: beat.map_or(f64::INFINITY, |b| b + 1e-9 * n),
        best: None,
        skipped: false,
    };
    let mut block = [Cut::default(); CUT_BLOCK];
    let mut len = 0;
    let (mut l0, mut l1) = (0u32, 0u32);
    let mut prev = u32::MAX;
    for (w, word) in bits.iter_mut().enumerate() {
        let mut v = std::mem::take(word);
        while v != 0 {
            let b = w * 64 + v.trailing_zeros() as usize;
            v &= v - 1;
            if prev != u32::MAX {
                block[len] = Cut {
                    l0,
                    l1,
                    bin: prev,
                    next: b as u32,
                };
                len += 1;
                if len == CUT_BLOCK {
                    scan.block(&block);
                    len = 0;
                }
            }
            let [c0, c1] = std::mem::take(&mut counts[b]);
            l0 += c0;
            l1 += c1;
            prev = b as u32;
        }
    }
    scan.block(&block[..len]);
    match scan.best {
        None if scan.skipped => Some((f64::INFINITY, 0, 0)),
        best => best,
    }
}

/// Cuts scored together by [`two_class_cut`]: a block whose bounding box of left class
/// counts cannot hold a cut below the bound is passed over whole. (On an L fold, 16 took
/// less CPU than 4, 8, or 32 and 64 with a second test on their eighths or quarters.)
const CUT_BLOCK: usize = 16;

/// One candidate cut of a two-class search: the class counts left of it, the last bin on its
/// left and the first occupied bin on its right.
#[derive(Clone, Copy, Default)]
struct Cut {
    l0: u32,
    l1: u32,
    bin: u32,
    next: u32,
}

/// The state of one [`two_class_cut`] search.
struct CutScan {
    /// The node's class counts.
    t: [u32; 2],
    /// The node's weighted size.
    n: f64,
    min_leaf: u32,
    /// Cuts whose score is known to be above this are not scored.
    skip_from: f64,
    best: Option<(f64, usize, usize)>,
    /// A valid cut was passed over.
    skipped: bool,
}

impl CutScan {
    /// Whether the score of the cut with left class counts `(a0, a1)` is above `skip_from`,
    /// decided without a division: `score · nl · nr = 2·(a0·a1·nr + r0·r1·nl)`.
    #[inline(always)]
    fn above(&self, a0: u32, a1: u32) -> bool {
        let (nl, nr) = (a0 + a1, self.t[0] + self.t[1] - a0 - a1);
        let (a0, a1) = (f64::from(a0), f64::from(a1));
        let (r0, r1) = (f64::from(self.t[0]) - a0, f64::from(self.t[1]) - a1);
        let (nlf, nrf) = (f64::from(nl), f64::from(nr));
        2.0 * (a0 * a1 * nrf + r0 * r1 * nlf) > self.skip_from * nlf * nrf
    }

    /// Score the cuts of one block, in order, or pass over all of them when the four corners
    /// of the box their left class counts span are above `skip_from`: the score is concave in
    /// the left class counts (the node's size minus a sum of two quadratic-over-linear
    /// functions), so on a box where both sides keep samples its minimum is at a corner.
    #[inline(always)]
    fn block(&mut self, cuts: &[Cut]) {
        let (Some(first), Some(last)) = (cuts.first(), cuts.last()) else {
            return;
        };
        let n_int = self.t[0] + self.t[1];
        if cuts.len() > 2
            && first.l0 + first.l1 >= self.min_leaf
            && n_int - last.l0 - last.l1 >= self.min_leaf
            && self.above(first.l0, first.l1)
            && self.above(last.l0, last.l1)
            && self.above(first.l0, last.l1)
            && self.above(last.l0, first.l1)
        {
            self.skipped = true;
            return;
        }
        for c in cuts {
            let nl = c.l0 + c.l1;
            let nr = n_int - nl;
            if nl < self.min_leaf || nr < self.min_leaf {
                continue;
            }
            if self.above(c.l0, c.l1) {
                self.skipped = true;
                continue;
            }
            let (a0, a1) = (f64::from(c.l0), f64::from(c.l1));
            let (r0, r1) = (f64::from(self.t[0] - c.l0), f64::from(self.t[1] - c.l1));
            let gl = (a0 * a0 + a1 * a1) / f64::from(nl);
            let gr = (r0 * r0 + r1 * r1) / f64::from(nr);
            let score = self.n - gl - gr;
            if self.best.is_none_or(|(s, _, _)| score < s - 1e-12 * self.n) {
                self.best = Some((score, c.bin as usize, c.next as usize));
            }
        }
    }
}

/// A feature's best split at a node: the feature counts as tried when it has a split, and
/// becomes the node's choice when it scores below every feature before it.
fn keep(
    chosen: &mut Option<(f64, usize, usize, usize)>,
    tried: &mut usize,
    f: usize,
    split: Option<(f64, usize, usize)>,
) {
    if let Some((score, bin, next)) = split {
        *tried += 1;
        if chosen.is_none_or(|(s, _, _, _)| score < s) {
            *chosen = Some((score, f, bin, next));
        }
    }
}

/// One tree's growth on binned features. Samples are the distinct bootstrap draws, each with
/// its multiplicity as an integer weight, so a sample drawn three times costs one visit per
/// node instead of three; every count, sum and impurity is the one of the drawn multiset.
struct Grow<'a, B> {
    b: &'a Binned<B>,
    y_class: &'a [usize],
    y_num: &'a [f64],
    k: usize,
    mtry: usize,
    min_leaf: usize,
    max_depth: usize,
    /// Classes, leaves of one sample: once a node has a perfect split, the later features
    /// are only counted ([`Grow::varies`]), not searched (the same tree).
    perfect_stop: bool,
}

impl<B: Bin> Grow<'_, B> {
    fn n_out(&self) -> usize {
        self.k.max(1)
    }

    /// Weighted size of a node.
    fn size(idx: &[u32], wt: &[u32]) -> f64 {
        idx.iter().map(|&i| wt[i as usize] as f64).sum()
    }

    fn leaf_value(&self, idx: &[u32], wt: &[u32], out: &mut Vec<f64>) {
        let n = Self::size(idx, wt);
        if self.k > 0 {
            let mut c = vec![0.0; self.k];
            for &i in idx {
                c[self.y_class[i as usize]] += wt[i as usize] as f64;
            }
            out.extend(c.iter().map(|v| v / n));
        } else {
            let s: f64 = idx
                .iter()
                .map(|&i| wt[i as usize] as f64 * self.y_num[i as usize])
                .sum();
            out.push(s / n);
        }
    }

    fn impurity(&self, idx: &[u32], wt: &[u32]) -> f64 {
        let n = Self::size(idx, wt);
        if self.k > 0 {
            let mut c = vec![0.0; self.k];
            for &i in idx {
                c[self.y_class[i as usize]] += wt[i as usize] as f64;
            }
            1.0 - c.iter().map(|v| (v / n) * (v / n)).sum::<f64>()
        } else {
            let m = idx
                .iter()
                .map(|&i| wt[i as usize] as f64 * self.y_num[i as usize])
                .sum::<f64>()
                / n;
            idx.iter()
                .map(|&i| {
                    let d = self.y_num[i as usize] - m;
                    wt[i as usize] as f64 * d * d
                })
                .sum::<f64>()
                / n
        }
    }

    /// Best split of the node `idx` (weighted size `n`) on feature f: (score = weighted child
    /// impurity sum, last bin on the left, first occupied bin on the right).
    ///
    /// The node's samples are summarized per occupied bin, in bin order: through per-bin sums
    /// and a bitmap of the occupied bins (buffers kept zero between searches, so a search costs
    /// its samples plus its occupied bins, never the empty ones), or, when the node has fewer
    /// samples than the bitmap has words (exact bins of a small node), through a sort of the
    /// samples by bin.
    fn best_split(
        &self,
        f: usize,
        idx: &[u32],
        wt: &[u32],
        n: f64,
        s: &mut Scratch,
        beat: Option<f64>,
    ) -> Option<(f64, usize, usize)> {
        if self.k > 0 {
            return self.best_split_class(f, idx, wt, n, s, beat);
        }
        let nb = self.b.n_bins(f);
        let col = self.b.column(f);
        let w = self.n_out().max(2);
        let words = nb.div_ceil(64);
        s.reserve_bins(nb, w, words, false);
        let Scratch {
            hist,
            counts,
            occupied,
            pairs,
            bin_sums: sums,
            bin_counts,
            bits,
            ..
        } = s;
        hist.clear();
        counts.clear();
        occupied.clear();
        if words > idx.len() {
            pairs.clear();
            pairs.extend(idx.iter().map(|&i| (col[i as usize].idx(), i)));
            pairs.sort_unstable();
            for &(b, i) in pairs.iter() {
                if occupied.last() != Some(&b) {
                    occupied.push(b);
                    counts.push(0.0);
                    hist.extend(std::iter::repeat_n(0.0, w));
                }
                let g = occupied.len() - 1;
                self.add(
                    &mut hist[g * w..(g + 1) * w],
                    &mut counts[g],
                    i as usize,
                    wt,
                );
            }
        } else {
            let bits = &mut bits[..words];
            for &i in idx {
                let bin = col[i as usize].idx();
                self.add(
                    &mut sums[bin * w..(bin + 1) * w],
                    &mut bin_counts[bin],
                    i as usize,
                    wt,
                );
                bits[bin >> 6] |= 1 << (bin & 63);
            }
            drain_bits(bits, |bin| {
                occupied.push(bin);
                counts.push(std::mem::take(&mut bin_counts[bin]));
                for v in &mut sums[bin * w..(bin + 1) * w] {
                    hist.push(std::mem::take(v));
                }
            });
        }
        let ng = occupied.len();
        if ng < 2 {
            return None;
        }
        let mut left = vec![0.0; w];
        let mut total = vec![0.0; w];
        for g in 0..ng {
            for c in 0..w {
                total[c] += hist[g * w + c];
            }
        }
        let mut nl = 0.0;
        let mut best: Option<(f64, usize, usize)> = None;
        for g in 0..ng - 1 {
            nl += counts[g];
            for c in 0..w {
                left[c] += hist[g * w + c];
            }
            let nr = n - nl;
            if nl < self.min_leaf as f64 || nr < self.min_leaf as f64 {
                continue;
            }
            // Weighted child impurity (lower is better): Gini n·(1 − Σp²) or SSE.
            let score = if self.k > 0 {
                let gl: f64 = left.iter().take(self.k).map(|v| v * v).sum::<f64>() / nl;
                let gr: f64 = (0..self.k)
                    .map(|c| (total[c] - left[c]) * (total[c] - left[c]))
                    .sum::<f64>()
                    / nr;
                n - gl - gr
            } else {
                let (sl, ql) = (left[0], left[1]);
                let (sr, qr) = (total[0] - sl, total[1] - ql);
                (ql - sl * sl / nl) + (qr - sr * sr / nr)
            };
            if best.is_none_or(|(s, _, _)| score < s - 1e-12 * n) {
                best = Some((score, occupied[g], occupied[g + 1]));
            }
        }
        best
    }

    /// [`Self::best_split`] for classes: integer class counts per bin (sums of bootstrap
    /// multiplicities, so every count, and hence every score, is exactly what summing 1.0 per
    /// drawn sample gives).
    fn best_split_class(
        &self,
        f: usize,
        idx: &[u32],
        wt: &[u32],
        n: f64,
        s: &mut Scratch,
        beat: Option<f64>,
    ) -> Option<(f64, usize, usize)> {
        let k = self.k;
        let nb = self.b.n_bins(f);
        let col = self.b.column(f);
        let y = self.y_class;
        let words = nb.div_ceil(64);
        s.reserve_bins(nb, k, words, true);
        let Scratch {
            occupied,
            keys,
            class_hist: h,
            left_counts: left,
            total_counts: total,
            bin_class,
            bits,
            node_counts,
            codes,
            small,
            lanes,
            ..
        } = s;
        occupied.clear();
        h.clear();
        if words > idx.len() {
            // Fewer samples than bitmap words (exact bins of a small node): sort (bin, sample)
            // packed into one integer key.
            keys.clear();
            keys.extend(
                idx.iter()
                    .map(|&i| ((col[i as usize].idx() as u64) << 32) | i as u64),
            );
            keys.sort_unstable();
            for &key in keys.iter() {
                let (b, i) = ((key >> 32) as usize, (key & 0xffff_ffff) as usize);
                if occupied.last() != Some(&b) {
                    occupied.push(b);
                    h.extend(std::iter::repeat_n(0, k));
                }
                let g = occupied.len() - 1;
                h[g * k + y[i]] += wt[i];
            }
        } else if k == 2 {
            // The first lane of a joint search, as one feature alone.
            let (bits, counts) = if nb <= SMALL_BINS {
                (&mut small.bits[0][..words], &mut small.counts[0][..])
            } else {
                let lane = &mut lanes[0];
                if lane.counts.len() < nb {
                    lane.counts.resize(nb, [0; 2]);
                }
                if lane.bits.len() < words {
                    lane.bits.resize(words, 0);
                }
                (&mut lane.bits[..words], &mut lane.counts[..])
            };
            for (&i, &c) in idx.iter().zip(codes.iter()) {
                let b = col[i as usize].idx();
                counts[b][(c & 1) as usize] += c >> 1;
                bits[b >> 6] |= 1 << (b & 63);
            }
            return two_class_cut(bits, counts, n, self.min_leaf, *node_counts, beat);
        } else {
            // Counts by bin and a bitmap of the occupied bins: one pass over the samples and
            // one over the occupied bins, whatever the number of bins.
            let bits = &mut bits[..words];
            for &i in idx {
                let i = i as usize;
                let b = col[i].idx();
                bin_class[b * k + y[i]] += wt[i];
                bits[b >> 6] |= 1 << (b & 63);
            }
            drain_bits(bits, |b| {
                occupied.push(b);
                for c in &mut bin_class[b * k..(b + 1) * k] {
                    h.push(std::mem::take(c));
                }
            });
        }
        let ng = occupied.len();
        if ng < 2 {
            return None;
        }
        left.clear();
        left.resize(k, 0);
        total.clear();
        total.resize(k, 0);
        for g in 0..ng {
            for c in 0..k {
                total[c] += h[g * k + c];
            }
        }
        let mut nl = 0u64;
        let min_leaf = self.min_leaf as u64;
        let n_int = n as u64;
        let mut best: Option<(f64, usize, usize)> = None;
        for g in 0..ng - 1 {
            for c in 0..k {
                let v = h[g * k + c];
                left[c] += v;
                nl += v as u64;
            }
            let nr = n_int - nl;
            if nl < min_leaf || nr < min_leaf {
                continue;
            }
            // Weighted child Gini impurity n·(1 − Σp²) summed over both children.
            let (nlf, nrf) = (nl as f64, nr as f64);
            let gl: f64 = left.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / nlf;
            let gr: f64 = (0..k)
                .map(|c| {
                    let r = (total[c] - left[c]) as f64;
                    r * r
                })
                .sum::<f64>()
                / nrf;
            let score = n - gl - gr;
            if best.is_none_or(|(s, _, _)| score < s - 1e-12 * n) {
                best = Some((score, occupied[g], occupied[g + 1]));
            }
        }
        best
    }

    /// Two classes: the counts by bin of features `fs` (lane `l` for `fs[l]`), each with at
    /// most as many bitmap words as the node has samples, from one pass over the node's
    /// samples; [`two_class_cut`] then scores each as [`Self::best_split`] would alone.
    ///
    /// Returns whether the counts are in `s.small` (every feature has at most [`SMALL_BINS`]
    /// bins) rather than in `s.lanes`.
    fn two_class_fill<const N: usize>(&self, fs: [usize; N], idx: &[u32], s: &mut Scratch) -> bool {
        const { assert!(N <= LANES) };
        let nb = fs.iter().map(|&f| self.b.n_bins(f)).max().unwrap_or(0);
        let cols: [&[B]; N] = fs.map(|f| self.b.column(f));
        if nb <= SMALL_BINS {
            let Scratch { codes, small, .. } = s;
            let SmallLanes { counts, bits } = &mut **small;
            // Every column has `rows` values: one check of a sample covers the N reads.
            let rows = self.b.n;
            let cols = cols.map(|col| &col[..rows]);
            for (&i, &c) in idx.iter().zip(codes.iter()) {
                let i = i as usize;
                assert!(i < rows, "a node's sample is a row of the binned features");
                let (w, y) = (c >> 1, (c & 1) as usize);
                for l in 0..N {
                    // Every bin is below SMALL_BINS: the remainder is the bin itself.
                    let b = cols[l][i].idx() % SMALL_BINS;
                    counts[l][b][y] += w;
                    bits[l][b / 64] |= 1 << (b % 64);
                }
            }
            return true;
        }
        s.reserve_lanes(N, nb, nb.div_ceil(64));
        let Scratch { codes, lanes, .. } = s;
        let lanes = &mut lanes[..N];
        for (&i, &c) in idx.iter().zip(codes.iter()) {
            let (w, y) = (c >> 1, (c & 1) as usize);
            for (lane, col) in lanes.iter_mut().zip(cols) {
                let b = col[i as usize].idx();
                lane.counts[b][y] += w;
                lane.bits[b >> 6] |= 1 << (b & 63);
            }
        }
        false
    }

    /// Whether feature f takes two bins or more among the samples `idx`.
    fn varies(&self, f: usize, idx: &[u32]) -> bool {
        let col = self.b.column(f);
        match idx.split_first() {
            Some((&first, rest)) => {
                let b = col[first as usize];
                rest.iter().any(|&i| col[i as usize] != b)
            }
            None => false,
        }
    }

    /// Add sample i (weight `wt[i]`) to one bin's sums: class counts, or Σwy and Σwy².
    #[inline]
    fn add(&self, sums: &mut [f64], count: &mut f64, i: usize, wt: &[u32]) {
        let m = wt[i] as f64;
        *count += m;
        if self.k > 0 {
            sums[self.y_class[i]] += m;
        } else {
            let y = self.y_num[i];
            sums[0] += m * y;
            sums[1] += m * y * y;
        }
    }

    /// Grow one tree on the samples `idx` (distinct, ascending) with multiplicities `wt`.
    fn grow(&self, rng: &mut Rng, mut idx: Vec<u32>, wt: &[u32], importance: &mut [f64]) -> Tree {
        let p = self.b.n_features();
        let mut nodes: Vec<Node> = Vec::new();
        let mut leaves: Vec<f64> = Vec::new();
        let mut feats: Vec<usize> = (0..p).collect();
        let mut scratch = Scratch::default();
        let blank = Node {
            feature: u32::MAX,
            threshold: 0.0,
            left: 0,
            right: 0,
        };
        nodes.push(blank.clone());
        // Stack of (node index, sample range in `idx`, depth); a node's samples are the range,
        // partitioned in place when it splits.
        let mut stack = vec![(0usize, 0usize, idx.len(), 0usize)];
        while let Some((node, lo, hi, depth)) = stack.pop() {
            let here = &idx[lo..hi];
            let n = Self::size(here, wt);
            let imp = self.impurity(here, wt);
            if self.k == 2 {
                let mut c = [0u32; 2];
                scratch.codes.clear();
                for &i in here {
                    let (y, w) = (self.y_class[i as usize], wt[i as usize]);
                    c[y] += w;
                    scratch.codes.push(w << 1 | y as u32);
                }
                scratch.node_counts = c;
            }
            let splittable =
                n >= 2.0 * self.min_leaf as f64 && imp > 1e-12 && depth < self.max_depth;
            let mut chosen: Option<(f64, usize, usize, usize)> = None;
            if splittable {
                // Draw features without replacement until `mtry` non-constant ones were tried.
                // The next `mtry − tried` draws happen whatever their splits (each feature tried
                // adds at most one), so they are drawn together, from the same stream in the
                // same order as one draw at a time, and searched in draw order, up to `LANES`
                // consecutive features per pass over the node's samples where they use the
                // bitmap path (more counts in flight per sample read the columns' cache lines
                // side by side).
                let mut tried = 0;
                let mut drawn = 0;
                let mut batch = std::mem::take(&mut scratch.batch);
                let joinable = |f: usize| self.k == 2 && self.b.n_bins(f).div_ceil(64) <= hi - lo;
                while drawn < p && tried < self.mtry {
                    batch.clear();
                    for _ in 0..(self.mtry - tried).min(p - drawn) {
                        let j = rng.gen_range(drawn..p);
                        feats.swap(drawn, j);
                        batch.push(feats[drawn]);
                        drawn += 1;
                    }
                    let mut q = 0;
                    while q < batch.len() {
                        if self.perfect_stop && chosen.is_some_and(|c| c.0 == 0.0) {
                            // A perfect split (both children pure) is kept: no later feature
                            // scores below 0. The later features of the draw only count as
                            // tried, which with leaves of one sample means two distinct bins
                            // among the node's samples, so the draws go on as they would.
                            tried += batch[q..].iter().filter(|&&g| self.varies(g, here)).count();
                            break;
                        }
                        let f = batch[q];
                        let joint = batch[q..]
                            .iter()
                            .take(LANES)
                            .take_while(|&&g| joinable(g))
                            .count();
                        if joint >= 2 {
                            let fs = &batch[q..q + joint];
                            // One arm per joint size: 2 ..= LANES.
                            let small = match joint {
                                4 => self.two_class_fill(
                                    [fs[0], fs[1], fs[2], fs[3]],
                                    here,
                                    &mut scratch,
                                ),
                                3 => self.two_class_fill([fs[0], fs[1], fs[2]], here, &mut scratch),
                                _ => self.two_class_fill([fs[0], fs[1]], here, &mut scratch),
                            };
                            // Scored in draw order: a later search may skip what an earlier
                            // one's split already beats.
                            let c = scratch.node_counts;
                            for (l, &feature) in fs.iter().enumerate() {
                                let words = self.b.n_bins(feature).div_ceil(64);
                                let (bits, counts) = if small {
                                    let lanes = &mut *scratch.small;
                                    (&mut lanes.bits[l][..words], &mut lanes.counts[l][..])
                                } else {
                                    let lane = &mut scratch.lanes[l];
                                    (&mut lane.bits[..words], &mut lane.counts[..])
                                };
                                let split = two_class_cut(
                                    bits,
                                    counts,
                                    n,
                                    self.min_leaf,
                                    c,
                                    chosen.map(|c| c.0),
                                );
                                keep(&mut chosen, &mut tried, feature, split);
                            }
                            q += joint;
                        } else {
                            let split =
                                self.best_split(f, here, wt, n, &mut scratch, chosen.map(|c| c.0));
                            keep(&mut chosen, &mut tried, f, split);
                            q += 1;
                        }
                    }
                }
                scratch.batch = batch;
            }
            match chosen {
                Some((score, f, bin, next)) => {
                    let col = self.b.column(f);
                    // Stable in-place partition: left samples keep their order, then the right.
                    let part = &mut idx[lo..hi];
                    let right = &mut scratch.right;
                    right.clear();
                    let mut nl = 0;
                    for r in 0..part.len() {
                        let i = part[r];
                        if col[i as usize].idx() <= bin {
                            part[nl] = i;
                            nl += 1;
                        } else {
                            right.push(i);
                        }
                    }
                    part[nl..].copy_from_slice(right);
                    importance[f] += (imp * n - score).max(0.0);
                    let li = nodes.len();
                    nodes.push(blank.clone());
                    let ri = nodes.len();
                    nodes.push(blank.clone());
                    nodes[node] = Node {
                        feature: f as u32,
                        threshold: self.b.threshold(f, bin, next),
                        left: li as u32,
                        right: ri as u32,
                    };
                    stack.push((ri, lo + nl, hi, depth + 1));
                    stack.push((li, lo, lo + nl, depth + 1));
                }
                None => {
                    let leaf = leaves.len() / self.n_out();
                    self.leaf_value(here, wt, &mut leaves);
                    nodes[node] = Node {
                        feature: u32::MAX,
                        threshold: 0.0,
                        left: leaf as u32,
                        right: leaf as u32,
                    };
                }
            }
        }
        Tree { nodes, leaves }
    }
}

impl ForestParams {
    /// Check the parameters alone.
    pub fn validate(&self) -> Result<()> {
        const W: &str = "random forest";
        ensure(self.n_trees >= 1, W, "n_trees", || {
            "is 0; grow at least one tree".into()
        })?;
        ensure((2..=255).contains(&self.max_bins), W, "max_bins", || {
            format!("is {}; use 2–255", self.max_bins)
        })?;
        ensure(
            self.min_samples_leaf != Some(0),
            W,
            "min_samples_leaf",
            || "is 0; use at least 1".into(),
        )?;
        ensure(self.max_depth != Some(0), W, "max_depth", || {
            "is 0; use at least 1 or leave it unset".into()
        })?;
        ensure(self.n_threads >= 1, W, "n_threads", || {
            "is 0; use at least 1".into()
        })?;
        match self.max_features {
            MaxFeatures::Fraction(f) => ensure(f > 0.0 && f <= 1.0, W, "max_features", || {
                format!("fraction {f} is outside (0, 1]")
            }),
            MaxFeatures::Count(c) => ensure(c >= 1, W, "max_features", || "count is 0".into()),
            _ => Ok(()),
        }
    }

    fn mtry(&self, p: usize, classification: bool) -> usize {
        let m = match self.max_features {
            MaxFeatures::Auto if classification => (p as f64).sqrt().floor() as usize,
            MaxFeatures::Auto => p / 3,
            MaxFeatures::Sqrt => (p as f64).sqrt().floor() as usize,
            MaxFeatures::Third => p / 3,
            MaxFeatures::All => p,
            MaxFeatures::Fraction(f) => (f * p as f64).floor() as usize,
            MaxFeatures::Count(c) => c,
        };
        m.clamp(1, p)
    }

    /// Fit on a complete matrix.
    pub fn fit(&self, x: ArrayView2<f64>, labels: &Labels) -> Result<Forest> {
        self.prepare(x, labels)?.grow()
    }

    /// The part of [`ForestParams::fit`] that reads the matrix: checks and the features' bins.
    /// [`PreparedForest::grow`] then grows the trees from the bins alone, so a caller can drop
    /// the matrix in between (the same forest, bit for bit).
    pub fn prepare(&self, x: ArrayView2<f64>, labels: &Labels) -> Result<PreparedForest> {
        self.validate()?;
        let (n, p) = x.dim();
        if n < 2 {
            return Err(data_err("random forest", "needs at least 2 samples"));
        }
        let bins = match self.splitter {
            Splitter::Histogram => Bins::Histogram(bin_histogram(x, self.max_bins, self.n_threads)),
            Splitter::Exact => Bins::Exact(bin_exact(x)?),
        };
        Ok(PreparedForest {
            params: self.clone(),
            labels: labels.clone(),
            n_features: p,
            bins,
        })
    }
}

/// Binned features of one fit: bin indices per feature ([`Splitter`]).
enum Bins {
    Histogram(Binned<u8>),
    Exact(Binned<u16>),
}

/// A forest fit whose features are binned and whose trees are not grown yet
/// ([`ForestParams::prepare`]); it holds no reference to the training matrix.
pub struct PreparedForest {
    params: ForestParams,
    labels: Labels,
    n_features: usize,
    bins: Bins,
}

impl PreparedForest {
    /// Grow the trees: the forest [`ForestParams::fit`] returns.
    pub fn grow(self) -> Result<Forest> {
        self.grow_with(true)
    }

    /// [`PreparedForest::grow`], with or without the search's stop at a perfect split (the
    /// same forest either way; a test holds the two together).
    fn grow_with(self, perfect_stop: bool) -> Result<Forest> {
        let PreparedForest {
            params,
            labels,
            n_features: p,
            bins,
        } = self;
        let (y_class, y_num, k): (Vec<usize>, Vec<f64>, usize) = match labels {
            Labels::Classes { y, n_classes } => (y, Vec::new(), n_classes.max(2)),
            Labels::Numeric { y } => (Vec::new(), y, 0),
        };
        let classification = k > 0;
        let mtry = params.mtry(p, classification);
        let min_leaf = params
            .min_samples_leaf
            .unwrap_or(if classification { 1 } else { 5 });
        let max_depth = params.max_depth.unwrap_or(usize::MAX);
        let perfect_stop = perfect_stop && classification && min_leaf == 1;
        let results = match &bins {
            Bins::Histogram(binned) => params.grow_all(&Grow {
                b: binned,
                y_class: &y_class,
                y_num: &y_num,
                k,
                mtry,
                min_leaf,
                max_depth,
                perfect_stop,
            }),
            Bins::Exact(binned) => params.grow_all(&Grow {
                b: binned,
                y_class: &y_class,
                y_num: &y_num,
                k,
                mtry,
                min_leaf,
                max_depth,
                perfect_stop,
            }),
        };
        drop(bins);
        if results.len() != params.n_trees {
            return Err(data_err(
                "random forest",
                "a worker thread failed while growing trees",
            ));
        }
        let mut importance = vec![0.0; p];
        let mut trees = Vec::with_capacity(params.n_trees);
        for (t, shares) in results {
            for (f, b) in shares {
                importance[f as usize] += b / params.n_trees as f64;
            }
            trees.push(t);
        }
        Ok(Forest {
            trees,
            n_classes: if classification { k } else { 0 },
            n_features: p,
            importance,
        })
    }
}

impl ForestParams {
    /// Grow every tree (on `n_threads` threads, trees in index order), each with its
    /// normalized impurity decrease per feature as (feature, share) pairs of the features it
    /// split on, ascending: a dense vector per tree would hold 500 × p numbers until the forest
    /// is assembled, and the zeros it adds change no sum.
    fn grow_all<B: Bin>(&self, g: &Grow<'_, B>) -> Vec<(Tree, Vec<(u32, f64)>)> {
        let (n, p) = (g.b.n, g.b.n_features());
        let grow_one = |t: usize| -> (Tree, Vec<(u32, f64)>) {
            let mut rng = seeded(derive_seed(self.seed, &format!("tree/{t}")));
            // Bootstrap draws as multiplicities of the distinct samples drawn.
            let mut wt = vec![0u32; n];
            if self.bootstrap {
                for _ in 0..n {
                    wt[rng.gen_range(0..n)] += 1;
                }
            } else {
                wt.fill(1);
            }
            let idx: Vec<u32> = (0..n as u32).filter(|&i| wt[i as usize] > 0).collect();
            let mut imp = vec![0.0; p];
            let tree = g.grow(&mut rng, idx, &wt, &mut imp);
            let s: f64 = imp.iter().sum();
            if s > 0.0 {
                imp.iter_mut().for_each(|v| *v /= s);
            }
            let shares = imp
                .iter()
                .enumerate()
                .filter(|(_, v)| **v != 0.0)
                .map(|(f, v)| (f as u32, *v))
                .collect();
            (tree, shares)
        };
        let threads = self.n_threads.min(self.n_trees);
        if threads <= 1 {
            return (0..self.n_trees).map(grow_one).collect();
        }
        let chunk = self.n_trees.div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|c| {
                    let grow_one = &grow_one;
                    let n_trees = self.n_trees;
                    s.spawn(move || {
                        ((c * chunk)..((c + 1) * chunk).min(n_trees))
                            .map(grow_one)
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    }
}

impl Tree {
    /// The value of the leaf a sample falls into (trees with one output per leaf).
    pub fn leaf_value(&self, row: &[f64]) -> f64 {
        self.leaves[self.leaf_of(row)]
    }

    /// Check a tree read from a file: every split feature below `n_features`, children after
    /// their parent and inside the tree (so every walk from the root ends at a leaf), and every
    /// leaf's `n_outputs` values inside `leaves`.
    pub fn check(&self, n_features: usize, n_outputs: usize) -> std::result::Result<(), String> {
        if self.nodes.is_empty() {
            return Err("no nodes".into());
        }
        for (i, nd) in self.nodes.iter().enumerate() {
            if nd.feature == u32::MAX {
                let end = (nd.left as usize + 1).saturating_mul(n_outputs);
                if end > self.leaves.len() {
                    return Err(format!(
                        "node {i} points to leaf {} but the tree has {} leaf value(s)",
                        nd.left,
                        self.leaves.len()
                    ));
                }
            } else {
                if nd.feature as usize >= n_features {
                    return Err(format!(
                        "node {i} splits on feature {} of {n_features}",
                        nd.feature
                    ));
                }
                for c in [nd.left as usize, nd.right as usize] {
                    if c <= i || c >= self.nodes.len() {
                        return Err(format!(
                            "node {i} has child {c}, outside nodes {}..{}",
                            i + 1,
                            self.nodes.len()
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn leaf_of(&self, row: &[f64]) -> usize {
        self.leaf_by(|f| row[f])
    }

    /// The leaf of the sample whose value of feature `f` is `value(f)`.
    #[inline]
    fn leaf_by(&self, value: impl Fn(usize) -> f64) -> usize {
        let mut node = 0usize;
        loop {
            let nd = &self.nodes[node];
            if nd.feature == u32::MAX {
                return nd.left as usize;
            }
            node = if value(nd.feature as usize) <= nd.threshold {
                nd.left as usize
            } else {
                nd.right as usize
            };
        }
    }
}

/// Samples per block of [`Forest::predict`].
const PREDICT_BLOCK: usize = 16;

impl Forest {
    /// Average of the trees' leaf values, samples × outputs.
    ///
    /// Samples go in blocks of [`PREDICT_BLOCK`] on rayon's workers, each block through every
    /// tree in order, reading only the values its nodes test (a tree reads a few dozen of a
    /// sample's thousands of values, and consecutive samples share cache lines of a column-major
    /// matrix). Every sample's sums add the trees in tree order, so nothing depends on the
    /// thread count.
    pub fn predict(&self, x: ArrayView2<f64>) -> Output {
        use rayon::prelude::*;
        let k = self.n_classes.max(1);
        let n = x.nrows();
        let mut sums = vec![0.0; n * k];
        sums.par_chunks_mut(PREDICT_BLOCK * k)
            .enumerate()
            .for_each(|(b, block)| {
                let first = b * PREDICT_BLOCK;
                for t in &self.trees {
                    for (r, out) in block.chunks_mut(k).enumerate() {
                        let i = first + r;
                        let leaf = t.leaf_by(|f| x[[i, f]]);
                        for (o, v) in out.iter_mut().zip(&t.leaves[leaf * k..(leaf + 1) * k]) {
                            *o += v;
                        }
                    }
                }
            });
        let mut acc = ndarray::Array2::from_shape_vec((n, k), sums)
            .unwrap_or_else(|_| unreachable!("n × k sums"));
        acc.mapv_inplace(|v| v / self.trees.len() as f64);
        if self.n_classes > 0 {
            Output::Probabilities { p: acc }
        } else {
            Output::Values {
                y: acc.column(0).to_vec(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn data() -> (Array2<f64>, Vec<usize>, Vec<f64>) {
        let x = Array2::from_shape_fn((60, 5), |(i, j)| ((i * (j + 3) * 7919) % 101) as f64 / 10.0);
        let yc = (0..60)
            .map(|i| usize::from(x[[i, 1]] + 0.5 * x[[i, 3]] > 7.5))
            .collect();
        let yn = (0..60).map(|i| 2.0 * x[[i, 1]] - x[[i, 3]]).collect();
        (x, yc, yn)
    }

    #[test]
    fn learns_and_ranks_informative_features() {
        let (x, yc, yn) = data();
        let p = ForestParams {
            n_trees: 60,
            seed: 3,
            ..Default::default()
        };
        let f = p
            .fit(
                x.view(),
                &Labels::Classes {
                    y: yc.clone(),
                    n_classes: 2,
                },
            )
            .unwrap();
        let Output::Probabilities { p: pr } = f.predict(x.view()) else {
            panic!()
        };
        let acc = (0..60)
            .filter(|&i| usize::from(pr[[i, 1]] > 0.5) == yc[i])
            .count();
        assert!(acc >= 57, "training accuracy {acc}/60");
        let top = (0..5)
            .max_by(|&a, &b| f.importance[a].total_cmp(&f.importance[b]))
            .unwrap();
        assert_eq!(top, 1, "{:?}", f.importance);
        assert!((f.importance.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let r = ForestParams {
            n_trees: 60,
            seed: 3,
            max_features: MaxFeatures::All,
            ..Default::default()
        }
        .fit(x.view(), &Labels::Numeric { y: yn.clone() })
        .unwrap();
        let Output::Values { y } = r.predict(x.view()) else {
            panic!()
        };
        let mse: f64 = y
            .iter()
            .zip(&yn)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            / 60.0;
        let var: f64 = {
            let m = yn.iter().sum::<f64>() / 60.0;
            yn.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / 60.0
        };
        assert!(mse < 0.2 * var, "mse {mse} var {var}");
    }

    #[test]
    fn a_prepared_fit_grows_the_forest_of_a_whole_fit_without_the_matrix() {
        use crate::models::ModelSpec;
        let (x, yc, yn) = data();
        for splitter in [Splitter::Histogram, Splitter::Exact] {
            for labels in [
                Labels::Classes {
                    y: yc.clone(),
                    n_classes: 2,
                },
                Labels::Numeric { y: yn.clone() },
            ] {
                let spec = ModelSpec::RandomForest(ForestParams {
                    n_trees: 15,
                    seed: 4,
                    splitter,
                    ..Default::default()
                });
                let whole = spec.fit(x.view(), &labels).unwrap();
                // The matrix is gone before the trees grow.
                let copy = x.clone();
                let prepared = spec.prepare(copy.view(), &labels).unwrap();
                drop(copy);
                assert_eq!(prepared.finish().unwrap(), whole);
                assert_eq!(spec.fit_owned(x.clone(), &labels).unwrap(), whole);
            }
        }
        // The checks of a fit run before the bins: a NaN cell is refused by `prepare`.
        let mut bad = x.clone();
        bad[[3, 2]] = f64::NAN;
        let labels = Labels::Classes {
            y: yc,
            n_classes: 2,
        };
        let spec = ModelSpec::RandomForest(ForestParams::default());
        assert!(spec.prepare(bad.view(), &labels).is_err());
        assert!(spec.fit_owned(bad, &labels).is_err());
    }

    #[test]
    fn bit_identical_for_any_thread_count() {
        let (x, yc, _) = data();
        let labels = Labels::Classes {
            y: yc,
            n_classes: 2,
        };
        let one = ForestParams {
            n_trees: 25,
            seed: 9,
            n_threads: 1,
            ..Default::default()
        }
        .fit(x.view(), &labels)
        .unwrap();
        let three = ForestParams {
            n_trees: 25,
            seed: 9,
            n_threads: 3,
            ..Default::default()
        }
        .fit(x.view(), &labels)
        .unwrap();
        assert_eq!(one, three);
        let other = ForestParams {
            n_trees: 25,
            seed: 10,
            ..Default::default()
        }
        .fit(x.view(), &labels)
        .unwrap();
        assert_ne!(one, other);
    }

    /// Predictions in blocks on the pool are, bit for bit, each sample's leaf values summed
    /// tree by tree, for classes and numbers, any layout, a last block short, any thread count.
    #[test]
    fn predictions_are_the_trees_summed_in_order() {
        let (x, yc, yn) = data();
        let classes = Labels::Classes {
            y: yc,
            n_classes: 2,
        };
        let numbers = Labels::Numeric { y: yn };
        let params = ForestParams {
            n_trees: 30,
            seed: 4,
            ..Default::default()
        };
        let fortran = x.t().as_standard_layout().into_owned().reversed_axes();
        for labels in [classes, numbers] {
            let forest = params.fit(x.view(), &labels).unwrap();
            let k = forest.n_classes.max(1);
            let mut want = Array2::<f64>::zeros((x.nrows(), k));
            for t in &forest.trees {
                for (i, row) in x.rows().into_iter().enumerate() {
                    let leaf = t.leaf_of(&row.to_vec());
                    for c in 0..k {
                        want[[i, c]] += t.leaves[leaf * k + c];
                    }
                }
            }
            want.mapv_inplace(|v| v / forest.trees.len() as f64);
            let got = |x: ArrayView2<f64>, threads: usize| {
                let out = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap()
                    .install(|| forest.predict(x));
                match out {
                    Output::Probabilities { p } => p,
                    Output::Values { y } => Array2::from_shape_vec((y.len(), 1), y).unwrap(),
                }
            };
            for (layout, threads) in [(x.view(), 1), (x.view(), 3), (fortran.view(), 2)] {
                let p = got(layout, threads);
                assert!(
                    p.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{threads} threads"
                );
            }
        }
    }

    #[test]
    fn two_class_search_splits_as_the_general_search() {
        // Two classes take a dedicated split search (up to four features per pass, cuts that cannot
        // beat the node's best so far skipped); declaring a third, empty class sends the same
        // data through the general one. Every node must split alike, bit for bit: with many
        // features per node, coarse features full of ties, larger leaves, and exact bins (up
        // to 400 per feature: more than the fixed-size lanes hold).
        let n = 400;
        let x = Array2::from_shape_fn((n, 40), |(i, j)| {
            let v = (((i * 7919 + j * 104_729) % 1013) as f64).sqrt() + (j % 3) as f64;
            if j % 4 == 2 {
                v.round()
            } else {
                v
            }
        });
        let y: Vec<usize> = (0..n)
            .map(|i| usize::from(x[[i, 1]] + 0.5 * x[[i, 3]] + 0.1 * x[[i, 6]] > 41.0))
            .collect();
        for (max_bins, min_leaf, p, splitter) in [
            (255, 1, 12, Splitter::Histogram),
            (16, 1, 12, Splitter::Histogram),
            (255, 1, 40, Splitter::Histogram),
            (64, 3, 40, Splitter::Histogram),
            (255, 1, 40, Splitter::Exact),
            (255, 4, 40, Splitter::Exact),
        ] {
            let x = x.slice_axis(ndarray::Axis(1), ndarray::Slice::from(..p));
            let fit = |n_classes| {
                ForestParams {
                    n_trees: 15,
                    seed: 5,
                    max_bins,
                    splitter,
                    min_samples_leaf: Some(min_leaf),
                    ..Default::default()
                }
                .fit(
                    x,
                    &Labels::Classes {
                        y: y.clone(),
                        n_classes,
                    },
                )
                .unwrap()
            };
            let (two, three) = (fit(2), fit(3));
            for (a, b) in two.trees.iter().zip(&three.trees) {
                assert_eq!(a.nodes, b.nodes);
            }
            assert_eq!(two.importance, three.importance);
        }
    }

    #[test]
    fn a_perfect_split_ends_the_search_with_the_same_tree() {
        // Once a node has a split with two pure children no later feature can replace it;
        // the later ones are only counted as tried (they decide how many more features are
        // drawn), so every tree is the one a full search grows: the same nodes and the same
        // random stream for the nodes after. Many features per node and leaves of one sample,
        // where most splits near the leaves are perfect.
        let n = 300;
        let x = Array2::from_shape_fn((n, 60), |(i, j)| {
            let v = (((i * 7919 + j * 104_729) % 1013) as f64).sqrt();
            if j % 5 == 0 {
                v.round()
            } else {
                v
            }
        });
        let y: Vec<usize> = (0..n)
            .map(|i| usize::from(x[[i, 2]] - 0.7 * x[[i, 5]] + 0.2 * x[[i, 9]] > 8.0))
            .collect();
        for (n_classes, splitter) in [
            (2, Splitter::Histogram),
            (3, Splitter::Histogram),
            (2, Splitter::Exact),
        ] {
            let labels = Labels::Classes {
                y: y.clone(),
                n_classes,
            };
            let params = ForestParams {
                n_trees: 20,
                seed: 3,
                splitter,
                ..Default::default()
            };
            let prepared = || params.prepare(x.view(), &labels).unwrap();
            let (stopped, full) = (
                prepared().grow_with(true).unwrap(),
                prepared().grow_with(false).unwrap(),
            );
            assert!(
                stopped == full,
                "the trees differ ({n_classes} classes, {splitter:?} splitter)"
            );
            let splits = full
                .trees
                .iter()
                .flat_map(|t| &t.nodes)
                .filter(|n| n.feature != u32::MAX)
                .count();
            assert!(splits > 100, "{splits} splits");
        }
    }

    #[test]
    fn histogram_and_exact_splitters_agree_on_few_distinct_values() {
        // At most max_bins distinct values per feature: both splitters see the same candidate
        // partitions of the training samples, so the trees split the training samples alike
        // (only thresholds between training values differ) and, grown on every sample (no
        // bootstrap, so no out-of-bag sample falls between two thresholds), predict them
        // identically.
        let (x, yc, _) = data();
        let labels = Labels::Classes {
            y: yc,
            n_classes: 2,
        };
        let fit = |splitter| {
            ForestParams {
                n_trees: 30,
                seed: 4,
                splitter,
                bootstrap: false,
                ..Default::default()
            }
            .fit(x.view(), &labels)
            .unwrap()
        };
        let (h, e) = (fit(Splitter::Histogram), fit(Splitter::Exact));
        assert_eq!(h.predict(x.view()), e.predict(x.view()));
        assert_eq!(h.importance, e.importance);
        // With 4 bins for 60 distinct values the trees differ.
        let coarse = ForestParams {
            n_trees: 30,
            seed: 4,
            max_bins: 4,
            ..Default::default()
        }
        .fit(x.view(), &labels)
        .unwrap();
        assert_ne!(coarse.importance, h.importance);
    }
}
