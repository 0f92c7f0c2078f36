//! A few eigenvectors of a large symmetric matrix, with every eigenvalue.
//!
//! PCA of a cohort reports the standard deviation of every component but needs the loadings and
//! scores of a few: [`sym_eigen_some`] computes all eigenvalues and only the eigenvectors asked
//! for, as LAPACK's `dsyevx` does (Anderson et al. 1999, *LAPACK Users' Guide*, 3rd ed.):
//!
//! 1. Householder tridiagonalization `A = Q T Qᵀ` (faer's `tridiag_in_place`, the first step
//!    of [`crate::matrix::sym_eigen`] too, split into the same fixed parts);
//! 2. every eigenvalue of `T` by the implicit QR algorithm (faer's eigenvalue-only path);
//! 3. the eigenvectors of `T` for the chosen eigenvalues by inverse iteration, as `dstein`
//!    (Dhillon 1998, *SIAM J Matrix Anal Appl* 19:776, and the LAPACK routine): each from a
//!    pseudo-random start, solving with `T − λI` (LU with partial pivoting, a pivot below
//!    `ε‖T‖₁` raised to it) until the solution has grown past `√(0.1 / n)` twice more, equal
//!    eigenvalues separated by `10 ε |λ|`, and each vector orthogonalized against those of its
//!    cluster (eigenvalues within `10⁻³ ‖T‖₁` of the previous one);
//! 4. the back-transformation `v = Q z` of those vectors only.
//!
//! The full decomposition's eigenvector steps (divide and conquer and the back-transformation
//! of all n vectors) cost about as much as the tridiagonalization; for a few vectors they cost
//! almost nothing. Everything runs in a fixed order (the tridiagonalization in fixed parts), so
//! results do not depend on the thread count. When inverse iteration does not converge for a
//! vector, the tridiagonal matrix's vectors come from its full decomposition instead.

use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::evd::tridiag::{tridiag_in_place, tridiag_in_place_scratch};
use faer::linalg::householder::{
    apply_block_householder_sequence_on_the_left_in_place_scratch,
    apply_block_householder_sequence_on_the_left_in_place_with_conj,
};
use faer::{Col, Conj, Mat};
use ndarray::Array2;

use crate::error::Result;
use crate::matrix::{evd_failed, EIGEN_PARTS};

/// Every eigenvalue of the symmetric matrix `a` (nondecreasing) and the eigenvectors of those
/// `pick` chooses (indices into the eigenvalues, each at most once), as columns in the order
/// chosen (see the module docs). When inverse iteration does not converge for one of them,
/// the eigenvectors of the tridiagonal matrix are taken from its full decomposition (faer's
/// divide and conquer) instead, and only the chosen ones transformed back.
pub(crate) fn sym_eigen_some(
    a: Array2<f64>,
    pick: impl FnOnce(&[f64]) -> Vec<usize>,
) -> Result<(Vec<f64>, Array2<f64>)> {
    let n = a.nrows();
    let mut trid = Mat::<f64>::from_fn(n, n, |i, j| a[[i, j]]);
    drop(a);
    if n == 0 {
        let chosen = pick(&[]);
        return Ok((Vec::new(), Array2::zeros((0, chosen.len()))));
    }
    let par = faer::Par::rayon(EIGEN_PARTS);
    let bs = faer::linalg::qr::no_pivoting::factor::recommended_block_size::<f64>(n, n);
    let mut householder = Mat::<f64>::zeros(bs, n - 1);
    {
        let mut buf = MemBuffer::new(tridiag_in_place_scratch::<f64>(n, par, Default::default()));
        tridiag_in_place(
            trid.as_mut(),
            householder.as_mut(),
            par,
            MemStack::new(&mut buf),
            Default::default(),
        );
    }
    let d: Vec<f64> = (0..n).map(|i| trid[(i, i)]).collect();
    let e: Vec<f64> = (0..n - 1).map(|i| trid[(i + 1, i)]).collect();
    let vals = tridiagonal_eigenvalues(&d, &e)?;
    let chosen = pick(&vals);
    // Inverse iteration takes the eigenvalues in ascending order (clusters are neighbours).
    let mut ascending: Vec<(usize, usize)> = chosen.iter().copied().zip(0..).collect();
    ascending.sort_unstable();
    let lams: Vec<f64> = ascending.iter().map(|&(i, _)| vals[i]).collect();
    let z = match tridiagonal_eigenvectors(&d, &e, &lams) {
        Some(z) => z,
        None => {
            let all = tridiagonal_decomposition(&d, &e, par)?;
            ascending
                .iter()
                .map(|&(i, _)| (0..n).map(|r| all[(r, i)]).collect())
                .collect()
        }
    };
    let k = chosen.len();
    let mut u = Mat::<f64>::zeros(n, k);
    for (&(_, col), zc) in ascending.iter().zip(&z) {
        for (i, &v) in zc.iter().enumerate() {
            u[(i, col)] = v;
        }
    }
    if n > 1 && k > 0 {
        let mut buf = MemBuffer::new(
            apply_block_householder_sequence_on_the_left_in_place_scratch::<f64>(n - 1, bs, k),
        );
        apply_block_householder_sequence_on_the_left_in_place_with_conj(
            trid.as_ref().submatrix(1, 0, n - 1, n - 1),
            householder.as_ref(),
            Conj::No,
            u.as_mut().subrows_mut(1, n - 1),
            par,
            MemStack::new(&mut buf),
        );
    }
    let vecs = Array2::from_shape_fn((n, k), |(i, j)| u[(i, j)]);
    Ok((vals, vecs))
}

