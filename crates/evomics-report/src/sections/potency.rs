//! Section 9: cross-validated potency models — metrics, ROC, PR, calibration, permutation null,
//! observed against predicted, and feature importance.

use std::fmt::Write as _;

use crate::fmt::{num, percent, pval};
use crate::html::{Cell, Col, Esc, Table};
use crate::model::{Importance, MetricRow, ModelComparison, PanelView, PotencyModel, Task};
use crate::sections::{figure, grid, h3, h4, stem, Ctx, Section};
use crate::svg::charts::{Bar, BoxGroup, BoxPlot, HBarChart, HBarRow, Point, Ref, Series, XyPlot};
use crate::svg::grid::{Grid, GridScale};
use crate::svg::palette::{Shape, Style, DOWN, NEUTRAL, OKABE_ITO, UP};
use crate::svg::scale;
use crate::svg::{Key, LegendEntry, TickFormat};

const HOWTO: &str = "Each model predicts its target (a potency label or score, or any sheet column) from EV cargo and is judged only on \
samples it did not see during training (cross-validation; each model's design, what it keeps \
apart and where its preprocessing was fitted are stated under it and in the methods). <em>ROC</em>: the true-positive rate against \
the false-positive rate over all thresholds; the dashed diagonal is guessing (AUC 0.5). \
<em>Precision–recall</em>: precision against recall; the dashed line is the share of positives, \
what guessing achieves. <em>Calibration</em>: predicted probability against the observed share of \
positives per bin (point size = samples); a calibrated model follows the diagonal. \
<em>Permutation test</em>: the metric with shuffled labels (grey) against the real one (red); the \
p-value is the share of shuffles that do as well. <em>Importance</em>: the features the model \
relies on most, with their spread across folds. Small cohorts give wide uncertainty: read the \
fold spread and the permutation p-value, not the point estimate alone.";

/// Features drawn in the importance chart.
const TOP_IMPORTANCE: usize = 20;

/// Bar colour of an unsigned importance.
const NEUTRAL_BAR: &str = DOWN;

/// The potency section, or `None` without models.
pub(crate) fn section(ctx: &Ctx<'_>) -> Option<Section> {
    if ctx.input.potency.is_empty() {
        return None;
    }
    let body: String = ctx.input.potency.iter().map(model).collect();
    Some(Section {
        id: "potency",
        title: "Predictive models",
        howto: HOWTO,
        body,
    })
}

fn metric<'a>(m: &'a PotencyModel, names: &[&str]) -> Option<&'a MetricRow> {
    m.metrics.iter().find(|r| names.contains(&r.name.as_str()))
}

fn unit_plot(label: &str, x: &str, y: &str) -> XyPlot {
    let mut p = XyPlot::new(540.0, 400.0, label, x, y);
    p.x_domain = Some((0.0, 1.0));
    p.y_domain = Some((0.0, 1.0));
    p
}

fn line_entry(label: String, colour: &'static str, dash: Option<&'static str>) -> LegendEntry {
    LegendEntry {
        label,
        key: Key::Line(colour, dash),
    }
}

