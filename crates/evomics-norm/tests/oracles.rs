//! Agreement with the R oracles in ../shared/oracles (edgeR 3.40.2, sva 3.46.0, R 4.2.2).
//!
//! Each oracle folder's README.md says exactly what R ran. The files must be present: a missing
//! file fails the test with a message, it is never skipped. Run with `--nocapture` to see the
//! maximum errors (they are recorded in docs/methods/normalization.md).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use evomics_core::{Assay, Features, LayerKind, SampleSheet, ValueScale};
use evomics_norm::combat::{BatchCorrectionParams, CombatParams, FittedBatchCorrection};
use evomics_norm::filter::{FilterByExprParams, FilterParams, ValidValuesParams};
use evomics_norm::transform::{LogCpmParams, TransformParams};
use evomics_norm::{Fit, NormFactorsParams, Transformer};
use evomics_testkit::text;
use ndarray::Array2;

const ORACLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/oracles/");

/// The synthetic cohorts: S as plain TSV, M gzip-compressed.
#[derive(Clone, Copy)]
enum Cohort {
    S,
    M,
}

impl Cohort {
    fn dir(self) -> &'static str {
        match self {
            Cohort::S => "synthetic-S",
            Cohort::M => "synthetic-M",
        }
    }

    /// Path of a file; matrices of M carry `.gz`.
    fn path(self, name: &str, big: bool) -> PathBuf {
        let gz = matches!(self, Cohort::M) && big;
        PathBuf::from(format!(
            "{ORACLES}{}/{name}{}",
            self.dir(),
            if gz { ".gz" } else { "" }
        ))
    }
}

/// A TSV with a header; first column ids, other columns numbers or `NA`.
struct Table {
    columns: Vec<String>,
    ids: Vec<String>,
    rows: Vec<Vec<Option<f64>>>,
}

fn read_table(path: &Path) -> Table {
    let text = text(path);
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap_or_else(|| panic!("{}: empty file", path.display()))
        .split('\t')
        .map(str::to_string)
        .collect();
    let mut ids = Vec::new();
    let mut rows = Vec::new();
    for (k, line) in lines.enumerate() {
        let mut cells = line.split('\t');
        ids.push(cells.next().unwrap_or_default().to_string());
        let row: Vec<Option<f64>> = cells
            .map(|c| {
                if c == "NA" {
                    None
                } else {
                    Some(c.parse::<f64>().unwrap_or_else(|e| {
                        panic!(
                            "{} line {}: '{c}' is not a number: {e}",
                            path.display(),
                            k + 2
                        )
                    }))
                }
            })
            .collect();
        assert_eq!(
            row.len(),
            header.len() - 1,
            "{} line {}",
            path.display(),
            k + 2
        );
        rows.push(row);
    }
    Table {
        columns: header[1..].to_vec(),
        ids,
        rows,
    }
}

fn sheet(c: Cohort) -> SampleSheet {
    let text = text(&c.path("samples.tsv", false));
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .expect("samples.tsv header")
        .split('\t')
        .collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
    let ids = rows.iter().map(|r| r[0].to_string()).collect();
    let cols = header[1..]
        .iter()
        .enumerate()
        .map(|(k, name)| {
            (
                name.to_string(),
                rows.iter().map(|r| Some(r[k + 1].to_string())).collect(),
            )
        })
        .collect();
    SampleSheet::from_text_columns(ids, cols).expect("samples.tsv is a valid sheet")
}

fn assay(t: &Table, name: &str, kind: LayerKind, scale: ValueScale) -> Assay {
    let cells = Array2::from_shape_fn((t.ids.len(), t.columns.len()), |(i, j)| t.rows[i][j]);
    Assay::from_options(
        name,
        kind,
        scale,
        Features::new(t.ids.clone()).expect("unique feature ids"),
        t.columns.clone(),
        &cells,
    )
    .expect("a valid assay")
}

fn proteins(c: Cohort) -> Assay {
    assay(
        &read_table(&c.path("proteins_log2.tsv", true)),
        "proteome",
        LayerKind::Proteome,
        ValueScale::Log2,
    )
}

fn mirna(c: Cohort) -> Assay {
    assay(
        &read_table(&c.path("mirna_counts.tsv", true)),
        "mirna",
        LayerKind::Mirna,
        ValueScale::Counts,
    )
}

