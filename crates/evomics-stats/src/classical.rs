//! Classical per-feature tests on the observed values of a layer: Welch's two-sample t-test,
//! one-way ANOVA, and Pearson or Spearman correlation with a continuous label.
//!
//! Each feature is tested on its own observed (or imputed) values; cells flagged missing or
//! below detection are left out, as R's tests do with `NA` after `x[!is.na(x)]`. A feature
//! whose test cannot be done (too few values, or data that are essentially constant) gets
//! `None` statistics and `None` p-value, which the adjustment then leaves out.
//!
//! References: Welch (1947) Biometrika 34:28 (R `t.test(var.equal = FALSE)`); Fisher's one-way
//! analysis of variance (R `oneway.test(var.equal = TRUE)`); Pearson correlation and Spearman's
//! rank correlation with the t approximation (R `cor.test`, for Spearman with `exact = FALSE`).

use edge_rs::numeric::dist::{f_sf, t_cdf};
use evomics_core::num::{mean, pearson, rank_average, var};
use evomics_core::{Assay, ColumnValues, SampleSheet};
use serde::{Deserialize, Serialize};

use crate::adjust::{p_adjust, AdjustMethod};
use crate::constant::constant_up_to_rounding;
use crate::error::{engine, Result, StatsError};
use crate::limma::{feature_names, ExcludedFeature};

/// A text label per layer sample, read from a sample-sheet column (numbers become text).
pub fn labels_from_sheet(
    sheet: &SampleSheet,
    column: &str,
    samples: &[String],
) -> Result<Vec<Option<String>>> {
    let col = sheet
        .column(column)
        .ok_or_else(|| unknown_column(sheet, column))?;
    samples
        .iter()
        .map(|s| {
            let row = sheet.position(s).ok_or_else(|| StatsError::Column {
                column: column.to_string(),
                problem: format!("sample '{s}' is not in the sample sheet"),
            })?;
            Ok(col.values.text(row))
        })
        .collect()
}

/// A numeric label per layer sample, read from a numeric sample-sheet column.
pub fn numbers_from_sheet(
    sheet: &SampleSheet,
    column: &str,
    samples: &[String],
) -> Result<Vec<Option<f64>>> {
    let col = sheet
        .column(column)
        .ok_or_else(|| unknown_column(sheet, column))?;
    let ColumnValues::Numeric(v) = &col.values else {
        return Err(StatsError::Column {
            column: column.to_string(),
            problem: "is not numeric; correlation needs a continuous label such as alp_activity"
                .into(),
        });
    };
    samples
        .iter()
        .map(|s| {
            sheet
                .position(s)
                .map(|row| v[row])
                .ok_or_else(|| StatsError::Column {
                    column: column.to_string(),
                    problem: format!("sample '{s}' is not in the sample sheet"),
                })
        })
        .collect()
}

fn unknown_column(sheet: &SampleSheet, column: &str) -> StatsError {
    StatsError::UnknownColumn {
        column: column.to_string(),
        available: sheet
            .columns()
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn check_len(assay: &Assay, n: usize, what: &str) -> Result<()> {
    if n != assay.n_samples() {
        return Err(StatsError::Shape {
            what: what.to_string(),
            got: n.to_string(),
            expected: format!(
                "{} (one per sample of layer '{}')",
                assay.n_samples(),
                assay.name()
            ),
        });
    }
    Ok(())
}

fn two_sided_t(t: f64, df: f64) -> Result<f64> {
    if t.is_infinite() {
        return Ok(0.0);
    }
    Ok(2.0 * t_cdf(-t.abs(), df).map_err(engine("t distribution"))?)
}

/// One feature's Welch test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WelchRow {
    /// Feature id.
    pub feature_id: String,
    /// Display name (annotation `name` or `gene`).
    pub name: Option<String>,
    /// Mean of group A's observed values.
    pub mean_a: Option<f64>,
    /// Mean of group B's observed values.
    pub mean_b: Option<f64>,
    /// Welch t statistic (A − B).
    pub t: Option<f64>,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: Option<f64>,
    /// Two-sided p-value.
    pub p_value: Option<f64>,
    /// Observed values in group A.
    pub n_a: usize,
    /// Observed values in group B.
    pub n_b: usize,
    /// Adjusted p-value.
    pub adj_p_value: Option<f64>,
}

/// Welch tests of every feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WelchTable {
    /// Label of group A.
    pub group_a: String,
    /// Label of group B.
    pub group_b: String,
    /// Adjustment used.
    pub adjust: AdjustMethod,
    /// One row per feature, layer order.
    pub rows: Vec<WelchRow>,
}

