//! Whole-matrix passes over a layer's values and flags.
//!
//! A step that visits every cell (a log transform, a per-sample shift, the NaN pass and cell
//! check of [`crate::Assay::rewrite`]) runs its rows in blocks on rayon's workers when the
//! matrix is large. Each cell's result depends on that cell (and its row and column index)
//! alone, and the per-block results are merged in row order with an associative merge, so the
//! output is the same for any number of threads.

use ndarray::Array2;
use rayon::prelude::*;

use crate::ValueFlag;

/// Cells per block of a parallel pass; a matrix of fewer than two blocks is visited on the
/// calling thread.
const BLOCK_CELLS: usize = 1 << 16;

/// How a matrix's rows are cut into blocks.
struct Blocks {
    /// Cells per row.
    cols: usize,
    /// Rows per block.
    rows: usize,
    /// Fewer than two blocks of cells: visited on the calling thread.
    serial: bool,
}

/// The blocks of `values` (copied into standard layout first if it is not), `None` when it has
/// no cells.
///
/// # Panics
/// When `values` and the flags (`flags_dim`) differ in shape.
fn blocks(values: &mut Array2<f64>, flags_dim: (usize, usize)) -> Option<Blocks> {
    assert_eq!(values.dim(), flags_dim, "values and flags differ in shape");
    let (g, n) = values.dim();
    if g == 0 || n == 0 {
        return None;
    }
    if !values.is_standard_layout() {
        *values = values.as_standard_layout().into_owned();
    }
    Some(Blocks {
        cols: n,
        rows: (BLOCK_CELLS / n).max(1),
        serial: g * n < 2 * BLOCK_CELLS,
    })
}

/// `f(first row index, values, flags)` for row-major blocks of whole rows of two matrices of
/// the same shape (each slice holds `rows × n_columns` cells, row after row), the blocks'
/// results folded into `init` with `merge` in row order. Blocks run on rayon's workers when
/// the matrix holds at least two blocks of cells. A matrix not in standard layout is first
/// copied into it.
///
/// # Panics
/// When the two matrices differ in shape (a programming error: an assay's matrices always
/// share theirs).
pub fn fold_row_blocks<R: Send + Clone + Sync>(
    values: &mut Array2<f64>,
    flags: &mut Array2<ValueFlag>,
    init: R,
    f: impl Fn(usize, &mut [f64], &mut [ValueFlag]) -> R + Sync,
    merge: impl Fn(R, R) -> R + Sync,
) -> R {
    let Some(b) = blocks(values, flags.dim()) else {
        return init;
    };
    let (n, rows) = (b.cols, b.rows);
    if !flags.is_standard_layout() {
        *flags = flags.as_standard_layout().into_owned();
    }
    let (Some(v), Some(fl)) = (values.as_slice_mut(), flags.as_slice_mut()) else {
        unreachable!("both matrices are in standard layout")
    };
    if b.serial {
        return merge(init, f(0, v, fl));
    }
    let parts: Vec<R> = v
        .par_chunks_mut(rows * n)
        .zip(fl.par_chunks_mut(rows * n))
        .enumerate()
        .map(|(b, (v, fl))| f(b * rows, v, fl))
        .collect();
    parts.into_iter().fold(init, merge)
}

/// `f(row, column, value, flag)` for every cell, rows in blocks on rayon's workers as
/// [`fold_row_blocks`] runs them; the flags are only read.
///
/// # Panics
/// When the two matrices differ in shape.
pub fn for_each_cell(
    values: &mut Array2<f64>,
    flags: &Array2<ValueFlag>,
    f: impl Fn(usize, usize, &mut f64, ValueFlag) + Sync,
) {
    let Some(b) = blocks(values, flags.dim()) else {
        return;
    };
    let (n, rows) = (b.cols, b.rows);
    let flags = flags.as_standard_layout();
    let (Some(v), Some(fl)) = (values.as_slice_mut(), flags.as_slice()) else {
        unreachable!("both matrices are in standard layout")
    };
    let block = |i0: usize, v: &mut [f64], fl: &[ValueFlag]| {
        for (r, (vrow, frow)) in v.chunks_mut(n).zip(fl.chunks(n)).enumerate() {
            for (j, (x, c)) in vrow.iter_mut().zip(frow).enumerate() {
                f(i0 + r, j, x, *c);
            }
        }
    };
    if b.serial {
        block(0, v, fl);
    } else {
        v.par_chunks_mut(rows * n)
            .zip(fl.par_chunks(rows * n))
            .enumerate()
            .for_each(|(b, (v, fl))| block(b * rows, v, fl));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrices(g: usize, n: usize) -> (Array2<f64>, Array2<ValueFlag>) {
        let v = Array2::from_shape_fn((g, n), |(i, j)| (i * n + j) as f64);
        let f = Array2::from_shape_fn((g, n), |(i, j)| {
            if (i + 2 * j) % 7 == 0 {
                ValueFlag::Missing
            } else {
                ValueFlag::Observed
            }
        });
        (v, f)
    }

    #[test]
    fn every_cell_is_visited_once_with_its_indices() {
        // Large enough for several parallel blocks, and small.
        for (g, n) in [(1000, 300), (3, 5), (70_000, 1)] {
            let (mut v, f) = matrices(g, n);
            for_each_cell(&mut v, &f, |i, j, x, c| {
                assert_eq!(*x, (i * n + j) as f64);
                if c.has_value() {
                    *x = -*x;
                }
            });
            let (v0, f0) = matrices(g, n);
            for ((i, j), x) in v.indexed_iter() {
                let want = if f0[[i, j]].has_value() {
                    -v0[[i, j]]
                } else {
                    v0[[i, j]]
                };
                assert_eq!(*x, want, "cell ({i}, {j}) of {g} × {n}");
            }
            assert_eq!(f, f0);
        }
    }

    #[test]
    fn block_results_merge_in_row_order() {
        let (mut v, mut f) = matrices(2000, 100);
        let firsts = fold_row_blocks(
            &mut v,
            &mut f,
            Vec::new(),
            |i0, v, _| vec![(i0, v.len())],
            |mut a, b| {
                a.extend(b);
                a
            },
        );
        assert!(firsts.len() > 1, "{} blocks", firsts.len());
        let mut next = 0;
        for (i0, cells) in firsts {
            assert_eq!(i0, next);
            next += cells / 100;
        }
        assert_eq!(next, 2000);
    }

    #[test]
    fn a_matrix_in_another_layout_is_visited_in_its_logical_order() {
        use ndarray::ShapeBuilder;
        let (v0, f0) = matrices(400, 500);
        // Column-major copies of the same matrices.
        let mut v = Array2::from_shape_fn((400, 500).f(), |ij| v0[ij]);
        let mut f = Array2::from_shape_fn((400, 500).f(), |ij| f0[ij]);
        assert!(!v.is_standard_layout() && !f.is_standard_layout());
        let count = fold_row_blocks(
            &mut v,
            &mut f,
            0usize,
            |i0, v, fl| {
                let mut bad = 0;
                for (k, (x, c)) in v.iter().zip(fl.iter()).enumerate() {
                    let (i, j) = (i0 + k / 500, k % 500);
                    if *x != v0[[i, j]] || *c != f0[[i, j]] {
                        bad += 1;
                    }
                }
                bad
            },
            |a, b| a + b,
        );
        assert_eq!(count, 0);
    }
}
