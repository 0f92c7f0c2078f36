//! Agreement with the R oracles in ../shared/oracles (limma 3.54.1, edgeR 3.40.2, stats on R
//! 4.2.2), plus the donor-blocking simulation. A missing oracle file fails the test.
//!
//! Tolerances: limma tables, fit columns and voom weights within 1e-6 relative (1e-9 absolute
//! near zero); Welch p-values and BH within 1e-9 relative. The oracle writes 10 significant
//! digits in tables and 8 in matrices, so the floor of the comparison is ~5e-10 / 5e-8.
//! Run with `--nocapture` to see the maximum errors per table.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use evomics_core::{Assay, Features, LayerKind, SampleSheet, ValueScale};
use evomics_stats::{
    duplicate_correlation_detail, labels_from_sheet, lm_fit, voom, voom_lm_fit, welch_t_test,
    AdjustMethod, Block, Contrasts, Design, DesignOptions, EbayesOptions, Legacy, LimmaResult,
    LmFit, VoomFitOptions, VoomOptions,
};
use evomics_testkit::{number, plain_or_gz};
use ndarray::Array2;

const ORACLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/oracles");
const SOURCES: [&str; 6] = ["BM_MSC", "ADSC", "UC_MSC", "iMSC", "DPSC", "SYN_MSC"];

// ------------------------------------------------------------------ reading

/// Read an oracle TSV (plain, or `.gz` next to it); panics with a clear message when neither
/// exists.
fn read_tsv(dataset: &str, rel: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let path = plain_or_gz(&Path::new(ORACLES).join(dataset), rel);
    assert!(
        path.exists(),
        "oracle file missing: neither {} nor its .gz exists. The oracles live in shared/oracles \
         beside the repository (see shared/oracles/README.md); this test needs them.",
        path.display()
    );
    evomics_testkit::read_tsv(&path)
}

struct Data {
    name: &'static str,
    sheet: SampleSheet,
    proteins: Assay,
}

fn load(name: &'static str) -> Data {
    let (h, rows) = read_tsv(name, "samples.tsv");
    let ids: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
    let cols = (1..h.len())
        .map(|j| {
            (
                h[j].clone(),
                rows.iter().map(|r| Some(r[j].clone())).collect(),
            )
        })
        .collect();
    let sheet = SampleSheet::from_text_columns(ids, cols).unwrap();

    let (_, keep) = read_tsv(name, "oracle/filter_valid70.tsv");
    let kept: std::collections::HashSet<String> = keep
        .iter()
        .filter(|r| r.last().map(String::as_str) == Some("1"))
        .map(|r| r[0].clone())
        .collect();
    let (h, rows) = read_tsv(name, "proteins_log2.tsv");
    let rows: Vec<&Vec<String>> = rows.iter().filter(|r| kept.contains(&r[0])).collect();
    assert_eq!(
        rows.len(),
        kept.len(),
        "{name}: filter_valid70 names proteins not in proteins_log2"
    );
    let n = h.len() - 1;
    let cells = Array2::from_shape_fn((rows.len(), n), |(i, j)| number(&rows[i][j + 1]));
    let proteins = Assay::from_options(
        "proteome",
        LayerKind::Proteome,
        ValueScale::Log2,
        Features::new(rows.iter().map(|r| r[0].clone()).collect()).unwrap(),
        h[1..].to_vec(),
        &cells,
    )
    .unwrap();
    Data {
        name,
        sheet,
        proteins,
    }
}

