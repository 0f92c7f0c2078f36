//! # evomics-report
//!
//! The report stage: one self-contained HTML file summarising an evomics run, with plots drawn
//! as inline SVG and every table downloadable as TSV through an inline `data:` link.
//!
//! The caller (the CLI) gathers stage outputs into a [`ReportInput`] — every section optional,
//! so a partial run still renders — and [`render`] turns it into HTML:
//!
//! 1. run summary: title, tool version, date, input files with SHA-256, layers, sample counts;
//! 2. sample QC: MISEV purity verdicts, missingness and totals per sample, outliers;
//! 3. PCA: PC1 against PC2, one panel per annotation column;
//! 4. sample clustering: sample × sample matrix in dendrogram order with the clustering's tree,
//!    and per method the k-selection curves, agreement (ARI/NMI) with the annotation columns
//!    and cluster × column contingency heatmaps;
//! 5. differential abundance: volcano plot and top table per contrast;
//! 6. group markers: top markers of each group against the rest and their z-score heatmap;
//! 7. panel scores by group and panel enrichment;
//! 8. variance partition per factor;
//! 9. potency models: metrics, ROC, precision–recall, calibration, permutation null,
//!    importance;
//! 10. methods text, resolved settings and references.
//!
//! The page loads nothing: no scripts, fonts, stylesheets or images from anywhere, and a
//! Content-Security-Policy forbids any that injected text might try to add. All input text is
//! escaped. It prints to PDF with one section per page. The output is deterministic: the same
//! input gives byte-identical HTML (no clock, no hash-map order, fixed number formatting).
//! Colours are the Okabe–Ito palette for categories and viridis for continuous values, both
//! readable with colour-vision deficiencies; a level keeps its colour across the whole report.
//!
//! The crate does no file I/O; the caller writes the string. See `docs/report.md` for the
//! sections and the JSON schema of [`ReportInput`].
//!
//! The report of a run is built from the stages' typed results ([`build`] takes a
//! [`RunResults`]), never from their files:
//!
//! ```
//! use evomics_qc::{run_qc, QcConfig};
//! use evomics_report::{build, render, RunResults};
//! use evomics_sim::{simulate, SimParams};
//!
//! let mut params = SimParams::preset("small").unwrap();
//! params.seed = 3;
//! let exp = simulate(&params).unwrap().experiment;
//! let qc = run_qc(&exp, &QcConfig { group_by: Some("source".into()), ..QcConfig::default() }).unwrap();
//! let run = RunResults {
//!     title: "EV cargo by source",
//!     date: "2026-12-04",
//!     inputs: &[],
//!     experiment: &exp,
//!     normalized: None,
//!     qc: Some(&qc),
//!     diff: &[],
//!     explore: None,
//!     cluster: None,
//!     train: None,
//! };
//! let html = render(&build(&run).unwrap()).unwrap();
//! assert!(html.contains("Sample quality control"));
//! assert!(html.contains("stage train was not run"));
//! assert!(!html.contains("<script")); // self-contained, nothing runs
//! ```

pub mod build;
pub mod error;
mod fmt;
mod groups;
mod html;
pub mod model;
mod sections;
mod style;
mod svg;

use std::fmt::Write as _;

pub use build::{build, RunResults};
pub use error::{ReportError, Result};
pub use model::{
    CalibrationBin, ClusterAgreement, ClusterAssignment, ClusterMethod, ClusterSummary,
    ComparedModel, ContrastResult, DiffRow, EmbeddingPoint, EmbeddingView, EnrichmentRow, Header,
    Importance, InputFile, KScoreRow, LayerSummary, MarkerHeatmap, MarkerRow, MarkerSet,
    MatrixKind, Merge, MethodStep, Methods, MetricRow, ModelComparison, ModelPair, PanelScores,
    PanelSection, PanelView, PcaPoint, PcaResult, PermutationSummary, PotencyModel, PrPoint,
    Prediction, Purity, QcLayer, QcSample, Reference, ReportInput, RocPoint, SampleHeatmap,
    SampleRow, SampleScore, SampleTable, Setting, Task, VariancePartition, Verdict, VpFeature,
};

use html::Esc;
use sections::{Ctx, Section};

