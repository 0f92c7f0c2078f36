//! Section 5: volcano plot and top table per contrast.

use std::cmp::Ordering;

use crate::fmt::{num, pval};
use crate::html::{Cell, Col, Table};
use crate::model::{ContrastHeatmap, ContrastResult, DiffRow};
use crate::sections::{figure, grid, h3, para, stem, Ctx, Section};
use crate::svg::charts::{Bar, Label, Point, Ref, XyPlot};
use crate::svg::grid::{Grid, GridScale};
use crate::svg::palette::{Shape, Style, DOWN, NEUTRAL, UP};
use crate::svg::{scale, Key, LegendEntry};

const HOWTO: &str = "One block per layer and contrast. In the volcano plot each point is a feature: \
to the right it is more abundant in the first group of the contrast (positive log2 fold change), to \
the left less abundant; higher points have smaller p-values. Features significant at the stated \
adjusted p-value (Benjamini–Hochberg false discovery rate) are coloured; the dashed horizontal line \
is the largest raw p-value that is still significant, and dashed vertical lines (if any) are the \
fold-change threshold. The most significant features are labelled. The table lists the top \
features by p-value; the download holds every feature.";

/// Most labels drawn in one volcano (placement is quadratic in the number of labels).
const MAX_LABELS: usize = 100;

/// Features above which the volcano's non-significant points have no tooltip.
const TITLED_FEATURES: usize = 2000;

/// Smallest p-value drawn, so that p = 0 stays on the plot.
const P_FLOOR: f64 = 1e-300;

/// The differential section, or `None` without contrasts.
pub(crate) fn section(ctx: &Ctx<'_>) -> Option<Section> {
    if ctx.input.differential.is_empty() {
        return None;
    }
    let body: String = ctx
        .input
        .differential
        .iter()
        .map(|c| contrast(ctx, c))
        .collect();
    Some(Section {
        id: "differential",
        title: "Differential abundance",
        howto: HOWTO,
        body,
    })
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite())
}

/// Rows by p-value, missing p-values last, ties by feature id.
fn sorted_rows(rows: &[DiffRow]) -> Vec<&DiffRow> {
    let mut v: Vec<&DiffRow> = rows.iter().collect();
    v.sort_by(|a, b| {
        match (finite(a.p_value), finite(b.p_value)) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
        .then_with(|| a.feature_id.cmp(&b.feature_id))
    });
    v
}

/// Direction of a significant feature: `Some(true)` up, `Some(false)` down.
fn significant(c: &ContrastResult, r: &DiffRow) -> Option<bool> {
    let (lfc, adj) = (finite(r.log_fc)?, finite(r.adj_p_value)?);
    (adj < c.adj_p_threshold && lfc.abs() >= c.log_fc_threshold && lfc != 0.0).then_some(lfc > 0.0)
}

fn display_name(r: &DiffRow) -> &str {
    r.name
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(&r.feature_id)
}

/// The contrast as written (its expression, else its name), after the analysis name when
/// there is one: `source: ADSC - BM_MSC`.
fn written(c: &ContrastResult) -> String {
    let e = c
        .expression
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or(&c.contrast);
    match c.analysis.as_deref().filter(|a| !a.is_empty()) {
        Some(a) => format!("{a}: {e}"),
        None => e.to_string(),
    }
}