/// Welch's two-sample t-test of group `a` against group `b` for every feature, as R's
/// `t.test(x_a, x_b, var.equal = FALSE)` on the observed values. `labels` has one entry per
/// layer sample; samples with another or no label are not used. The test is not done (all
/// `None`) when a group has fewer than two values or the data are essentially constant (R's
/// `t.test` stops there: standard error below 10·ε·max(|mean_a|, |mean_b|)).
pub fn welch_t_test(
    assay: &Assay,
    labels: &[Option<String>],
    a: &str,
    b: &str,
    adjust: AdjustMethod,
) -> Result<WelchTable> {
    check_len(assay, labels.len(), "group labels")?;
    if a == b {
        return Err(StatsError::Option {
            option: "groups".into(),
            problem: format!("both groups are '{a}'; name two different labels"),
        });
    }
    for g in [a, b] {
        if !labels.iter().any(|l| l.as_deref() == Some(g)) {
            let mut present: Vec<&str> = labels.iter().flatten().map(String::as_str).collect();
            present.sort();
            present.dedup();
            return Err(StatsError::Option {
                option: "groups".into(),
                problem: format!(
                    "no sample has label '{g}'; labels present: {}",
                    present.join(", ")
                ),
            });
        }
    }
    let ids = assay.features().ids();
    let nm = feature_names(assay);
    let mut rows = Vec::with_capacity(assay.n_features());
    for i in 0..assay.n_features() {
        let (mut xa, mut xb) = (Vec::new(), Vec::new());
        for (j, l) in labels.iter().enumerate() {
            if let (Some(v), Some(l)) = (assay.get(i, j), l.as_deref()) {
                if l == a {
                    xa.push(v);
                } else if l == b {
                    xb.push(v);
                }
            }
        }
        let mean_a = (!xa.is_empty()).then(|| mean(&xa));
        let mean_b = (!xb.is_empty()).then(|| mean(&xb));
        let (mut t, mut df, mut p) = (None, None, None);
        if let (Some(va), Some(vb)) = (var(&xa), var(&xb)) {
            let (ma, mb) = (mean(&xa), mean(&xb));
            let sa = va / xa.len() as f64;
            let sb = vb / xb.len() as f64;
            let se = (sa + sb).sqrt();
            if se >= 10.0 * f64::EPSILON * ma.abs().max(mb.abs()) {
                let d = (sa + sb).powi(2)
                    / (sa * sa / (xa.len() as f64 - 1.0) + sb * sb / (xb.len() as f64 - 1.0));
                let stat = (ma - mb) / se;
                p = Some(two_sided_t(stat, d)?);
                t = Some(stat);
                df = Some(d);
            }
        }
        rows.push(WelchRow {
            feature_id: ids[i].clone(),
            name: nm[i].clone(),
            mean_a,
            mean_b,
            t,
            df,
            p_value: p,
            n_a: xa.len(),
            n_b: xb.len(),
            adj_p_value: None,
        });
    }
    let adj = p_adjust(&rows.iter().map(|r| r.p_value).collect::<Vec<_>>(), adjust);
    for (r, q) in rows.iter_mut().zip(adj) {
        r.adj_p_value = q;
    }
    Ok(WelchTable {
        group_a: a.to_string(),
        group_b: b.to_string(),
        adjust,
        rows,
    })
}

/// One feature's one-way ANOVA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnovaRow {
    /// Feature id.
    pub feature_id: String,
    /// Display name.
    pub name: Option<String>,
    /// Observed values used.
    pub n_obs: usize,
    /// Groups with at least one observed value.
    pub n_groups: usize,
    /// F statistic.
    pub f: Option<f64>,
    /// Numerator df (groups − 1).
    pub df_between: Option<f64>,
    /// Denominator df (observations − groups).
    pub df_within: Option<f64>,
    /// p-value.
    pub p_value: Option<f64>,
    /// Adjusted p-value.
    pub adj_p_value: Option<f64>,
}