fn data(name: &'static str) -> &'static Data {
    static S: OnceLock<Data> = OnceLock::new();
    static M: OnceLock<Data> = OnceLock::new();
    match name {
        "synthetic-S" => S.get_or_init(|| load(name)),
        _ => M.get_or_init(|| load(name)),
    }
}

// ------------------------------------------------------------------ comparing

/// Error summary of one column: largest relative error (over values R reports as non-zero),
/// largest absolute error, and the values outside tolerance.
#[derive(Default)]
struct MaxErr {
    rel: f64,
    abs: f64,
    n: usize,
    fails: Vec<String>,
}

/// A value agrees when both are NA, or both are equal infinities, or the difference is within
/// `rel_tol` of R's value or within `abs_tol` (near zero).
fn check(
    got: Option<f64>,
    want: Option<f64>,
    rel_tol: f64,
    abs_tol: f64,
    what: &str,
    acc: &mut MaxErr,
) {
    acc.n += 1;
    let ok = match (got, want) {
        (None, None) => true,
        (Some(g), Some(w)) if g.is_infinite() || w.is_infinite() => g == w,
        (Some(g), Some(w)) => {
            let d = (g - w).abs();
            if w != 0.0 {
                acc.rel = acc.rel.max(d / w.abs());
            }
            acc.abs = acc.abs.max(d);
            d <= rel_tol * w.abs() || d <= abs_tol
        }
        _ => false,
    };
    if !ok {
        acc.fails
            .push(format!("{what}: got {got:?}, R has {want:?}"));
    }
}

/// Print the summary and fail with every disagreement listed (first 20).
fn report(label: &str, errs: &[(&str, MaxErr)]) {
    let parts: Vec<String> = errs
        .iter()
        .map(|(c, e)| format!("{c} {:.1e}/{:.1e}", e.rel, e.abs))
        .collect();
    println!(
        "{label} ({} values): max rel/abs err {}",
        errs.iter().map(|e| e.1.n).sum::<usize>(),
        parts.join(", ")
    );
    let fails: Vec<&String> = errs.iter().flat_map(|e| e.1.fails.iter()).collect();
    assert!(
        fails.is_empty(),
        "{label}: {} value(s) outside tolerance:\n{}",
        fails.len(),
        fails
            .iter()
            .take(20)
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

const REL: f64 = 1e-6;
const ABS: f64 = 1e-9;

/// limma's `fitFDistRobustly` stops its root search for df.prior at `uniroot(tol = 1e-8)` on the
/// link scale d/(1+d); edge-rs converges the root fully. R's robust df.prior therefore carries
/// an error of up to ~1e-8 in that scale (checked in `compare_fit`), which moves B by up to
/// ~1e-7. Where B is near zero that exceeds 1e-6 relative, so robust B is also accepted within
/// this absolute difference (a log-odds difference of 1e-6 is immaterial).
const ROBUST_B_ABS: f64 = 1e-6;
/// `uniroot`'s `tol` in `fitFDistRobustly`.
const UNIROOT_TOL: f64 = 1e-8;

fn variant_options(v: &str) -> EbayesOptions {
    EbayesOptions {
        trend: v.contains("trend"),
        robust: v.contains("robust"),
        legacy: Legacy::True,
        ..Default::default()
    }
}

const VARIANTS: [&str; 4] = ["default", "trend", "robust", "trend_robust"];

/// The oracle file of a table: `limma_{tag}_{v}_{kind}.tsv`, or for the count recipe (tag
/// `tmm` or `block`, v `source`) `voom_{tag}_source_{kind}.tsv`.
fn oracle_table(tag: &str, v: &str, kind: &str) -> String {
    if tag == "tmm" || (tag == "block" && v == "source") {
        format!("oracle/voom_{tag}_{v}_{kind}.tsv")
    } else {
        format!("oracle/limma_{tag}_{v}_{kind}.tsv")
    }
}

fn compare_toptable(d: &Data, tag: &str, v: &str, res: &LimmaResult) {
    let (h, rows) = read_tsv(d.name, &oracle_table(tag, v, "toptable"));
    assert_eq!(
        h,
        [
            "feature_id",
            "contrast",
            "logFC",
            "AveExpr",
            "t",
            "P.Value",
            "adj.P.Val",
            "B"
        ]
    );
    let mut idx: HashMap<(&str, &str), usize> = HashMap::new();
    for t in &res.tables {
        for (i, r) in t.rows.iter().enumerate() {
            idx.insert((r.feature_id.as_str(), t.contrast.as_str()), i);
        }
    }
    let mut e: Vec<(&str, MaxErr)> = ["logFC", "AveExpr", "t", "P.Value", "adj.P.Val", "B"]
        .into_iter()
        .map(|c| (c, MaxErr::default()))
        .collect();
    assert_eq!(
        rows.len(),
        res.tables.len() * res.tables[0].rows.len(),
        "row count"
    );
    for r in &rows {
        let i = *idx
            .get(&(r[0].as_str(), r[1].as_str()))
            .unwrap_or_else(|| panic!("no row for {} / {}", r[0], r[1]));
        let row = &res.table(&r[1]).unwrap().rows[i];
        let got = [
            row.log_fc,
            row.ave_expr,
            row.t,
            row.p_value,
            row.adj_p_value,
            row.b,
        ];
        for (k, g) in got.into_iter().enumerate() {
            let what = format!("{} {tag} {v} toptable {} {} {}", d.name, r[0], r[1], e[k].0);
            let abs = if k == 5 && v.contains("robust") {
                ROBUST_B_ABS
            } else {
                ABS
            };
            check(g, number(&r[k + 2]), REL, abs, &what, &mut e[k].1);
        }
    }
    report(&format!("{} {tag} {v} toptable", d.name), &e);
}

fn compare_f(d: &Data, tag: &str, v: &str, res: &LimmaResult) {
    let (h, rows) = read_tsv(d.name, &format!("oracle/limma_{tag}_{v}_F.tsv"));
    let f = res.f_table.as_ref().expect("F table for several contrasts");
    assert_eq!(&h[1..6], f.contrasts.as_slice());
    assert_eq!(rows.len(), f.rows.len());
    let mut e: Vec<(&str, MaxErr)> = ["logFC", "AveExpr", "F", "P.Value", "adj.P.Val"]
        .into_iter()
        .map(|c| (c, MaxErr::default()))
        .collect();
    for (r, row) in rows.iter().zip(&f.rows) {
        assert_eq!(r[0], row.feature_id, "F table order");
        let what = |c: &str| format!("{} {tag} {v} F {} {c}", d.name, r[0]);
        for k in 0..5 {
            check(
                row.log_fc[k],
                number(&r[1 + k]),
                REL,
                ABS,
                &what("logFC"),
                &mut e[0].1,
            );
        }
        check(
            row.ave_expr,
            number(&r[6]),
            REL,
            ABS,
            &what("AveExpr"),
            &mut e[1].1,
        );
        check(row.f, number(&r[7]), REL, ABS, &what("F"), &mut e[2].1);
        check(
            row.p_value,
            number(&r[8]),
            REL,
            ABS,
            &what("P.Value"),
            &mut e[3].1,
        );
        check(
            row.adj_p_value,
            number(&r[9]),
            REL,
            ABS,
            &what("adj.P.Val"),
            &mut e[4].1,
        );
    }
    report(&format!("{} {tag} {v} F", d.name), &e);
}

fn compare_fit(d: &Data, tag: &str, v: &str, res: &LimmaResult) {
    let (h, rows) = read_tsv(d.name, &oracle_table(tag, v, "fit"));
    assert_eq!(
        h,
        [
            "feature_id",
            "Amean",
            "sigma",
            "df.residual",
            "s2.prior",
            "df.prior",
            "s2.post",
            "df.total"
        ]
    );
    assert_eq!(rows.len(), res.fit.rows.len());
    let cols = [
        "Amean",
        "sigma",
        "df.residual",
        "s2.prior",
        "df.prior",
        "s2.post",
        "df.total",
    ];
    let mut e: Vec<(&str, MaxErr)> = cols.into_iter().map(|c| (c, MaxErr::default())).collect();
    for (r, row) in rows.iter().zip(&res.fit.rows) {
        assert_eq!(r[0], row.feature_id, "fit table order");
        let got = [
            row.amean,
            row.sigma,
            Some(row.df_residual),
            row.s2_prior,
            Some(row.df_prior),
            row.s2_post,
            Some(row.df_total),
        ];
        for (k, g) in got.into_iter().enumerate() {
            let what = format!("{} {tag} {v} fit {} {}", d.name, r[0], cols[k]);
            check(g, number(&r[k + 1]), REL, ABS, &what, &mut e[k].1);
        }
    }
    if v.contains("robust") {
        // The prior df shared by every non-outlier feature is uniroot's answer: ours must lie
        // within uniroot's tolerance of R's on the link scale.
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for r in &rows {
            *counts.entry(r[5].as_str()).or_default() += 1;
        }
        let (common, _) = counts.iter().max_by_key(|(_, n)| **n).unwrap();
        let w = number(common).unwrap();
        let link = |d: f64| d / (1.0 + d);
        for (r, row) in rows.iter().zip(&res.fit.rows) {
            if r[5] == *common {
                let diff = (link(row.df_prior) - link(w)).abs();
                assert!(
                    diff <= UNIROOT_TOL,
                    "{} {tag} {v}: df.prior {} vs R {w}: link difference {diff:e}",
                    d.name,
                    row.df_prior
                );
            }
        }
    }
    report(&format!("{} {tag} {v} fit", d.name), &e);
}

fn compare_coef(d: &Data, tag: &str, fit: &LmFit) {
    let (h, rows) = read_tsv(d.name, &format!("oracle/limma_{tag}_lmfit_coef.tsv"));
    let coef = fit.coefficients();
    assert_eq!(&h[1..], coef.coef_names.as_slice());
    assert_eq!(rows.len(), coef.rows.len());
    let mut e = MaxErr::default();
    for (r, row) in rows.iter().zip(&coef.rows) {
        assert_eq!(r[0], row.feature_id);
        for (k, g) in row.coefficients.iter().enumerate() {
            check(
                *g,
                number(&r[k + 1]),
                REL,
                ABS,
                &format!("{} {tag} lmFit coef {} {}", d.name, r[0], h[k + 1]),
                &mut e,
            );
        }
    }
    report(
        &format!("{} {tag} lmFit coefficients", d.name),
        &[("coef", e)],
    );
}

fn source_model(d: &Data) -> (LmFit, Contrasts) {
    let design = Design::from_formula(&d.sheet, "~ 0 + source", &DesignOptions::default()).unwrap();
    assert_eq!(
        design.coef_names(),
        SOURCES,
        "coefficient names and order must be the oracle's"
    );
    let specs: Vec<String> = SOURCES[1..]
        .iter()
        .map(|s| format!("{s}_vs_BM_MSC = {s} - BM_MSC"))
        .collect();
    let contrasts = Contrasts::parse(&design, &specs).unwrap();
    (lm_fit(&d.proteins, &design, None, None).unwrap(), contrasts)
}

fn potency_model(d: &Data) -> (LmFit, Contrasts) {
    let design =
        Design::from_formula(&d.sheet, "~ 0 + potency_class", &DesignOptions::default()).unwrap();
    assert_eq!(design.coef_names(), ["high", "low"]);
    let contrasts = Contrasts::parse(&design, &["high_vs_low = high - low"]).unwrap();
    (lm_fit(&d.proteins, &design, None, None).unwrap(), contrasts)
}

fn limma_against_oracle(name: &'static str) {
    let d = data(name);
    let (fit, contrasts) = source_model(d);
    compare_coef(d, "source", &fit);
    for v in VARIANTS {
        let res = fit.moderate(&contrasts, &variant_options(v)).unwrap();
        assert!(res.settings.legacy_applied);
        compare_toptable(d, "source", v, &res);
        compare_f(d, "source", v, &res);
        compare_fit(d, "source", v, &res);
    }
    let (fit, contrasts) = potency_model(d);
    compare_coef(d, "potency", &fit);
    for v in VARIANTS {
        let res = fit.moderate(&contrasts, &variant_options(v)).unwrap();
        assert!(res.f_table.is_none());
        compare_toptable(d, "potency", v, &res);
        compare_fit(d, "potency", v, &res);
    }
}

#[test]
fn limma_synthetic_s_matches_r() {
    evomics_testkit::require_shared!("oracles/synthetic-S");
    limma_against_oracle("synthetic-S");
}

#[test]
fn limma_synthetic_m_matches_r() {
    evomics_testkit::require_shared!("oracles/synthetic-M");
    limma_against_oracle("synthetic-M");
}

/// With the default `legacy = auto`, unequal missingness makes the residual df unequal, so the
/// current limma estimator is used, the choice is recorded, and the prior differs from the
/// legacy (limma 3.54) one.
#[test]
fn legacy_auto_uses_current_limma_and_says_so() {
    evomics_testkit::require_shared!("oracles/synthetic-S");
    let d = data("synthetic-S");
    let (fit, contrasts) = potency_model(d);
    let df = fit.df_residual();
    assert!(
        df.iter().any(|x| *x != df[0]),
        "the oracle data have unequal residual df"
    );
    let auto = fit.moderate(&contrasts, &EbayesOptions::default()).unwrap();
    assert_eq!(auto.settings.options.legacy, Legacy::Auto);
    assert!(!auto.settings.legacy_applied);
    let legacy = fit
        .moderate(&contrasts, &variant_options("default"))
        .unwrap();
    assert!(legacy.settings.legacy_applied);
    let (a, l) = (
        auto.fit.rows[0].s2_prior.unwrap(),
        legacy.fit.rows[0].s2_prior.unwrap(),
    );
    assert!(
        (a - l).abs() > 1e-6 * l,
        "auto prior {a} should differ from legacy prior {l}"
    );
}

// ------------------------------------------------------------------ voom

/// The miRNA counts and their TMM effective library sizes (lib.size × norm.factors from edgeR).
fn mirna(name: &'static str) -> (Assay, Vec<f64>) {
    let (h, rows) = read_tsv(name, "mirna_counts.tsv");
    let n = h.len() - 1;
    let cells = Array2::from_shape_fn((rows.len(), n), |(i, j)| number(&rows[i][j + 1]));
    let counts = Assay::from_options(
        "mirna",
        LayerKind::Mirna,
        ValueScale::Counts,
        Features::new(rows.iter().map(|r| r[0].clone()).collect()).unwrap(),
        h[1..].to_vec(),
        &cells,
    )
    .unwrap();
    let (th, tmm) = read_tsv(name, "oracle/edger_tmm_factors.tsv");
    assert_eq!(th[..3], ["sample_id", "lib.size", "norm.factors"]);
    let lib: HashMap<&str, f64> = tmm
        .iter()
        .map(|r| {
            (
                r[0].as_str(),
                number(&r[1]).unwrap() * number(&r[2]).unwrap(),
            )
        })
        .collect();
    let lib_size = counts.samples().iter().map(|s| lib[s.as_str()]).collect();
    (counts, lib_size)
}

fn voom_against_oracle(name: &'static str) {
    let d = data(name);
    let (counts, lib_size) = mirna(name);
    let n = counts.n_samples();
    let design = Design::from_formula(&d.sheet, "~ 0 + source", &DesignOptions::default()).unwrap();
    let out = voom(&counts, &design, Some(&lib_size), &VoomOptions::default()).unwrap();

    let (wh, wrows) = read_tsv(name, "oracle/voom_weights.tsv");
    assert_eq!(&wh[1..], out.expression.samples());
    assert_eq!(wrows.len(), out.weights.nrows());
    let mut e = MaxErr::default();
    for (i, r) in wrows.iter().enumerate() {
        assert_eq!(r[0], out.expression.features().ids()[i]);
        for j in 0..n {
            let what = format!("{name} voom weight {} {}", r[0], wh[j + 1]);
            check(
                Some(out.weights[[i, j]]),
                number(&r[j + 1]),
                REL,
                ABS,
                &what,
                &mut e,
            );
        }
    }
    report(&format!("{name} voom weights"), &[("weight", e)]);

    // the weights feed the same model
    let fit = lm_fit(&out.expression, &design, Some(&out.weights), None).unwrap();
    let specs: Vec<String> = SOURCES[1..]
        .iter()
        .map(|s| format!("{s} - BM_MSC"))
        .collect();
    let res = fit
        .moderate(
            &Contrasts::parse(&design, &specs).unwrap(),
            &EbayesOptions::default(),
        )
        .unwrap();
    assert!(res.settings.weighted);
    assert!(res.tables[0].rows.iter().all(|r| r.p_value.is_some()));
}

#[test]
fn voom_synthetic_s_matches_r() {
    evomics_testkit::require_shared!("oracles/synthetic-S");
    voom_against_oracle("synthetic-S");
}

#[test]
fn voom_synthetic_m_matches_r() {
    evomics_testkit::require_shared!("oracles/synthetic-M");
    voom_against_oracle("synthetic-M");
}

// ------------------------------------------------------------------ Welch

fn welch_against_oracle(name: &'static str) {
    let d = data(name);
    let labels = labels_from_sheet(&d.sheet, "potency_class", d.proteins.samples()).unwrap();
    let w = welch_t_test(&d.proteins, &labels, "high", "low", AdjustMethod::Bh).unwrap();
    let (h, rows) = read_tsv(name, "oracle/welch_high_vs_low.tsv");
    assert_eq!(
        h,
        [
            "feature_id",
            "mean_high",
            "mean_low",
            "t",
            "df",
            "p.value",
            "n_high",
            "n_low",
            "p.adj.BH"
        ]
    );
    assert_eq!(rows.len(), w.rows.len());
    let cols = ["mean_high", "mean_low", "t", "df", "p.value", "p.adj.BH"];
    let mut e: Vec<(&str, MaxErr)> = cols.into_iter().map(|c| (c, MaxErr::default())).collect();
    for (r, row) in rows.iter().zip(&w.rows) {
        assert_eq!(r[0], row.feature_id);
        assert_eq!(
            (row.n_a as f64, row.n_b as f64),
            (number(&r[6]).unwrap(), number(&r[7]).unwrap()),
            "{}",
            r[0]
        );
        let got = [
            row.mean_a,
            row.mean_b,
            row.t,
            row.df,
            row.p_value,
            row.adj_p_value,
        ];
        let want = [1, 2, 3, 4, 5, 8];
        for k in 0..6 {
            let what = format!("{name} welch {} {}", r[0], cols[k]);
            check(got[k], number(&r[want[k]]), 1e-9, 1e-12, &what, &mut e[k].1);
        }
    }
    report(&format!("{name} Welch high vs low"), &e);
}

#[test]
fn welch_synthetic_s_matches_r() {
    evomics_testkit::require_shared!("oracles/synthetic-S");
    welch_against_oracle("synthetic-S");
}

#[test]
fn welch_synthetic_m_matches_r() {
    evomics_testkit::require_shared!("oracles/synthetic-M");
    welch_against_oracle("synthetic-M");
}

// ------------------------------------------------------------------ donor blocking

/// A cohort with donors nested in sources, several preparations per donor, strong donor random
/// effects and no true source effect on 90% of features: without blocking, donor effects look
/// like source effects; with duplicateCorrelation + block the false source calls drop.
#[test]
fn donor_blocking_lowers_false_source_calls() {
    use rand::Rng;
    use rand_distr::{Distribution, Normal};

    let mut rng = evomics_core::rng::seeded(20240601);
    let sources = ["BM-MSC", "ADSC", "UC-MSC"];
    let (donors_per_source, preps, n_feat, n_true) = (4, 4, 1000, 100);
    let mut ids = Vec::new();
    let (mut src_col, mut donor_col) = (Vec::new(), Vec::new());
    for s in sources {
        for dn in 0..donors_per_source {
            for p in 0..preps {
                ids.push(format!("{s}_d{dn}_p{p}"));
                src_col.push(Some(s.to_string()));
                donor_col.push(Some(format!("{s}_d{dn}")));
            }
        }
    }
    let n = ids.len();
    let sheet = SampleSheet::from_text_columns(
        ids.clone(),
        vec![
            ("source".into(), src_col.clone()),
            ("donor_id".into(), donor_col.clone()),
        ],
    )
    .unwrap();
    let donor_sd = Normal::new(0.0, 1.0).unwrap();
    let noise = Normal::new(0.0, 0.5).unwrap();
    let mut cells = Array2::from_elem((n_feat, n), None);
    for i in 0..n_feat {
        let base = rng.gen_range(20.0..30.0);
        let effect: Vec<f64> = (0..3)
            .map(|k| if i < n_true && k == 1 { 1.5 } else { 0.0 })
            .collect();
        let donor_eff: Vec<f64> = (0..3 * donors_per_source)
            .map(|_| donor_sd.sample(&mut rng))
            .collect();
        for j in 0..n {
            let (k, dn) = (j / (donors_per_source * preps), j / preps);
            // about 5% of values missing at random
            if rng.gen::<f64>() >= 0.05 {
                cells[[i, j]] = Some(base + effect[k] + donor_eff[dn] + noise.sample(&mut rng));
            }
        }
    }
    let assay = Assay::from_options(
        "proteome",
        LayerKind::Proteome,
        ValueScale::Log2,
        Features::new((0..n_feat).map(|i| format!("P{i:04}")).collect()).unwrap(),
        ids,
        &cells,
    )
    .unwrap();
    let design = Design::from_formula(&sheet, "~ 0 + source", &DesignOptions::default()).unwrap();
    let contrasts = Contrasts::parse(&design, &["ADSC - BM_MSC", "UC_MSC - BM_MSC"]).unwrap();
    let block = Block::from_sheet(&sheet, "donor_id", &design).unwrap();

    let false_rate = |res: &LimmaResult| {
        let mut fp = 0usize;
        let mut tests = 0usize;
        for t in &res.tables {
            for r in &t.rows[n_true..] {
                tests += 1;
                fp += usize::from(r.adj_p_value.is_some_and(|q| q < 0.05));
            }
        }
        fp as f64 / tests as f64
    };
    let power = |res: &LimmaResult| {
        let t = &res.tables[0];
        t.rows[..n_true]
            .iter()
            .filter(|r| r.adj_p_value.is_some_and(|q| q < 0.05))
            .count() as f64
            / n_true as f64
    };
    let opts = EbayesOptions::default();
    let naive = lm_fit(&assay, &design, None, None)
        .unwrap()
        .moderate(&contrasts, &opts)
        .unwrap();
    let blocked_fit = lm_fit(&assay, &design, None, Some(&block)).unwrap();
    let (_, rho) = blocked_fit.block_correlation().unwrap();
    let blocked = blocked_fit.moderate(&contrasts, &opts).unwrap();
    let (fp_naive, fp_blocked) = (false_rate(&naive), false_rate(&blocked));
    println!(
        "donor blocking: consensus correlation {rho:.3}; false source calls at adj.P < 0.05: {:.1}% without blocking, {:.1}% with; power {:.0}% / {:.0}%",
        100.0 * fp_naive,
        100.0 * fp_blocked,
        100.0 * power(&naive),
        100.0 * power(&blocked)
    );
    // donor variance 1 and residual variance 0.25 give an intra-donor correlation of 0.8
    assert!(rho > 0.6 && rho < 0.95, "consensus correlation {rho}");
    assert_eq!(blocked.settings.block.as_deref(), Some("donor_id"));
    assert!(
        fp_naive > 0.10,
        "without blocking the donor effects should produce many false calls ({fp_naive})"
    );
    assert!(
        fp_blocked < 0.05,
        "with blocking the false call rate should be near nominal ({fp_blocked})"
    );
    assert!(fp_blocked * 4.0 < fp_naive);
}

// ------------------------------------------------------------------ reproducibility

/// The same inputs give the same bits whatever the number of worker threads (DESIGN: byte-
/// identical outputs), for every eBayes variant, voom, and the blocked fit.
#[test]
fn results_do_not_depend_on_thread_count() {
    evomics_testkit::require_shared!("oracles/synthetic-M");
    let d = data("synthetic-M");
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let (fit, contrasts) = source_model(d);
            let mut out: Vec<LimmaResult> = VARIANTS
                .iter()
                .map(|v| fit.moderate(&contrasts, &variant_options(v)).unwrap())
                .collect();
            out.push(
                fit.moderate(
                    &contrasts,
                    &EbayesOptions {
                        trend: true,
                        ..Default::default()
                    },
                )
                .unwrap(),
            );
            let design = fit.design().clone();
            let block = Block::from_sheet(&d.sheet, "donor_id", &design).unwrap();
            let blocked = lm_fit(&d.proteins, &design, None, Some(&block)).unwrap();
            out.push(
                blocked
                    .moderate(&contrasts, &EbayesOptions::default())
                    .unwrap(),
            );
            let (counts, lib) = mirna("synthetic-S");
            let s = data("synthetic-S");
            let sd =
                Design::from_formula(&s.sheet, "~ 0 + source", &DesignOptions::default()).unwrap();
            let v = voom(&counts, &sd, Some(&lib), &VoomOptions::default()).unwrap();
            let sc = Contrasts::parse(&sd, &["ADSC - BM_MSC", "iMSC - BM_MSC"]).unwrap();
            let vfit = lm_fit(&v.expression, &sd, Some(&v.weights), None).unwrap();
            let trend = EbayesOptions {
                trend: true,
                ..Default::default()
            };
            out.push(vfit.moderate(&sc, &trend).unwrap());
            (out, v.weights)
        })
    };
    let ((one, w1), (three, w3)) = (run(1), run(3));
    assert!(w1 == w3, "voom weights differ between 1 and 3 threads");
    for (a, b) in one.iter().zip(&three) {
        assert!(
            a == b,
            "results differ between 1 and 3 threads ({:?})",
            a.settings.options
        );
    }
}

