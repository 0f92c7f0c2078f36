//! Section 4: sample × sample heatmap in dendrogram order, and the clusterings of `cluster`:
//! k selection, agreement with the sheet's columns and cluster × column contingency tables.

use std::fmt::Write as _;

use crate::fmt::num;
use crate::groups::{ColumnLevels, NA};
use crate::html::{Cell, Col, Esc, Table};
use crate::model::{ClusterMethod, ClusterSummary, MatrixKind, SampleHeatmap};
use crate::sections::{capitalise, figure, grid, h3, h4, stem, Ctx, Section};
use crate::svg::charts::{Point, Ref, Series, XyPlot};
use crate::svg::grid::{Grid, GridScale};
use crate::svg::heatmap::Heatmap;
use crate::svg::palette::{level_style, Style, DOWN, UP};
use crate::svg::{Key, LegendEntry};

macro_rules! heatmap_howto {
    () => {
        "Each cell compares two samples; rows and columns are in the order of the \
hierarchical clustering drawn above (samples joined low in the tree are most alike). Colour follows \
the colour bar: for a similarity such as a correlation, bright cells are alike; for a distance, \
dark cells are alike. The coloured strips above the matrix show sample annotations, so blocks of one \
colour that line up with the tree's branches mean the clustering follows that annotation. The \
scale spans the off-diagonal values, so differences between samples are not washed out by the \
diagonal."
    };
}

macro_rules! clusters_howto {
    () => {
        "<strong>Clusterings.</strong> Each method clusters the samples for every candidate \
number of clusters k. The k-selection plots show the mean silhouette width (how much closer \
samples are to their own cluster than to the next; higher is better, above about 0.5 is a clear \
structure) and, when reference sets were drawn, the gap statistic with ±1 standard error bars \
(the chosen k by the gap is the smallest whose gap is within one SE of the first maximum); the \
dashed line marks the k the method used. The agreement table compares each clustering with each \
annotation column: the adjusted Rand index (ARI) is 1 for the same partition and about 0 for \
chance agreement, the normalized mutual information (NMI) runs from 0 (independent) to 1. The \
contingency heatmaps count the samples of each cluster (rows) in each level of the column \
(columns): one dark cell per row and column means the clusters are the column's groups."
    };
}

const HOWTO: &str = heatmap_howto!();
const HOWTO_CLUSTERS: &str = clusters_howto!();
const HOWTO_BOTH: &str = concat!(heatmap_howto!(), " ", clusters_howto!());

/// The clustering section, or `None` without matrices or clusterings.
pub(crate) fn section(ctx: &Ctx<'_>) -> Option<Section> {
    let (maps, clusters) = (&ctx.input.sample_clustering, &ctx.input.clusters);
    if maps.is_empty() && clusters.is_empty() {
        return None;
    }
    let mut body: String = maps.iter().map(|h| layer(ctx, h)).collect();
    for c in clusters {
        body.push_str(&clusterings(ctx, c));
    }
    Some(Section {
        id: "clustering",
        title: "Sample clustering",
        howto: match (maps.is_empty(), clusters.is_empty()) {
            (false, false) => HOWTO_BOTH,
            (true, _) => HOWTO_CLUSTERS,
            (_, true) => HOWTO,
        },
        body,
    })
}

fn layer(ctx: &Ctx<'_>, h: &SampleHeatmap) -> String {
    let mut out = h3(&format!("Layer: {}", h.layer));
    if h.order.is_empty() {
        out.push_str("<p class=\"summary\">No samples.</p>\n");
        return out;
    }
    let annotations: Vec<ColumnLevels> = h
        .annotate_by
        .iter()
        .filter_map(|c| ctx.column(c).cloned())
        .collect();
    let measure = if h.measure.trim().is_empty() {
        match h.kind {
            MatrixKind::Similarity => "similarity",
            MatrixKind::Distance => "distance",
        }
    } else {
        h.measure.as_str()
    };
    let label = format!("Sample clustering heatmap of {}", h.layer);
    let map = Heatmap {
        label: &label,
        order: &h.order,
        values: &h.values,
        dendrogram: &h.dendrogram,
        annotations: &annotations,
        measure,
        kind: h.kind,
    };
    let tree = match (&h.linkage, h.dendrogram.is_empty()) {
        (_, true) => String::new(),
        (Some(l), false) => format!(", tree: {l}"),
        (None, false) => String::new(),
    };
    out.push_str(&figure(
        &map.render(),
        &format!(
            "{} between samples of {} ({} samples, dendrogram order{tree}).",
            capitalise(measure),
            h.layer,
            h.order.len()
        ),
    ));
    out
}