/// Every eigenvector of the symmetric tridiagonal matrix (`d`, `e`), in the columns, in the
/// order of its nondecreasing eigenvalues (faer's divide and conquer).
fn tridiagonal_decomposition(d: &[f64], e: &[f64], par: faer::Par) -> Result<Mat<f64>> {
    let mut u = Mat::<f64>::zeros(d.len(), d.len());
    tridiagonal_evd(d, e, Some(&mut u), par)?;
    Ok(u)
}

/// Every eigenvalue, nondecreasing, of the symmetric tridiagonal matrix with diagonal `d` and
/// off-diagonal `e` (faer's implicit QR algorithm without vectors).
fn tridiagonal_eigenvalues(d: &[f64], e: &[f64]) -> Result<Vec<f64>> {
    tridiagonal_evd(d, e, None, faer::Par::Seq)
}

/// faer's decomposition of the symmetric tridiagonal matrix (`d`, `e`): its eigenvalues,
/// nondecreasing, and, given `u` (n × n), its eigenvectors in `u`'s columns.
fn tridiagonal_evd(
    d: &[f64],
    e: &[f64],
    u: Option<&mut Mat<f64>>,
    par: faer::Par,
) -> Result<Vec<f64>> {
    use faer::linalg::evd::{self_adjoint_evd_scratch, tridiagonal_self_adjoint_evd};
    let n = d.len();
    let diag = Col::<f64>::from_fn(n, |i| d[i]);
    let sub = Col::<f64>::from_fn(n, |i| if i + 1 < n { e[i] } else { 0.0 });
    let mut s = Col::<f64>::zeros(n);
    let scratch = match u {
        // The whole decomposition's workspace holds the tridiagonal step's.
        Some(_) => self_adjoint_evd_scratch::<f64>(
            n,
            faer::linalg::evd::ComputeEigenvectors::Yes,
            par,
            Default::default(),
        ),
        None => StackReq::all_of(&[
            faer::linalg::temp_mat_scratch::<f64>(n, 1),
            faer::linalg::temp_mat_scratch::<f64>(n, 1),
        ]),
    };
    let mut buf = MemBuffer::new(scratch);
    tridiagonal_self_adjoint_evd(
        diag.as_diagonal(),
        sub.as_diagonal(),
        s.as_diagonal_mut(),
        u.map(|u| u.as_mut()),
        par,
        MemStack::new(&mut buf),
        Default::default(),
    )
    .map_err(evd_failed("eigen decomposition of a tridiagonal matrix"))?;
    Ok((0..n).map(|i| s[i]).collect())
}

/// Most inverse iterations per vector (`dstein`'s MAXITS).
const MAX_ITERATIONS: usize = 5;
/// Iterations after the growth test first passes (`dstein`'s EXTRA).
const EXTRA_ITERATIONS: usize = 2;