fn model(m: &PotencyModel) -> String {
    let mut h = h3(&m.name);
    let task = match m.task {
        Task::Classification => "classification",
        Task::Regression => "regression",
    };
    let mut meta = format!("Target: <strong>{}</strong> ({task})", Esc(&m.target));
    if let Some(cv) = &m.cv {
        let _ = write!(meta, ". Validation: {}", Esc(cv));
    }
    let _ = writeln!(h, "<p class=\"summary\">{meta}.</p>");

    if !m.metrics.is_empty() || m.permutation.is_some() {
        let perm = m.permutation.as_ref();
        let mut cols = vec![
            ("Metric", Col::Text),
            ("Pooled", Col::Num),
            ("Fold mean", Col::Num),
            ("Fold SD", Col::Num),
        ];
        if perm.is_some() {
            cols.push(("Permutation p", Col::Num));
        }
        let mut t = Table::new(&stem(&["metrics", &m.name]), &cols);
        for r in &m.metrics {
            let mut row = vec![
                Cell::text(&r.name),
                Cell::num(r.pooled, num),
                Cell::num(r.fold_mean, num),
                Cell::num(r.fold_sd, num),
            ];
            if let Some(p) = perm {
                let tested = (p.metric == r.name).then_some(p.p_value);
                row.push(Cell::num(tested, pval));
            }
            t.rows.push(row);
        }
        if let Some(p) = perm.filter(|p| !m.metrics.iter().any(|r| r.name == p.metric)) {
            t.rows.push(vec![
                Cell::text(&p.metric),
                Cell::num(Some(p.observed), num),
                Cell::num(None, num),
                Cell::num(None, num),
                Cell::num(Some(p.p_value), pval),
            ]);
        }
        h.push_str(&h4("Metrics"));
        h.push_str(&t.render());
    }

    let mut figures = Vec::new();
    if m.roc.len() >= 2 {
        let mut p = unit_plot(
            &format!("ROC curve of {}", m.name),
            "False-positive rate",
            "True-positive rate",
        );
        p.refs.push((Ref::Diagonal, "#999999", Some("5 4")));
        p.series.push(Series {
            pts: m.roc.iter().map(|r| (r.fpr, r.tpr)).collect(),
            colour: DOWN,
            width: 2.2,
            dash: None,
            title: None,
        });
        let auc = metric(m, &["roc_auc", "auc", "AUC"]).and_then(|r| r.pooled);
        p.legend = vec![
            line_entry(
                auc.map_or_else(
                    || "Pooled out-of-fold".into(),
                    |a| format!("AUC {}", crate::fmt::fixed(a, 3)),
                ),
                DOWN,
                None,
            ),
            line_entry("Chance".into(), "#999999", Some("5 4")),
        ];
        figures.push(figure(
            &p.render(),
            "ROC curve of the pooled out-of-fold predictions.",
        ));
    }
    if !m.fold_roc.is_empty() {
        figures.push(fold_roc(m));
    }
    if let Some(c) = &m.confusion {
        figures.push(confusion(m, c));
    }
    if m.pr.len() >= 2 {
        let mut p = unit_plot(
            &format!("Precision-recall curve of {}", m.name),
            "Recall",
            "Precision",
        );
        p.series.push(Series {
            pts: m.pr.iter().map(|r| (r.recall, r.precision)).collect(),
            colour: OKABE_ITO[2],
            width: 2.2,
            dash: None,
            title: None,
        });
        let ap = metric(m, &["pr_auc", "average_precision", "ap"]).and_then(|r| r.pooled);
        p.legend = vec![line_entry(
            ap.map_or_else(
                || "Pooled out-of-fold".into(),
                |a| format!("AP {}", crate::fmt::fixed(a, 3)),
            ),
            OKABE_ITO[2],
            None,
        )];
        if let Some(prev) = m.prevalence.filter(|v| v.is_finite()) {
            p.refs.push((Ref::H(prev), "#999999", Some("5 4")));
            p.legend.push(line_entry(
                format!("Positives {}", percent(prev, 0)),
                "#999999",
                Some("5 4"),
            ));
        }
        figures.push(figure(
            &p.render(),
            "Precision–recall curve of the pooled out-of-fold predictions.",
        ));
    }
    if !m.calibration.is_empty() {
        let mut p = unit_plot(
            &format!("Calibration of {}", m.name),
            "Mean predicted probability",
            "Observed share of positives",
        );
        p.refs.push((Ref::Diagonal, "#999999", Some("5 4")));
        let max_n = m.calibration.iter().map(|b| b.n).max().unwrap_or(1).max(1) as f64;
        p.series.push(Series {
            pts: m
                .calibration
                .iter()
                .map(|b| (b.mean_predicted, b.observed))
                .collect(),
            colour: OKABE_ITO[0],
            width: 1.5,
            dash: None,
            title: None,
        });
        for b in &m.calibration {
            p.points.push(Point {
                x: b.mean_predicted,
                y: b.observed,
                r: 3.0 + 5.0 * (b.n as f64 / max_n).sqrt(),
                style: Style {
                    colour: OKABE_ITO[0],
                    shape: Shape::Circle,
                },
                title: format!(
                    "predicted {}, observed {}, n = {}",
                    num(b.mean_predicted),
                    num(b.observed),
                    b.n
                ),
            });
        }
        p.legend = vec![line_entry(
            "Perfect calibration".into(),
            "#999999",
            Some("5 4"),
        )];
        figures.push(figure(&p.render(), "Calibration of the pooled out-of-fold probabilities; point size grows with the samples in the bin."));
    }
    if let Some(perm) = m.permutation.as_ref().filter(|p| !p.null.is_empty()) {
        figures.push(figure(
            &null_histogram(m, perm.observed, &perm.null, &perm.metric),
            &format!(
                "{} with permuted labels ({} permutations) against the real value {}; p = {}.",
                perm.metric,
                perm.null.len(),
                num(perm.observed),
                pval(perm.p_value)
            ),
        ));
    }
    if !m.predictions.is_empty() {
        let mut p = XyPlot::new(
            540.0,
            400.0,
            &format!("Observed against predicted, {}", m.name),
            &format!("Predicted {}", m.target),
            &format!("Observed {}", m.target),
        );
        let (lo, hi) = scale::extent(m.predictions.iter().flat_map(|r| [r.observed, r.predicted]))
            .unwrap_or((0.0, 1.0));
        let (lo, hi) = scale::pad(lo, hi, 0.05);
        p.x_domain = Some((lo, hi));
        p.y_domain = Some((lo, hi));
        p.refs.push((Ref::Diagonal, "#999999", Some("5 4")));
        for r in &m.predictions {
            p.points.push(Point {
                x: r.predicted,
                y: r.observed,
                r: 4.5,
                style: Style {
                    colour: DOWN,
                    shape: Shape::Circle,
                },
                title: format!(
                    "{}: observed {}, predicted {}",
                    r.sample_id,
                    num(r.observed),
                    num(r.predicted)
                ),
            });
        }
        p.legend = vec![line_entry(
            "Perfect prediction".into(),
            "#999999",
            Some("5 4"),
        )];
        figures.push(figure(
            &p.render(),
            "Out-of-fold predictions against observed values.",
        ));
    }
    if !figures.is_empty() {
        h.push_str(&grid(&figures));
    }
    if !m.importance.is_empty() {
        h.push_str(&h4("Feature importance"));
        h.push_str(&importance(m));
    }
    if let Some(c) = &m.comparison {
        h.push_str(&comparison(m, c));
    }
    if let Some(p) = &m.panel {
        h.push_str(&panel(m, p));
    }
    h
}

