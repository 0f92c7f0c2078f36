//! Cross-validation designs: (stratified) k-fold, group k-fold (no group — e.g. donor — in both
//! the training and the test part of a fold), leave-one-group-out, each repeatable with seeds.
//!
//! - **k-fold**: samples are shuffled (seed `derive_seed(seed, "cv/<repeat>")`); with
//!   `stratify` (class targets), each class is dealt round-robin over the folds, continuing
//!   where the previous class stopped, so every test fold holds ⌊n_c/k⌋ or ⌈n_c/k⌉ samples of
//!   class c. Every class needs at least k samples; otherwise the error names the class and the
//!   largest feasible k.
//! - **group k-fold**: whole groups are assigned to folds. Groups are shuffled, then sorted by
//!   size (largest first, stable) and each goes to the fold where it best balances the class
//!   counts (stratified: the smallest increase of the squared deviations of the fold's class counts from n_c/k;
//!   otherwise the smallest fold), ties to the smaller fold, then the lower index — the greedy
//!   strategy of scikit-learn's `StratifiedGroupKFold`. Needs at least k groups; stratified, every
//!   class must occur in at least k groups, so every test fold can hold each class.
//! - **leave-one-group-out**: one fold per group (e.g. leave one source out).
//!
//! Every design is checked after it is built: no group in two parts of a fold, and every
//! training part holds at least two samples of every class.

use std::collections::BTreeMap;

use evomics_core::rng::{derive_seed, seeded};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::error::{ensure, MlError, Result};
use crate::models::Labels;

/// A cross-validation design.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "scheme", rename_all = "snake_case")]
pub enum CvScheme {
    /// k-fold on samples (stratified by class when the target is a class and `stratify`).
    KFold {
        /// Folds, ≥ 2.
        k: usize,
        /// Repeats with different shuffles, ≥ 1.
        #[serde(default = "one")]
        repeats: usize,
        /// Keep class proportions (class targets only).
        #[serde(default = "yes")]
        stratify: bool,
    },
    /// k-fold on groups of a sheet column (default `donor_id`).
    GroupKFold {
        /// Folds, ≥ 2.
        k: usize,
        /// Sheet column with the groups.
        #[serde(default = "donor")]
        group: String,
        /// Repeats with different shuffles, ≥ 1.
        #[serde(default = "one")]
        repeats: usize,
        /// Balance class counts across folds (class targets only).
        #[serde(default = "yes")]
        stratify: bool,
    },
    /// One fold per group of a sheet column.
    LeaveOneGroupOut {
        /// Sheet column with the groups.
        group: String,
    },
}

fn one() -> usize {
    1
}
fn yes() -> bool {
    true
}
fn donor() -> String {
    "donor_id".into()
}

/// One train/test split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// Repeat, from 1.
    pub repeat: usize,
    /// Fold, from 1.
    pub fold: usize,
    /// Training rows (increasing).
    pub train: Vec<usize>,
    /// Test rows (increasing).
    pub test: Vec<usize>,
}

/// Which part of a split a sample is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// Training part.
    Train,
    /// Test part.
    Test,
}

/// One row of the fold-assignment table (`folds.tsv`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoldAssignment {
    /// Sample id.
    pub sample_id: String,
    /// Repeat, from 1.
    pub repeat: usize,
    /// Fold, from 1.
    pub fold: usize,
    /// Train or test.
    pub split: Part,
}

impl CvScheme {
    /// The group column, if the design has one.
    pub fn group_column(&self) -> Option<&str> {
        match self {
            CvScheme::KFold { .. } => None,
            CvScheme::GroupKFold { group, .. } | CvScheme::LeaveOneGroupOut { group } => {
                Some(group)
            }
        }
    }

    /// Check the design's parameters alone.
    pub fn validate(&self) -> Result<()> {
        match self {
            CvScheme::KFold { k, repeats, .. } | CvScheme::GroupKFold { k, repeats, .. } => {
                ensure(*k >= 2, "cross-validation", "k", || {
                    format!("is {k}; use at least 2 folds")
                })?;
                ensure(*repeats >= 1, "cross-validation", "repeats", || {
                    "is 0; use at least 1".into()
                })
            }
            CvScheme::LeaveOneGroupOut { group } => ensure(
                !group.trim().is_empty(),
                "cross-validation",
                "group",
                || "is empty; name a sheet column".into(),
            ),
        }?;
        if let CvScheme::GroupKFold { group, .. } = self {
            ensure(
                !group.trim().is_empty(),
                "cross-validation",
                "group",
                || "is empty; name a sheet column".into(),
            )?;
        }
        Ok(())
    }