// ------------------------------------------------------------------ donor blocking (oracle)

/// A value of `oracle/block_voom_summary.tsv` (consensus correlations, counts).
fn block_summary(name: &'static str, what: &str) -> f64 {
    let (_, rows) = read_tsv(name, "oracle/block_voom_summary.tsv");
    rows.iter()
        .find(|r| r[0] == what)
        .and_then(|r| number(&r[1]))
        .unwrap_or_else(|| panic!("{name}: no '{what}' in block_voom_summary.tsv"))
}

fn source_contrasts(design: &Design) -> Contrasts {
    let specs: Vec<String> = SOURCES[1..]
        .iter()
        .map(|s| format!("{s}_vs_BM_MSC = {s} - BM_MSC"))
        .collect();
    Contrasts::parse(design, &specs).unwrap()
}

/// `duplicateCorrelation(X, ~0+source, block = donor_id)` then `lmFit(block, correlation)`,
/// contrasts, `eBayes()`: per-feature atanh correlations, the consensus, the toptable and the
/// fit table within 1e-6 relative.
fn block_against_oracle(name: &'static str) {
    let d = data(name);
    let design = Design::from_formula(&d.sheet, "~ 0 + source", &DesignOptions::default()).unwrap();
    let block = Block::from_sheet(&d.sheet, "donor_id", &design).unwrap();
    let dc = duplicate_correlation_detail(&d.proteins, &design, &block, None).unwrap();
    let (h, rows) = read_tsv(name, "oracle/limma_source_block_atanh_correlations.tsv");
    assert_eq!(h, ["feature_id", "atanh_correlation"]);
    assert_eq!(rows.len(), dc.atanh_correlations.len());
    let mut e = MaxErr::default();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], d.proteins.features().ids()[i]);
        let what = format!("{name} atanh correlation {}", r[0]);
        check(
            dc.atanh_correlations[i],
            number(&r[1]),
            REL,
            ABS,
            &what,
            &mut e,
        );
    }
    let mut c = MaxErr::default();
    check(
        Some(dc.consensus),
        Some(block_summary(name, "proteome_block_consensus")),
        REL,
        ABS,
        &format!("{name} consensus correlation"),
        &mut c,
    );
    report(
        &format!("{name} duplicateCorrelation"),
        &[("atanh", e), ("consensus", c)],
    );
    let fixed = Block {
        correlation: Some(dc.consensus),
        ..block
    };
    let fit = lm_fit(&d.proteins, &design, None, Some(&fixed)).unwrap();
    let res = fit
        .moderate(&source_contrasts(&design), &variant_options("default"))
        .unwrap();
    assert_eq!(res.settings.block_correlation, Some(dc.consensus));
    compare_toptable(d, "source", "block", &res);
    compare_fit(d, "source", "block", &res);
}