/// Unit eigenvectors of the symmetric tridiagonal matrix (`d`, `e`) for the eigenvalues
/// `lams` (nondecreasing), by inverse iteration (see the module docs); `None` when one did not
/// converge.
fn tridiagonal_eigenvectors(d: &[f64], e: &[f64], lams: &[f64]) -> Option<Vec<Vec<f64>>> {
    let n = d.len();
    if n == 1 {
        return Some(lams.iter().map(|_| vec![1.0]).collect());
    }
    let eps = f64::EPSILON;
    let one_norm = (0..n)
        .map(|i| {
            d[i].abs()
                + if i > 0 { e[i - 1].abs() } else { 0.0 }
                + if i + 1 < n { e[i].abs() } else { 0.0 }
        })
        .fold(0.0f64, f64::max);
    let cluster = 1e-3 * one_norm;
    let grown = (0.1 / n as f64).sqrt();
    let mut rng = Uniform(0x853c_49e6_748f_ea9b);
    let mut out: Vec<Vec<f64>> = Vec::with_capacity(lams.len());
    let (mut first_of_cluster, mut previous) = (0usize, f64::NAN);
    for (j, &lam) in lams.iter().enumerate() {
        let mut shift = lam;
        if j > 0 {
            let apart = 10.0 * (eps * shift).abs();
            if shift - previous < apart {
                shift = previous + apart;
            }
            if (shift - previous).abs() > cluster {
                first_of_cluster = j;
            }
        }
        previous = shift;
        let lu = TridiagonalLu::factor(d, e, shift, eps * one_norm);
        let mut x: Vec<f64> = (0..n).map(|_| rng.next()).collect();
        let (mut passed, mut converged) = (0usize, false);
        for _ in 0..MAX_ITERATIONS {
            let l1: f64 = x.iter().map(|v| v.abs()).sum();
            if l1 == 0.0 || !l1.is_finite() {
                return None;
            }
            let scale = n as f64 * one_norm * eps.max(lu.last_pivot().abs()) / l1;
            x.iter_mut().for_each(|v| *v *= scale);
            lu.solve(&mut x);
            for z in &out[first_of_cluster..j] {
                let dot: f64 = z.iter().zip(&x).map(|(a, b)| a * b).sum();
                x.iter_mut().zip(z).for_each(|(v, zi)| *v -= dot * zi);
            }
            let largest = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            if !largest.is_finite() {
                return None;
            }
            if largest < grown {
                continue;
            }
            passed += 1;
            if passed > EXTRA_ITERATIONS {
                converged = true;
                break;
            }
        }
        if !converged {
            return None;
        }
        let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
        x.iter_mut().for_each(|v| *v /= norm);
        out.push(x);
    }
    Some(out)
}

/// `T − σI = P L U` for a symmetric tridiagonal `T`, by Gaussian elimination with partial
/// pivoting (LAPACK's `dgttrf`): `U` has two superdiagonals. A pivot smaller than `tiny` in
/// magnitude is replaced by `±tiny`, as inverse iteration does with a (near-)singular shift.
struct TridiagonalLu {
    /// Multipliers of L.
    l: Vec<f64>,
    /// Diagonal and superdiagonals of U.
    u0: Vec<f64>,
    u1: Vec<f64>,
    u2: Vec<f64>,
    /// Row i was swapped with row i + 1.
    swapped: Vec<bool>,
}

