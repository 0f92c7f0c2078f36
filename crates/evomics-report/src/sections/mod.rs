//! One module per report section; each turns its part of the input into HTML.

pub(crate) mod clustering;
pub(crate) mod differential;
pub(crate) mod header;
pub(crate) mod markers;
pub(crate) mod methods;
pub(crate) mod panels;
pub(crate) mod pca;
pub(crate) mod potency;
pub(crate) mod qc;
pub(crate) mod variance;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::groups::ColumnLevels;
use crate::html::Esc;
use crate::model::ReportInput;

/// The input plus lookups shared by sections.
pub(crate) struct Ctx<'a> {
    pub(crate) input: &'a ReportInput,
    columns: BTreeMap<String, ColumnLevels>,
}

impl<'a> Ctx<'a> {
    /// Lookups for a validated input.
    pub(crate) fn new(input: &'a ReportInput) -> Ctx<'a> {
        let columns = input
            .samples
            .iter()
            .flat_map(|t| t.columns.iter())
            .filter_map(|c| ColumnLevels::new(input.samples.as_ref(), c).map(|l| (c.clone(), l)))
            .collect();
        Ctx { input, columns }
    }

    /// Levels of a sample column (validation has checked that referenced columns exist).
    pub(crate) fn column(&self, name: &str) -> Option<&ColumnLevels> {
        self.columns.get(name)
    }
}

/// A rendered section.
pub(crate) struct Section {
    /// Anchor id.
    pub(crate) id: &'static str,
    /// Heading.
    pub(crate) title: &'static str,
    /// "How to read this" text (HTML, already escaped).
    pub(crate) howto: &'static str,
    /// Body HTML.
    pub(crate) body: String,
}

impl Section {
    /// The section's HTML with its number.
    pub(crate) fn render(&self, number: usize) -> String {
        let mut h = String::new();
        let _ = write!(
            h,
            "<section class=\"report-section\" id=\"{}\">\n<h2>{number}. {}</h2>\n<div class=\"howto\"><strong>How to read this.</strong> {}</div>\n{}</section>\n",
            self.id,
            Esc(self.title),
            self.howto,
            self.body
        );
        h
    }
}

/// A figure: an SVG and its caption (caption text is escaped here).
pub(crate) fn figure(svg: &str, caption: &str) -> String {
    format!(
        "<figure>\n{svg}<figcaption>{}</figcaption>\n</figure>\n",
        Esc(caption)
    )
}

/// Figures side by side on wide screens, stacked when printed.
pub(crate) fn grid(figures: &[String]) -> String {
    format!("<div class=\"grid\">\n{}</div>\n", figures.concat())
}

/// A sub-heading.
pub(crate) fn h3(text: &str) -> String {
    format!("<h3>{}</h3>\n", Esc(text))
}

/// A sub-sub-heading.
pub(crate) fn h4(text: &str) -> String {
    format!("<h4>{}</h4>\n", Esc(text))
}

/// A paragraph of plain text.
pub(crate) fn para(class: &str, text: &str) -> String {
    format!("<p class=\"{class}\">{}</p>\n", Esc(text))
}

/// A safe file-name stem from parts.
pub(crate) fn stem(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("_")
}

/// `s` with its first letter in upper case.
pub(crate) fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