/// `x` rounded to `digits` significant digits, as R's `signif` before `write.table`.
fn signif(x: f64, digits: usize) -> f64 {
    format!("{:.*e}", digits - 1, x)
        .parse()
        .expect("a formatted number parses")
}

/// Differences between our matrix and an oracle matrix written with 8 significant digits,
/// aligned by feature and sample id; the missing pattern must agree exactly.
struct Diff {
    max_abs: f64,
    max_rel: f64,
    cells: usize,
    /// Cells whose value, rounded to the file's 8 significant digits, is not the file's value.
    rounding_mismatches: usize,
}

fn compare_matrix(ours: &Assay, oracle: &Table) -> (f64, f64, usize) {
    let d = diff_matrix(ours, oracle);
    eprintln!(
        "    {} of {} cells differ from R after rounding ours to the file's 8 significant digits",
        d.rounding_mismatches, d.cells
    );
    (d.max_abs, d.max_rel, d.cells)
}

fn diff_matrix(ours: &Assay, oracle: &Table) -> Diff {
    let col: HashMap<&str, usize> = ours
        .samples()
        .iter()
        .enumerate()
        .map(|(j, s)| (s.as_str(), j))
        .collect();
    let (mut max_abs, mut max_rel, mut n, mut mism) = (0.0_f64, 0.0_f64, 0, 0);
    for (id, row) in oracle.ids.iter().zip(&oracle.rows) {
        let i = ours
            .features()
            .position(id)
            .unwrap_or_else(|| panic!("oracle feature '{id}' missing from our output"));
        for (k, want) in row.iter().enumerate() {
            let j = col[oracle.columns[k].as_str()];
            match (ours.get(i, j), want) {
                (Some(got), Some(want)) => {
                    let d = (got - want).abs();
                    max_abs = max_abs.max(d);
                    if *want != 0.0 {
                        max_rel = max_rel.max(d / want.abs());
                    }
                    n += 1;
                    if signif(got, 8) != *want {
                        mism += 1;
                    }
                }
                (None, None) => {}
                (got, want) => panic!(
                    "feature '{id}', sample '{}': we have {got:?}, R has {want:?}",
                    oracle.columns[k]
                ),
            }
        }
    }
    Diff {
        max_abs,
        max_rel,
        cells: n,
        rounding_mismatches: mism,
    }
}

// ------------------------------------------------------------------ valid-70 filter

fn check_valid70(c: Cohort) {
    let sheet = sheet(c);
    let x = proteins(c);
    let oracle = read_table(&c.path("oracle/filter_valid70.tsv", true));
    let keep_col = oracle
        .columns
        .iter()
        .position(|h| h == "keep")
        .expect("keep column");
    let fitted = FilterParams::ValidValues(ValidValuesParams {
        column: "source".into(),
        ..Default::default()
    })
    .fit(&x, &sheet)
    .unwrap();
    let kept: BTreeSet<&str> = fitted.kept.iter().map(String::as_str).collect();
    assert_eq!(oracle.ids.len(), x.n_features());
    let mut disagree = Vec::new();
    for (id, row) in oracle.ids.iter().zip(&oracle.rows) {
        let want = row[keep_col] == Some(1.0);
        if want != kept.contains(id.as_str()) {
            disagree.push(id.clone());
        }
    }
    assert!(disagree.is_empty(), "keep flags differ for {disagree:?}");
    eprintln!(
        "{}: valid70 keep flags equal for all {} features ({} kept)",
        c.dir(),
        oracle.ids.len(),
        kept.len()
    );
}

#[test]
fn valid70_filter_matches_r_s() {
    evomics_testkit::require_shared!("oracles/synthetic-S");
    check_valid70(Cohort::S);
}

#[test]
fn valid70_filter_matches_r_m() {
    evomics_testkit::require_shared!("oracles/synthetic-M");
    check_valid70(Cohort::M);
}

// ------------------------------------------------------------------ edgeR TMM and logCPM