#[test]
fn block_synthetic_s_matches_r() {
    evomics_testkit::require_shared!("oracles/synthetic-S");
    block_against_oracle("synthetic-S");
}

#[test]
fn block_synthetic_m_matches_r() {
    evomics_testkit::require_shared!("oracles/synthetic-M");
    block_against_oracle("synthetic-M");
}

/// The block-structured duplicateCorrelation gives the consensus of the dense computation
/// (edge-rs's port of statmod's mixedModel2Fit: an SVD of the (n − p) × B projected block
/// design per feature) on the M proteome (3,960 features × 300 samples, 35 donors, missing
/// values), and the blocked lmFit equals the dense GLS (a Cholesky factor of each feature's
/// n × n correlation matrix).
#[test]
fn block_structure_equals_dense_computation_on_m() {
    evomics_testkit::require_shared!("oracles/synthetic-M");
    let d = data("synthetic-M");
    let design = Design::from_formula(&d.sheet, "~ 0 + source", &DesignOptions::default()).unwrap();
    let block = Block::from_sheet(&d.sheet, "donor_id", &design).unwrap();
    let (g, n, p) = (d.proteins.n_features(), design.n_samples(), design.n_coef());
    let ours = duplicate_correlation_detail(&d.proteins, &design, &block, None).unwrap();
    let mut y = vec![f64::NAN; g * n];
    for i in 0..g {
        for j in 0..n {
            if let Some(v) = d.proteins.get(i, j) {
                y[i * n + j] = v;
            }
        }
    }
    let x: Vec<f64> = design.matrix().iter().copied().collect();
    let dense = edge_rs::limma::array_weights::duplicate_correlation(
        &y,
        g,
        n,
        &x,
        p,
        &block.codes(),
        None,
        0.15,
    )
    .unwrap();
    let rel = (ours.consensus - dense).abs() / dense.abs();
    println!(
        "M consensus correlation: block structure {:.12}, dense {dense:.12} (relative difference {rel:.1e})",
        ours.consensus
    );
    assert!(rel < 1e-9, "{} vs {dense}", ours.consensus);

    let fit = lm_fit(
        &d.proteins,
        &design,
        None,
        Some(&Block {
            correlation: Some(ours.consensus),
            ..block.clone()
        }),
    )
    .unwrap();
    let dense_fit = edge_rs::limma::lm_fit::lm_fit(
        &y,
        g,
        n,
        &x,
        p,
        None,
        Some(&block.codes()),
        Some(ours.consensus),
    )
    .unwrap();
    let coef = fit.coefficients();
    let mut worst: f64 = 0.0;
    for (i, row) in coef.rows.iter().enumerate() {
        for c in 0..p {
            if let Some(b) = row.coefficients[c] {
                let a = dense_fit.coefficients[i * p + c];
                worst = worst.max((a - b).abs() / (1.0 + b.abs()));
                let (s, t) = (
                    row.stdev_unscaled[c].unwrap(),
                    dense_fit.stdev_unscaled[i * p + c],
                );
                worst = worst.max((s - t).abs() / t);
            } else {
                assert!(dense_fit.coefficients[i * p + c].is_nan());
            }
        }
        let (s, t) = (fit.df_residual()[i], dense_fit.df_residual[i]);
        assert_eq!(s, t);
    }
    println!("M blocked lmFit: largest relative difference to the dense GLS {worst:.1e}");
    assert!(worst < 1e-9);
}

