//! HTML helpers: escaping, base64, and tables that carry their own TSV download.

use std::fmt::{self, Write as _};

use crate::fmt as nf;

/// Text escaped for HTML and SVG element content and quoted attribute values.
pub(crate) struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut start = 0;
        for (i, c) in self.0.char_indices() {
            let rep = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                // Control characters other than tab and newline are not allowed in HTML text.
                c if c.is_control() && c != '\t' && c != '\n' => "\u{FFFD}",
                _ => continue,
            };
            f.write_str(&self.0[start..i])?;
            f.write_str(rep)?;
            start = i + c.len_utf8();
        }
        f.write_str(&self.0[start..])
    }
}

/// [`Esc`] as an owned string.
pub(crate) fn esc(s: &str) -> String {
    Esc(s).to_string()
}

/// Standard base64 with padding (RFC 4648).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(A[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A file name made of safe characters only, for the `download` attribute.
pub(crate) fn file_name(stem: &str) -> String {
    let mut s: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    s.push_str(".tsv");
    s
}

/// TSV downloads larger than this many bytes are embedded gzip-compressed.
pub(crate) const GZIP_ABOVE: usize = 16 * 1024;

/// `bytes` as a gzip member with no name and modification time 0, so that the report's bytes
/// depend only on its input.
pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = z.write_all(bytes);
    z.finish().unwrap_or_default()
}

/// One table cell: what the page shows and what the TSV holds.
pub(crate) struct Cell {
    html: String,
    tsv: String,
}

impl Cell {
    /// Plain text, escaped.
    pub(crate) fn text(s: &str) -> Cell {
        Cell {
            html: esc(s),
            tsv: tsv_text(s),
        }
    }

    /// Optional text, `NA` when absent.
    pub(crate) fn opt_text(s: Option<&str>) -> Cell {
        Cell::text(s.unwrap_or("NA"))
    }

    /// A number shown with `f`, written in full in the TSV.
    pub(crate) fn num(v: Option<f64>, f: fn(f64) -> String) -> Cell {
        Cell {
            html: nf::opt(v.filter(|v| !v.is_nan()), f),
            tsv: nf::tsv(v),
        }
    }

    /// A count.
    pub(crate) fn count(v: Option<usize>) -> Cell {
        let s = v.map_or_else(|| "NA".to_string(), |v| v.to_string());
        Cell {
            html: s.clone(),
            tsv: s,
        }
    }

    /// Ready-made markup (already escaped) and its TSV text.
    pub(crate) fn markup(html: String, tsv: &str) -> Cell {
        Cell {
            html,
            tsv: tsv_text(tsv),
        }
    }
}

fn tsv_text(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '\t' || c == '\n' || c == '\r' {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// How a column is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Col {
    /// Short text, kept on one line.
    Text,
    /// Numbers, right-aligned on one line.
    Num,
    /// Long text that wraps (reasons, paths, descriptions).
    Wrap,
}

impl Col {
    fn class(self) -> &'static str {
        match self {
            Col::Text => "",
            Col::Num => " class=\"num\"",
            Col::Wrap => " class=\"wrap\"",
        }
    }
}

/// Most rows a table shows in the page; longer tables are collapsed to their first rows, with
/// a line saying so, and the download holds every row.
pub(crate) const MAX_SHOWN: usize = 50;

/// A table with a TSV download of all its rows.
pub(crate) struct Table {
    /// Download file name stem.
    pub(crate) file: String,
    /// Column headers and layouts.
    pub(crate) columns: Vec<(String, Col)>,
    /// Rows of cells, one per column.
    pub(crate) rows: Vec<Vec<Cell>>,
    /// Rows shown in the page (at most [`MAX_SHOWN`]); the download always has all of them.
    pub(crate) show: usize,
    /// When set, exactly the rows marked `true` are shown in the page (`show` and
    /// [`MAX_SHOWN`] are ignored: the section chose them, e.g. the first markers of every group).
    pub(crate) visible: Option<Vec<bool>>,
}

impl Table {
    /// A table that shows every row.
    pub(crate) fn new(file: &str, columns: &[(&str, Col)]) -> Table {
        Table {
            file: file.to_string(),
            columns: columns.iter().map(|(c, n)| (c.to_string(), *n)).collect(),
            rows: Vec::new(),
            show: usize::MAX,
            visible: None,
        }
    }

    /// The TSV text: a header line and one line per row.
    pub(crate) fn tsv(&self) -> String {
        let mut out = String::new();
        let header: Vec<String> = self.columns.iter().map(|(c, _)| tsv_text(c)).collect();
        out.push_str(&header.join("\t"));
        out.push('\n');
        for row in &self.rows {
            let cells: Vec<&str> = row.iter().map(|c| c.tsv.as_str()).collect();
            out.push_str(&cells.join("\t"));
            out.push('\n');
        }
        out
    }