/// The clusterings of one layer: k selection per method, agreement table, contingency heatmaps.
fn clusterings(ctx: &Ctx<'_>, c: &ClusterSummary) -> String {
    let mut out = h3(&format!("Clusterings of {}", c.layer));
    if !c.description.is_empty() {
        let _ = writeln!(out, "<p class=\"summary\">{}</p>", Esc(&c.description));
    }
    let chosen: Vec<String> = c
        .methods
        .iter()
        .map(|m| format!("{} k = {} ({})", m.method, m.k, m.chosen_by))
        .collect();
    if !chosen.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"summary\">Chosen: {}.</p>",
            Esc(&chosen.join("; "))
        );
    }
    let curves: Vec<String> = c
        .methods
        .iter()
        .filter(|m| !m.selection.is_empty())
        .flat_map(|m| selection_plots(&c.layer, m))
        .collect();
    if !curves.is_empty() {
        out.push_str(&h4("Choice of k"));
        out.push_str(&grid(&curves));
    }
    if !c.agreement.is_empty() {
        out.push_str(&h4("Agreement with the sample annotations"));
        let mut t = Table::new(
            &stem(&["cluster_agreement", &c.layer]),
            &[
                ("Method", Col::Text),
                ("k", Col::Num),
                ("Column", Col::Text),
                ("Samples", Col::Num),
                ("Levels", Col::Num),
                ("ARI", Col::Num),
                ("NMI", Col::Num),
            ],
        );
        for a in &c.agreement {
            t.rows.push(vec![
                Cell::text(&a.method),
                Cell::count(Some(a.k)),
                Cell::text(&a.column),
                Cell::count(Some(a.n_samples)),
                Cell::count(Some(a.n_levels)),
                Cell::num(a.ari, num),
                Cell::num(a.nmi, num),
            ]);
        }
        out.push_str(&t.render());
    }
    let mut maps = Vec::new();
    for m in &c.methods {
        for b in &c.by {
            if let Some(levels) = ctx.column(b) {
                maps.push(contingency(&c.layer, m, levels));
            }
        }
    }
    if !maps.is_empty() {
        out.push_str(&h4("Clusters against the sample annotations"));
        out.push_str(&grid(&maps));
        let mut t = Table::new(
            &stem(&["cluster_assignments", &c.layer]),
            &[
                ("Sample", Col::Text),
                ("Method", Col::Text),
                ("k", Col::Num),
                ("Cluster", Col::Num),
            ],
        );
        for m in &c.methods {
            for a in &m.assignments {
                t.rows.push(vec![
                    Cell::text(&a.sample_id),
                    Cell::text(&m.method),
                    Cell::count(Some(m.k)),
                    Cell::count(Some(a.cluster)),
                ]);
            }
        }
        t.show = 0;
        out.push_str("<p class=\"summary\">Every sample's cluster, per method:</p>\n");
        out.push_str(&t.render());
    }
    out
}

