//! A sample × sample heatmap with its dendrogram, annotation strips and colour bar.

use std::fmt::Write as _;

use crate::fmt::{num, C};
use crate::groups::ColumnLevels;
use crate::model::{MatrixKind, Merge};
use crate::svg::palette::{viridis, INK};
use crate::svg::png;
use crate::svg::scale::{self, Linear};
use crate::svg::{legend, legend_height, legend_width, text_width, truncate, Anchor, Svg, SMALL};

/// Cells beyond which per-cell hover titles are left out to keep the file small.
const MAX_TITLED: usize = 100;
/// Height of the dendrogram band.
const DENDRO: f64 = 90.0;
/// Height of one annotation strip.
const STRIP: f64 = 12.0;

/// What the heatmap draws.
pub(crate) struct Heatmap<'a> {
    pub(crate) label: &'a str,
    pub(crate) order: &'a [String],
    pub(crate) values: &'a [Vec<Option<f64>>],
    pub(crate) dendrogram: &'a [Merge],
    pub(crate) annotations: &'a [ColumnLevels],
    pub(crate) measure: &'a str,
    pub(crate) kind: MatrixKind,
}

/// Colour range of the off-diagonal values (the diagonal of a correlation matrix is 1 and would
/// stretch the scale).
pub(crate) fn colour_range(values: &[Vec<Option<f64>>]) -> (f64, f64) {
    let off = values.iter().enumerate().flat_map(|(i, row)| {
        row.iter()
            .enumerate()
            .filter(move |(j, _)| *j != i)
            .filter_map(|(_, v)| *v)
    });
    let all = values.iter().flat_map(|row| row.iter().filter_map(|v| *v));
    let (lo, hi) = scale::extent(off)
        .or_else(|| scale::extent(all))
        .unwrap_or((0.0, 1.0));
    if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, hi + 0.5)
    }
}