    /// Build the splits for `labels` (class names, for messages, in `classes`); `groups` (one
    /// label per sample) is required by the group designs.
    pub fn splits(
        &self,
        labels: &Labels,
        classes: &[String],
        groups: Option<&[String]>,
        seed: u64,
    ) -> Result<Vec<Split>> {
        self.validate()?;
        let n = labels.len();
        let by_class: Option<(&[usize], usize)> = match labels {
            Labels::Classes { y, n_classes } => Some((y, *n_classes)),
            Labels::Numeric { .. } => None,
        };
        let mut out = Vec::new();
        match self {
            CvScheme::KFold {
                k,
                repeats,
                stratify,
            } => {
                let k = *k;
                if n < k {
                    return Err(MlError::Folds {
                        problem: format!("{n} samples cannot fill {k} folds"),
                        largest_feasible_k: (n >= 2).then_some(n),
                    });
                }
                let strat = by_class.filter(|_| *stratify);
                if let Some((y, nc)) = strat {
                    check_class_counts(y, nc, k, classes)?;
                }
                for r in 0..*repeats {
                    let mut rng = seeded(derive_seed(seed, &format!("cv/{r}")));
                    let mut fold_of = vec![0usize; n];
                    match strat {
                        Some((y, nc)) => {
                            let mut next = 0;
                            for c in 0..nc {
                                let mut members: Vec<usize> =
                                    (0..n).filter(|&i| y[i] == c).collect();
                                members.shuffle(&mut rng);
                                for i in members {
                                    fold_of[i] = next % k;
                                    next += 1;
                                }
                            }
                        }
                        None => {
                            let mut order: Vec<usize> = (0..n).collect();
                            order.shuffle(&mut rng);
                            for (pos, i) in order.into_iter().enumerate() {
                                fold_of[i] = pos % k;
                            }
                        }
                    }
                    push_splits(&mut out, r + 1, k, &fold_of);
                }
            }
            CvScheme::GroupKFold {
                k,
                group,
                repeats,
                stratify,
            } => {
                let k = *k;
                let groups = groups.ok_or_else(|| MlError::Folds {
                    problem: format!("group k-fold needs the '{group}' column"),
                    largest_feasible_k: None,
                })?;
                let (names, gid) = index_groups(groups);
                let ng = names.len();
                if ng < k {
                    return Err(MlError::Folds {
                        problem: format!("'{group}' has {ng} groups; {k}-fold group CV needs at least {k} (no group may be split)"),
                        largest_feasible_k: (ng >= 2).then_some(ng),
                    });
                }
                let strat = by_class.filter(|_| *stratify);
                let nc = strat.map_or(1, |(_, c)| c);
                // Class counts per group.
                let mut gcount = vec![vec![0usize; nc]; ng];
                for i in 0..n {
                    let c = strat.map_or(0, |(y, _)| y[i]);
                    gcount[gid[i]][c] += 1;
                }
                if let Some((_, nc)) = strat {
                    for c in 0..nc {
                        let present = gcount.iter().filter(|g| g[c] > 0).count();
                        if present < k {
                            return Err(MlError::Folds {
                                problem: format!("class {} occurs in {present} '{group}' group(s); stratified {k}-fold group CV needs it in at least {k} so every test fold can hold it", class_name(classes, c)),
                                largest_feasible_k: min_groups_per_class(&gcount, nc).filter(|&m| m >= 2),
                            });
                        }
                    }
                }
                let totals: Vec<f64> = (0..nc)
                    .map(|c| gcount.iter().map(|g| g[c]).sum::<usize>() as f64)
                    .collect();
                for r in 0..*repeats {
                    let mut rng = seeded(derive_seed(seed, &format!("cv/{r}")));
                    let mut order: Vec<usize> = (0..ng).collect();
                    order.shuffle(&mut rng);
                    order.sort_by_key(|&g| std::cmp::Reverse(gcount[g].iter().sum::<usize>()));
                    let mut fc = vec![vec![0.0; nc]; k];
                    let mut fsize = vec![0usize; k];
                    let mut fold_of_group = vec![0usize; ng];
                    for g in order {
                        let size: usize = gcount[g].iter().sum();
                        let mut best = (f64::INFINITY, usize::MAX, 0usize);
                        for (f, counts) in fc.iter().enumerate() {
                            let cost = if strat.is_some() {
                                // Increase of Σ_c (count − n_c/k)² when the group joins this fold.
                                (0..nc)
                                    .map(|c| {
                                        let gc = gcount[g][c] as f64;
                                        gc * gc + 2.0 * gc * (counts[c] - totals[c] / k as f64)
                                    })
                                    .sum::<f64>()
                            } else {
                                0.0
                            };
                            let key = (cost, fsize[f], f);
                            if key.0 < best.0 - 1e-9
                                || ((key.0 - best.0).abs() <= 1e-9
                                    && (key.1, key.2) < (best.1, best.2))
                            {
                                best = key;
                            }
                        }
                        let f = best.2;
                        fold_of_group[g] = f;
                        fsize[f] += size;
                        for c in 0..nc {
                            fc[f][c] += gcount[g][c] as f64;
                        }
                    }
                    let fold_of: Vec<usize> = (0..n).map(|i| fold_of_group[gid[i]]).collect();
                    push_splits(&mut out, r + 1, k, &fold_of);
                }
            }
            CvScheme::LeaveOneGroupOut { group } => {
                let groups = groups.ok_or_else(|| MlError::Folds {
                    problem: format!("leave-one-group-out needs the '{group}' column"),
                    largest_feasible_k: None,
                })?;
                let (names, gid) = index_groups(groups);
                if names.len() < 2 {
                    return Err(MlError::Folds { problem: format!("'{group}' has a single group; leaving it out leaves nothing to train on"), largest_feasible_k: None });
                }
                push_splits(&mut out, 1, names.len(), &gid);
            }
        }
        check_splits(&out, labels, classes, groups)?;
        Ok(out)
    }
}