fn contrast(ctx: &Ctx<'_>, c: &ContrastResult) -> String {
    let written = written(c);
    let mut h = h3(&format!("{}: {written}", c.layer));
    if c.expression.as_deref().is_some_and(|e| e != c.contrast) {
        h.push_str(&para(
            "summary",
            &format!(
                "Contrast {} = {}",
                c.contrast,
                c.expression.as_deref().unwrap_or_default()
            ),
        ));
    }
    if let crate::model::Coefficient::Slope { covariate } = &c.coefficient {
        h.push_str(&para(
            "summary",
            &format!("{covariate} is a numeric covariate: the estimate is the change in log2 abundance per unit of {covariate} (a slope), not a fold change between groups."),
        ));
    }
    let rows = sorted_rows(&c.rows);
    let n_up = rows
        .iter()
        .filter(|r| significant(c, r) == Some(true))
        .count();
    let n_down = rows
        .iter()
        .filter(|r| significant(c, r) == Some(false))
        .count();
    let tested = rows.iter().filter(|r| finite(r.p_value).is_some()).count();
    let est = c.coefficient.column();
    let lfc_rule = if c.log_fc_threshold > 0.0 {
        format!(" and |{est}| ≥ {}", num(c.log_fc_threshold))
    } else {
        String::new()
    };
    h.push_str(&para(
        "summary",
        &format!(
            "{n_up} up and {n_down} down of {tested} tested features at adjusted p < {}{lfc_rule}.",
            num(c.adj_p_threshold)
        ),
    ));
    if let Some(fitted) = c.imputed_fitted {
        let sig: Vec<&&DiffRow> = rows
            .iter()
            .filter(|r| significant(c, r).is_some())
            .collect();
        let with = sig.iter().filter(|r| r.n_imputed.unwrap_or(0) > 0).count();
        let share = if sig.is_empty() {
            String::new()
        } else {
            format!(" ({:.0} %)", 100.0 * with as f64 / sig.len() as f64)
        };
        h.push_str(&para(
            "summary",
            &if fitted {
                format!("Imputed values were fitted as if measured (use_imputed = true): {with} of the {} significant features{share} have imputed cells, marked in the table.", sig.len())
            } else {
                format!("The layer has imputed cells; the fit used measured values only (imputed cells are missing to limma). {with} of the {} significant features{share} have imputed cells, marked in the table.", sig.len())
            },
        ));
    }

    let mut plot = XyPlot::new(
        1000.0,
        460.0,
        &format!("Volcano plot of {written} in {}", c.layer),
        &c.coefficient.axis_title(),
        "−log10 p-value",
    );
    let style = |colour| Style {
        colour,
        shape: Shape::Circle,
    };
    // Non-significant points first so that significant ones are drawn on top.
    for pass in [None, Some(false), Some(true)] {
        for r in rows.iter().filter(|r| significant(c, r) == pass) {
            let (Some(lfc), Some(p)) = (finite(r.log_fc), finite(r.p_value)) else {
                continue;
            };
            let colour = match pass {
                None => NEUTRAL,
                Some(false) => DOWN,
                Some(true) => UP,
            };
            plot.points.push(Point {
                x: lfc,
                y: -p.max(P_FLOOR).log10(),
                r: if pass.is_some() { 3.4 } else { 2.6 },
                style: style(colour),
                // With many features only the significant ones carry a tooltip (the others are
                // in the table's download), which keeps large layers' reports small.
                title: if pass.is_none() && rows.len() > TITLED_FEATURES {
                    String::new()
                } else {
                    format!(
                        "{}{}: {est} {}, p {}, adj. p {}",
                        display_name(r),
                        if r.name.is_some() {
                            format!(" ({})", r.feature_id)
                        } else {
                            String::new()
                        },
                        num(lfc),
                        pval(p),
                        finite(r.adj_p_value).map_or_else(|| "NA".into(), pval)
                    )
                },
            });
        }
    }
    // A symmetric x axis, so up and down are compared at the same scale.
    let reach = rows
        .iter()
        .filter_map(|r| finite(r.log_fc))
        .fold(c.log_fc_threshold, |m, v| m.max(v.abs()));
    let reach = scale::nice(0.0, (reach * 1.05).max(0.5), 4).hi;
    plot.x_domain = Some((-reach, reach));
    let cut = rows
        .iter()
        .filter(|r| significant(c, r).is_some())
        .filter_map(|r| finite(r.p_value))
        .fold(None, |m: Option<f64>, p| Some(m.map_or(p, |m| m.max(p))));
    if let Some(p) = cut {
        plot.refs
            .push((Ref::H(-p.max(P_FLOOR).log10()), "#888888", Some("5 4")));
    }
    if c.log_fc_threshold > 0.0 {
        plot.refs
            .push((Ref::V(c.log_fc_threshold), "#888888", Some("5 4")));
        plot.refs
            .push((Ref::V(-c.log_fc_threshold), "#888888", Some("5 4")));
    }
    plot.labels = rows
        .iter()
        .filter(|r| significant(c, r).is_some())
        .filter_map(|r| {
            Some(Label {
                x: finite(r.log_fc)?,
                y: -finite(r.p_value)?.max(P_FLOOR).log10(),
                text: display_name(r).to_string(),
            })
        })
        .take(c.label_top.min(MAX_LABELS))
        .collect();
    let drawn = |colour: &str| {
        plot.points
            .iter()
            .filter(|p| p.style.colour == colour)
            .count()
    };
    let (n_up, n_down, n_ns) = (drawn(UP), drawn(DOWN), drawn(NEUTRAL));
    plot.legend = vec![
        LegendEntry {
            label: format!("Up ({n_up})"),
            key: Key::Marker(style(UP)),
        },
        LegendEntry {
            label: format!("Down ({n_down})"),
            key: Key::Marker(style(DOWN)),
        },
        LegendEntry {
            label: format!("Not significant ({n_ns})"),
            key: Key::Marker(style(NEUTRAL)),
        },
    ];
    let (svg, drawn_labels) = plot.render_counting_labels();
    let wanted = plot.labels.len();
    let labelled = match (wanted, drawn_labels) {
        (0, _) => "no feature is significant, so none is labelled".to_string(),
        (w, d) if d == w => format!(
            "labelled: {}",
            if w == 1 {
                "the significant feature with the smallest p-value".to_string()
            } else {
                format!("the {w} significant features with the smallest p-values")
            }
        ),
        (w, d) => format!(
            "labelled: {d} of the {w} significant features with the smallest p-values (the other {} had no room free of overlap)",
            w - d
        ),
    };
    h.push_str(&figure(
        &svg,
        &format!(
            "Volcano plot of {written} ({}); coloured: adjusted p < {}{lfc_rule}; {labelled}.",
            c.layer,
            num(c.adj_p_threshold),
        ),
    ));

    h.push_str(&grid(&[
        p_histogram(c, &written),
        ma_plot(c, &written, &rows),
    ]));
    if let Some(hm) = &c.heatmap {
        h.push_str(&top_heatmap(ctx, c, hm, &written));
    }

    let mut t = Table::new(
        &stem(&[
            "diff",
            &c.layer,
            c.analysis.as_deref().unwrap_or(""),
            &c.contrast,
        ]),
        &[
            ("Feature", Col::Text),
            ("Name", Col::Text),
            (est, Col::Num),
            ("AveExpr", Col::Num),
            ("t", Col::Num),
            ("P.Value", Col::Num),
            ("adj.P.Val", Col::Num),
            ("Significant", Col::Text),
            ("Imputed cells", Col::Num),
        ],
    );
    for r in &rows {
        let sig = match significant(c, r) {
            Some(true) => "up",
            Some(false) => "down",
            None => "",
        };
        t.rows.push(vec![
            Cell::text(&r.feature_id),
            Cell::opt_text(r.name.as_deref()),
            Cell::num(r.log_fc, num),
            Cell::num(r.ave_expr, num),
            Cell::num(r.t, num),
            Cell::num(r.p_value, pval),
            Cell::num(r.adj_p_value, pval),
            Cell::text(sig),
            Cell::count(r.n_imputed),
        ]);
    }
    t.show = c.table_rows;
    h.push_str(&t.render());
    if !c.present_absent.is_empty() {
        h.push_str(&present_absent(c));
    }
    h
}

