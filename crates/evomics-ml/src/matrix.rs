//! Matrix helpers shared by every method: complete sample × feature matrices from assays,
//! column statistics, standardization and pairwise distances.
//!
//! Convention: every method in this crate takes **samples in rows and features in columns**
//! (as linfa and scikit-learn); an [`Assay`] stores features × samples, so
//! [`complete_matrix`] transposes.

use evomics_core::Assay;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{data_err, MlError, Result};

/// The samples × features matrix of a layer whose every cell carries a value (observed or
/// imputed). A missing or below-detection cell is an error naming it: models never fill
/// values silently.
pub fn complete_matrix(assay: &Assay) -> Result<Array2<f64>> {
    let (nf, ns) = (assay.n_features(), assay.n_samples());
    let mut x = Array2::zeros((ns, nf));
    for i in 0..nf {
        for j in 0..ns {
            match assay.get(i, j) {
                Some(v) => x[[j, i]] = v,
                None => {
                    return Err(MlError::MissingValue {
                        what: "matrix",
                        layer: assay.name().to_string(),
                        feature: assay.features().ids()[i].clone(),
                        sample: assay.samples()[j].clone(),
                        flag: assay.flags()[[i, j]].name().to_string(),
                    })
                }
            }
        }
    }
    Ok(x)
}

/// The rows of a layer with no missing cell in any sample (complete-case features), in layer
/// order; R's `X[complete.cases(X), ]` on the features × samples matrix.
pub fn complete_features(assay: &Assay) -> Vec<usize> {
    (0..assay.n_features())
        .filter(|&i| (0..assay.n_samples()).all(|j| assay.get(i, j).is_some()))
        .collect()
}

/// Fail unless the matrix is non-empty and every value is finite.
pub(crate) fn check_matrix(x: ArrayView2<f64>, what: &'static str, min_rows: usize) -> Result<()> {
    if x.ncols() == 0 {
        return Err(data_err(what, "the matrix has no features"));
    }
    if x.nrows() < min_rows {
        return Err(data_err(
            what,
            format!(
                "the matrix has {} sample(s); at least {min_rows} are needed",
                x.nrows()
            ),
        ));
    }
    // A fast pass over the values first; positions are looked up only when one is bad.
    let all_finite = match x.as_slice_memory_order() {
        Some(s) => s.iter().all(|v| v.is_finite()),
        None => x.iter().all(|v| v.is_finite()),
    };
    if all_finite {
        return Ok(());
    }
    if let Some(((r, c), v)) = x.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(data_err(
            what,
            format!("value {v} at sample row {}, feature column {} is not finite; models need a complete, finite matrix (impute or filter first)", r + 1, c + 1),
        ));
    }
    Ok(())
}

/// Column means.
pub(crate) fn col_means(x: ArrayView2<f64>) -> Array1<f64> {
    let n = x.nrows().max(1) as f64;
    x.sum_axis(Axis(0)) / n
}

/// Column variances around `mean` with denominator `n - ddof` (at least 1).
pub(crate) fn col_vars(x: ArrayView2<f64>, mean: ArrayView1<f64>, ddof: usize) -> Array1<f64> {
    let n = x.nrows();
    let den = (n.saturating_sub(ddof)).max(1) as f64;
    let mut v = Array1::zeros(x.ncols());
    for row in x.rows() {
        for ((vj, &xj), &mj) in v.iter_mut().zip(row.iter()).zip(mean.iter()) {
            let d = xj - mj;
            *vj += d * d;
        }
    }
    v / den
}

/// Per-feature centring and (optional) scaling learned on training rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    /// Column means of the training rows.
    pub mean: Vec<f64>,
    /// Column scales (standard deviations, 1 for constant columns); empty when not scaling.
    pub scale: Vec<f64>,
}