/// The release panel beside the full model.
fn panel(m: &PotencyModel, p: &PanelView) -> String {
    let mut h = h4("Release panel");
    let features: Vec<String> = p
        .features
        .iter()
        .zip(&p.selection_frequency)
        .map(|(f, s)| format!("{} ({} of folds)", Esc(f), percent(*s, 0)))
        .collect();
    let _ = writeln!(
        h,
        "<p class=\"summary\">The {} features chosen inside every training fold (largest univariate statistic), cross-validated on the same splits as the full model: {}.{}</p>",
        p.features.len(),
        features.join(", "),
        p.p_value.map_or_else(String::new, |v| format!(
            " Full model against panel, corrected resampled t-test: p = {}.",
            pval(v)
        ))
    );
    let mut t = Table::new(
        &stem(&["panel", &m.name]),
        &[
            ("Model", Col::Text),
            ("Metric", Col::Text),
            ("Pooled", Col::Num),
            ("Fold mean", Col::Num),
            ("Fold SD", Col::Num),
        ],
    );
    for (label, r) in [("full model", &p.full), ("panel", &p.panel)] {
        t.rows.push(vec![
            Cell::text(label),
            Cell::text(&r.name),
            Cell::num(r.pooled, num),
            Cell::num(r.fold_mean, num),
            Cell::num(r.fold_sd, num),
        ]);
    }
    h.push_str(&t.render());
    if !p.not_reproducible.is_empty() {
        let _ = writeln!(
            h,
            "<p class=\"summary\">To apply the panel to values from another assay (qPCR, ELISA), note that the model saw values after steps a panel measured alone cannot reproduce: {}.</p>",
            Esc(&p.not_reproducible.join("; "))
        );
    }
    h
}