fn check_tmm(c: Cohort) {
    let counts = mirna(c);
    let oracle = read_table(&c.path("oracle/edger_tmm_factors.tsv", false));
    let fitted = NormFactorsParams::default().fit(&counts).unwrap();
    let lib = fitted.norm_factors(&counts).unwrap();
    let eff = lib.effective();
    let col = |name: &str| oracle.columns.iter().position(|h| h == name).expect(name);
    let (cl, cf, ce) = (col("lib.size"), col("norm.factors"), col("eff.lib.size"));
    let (mut max_rel_f, mut max_rel_e, mut mism) = (0.0_f64, 0.0_f64, 0);
    for (k, id) in oracle.ids.iter().enumerate() {
        let j = counts.sample_position(id).expect("oracle sample in layer");
        let row = &oracle.rows[k];
        assert_eq!(Some(lib.lib_size[j]), row[cl], "lib.size of {id}");
        let f = row[cf].expect("factor");
        let e = row[ce].expect("eff.lib.size");
        max_rel_f = max_rel_f.max((lib.norm_factors[j] - f).abs() / f);
        if signif(lib.norm_factors[j], 10) != f {
            mism += 1;
        }
        max_rel_e = max_rel_e.max((eff[j] - e).abs() / e);
    }
    eprintln!(
        "{}: TMM norm.factors max rel error {max_rel_f:.3e}, eff.lib.size {max_rel_e:.3e} ({} samples; {mism} factors differ after rounding to the file's 10 digits)",
        c.dir(),
        oracle.ids.len()
    );
    // the file has 10 significant digits: rounding alone is up to 5e-10 relative
    assert!(
        max_rel_f < 1e-9,
        "TMM factors: max relative error {max_rel_f:e}"
    );
    assert!(
        max_rel_e < 1e-9,
        "effective library sizes: max relative error {max_rel_e:e}"
    );
}

#[test]
fn tmm_factors_match_edger_s() {
    evomics_testkit::require_shared!("oracles/synthetic-S");
    check_tmm(Cohort::S);
}

#[test]
fn tmm_factors_match_edger_m() {
    evomics_testkit::require_shared!("oracles/synthetic-M");
    check_tmm(Cohort::M);
}

fn check_logcpm(c: Cohort) {
    let sheet = sheet(c);
    let counts = mirna(c);
    let oracle = read_table(&c.path("oracle/edger_logcpm_prior2.tsv", true));
    let (_, out, _) = TransformParams::LogCpm(LogCpmParams::default())
        .fit_transform(&counts, &sheet)
        .unwrap();
    assert_eq!(out.scale(), ValueScale::Log2);
    let (max_abs, max_rel, n) = compare_matrix(&out, &oracle);
    eprintln!(
        "{}: logCPM (prior 2, TMM) max abs error {max_abs:.3e}, max rel error {max_rel:.3e} over {n} cells",
        c.dir()
    );
    // 8 significant digits: the file's own rounding is up to 5e-8 relative
    assert!(max_rel < 1e-7, "logCPM: max relative error {max_rel:e}");
}

#[test]
fn logcpm_prior2_matches_edger_s() {
    evomics_testkit::require_shared!("oracles/synthetic-S");
    check_logcpm(Cohort::S);
}

#[test]
fn logcpm_prior2_matches_edger_m() {
    evomics_testkit::require_shared!("oracles/synthetic-M");
    check_logcpm(Cohort::M);
}

// ------------------------------------------------------------------ ComBat

fn combat(x: &Assay, sheet: &SampleSheet, covariates: &[&str]) -> (FittedBatchCorrection, Assay) {
    let p = BatchCorrectionParams::Combat(CombatParams {
        batch: "batch".into(),
        covariates: covariates.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    });
    let (fitted, out, _) = p.fit_transform(x, sheet).unwrap();
    (fitted, out)
}