/// One-way ANOVA of every feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnovaTable {
    /// Group labels found, in order of first appearance.
    pub groups: Vec<String>,
    /// Adjustment used.
    pub adjust: AdjustMethod,
    /// One row per feature, layer order.
    pub rows: Vec<AnovaRow>,
}

/// One-way ANOVA (equal variances, R `oneway.test(var.equal = TRUE)`) across the labels for
/// every feature, on its observed values. Not done when fewer than two groups have values,
/// there is no within-group df, or the within-group variation is essentially zero.
pub fn one_way_anova(
    assay: &Assay,
    labels: &[Option<String>],
    adjust: AdjustMethod,
) -> Result<AnovaTable> {
    check_len(assay, labels.len(), "group labels")?;
    let mut groups: Vec<String> = Vec::new();
    let codes: Vec<Option<usize>> = labels
        .iter()
        .map(|l| {
            l.as_ref()
                .map(|l| match groups.iter().position(|g| g == l) {
                    Some(k) => k,
                    None => {
                        groups.push(l.clone());
                        groups.len() - 1
                    }
                })
        })
        .collect();
    if groups.len() < 2 {
        return Err(StatsError::Option {
            option: "groups".into(),
            problem: format!(
                "ANOVA needs at least two groups, found [{}]",
                groups.join(", ")
            ),
        });
    }
    let ids = assay.features().ids();
    let nm = feature_names(assay);
    let k = groups.len();
    let mut rows = Vec::with_capacity(assay.n_features());
    for i in 0..assay.n_features() {
        let mut by: Vec<Vec<f64>> = vec![Vec::new(); k];
        for (j, c) in codes.iter().enumerate() {
            if let (Some(v), Some(c)) = (assay.get(i, j), c) {
                by[*c].push(v);
            }
        }
        let used: Vec<&Vec<f64>> = by.iter().filter(|g| !g.is_empty()).collect();
        let n: usize = used.iter().map(|g| g.len()).sum();
        let kk = used.len();
        let mut row = AnovaRow {
            feature_id: ids[i].clone(),
            name: nm[i].clone(),
            n_obs: n,
            n_groups: kk,
            f: None,
            df_between: None,
            df_within: None,
            p_value: None,
            adj_p_value: None,
        };
        if kk >= 2 && n > kk {
            let grand = used.iter().map(|g| g.iter().sum::<f64>()).sum::<f64>() / n as f64;
            let mut ssb = 0.0;
            let mut ssw = 0.0;
            for g in &used {
                let m = mean(g);
                ssb += g.len() as f64 * (m - grand) * (m - grand);
                ssw += g.iter().map(|v| (v - m) * (v - m)).sum::<f64>();
            }
            let scale = used
                .iter()
                .flat_map(|g| g.iter())
                .fold(0.0f64, |a, v| a.max(v.abs()));
            let (d1, d2) = ((kk - 1) as f64, (n - kk) as f64);
            if ssw.sqrt() > 10.0 * f64::EPSILON * scale * (n as f64).sqrt() {
                let f = (ssb / d1) / (ssw / d2);
                row.f = Some(f);
                row.df_between = Some(d1);
                row.df_within = Some(d2);
                row.p_value = Some(f_sf(f, d1, d2).map_err(engine("F distribution"))?);
            }
        }
        rows.push(row);
    }
    let adj = p_adjust(&rows.iter().map(|r| r.p_value).collect::<Vec<_>>(), adjust);
    for (r, q) in rows.iter_mut().zip(adj) {
        r.adj_p_value = q;
    }
    Ok(AnovaTable {
        groups,
        adjust,
        rows,
    })
}

/// Which correlation coefficient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationMethod {
    /// Pearson's product-moment correlation.
    #[default]
    Pearson,
    /// Spearman's rank correlation (ties get average ranks).
    Spearman,
}