fn class_name(classes: &[String], c: usize) -> String {
    classes
        .get(c)
        .map_or_else(|| format!("#{}", c + 1), |n| format!("'{n}'"))
}

fn min_groups_per_class(gcount: &[Vec<usize>], nc: usize) -> Option<usize> {
    (0..nc)
        .map(|c| gcount.iter().filter(|g| g[c] > 0).count())
        .min()
}

fn check_class_counts(y: &[usize], nc: usize, k: usize, classes: &[String]) -> Result<()> {
    let mut counts = vec![0usize; nc];
    for &c in y {
        counts[c] += 1;
    }
    if let Some((c, &m)) = counts.iter().enumerate().min_by_key(|(_, m)| **m) {
        if m < k {
            return Err(MlError::Folds {
                problem: format!("class {} has {m} samples; stratified {k}-fold CV needs at least {k} of every class so each test fold holds one", class_name(classes, c)),
                largest_feasible_k: (m >= 2).then_some(m),
            });
        }
    }
    Ok(())
}

fn index_groups(groups: &[String]) -> (Vec<String>, Vec<usize>) {
    let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
    for g in groups {
        let next = ids.len();
        ids.entry(g.as_str()).or_insert(next);
    }
    // Number groups in name order for determinism.
    let names: Vec<String> = ids.keys().map(|s| s.to_string()).collect();
    let pos: BTreeMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    (
        names.clone(),
        groups.iter().map(|g| pos[g.as_str()]).collect(),
    )
}

fn push_splits(out: &mut Vec<Split>, repeat: usize, k: usize, fold_of: &[usize]) {
    for f in 0..k {
        let test: Vec<usize> = (0..fold_of.len()).filter(|&i| fold_of[i] == f).collect();
        let train: Vec<usize> = (0..fold_of.len()).filter(|&i| fold_of[i] != f).collect();
        out.push(Split {
            repeat,
            fold: f + 1,
            train,
            test,
        });
    }
}

/// Fail when a split leaks a group, has an empty part, or trains on fewer than two samples of a
/// class.
fn check_splits(
    splits: &[Split],
    labels: &Labels,
    classes: &[String],
    groups: Option<&[String]>,
) -> Result<()> {
    for s in splits {
        if s.test.is_empty() || s.train.is_empty() {
            return Err(MlError::Folds {
                problem: format!("repeat {} fold {} has an empty part", s.repeat, s.fold),
                largest_feasible_k: None,
            });
        }
        if let Some(g) = groups {
            let test: std::collections::BTreeSet<&str> =
                s.test.iter().map(|&i| g[i].as_str()).collect();
            if let Some(&i) = s.train.iter().find(|&&i| test.contains(g[i].as_str())) {
                return Err(MlError::Folds {
                    problem: format!(
                        "group '{}' is in both parts of repeat {} fold {}",
                        g[i], s.repeat, s.fold
                    ),
                    largest_feasible_k: None,
                });
            }
        }
        if let Labels::Classes { y, n_classes } = labels {
            for c in 0..*n_classes {
                let m = s.train.iter().filter(|&&i| y[i] == c).count();
                if m < 2 {
                    return Err(MlError::Folds {
                        problem: format!("the training part of repeat {} fold {} holds {m} sample(s) of class {}; every class needs at least 2 to train on (use fewer folds or coarser groups)", s.repeat, s.fold, class_name(classes, c)),
                        largest_feasible_k: None,
                    });
                }
            }
        }
    }
    Ok(())
}

