//! Agreement between two partitions of the same samples (e.g. clusters versus `source` or
//! `batch`): adjusted Rand index and normalized mutual information.

use std::collections::BTreeMap;

use crate::error::{data_err, Result};

fn contingency<A: Ord, B: Ord>(a: &[A], b: &[B]) -> Result<(Vec<Vec<f64>>, usize)> {
    if a.len() != b.len() {
        return Err(data_err(
            "partition agreement",
            format!(
                "the two labellings have {} and {} samples",
                a.len(),
                b.len()
            ),
        ));
    }
    let mut ia: BTreeMap<&A, usize> = BTreeMap::new();
    let mut ib: BTreeMap<&B, usize> = BTreeMap::new();
    for x in a {
        let n = ia.len();
        ia.entry(x).or_insert(n);
    }
    for x in b {
        let n = ib.len();
        ib.entry(x).or_insert(n);
    }
    let mut t = vec![vec![0.0; ib.len()]; ia.len()];
    for (x, y) in a.iter().zip(b) {
        t[ia[x]][ib[y]] += 1.0;
    }
    Ok((t, a.len()))
}

fn choose2(x: f64) -> f64 {
    x * (x - 1.0) / 2.0
}

/// Adjusted Rand index (Hubert & Arabie 1985, *J Classif* 2:193): the Rand index corrected
/// for chance, 1 for identical partitions, about 0 for independent ones (can be negative).
/// Equal to R `mclust::adjustedRandIndex` and scikit-learn `adjusted_rand_score`; two
/// single-cluster partitions (or any case where the expected index equals its maximum) give 1.
pub fn adjusted_rand_index<A: Ord, B: Ord>(a: &[A], b: &[B]) -> Result<f64> {
    let (t, n) = contingency(a, b)?;
    let sum_ij: f64 = t.iter().flatten().map(|&v| choose2(v)).sum();
    let rows: Vec<f64> = t.iter().map(|r| r.iter().sum()).collect();
    let cols: Vec<f64> = (0..t.first().map_or(0, |r| r.len()))
        .map(|j| t.iter().map(|r| r[j]).sum())
        .collect();
    let sa: f64 = rows.iter().map(|&v| choose2(v)).sum();
    let sb: f64 = cols.iter().map(|&v| choose2(v)).sum();
    let total = choose2(n as f64);
    if total == 0.0 {
        return Ok(1.0);
    }
    let expected = sa * sb / total;
    let max = 0.5 * (sa + sb);
    if (max - expected).abs() < 1e-300 {
        return Ok(1.0);
    }
    Ok((sum_ij - expected) / (max - expected))
}

/// Normalized mutual information with the arithmetic-mean normalization
/// `I(A;B) / ((H(A) + H(B)) / 2)` (Strehl & Ghosh 2002, *JMLR* 3:583; scikit-learn's default
/// `normalized_mutual_info_score`); natural logarithms; 1 when both partitions are a single
/// cluster.
pub fn normalized_mutual_information<A: Ord, B: Ord>(a: &[A], b: &[B]) -> Result<f64> {
    let (t, n) = contingency(a, b)?;
    if n == 0 {
        return Ok(1.0);
    }
    let n = n as f64;
    let rows: Vec<f64> = t.iter().map(|r| r.iter().sum()).collect();
    let cols: Vec<f64> = (0..t.first().map_or(0, |r| r.len()))
        .map(|j| t.iter().map(|r| r[j]).sum())
        .collect();
    let h = |v: &[f64]| -> f64 {
        v.iter()
            .filter(|&&c| c > 0.0)
            .map(|&c| -(c / n) * (c / n).ln())
            .sum()
    };
    let (ha, hb) = (h(&rows), h(&cols));
    let mut mi = 0.0;
    for (i, r) in t.iter().enumerate() {
        for (j, &nij) in r.iter().enumerate() {
            if nij > 0.0 {
                mi += nij / n * (n * nij / (rows[i] * cols[j])).ln();
            }
        }
    }
    let den = 0.5 * (ha + hb);
    if den <= 0.0 {
        return Ok(1.0);
    }
    Ok((mi / den).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        // sklearn: adjusted_rand_score([0,0,1,1],[0,0,1,2]) = 0.5714285714
        let a = [0, 0, 1, 1];
        let b = [0, 0, 1, 2];
        assert!((adjusted_rand_index(&a, &b).unwrap() - 0.571_428_571_428_571_4).abs() < 1e-12);
        // sklearn: normalized_mutual_info_score([0,0,1,1],[0,0,1,2]) = 0.8
        assert!((normalized_mutual_information(&a, &b).unwrap() - 0.8).abs() < 1e-12);
        // Independent-looking partitions: ARI([0,0,1,1],[0,1,0,1]) = -0.5
        assert!((adjusted_rand_index(&a, &[0, 1, 0, 1]).unwrap() + 0.5).abs() < 1e-12);
        assert!(adjusted_rand_index(&a, &[1, 2]).is_err());
    }

    proptest! {
        #[test]
        fn invariant_to_renaming(labels in proptest::collection::vec(0usize..4, 2..40), other in proptest::collection::vec(0usize..3, 40)) {
            let other = &other[..labels.len()];
            let renamed: Vec<String> = labels.iter().map(|l| format!("c{}", 9 - l)).collect();
            prop_assert!((adjusted_rand_index(&labels, &renamed).unwrap() - 1.0).abs() < 1e-12);
            prop_assert!((normalized_mutual_information(&labels, &renamed).unwrap() - 1.0).abs() < 1e-12);
            let x = adjusted_rand_index(&labels, other).unwrap();
            let y = adjusted_rand_index(other, &labels).unwrap();
            prop_assert!((x - y).abs() < 1e-12 && x <= 1.0 + 1e-12);
            let m = normalized_mutual_information(&labels, other).unwrap();
            prop_assert!((0.0..=1.0).contains(&m));
        }
    }
}
