//! The HTML report of whole runs as a browser shows it (headless Chromium): the real MSC
//! secretome and a simulated cohort of 300 preparations (the demo's report is checked with the
//! demo's recorded outputs). Each test asserts the sections in the DOM Chromium built, a
//! screenshot, and no script or Content-Security-Policy error; the 300-sample report must stay
//! within 4 MB. Set `EVOMICS_REPORT_KEEP=DIR` to keep the pages and screenshots.

use std::path::Path;

use evomics_testkit::browser::render_page;

use crate::{ok, p};

/// The numbered sections of a report of a run with every stage.
pub const SECTIONS: [&str; 10] = [
    "Run summary",
    "Sample quality control",
    "Principal component analysis",
    "Sample clustering",
    "Differential abundance",
    "Group markers",
    "Panel scores and enrichment",
    "Variance partition",
    "Predictive models",
    "Methods",
];

/// Renders `html` in Chromium (a screenshot and the DOM) and checks that each of `sections`
/// is there, numbered in order, and that every figure of the page is in the DOM; returns the
/// DOM, or `None` without Chromium outside CI.
pub fn check_in_browser(html: &Path, sections: &[&str]) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let page = render_page(dir.path(), html)?;
    for (i, title) in sections.iter().enumerate() {
        assert!(
            page.dom.contains(&format!("<h2>{}. {title}</h2>", i + 1)),
            "{}: the DOM lacks section {}. {title}",
            html.display(),
            i + 1
        );
    }
    let text = std::fs::read_to_string(html).unwrap();
    assert_eq!(
        page.dom.matches("<svg ").count(),
        text.matches("<svg ").count(),
        "every figure reaches the DOM"
    );
    eprintln!(
        "{}: {} bytes, screenshot in {:.2} s",
        html.display(),
        text.len(),
        page.screenshot_time.as_secs_f64()
    );
    Some(page.dom)
}

/// The real MSC secretome (FragPipe MaxLFQ, 50 preparations of six cell types, control and
/// osteogenic) through every stage: its report has every section, coloured by the sheet's own
/// `Cell_type`, with a z-score heatmap per contrast.
#[test]
fn secretome_report_shows_every_section_in_a_browser() {
    let data =
        evomics_testkit::require_shared!("data/real/msc-sources-osteogenic-secretome-proteome");
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("secretome.toml");
    let stages = r#"
[diff.cell_type]
layer = "proteome"
design = "~ 0 + Cell_type"
contrasts = ["OBs_vs_ADSCs = OBs - ADSCs", "DPSCs_vs_ADSCs = DPSCs - ADSCs"]

[diff.osteogenic]
layer = "proteome"
design = "~ 0 + Differentiation"
contrasts = ["dif - control"]

[explore]
layer = "proteome"
by = ["Cell_type"]
factors = ["Cell_type", "Differentiation"]

[cluster]
layer = "proteome"
by = ["Cell_type", "Differentiation"]
complete_features = true
"#;
    std::fs::write(&cfg, crate::secretome_config(&data, stages)).unwrap();
    let run = d.path().join("run");
    ok(&["run", p(&cfg), "-o", p(&run), "--quiet"]);
    let html = d.path().join("secretome.html");
    ok(&["report", p(&run), "-o", p(&html), "--quiet"]);
    let text = std::fs::read_to_string(&html).unwrap();
    // The sheet's own grouping column colours the plots, and each contrast has its heatmap.
    assert!(text.contains("aria-label=\"PCA of proteome coloured by Cell_type\""));
    assert!(text.contains(
        "aria-label=\"z-scores of the top features of cell_type: OBs - ADSCs in proteome"
    ));
    assert!(text.contains("samples, ordered by Cell_type"));
    assert!(text.contains("download=\"zscores_proteome_cell_type_OBs_vs_ADSCs.tsv\""));
    check_in_browser(&html, &SECTIONS);
}