/// z-score heatmap of the contrast's most significant features across the fitted samples.
fn top_heatmap(ctx: &Ctx<'_>, c: &ContrastResult, hm: &ContrastHeatmap, written: &str) -> String {
    let m = &hm.heatmap;
    let label = format!("z-scores of the top features of {written} in {}", c.layer);
    let rows: Vec<String> = m
        .features
        .iter()
        .zip(&m.feature_groups)
        .map(|(f, g)| format!("{f} {}", if g == "up" { "↑" } else { "↓" }))
        .collect();
    let order = hm.order_by.as_deref();
    let strip = order.and_then(|o| ctx.column(o));
    let col_title = order.map_or_else(
        || "samples".to_string(),
        |o| format!("samples, ordered by {o}"),
    );
    let grid = Grid {
        label: &label,
        rows: &rows,
        cols: &m.samples,
        values: &m.values,
        marked: &m.imputed,
        mark_label: "imputed",
        col_title: &col_title,
        row_title: "feature",
        col_strip: strip,
        row_strip: None,
        scale: GridScale::Diverging,
        colour_title: "z-score",
    };
    let mut columns: Vec<(&str, Col)> = vec![("Feature", Col::Text), ("Direction", Col::Text)];
    columns.extend(m.samples.iter().map(|s| (s.as_str(), Col::Num)));
    let mut t = Table::new(
        &stem(&[
            "zscores",
            &c.layer,
            c.analysis.as_deref().unwrap_or(""),
            &c.contrast,
        ]),
        &columns,
    );
    for ((f, g), row) in m.features.iter().zip(&m.feature_groups).zip(&m.values) {
        let mut cells = vec![Cell::text(f), Cell::text(g)];
        // z-scores to 1/1000 of a standard deviation: finer than the colours, and a tenth of
        // the bytes of 7 significant digits across hundreds of samples.
        cells.extend(row.iter().map(|v| match v {
            Some(z) if z.is_finite() => Cell::markup(num(*z), &format!("{z:.3}")),
            _ => Cell::text("NA"),
        }));
        t.rows.push(cells);
    }
    let mut h = figure(
        &grid.render(),
        &format!(
            "The {} most significant feature(s) of {written} (↑ up, ↓ down), each scaled to mean 0 and standard deviation 1 across the {} samples the model fitted{}; colours clipped at ±3{}. How to read this: a contrast that holds shows blocks of colour that follow the ordering; a feature driven by one or two samples shows as a single dark cell.",
            m.features.len(),
            m.samples.len(),
            order.map_or_else(String::new, |o| format!(", ordered by {o}")),
            if m.imputed.is_empty() { "" } else { "; dotted cells were imputed" },
        ),
    );
    h.push_str(&t.download("z-scores: "));
    h
}