// ------------------------------------------------------------------ R references in test-data

/// Compare the columns of a committed R reference table (read with evomics-testkit) with ours,
/// row by row in the reference's order; `get(row, column)` gives our value for a reference row.
fn compare_reference(
    label: &str,
    reference: &evomics_testkit::Tsv,
    columns: &[&'static str],
    rel: f64,
    abs: f64,
    mut get: impl FnMut(&[String], &str) -> Option<f64>,
) {
    let mut errs: Vec<(&str, MaxErr)> = columns.iter().map(|c| (*c, MaxErr::default())).collect();
    for row in &reference.rows {
        for (k, c) in columns.iter().enumerate() {
            let want = evomics_testkit::number(&row[reference.col(c)]);
            let what = format!("{label} {} {c}", row[..2].join(" "));
            check(get(row, c), want, rel, abs, &what, &mut errs[k].1);
        }
    }
    report(label, &errs);
}

/// The real MSC secretome: log2 MaxLFQ intensities (FragPipe's 0 = not quantified stays
/// missing), the authors' 45 samples, proteins with at least 2 values in each cell the
/// interaction uses.
fn secretome(dir: &std::path::Path) -> (SampleSheet, Assay) {
    let s = evomics_testkit::Tsv::read(&dir.join("secretome_samples.tsv"));
    let keep: Vec<&Vec<String>> = s
        .rows
        .iter()
        .filter(|r| r[s.col("excluded_by_authors")] == "False")
        .collect();
    assert_eq!(keep.len(), 45);
    let ids: Vec<String> = keep.iter().map(|r| r[s.col("Sample")].clone()).collect();
    let col = |name: &str| -> Vec<Option<String>> {
        keep.iter().map(|r| Some(r[s.col(name)].clone())).collect()
    };
    let sheet = SampleSheet::from_text_columns(
        ids.clone(),
        vec![
            ("Cell_type".into(), col("Cell_type")),
            ("Differentiation".into(), col("Differentiation")),
            ("Donor".into(), col("Donor")),
        ],
    )
    .unwrap();
    let t = evomics_testkit::Tsv::read(&dir.join("secretome_fragpipe_combined_protein.tsv.gz"));
    let lfq: Vec<usize> = keep
        .iter()
        .map(|r| t.col(&r[s.col("lfq_column")]))
        .collect();
    let cell_of = |j: usize| {
        (
            keep[j][s.col("Cell_type")].as_str(),
            keep[j][s.col("Differentiation")].as_str(),
        )
    };
    let cells = [
        ("ADSCs", "control"),
        ("ADSCs", "dif"),
        ("DPSCs", "control"),
        ("DPSCs", "dif"),
    ];
    let mut fids = Vec::new();
    let mut rows: Vec<Vec<Option<f64>>> = Vec::new();
    for r in &t.rows {
        let id = &r[t.col("Protein")];
        if id.starts_with("contam_") {
            continue;
        }
        let v: Vec<Option<f64>> = lfq
            .iter()
            .map(|&c| {
                let x: f64 = r[c].parse().unwrap();
                (x > 0.0).then(|| x.log2())
            })
            .collect();
        let enough = cells.iter().all(|cell| {
            (0..v.len())
                .filter(|&j| cell_of(j) == *cell && v[j].is_some())
                .count()
                >= 2
        });
        if enough {
            fids.push(id.clone());
            rows.push(v);
        }
    }
    let m = Array2::from_shape_fn((rows.len(), ids.len()), |(i, j)| rows[i][j]);
    let assay = Assay::from_options(
        "secretome",
        LayerKind::Proteome,
        ValueScale::Log2,
        Features::new(fids).unwrap(),
        ids,
        &m,
    )
    .unwrap();
    (sheet, assay)
}

/// `~ 0 + Cell_type:Differentiation` on the real secretome with an interaction contrast (a
/// contrast of contrasts) equals limma 3.54 on the same data (test-data/r-reference/interaction).
#[test]
fn interaction_design_on_the_secretome_matches_r() {
    let dir =
        evomics_testkit::require_shared!("data/real/msc-sources-osteogenic-secretome-proteome");
    let (sheet, assay) = secretome(&dir);
    let refdir = evomics_testkit::test_data("r-reference/interaction");
    let coefs = evomics_testkit::Tsv::read(&refdir.join("secretome_interaction_coefficients.tsv"));
    let design = Design::from_formula(
        &sheet,
        "~ 0 + Cell_type:Differentiation",
        &DesignOptions::default(),
    )
    .unwrap();
    assert_eq!(design.coef_names(), coefs.column("coefficient").as_slice());
    let contrasts = Contrasts::parse(
        &design,
        &[
            "interaction = (DPSCs.dif - DPSCs.control) - (ADSCs.dif - ADSCs.control)",
            "DPSC_dif = DPSCs.dif - DPSCs.control",
        ],
    )
    .unwrap();
    // the same interaction as a contrast of named contrasts
    let nested = Contrasts::parse(
        &design,
        &[
            "ADSC_dif = ADSCs.dif - ADSCs.control",
            "DPSC_dif = DPSCs.dif - DPSCs.control",
            "interaction = DPSC_dif - ADSC_dif",
        ],
    )
    .unwrap();
    assert_eq!(
        nested.contrasts()[2].weights,
        contrasts.contrasts()[0].weights
    );

    let fit = lm_fit(&assay, &design, None, None).unwrap();
    let res = fit
        .moderate(&contrasts, &variant_options("default"))
        .unwrap();
    let top = evomics_testkit::Tsv::read(&refdir.join("secretome_interaction_toptable.tsv"));
    let fit_ref = evomics_testkit::Tsv::read(&refdir.join("secretome_interaction_fit.tsv"));
    assert_eq!(
        fit_ref.column("feature_id"),
        assay
            .features()
            .ids()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        "the protein filter must select R's proteins"
    );
    let pos: HashMap<&str, usize> = assay
        .features()
        .ids()
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    assert_eq!(top.rows.len(), 2 * assay.n_features());
    compare_reference(
        "secretome interaction toptable",
        &top,
        &["logFC", "AveExpr", "t", "P.Value", "adj.P.Val", "B"],
        REL,
        ABS,
        |row, c| {
            let r = &res.table(&row[1]).unwrap().rows[pos[row[0].as_str()]];
            match c {
                "logFC" => r.log_fc,
                "AveExpr" => r.ave_expr,
                "t" => r.t,
                "P.Value" => r.p_value,
                "adj.P.Val" => r.adj_p_value,
                _ => r.b,
            }
        },
    );
    compare_reference(
        "secretome interaction fit",
        &fit_ref,
        &[
            "n_obs",
            "Amean",
            "sigma",
            "df.residual",
            "s2.prior",
            "df.prior",
            "s2.post",
            "df.total",
        ],
        REL,
        ABS,
        |row, c| {
            let r = &res.fit.rows[pos[row[0].as_str()]];
            match c {
                "n_obs" => Some(r.n_obs as f64),
                "Amean" => r.amean,
                "sigma" => r.sigma,
                "df.residual" => Some(r.df_residual),
                "s2.prior" => r.s2_prior,
                "df.prior" => Some(r.df_prior),
                "s2.post" => r.s2_post,
                _ => Some(r.df_total),
            }
        },
    );
}

// ------------------------------------------------------------------ the count recipe

/// The miRNA counts restricted to the miRNAs edgeR's `filterByExpr` keeps (the oracle's list).
fn filtered_mirna(name: &'static str) -> Assay {
    let (counts, _) = mirna(name);
    let (h, rows) = read_tsv(name, "oracle/edger_filterbyexpr_source.tsv");
    assert_eq!(h, ["feature_id", "total_count", "keep"]);
    let keep: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r[2] == "1")
        .map(|(i, r)| {
            assert_eq!(r[0], counts.features().ids()[i]);
            i
        })
        .collect();
    counts.select_features(&keep)
}

