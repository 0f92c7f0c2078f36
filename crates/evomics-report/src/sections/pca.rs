//! Section 3: PCA scores, one panel per colouring column.

use crate::fmt::{num, percent};
use crate::model::PcaResult;
use std::fmt::Write as _;

use crate::html::Esc;
use crate::sections::{figure, grid, h3, h4, Ctx, Section};
use crate::svg::charts::{BarChart, Point, XyPlot, CROWDED};
use crate::svg::palette::OKABE_ITO;
use crate::svg::palette::{level_style, Style};
use crate::svg::TickFormat;

const HOWTO: &str = "Each point is a sample placed by its scores on the first two principal \
components, the directions of largest variation after normalization; the axis titles give the \
share of variance each explains. Samples close together have similar profiles. The same scores are \
drawn once per annotation column: if points separate by <em>source</em> but not by <em>batch</em>, \
biology rather than processing drives the main variation. Hover over a point for its sample id. \
Colours and shapes are the same for a level throughout the report.";

/// The PCA section, or `None` without PCA data.
pub(crate) fn section(ctx: &Ctx<'_>) -> Option<Section> {
    if ctx.input.pca.is_empty() {
        return None;
    }
    let body: String = ctx.input.pca.iter().map(|p| layer(ctx, p)).collect();
    Some(Section {
        id: "pca",
        title: "Principal component analysis",
        howto: HOWTO,
        body,
    })
}

fn axis_title(pc: usize, var: Option<&f64>) -> String {
    match var {
        Some(v) => format!("PC{pc} ({} of variance)", percent(*v, 1)),
        None => format!("PC{pc}"),
    }
}

fn layer(ctx: &Ctx<'_>, p: &PcaResult) -> String {
    let mut h = h3(&format!("Layer: {}", p.layer));
    if let Some(n) = &p.note {
        h.push_str(&crate::sections::para("summary", n));
    }
    if p.points.is_empty() {
        h.push_str("<p class=\"summary\">No samples.</p>\n");
        return h;
    }
    let x_title = axis_title(1, p.variance_explained.first());
    let y_title = axis_title(2, p.variance_explained.get(1));
    let pts: Vec<(&str, f64, f64)> = p
        .points
        .iter()
        .map(|q| (q.sample_id.as_str(), q.pc1, q.pc2))
        .collect();
    let panels = coloured_panels(
        ctx,
        p,
        &pts,
        ("PCA", "PC1", "PC2"),
        (&x_title, &y_title),
        |col| match col {
            Some(c) => format!("PC1 against PC2 of {}, coloured by {c}.", p.layer),
            None => format!("PC1 against PC2 of {}.", p.layer),
        },
    );
    h.push_str(&grid(&panels));
    h.push_str(&uncoloured_note(ctx, p));
    if p.variance_explained.len() > 2 {
        let k = p.variance_explained.len().min(10);
        let chart = BarChart {
            width: 520.0,
            plot_height: 130.0,
            label: format!("Variance explained per component, {}", p.layer),
            y_title: "Variance".into(),
            y_format: TickFormat::Percent,
            categories: (1..=k).map(|i| format!("PC{i}")).collect(),
            values: p.variance_explained[..k].iter().map(|v| Some(*v)).collect(),
            colours: vec![OKABE_ITO[3]; k],
            titles: p.variance_explained[..k]
                .iter()
                .enumerate()
                .map(|(i, v)| format!("PC{}: {}", i + 1, percent(*v, 1)))
                .collect(),
            flags: Vec::new(),
            legend_title: None,
            legend: Vec::new(),
        };
        h.push_str(&figure(
            &chart.render(),
            &format!(
                "Share of variance explained by the first {k} components ({}).",
                p.layer
            ),
        ));
    }
    if let Some(u) = &p.umap {
        h.push_str(&h4("UMAP"));
        let _ = writeln!(
            h,
            "<p class=\"summary\">{} UMAP keeps each sample's nearest neighbours, not distances: the sizes of groups and the gaps between them carry no meaning, and a different seed or n_neighbors moves them.</p>",
            Esc(&u.description)
        );
        let pts: Vec<(&str, f64, f64)> = u
            .points
            .iter()
            .map(|q| (q.sample_id.as_str(), q.x, q.y))
            .collect();
        let panels = coloured_panels(
            ctx,
            p,
            &pts,
            ("UMAP", "UMAP1", "UMAP2"),
            ("UMAP1", "UMAP2"),
            |col| match col {
                Some(c) => format!("UMAP of {}, coloured by {c}.", p.layer),
                None => format!("UMAP of {}.", p.layer),
            },
        );
        h.push_str(&grid(&panels));
    }
    h
}