/// The fold-assignment table of a set of splits.
pub fn fold_table(splits: &[Split], sample_ids: &[String]) -> Vec<FoldAssignment> {
    let mut out = Vec::with_capacity(splits.len() * sample_ids.len());
    for s in splits {
        let mut part = vec![None; sample_ids.len()];
        for &i in &s.train {
            part[i] = Some(Part::Train);
        }
        for &i in &s.test {
            part[i] = Some(Part::Test);
        }
        for (i, p) in part.into_iter().enumerate() {
            if let Some(split) = p {
                out.push(FoldAssignment {
                    sample_id: sample_ids[i].clone(),
                    repeat: s.repeat,
                    fold: s.fold,
                    split,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn stratified_kfold_balances_classes() {
        let labels = Labels::Classes {
            y: (0..20).map(|i| usize::from(i < 8)).collect(),
            n_classes: 2,
        };
        let s = CvScheme::KFold {
            k: 4,
            repeats: 2,
            stratify: true,
        }
        .splits(&labels, &[], None, 1)
        .unwrap();
        assert_eq!(s.len(), 8);
        for sp in &s {
            let ones = sp.test.iter().filter(|&&i| i < 8).count();
            assert_eq!(ones, 2);
            assert_eq!(sp.test.len(), 5);
        }
        assert_ne!(s[0].test, s[4].test, "repeats reshuffle");
    }

    #[test]
    fn too_few_per_class_suggests_k() {
        let labels = Labels::Classes {
            y: vec![0, 0, 0, 0, 0, 0, 1, 1, 1],
            n_classes: 2,
        };
        let e = CvScheme::KFold {
            k: 5,
            repeats: 1,
            stratify: true,
        }
        .splits(&labels, &[], None, 1)
        .unwrap_err();
        assert!(
            matches!(
                e,
                MlError::Folds {
                    largest_feasible_k: Some(3),
                    ..
                }
            ),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("largest feasible number of folds is 3"),
            "{e}"
        );
        let groups: Vec<String> = ["a", "a", "b", "b", "c", "c", "d", "e", "e"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let e = CvScheme::GroupKFold {
            k: 3,
            group: "donor_id".into(),
            repeats: 1,
            stratify: true,
        }
        .splits(&labels, &[], Some(&groups), 1)
        .unwrap_err();
        assert!(
            matches!(
                e,
                MlError::Folds {
                    largest_feasible_k: Some(2),
                    ..
                }
            ),
            "{e}"
        );
    }

    proptest! {
        #[test]
        fn group_folds_never_split_a_group(sizes in proptest::collection::vec(1usize..5, 8..20), seed in 0u64..100) {
            let mut groups = Vec::new();
            let mut y = Vec::new();
            for (g, &s) in sizes.iter().enumerate() {
                for j in 0..s {
                    groups.push(format!("d{g}"));
                    y.push((g + j) % 2);
                }
            }
            let labels = Labels::Classes { y, n_classes: 2 };
            let scheme = CvScheme::GroupKFold { k: 3, group: "donor_id".into(), repeats: 2, stratify: true };
            if let Ok(s) = scheme.splits(&labels, &[], Some(&groups), seed) {
                let mut seen = vec![0usize; groups.len()];
                for sp in s.iter().filter(|sp| sp.repeat == 1) {
                    for &i in &sp.test { seen[i] += 1; }
                    for &i in &sp.train { prop_assert!(!sp.test.iter().any(|&t| groups[t] == groups[i])); }
                }
                prop_assert!(seen.iter().all(|&c| c == 1));
            }
        }
    }

    #[test]
    fn leave_one_group_out_and_table() {
        let labels = Labels::Numeric {
            y: vec![1.0, 2.0, 3.0, 4.0],
        };
        let groups: Vec<String> = ["x", "y", "x", "z"].iter().map(|s| s.to_string()).collect();
        let s = CvScheme::LeaveOneGroupOut {
            group: "source".into(),
        }
        .splits(&labels, &[], Some(&groups), 0)
        .unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].test, vec![0, 2]);
        let ids: Vec<String> = (0..4).map(|i| format!("s{i}")).collect();
        let t = fold_table(&s, &ids);
        assert_eq!(t.len(), 12);
        assert_eq!(
            t[0],
            FoldAssignment {
                sample_id: "s0".into(),
                repeat: 1,
                fold: 1,
                split: Part::Test
            }
        );
    }
}