/// A features × samples matrix file of the oracle (first column the feature id) against ours.
fn compare_matrix(
    name: &'static str,
    file: &str,
    ours: &Array2<f64>,
    ids: &[String],
    samples: &[String],
) {
    let (h, rows) = read_tsv(name, file);
    assert_eq!(&h[1..], samples, "{file}: sample order");
    assert_eq!(rows.len(), ours.nrows());
    let mut e = MaxErr::default();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], ids[i], "{file}: feature order");
        for j in 0..samples.len() {
            let what = format!("{name} {file} {} {}", r[0], h[j + 1]);
            check(
                Some(ours[[i, j]]),
                number(&r[j + 1]),
                REL,
                ABS,
                &what,
                &mut e,
            );
        }
    }
    report(&format!("{name} {file}"), &[("value", e)]);
}

/// Library sizes over the filtered miRNAs and TMM factors (`voom_tmm_libraries.tsv`).
fn compare_libraries(name: &'static str, lib: &evomics_norm::LibrarySizes) {
    let (h, rows) = read_tsv(name, "oracle/voom_tmm_libraries.tsv");
    assert_eq!(h, ["sample_id", "lib.size", "norm.factors"]);
    let mut e: Vec<(&str, MaxErr)> = vec![
        ("lib.size", MaxErr::default()),
        ("norm.factors", MaxErr::default()),
    ];
    for (j, r) in rows.iter().enumerate() {
        assert_eq!(r[0], lib.samples[j]);
        check(
            Some(lib.lib_size[j]),
            number(&r[1]),
            REL,
            ABS,
            &format!("{name} lib.size {}", r[0]),
            &mut e[0].1,
        );
        check(
            Some(lib.norm_factors[j]),
            number(&r[2]),
            REL,
            ABS,
            &format!("{name} norm.factors {}", r[0]),
            &mut e[1].1,
        );
    }
    report(&format!("{name} voom libraries"), &e);
}

