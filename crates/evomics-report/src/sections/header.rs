//! Section 1: run summary — command, notes, inputs with SHA-256, layers, sample counts.

use std::fmt::Write as _;

use crate::fmt::percent;
use crate::html::{Cell, Col, Esc, Table};
use crate::sections::{h3, Ctx, Section};

const HOWTO: &str = "What was analysed and how to reproduce it. Each input file is listed with its \
SHA-256 checksum: recompute it (<code>sha256sum FILE</code>) to confirm you hold the same file. The \
layers table gives each omics layer's size, the scale of its values and the share of missing cells; \
the sample table counts samples per level of each annotation column that colours and groups the plots.";

/// The run summary, or `None` when the header holds nothing beyond the title.
pub(crate) fn section(ctx: &Ctx<'_>) -> Option<Section> {
    let h = &ctx.input.header;
    let samples = ctx.input.samples.as_ref().filter(|t| !t.rows.is_empty());
    if h.command.is_none()
        && h.inputs.is_empty()
        && h.layers.is_empty()
        && h.notes.is_empty()
        && samples.is_none()
    {
        return None;
    }
    let mut body = String::new();
    if !h.notes.is_empty() {
        body.push_str("<ul class=\"notes\">\n");
        for n in &h.notes {
            let _ = writeln!(body, "<li>{}</li>", Esc(n));
        }
        body.push_str("</ul>\n");
    }
    if let Some(c) = &h.command {
        body.push_str(&h3("Command"));
        let _ = writeln!(body, "<pre class=\"command\">{}</pre>", Esc(c));
    }
    if !h.inputs.is_empty() {
        body.push_str(&h3("Input files"));
        let mut t = Table::new(
            "input_files",
            &[
                ("Role", Col::Text),
                ("Path", Col::Wrap),
                ("SHA-256", Col::Wrap),
            ],
        );
        for f in &h.inputs {
            t.rows.push(vec![
                Cell::opt_text(f.role.as_deref()),
                Cell::text(&f.path),
                Cell::markup(
                    format!("<span class=\"mono hash\">{}</span>", Esc(&f.sha256)),
                    &f.sha256,
                ),
            ]);
        }
        body.push_str(&t.render());
    }
    if !h.layers.is_empty() {
        body.push_str(&h3("Layers"));
        let mut t = Table::new(
            "layers",
            &[
                ("Layer", Col::Text),
                ("Kind", Col::Text),
                ("Scale", Col::Text),
                ("Features", Col::Num),
                ("Samples", Col::Num),
                ("Missing", Col::Num),
                ("Processing", Col::Wrap),
            ],
        );
        for l in &h.layers {
            t.rows.push(vec![
                Cell::text(&l.name),
                Cell::text(l.kind.name()),
                Cell::text(l.scale.name()),
                Cell::count(Some(l.n_features)),
                Cell::count(Some(l.n_samples)),
                Cell::num(l.missing_fraction, |v| percent(v, 1)),
                Cell::opt_text(l.processing.as_deref()),
            ]);
        }
        body.push_str(&t.render());
    }
    if let Some(table) = samples {
        body.push_str(&h3(&format!("Samples ({})", table.rows.len())));
        let mut t = Table::new(
            "sample_counts",
            &[
                ("Column", Col::Text),
                ("Levels", Col::Num),
                ("Samples per level", Col::Wrap),
            ],
        );
        for c in &table.columns {
            let Some(levels) = ctx.column(c) else {
                continue;
            };
            let ids = table.rows.iter().map(|r| r.sample_id.as_str());
            let mut parts: Vec<String> = levels
                .levels
                .iter()
                .map(|l| {
                    let n = ids
                        .clone()
                        .filter(|s| levels.value(s) == Some(l.as_str()))
                        .count();
                    format!("{l} ({n})")
                })
                .collect();
            let na = ids.filter(|s| levels.value(s).is_none()).count();
            if na > 0 {
                parts.push(format!("NA ({na})"));
            }
            t.rows.push(vec![
                Cell::text(c),
                Cell::count(Some(levels.levels.len())),
                Cell::text(&parts.join(", ")),
            ]);
        }
        body.push_str(&t.render());
    }
    Some(Section {
        id: "summary",
        title: "Run summary",
        howto: HOWTO,
        body,
    })
}