/// Headings of the report sections, in report order (each appears only when its data does).
pub const SECTION_TITLES: [&str; 10] = [
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

/// Content-Security-Policy of the page: nothing may load, no script may run.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

/// Render the report as one self-contained HTML document.
///
/// Validates the input first ([`ReportInput::validate`]); sections without data are left out.
pub fn render(input: &ReportInput) -> Result<String> {
    input.validate()?;
    let ctx = Ctx::new(input);
    let sections: Vec<Section> = [
        sections::header::section(&ctx),
        sections::qc::section(&ctx),
        sections::pca::section(&ctx),
        sections::clustering::section(&ctx),
        sections::differential::section(&ctx),
        sections::markers::section(&ctx),
        sections::panels::section(&ctx),
        sections::variance::section(&ctx),
        sections::potency::section(&ctx),
        sections::methods::section(&ctx),
    ]
    .into_iter()
    .flatten()
    .collect();

    let h = &input.header;
    let title = if h.title.trim().is_empty() {
        "evomics report"
    } else {
        h.title.as_str()
    };
    let mut meta = Vec::new();
    if !h.evomics_version.is_empty() {
        meta.push(format!("evomics {}", h.evomics_version));
    }
    if !h.date.is_empty() {
        meta.push(h.date.clone());
    }
    if let Some(t) = &input.samples {
        meta.push(format!("{} samples", t.rows.len()));
    }
    if !h.layers.is_empty() {
        let names: Vec<&str> = h.layers.iter().map(|l| l.name.as_str()).collect();
        meta.push(format!("layers: {}", names.join(", ")));
    }

    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"evomics-report\">\n\
         <title>{}</title>\n<style>{}</style>\n</head>\n<body>\n<div class=\"page\">\n\
         <header class=\"report-head\">\n<h1>{}</h1>\n<p class=\"meta\">{}</p>\n</header>\n",
        Esc(title),
        style::CSS,
        Esc(title),
        Esc(&meta.join(" · "))
    );
    if sections.is_empty() {
        out.push_str("<p class=\"summary\">The report input holds no results yet.</p>\n");
    } else {
        out.push_str("<nav class=\"toc\">\n<h2>Contents</h2>\n<ol>\n");
        for s in &sections {
            let _ = writeln!(out, "<li><a href=\"#{}\">{}</a></li>", s.id, Esc(s.title));
        }
        out.push_str("</ol>\n</nav>\n<main>\n");
        for (i, s) in sections.iter().enumerate() {
            out.push_str(&s.render(i + 1));
        }
        out.push_str("</main>\n");
    }
    let _ = write!(
        out,
        "<footer>Generated by evomics{}{}. This file is self-contained: it loads nothing from the network, \
         and each table's data is embedded in its download link.</footer>\n</div>\n</body>\n</html>\n",
        if h.evomics_version.is_empty() { String::new() } else { format!(" {}", Esc(&h.evomics_version)) },
        if h.date.is_empty() { String::new() } else { format!(" on {}", Esc(&h.date)) },
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_input_renders_a_valid_page() {
        let html = render(&ReportInput::default()).unwrap();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<title>evomics report</title>"));
        assert!(html.contains("holds no results yet"));
        assert!(html.trim_end().ends_with("</html>"));
        for t in SECTION_TITLES {
            assert!(
                !html.contains(&format!(". {t}</h2>")),
                "{t} rendered without data"
            );
        }
    }

    #[test]
    fn invalid_input_is_rejected_before_rendering() {
        let input = ReportInput {
            pca: vec![PcaResult {
                layer: "p".into(),
                colour_by: vec!["source".into()],
                ..PcaResult::default()
            }],
            ..ReportInput::default()
        };
        assert!(matches!(
            render(&input),
            Err(ReportError::Invalid { section: "pca", .. })
        ));
    }

    #[test]
    fn title_and_meta_are_escaped() {
        let mut input = ReportInput::default();
        input.header.title = "<b>EV</b>".into();
        input.header.date = "2024-05-01".into();
        let html = render(&input).unwrap();
        assert!(html.contains("<h1>&lt;b&gt;EV&lt;/b&gt;</h1>"));
        assert!(html.contains("2024-05-01"));
    }
}