/// `s` split at spaces into at most `max_lines` lines of about `width` characters (the last
/// line is truncated).
fn wrap(s: &str, width: usize, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in s.split_whitespace() {
        match lines.last_mut() {
            Some(l) if l.chars().count() + 1 + word.chars().count() <= width => {
                l.push(' ');
                l.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    if lines.len() > max_lines {
        let rest = lines[max_lines - 1..].join(" ");
        lines.truncate(max_lines - 1);
        lines.push(truncate(&rest, width));
    }
    lines
}

impl Heatmap<'_> {
    /// The SVG.
    pub(crate) fn render(&self) -> String {
        let n = self.order.len();
        let cell = (620.0 / n.max(1) as f64).clamp(3.0, 22.0);
        let show_labels = cell >= 7.0;
        let font = (cell * 0.85).min(SMALL);
        let label_w = if show_labels {
            self.order
                .iter()
                .map(|s| text_width(&truncate(s, 24), font))
                .fold(0.0, f64::max)
        } else {
            0.0
        };
        let strip_names = self
            .annotations
            .iter()
            .map(|a| text_width(&a.name, SMALL))
            .fold(0.0, f64::max);
        let left = 10.0 + label_w.max(strip_names) + 8.0;
        let dendro_h = if self.dendrogram.is_empty() {
            0.0
        } else {
            DENDRO
        };
        let strips_top = 10.0 + dendro_h + 4.0;
        let top = strips_top + self.annotations.len() as f64 * (STRIP + 2.0) + 4.0;
        let side = cell * n as f64;
        let bottom = top + side;
        let cb_x = left + side + 24.0;
        let cb_h = side.clamp(120.0, 220.0);
        let legends_w = self
            .annotations
            .iter()
            .map(|a| {
                legend_width(
                    Some(&a.name),
                    &a.legend(self.order.iter().map(String::as_str)),
                )
            })
            .fold(0.0, f64::max);
        let width = cb_x + 100.0_f64.max(legends_w) + 10.0;
        let legends_h: f64 = self
            .annotations
            .iter()
            .map(|a| {
                legend_height(
                    Some(&a.name),
                    &a.legend(self.order.iter().map(String::as_str)),
                ) + 8.0
            })
            .sum();
        let height = (bottom + if show_labels { label_w + 14.0 } else { 10.0 })
            .max(top + 50.0 + cb_h + 30.0 + legends_h);
        let mut svg = Svg::new(width, height, self.label);

        if !self.dendrogram.is_empty() {
            self.draw_dendrogram(&mut svg, left, cell, (10.0, 10.0 + dendro_h));
        }
        for (k, a) in self.annotations.iter().enumerate() {
            let y = strips_top + k as f64 * (STRIP + 2.0);
            svg.text(
                (left - 6.0, y + STRIP - 2.5),
                &a.name,
                Anchor::End,
                SMALL,
                "",
            );
            if n > MAX_TITLED {
                let colours: Vec<&str> = self.order.iter().map(|s| a.style(s).colour).collect();
                svg.colour_strip(
                    (left, y),
                    (cell * n as f64, STRIP),
                    &colours,
                    &format!("{} of each sample (colours in the legend)", a.name),
                );
                continue;
            }
            for (i, s) in self.order.iter().enumerate() {
                let title = format!("{s}: {} = {}", a.name, a.label(s));
                svg.rect(
                    (left + cell * i as f64, y),
                    (cell, STRIP),
                    a.style(s).colour,
                    "",
                    Some(&title),
                );
            }
        }

        let (lo, hi) = colour_range(self.values);
        let t = |v: f64| (v - lo) / (hi - lo);
        let titled = n <= MAX_TITLED;
        if !titled {
            self.draw_raster(&mut svg, (left, top), side, (lo, hi));
        }
        for (i, row) in self.values.iter().enumerate().filter(|_| titled) {
            for (j, v) in row.iter().enumerate() {
                let fill = match v {
                    Some(v) if v.is_finite() => viridis(t(*v)),
                    _ => "#E0E0E0".to_string(),
                };
                let title = titled.then(|| {
                    format!(
                        "{} × {}: {}",
                        self.order[i],
                        self.order[j],
                        v.map_or_else(|| "NA".to_string(), num)
                    )
                });
                // Cells overlap by a hair so anti-aliasing leaves no white seams.
                svg.rect(
                    (left + cell * j as f64, top + cell * i as f64),
                    (cell + 0.3, cell + 0.3),
                    &fill,
                    "",
                    title.as_deref(),
                );
            }
        }
        svg.rect(
            (left, top),
            (side, side),
            "none",
            &format!(" stroke=\"{INK}\" stroke-width=\"0.8\""),
            None,
        );
        if show_labels {
            for (i, s) in self.order.iter().enumerate() {
                let label = truncate(s, 24);
                let cy = top + cell * (i as f64 + 0.5) + font * 0.35;
                svg.text((left - 4.0, cy), &label, Anchor::End, font, "");
                let (x, y) = (left + cell * (i as f64 + 0.5) + font * 0.35, bottom + 5.0);
                svg.text(
                    (x, y),
                    &label,
                    Anchor::End,
                    font,
                    &format!(" transform=\"rotate(-90 {} {})\"", C(x), C(y)),
                );
            }
        }

        // Colour bar: stacked bands, no gradient ids (ids would clash between heatmaps).
        let cb_title = match self.kind {
            MatrixKind::Similarity => "similarity",
            MatrixKind::Distance => "distance",
        };
        let title_lines = wrap(self.measure_short(cb_title), 16, 3);
        for (k, line) in title_lines.iter().enumerate() {
            let y = top + 10.0 + 13.0 * k as f64;
            svg.text(
                (cb_x, y),
                line,
                Anchor::Start,
                SMALL,
                " font-weight=\"600\"",
            );
        }
        let bar_top = top + 10.0 + 13.0 * title_lines.len() as f64;
        let bands = 48;
        for b in 0..bands {
            let frac = b as f64 / bands as f64;
            let y = bar_top + cb_h * (1.0 - frac - 1.0 / bands as f64);
            svg.rect(
                (cb_x, y),
                (14.0, cb_h / bands as f64 + 0.4),
                &viridis(frac + 0.5 / bands as f64),
                "",
                None,
            );
        }
        svg.rect(
            (cb_x, bar_top),
            (14.0, cb_h),
            "none",
            &format!(" stroke=\"{INK}\" stroke-width=\"0.6\""),
            None,
        );
        let ticks = scale::within(lo, hi, 4);
        let ys = Linear::new((lo, hi), (bar_top + cb_h, bar_top));
        for (v, l) in ticks
            .values
            .iter()
            .zip(crate::fmt::ticks(&ticks.values, ticks.step))
        {
            let y = ys.map(*v);
            svg.line((cb_x + 14.0, y), (cb_x + 18.0, y), INK, 1.0, None);
            svg.text((cb_x + 21.0, y + 3.8), &l, Anchor::Start, SMALL, "");
        }
        let mut ly = bar_top + cb_h + 24.0;
        for a in self.annotations {
            let entries = a.legend(self.order.iter().map(String::as_str));
            legend(&mut svg, (cb_x, ly), Some(&a.name), &entries);
            ly += legend_height(Some(&a.name), &entries) + 8.0;
        }
        svg.finish()
    }

    /// The matrix as one indexed PNG, one pixel per cell scaled without smoothing, for
    /// matrices too large for an element per cell: 256 levels of viridis (finer than the eye
    /// separates) and grey for a missing value. Values stay in the section's TSV download.
    fn draw_raster(&self, svg: &mut Svg, (left, top): (f64, f64), side: f64, (lo, hi): (f64, f64)) {
        let n = self.order.len();
        let palette = png::scale_palette(viridis);
        let mut pixels = Vec::with_capacity(n * n);
        for row in self.values {
            for j in 0..n {
                pixels.push(match row.get(j).copied().flatten() {
                    Some(v) if v.is_finite() => png::scale_index((v - lo) / (hi - lo)),
                    _ => png::NA_INDEX,
                });
            }
        }
        let png = png::indexed(n as u32, self.values.len() as u32, &palette, &pixels);
        svg.image(
            (left, top),
            (side, side),
            &format!("data:image/png;base64,{}", crate::html::base64(&png)),
            &format!(
                "{n} × {n} matrix, one pixel per pair of samples (no hover values at this size; the values are in the TSV download)"
            ),
        );
    }

    fn measure_short<'b>(&'b self, fallback: &'b str) -> &'b str {
        if self.measure.trim().is_empty() {
            fallback
        } else {
            self.measure
        }
    }

    /// Draws the merge tree above the matrix, leaves at their column centres.
    fn draw_dendrogram(&self, svg: &mut Svg, left: f64, cell: f64, (y_top, y_bottom): (f64, f64)) {
        let n = self.order.len();
        let max_h = self.dendrogram.iter().map(|m| m.height).fold(0.0, f64::max);
        let min_h = self.dendrogram.iter().map(|m| m.height).fold(0.0, f64::min);
        let ys = Linear::new(
            (min_h, if max_h > min_h { max_h } else { min_h + 1.0 }),
            (y_bottom, y_top),
        );
        let mut nodes: Vec<(f64, f64)> = (0..n)
            .map(|i| (left + cell * (i as f64 + 0.5), 0.0))
            .collect();
        let mut d = String::new();
        for m in self.dendrogram {
            // Validation guarantees both children exist; skip rather than panic if called unchecked.
            let (Some(&(xa, ha)), Some(&(xb, hb))) = (nodes.get(m.left), nodes.get(m.right)) else {
                continue;
            };
            let y = ys.map(m.height);
            let _ = write!(
                d,
                "M{},{}V{}H{}V{}",
                C(xa),
                C(ys.map(ha)),
                C(y),
                C(xb),
                C(ys.map(hb))
            );
            nodes.push(((xa + xb) / 2.0, m.height));
        }
        svg.path(
            &d,
            &format!(" fill=\"none\" stroke=\"{INK}\" stroke-width=\"0.9\""),
        );
        let ticks = scale::within(min_h, max_h.max(min_h + 1e-12), 3);
        let ax = left - 6.0;
        svg.line(
            (ax, ys.map(ticks.lo)),
            (ax, ys.map(ticks.hi)),
            INK,
            0.8,
            None,
        );
        for (v, l) in ticks
            .values
            .iter()
            .zip(crate::fmt::ticks(&ticks.values, ticks.step))
        {
            let y = ys.map(*v);
            svg.line((ax - 3.0, y), (ax, y), INK, 0.8, None);
            svg.text((ax - 5.0, y + 3.5), &l, Anchor::End, SMALL - 1.5, "");
        }
        let (tx, ty) = (ax - 34.0, (y_top + y_bottom) / 2.0);
        svg.text(
            (tx, ty),
            "height",
            Anchor::Middle,
            SMALL - 1.5,
            &format!(" transform=\"rotate(-90 {} {})\"", C(tx), C(ty)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix() -> Vec<Vec<Option<f64>>> {
        vec![
            vec![Some(1.0), Some(0.9), Some(0.2)],
            vec![Some(0.9), Some(1.0), None],
            vec![Some(0.2), None, Some(1.0)],
        ]
    }

    #[test]
    fn titles_wrap_at_spaces() {
        let lines = wrap("Pearson correlation of log2 values", 16, 3);
        assert_eq!(lines, ["Pearson", "correlation of", "log2 values"]);
        assert_eq!(wrap("a b c d", 1, 2), ["a", "…"]);
        assert!(wrap("", 10, 2).is_empty());
    }

    #[test]
    fn colour_range_ignores_the_diagonal() {
        assert_eq!(colour_range(&matrix()), (0.2, 0.9));
        assert_eq!(colour_range(&[vec![Some(1.0)]]), (0.5, 1.5));
    }

    #[test]
    fn heatmap_draws_cells_tree_and_missing_cells() {
        let order: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let values = matrix();
        let merges = [
            Merge {
                left: 0,
                right: 1,
                height: 0.1,
            },
            Merge {
                left: 3,
                right: 2,
                height: 0.8,
            },
        ];
        let h = Heatmap {
            label: "clustering",
            order: &order,
            values: &values,
            dendrogram: &merges,
            annotations: &[],
            measure: "Pearson r",
            kind: MatrixKind::Similarity,
        };
        let out = h.render();
        assert!(out.contains("<title>a × b: 0.9</title>"));
        assert_eq!(out.matches("fill=\"#E0E0E0\"").count(), 2);
        let tree = out.lines().find(|l| l.starts_with("<path d=\"M")).unwrap();
        assert_eq!(tree.matches('M').count(), 2, "{tree}");
        assert!(out.contains(&format!("fill=\"{}\"", viridis(1.0))));
    }

    #[test]
    fn large_matrix_is_one_raster_image() {
        let n = MAX_TITLED + 20;
        let order: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
        let values: Vec<Vec<Option<f64>>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| (i != 3 || j != 4).then_some((i * j % 7) as f64))
                    .collect()
            })
            .collect();
        let h = Heatmap {
            label: "clustering",
            order: &order,
            values: &values,
            dendrogram: &[],
            annotations: &[],
            measure: "Euclidean distance",
            kind: MatrixKind::Distance,
        };
        let out = h.render();
        assert_eq!(out.matches("<image ").count(), 1);
        assert!(out.contains("href=\"data:image/png;base64,iVBORw0KGgo"));
        // Only the frame and the 48 colour-bar bands are rectangles, not the n² cells.
        assert!(
            out.matches("<rect").count() < 60,
            "{}",
            out.matches("<rect").count()
        );
        assert!(out.len() < 40_000, "{}", out.len());
    }
}