/// One feature's correlation test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrelationRow {
    /// Feature id.
    pub feature_id: String,
    /// Display name.
    pub name: Option<String>,
    /// Samples with both a value and a label.
    pub n_obs: usize,
    /// Correlation coefficient.
    pub r: Option<f64>,
    /// t statistic `r·sqrt((n − 2)/(1 − r²))`.
    pub t: Option<f64>,
    /// Two-sided p-value on n − 2 df.
    pub p_value: Option<f64>,
    /// Adjusted p-value.
    pub adj_p_value: Option<f64>,
}

/// Correlation tests of every feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrelationTable {
    /// Coefficient used.
    pub method: CorrelationMethod,
    /// Adjustment used.
    pub adjust: AdjustMethod,
    /// One row per feature, layer order.
    pub rows: Vec<CorrelationRow>,
    /// Features not tested because their values are constant up to rounding (their row is
    /// `None`; R's `cor.test` would correlate the rounding).
    #[serde(default)]
    pub excluded: Vec<ExcludedFeature>,
}

/// Correlation of every feature with a continuous label (one value per layer sample), as R's
/// `cor.test` (Pearson; Spearman with `exact = FALSE`, i.e. the t approximation). Not done with
/// fewer than three pairs or when either variable is constant; a feature constant up to
/// rounding is listed in [`CorrelationTable::excluded`] with the reason.
pub fn correlation_test(
    assay: &Assay,
    label: &[Option<f64>],
    method: CorrelationMethod,
    adjust: AdjustMethod,
) -> Result<CorrelationTable> {
    check_len(assay, label.len(), "label values")?;
    if let Some(bad) = label.iter().flatten().find(|v| !v.is_finite()) {
        return Err(StatsError::Option {
            option: "label".into(),
            problem: format!("label value {bad} is not finite"),
        });
    }
    let ids = assay.features().ids();
    let nm = feature_names(assay);
    let mut rows = Vec::with_capacity(assay.n_features());
    let mut excluded = Vec::new();
    for i in 0..assay.n_features() {
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for (j, l) in label.iter().enumerate() {
            if let (Some(v), Some(l)) = (assay.get(i, j), l) {
                x.push(v);
                y.push(*l);
            }
        }
        let n = x.len();
        let mut row = CorrelationRow {
            feature_id: ids[i].clone(),
            name: nm[i].clone(),
            n_obs: n,
            r: None,
            t: None,
            p_value: None,
            adj_p_value: None,
        };
        let constant = constant_up_to_rounding(&x, assay.scale());
        if let Some(reason) = &constant {
            excluded.push(ExcludedFeature {
                feature_id: ids[i].clone(),
                reason: reason.clone(),
            });
        }
        if n >= 3 && constant.is_none() {
            let r = match method {
                CorrelationMethod::Pearson => pearson(&x, &y),
                CorrelationMethod::Spearman => pearson(&rank_average(&x), &rank_average(&y)),
            };
            if let Some(r) = r {
                let df = (n - 2) as f64;
                let t = r * (df / (1.0 - r * r)).sqrt();
                row.r = Some(r);
                row.t = Some(t);
                row.p_value = Some(two_sided_t(t, df)?);
            }
        }
        rows.push(row);
    }
    let adj = p_adjust(&rows.iter().map(|r| r.p_value).collect::<Vec<_>>(), adjust);
    for (r, q) in rows.iter_mut().zip(adj) {
        r.adj_p_value = q;
    }
    Ok(CorrelationTable {
        method,
        adjust,
        rows,
        excluded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use evomics_core::{Features, LayerKind, ValueScale};
    use ndarray::Array2;

    fn assay(rows: &[Vec<Option<f64>>]) -> Assay {
        let (g, n) = (rows.len(), rows[0].len());
        Assay::from_options(
            "x",
            LayerKind::Other,
            ValueScale::Log2,
            Features::new((0..g).map(|i| format!("f{i}")).collect()).unwrap(),
            (0..n).map(|j| format!("s{j}")).collect(),
            &Array2::from_shape_fn((g, n), |(i, j)| rows[i][j]),
        )
        .unwrap()
    }

    fn lab(v: &[&str]) -> Vec<Option<String>> {
        v.iter()
            .map(|s| (!s.is_empty()).then(|| s.to_string()))
            .collect()
    }

    #[test]
    fn welch_matches_r() {
        // scipy.stats.ttest_ind(a, b, equal_var=False), the same formulas as R's t.test:
        // t = -1.9300776004864824, df = 7.838177445325398, p = 0.09046195923987878
        let a = assay(
            &[vec![1.0, 2.0, 3.0, 4.0, 6.0, 2.0, 4.0, 5.0, 7.0, 9.0, 12.0]
                .into_iter()
                .map(Some)
                .collect()],
        );
        let l = lab(&["a", "a", "a", "a", "a", "b", "b", "b", "b", "b", "b"]);
        let w = welch_t_test(&a, &l, "a", "b", AdjustMethod::Bh).unwrap();
        let r = &w.rows[0];
        assert!(
            (r.t.unwrap() - (-1.9300776004864824)).abs() < 1e-12,
            "{r:?}"
        );
        assert!((r.df.unwrap() - 7.838177445325398).abs() < 1e-12);
        assert!((r.p_value.unwrap() - 0.09046195923987878).abs() < 1e-12);
        assert_eq!((r.n_a, r.n_b), (5, 6));
    }

    #[test]
    fn welch_not_done_is_none() {
        let a = assay(&[
            vec![Some(1.0), None, Some(2.0), Some(3.0)],
            vec![Some(1.0), Some(1.0), Some(2.0), Some(2.0)],
        ]);
        let l = lab(&["a", "a", "b", "b"]);
        let w = welch_t_test(&a, &l, "a", "b", AdjustMethod::Bh).unwrap();
        assert_eq!(w.rows[0].p_value, None);
        assert_eq!(w.rows[0].n_a, 1);
        assert_eq!(w.rows[1].t, None);
        assert!(welch_t_test(&a, &l, "a", "c", AdjustMethod::Bh)
            .unwrap_err()
            .to_string()
            .contains("a, b"));
        assert!(welch_t_test(&a, &lab(&["a", "a", "b"]), "a", "b", AdjustMethod::Bh).is_err());
    }

    #[test]
    fn anova_matches_r() {
        // scipy.stats.f_oneway([1,2,3],[4,5,7],[2,2,4]) (= R oneway.test(var.equal=TRUE)):
        // F = 6, p = 0.037037037037037084 (= 1/27)
        let a = assay(&[vec![1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 2.0, 2.0, 4.0]
            .into_iter()
            .map(Some)
            .collect()]);
        let l = lab(&["x", "x", "x", "y", "y", "y", "z", "z", "z"]);
        let t = one_way_anova(&a, &l, AdjustMethod::Bh).unwrap();
        let r = &t.rows[0];
        assert!((r.f.unwrap() - 6.0).abs() < 1e-12, "{r:?}");
        assert!((r.p_value.unwrap() - 1.0 / 27.0).abs() < 1e-12);
        assert_eq!(t.groups, vec!["x", "y", "z"]);
        assert!(one_way_anova(&a, &lab(&["x"; 9]), AdjustMethod::Bh).is_err());
    }

    #[test]
    fn correlations_match_r() {
        // scipy.stats.pearsonr: r = 0.8546707179929122, p = 0.006861515291359633;
        // scipy.stats.spearmanr (t approximation, = R cor.test(exact=FALSE)):
        // rho = 0.880952380952381, p = 0.0038503204637324005
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let y = [2.0, 1.0, 4.0, 3.0, 7.0, 8.0, 5.0, 9.0];
        let a = assay(&[x.iter().map(|v| Some(*v)).collect()]);
        let l: Vec<Option<f64>> = y.iter().map(|v| Some(*v)).collect();
        let p = correlation_test(&a, &l, CorrelationMethod::Pearson, AdjustMethod::Bh).unwrap();
        let r = &p.rows[0];
        assert!((r.r.unwrap() - 0.8546707179929122).abs() < 1e-12, "{r:?}");
        assert!((r.p_value.unwrap() - 0.006861515291359633).abs() < 1e-12);
        let s = correlation_test(&a, &l, CorrelationMethod::Spearman, AdjustMethod::Bh).unwrap();
        assert!((s.rows[0].r.unwrap() - 0.880952380952381).abs() < 1e-12);
        assert!((s.rows[0].p_value.unwrap() - 0.0038503204637324005).abs() < 1e-12);
        assert_eq!(s.rows[0].n_obs, 8);
    }
}