/// A simulated cohort of 300 preparations (the medium preset: 5,000 proteins, 2,500 miRNAs)
/// through every stage: the report stays within 4 MB (matrices of hundreds of samples are
/// images, the non-significant bulk of volcano and MA plots a density layer, large downloads
/// gzip) and shows every section in the browser.
#[test]
fn report_of_300_preparations_is_compact_and_complete() {
    let d = tempfile::tempdir().unwrap();
    let tsv = d.path().join("tsv");
    ok(&[
        "simulate",
        "--preset",
        "medium",
        "--seed",
        "11",
        "-o",
        p(&d.path().join("cohort")),
        "--tsv",
        p(&tsv),
        "--quiet",
    ]);
    let cfg = d.path().join("m300.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"seed = 3
[ingest]
samples = "{0}/samples.tsv"
layer = ["proteome={0}/proteome.tsv,scale=linear", "mirna={0}/mirna.tsv,scale=counts"]

[qc]
group_by = "source"

[normalize.proteome]
filters = [{{ method = "valid_values", column = "source", min_fraction = 0.7 }}]
transform = {{ method = "log2" }}
normalization = {{ method = "median" }}
imputation = {{ method = "down_shift", width = 0.3, shift = 1.8, seed = 7 }}

[normalize.mirna]
filters = [{{ method = "min_count", min_count = 10, min_samples = 3 }}]
transform = {{ method = "log_cpm", prior_count = 2.0, norm_factors = {{ method = "tmm" }} }}

[diff.source]
layer = "proteome"
design = "~ 0 + source"
contrasts = [
  "ADSC_vs_BM_MSC = ADSC - BM_MSC",
  "UC_MSC_vs_BM_MSC = UC_MSC - BM_MSC",
  "iMSC_vs_BM_MSC = iMSC - BM_MSC",
  "DPSC_vs_BM_MSC = DPSC - BM_MSC",
  "SYN_MSC_vs_BM_MSC = SYN_MSC - BM_MSC",
]

[diff.potency]
layer = "proteome"
design = "~ potency_score + batch"
contrasts = ["potency_score"]

[diff.mirna_potency]
layer = "mirna"
design = "~ 0 + potency_class"
contrasts = ["high_vs_low = high - low"]

[explore]
layer = "proteome"
by = ["source"]
factors = ["source", "batch", "conditioning"]

[cluster]
layer = "proteome"
by = ["source", "batch", "conditioning"]
k = 6

[train]
target = "potency_class"
classes = ["low", "high"]
layers = ["proteome"]
permutations = 0
learning_curve = []
selection = {{ method = "univariate", k = 100 }}

[train.preprocess.proteome]
filters = [{{ method = "valid_values", column = "source", min_fraction = 0.7 }}]
transform = {{ method = "log2" }}
normalization = {{ method = "median" }}
imputation = {{ method = "down_shift", seed = 7 }}

[train.model]
model = "elastic_net"
alpha = 0.5
lambda = 0.05

[train.cv]
scheme = "group_k_fold"
k = 3
group = "donor_id"
"#,
            tsv.display()
        ),
    )
    .unwrap();
    let run = d.path().join("run");
    ok(&["run", p(&cfg), "-o", p(&run), "--quiet"]);
    let html = d.path().join("m300.html");
    ok(&["report", p(&run), "-o", p(&html), "--quiet"]);
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(
        text.len() <= 4_000_000,
        "the 300-sample report is {} bytes; at most 4 MB",
        text.len()
    );
    // The sample matrix is one image, the diff tables' downloads gzip, and PCA panels are not
    // coloured by a column of more levels than colours can tell apart (donor_id).
    assert!(text.contains("300 × 300 matrix, one pixel per pair of samples"));
    assert!(text.contains("download=\"diff_proteome_source_ADSC_vs_BM_MSC.tsv.gz\""));
    assert!(!text.contains("aria-label=\"PCA of proteome coloured by donor_id\""));
    assert!(text.contains("Not drawn coloured by donor_id ("));
    assert!(text.contains(
        "aria-label=\"z-scores of the top features of potency: potency_score in proteome"
    ));
    assert!(text.contains("samples, ordered by potency_score"));
    // A count layer's heatmap (voom's log2-CPM), ordered by the design's factor.
    assert!(text.contains(
        "aria-label=\"z-scores of the top features of mirna_potency: high - low in mirna"
    ));
    check_in_browser(&html, &SECTIONS);
}

/// A sheet whose only grouping column is `group` (no `source`, no `batch`), run with every
/// stage left to its defaults where it has them: every per-sample plot of the report, the PCA,
/// the sample matrix's strip and the contrast heatmap take their colours and legend from
/// `group`.
#[test]
fn a_sheet_grouped_by_group_colours_every_plot_by_group() {
    let d = tempfile::tempdir().unwrap();
    let src = evomics_testkit::workspace_root().join("test-data/sim-small");
    let text = std::fs::read_to_string(src.join("samples.tsv")).unwrap();
    let mut sheet = String::from("sample_id\tgroup\tpotency_score\n");
    for line in text.lines().skip(1) {
        let c: Vec<&str> = line.split('\t').collect();
        sheet.push_str(&format!("{}\t{}\t{}\n", c[0], c[1].replace('-', "_"), c[8]));
    }
    let sheet_path = d.path().join("samples.tsv");
    std::fs::write(&sheet_path, sheet).unwrap();
    let cfg = d.path().join("group.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"seed = 1
[ingest]
samples = "{}"
layer = ["proteome={},scale=linear"]

[qc]

[normalize.proteome]
filters = [{{ method = "valid_values", min_fraction = 0.7 }}]
transform = {{ method = "log2" }}
normalization = {{ method = "median" }}

[diff.group]
layer = "proteome"
design = "~ 0 + group"
contrasts = ["ADSC - BM_MSC"]

[explore]
layer = "proteome"
by = ["group"]

[cluster]
layer = "proteome"
k = 3
complete_features = true
"#,
            sheet_path.display(),
            src.join("proteome.tsv").display()
        ),
    )
    .unwrap();
    let run = d.path().join("run");
    ok(&["run", p(&cfg), "-o", p(&run), "--quiet"]);
    let html = d.path().join("group.html");
    ok(&["report", p(&run), "-o", p(&html), "--quiet"]);
    let text = std::fs::read_to_string(&html).unwrap();
    let svgs: Vec<&str> = text.split("<svg ").skip(1).collect();
    let per_sample = [
        "Missing values per sample",
        "total intensity per sample",
        "Value distribution per sample",
        "PCA of proteome",
        "Sample clustering heatmap",
        "z-scores of the top features",
    ];
    for label in per_sample {
        let found: Vec<&&str> = svgs
            .iter()
            .filter(|s| s.contains(&format!("aria-label=\"{label}")))
            .collect();
        assert!(!found.is_empty(), "no '{label}' plot");
        for svg in found {
            let colours: std::collections::BTreeSet<&str> = ["#E69F00", "#56B4E9", "#009E73"]
                .into_iter()
                .filter(|c| svg.contains(c))
                .collect();
            assert_eq!(
                colours.len(),
                3,
                "'{label}' is not coloured by the three groups"
            );
            assert!(
                svg.contains(">group</text>") || svg.contains("ordered by group"),
                "'{label}' has no legend or strip of group"
            );
        }
    }
}