impl Standardizer {
    /// Learn means and, when `scale`, standard deviations with denominator `n - ddof`. A
    /// column with zero spread gets scale 1, so it stays constant (zero) instead of dividing by 0.
    pub fn fit(x: ArrayView2<f64>, scale: bool, ddof: usize) -> Standardizer {
        let mean = col_means(x);
        let scale = if scale {
            col_vars(x, mean.view(), ddof)
                .iter()
                .map(|v| {
                    let s = v.sqrt();
                    if s > 0.0 && s.is_finite() {
                        s
                    } else {
                        1.0
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        Standardizer {
            mean: mean.to_vec(),
            scale,
        }
    }

    /// Apply to any rows with the same columns.
    pub fn transform(&self, x: ArrayView2<f64>) -> Array2<f64> {
        let mut out = x.to_owned();
        self.transform_in_place(&mut out);
        out
    }

    /// [`Standardizer::transform`] in place (the same operations, the same bits).
    pub fn transform_in_place(&self, x: &mut Array2<f64>) {
        for mut row in x.rows_mut() {
            for (j, v) in row.iter_mut().enumerate() {
                *v -= self.mean[j];
                if !self.scale.is_empty() {
                    *v /= self.scale[j];
                }
            }
        }
    }
}

/// A dissimilarity between two rows (samples, or features when clustering features).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Distance {
    /// Euclidean distance, R `dist(method = "euclidean")`.
    #[default]
    Euclidean,
    /// 1 − Pearson correlation of the two rows (0 for identical profiles, 2 for opposite ones).
    Pearson,
    /// 1 − Spearman rank correlation (Pearson on average ranks, ties as R's `rank`).
    Spearman,
}

impl Distance {
    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            Distance::Euclidean => "euclidean",
            Distance::Pearson => "pearson",
            Distance::Spearman => "spearman",
        }
    }
}

/// Rows centred and scaled to unit Euclidean norm, so a dot product is a Pearson correlation.
/// A constant row becomes all zeros (correlation 0 with everything).
fn unit_rows(x: ArrayView2<f64>) -> Array2<f64> {
    let mut out = x.to_owned();
    for mut row in out.rows_mut() {
        let m = row.mean().unwrap_or(0.0);
        row.mapv_inplace(|v| v - m);
        let ss = row.dot(&row).sqrt();
        if ss > 0.0 {
            row.mapv_inplace(|v| v / ss);
        } else {
            row.fill(0.0);
        }
    }
    out
}

/// Rows per block of [`cross_rows`]; fixed, so the bits do not depend on the thread count.
const CROSS_BLOCK: usize = 128;

/// `X Xᵀ` (rows × rows), computed in fixed blocks of rows on the rayon pool and made symmetric
/// to the last bit. Block `b` multiplies its rows by the rows from its own first one on (the
/// upper triangle and its diagonal block: half the products of the full matrix); the lower
/// triangle is the mirror, and the diagonal blocks are averaged with their transposes. Each
/// block is one matrix product (matrixmultiply), so the result does not depend on how many
/// threads run the blocks.
pub(crate) fn cross_rows(x: ArrayView2<f64>) -> Array2<f64> {
    use rayon::prelude::*;
    let n = x.nrows();
    let blocks: Vec<Array2<f64>> = (0..n.div_ceil(CROSS_BLOCK))
        .into_par_iter()
        .map(|b| {
            let start = b * CROSS_BLOCK;
            let rows = x.slice_axis(
                Axis(0),
                ndarray::Slice::from(start..(start + CROSS_BLOCK).min(n)),
            );
            let right = x.slice_axis(Axis(0), ndarray::Slice::from(start..n));
            rows.dot(&right.t())
        })
        .collect();
    let mut g = Array2::zeros((n, n));
    for (b, block) in blocks.iter().enumerate() {
        let start = b * CROSS_BLOCK;
        let mut rows =
            g.slice_axis_mut(Axis(0), ndarray::Slice::from(start..start + block.nrows()));
        rows.slice_axis_mut(Axis(1), ndarray::Slice::from(start..))
            .assign(block);
    }
    for i in 0..n {
        let block_end = (i / CROSS_BLOCK + 1) * CROSS_BLOCK;
        for j in (i + 1)..n {
            if j < block_end {
                let v = 0.5 * (g[[i, j]] + g[[j, i]]);
                g[[i, j]] = v;
                g[[j, i]] = v;
            } else {
                g[[j, i]] = g[[i, j]];
            }
        }
    }
    g
}

/// Euclidean distances between the rows from the Gram matrix of the column-centred rows,
/// `d_ij = √(g_ii + g_jj − 2 g_ij)` (as scikit-learn's `euclidean_distances`): one matrix product
/// instead of n²/2 loops over the features. Close rows lose digits (relative error of d² about
/// ε·|x|²/d²), so this serves summaries such as the silhouette, never dendrogram heights.
pub(crate) fn euclidean_via_gram(x: ArrayView2<f64>) -> Array2<f64> {
    distances_from_gram(&centred_gram(x))
}

/// The Gram matrix `G = X_c X_cᵀ` of the column-centred rows of `x` (centring keeps
/// `g_ii − 2 g_ij + g_jj` from cancelling digits when the values sit far from zero).
pub(crate) fn centred_gram(x: ArrayView2<f64>) -> Array2<f64> {
    let mean = col_means(x);
    let xc = &x - &mean;
    cross_rows(xc.view())
}

/// Euclidean distances `√(g_ii + g_jj − 2 g_ij)` from a Gram matrix (see [`euclidean_via_gram`]).
pub(crate) fn distances_from_gram(g: &Array2<f64>) -> Array2<f64> {
    let n = g.nrows();
    Array2::from_shape_fn((n, n), |(i, j)| {
        if i == j {
            0.0
        } else {
            (g[[i, i]] + g[[j, j]] - 2.0 * g[[i, j]]).max(0.0).sqrt()
        }
    })
}

/// Parts the eigendecomposition's parallel steps are split into (fixed: the partition, not the
/// pool, decides the rounding). The Householder tridiagonalization's matrix-vector products
/// are most of its time; two parts take about 15 % off the L cohort's cluster stage on two
/// cores.
pub(crate) const EIGEN_PARTS: usize = 2;

/// Eigen decomposition of a symmetric matrix: eigenvalues in nondecreasing order and the
/// eigenvectors in the columns, by faer's `self_adjoint_evd` (Householder tridiagonalization,
/// then divide and conquer on the tridiagonal matrix, as LAPACK's `dsyevd`). faer splits its
/// work into [`EIGEN_PARTS`] parts on the rayon pool whatever the pool's size (one thread runs
/// them in turn), so the result does not depend on the thread count.
///
/// `a` is taken by value and freed once copied into faer's matrix, and the workspace before
/// the eigenvectors are copied out, so at most three n × n matrices and the workspace are
/// held at once.
pub(crate) fn sym_eigen(a: Array2<f64>) -> Result<(Vec<f64>, Array2<f64>)> {
    use faer::dyn_stack::{MemBuffer, MemStack};
    use faer::linalg::evd::{self_adjoint_evd, self_adjoint_evd_scratch, ComputeEigenvectors};
    let n = a.nrows();
    let m = faer::Mat::<f64>::from_fn(n, n, |i, j| a[[i, j]]);
    drop(a);
    let mut u = faer::Mat::<f64>::zeros(n, n);
    let mut s = faer::diag::Diag::<f64>::zeros(n);
    let par = faer::Par::rayon(EIGEN_PARTS);
    let mut buf = MemBuffer::new(self_adjoint_evd_scratch::<f64>(
        n,
        ComputeEigenvectors::Yes,
        par,
        Default::default(),
    ));
    self_adjoint_evd(
        m.as_ref(),
        s.as_mut(),
        Some(u.as_mut()),
        par,
        MemStack::new(&mut buf),
        Default::default(),
    )
    .map_err(evd_failed("eigen decomposition"))?;
    drop(buf);
    drop(m);
    let vals = (0..n).map(|i| s[i]).collect();
    let vecs = Array2::from_shape_fn((n, n), |(i, j)| u[(i, j)]);
    Ok((vals, vecs))
}

/// `f`'s eigenvalues and eigenvectors on a pool of one thread, asserted equal bit for bit to
/// those on a pool of two.
#[cfg(test)]
pub(crate) fn same_on_one_and_two_threads(
    f: impl Fn() -> (Vec<f64>, Array2<f64>) + Send + Sync,
) -> (Vec<f64>, Array2<f64>) {
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a thread pool")
            .install(&f)
    };
    let (v1, e1) = run(1);
    let (v2, e2) = run(2);
    assert_eq!(
        v1.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        v2.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(e1.mapv(f64::to_bits), e2.mapv(f64::to_bits));
    (v1, e1)
}

/// The error of a faer eigendecomposition that did not converge.
pub(crate) fn evd_failed(what: &'static str) -> impl Fn(faer::linalg::evd::EvdError) -> MlError {
    move |e| MlError::Numerical {
        what,
        problem: format!("{e:?}"),
    }
}

/// Squared Euclidean distance between two rows, summed pairwise-exactly (no Gram shortcut).
///
/// Element `i` goes to accumulator `i mod 8` and the eight are added in a fixed tree, so the
/// loop runs eight independent chains (several times faster than one running sum) and the
/// result is the same for contiguous and strided rows.
pub(crate) fn sq_dist(a: ArrayView1<f64>, b: ArrayView1<f64>) -> f64 {
    let mut acc = [0.0f64; 8];
    match (a.as_slice(), b.as_slice()) {
        (Some(a), Some(b)) => {
            let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
            let (ra, rb) = (ca.remainder(), cb.remainder());
            for (x, y) in ca.zip(cb) {
                for l in 0..8 {
                    let d = x[l] - y[l];
                    acc[l] += d * d;
                }
            }
            for (l, (x, y)) in ra.iter().zip(rb).enumerate() {
                acc[l] += (x - y) * (x - y);
            }
        }
        _ => {
            for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
                acc[i % 8] += (x - y) * (x - y);
            }
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// The full n × n dissimilarity matrix between the rows of `x`.
///
/// Euclidean distances are computed pairwise from the differences (as R's `dist`, not from a
/// Gram matrix, which loses digits for close rows); correlation distances
/// through one matrix product of centred, unit-norm rows.
pub fn distance_matrix(x: ArrayView2<f64>, metric: Distance) -> Array2<f64> {
    let n = x.nrows();
    match metric {
        Distance::Euclidean => {
            use rayon::prelude::*;
            // Rows on the rayon pool; every distance is computed alone, so the thread count
            // cannot change a bit.
            let upper: Vec<Vec<f64>> = (0..n)
                .into_par_iter()
                .map(|i| {
                    ((i + 1)..n)
                        .map(|j| sq_dist(x.row(i), x.row(j)).sqrt())
                        .collect()
                })
                .collect();
            let mut d = Array2::zeros((n, n));
            for (i, row) in upper.iter().enumerate() {
                for (j, &v) in ((i + 1)..n).zip(row) {
                    d[[i, j]] = v;
                    d[[j, i]] = v;
                }
            }
            d
        }
        Distance::Pearson | Distance::Spearman => {
            let src = if metric == Distance::Spearman {
                let mut r = Array2::zeros(x.dim());
                for (i, row) in x.rows().into_iter().enumerate() {
                    let rk = evomics_core::num::rank_average(&row.to_vec());
                    r.row_mut(i).assign(&Array1::from(rk));
                }
                r
            } else {
                x.to_owned()
            };
            let u = unit_rows(src.view());
            let c = u.dot(&u.t());
            let mut d = c.mapv(|r| (1.0 - r.clamp(-1.0, 1.0)).max(0.0));
            for i in 0..n {
                d[[i, i]] = 0.0;
            }
            d
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// `X Xᵀ` over several row blocks (the last one partial), of a matrix and of a transposed
    /// view: each entry within rounding of its dot product, symmetric to the bit, and the
    /// same bits on one thread as on the pool.
    #[test]
    fn cross_rows_is_the_symmetric_product_over_row_blocks() {
        let x = Array2::from_shape_fn((2 * CROSS_BLOCK + 37, 9), |(i, j)| {
            ((i * 7 + j * 13) % 17) as f64 / 3.0 - 2.5 + (i as f64).sqrt()
        });
        let xt = x.t().as_standard_layout().into_owned();
        for view in [x.view(), xt.t()] {
            let g = cross_rows(view);
            let n = view.nrows();
            assert_eq!(g.dim(), (n, n));
            for i in 0..n {
                for j in 0..n {
                    let d: f64 = view.row(i).dot(&view.row(j));
                    assert!(
                        (g[[i, j]] - d).abs() <= 1e-12 * d.abs().max(1.0),
                        "({i}, {j})"
                    );
                    assert_eq!(g[[i, j]].to_bits(), g[[j, i]].to_bits());
                }
            }
            let one = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap();
            let g1 = one.install(|| cross_rows(view));
            assert_eq!(g1.mapv(f64::to_bits), g.mapv(f64::to_bits));
        }
    }

    #[test]
    fn complete_matrix_transposes_and_names_the_first_gap() {
        use evomics_core::{Features, LayerKind, ValueScale};
        let (nf, ns) = (70, 45);
        let cells = Array2::from_shape_fn((nf, ns), |(i, j)| Some((i * 1000 + j) as f64));
        let make = |cells: &Array2<Option<f64>>| {
            Assay::from_options(
                "prot",
                LayerKind::Proteome,
                ValueScale::Log2,
                Features::new((0..nf).map(|i| format!("P{i}")).collect()).unwrap(),
                (0..ns).map(|j| format!("s{j}")).collect(),
                cells,
            )
            .unwrap()
        };
        let x = complete_matrix(&make(&cells)).unwrap();
        assert_eq!(x.dim(), (ns, nf));
        assert!(x
            .indexed_iter()
            .all(|((j, i), &v)| v == (i * 1000 + j) as f64));
        let mut gaps = cells.clone();
        gaps[[40, 3]] = None;
        gaps[[12, 44]] = None;
        let e = complete_matrix(&make(&gaps)).unwrap_err().to_string();
        assert!(e.contains("P12") && e.contains("s44"), "{e}");
    }

    #[test]
    fn eigen_decomposition_is_the_same_on_one_and_two_threads() {
        // Large enough for faer's parallel tridiagonalization and divide and conquer.
        let n = 400;
        let b = Array2::from_shape_fn((n, 40), |(i, j)| ((i * 40 + j) as f64 * 0.731).sin());
        let a = b.dot(&b.t());
        let (v1, e1) = same_on_one_and_two_threads(|| sym_eigen(a.clone()).unwrap());
        // And it is an eigendecomposition: A v = λ v for the largest pair.
        let (lam, v) = (v1[n - 1], e1.column(n - 1));
        let av = a.dot(&v);
        for (x, y) in av.iter().zip(v.iter()) {
            assert!((x - lam * y).abs() < 1e-8 * lam.abs());
        }
    }

    #[test]
    fn gram_distances_match_pairwise_distances() {
        // wide, off-centre values, as a scaled omics layer would not be
        let x = Array2::from_shape_fn((30, 80), |(i, j)| {
            100.0 + ((i * 31 + j * 17) % 23) as f64 * 0.37 - (i % 3) as f64
        });
        let exact = distance_matrix(x.view(), Distance::Euclidean);
        let fast = euclidean_via_gram(x.view());
        for ((i, j), &d) in exact.indexed_iter() {
            let f = fast[[i, j]];
            assert!((f - d).abs() <= 1e-9 * d.max(1.0), "({i}, {j}): {f} vs {d}");
        }
    }

    #[test]
    fn distances_agree_with_definitions() {
        let x = array![[0.0, 0.0, 1.0], [3.0, 4.0, 1.0], [1.0, 2.0, 3.0]];
        let d = distance_matrix(x.view(), Distance::Euclidean);
        assert!((d[[0, 1]] - 5.0).abs() < 1e-12);
        let p = distance_matrix(x.view(), Distance::Pearson);
        // rows 0 and 2 are perfectly correlated? (0,0,1) vs (1,2,3): r = 0.866
        assert!((p[[0, 2]] - (1.0 - 0.8660254037844386)).abs() < 1e-12);
        let s = distance_matrix(x.view(), Distance::Spearman);
        assert!(s[[1, 1]] == 0.0 && (s[[0, 2]] - (1.0 - 0.8660254037844386)).abs() < 1e-12);
    }

    #[test]
    fn standardizer_uses_ddof() {
        let x = array![[1.0, 5.0], [3.0, 5.0]];
        let s = Standardizer::fit(x.view(), true, 1);
        assert_eq!(s.mean, vec![2.0, 5.0]);
        assert!((s.scale[0] - 2f64.sqrt()).abs() < 1e-15);
        assert_eq!(s.scale[1], 1.0);
        let t = s.transform(x.view());
        assert_eq!(t[[0, 1]], 0.0);
    }
}