/// The silhouette curve and, when computed, the gap curve of one method, chosen k dashed.
fn selection_plots(layer: &str, m: &ClusterMethod) -> Vec<String> {
    let mut figures = Vec::new();
    let chosen_ref = (Ref::V(m.k as f64), "#999999", Some("5 4"));
    let marker = |x: f64, y: f64, colour: &'static str, title: String| Point {
        x,
        y,
        r: if x as usize == m.k { 6.0 } else { 4.0 },
        style: Style {
            colour,
            ..level_style(0)
        },
        title,
    };
    let sil: Vec<(f64, f64)> = m
        .selection
        .iter()
        .filter_map(|s| Some((s.k as f64, s.silhouette.filter(|v| v.is_finite())?)))
        .collect();
    if !sil.is_empty() {
        let mut p = XyPlot::new(
            420.0,
            280.0,
            &format!("Silhouette by k, {} of {layer}", m.method),
            "number of clusters k",
            "mean silhouette width",
        );
        p.series.push(Series {
            pts: sil.clone(),
            colour: DOWN,
            width: 1.8,
            dash: None,
            title: None,
        });
        for &(k, v) in &sil {
            p.points.push(marker(
                k,
                v,
                DOWN,
                format!("k = {}: mean silhouette {}", k as usize, num(v)),
            ));
        }
        p.refs.push(chosen_ref);
        p.legend = vec![
            LegendEntry {
                label: "silhouette".into(),
                key: Key::Line(DOWN, None),
            },
            LegendEntry {
                label: format!("chosen k = {}", m.k),
                key: Key::Line("#999999", Some("5 4")),
            },
        ];
        figures.push(figure(
            &p.render(),
            &format!(
                "Mean silhouette width for each candidate k, {} on {layer}; the dashed line is the k used ({}, {}).",
                m.method, m.k, m.chosen_by
            ),
        ));
    }
    let gap: Vec<(f64, f64, Option<f64>)> = m
        .selection
        .iter()
        .filter_map(|s| {
            Some((
                s.k as f64,
                s.gap.filter(|v| v.is_finite())?,
                s.gap_se.filter(|v| v.is_finite()),
            ))
        })
        .collect();
    if !gap.is_empty() {
        let mut p = XyPlot::new(
            420.0,
            280.0,
            &format!("Gap statistic by k, {} of {layer}", m.method),
            "number of clusters k",
            "gap",
        );
        p.series.push(Series {
            pts: gap.iter().map(|g| (g.0, g.1)).collect(),
            colour: UP,
            width: 1.8,
            dash: None,
            title: None,
        });
        for &(k, g, se) in &gap {
            if let Some(se) = se {
                p.series.push(Series {
                    pts: vec![(k, g - se), (k, g + se)],
                    colour: UP,
                    width: 1.2,
                    dash: None,
                    title: Some(format!("k = {}: gap {} ± {}", k as usize, num(g), num(se))),
                });
            }
            p.points.push(marker(
                k,
                g,
                UP,
                format!(
                    "k = {}: gap {}{}",
                    k as usize,
                    num(g),
                    se.map_or(String::new(), |s| format!(", SE {}", num(s)))
                ),
            ));
        }
        p.refs.push(chosen_ref);
        p.legend = vec![
            LegendEntry {
                label: "gap ± 1 SE".into(),
                key: Key::Line(UP, None),
            },
            LegendEntry {
                label: format!("chosen k = {}", m.k),
                key: Key::Line("#999999", Some("5 4")),
            },
        ];
        figures.push(figure(
            &p.render(),
            &format!(
                "Gap statistic (Tibshirani et al. 2001) with ±1 standard error for each candidate k, {} on {layer}; the dashed line is the k used.",
                m.method
            ),
        ));
    }
    figures
}

/// Counts of the samples of each cluster (rows) in each level of a column (columns).
fn contingency(layer: &str, m: &ClusterMethod, levels: &ColumnLevels) -> String {
    let present: Vec<Option<&str>> = {
        let mut v: Vec<Option<&str>> = levels
            .levels
            .iter()
            .map(|l| Some(l.as_str()))
            .filter(|l| {
                m.assignments
                    .iter()
                    .any(|a| levels.value(&a.sample_id) == *l)
            })
            .collect();
        if m.assignments
            .iter()
            .any(|a| levels.value(&a.sample_id).is_none())
        {
            v.push(None);
        }
        v
    };
    let cols: Vec<String> = present
        .iter()
        .map(|l| l.unwrap_or(NA).to_string())
        .collect();
    let rows: Vec<String> = (1..=m.k).map(|k| k.to_string()).collect();
    let values: Vec<Vec<Option<f64>>> = (1..=m.k)
        .map(|k| {
            present
                .iter()
                .map(|l| {
                    let n = m
                        .assignments
                        .iter()
                        .filter(|a| a.cluster == k && levels.value(&a.sample_id) == *l)
                        .count();
                    Some(n as f64)
                })
                .collect()
        })
        .collect();
    let label = format!(
        "Contingency of {} clusters against {} in {layer}",
        m.method, levels.name
    );
    let g = Grid {
        label: &label,
        rows: &rows,
        cols: &cols,
        values: &values,
        marked: &[],
        mark_label: "",
        col_title: &levels.name,
        row_title: &format!("{} cluster", m.method),
        col_strip: None,
        row_strip: None,
        scale: GridScale::Counts,
        colour_title: "samples",
    };
    figure(
        &g.render(),
        &format!(
            "Samples of {layer} per {} cluster (k = {}) and {} level ({} samples).",
            m.method,
            m.k,
            levels.name,
            m.assignments.len()
        ),
    )
}