/// Bins of the p-value histogram.
const P_BINS: usize = 20;

/// Histogram of the raw p-values in 20 bins of width 0.05, with the count a flat (all-null)
/// distribution would give in each bin, and its data as a TSV download.
fn p_histogram(c: &ContrastResult, written: &str) -> String {
    let mut counts = [0usize; P_BINS];
    for p in c
        .rows
        .iter()
        .filter_map(|r| finite(r.p_value))
        .filter(|p| (0.0..=1.0).contains(p))
    {
        counts[((p * P_BINS as f64) as usize).min(P_BINS - 1)] += 1;
    }
    let n: usize = counts.iter().sum();
    let width = 1.0 / P_BINS as f64;
    let mut plot = XyPlot::new(
        490.0,
        300.0,
        &format!("P-value histogram of {written} in {}", c.layer),
        "p-value",
        "features",
    );
    plot.x_domain = Some((0.0, 1.0));
    plot.y_domain = Some((0.0, counts.iter().copied().max().unwrap_or(0).max(1) as f64));
    let mut t = Table::new(
        &stem(&[
            "p_histogram",
            &c.layer,
            c.analysis.as_deref().unwrap_or(""),
            &c.contrast,
        ]),
        &[("from", Col::Num), ("to", Col::Num), ("features", Col::Num)],
    );
    for (i, k) in counts.iter().enumerate() {
        let (lo, hi) = (i as f64 * width, (i + 1) as f64 * width);
        plot.bars.push(Bar {
            x: (lo, hi),
            y: (0.0, *k as f64),
            colour: DOWN,
            title: format!("p in [{}, {}): {k} features", num(lo), num(hi)),
        });
        t.rows.push(vec![
            Cell::num(Some(lo), num),
            Cell::num(Some(hi), num),
            Cell::count(Some(*k)),
        ]);
    }
    if n > 0 {
        plot.refs
            .push((Ref::H(n as f64 / P_BINS as f64), "#888888", Some("5 4")));
    }
    let mut h = figure(
        &plot.render(),
        &format!(
            "P-values of {written} ({n} features). How to read this: features without a difference give a flat histogram at the dashed line; a peak at the left is the true differences; a hump at the right or a slope rising to the right suggests the model does not fit (e.g. an unmodelled batch)."
        ),
    );
    h.push_str(&t.download("Histogram counts: "));
    h
}

/// MA plot: each feature's estimate against its mean log2 abundance, coloured as in the
/// volcano; its data are the top table's download.
fn ma_plot(c: &ContrastResult, written: &str, rows: &[&DiffRow]) -> String {
    let est = c.coefficient.column();
    let mut plot = XyPlot::new(
        490.0,
        300.0,
        &format!("MA plot of {written} in {}", c.layer),
        "mean log2 abundance (AveExpr)",
        &c.coefficient.axis_title(),
    );
    for pass in [None, Some(false), Some(true)] {
        for r in rows.iter().filter(|r| significant(c, r) == pass) {
            let (Some(a), Some(m)) = (finite(r.ave_expr), finite(r.log_fc)) else {
                continue;
            };
            plot.points.push(Point {
                x: a,
                y: m,
                r: if pass.is_some() { 2.8 } else { 2.0 },
                style: Style {
                    colour: match pass {
                        None => NEUTRAL,
                        Some(false) => DOWN,
                        Some(true) => UP,
                    },
                    shape: Shape::Circle,
                },
                // Only significant points carry a tooltip (the others would double the
                // plot's size and are in the table), and with many features none does: the
                // volcano above has them.
                title: if pass.is_some() && rows.len() <= TITLED_FEATURES {
                    format!("{}: AveExpr {}, {est} {}", display_name(r), num(a), num(m))
                } else {
                    String::new()
                },
            });
        }
    }
    plot.refs.push((Ref::H(0.0), "#888888", None));
    figure(
        &plot.render(),
        &format!(
            "MA plot of {written}. How to read this: each point is a feature, its mean log2 abundance across the samples (x) against its estimate (y); significant features coloured as in the volcano. A cloud centred on zero at every abundance means the normalization holds; a trend with abundance, or only low-abundance features significant, calls for care. Data: the table's download below (AveExpr, {est})."
        ),
    )
}