impl TridiagonalLu {
    fn factor(d: &[f64], e: &[f64], shift: f64, tiny: f64) -> TridiagonalLu {
        let n = d.len();
        let tiny = if tiny > 0.0 { tiny } else { f64::MIN_POSITIVE };
        let raise = |p: f64| {
            if p.abs() >= tiny {
                p
            } else if p < 0.0 {
                -tiny
            } else {
                tiny
            }
        };
        let mut u0: Vec<f64> = d.iter().map(|v| v - shift).collect();
        let mut l = e.to_vec();
        let mut u1 = e.to_vec();
        let mut u2 = vec![0.0; n.saturating_sub(2)];
        let mut swapped = vec![false; n.saturating_sub(1)];
        for i in 0..n - 1 {
            if u0[i].abs() >= l[i].abs() {
                u0[i] = raise(u0[i]);
                let f = l[i] / u0[i];
                l[i] = f;
                u0[i + 1] -= f * u1[i];
            } else {
                let pivot = raise(l[i]);
                let f = u0[i] / pivot;
                u0[i] = pivot;
                l[i] = f;
                let above = u1[i];
                u1[i] = u0[i + 1];
                u0[i + 1] = above - f * u0[i + 1];
                if i + 1 < n - 1 {
                    u2[i] = u1[i + 1];
                    u1[i + 1] *= -f;
                }
                swapped[i] = true;
            }
        }
        u0[n - 1] = raise(u0[n - 1]);
        TridiagonalLu {
            l,
            u0,
            u1,
            u2,
            swapped,
        }
    }

    /// The last diagonal element of U.
    fn last_pivot(&self) -> f64 {
        self.u0[self.u0.len() - 1]
    }

    /// Solve `(T − σI) x = b` in place.
    fn solve(&self, b: &mut [f64]) {
        let n = b.len();
        for i in 0..n - 1 {
            if self.swapped[i] {
                let top = b[i];
                b[i] = b[i + 1];
                b[i + 1] = top - self.l[i] * b[i];
            } else {
                b[i + 1] -= self.l[i] * b[i];
            }
        }
        b[n - 1] /= self.u0[n - 1];
        if n > 1 {
            b[n - 2] = (b[n - 2] - self.u1[n - 2] * b[n - 1]) / self.u0[n - 2];
        }
        for i in (0..n.saturating_sub(2)).rev() {
            b[i] = (b[i] - self.u1[i] * b[i + 1] - self.u2[i] * b[i + 2]) / self.u0[i];
        }
    }
}

/// Uniform numbers in (−1, 1) from a fixed SplitMix64 stream: inverse iteration's starting
/// vectors (any start not orthogonal to the eigenvector converges; a fixed stream keeps the
/// result reproducible).
struct Uniform(u64);

