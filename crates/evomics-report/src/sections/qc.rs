//! Section 2: per-sample QC — MISEV purity verdicts, missingness, totals, outliers; library size
//! and detected features for count layers.

use std::fmt::Write as _;

use crate::fmt::{num, percent};
use crate::groups::ColumnLevels;
use crate::html::{Cell, Col, Esc, Table};
use crate::model::{QcLayer, Verdict};
use crate::sections::{capitalise, figure, grid, h3, para, stem, Ctx, Section};
use crate::svg::charts::{Bar, BarChart, BoxGroup, BoxPlot, Point, Series, XyPlot};
use crate::svg::palette::OKABE_ITO;
use crate::svg::palette::{Shape, Style};
use crate::svg::{Key, LegendEntry, TickFormat};

const HOWTO: &str = "One block per layer. The <em>MISEV purity gate</em> checks each EV preparation \
for transmembrane and cytosolic EV markers and for the intensity share of co-isolated and \
other-compartment proteins: <span class=\"badge pass\">pass</span> all rules met, \
<span class=\"badge warn\">warn</span> a contaminant share above its warning threshold, \
<span class=\"badge fail\">fail</span> a required marker class absent or a share above its failure \
threshold; the reasons column says which. The bar charts show each sample's share of features \
without a value and its total intensity (or library size); bars are coloured by sample group, and a \
black triangle (&#9660;) above a bar marks a sample flagged as an outlier (robust z-scores of these \
metrics, reasons in the table). Count layers (small-RNA reads) are sparse: a zero count is a \
measured zero, not a missing value, so for them the charts show each sample's library size (reads) \
and detected features (count &gt; 0), and a sample is flagged only when its log library size or log \
detected features lies more than 3 MADs below the cohort median (the rule is stated under each \
layer). Look for samples that stand apart from their group.";

/// Samples above which a per-sample bar chart becomes one box per group: at 1000 px, more
/// bars leave no room for their labels.
const MAX_BARS: usize = 60;

/// A per-sample bar chart and its caption; with more than [`MAX_BARS`] samples, the same
/// values as one box per group with every sample a dot (its hover title kept), outliers
/// named in the caption.
fn per_sample(chart: &BarChart, groups: Option<&ColumnLevels>, caption: &str) -> String {
    if chart.categories.len() <= MAX_BARS {
        return figure(&chart.render(), caption);
    }
    let mut by_level: Vec<BoxGroup> = Vec::new();
    for (i, id) in chart.categories.iter().enumerate() {
        let Some(v) = chart
            .values
            .get(i)
            .copied()
            .flatten()
            .filter(|v| v.is_finite())
        else {
            continue;
        };
        let label = groups.map_or("all samples", |g| g.label(id)).to_string();
        let colour = chart.colours.get(i).copied().unwrap_or(OKABE_ITO[1]);
        let title = chart.titles.get(i).cloned().unwrap_or_default();
        match by_level.iter_mut().find(|b| b.label == label) {
            Some(b) => {
                b.values.push(v);
                b.titles.push(title);
            }
            None => by_level.push(BoxGroup {
                label,
                colour,
                values: vec![v],
                titles: vec![title],
            }),
        }
    }
    if let Some(g) = groups {
        by_level.sort_by_key(|b| {
            g.levels
                .iter()
                .position(|l| *l == b.label)
                .unwrap_or(usize::MAX)
        });
    }
    let outliers: Vec<&str> = chart
        .categories
        .iter()
        .zip(&chart.flags)
        .filter(|(_, f)| **f)
        .map(|(c, _)| c.as_str())
        .collect();
    let plot = BoxPlot {
        width: 1000.0,
        plot_height: chart.plot_height + 40.0,
        label: chart.label.clone(),
        y_title: chart.y_title.clone(),
        y_format: chart.y_format,
        y_domain: None,
        groups: by_level,
        points: true,
    };
    figure(
        &plot.render(),
        &format!(
            "{} {} samples are too many for one labelled bar each: one box per {} with every sample a dot (hover for its id); outliers: {}.",
            caption.trim_end_matches(" ▼ marks QC outliers."),
            chart.categories.len(),
            groups.map_or("layer", |g| g.name.as_str()),
            if outliers.is_empty() {
                "none".to_string()
            } else {
                outliers.join(", ")
            }
        ),
    )
}