    /// The table and its download link.
    pub(crate) fn render(&self) -> String {
        let mut h = String::new();
        h.push_str("<div class=\"table-wrap\"><table>\n<thead><tr>");
        for (c, col) in &self.columns {
            let _ = write!(h, "<th{}>{}</th>", col.class(), Esc(c));
        }
        h.push_str("</tr></thead>\n<tbody>\n");
        let shown_rows: Vec<&Vec<Cell>> = match &self.visible {
            Some(v) => self
                .rows
                .iter()
                .zip(v.iter().chain(std::iter::repeat(&false)))
                .filter(|(_, keep)| **keep)
                .map(|(r, _)| r)
                .collect(),
            None => self.rows.iter().take(self.show.min(MAX_SHOWN)).collect(),
        };
        let shown = shown_rows.len();
        for row in shown_rows {
            h.push_str("<tr>");
            for (cell, (_, col)) in row.iter().zip(&self.columns) {
                let _ = write!(h, "<td{}>{}</td>", col.class(), cell.html);
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</tbody></table></div>\n");
        let n = self.rows.len();
        h.push_str(&self.foot(&if shown < n {
            format!("Showing {shown} of {n} rows; the download holds all of them. ")
        } else {
            String::new()
        }));
        h
    }

    /// Only the download link of the table, after `lead` (plain text): the data of a plot.
    pub(crate) fn download(&self, lead: &str) -> String {
        self.foot(lead)
    }

    fn foot(&self, lead: &str) -> String {
        let n = self.rows.len();
        let rows = if n == 1 { "" } else { "s" };
        let tsv = self.tsv();
        if tsv.len() > GZIP_ABOVE {
            // Large tables travel gzip-compressed (a third of the size or less): R, pandas,
            // polars and spreadsheet tools open `.tsv.gz` directly.
            return format!(
                "<p class=\"table-foot\">{}<a class=\"download\" download=\"{}.gz\" href=\"data:application/gzip;base64,{}\">Download TSV, gzip ({n} row{rows})</a></p>\n",
                Esc(lead),
                Esc(&file_name(&self.file)),
                base64(&gzip(tsv.as_bytes())),
            );
        }
        format!(
            "<p class=\"table-foot\">{}<a class=\"download\" download=\"{}\" href=\"data:text/tab-separated-values;charset=utf-8;base64,{}\">Download TSV ({n} row{rows})</a></p>\n",
            Esc(lead),
            Esc(&file_name(&self.file)),
            base64(tsv.as_bytes()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_neutralises_markup() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(esc("BM-MSC µ ü"), "BM-MSC µ ü");
        assert_eq!(esc("a\u{0}b"), "a\u{FFFD}b");
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), coded);
            assert_eq!(evomics_testkit::decode_base64(coded), plain.as_bytes());
        }
    }

    #[test]
    fn file_names_are_sanitised() {
        assert_eq!(file_name("qc proteome/../x\"y"), "qc_proteome_.._x_y.tsv");
    }

    #[test]
    fn table_escapes_cells_and_downloads_every_row() {
        let mut t = Table::new("t", &[("id", Col::Text), ("value", Col::Num)]);
        t.rows.push(vec![
            Cell::text("<b>a\tb</b>"),
            Cell::num(Some(0.1), nf::num),
        ]);
        t.rows.push(vec![Cell::text("c"), Cell::num(None, nf::num)]);
        t.show = 1;
        assert_eq!(t.tsv(), "id\tvalue\n<b>a b</b>\t0.1\nc\tNA\n");
        let html = t.render();
        assert!(html.contains("&lt;b&gt;a\tb&lt;/b&gt;"));
        assert!(!html.contains("<b>"));
        assert!(html.contains("Showing 1 of 2 rows"));
        assert!(html.contains(&base64(t.tsv().as_bytes())));
        assert!(html.contains("download=\"t.tsv\""));
    }

    #[test]
    fn large_downloads_are_gzip_and_round_trip() {
        use std::io::Read as _;
        let mut t = Table::new("big", &[("id", Col::Text), ("value", Col::Num)]);
        for i in 0..8000 {
            t.rows.push(vec![
                Cell::text(&format!("PROT{i:05}")),
                Cell::num(Some(i as f64 / 7.0), nf::num),
            ]);
        }
        t.show = 10;
        assert!(t.tsv().len() > GZIP_ABOVE);
        let html = t.render();
        assert!(
            html.contains("download=\"big.tsv.gz\""),
            "{}",
            &html[html.len() - 300..]
        );
        assert!(html.contains("Download TSV, gzip (8000 rows)"));
        let coded = html
            .split("href=\"data:application/gzip;base64,")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap();
        let bytes = evomics_testkit::decode_base64(coded);
        let mut plain = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut plain)
            .unwrap();
        assert_eq!(plain, t.tsv());
        assert!(
            coded.len() * 2 < t.tsv().len(),
            "compressed to half or less, base64 included"
        );
        assert_eq!(gzip(b"x"), gzip(b"x"), "deterministic");
    }
}