fn check_combat_cc(c: Cohort, covariates: &[&str], file: &str) {
    let sheet = sheet(c);
    let x = proteins(c);
    let cc: Vec<String> = text(&c.path("oracle/complete_case_features.txt", false))
        .lines()
        .map(str::to_string)
        .collect();
    let rows: Vec<usize> = cc
        .iter()
        .map(|id| x.features().position(id).expect("complete-case feature"))
        .collect();
    let xcc = x.select_features(&rows);
    assert_eq!(
        xcc.flag_counts().missing,
        0,
        "complete-case input has no missing cell"
    );
    let (fitted, out) = combat(&xcc, &sheet, covariates);
    let FittedBatchCorrection::Combat(f) = &fitted else {
        panic!("ComBat expected")
    };
    assert!(!f.missing_value_path);
    assert!(f.uncorrected.is_empty(), "{:?}", f.uncorrected);
    let oracle = read_table(&c.path(&format!("oracle/{file}"), true));
    assert_eq!(oracle.ids.len(), cc.len());
    let (max_abs, max_rel, n) = compare_matrix(&out, &oracle);
    eprintln!(
        "{}: ComBat complete-case {file}: max abs error {max_abs:.3e} (rel {max_rel:.3e}) over {n} cells",
        c.dir()
    );
    assert!(
        max_abs < 1e-6,
        "ComBat {file}: max absolute error {max_abs:e}"
    );
}

#[test]
fn combat_complete_nomod_matches_sva_s() {
    evomics_testkit::require_shared!("oracles/synthetic-S");
    check_combat_cc(Cohort::S, &[], "combat_cc_nomod.tsv");
}

#[test]
fn combat_complete_mod_source_matches_sva_s() {
    evomics_testkit::require_shared!("oracles/synthetic-S");
    check_combat_cc(Cohort::S, &["source"], "combat_cc_mod_source.tsv");
}

#[test]
fn combat_complete_nomod_matches_sva_m() {
    evomics_testkit::require_shared!("oracles/synthetic-M");
    check_combat_cc(Cohort::M, &[], "combat_cc_nomod.tsv");
}

#[test]
fn combat_complete_mod_source_matches_sva_m() {
    evomics_testkit::require_shared!("oracles/synthetic-M");
    check_combat_cc(Cohort::M, &["source"], "combat_cc_mod_source.tsv");
}

/// The NA path, fed with all valid-70 features: ComBat must itself leave out exactly the
/// features R's script excluded (fewer than 2 values or zero sd in a batch) and match R on the
/// rest.
fn check_combat_na(c: Cohort) {
    let sheet = sheet(c);
    let x = proteins(c);
    let (_, xf, _) = FilterParams::ValidValues(ValidValuesParams {
        column: "source".into(),
        ..Default::default()
    })
    .fit_transform(&x, &sheet)
    .unwrap();
    let (fitted, out) = combat(&xf, &sheet, &[]);
    let FittedBatchCorrection::Combat(f) = &fitted else {
        panic!("ComBat expected")
    };
    assert!(f.missing_value_path);
    let oracle = read_table(&c.path("oracle/combat_na_nomod.tsv", true));
    let in_oracle: BTreeSet<&str> = oracle.ids.iter().map(String::as_str).collect();
    let ours_left_out: BTreeSet<&str> = f.uncorrected.iter().map(|u| u.feature.as_str()).collect();
    let r_left_out: BTreeSet<&str> = xf
        .features()
        .ids()
        .iter()
        .map(String::as_str)
        .filter(|id| !in_oracle.contains(id))
        .collect();
    assert_eq!(ours_left_out, r_left_out, "features ComBat could not fit");
    for u in &f.uncorrected {
        let i = xf.features().position(&u.feature).expect("feature");
        for j in 0..xf.n_samples() {
            assert_eq!(
                out.get(i, j),
                xf.get(i, j),
                "uncorrected feature '{}' changed",
                u.feature
            );
        }
    }
    let (max_abs, max_rel, n) = compare_matrix(&out, &oracle);
    eprintln!(
        "{}: ComBat NA path: {} features corrected, {} left out ({:?}); max abs error {max_abs:.3e} (rel {max_rel:.3e}) over {n} cells",
        c.dir(),
        f.corrected.len(),
        f.uncorrected.len(),
        f.uncorrected.iter().take(3).map(|u| (&u.feature, &u.reason)).collect::<Vec<_>>()
    );
    assert!(
        max_abs < 1e-6,
        "ComBat NA path: max absolute error {max_abs:e}"
    );
}

#[test]
fn combat_missing_value_path_matches_sva_s() {
    evomics_testkit::require_shared!("oracles/synthetic-S");
    check_combat_na(Cohort::S);
}

#[test]
fn combat_missing_value_path_matches_sva_m() {
    evomics_testkit::require_shared!("oracles/synthetic-M");
    check_combat_na(Cohort::M);
}