/// Models compared on the same folds: the headline metric per model (pooled, fold mean ± SD),
/// its value in every split per model, and every pair's corrected resampled t-test.
fn comparison(m: &PotencyModel, c: &ModelComparison) -> String {
    let mut h = h4("Models compared on the same folds");
    let _ = writeln!(
        h,
        "<p class=\"summary\">{} models were cross-validated on the same splits with the same fold preprocessing; <strong>{}</strong> was kept ({}). A pair differs credibly only when its corrected resampled t-test (Nadeau &amp; Bengio 2003, which allows for the overlap of the training parts) gives a small p-value; with few folds, differences of a few hundredths usually do not.</p>",
        c.models.len(),
        Esc(&c.selected),
        Esc(&c.selected_by)
    );
    let mut t = Table::new(
        &stem(&["models", &m.name]),
        &[
            ("Model", Col::Text),
            ("Kind", Col::Text),
            ("Pooled", Col::Num),
            ("Fold mean", Col::Num),
            ("Fold SD", Col::Num),
        ],
    );
    for cm in &c.models {
        let row = cm.metrics.iter().find(|r| r.name == c.metric);
        t.rows.push(vec![
            Cell::text(&cm.name),
            Cell::text(&cm.kind),
            Cell::num(row.and_then(|r| r.pooled), num),
            Cell::num(row.and_then(|r| r.fold_mean), num),
            Cell::num(row.and_then(|r| r.fold_sd), num),
        ]);
    }
    let _ = writeln!(h, "<p class=\"summary\">Metric: {}.</p>", Esc(&c.metric));
    h.push_str(&t.render());

    let groups: Vec<BoxGroup> = c
        .models
        .iter()
        .enumerate()
        .map(|(i, cm)| {
            let (values, titles): (Vec<f64>, Vec<String>) = cm
                .folds
                .iter()
                .enumerate()
                .filter_map(|(j, v)| {
                    v.map(|v| {
                        (
                            v,
                            format!("{}, split {}: {} {}", cm.name, j + 1, c.metric, num(v)),
                        )
                    })
                })
                .unzip();
            BoxGroup {
                label: cm.name.clone(),
                colour: OKABE_ITO[i % OKABE_ITO.len()],
                values,
                titles,
            }
        })
        .filter(|g| !g.values.is_empty())
        .collect();
    if !groups.is_empty() {
        let plot = BoxPlot {
            width: 540.0,
            plot_height: 240.0,
            label: format!("{} per split and model", c.metric),
            y_title: c.metric.clone(),
            y_format: TickFormat::Number,
            y_domain: None,
            groups,
            points: true,
        };
        h.push_str(&figure(
            &plot.render(),
            &format!(
                "{} of every model in each split of the shared folds (one point per split).",
                c.metric
            ),
        ));
    }

    if !c.pairs.is_empty() {
        let mut t = Table::new(
            &stem(&["model-pairs", &m.name]),
            &[
                ("Model A", Col::Text),
                ("Model B", Col::Text),
                ("Mean A − B", Col::Num),
                ("SD", Col::Num),
                ("Corrected t", Col::Num),
                ("df", Col::Num),
                ("p", Col::Num),
            ],
        );
        for p in &c.pairs {
            t.rows.push(vec![
                Cell::text(&p.a),
                Cell::text(&p.b),
                Cell::num(p.mean_difference, num),
                Cell::num(p.sd_difference, num),
                Cell::num(p.t, num),
                Cell::num(Some(p.df as f64), num),
                Cell::num(p.p_value, pval),
            ]);
        }
        h.push_str(&t.render());
    }
    h
}

fn null_histogram(m: &PotencyModel, observed: f64, null: &[f64], metric: &str) -> String {
    let finite: Vec<f64> = null.iter().copied().filter(|v| v.is_finite()).collect();
    let (lo, hi) = scale::extent(finite.iter().copied().chain([observed])).unwrap_or((0.0, 1.0));
    // Room on both sides, so the real value is never drawn on the frame.
    let (lo, hi) = scale::pad(lo, hi, 0.04);
    let bins = ((finite.len() as f64).sqrt().ceil() as usize).clamp(8, 30);
    let t = scale::nice(lo, hi, bins);
    let width = t.step;
    let mut counts = vec![0usize; t.values.len().saturating_sub(1).max(1)];
    for v in &finite {
        let i = (((v - t.lo) / width).floor().max(0.0) as usize).min(counts.len() - 1);
        counts[i] += 1;
    }
    let mut p = XyPlot::new(
        540.0,
        400.0,
        &format!("Permutation null of {}", m.name),
        metric,
        "Permutations",
    );
    for (i, c) in counts.iter().enumerate() {
        let x0 = t.lo + width * i as f64;
        p.bars.push(Bar {
            x: (x0, x0 + width),
            y: (0.0, *c as f64),
            colour: NEUTRAL,
            title: format!("{} to {}: {c}", num(x0), num(x0 + width)),
        });
    }
    p.x_domain = Some((t.lo, t.hi));
    p.refs.push((Ref::V(observed), UP, None));
    p.legend = vec![
        LegendEntry {
            label: "Permuted labels".into(),
            key: Key::Swatch(NEUTRAL.into()),
        },
        line_entry("Real labels".into(), UP, None),
    ];
    p.render()
}

