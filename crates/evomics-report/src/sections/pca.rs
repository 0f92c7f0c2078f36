//! Section 3: PCA scores, one panel per colouring column.

use crate::fmt::{num, percent};
use crate::model::PcaResult;
use crate::sections::{figure, grid, h3, Ctx, Section};
use crate::svg::charts::{BarChart, Point, XyPlot};
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
    if p.points.is_empty() {
        h.push_str("<p class=\"summary\">No samples.</p>\n");
        return h;
    }
    let x_title = axis_title(1, p.variance_explained.first());
    let y_title = axis_title(2, p.variance_explained.get(1));
    let ids: Vec<&str> = p.points.iter().map(|q| q.sample_id.as_str()).collect();
    let mut panels = Vec::new();
    let columns: Vec<Option<&str>> = if p.colour_by.is_empty() {
        vec![None]
    } else {
        p.colour_by.iter().map(|c| Some(c.as_str())).collect()
    };
    for col in columns {
        let levels = col.and_then(|c| ctx.column(c));
        let mut plot = XyPlot::new(
            540.0,
            400.0,
            &format!(
                "PCA of {}{}",
                p.layer,
                col.map_or(String::new(), |c| format!(" coloured by {c}"))
            ),
            &x_title,
            &y_title,
        );
        for q in &p.points {
            let (style, group) = match levels {
                Some(l) => (
                    l.style(&q.sample_id),
                    format!(" — {}: {}", l.name, l.label(&q.sample_id)),
                ),
                None => (
                    Style {
                        colour: OKABE_ITO[3],
                        ..level_style(0)
                    },
                    String::new(),
                ),
            };
            plot.points.push(Point {
                x: q.pc1,
                y: q.pc2,
                r: 5.0,
                style,
                title: format!(
                    "{}{group} (PC1 {}, PC2 {})",
                    q.sample_id,
                    num(q.pc1),
                    num(q.pc2)
                ),
            });
        }
        if let Some(l) = levels {
            plot.legend_title = Some(l.name.clone());
            plot.legend = l.legend(ids.iter().copied());
        }
        let caption = match col {
            Some(c) => format!("PC1 against PC2 of {}, coloured by {c}.", p.layer),
            None => format!("PC1 against PC2 of {}.", p.layer),
        };
        panels.push(figure(&plot.render(), &caption));
    }
    h.push_str(&grid(&panels));
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
    h
}