/// Most levels a panel is coloured by (the palette's colours and shapes stay apart up to here).
const MAX_COLOURED: usize = 12;

/// The colouring columns of `p` with more than [`MAX_COLOURED`] levels among its samples, as a
/// sentence, or nothing.
fn uncoloured_note(ctx: &Ctx<'_>, p: &PcaResult) -> String {
    let many: Vec<String> = p
        .colour_by
        .iter()
        .filter_map(|c| {
            let l = ctx.column(c)?;
            let n = p
                .points
                .iter()
                .filter_map(|q| l.value(&q.sample_id))
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            (n > MAX_COLOURED).then(|| format!("{c} ({n} levels)"))
        })
        .collect();
    if many.is_empty() {
        return String::new();
    }
    crate::sections::para(
        "summary",
        &format!(
            "Not drawn coloured by {}: more than {MAX_COLOURED} colours cannot be told apart; the samples table lists each sample's value.",
            many.join(", ")
        ),
    )
}

/// One scatter panel per colouring column of `p` (one uncoloured panel without columns):
/// `names` are the plot's name and its axes' short names (for hover titles), `titles` the axis
/// titles.
fn coloured_panels(
    ctx: &Ctx<'_>,
    p: &PcaResult,
    pts: &[(&str, f64, f64)],
    names: (&str, &str, &str),
    titles: (&str, &str),
    caption: impl Fn(Option<&str>) -> String,
) -> Vec<String> {
    let ids: Vec<&str> = pts.iter().map(|q| q.0).collect();
    // A colour per level cannot be told apart beyond MAX_COLOURED levels (e.g. one per donor
    // in a large cohort): such columns get no panel, and the caller says so.
    let readable = |c: &str| {
        ctx.column(c).is_none_or(|l| {
            let mut seen = std::collections::BTreeSet::new();
            ids.iter().filter_map(|id| l.value(id)).for_each(|v| {
                seen.insert(v);
            });
            seen.len() <= MAX_COLOURED
        })
    };
    let mut columns: Vec<Option<&str>> = p
        .colour_by
        .iter()
        .map(String::as_str)
        .filter(|c| readable(c))
        .map(Some)
        .collect();
    if columns.is_empty() {
        columns.push(None);
    }
    let mut panels = Vec::new();
    for col in columns {
        let levels = col.and_then(|c| ctx.column(c));
        let mut plot = XyPlot::new(
            540.0,
            400.0,
            &format!(
                "{} of {}{}",
                names.0,
                p.layer,
                col.map_or(String::new(), |c| format!(" coloured by {c}"))
            ),
            titles.0,
            titles.1,
        );
        for &(id, x, y) in pts {
            let (style, group) = match levels {
                Some(l) => (l.style(id), format!(" — {}: {}", l.name, l.label(id))),
                None => (
                    Style {
                        colour: OKABE_ITO[3],
                        ..level_style(0)
                    },
                    String::new(),
                ),
            };
            plot.points.push(Point {
                x,
                y,
                r: 5.0,
                style,
                // With hundreds of points the tooltip names the sample and its group; the
                // coordinates are where it is drawn.
                title: if pts.len() > CROWDED {
                    format!("{id}{group}")
                } else {
                    format!(
                        "{id}{group} ({} {}, {} {})",
                        names.1,
                        num(x),
                        names.2,
                        num(y)
                    )
                },
            });
        }
        if let Some(l) = levels {
            plot.legend_title = Some(l.name.clone());
            plot.legend = l.legend(ids.iter().copied());
        }
        panels.push(figure(&plot.render(), &caption(col)));
    }
    panels
}