/// filterByExpr → TMM (`keep.lib.sizes = FALSE`) → voom → lmFit → the 5 contrasts → eBayes():
/// libraries, weights, toptable and fit within 1e-6 relative.
fn voom_tmm_against_oracle(name: &'static str) {
    let d = data(name);
    let counts = filtered_mirna(name);
    let design = Design::from_formula(&d.sheet, "~ 0 + source", &DesignOptions::default()).unwrap();
    let vf = voom_lm_fit(&counts, &design, None, &VoomFitOptions::default()).unwrap();
    compare_libraries(name, &vf.voom.libraries);
    compare_matrix(
        name,
        "oracle/voom_tmm_weights.tsv",
        &vf.voom.weights,
        counts.features().ids(),
        vf.voom.expression.samples(),
    );
    let res = vf
        .fit
        .moderate(&source_contrasts(&design), &variant_options("default"))
        .unwrap();
    assert!(res.settings.weighted);
    compare_toptable(d, "tmm", "source", &res);
    compare_fit(d, "tmm", "source", &res);
}

/// limma's two-pass voom with donor blocking: both consensus correlations, the final weights,
/// toptable and fit within 1e-6 relative.
fn voom_block_against_oracle(name: &'static str) {
    let d = data(name);
    let counts = filtered_mirna(name);
    let design = Design::from_formula(&d.sheet, "~ 0 + source", &DesignOptions::default()).unwrap();
    let block = Block::from_sheet(&d.sheet, "donor_id", &design).unwrap();
    let vf = voom_lm_fit(&counts, &design, Some(&block), &VoomFitOptions::default()).unwrap();
    let c = vf.correlations.as_ref().expect("two passes");
    let mut e: Vec<(&str, MaxErr)> =
        vec![("pass 1", MaxErr::default()), ("pass 2", MaxErr::default())];
    check(
        Some(c.first.consensus),
        Some(block_summary(name, "voom_pass1_consensus")),
        REL,
        ABS,
        &format!("{name} voom pass 1 consensus"),
        &mut e[0].1,
    );
    check(
        Some(c.second.consensus),
        Some(block_summary(name, "voom_pass2_consensus")),
        REL,
        ABS,
        &format!("{name} voom pass 2 consensus"),
        &mut e[1].1,
    );
    report(&format!("{name} voom block consensus correlations"), &e);
    assert_eq!(vf.voom.block_correlation, Some(c.first.consensus));
    assert_eq!(
        vf.fit.block_correlation().map(|(_, r)| r),
        Some(c.second.consensus)
    );
    compare_matrix(
        name,
        "oracle/voom_block_weights.tsv",
        &vf.voom.weights,
        counts.features().ids(),
        vf.voom.expression.samples(),
    );
    let res = vf
        .fit
        .moderate(&source_contrasts(&design), &variant_options("default"))
        .unwrap();
    compare_toptable(d, "block", "source", &res);
    compare_fit(d, "block", "source", &res);
}

#[test]
fn voom_tmm_synthetic_s_matches_r() {
    evomics_testkit::require_shared!("oracles/synthetic-S");
    voom_tmm_against_oracle("synthetic-S");
}

#[test]
fn voom_tmm_synthetic_m_matches_r() {
    evomics_testkit::require_shared!("oracles/synthetic-M");
    voom_tmm_against_oracle("synthetic-M");
}

#[test]
fn voom_block_synthetic_s_matches_r() {
    evomics_testkit::require_shared!("oracles/synthetic-S");
    voom_block_against_oracle("synthetic-S");
}

#[test]
fn voom_block_synthetic_m_matches_r() {
    evomics_testkit::require_shared!("oracles/synthetic-M");
    voom_block_against_oracle("synthetic-M");
}

/// limma 3.54's `treat(fit, lfc = 1)` (and with `trend = TRUE`) + `topTreat` on the synthetic-S
/// proteome (`~ 0 + source`, the 5 source contrasts), from test-data/r-reference/treat. R's t of
/// a protein without a logFC is 0 (limma fills t with zeros); ours is NA like its logFC.
#[test]
fn treat_matches_limma() {
    evomics_testkit::require_shared!("oracles/synthetic-S");
    let d = data("synthetic-S");
    let design = Design::from_formula(&d.sheet, "~ 0 + source", &DesignOptions::default()).unwrap();
    let fit = lm_fit(&d.proteins, &design, None, None).unwrap();
    let refdir = evomics_testkit::test_data("r-reference/treat");
    let pos: HashMap<&str, usize> = d
        .proteins
        .features()
        .ids()
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    for v in ["default", "trend"] {
        let res = fit
            .treat(&source_contrasts(&design), 1.0, &variant_options(v))
            .unwrap();
        assert_eq!(res.settings.treat_lfc, Some(1.0));
        assert!(res.f_table.is_none());
        let top =
            evomics_testkit::Tsv::read(&refdir.join(format!("treat_lfc1_{v}_toptreat.tsv.gz")));
        assert_eq!(top.rows.len(), 5 * d.proteins.n_features());
        compare_reference(
            &format!("synthetic-S treat lfc 1 {v} toptreat"),
            &top,
            &["logFC", "AveExpr", "t", "P.Value", "adj.P.Val"],
            REL,
            ABS,
            |row, c| {
                let r = &res.table(&row[1]).unwrap().rows[pos[row[0].as_str()]];
                assert!(r.b.is_none());
                match c {
                    "logFC" => r.log_fc,
                    "AveExpr" => r.ave_expr,
                    // R: t = 0 where logFC is NA
                    "t" => r.t.or(r.log_fc.is_none().then_some(0.0)),
                    "P.Value" => r.p_value,
                    _ => r.adj_p_value,
                }
            },
        );
        let fit_ref = evomics_testkit::Tsv::read(&refdir.join(format!("treat_lfc1_{v}_fit.tsv")));
        compare_reference(
            &format!("synthetic-S treat lfc 1 {v} fit"),
            &fit_ref,
            &["s2.prior", "df.prior", "s2.post", "df.total"],
            REL,
            ABS,
            |row, c| {
                let r = &res.fit.rows[pos[row[0].as_str()]];
                match c {
                    "s2.prior" => r.s2_prior,
                    "df.prior" => Some(r.df_prior),
                    "s2.post" => r.s2_post,
                    _ => Some(r.df_total),
                }
            },
        );
    }
}

