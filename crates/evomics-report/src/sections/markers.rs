//! Section 6: the top markers of every group (`explore`, one group against the rest) and a
//! z-score heatmap of the strongest across samples ordered by group.

use std::fmt::Write as _;

use crate::fmt::{num, pval};
use crate::html::{Cell, Col, Esc, Table};
use crate::model::MarkerSet;
use crate::sections::{figure, h3, stem, Ctx, Section};
use crate::svg::grid::{Grid, GridScale};

const HOWTO: &str = "For each group of the grouping column, every feature is tested for a \
difference between the group and the mean of the other groups (limma, one group against the \
rest); a group's markers are its features ranked by p-value. The table shows each group's first \
markers: <em>logFC</em> is the log2 fold change of the group against the rest (positive = higher \
in the group), <em>adj.P.Val</em> the Benjamini–Hochberg adjusted p-value; the download holds \
every marker the run kept. In the heatmap each row is a marker feature, scaled to mean 0 and \
standard deviation 1 across the samples (a z-score: red above the feature's mean, blue below, \
grey where the sample has no value, a dot where the value was imputed); samples are columns \
ordered by group, as the coloured strip above shows, and the strip on the left names the group \
each row is a marker of. A good marker is a red block in its own group's columns.";

/// The markers section, or `None` without markers.
pub(crate) fn section(ctx: &Ctx<'_>) -> Option<Section> {
    if ctx.input.markers.is_empty() {
        return None;
    }
    let body: String = ctx.input.markers.iter().map(|m| set(ctx, m)).collect();
    Some(Section {
        id: "markers",
        title: "Group markers",
        howto: HOWTO,
        body,
    })
}

fn set(ctx: &Ctx<'_>, m: &MarkerSet) -> String {
    let mut h = h3(&format!("{}: markers of each {}", m.layer, m.by));
    let counts: Vec<String> = m
        .groups
        .iter()
        .map(|g| {
            let n = m.rows.iter().filter(|r| r.group == *g).count();
            format!("{g} {n}")
        })
        .collect();
    let _ = writeln!(
        h,
        "<p class=\"summary\">Direction: {}. Markers per group: {}. The page shows the first {} of each group.</p>",
        Esc(&m.direction),
        Esc(&counts.join(", ")),
        m.show_per_group
    );
    let mut t = Table::new(
        &stem(&["markers", &m.layer, &m.by]),
        &[
            (m.by.as_str(), Col::Text),
            ("Rank", Col::Num),
            ("Feature", Col::Text),
            ("Name", Col::Text),
            ("logFC", Col::Num),
            ("AveExpr", Col::Num),
            ("t", Col::Num),
            ("P.Value", Col::Num),
            ("adj.P.Val", Col::Num),
        ],
    );
    let levels = ctx.column(&m.by);
    let mut visible = Vec::with_capacity(m.rows.len());
    for r in &m.rows {
        let group = match levels {
            Some(l) => Cell::markup(
                format!(
                    "<span class=\"swatch\" style=\"background:{}\"></span>{}",
                    l.style_of(Some(&r.group)).colour,
                    Esc(&r.group)
                ),
                &r.group,
            ),
            None => Cell::text(&r.group),
        };
        t.rows.push(vec![
            group,
            Cell::count(Some(r.rank)),
            Cell::text(&r.feature_id),
            Cell::opt_text(r.name.as_deref()),
            Cell::num(r.log_fc, num),
            Cell::num(r.ave_expr, num),
            Cell::num(r.t, num),
            Cell::num(r.p_value, pval),
            Cell::num(r.adj_p_value, pval),
        ]);
        visible.push(r.rank <= m.show_per_group);
    }
    t.visible = Some(visible);
    if m.rows.is_empty() {
        h.push_str("<p class=\"summary\">No group has a marker.</p>\n");
    } else {
        h.push_str(&t.render());
    }
    if let Some(hm) = &m.heatmap {
        if !hm.features.is_empty() && !hm.samples.is_empty() {
            let label = format!("Marker z-scores of {} by {}", m.layer, m.by);
            let grid = Grid {
                label: &label,
                rows: &hm.features,
                cols: &hm.samples,
                values: &hm.values,
                marked: &hm.imputed,
                mark_label: "imputed",
                col_title: &format!("samples, ordered by {}", m.by),
                row_title: "marker",
                col_strip: levels,
                row_strip: levels.map(|l| (l, hm.feature_groups.as_slice())),
                scale: GridScale::Diverging,
                colour_title: "z-score",
            };
            let per_group = {
                let mut n: Vec<usize> = Vec::new();
                for g in &m.groups {
                    n.push(hm.feature_groups.iter().filter(|x| *x == g).count());
                }
                n.into_iter().max().unwrap_or(0)
            };
            h.push_str(&figure(
                &grid.render(),
                &format!(
                    "z-scores of the first {per_group} marker(s) of each group of {} across the {} samples of {}, samples ordered by group ({} rows; colours clipped at ±3).",
                    m.by,
                    hm.samples.len(),
                    m.layer,
                    hm.features.len()
                ),
            ));
        }
    }
    h
}