/// One ROC curve per test fold, so that the spread of the pooled curve's performance over
/// folds shows; the folds' curves and areas as a TSV download.
fn fold_roc(m: &PotencyModel) -> String {
    let mut p = unit_plot(
        &format!("ROC curve per fold of {}", m.name),
        "False-positive rate",
        "True-positive rate",
    );
    p.refs.push((Ref::Diagonal, "#999999", Some("5 4")));
    let mut t = Table::new(
        &stem(&["fold_roc", &m.name]),
        &[
            ("fold", Col::Text),
            ("AUC", Col::Num),
            ("FPR", Col::Num),
            ("TPR", Col::Num),
        ],
    );
    for (i, f) in m.fold_roc.iter().enumerate() {
        let colour = OKABE_ITO[i % OKABE_ITO.len()];
        p.series.push(Series {
            pts: f.roc.iter().map(|r| (r.fpr, r.tpr)).collect(),
            colour,
            width: 1.6,
            dash: None,
            title: Some(format!(
                "{}: AUC {}",
                f.fold,
                f.auc
                    .map_or_else(|| "NA".into(), |a| crate::fmt::fixed(a, 3))
            )),
        });
        if i < 12 {
            p.legend.push(line_entry(
                format!(
                    "{} (AUC {})",
                    f.fold,
                    f.auc
                        .map_or_else(|| "NA".into(), |a| crate::fmt::fixed(a, 2))
                ),
                colour,
                None,
            ));
        }
        for r in &f.roc {
            t.rows.push(vec![
                Cell::text(&f.fold),
                Cell::num(f.auc, num),
                Cell::num(Some(r.fpr), num),
                Cell::num(Some(r.tpr), num),
            ]);
        }
    }
    let mut h = figure(
        &p.render(),
        "ROC curve of each test fold (first repeat). How to read this: curves close together mean the model performs alike on every held-out group; a wide spread means the pooled curve hides folds where it fails.",
    );
    h.push_str(&t.download("Curve points: "));
    h
}

/// Counts of observed (rows) against predicted (columns) classes.
fn confusion(m: &PotencyModel, c: &crate::model::Confusion) -> String {
    let values: Vec<Vec<Option<f64>>> = c
        .classes
        .iter()
        .enumerate()
        .map(|(i, _)| {
            c.classes
                .iter()
                .enumerate()
                .map(|(j, _)| {
                    Some(c.counts.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0) as f64)
                })
                .collect()
        })
        .collect();
    let label = format!("Confusion matrix of {}", m.name);
    let g = Grid {
        label: &label,
        rows: &c.classes,
        cols: &c.classes,
        values: &values,
        marked: &[],
        mark_label: "",
        col_title: "predicted",
        row_title: "observed",
        col_strip: None,
        row_strip: None,
        scale: GridScale::Counts,
        colour_title: "samples",
    };
    let mut t = Table::new(
        &stem(&["confusion", &m.name]),
        &[
            ("observed", Col::Text),
            ("predicted", Col::Text),
            ("samples", Col::Num),
        ],
    );
    for (i, a) in c.classes.iter().enumerate() {
        for (j, b) in c.classes.iter().enumerate() {
            t.rows.push(vec![
                Cell::text(a),
                Cell::text(b),
                Cell::count(Some(
                    c.counts.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0),
                )),
            ]);
        }
    }
    let mut h = figure(
        &g.render(),
        &format!(
            "Confusion matrix: {}. How to read this: the diagonal holds the samples classified right; an off-diagonal cell counts the samples of the row's class called the column's.",
            c.description
        ),
    );
    h.push_str(&t.download("Counts: "));
    h
}

/// Importance rows by absolute importance, largest first, ties by name.
fn ranked(imp: &[Importance]) -> Vec<&Importance> {
    let mut v: Vec<&Importance> = imp.iter().collect();
    v.sort_by(|a, b| {
        let (x, y) = (a.importance.abs(), b.importance.abs());
        let (x, y) = (
            if x.is_nan() { -1.0 } else { x },
            if y.is_nan() { -1.0 } else { y },
        );
        y.total_cmp(&x).then_with(|| a.feature.cmp(&b.feature))
    });
    v
}

/// The label of an importance row: the gene name where known, else the feature.
fn importance_label(r: &Importance) -> &str {
    r.name
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(&r.feature)
}