/// The features detected in every sample of one side of the contrast and in none of the other
/// (Fisher's exact test on detection), most significant first; limma often cannot test them.
fn present_absent(c: &ContrastResult) -> String {
    let mut rows: Vec<&crate::model::PresentAbsentRow> = c.present_absent.iter().collect();
    rows.sort_by(|a, b| {
        a.p_value
            .unwrap_or(1.0)
            .total_cmp(&b.p_value.unwrap_or(1.0))
            .then_with(|| a.feature_id.cmp(&b.feature_id))
    });
    let untested = rows.iter().filter(|r| !r.limma_tested).count();
    let mut h = para(
        "summary",
        &format!(
            "Present/absent: {} feature(s) detected in every sample of one side and in none of the other ({untested} of them without a limma p-value, as a side with no values cannot be fitted). Fisher's exact test on detection, BH-adjusted; the stage's absent_present.tsv holds every feature.",
            rows.len()
        ),
    );
    let mut t = Table::new(
        &stem(&[
            "present_absent",
            &c.layer,
            c.analysis.as_deref().unwrap_or(""),
            &c.contrast,
        ]),
        &[
            ("Feature", Col::Text),
            ("Detected (+)", Col::Text),
            ("Detected (−)", Col::Text),
            ("P.Value", Col::Num),
            ("adj.P.Val", Col::Num),
            ("limma tested", Col::Text),
        ],
    );
    for r in rows {
        t.rows.push(vec![
            Cell::text(&r.feature_id),
            Cell::text(&format!("{}/{}", r.detected_up, r.n_up)),
            Cell::text(&format!("{}/{}", r.detected_down, r.n_down)),
            Cell::num(r.p_value, pval),
            Cell::num(r.adj_p_value, pval),
            Cell::text(if r.limma_tested { "yes" } else { "no" }),
        ]);
    }
    t.show = c.table_rows;
    h.push_str(&t.render());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, lfc: f64, p: Option<f64>, adj: f64) -> DiffRow {
        DiffRow {
            feature_id: id.into(),
            log_fc: Some(lfc),
            p_value: p,
            adj_p_value: Some(adj),
            ..DiffRow::default()
        }
    }

    #[test]
    fn rows_sort_by_p_then_id_with_missing_last() {
        let rows = vec![
            row("c", 1.0, None, 1.0),
            row("b", 1.0, Some(0.01), 0.1),
            row("a", 1.0, Some(0.01), 0.1),
            row("d", 1.0, Some(0.001), 0.01),
        ];
        let ids: Vec<&str> = sorted_rows(&rows)
            .iter()
            .map(|r| r.feature_id.as_str())
            .collect();
        assert_eq!(ids, ["d", "a", "b", "c"]);
    }

    #[test]
    fn significance_needs_both_thresholds() {
        let c = ContrastResult {
            log_fc_threshold: 1.0,
            ..ContrastResult::default()
        };
        assert_eq!(
            significant(&c, &row("x", 2.0, Some(0.001), 0.01)),
            Some(true)
        );
        assert_eq!(
            significant(&c, &row("x", -2.0, Some(0.001), 0.01)),
            Some(false)
        );
        assert_eq!(significant(&c, &row("x", 0.5, Some(0.001), 0.01)), None);
        assert_eq!(significant(&c, &row("x", 2.0, Some(0.001), 0.05)), None);
    }

    #[test]
    fn volcano_survives_p_zero_and_labels_top_features() {
        let c = ContrastResult {
            layer: "proteome".into(),
            contrast: "A-B".into(),
            label_top: 1,
            rows: vec![
                row("zero", 3.0, Some(0.0), 0.0),
                row("ns", 0.1, Some(0.5), 0.9),
            ],
            ..ContrastResult::default()
        };
        let input = crate::model::ReportInput::default();
        let html = contrast(&Ctx::new(&input), &c);
        assert!(html.contains(">zero</text>"));
        assert!(!html.contains(">ns</text>"));
        assert!(html.contains("1 up and 0 down of 2 tested"));
        assert!(!html.contains("NaN") && !html.contains("inf"));
    }
}
