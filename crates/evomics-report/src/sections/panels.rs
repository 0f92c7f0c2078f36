//! Section 7: panel scores by group and panel enrichment.

use crate::fmt::{num, pval};
use crate::groups::NA;
use crate::html::{Cell, Col, Table};
use crate::model::PanelScores;
use crate::sections::{figure, grid, h3, h4, para, Ctx, Section};
use crate::svg::charts::{BoxGroup, BoxPlot};
use crate::svg::palette::NA_STYLE;
use crate::svg::TickFormat;

const HOWTO: &str = "Curated cargo panels (for example osteogenic miRNAs or proteins) are scored per \
sample; each plot shows the score distribution per group as a box (median and quartiles, whiskers \
to the furthest point within 1.5 times the box height) with every sample drawn as a dot (hover for \
its id). Groups whose boxes do not overlap differ clearly in that panel. The enrichment table tests \
whether a panel's members move together in a contrast; read the adjusted p-value, which accounts \
for testing many panels and contrasts.";

/// The panels section, or `None` without panel data.
pub(crate) fn section(ctx: &Ctx<'_>) -> Option<Section> {
    let p = ctx.input.panels.as_ref()?;
    if p.scores.is_empty() && p.enrichment.is_empty() {
        return None;
    }
    let mut body = String::new();
    if !p.scores.is_empty() {
        body.push_str(&h3("Panel scores"));
        let figures: Vec<String> = p.scores.iter().map(|s| scores(ctx, s)).collect();
        body.push_str(&grid(&figures));
    }
    if !p.enrichment.is_empty() {
        body.push_str(&h3("Panel enrichment"));
        if let Some(m) = &p.enrichment_method {
            body.push_str(&para("summary", &format!("Method: {m}.")));
        }
        let mut t = Table::new(
            "panel_enrichment",
            &[
                ("Panel", Col::Text),
                ("Layer", Col::Text),
                ("Contrast", Col::Text),
                ("Features", Col::Num),
                ("Direction", Col::Text),
                ("Statistic", Col::Num),
                ("P.Value", Col::Num),
                ("adj.P.Val", Col::Num),
            ],
        );
        for r in &p.enrichment {
            t.rows.push(vec![
                Cell::text(&r.panel),
                Cell::text(&r.layer),
                Cell::text(&r.contrast),
                Cell::count(Some(r.n_features)),
                Cell::opt_text(r.direction.as_deref()),
                Cell::num(r.statistic, num),
                Cell::num(r.p_value, pval),
                Cell::num(r.adj_p_value, pval),
            ]);
        }
        body.push_str(&t.render());
    }
    Some(Section {
        id: "panels",
        title: "Panel scores and enrichment",
        howto: HOWTO,
        body,
    })
}

fn scores(ctx: &Ctx<'_>, s: &PanelScores) -> String {
    let levels = ctx.column(&s.group_by);
    let mut groups: Vec<BoxGroup> = levels
        .map(|l| {
            l.levels
                .iter()
                .map(|name| BoxGroup {
                    label: name.clone(),
                    colour: l.style_of(Some(name)).colour,
                    values: Vec::new(),
                    titles: Vec::new(),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut na = BoxGroup {
        label: NA.into(),
        colour: NA_STYLE.colour,
        values: Vec::new(),
        titles: Vec::new(),
    };
    for sc in &s.scores {
        let Some(v) = sc.score.filter(|v| v.is_finite()) else {
            continue;
        };
        let level = levels.and_then(|l| l.value(&sc.sample_id));
        let g = match level.and_then(|lv| groups.iter_mut().find(|g| g.label == lv)) {
            Some(g) => g,
            None => &mut na,
        };
        g.titles.push(format!(
            "{} ({}): {}",
            sc.sample_id,
            level.unwrap_or(NA),
            num(v)
        ));
        g.values.push(v);
    }
    groups.retain(|g| !g.values.is_empty());
    if !na.values.is_empty() {
        groups.push(na);
    }
    let title = format!("{} ({})", s.panel, s.layer);
    let mut h = h4(&title);
    let plot = BoxPlot {
        width: 540.0,
        plot_height: 240.0,
        label: format!("Scores of panel {} by {}", s.panel, s.group_by),
        y_title: "Panel score".into(),
        y_format: TickFormat::Number,
        y_domain: None,
        groups,
        points: true,
    };
    let mut caption = format!("{} scores by {}", s.panel, s.group_by);
    if let Some(n) = s.n_members {
        caption.push_str(&format!(", {n} member(s) found in {}", s.layer));
    }
    if let Some(m) = &s.method {
        caption.push_str(&format!("; score: {m}"));
    }
    caption.push('.');
    h.push_str(&figure(&plot.render(), &caption));
    format!("<div>\n{h}</div>\n")
}