// ------------------------------------------------------------------ degenerate inputs

/// Zero-variance layers, features constant up to rounding and constant-within-group features
/// go through every statistic without a panic; a feature constant up to rounding (a one-feature
/// layer after median normalization: logFC −2e-14) is never tested, and says why.
#[test]
fn degenerate_inputs_never_panic_and_rounding_is_not_significant() {
    use evomics_stats::{
        camera_pr, correlation_test, duplicate_correlation, one_vs_rest, one_way_anova,
        panel_scores, variance_partition, CorrelationMethod, FeatureSet, OneVsRestOptions,
        VarPartOptions,
    };
    let n = 12;
    let ids: Vec<String> = (0..n).map(|j| format!("s{j}")).collect();
    let text = |f: &dyn Fn(usize) -> String| (0..n).map(|j| Some(f(j))).collect::<Vec<_>>();
    let sheet = SampleSheet::from_text_columns(
        ids.clone(),
        vec![
            (
                "group".into(),
                text(&|j| if j < 6 { "a".into() } else { "b".into() }),
            ),
            ("donor".into(), text(&|j| format!("d{}", j / 2))),
        ],
    )
    .unwrap();
    let mk = |rows: Vec<Vec<f64>>| {
        let cells = Array2::from_shape_fn((rows.len(), n), |(i, j)| Some(rows[i][j]));
        Assay::from_options(
            "l",
            LayerKind::Proteome,
            ValueScale::Log2,
            Features::new((0..rows.len()).map(|i| format!("f{i}")).collect()).unwrap(),
            ids.clone(),
            &cells,
        )
        .unwrap()
    };
    // median normalization of a one-feature layer: x − median(x) + level, up to rounding
    let rounding: Vec<f64> = (0..n)
        .map(|j| 20.0 + if j % 3 == 0 { 3.5e-15 } else { 0.0 } - if j >= 6 { 1.4e-14 } else { 0.0 })
        .collect();
    let varying: Vec<f64> = (0..n).map(|j| (j as f64 * 0.37).sin() + 10.0).collect();
    let cases = [
        ("zero variance", mk(vec![vec![7.0; n]; 5]), 5),
        (
            "one feature after median normalization",
            mk(vec![rounding.clone()]),
            1,
        ),
        (
            "constant within groups",
            mk(vec![
                (0..n).map(|j| if j < 6 { 5.0 } else { 6.0 }).collect(),
                varying.clone(),
            ]),
            0,
        ),
        ("mixed", mk(vec![vec![7.0; n], rounding, varying]), 2),
    ];
    let design = Design::from_formula(&sheet, "~ 0 + group", &DesignOptions::default()).unwrap();
    let c = Contrasts::parse(&design, &["b - a"]).unwrap();
    let block = Block::from_sheet(&sheet, "donor", &design).unwrap();
    let labels = labels_from_sheet(&sheet, "group", &ids).unwrap();
    let numeric: Vec<Option<f64>> = (0..n).map(|j| Some(j as f64)).collect();
    for (name, a, n_constant) in &cases {
        let fit = lm_fit(a, &design, None, None).unwrap();
        assert_eq!(fit.excluded().len(), *n_constant, "{name}");
        for (trend, robust) in [(false, false), (true, false), (false, true)] {
            let o = EbayesOptions {
                trend,
                robust,
                ..Default::default()
            };
            match fit.moderate(&c, &o) {
                Ok(res) => {
                    assert_eq!(res.excluded.len(), *n_constant);
                    for e in &res.excluded {
                        let i = a.features().position(&e.feature_id).unwrap();
                        let row = &res.tables[0].rows[i];
                        assert_eq!((row.log_fc, row.p_value), (None, None), "{name}");
                        assert!(e.reason.starts_with("constant"), "{}", e.reason);
                    }
                }
                Err(e) => {
                    // only when nothing (or, for robust, one feature) is left to test
                    let e = e.to_string();
                    let left = a.n_features() - n_constant;
                    assert!(left == 0 || (robust && left < 2), "{name}: {e}");
                    assert!(e.contains("constant"), "{e}");
                }
            }
            let _ = fit.treat(&c, 1.0, &o);
        }
        let _ = duplicate_correlation(a, &design, &block, None);
        let w = welch_t_test(a, &labels, "a", "b", AdjustMethod::Bh).unwrap();
        let _ = one_way_anova(a, &labels, AdjustMethod::Bh).unwrap();
        for m in [CorrelationMethod::Pearson, CorrelationMethod::Spearman] {
            let t = correlation_test(a, &numeric, m, AdjustMethod::Bh).unwrap();
            assert_eq!(t.excluded.len(), *n_constant, "{name} {m:?}");
            for e in &t.excluded {
                let i = a.features().position(&e.feature_id).unwrap();
                assert_eq!(t.rows[i].p_value, None);
            }
            let constant_label = vec![Some(1.0); n];
            let _ = correlation_test(a, &constant_label, m, AdjustMethod::Bh).unwrap();
        }
        for e in fit.excluded() {
            let i = a.features().position(&e.feature_id).unwrap();
            assert_eq!(
                w.rows[i].p_value, None,
                "{name}: Welch on a constant feature"
            );
        }
        let _ = one_vs_rest(a, &sheet, "group", &OneVsRestOptions::default());
        let vp = variance_partition(
            a,
            &sheet,
            &["group".to_string(), "donor".to_string()],
            &VarPartOptions::default(),
        )
        .unwrap();
        assert_eq!(
            vp.rows
                .iter()
                .filter(|r| r.status.starts_with("constant"))
                .count(),
            *n_constant,
            "{name}"
        );
        let members: Vec<(usize, f64)> = (0..a.n_features()).map(|i| (i, 1.0)).collect();
        let set = FeatureSet::new("all", &members).unwrap();
        let _ = panel_scores(a, &[set]).unwrap();
        let stat = vec![0.0; 10];
        assert!(camera_pr(&stat, &[vec![0, 1]], false, 0.01).is_err());
    }
}

/// The present/absent test's Fisher exact p-values equal R's `fisher.test` (two-sided) on
/// every table of test-data/r-reference/fisher (R code beside it).
#[test]
fn present_absent_fisher_matches_r() {
    use evomics_stats::detection::fisher_exact_two_sided;
    let t =
        evomics_testkit::Tsv::read(&evomics_testkit::test_data("r-reference/fisher/fisher.tsv"));
    let mut worst = 0.0f64;
    for row in &t.rows {
        let n = |c: &str| row[t.col(c)].parse::<usize>().unwrap();
        let (du, nu, dd, nd) = (n("detected_up"), n("n_up"), n("detected_down"), n("n_down"));
        let want: f64 = row[t.col("p_value")].parse().unwrap();
        let got = fisher_exact_two_sided(du, dd, nu - du, nd - dd);
        worst = worst.max((got - want).abs() / want);
    }
    assert!(t.rows.len() > 200);
    assert!(worst < 1e-10, "largest relative difference {worst:e}");
}
