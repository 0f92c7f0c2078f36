//! Section 4: sample × sample heatmap in dendrogram order.

use crate::groups::ColumnLevels;
use crate::model::{MatrixKind, SampleHeatmap};
use crate::sections::{capitalise, figure, h3, Ctx, Section};
use crate::svg::heatmap::Heatmap;

const HOWTO: &str = "Each cell compares two samples; rows and columns are in the order of the \
hierarchical clustering drawn above (samples joined low in the tree are most alike). Colour follows \
the colour bar: for a similarity such as a correlation, bright cells are alike; for a distance, \
dark cells are alike. The coloured strips above the matrix show sample annotations, so blocks of one \
colour that line up with the tree's branches mean the clustering follows that annotation. The \
scale spans the off-diagonal values, so differences between samples are not washed out by the \
diagonal.";

/// The clustering section, or `None` without matrices.
pub(crate) fn section(ctx: &Ctx<'_>) -> Option<Section> {
    if ctx.input.sample_clustering.is_empty() {
        return None;
    }
    let body: String = ctx
        .input
        .sample_clustering
        .iter()
        .map(|h| layer(ctx, h))
        .collect();
    Some(Section {
        id: "clustering",
        title: "Sample clustering",
        howto: HOWTO,
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
        (Some(l), false) => format!(", {l} linkage"),
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