/// Per-sample boxes of the log2 values (box: quartiles, whiskers: 5th–95th percentile, white
/// tick: median), one panel per stage (as ingested, normalized), samples in sheet order and
/// coloured by group; the quantiles as a TSV download.
fn distributions(q: &QcLayer, groups: Option<&ColumnLevels>) -> String {
    let mut figures = Vec::new();
    let mut t = Table::new(
        &stem(&["distributions", &q.layer]),
        &[
            ("stage", Col::Text),
            ("sample", Col::Text),
            ("q05", Col::Num),
            ("q25", Col::Num),
            ("median", Col::Num),
            ("q75", Col::Num),
            ("q95", Col::Num),
        ],
    );
    for d in &q.distributions {
        let mut plot = XyPlot::new(
            490.0,
            300.0,
            &format!(
                "Value distribution per sample, layer {}, {}",
                q.layer, d.stage
            ),
            "sample (sheet order)",
            "log2 value",
        );
        let n = d.samples.len();
        plot.x_domain = Some((0.0, n as f64 + 1.0));
        // Thin boxes for many samples keep a gap between neighbours.
        let half = if n > 100 { 0.5 } else { 0.35 };
        for (i, s) in d.samples.iter().enumerate() {
            let x = i as f64 + 1.0;
            let colour = groups.map_or(OKABE_ITO[1], |g| g.style(&s.sample_id).colour);
            let group = groups.map_or(String::new(), |g| format!(" ({})", g.label(&s.sample_id)));
            plot.series.push(Series {
                pts: vec![(x, s.q05), (x, s.q95)],
                colour,
                width: 1.0,
                dash: None,
                title: None,
            });
            plot.bars.push(Bar {
                x: (x - half, x + half),
                y: (s.q25, s.q75),
                colour,
                title: format!(
                    "{}{group}: median {}, quartiles {}–{}, 5–95 % {}–{}",
                    s.sample_id,
                    num(s.q50),
                    num(s.q25),
                    num(s.q75),
                    num(s.q05),
                    num(s.q95)
                ),
            });
            if n <= 100 {
                plot.series.push(Series {
                    pts: vec![(x - half, s.q50), (x + half, s.q50)],
                    colour: "#FFFFFF",
                    width: 1.5,
                    dash: None,
                    title: None,
                });
            }
            t.rows.push(vec![
                Cell::text(&d.stage),
                Cell::text(&s.sample_id),
                Cell::num(Some(s.q05), num),
                Cell::num(Some(s.q25), num),
                Cell::num(Some(s.q50), num),
                Cell::num(Some(s.q75), num),
                Cell::num(Some(s.q95), num),
            ]);
        }
        if let Some(g) = groups {
            plot.legend_title = Some(g.name.clone());
            plot.legend = g
                .legend(d.samples.iter().map(|s| s.sample_id.as_str()))
                .into_iter()
                .map(|mut e| {
                    e.key = Key::Swatch(g.style_of(Some(&e.label)).colour.to_string());
                    e
                })
                .collect();
        }
        figures.push(figure(
            &plot.render(),
            &format!(
                "{} values of {} per sample ({n} samples).",
                capitalise(&d.stage),
                q.layer
            ),
        ));
    }
    let mut h = para(
        "summary",
        "Value distributions. How to read this: one box per sample (quartiles; whiskers 5th–95th percentile; white tick the median where samples are few), as ingested and after normalization; after normalization the boxes should line up, and a sample whose box stays shifted or squeezed differs in loading or quality, not only in biology.",
    );
    h.push_str(&grid(&figures));
    h.push_str(&t.download("Quantiles: "));
    h
}

/// Each feature's share of samples that measured it against its mean log2 abundance.
fn detection(q: &QcLayer) -> String {
    let mut plot = XyPlot::new(
        1000.0,
        300.0,
        &format!("Detection against abundance, layer {}", q.layer),
        "mean log2 abundance where measured",
        "samples that measured the feature",
    );
    plot.y_domain = Some((0.0, 1.0));
    let mut t = Table::new(
        &stem(&["detection", &q.layer]),
        &[
            ("feature", Col::Text),
            ("detected", Col::Num),
            ("mean log2", Col::Num),
        ],
    );
    for f in &q.detection {
        plot.points.push(Point {
            x: f.mean,
            y: f.detected,
            r: 2.2,
            style: Style {
                colour: OKABE_ITO[3],
                shape: Shape::Circle,
            },
            title: String::new(),
        });
        t.rows.push(vec![
            Cell::text(&f.feature_id),
            Cell::num(Some(f.detected), num),
            Cell::num(Some(f.mean), num),
        ]);
    }
    let complete = q.detection.iter().filter(|f| f.detected >= 1.0).count();
    let mut h = figure(
        &plot.render(),
        &format!(
            "Missingness pattern of {} ({} features, {complete} measured in every sample; the y axis is the share of samples, 0–1). How to read this: if the features measured in few samples are the low-abundance ones (points rising to the right), values are missing because they fall below detection (missing not at random) and left-censored imputation (down-shift, MinProb) suits them; missingness unrelated to abundance points to random dropout.",
            q.layer,
            q.detection.len()
        ),
    );
    h.push_str(&t.download("Per feature: "));
    h
}