/// A fitted ComBat applied to held-out samples gives them exactly what it gives them when they
/// are transformed with the training samples (per-sample application of learned parameters).
#[test]
fn combat_fitted_on_s_applies_to_held_out_samples() {
    evomics_testkit::require_shared!("oracles/synthetic-S");
    let c = Cohort::S;
    let sheet = sheet(c);
    let x = proteins(c);
    let cc: Vec<usize> = text(&c.path("oracle/complete_case_features.txt", false))
        .lines()
        .map(|id| x.features().position(id).expect("feature"))
        .collect();
    let xcc = x.select_features(&cc);
    let train: Vec<usize> = (0..xcc.n_samples()).filter(|j| j % 6 != 0).collect();
    let test: Vec<usize> = (0..xcc.n_samples()).filter(|j| j % 6 == 0).collect();
    let (fitted, _) = combat(&xcc.select_samples(&train), &sheet, &["source"]);
    let all = fitted.transform(&xcc, &sheet).unwrap();
    let held = fitted
        .transform(&xcc.select_samples(&test), &sheet)
        .unwrap();
    for (k, &j) in test.iter().enumerate() {
        for i in 0..xcc.n_features() {
            assert_eq!(held.get(i, k), all.get(i, j));
        }
    }
}

// --------------------------------------------------------------------------- filterByExpr

/// edgeR's `filterByExpr(DGEList(counts, group = source), group = source)` keeps exactly the
/// oracle's miRNAs, with `group` and with the equivalent design `~ 0 + source`.
fn check_filter_by_expr(c: Cohort) {
    let sheet = sheet(c);
    let counts = mirna(c);
    let want: BTreeSet<String> = {
        let t = text(&c.path("oracle/edger_filterbyexpr_source.tsv", true));
        let mut lines = t.lines();
        assert_eq!(lines.next(), Some("feature_id\ttotal_count\tkeep"));
        lines
            .filter(|l| l.ends_with("\t1"))
            .map(|l| l.split('\t').next().unwrap().to_string())
            .collect()
    };
    for p in [
        FilterByExprParams {
            group: Some("source".into()),
            ..Default::default()
        },
        FilterByExprParams {
            design: Some("~ 0 + source".into()),
            ..Default::default()
        },
    ] {
        let fitted = FilterParams::FilterByExpr(p.clone())
            .fit(&counts, &sheet)
            .unwrap();
        let got: BTreeSet<String> = fitted.kept.iter().cloned().collect();
        let missing: Vec<&String> = want.difference(&got).collect();
        let extra: Vec<&String> = got.difference(&want).collect();
        println!(
            "{} filterByExpr {:?}: {} of {} kept (edgeR {}), {} missing, {} extra",
            c.dir(),
            p.group.as_ref().or(p.design.as_ref()).unwrap(),
            got.len(),
            counts.n_features(),
            want.len(),
            missing.len(),
            extra.len()
        );
        assert!(
            missing.is_empty() && extra.is_empty(),
            "kept set differs from edgeR: missing {missing:?}, extra {extra:?}"
        );
        assert!(fitted
            .removed
            .iter()
            .all(|r| r.reason.starts_with("filterByExpr:")));
    }
}

#[test]
fn filter_by_expr_matches_edger_s() {
    evomics_testkit::require_shared!("oracles/synthetic-S");
    check_filter_by_expr(Cohort::S);
}

#[test]
fn filter_by_expr_matches_edger_m() {
    evomics_testkit::require_shared!("oracles/synthetic-M");
    check_filter_by_expr(Cohort::M);
}

// --------------------------------------------------------------------------- ComBat, near-zero