fn importance(m: &PotencyModel) -> String {
    let ranked = ranked(&m.importance);
    let signed = m.signed_importance.as_ref();
    // Signed coefficients: positive and negative in two palette colours; an unsigned
    // importance is one colour.
    let (pos, neg) = (UP, DOWN);
    let rows = ranked
        .iter()
        .take(TOP_IMPORTANCE)
        .map(|r| HBarRow {
            label: importance_label(r).to_string(),
            segments: vec![(
                r.importance,
                match signed {
                    Some(_) if r.importance < 0.0 => neg,
                    Some(_) => pos,
                    None => NEUTRAL_BAR,
                },
                format!(
                    "{}{}: {}{}",
                    importance_label(r),
                    if importance_label(r) != r.feature {
                        format!(" ({})", r.feature)
                    } else {
                        String::new()
                    },
                    num(r.importance),
                    r.sd.map_or_else(String::new, |s| format!(" ± {}", num(s)))
                ),
            )],
            err: r.sd,
        })
        .collect();
    let chart = HBarChart {
        width: 1000.0,
        label: format!("Feature importance of {}", m.name),
        x_title: match signed {
            Some(s) => s.measure.clone(),
            None if ranked.iter().any(|r| r.sd.is_some()) => {
                "Mean importance over folds (± SD)".into()
            }
            None => "Importance".into(),
        },
        x_format: TickFormat::Number,
        x_domain: None,
        rows,
        legend_title: None,
        legend: match signed {
            Some(s) => vec![
                LegendEntry {
                    label: format!("Positive: {}", s.positive),
                    key: Key::Swatch(pos.into()),
                },
                LegendEntry {
                    label: format!("Negative: {}", s.negative),
                    key: Key::Swatch(neg.into()),
                },
            ],
            None => Vec::new(),
        },
    };
    let shown = ranked.len().min(TOP_IMPORTANCE);
    let how = match signed {
        Some(s) => format!(
            "; bars keep the coefficient's sign (right of zero: {}; left: {}), error bars ± SD over folds",
            s.positive, s.negative
        ),
        None => String::new(),
    };
    let mut h = figure(
        &chart.render(),
        &format!(
            "The {shown} most important features of {} (by absolute mean importance){how}; labelled by gene name where the layer annotates one.",
            m.name
        ),
    );
    let with_sd = ranked.iter().any(|r| r.sd.is_some());
    let with_freq = ranked.iter().any(|r| r.selection_frequency.is_some());
    let with_name = ranked.iter().any(|r| r.name.is_some());
    let mut cols = vec![("Feature", Col::Text)];
    if with_name {
        cols.push(("Gene", Col::Text));
    }
    cols.push((
        if signed.is_some() {
            "Coefficient"
        } else {
            "Importance"
        },
        Col::Num,
    ));
    if with_sd {
        cols.push(("SD", Col::Num));
    }
    if with_freq {
        cols.push(("Selection frequency", Col::Num));
    }
    let mut t = Table::new(&stem(&["importance", &m.name]), &cols);
    for r in &ranked {
        let mut row = vec![Cell::text(&r.feature)];
        if with_name {
            row.push(Cell::opt_text(r.name.as_deref()));
        }
        row.push(Cell::num(Some(r.importance), num));
        if with_sd {
            row.push(Cell::num(r.sd, num));
        }
        if with_freq {
            row.push(Cell::num(r.selection_frequency, |v| percent(v, 0)));
        }
        t.rows.push(row);
    }
    t.show = TOP_IMPORTANCE;
    h.push_str(&t.render());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn importance_ranks_by_absolute_value() {
        let imp = |f: &str, v: f64| Importance {
            feature: f.into(),
            name: None,
            importance: v,
            sd: None,
            selection_frequency: None,
        };
        let v = vec![
            imp("a", 0.1),
            imp("b", -0.5),
            imp("c", f64::NAN),
            imp("d", 0.5),
        ];
        let names: Vec<&str> = ranked(&v).iter().map(|r| r.feature.as_str()).collect();
        assert_eq!(names, ["b", "d", "a", "c"]);
    }

    #[test]
    fn null_histogram_counts_every_permutation() {
        let m = PotencyModel::default();
        let null: Vec<f64> = (0..100).map(|i| 0.3 + 0.004 * i as f64).collect();
        let svg = null_histogram(&m, 0.9, &null, "roc_auc");
        let total: usize = svg
            .split("<title>")
            .skip(1)
            .filter_map(|t| {
                t.split("</title>")
                    .next()?
                    .rsplit(": ")
                    .next()?
                    .parse::<usize>()
                    .ok()
            })
            .sum();
        assert_eq!(total, 100);
    }
}