/// The QC section, or `None` without QC data.
pub(crate) fn section(ctx: &Ctx<'_>) -> Option<Section> {
    if ctx.input.qc.is_empty() {
        return None;
    }
    let mut body = String::new();
    for q in &ctx.input.qc {
        body.push_str(&layer(ctx, q));
    }
    Some(Section {
        id: "qc",
        title: "Sample quality control",
        howto: HOWTO,
        body,
    })
}

fn badge(v: Verdict) -> String {
    format!("<span class=\"badge {0}\">{0}</span>", v.name())
}

fn layer(ctx: &Ctx<'_>, q: &QcLayer) -> String {
    let mut h = h3(&format!("Layer: {}", q.layer));
    if q.samples.is_empty() {
        h.push_str("<p class=\"summary\">No samples.</p>\n");
        return h;
    }
    let groups: Option<&ColumnLevels> = q.colour_by.as_deref().and_then(|c| ctx.column(c));
    let ids: Vec<&str> = q.samples.iter().map(|s| s.sample_id.as_str()).collect();
    let n_out = q.samples.iter().filter(|s| s.outlier).count();
    let verdicts: Vec<Verdict> = q
        .samples
        .iter()
        .filter_map(|s| s.purity.as_ref().map(|p| p.verdict))
        .collect();
    let mut summary = format!(
        "{} sample(s); {n_out} flagged as outlier(s).",
        q.samples.len()
    );
    if !verdicts.is_empty() {
        let count = |v: Verdict| verdicts.iter().filter(|x| **x == v).count();
        let _ = write!(
            summary,
            " Purity gate: {} pass, {} warn, {} fail.",
            count(Verdict::Pass),
            count(Verdict::Warn),
            count(Verdict::Fail)
        );
    }
    let _ = writeln!(h, "<p class=\"summary\">{}</p>", Esc(&summary));

    let colours: Vec<&'static str> = ids
        .iter()
        .map(|s| groups.map_or(OKABE_ITO[1], |g| g.style(s).colour))
        .collect();
    let legend: Vec<LegendEntry> = groups
        .map(|g| g.legend(ids.iter().copied()))
        .unwrap_or_default();
    let legend_title = groups.map(|g| g.name.clone());
    let flags: Vec<bool> = q.samples.iter().map(|s| s.outlier).collect();
    let group_text = |s: &str| groups.map_or(String::new(), |g| format!(" ({})", g.label(s)));
    let outlier_text = |o: bool| if o { " — outlier" } else { "" };

    if let Some(rules) = &q.outlier_rules {
        let _ = writeln!(h, "<p class=\"summary\">Outlier rules: {}.</p>", Esc(rules));
    }
    let any_missing = q
        .samples
        .iter()
        .any(|s| s.missing_fraction.is_some_and(|v| v > 0.0));
    let has_missing =
        q.samples.iter().any(|s| s.missing_fraction.is_some()) && (!q.counts || any_missing);
    if q.counts && q.samples.iter().any(|s| s.detected.is_some()) {
        let chart = BarChart {
            width: 1000.0,
            plot_height: 170.0,
            label: format!("Detected features per sample, layer {}", q.layer),
            y_title: "Detected".into(),
            y_format: TickFormat::Number,
            categories: ids.iter().map(|s| s.to_string()).collect(),
            values: q
                .samples
                .iter()
                .map(|s| s.detected.map(|d| d as f64))
                .collect(),
            colours: colours.clone(),
            titles: q
                .samples
                .iter()
                .map(|s| {
                    format!(
                        "{}{}: {} detected ({}){}",
                        s.sample_id,
                        group_text(&s.sample_id),
                        s.detected.map_or_else(|| "NA".into(), |d| d.to_string()),
                        s.detected_fraction
                            .map_or_else(|| "NA".into(), |v| percent(v, 1)),
                        outlier_text(s.outlier)
                    )
                })
                .collect(),
            flags: flags.clone(),
            legend_title: legend_title.clone(),
            legend: legend.clone(),
        };
        h.push_str(&per_sample(
            &chart,
            groups,
            &format!(
                "Features detected (count > 0) per sample ({}). ▼ marks QC outliers.",
                q.layer
            ),
        ));
    }
    if has_missing {
        let chart = BarChart {
            width: 1000.0,
            plot_height: 170.0,
            label: format!("Missing values per sample, layer {}", q.layer),
            y_title: "Missing".into(),
            y_format: TickFormat::Percent,
            categories: ids.iter().map(|s| s.to_string()).collect(),
            values: q.samples.iter().map(|s| s.missing_fraction).collect(),
            colours: colours.clone(),
            titles: q
                .samples
                .iter()
                .map(|s| {
                    format!(
                        "{}{}: {} missing{}",
                        s.sample_id,
                        group_text(&s.sample_id),
                        s.missing_fraction
                            .map_or_else(|| "NA".into(), |v| percent(v, 1)),
                        outlier_text(s.outlier)
                    )
                })
                .collect(),
            flags: flags.clone(),
            legend_title: legend_title.clone(),
            legend: legend.clone(),
        };
        h.push_str(&per_sample(
            &chart,
            groups,
            &format!(
                "Share of features without a value per sample ({}). ▼ marks QC outliers.",
                q.layer
            ),
        ));
    }
    let total_label = if q.total_label.trim().is_empty() {
        "Total intensity"
    } else {
        q.total_label.as_str()
    };
    if q.samples.iter().any(|s| s.total.is_some()) {
        let chart = BarChart {
            width: 1000.0,
            plot_height: 170.0,
            label: format!("{total_label} per sample, layer {}", q.layer),
            y_title: total_label.to_string(),
            y_format: TickFormat::Number,
            categories: ids.iter().map(|s| s.to_string()).collect(),
            values: q.samples.iter().map(|s| s.total).collect(),
            colours,
            titles: q
                .samples
                .iter()
                .map(|s| {
                    format!(
                        "{}{}: {} {}{}",
                        s.sample_id,
                        group_text(&s.sample_id),
                        total_label.to_lowercase(),
                        s.total.map_or_else(|| "NA".into(), num),
                        outlier_text(s.outlier)
                    )
                })
                .collect(),
            flags,
            legend_title,
            legend,
        };
        h.push_str(&per_sample(
            &chart,
            groups,
            &format!(
                "{total_label} per sample ({}). ▼ marks QC outliers.",
                q.layer
            ),
        ));
    }

    if !q.distributions.is_empty() {
        h.push_str(&distributions(q, groups));
    }
    if !q.detection.is_empty() {
        h.push_str(&detection(q));
    }

    let group_col = groups.map_or("Group", |g| g.name.as_str());
    let mut cols: Vec<(&str, Col)> = vec![("Sample", Col::Text)];
    if groups.is_some() {
        cols.push((group_col, Col::Text));
    }
    let with_purity = !verdicts.is_empty();
    if with_purity {
        cols.extend([("Purity", Col::Text), ("Purity reasons", Col::Wrap)]);
    }
    if q.counts {
        cols.extend([
            (total_label, Col::Num),
            ("Detected", Col::Num),
            ("Detected %", Col::Num),
        ]);
        if any_missing {
            cols.push(("Missing", Col::Num));
        }
    } else {
        cols.extend([
            ("Observed", Col::Num),
            ("Missing", Col::Num),
            (total_label, Col::Num),
        ]);
    }
    cols.extend([("Outlier", Col::Text), ("Outlier reasons", Col::Wrap)]);
    let mut t = Table::new(&stem(&["qc", &q.layer]), &cols);
    for s in &q.samples {
        let mut row = vec![Cell::text(&s.sample_id)];
        if let Some(g) = groups {
            row.push(Cell::text(g.label(&s.sample_id)));
        }
        if with_purity {
            match &s.purity {
                Some(p) => {
                    row.push(Cell::markup(badge(p.verdict), p.verdict.name()));
                    row.push(Cell::text(&p.reasons.join("; ")));
                }
                None => {
                    row.push(Cell::text("NA"));
                    row.push(Cell::text(""));
                }
            }
        }
        if q.counts {
            row.push(Cell::num(s.total, num));
            row.push(Cell::count(s.detected));
            row.push(Cell::num(s.detected_fraction, |v| percent(v, 1)));
            if any_missing {
                row.push(Cell::num(s.missing_fraction, |v| percent(v, 1)));
            }
        } else {
            row.push(Cell::count(s.n_observed));
            row.push(Cell::num(s.missing_fraction, |v| percent(v, 1)));
            row.push(Cell::num(s.total, num));
        }
        row.push(if s.outlier {
            Cell::markup("<span class=\"flag\">yes</span>".into(), "yes")
        } else {
            Cell::text("no")
        });
        row.push(Cell::text(&s.outlier_reasons.join("; ")));
        t.rows.push(row);
    }
    h.push_str(&t.render());
    h
}