/// Two real miRNA batches (mouse-plasma-ev-mirna-wildfire: the 237 miRNAs both count files
/// report, 30 samples), log-CPM, ComBat with `covariates = ["Treatment"]`: the miRNAs whose
/// counts are all zero in one batch are left uncorrected and named, and every other value
/// equals sva's ComBat run without them (test-data/r-reference/combat-near-zero).
#[test]
fn combat_leaves_near_zero_variance_features_uncorrected() {
    let dir = evomics_testkit::require_shared!("data/real/mouse-plasma-ev-mirna-wildfire");
    let read = |name: &str| evomics_testkit::Tsv::parse(&text(&dir.join(name)), ',');
    let b0 = read("batch0_mouse_miRNA_count.csv");
    let b1 = read("batch1_mouse_miRNA_count.csv");
    let ids1: HashMap<&str, usize> = b1
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r[0].as_str(), i))
        .collect();
    let shared: Vec<(usize, usize)> = b0
        .rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| ids1.get(r[0].as_str()).map(|&k| (i, k)))
        .collect();
    assert_eq!(shared.len(), 237);
    let samples: Vec<String> = b0.header[1..]
        .iter()
        .chain(&b1.header[1..])
        .cloned()
        .collect();
    let n0 = b0.header.len() - 1;
    let cells = Array2::from_shape_fn((shared.len(), samples.len()), |(i, j)| {
        let (r0, r1) = shared[i];
        let cell = if j < n0 {
            &b0.rows[r0][j + 1]
        } else {
            &b1.rows[r1][j - n0 + 1]
        };
        Some(cell.parse::<f64>().unwrap())
    });
    let counts = Assay::from_options(
        "mirna",
        LayerKind::Mirna,
        ValueScale::Counts,
        Features::new(shared.iter().map(|&(i, _)| b0.rows[i][0].clone()).collect()).unwrap(),
        samples.clone(),
        &cells,
    )
    .unwrap();
    let labels = read("microRNAseq_ID_summaries_032821.csv");
    let col = |name: &str| -> Vec<Option<String>> {
        samples
            .iter()
            .map(|s| {
                let row = labels
                    .rows
                    .iter()
                    .find(|r| &r[labels.col("Label_from_Core")] == s)
                    .unwrap_or_else(|| panic!("no label row for {s}"));
                Some(row[labels.col(name)].clone())
            })
            .collect()
    };
    let sheet = SampleSheet::from_text_columns(
        samples.clone(),
        vec![
            ("Batch".into(), col("Batch")),
            ("Treatment".into(), col("Treatment")),
        ],
    )
    .unwrap();

    let (_, logcpm, _) = TransformParams::LogCpm(LogCpmParams::default())
        .fit_transform(&counts, &sheet)
        .unwrap();
    let p = BatchCorrectionParams::Combat(CombatParams {
        batch: "Batch".into(),
        covariates: vec!["Treatment".into()],
        ..Default::default()
    });
    let (_, out, report) = p.fit_transform(&logcpm, &sheet).unwrap();

    let refdir = evomics_testkit::test_data("r-reference/combat-near-zero");
    let flagged = evomics_testkit::Tsv::read(&refdir.join("flagged.tsv"));
    let want: BTreeSet<&str> = flagged.column("feature_id").into_iter().collect();
    let got: BTreeSet<&str> = report
        .uncorrected
        .iter()
        .map(|u| u.feature.as_str())
        .collect();
    assert_eq!(got, want, "uncorrected miRNAs: {:?}", report.uncorrected);
    for u in &report.uncorrected {
        assert!(u.reason.starts_with("near-zero variance in batch"), "{u:?}");
        let i = logcpm.features().position(&u.feature).unwrap();
        for j in 0..samples.len() {
            assert_eq!(out.get(i, j), logcpm.get(i, j), "{} changed", u.feature);
        }
    }
    let sva = read_table(&refdir.join("combat_without_flagged.tsv"));
    assert_eq!(sva.columns, samples);
    assert_eq!(sva.ids.len(), 237 - want.len());
    let (mut max_abs, mut max_rel) = (0.0f64, 0.0f64);
    for (k, id) in sva.ids.iter().enumerate() {
        let i = out.features().position(id).unwrap();
        for j in 0..samples.len() {
            let (a, b) = (out.get(i, j).unwrap(), sva.rows[k][j].unwrap());
            max_abs = max_abs.max((a - b).abs());
            max_rel = max_rel.max((a - b).abs() / b.abs().max(1e-300));
        }
    }
    println!(
        "wildfire ComBat: {} uncorrected ({}); the other {} × {}: max abs error {max_abs:.2e}, max rel {max_rel:.2e} against sva",
        got.len(),
        got.iter().copied().collect::<Vec<_>>().join(", "),
        sva.ids.len(),
        samples.len()
    );
    assert!(max_abs < 1e-6, "max absolute error {max_abs:e}");
}