impl Uniform {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        ((z >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::{same_on_one_and_two_threads, sym_eigen};

    /// A symmetric matrix with the eigenvalues `lams` and pseudo-random eigenvectors.
    fn with_spectrum(lams: &[f64], seed: u64) -> Array2<f64> {
        let n = lams.len();
        let mut rng = Uniform(seed);
        let g = Array2::from_shape_fn((n, n), |_| rng.next());
        // Q from Gram–Schmidt on the random columns.
        let mut q = Array2::<f64>::zeros((n, n));
        for j in 0..n {
            let mut v = g.column(j).to_owned();
            for k in 0..j {
                let dot = q.column(k).dot(&v);
                v.scaled_add(-dot, &q.column(k));
            }
            let norm = v.dot(&v).sqrt();
            q.column_mut(j).assign(&(v / norm));
        }
        let mut ql = q.clone();
        for (j, &l) in lams.iter().enumerate() {
            ql.column_mut(j).mapv_inplace(|v| v * l);
        }
        ql.dot(&q.t())
    }

    /// Residual, norm and orthogonality of the chosen vectors, and their agreement (up to
    /// sign, for simple eigenvalues) with the full decomposition.
    fn check(a: &Array2<f64>, top: usize, simple: bool) {
        let n = a.nrows();
        let pick = |v: &[f64]| (v.len() - top..v.len()).rev().collect::<Vec<_>>();
        let (vals, vecs) = sym_eigen_some(a.clone(), pick).unwrap();
        let (full_vals, full_vecs) = sym_eigen(a.clone()).unwrap();
        let scale = full_vals.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (x, y) in vals.iter().zip(&full_vals) {
            assert!((x - y).abs() <= 1e-12 * scale, "{x} vs {y}");
        }
        assert_eq!(vecs.dim(), (n, top));
        for c in 0..top {
            let i = n - 1 - c;
            let v = vecs.column(c);
            let r = a.dot(&v) - &v.mapv(|x| x * vals[i]);
            let res = r.dot(&r).sqrt();
            assert!(res <= 1e-11 * scale, "residual {res} of vector {c}");
            for c2 in 0..top {
                let dot = v.dot(&vecs.column(c2));
                let want = if c == c2 { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-10, "{c}·{c2} = {dot}");
            }
            if simple {
                let agree = v.dot(&full_vecs.column(i)).abs();
                assert!((agree - 1.0).abs() < 1e-10, "vector {c}: |cos| = {agree}");
            }
        }
    }

    #[test]
    fn leading_eigenvectors_are_those_of_the_full_decomposition() {
        // A Gram matrix of wide data, as PCA of a cohort forms.
        let mut rng = Uniform(3);
        let b = Array2::from_shape_fn((150, 60), |_| rng.next());
        let a = b.dot(&b.t());
        check(&a, 10, true);
        // Well separated eigenvalues, and a spectrum with a tight cluster and repeats at the
        // top (the vectors of a repeated eigenvalue are any orthonormal basis of its space).
        let spread: Vec<f64> = (0..80).map(|i| (i as f64).powf(1.5)).collect();
        check(&with_spectrum(&spread, 7), 12, true);
        let mut clustered: Vec<f64> = (0..80).map(|i| i as f64 * 0.1).collect();
        clustered[79] = 50.0;
        clustered[78] = 50.0;
        clustered[77] = 50.0 - 1e-9;
        clustered[76] = 49.999;
        check(&with_spectrum(&clustered, 9), 8, false);
    }

    #[test]
    fn chosen_vectors_come_in_the_order_asked_and_thread_counts_agree() {
        let mut rng = Uniform(5);
        // Large enough for faer's parallel tridiagonalization.
        let b = Array2::from_shape_fn((400, 40), |_| rng.next());
        let a = b.dot(&b.t());
        let (_, e1) = same_on_one_and_two_threads(|| {
            sym_eigen_some(a.clone(), |v| vec![v.len() - 1, v.len() - 3, v.len() - 2]).unwrap()
        });
        let (_, full) = sym_eigen(a.clone()).unwrap();
        let n = a.nrows();
        for (c, i) in [n - 1, n - 3, n - 2].into_iter().enumerate() {
            let agree = e1.column(c).dot(&full.column(i)).abs();
            assert!((agree - 1.0).abs() < 1e-10, "column {c}: {agree}");
        }
    }

    /// The fallback's vectors (the tridiagonal matrix's full decomposition) are inverse
    /// iteration's, column by column.
    #[test]
    fn the_full_tridiagonal_decomposition_gives_the_same_vectors() {
        let mut rng = Uniform(11);
        let d: Vec<f64> = (0..60).map(|_| rng.next() * 4.0).collect();
        let e: Vec<f64> = (0..59).map(|_| rng.next()).collect();
        let vals = tridiagonal_eigenvalues(&d, &e).unwrap();
        let all = tridiagonal_decomposition(&d, &e, faer::Par::Seq).unwrap();
        let picked = [0, 17, 58, 59];
        let lams: Vec<f64> = picked.iter().map(|&i| vals[i]).collect();
        let z = tridiagonal_eigenvectors(&d, &e, &lams).unwrap();
        for (zc, &i) in z.iter().zip(&picked) {
            let cos: f64 = (0..60).map(|r| zc[r] * all[(r, i)]).sum();
            assert!((cos.abs() - 1.0).abs() < 1e-10, "vector {i}: {cos}");
        }
    }

    #[test]
    fn tiny_and_diagonal_matrices() {
        let (v, e) = sym_eigen_some(Array2::from_elem((1, 1), 3.0), |_| vec![0]).unwrap();
        assert_eq!(v, vec![3.0]);
        assert_eq!(e[[0, 0]].abs(), 1.0);
        // A diagonal matrix splits into 1 × 1 blocks: zero off-diagonals, repeated values.
        let a = Array2::from_diag(&ndarray::arr1(&[2.0, 5.0, 5.0, 1.0]));
        let (v, e) = sym_eigen_some(a.clone(), |_| vec![3, 2]).unwrap();
        assert_eq!(v, vec![1.0, 2.0, 5.0, 5.0]);
        let r = a.dot(&e) - &e.mapv(|x| x * 5.0);
        assert!(r.iter().all(|x| x.abs() < 1e-12), "{r}");
        assert!((e.column(0).dot(&e.column(1))).abs() < 1e-12);
    }
}
