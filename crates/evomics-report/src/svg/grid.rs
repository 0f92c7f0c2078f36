//! A rectangular heatmap: rows × columns of values with optional group strips along both
//! sides, a colour bar and, for small tables, the value printed in each cell (contingency
//! tables, z-scores of marker features across samples).

use std::fmt::Write as _;

use crate::fmt::{num, C};
use crate::groups::ColumnLevels;
use crate::svg::palette::{blues, diverging, INK};
use crate::svg::png;
use crate::svg::scale::{self, Linear};
use crate::svg::{legend, legend_height, legend_width, text_width, truncate, Anchor, Svg, SMALL};

/// Cells beyond which per-cell hover titles are left out to keep the file small.
const MAX_TITLED: usize = 4000;
/// Height (or width) of an annotation strip.
const STRIP: f64 = 12.0;
/// z-scores beyond this are drawn in the end colour of the scale.
const Z_CLIP: f64 = 3.0;

/// How values map to colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GridScale {
    /// Centred on 0, blue below and red above, symmetric and clipped at ±3 (z-scores).
    Diverging,
    /// Counts: white at 0, dark blue at the largest count; the count printed in each cell.
    Counts,
}

/// What the grid draws.
pub(crate) struct Grid<'a> {
    /// Accessible name of the SVG.
    pub(crate) label: &'a str,
    /// Row labels.
    pub(crate) rows: &'a [String],
    /// Column labels (sample ids when `col_strip` is given).
    pub(crate) cols: &'a [String],
    /// `rows.len()` rows of `cols.len()` values.
    pub(crate) values: &'a [Vec<Option<f64>>],
    /// Cells (row, column) drawn with a dot (imputed values).
    pub(crate) marked: &'a [[usize; 2]],
    /// What a mark means, for hover titles and the legend.
    pub(crate) mark_label: &'a str,
    /// Title above the column labels' axis (e.g. `source`).
    pub(crate) col_title: &'a str,
    /// Title of the row axis (e.g. `cluster`).
    pub(crate) row_title: &'a str,
    /// A strip above the columns coloured by a sample column (columns are sample ids).
    pub(crate) col_strip: Option<&'a ColumnLevels>,
    /// A strip left of the rows: the column whose levels colour it, and each row's level.
    pub(crate) row_strip: Option<(&'a ColumnLevels, &'a [String])>,
    /// Colour mapping.
    pub(crate) scale: GridScale,
    /// Title of the colour bar.
    pub(crate) colour_title: &'a str,
}

impl Grid<'_> {
    fn colour_limit(&self) -> f64 {
        let finite = self
            .values
            .iter()
            .flat_map(|r| r.iter().filter_map(|v| *v))
            .filter(|v| v.is_finite());
        match self.scale {
            GridScale::Diverging => finite.map(f64::abs).fold(0.0, f64::max).clamp(1.0, Z_CLIP),
            GridScale::Counts => finite.fold(0.0, f64::max).max(1.0),
        }
    }

    fn fill(&self, v: f64, limit: f64) -> (String, f64) {
        let t = match self.scale {
            GridScale::Diverging => 0.5 + v / (2.0 * limit),
            GridScale::Counts => v / limit,
        };
        let t = t.clamp(0.0, 1.0);
        match self.scale {
            GridScale::Diverging => (diverging(t), t),
            GridScale::Counts => (blues(t), t),
        }
    }

    /// The cells as one indexed PNG (one pixel per cell, scaled without smoothing), for grids
    /// too large for an element per cell, with the marked cells as dots in one path. The values
    /// stay in the section's table or download.
    fn draw_raster(
        &self,
        svg: &mut Svg,
        (left, top): (f64, f64),
        (cell_w, cell_h): (f64, f64),
        limit: f64,
    ) {
        let (nr, nc) = (self.rows.len(), self.cols.len());
        let palette = png::scale_palette(|t| match self.scale {
            GridScale::Diverging => diverging(t),
            GridScale::Counts => blues(t),
        });
        let mut pixels = Vec::with_capacity(nr * nc);
        for i in 0..nr {
            for j in 0..nc {
                pixels.push(
                    match self.values.get(i).and_then(|r| r.get(j)).copied().flatten() {
                        Some(v) if v.is_finite() => png::scale_index(self.fill(v, limit).1),
                        _ => png::NA_INDEX,
                    },
                );
            }
        }
        let png = png::indexed(nc as u32, nr as u32, &palette, &pixels);
        svg.image(
            (left, top),
            (cell_w * nc as f64, cell_h * nr as f64),
            &format!("data:image/png;base64,{}", crate::html::base64(&png)),
            &format!("{nr} × {nc} cells, one pixel each (no hover values at this size)"),
        );
        let mut d = String::new();
        for c in self.marked.iter().filter(|c| c[0] < nr && c[1] < nc) {
            let (x, y) = (
                left + cell_w * (c[1] as f64 + 0.5) - 1.0,
                top + cell_h * (c[0] as f64 + 0.5) - 1.0,
            );
            let _ = write!(d, "M{},{}h2v2h-2z", C(x), C(y));
        }
        if !d.is_empty() {
            svg.path(&d, &format!(" fill=\"{INK}\""));
        }
    }

    /// The SVG.
    pub(crate) fn render(&self) -> String {
        let (nr, nc) = (self.rows.len(), self.cols.len());
        let text_cells = self.scale == GridScale::Counts;
        let cell_w = if text_cells {
            (520.0 / nc.max(1) as f64).clamp(34.0, 64.0)
        } else {
            (640.0 / nc.max(1) as f64).clamp(3.0, 22.0)
        };
        let cell_h = if text_cells {
            26.0
        } else {
            (420.0 / nr.max(1) as f64).clamp(5.0, 16.0)
        };
        let show_cols = cell_w >= 7.0;
        let show_rows = cell_h >= 7.0;
        let col_font = (cell_w * 0.85).min(SMALL);
        let row_font = (cell_h * 0.85).min(SMALL);
        let row_label_w = if show_rows {
            self.rows
                .iter()
                .map(|s| text_width(&truncate(s, 24), row_font))
                .fold(0.0, f64::max)
        } else {
            0.0
        };
        let col_label_h = if show_cols {
            1.15 * self
                .cols
                .iter()
                .map(|s| text_width(&truncate(s, 24), col_font))
                .fold(0.0, f64::max)
        } else {
            0.0
        };
        let row_strip_w = if self.row_strip.is_some() {
            STRIP + 4.0
        } else {
            0.0
        };
        // `text_width` estimates average glyphs; ids of capitals and digits run wider, so the
        // axis titles keep a margin from the labels.
        let left = 10.0 + (SMALL + 8.0) + 1.15 * row_label_w.max(20.0) + 8.0 + row_strip_w;
        let strip_h = if self.col_strip.is_some() {
            STRIP + 4.0
        } else {
            0.0
        };
        let top = 10.0 + strip_h;
        let (w, h) = (cell_w * nc as f64, cell_h * nr as f64);
        let bottom = top + h;
        let cb_x = left + w + 24.0;
        let cb_h = h.clamp(100.0, 200.0);
        let strips: Vec<&ColumnLevels> = self
            .col_strip
            .into_iter()
            .chain(self.row_strip.map(|(l, _)| l))
            .collect();
        let legends: Vec<_> = strips
            .iter()
            .enumerate()
            .filter(|(i, l)| !strips[..*i].iter().any(|m| m.name == l.name))
            .map(|(_, l)| {
                let entries = match (self.col_strip, self.row_strip) {
                    (Some(c), _) if c.name == l.name => {
                        c.legend(self.cols.iter().map(String::as_str))
                    }
                    _ => self.row_strip.map_or(Vec::new(), |(l, levels)| {
                        let mut present: Vec<&String> = Vec::new();
                        for x in levels {
                            if !present.contains(&x) {
                                present.push(x);
                            }
                        }
                        present.sort_by_key(|x| l.levels.iter().position(|y| y == *x));
                        present
                            .into_iter()
                            .map(|x| crate::svg::LegendEntry {
                                label: x.clone(),
                                key: crate::svg::Key::Swatch(
                                    l.style_of(Some(x)).colour.to_string(),
                                ),
                            })
                            .collect()
                    }),
                };
                (l.name.clone(), entries)
            })
            .collect();
        let mark_legend = !self.marked.is_empty();
        let legends_w = legends.iter().map(|(t, e)| legend_width(Some(t), e)).fold(
            if mark_legend {
                text_width(self.mark_label, SMALL) + 30.0
            } else {
                0.0
            },
            f64::max,
        );
        let width = cb_x + 110.0_f64.max(legends_w) + 10.0;
        let legends_h: f64 = legends
            .iter()
            .map(|(t, e)| legend_height(Some(t), e) + 8.0)
            .sum::<f64>()
            + if mark_legend { 22.0 } else { 0.0 };
        let height =
            (bottom + col_label_h + 8.0 + SMALL + 14.0).max(top + 30.0 + cb_h + 30.0 + legends_h);
        let mut svg = Svg::new(width, height, self.label);

        let raster = nr * nc > MAX_TITLED && !text_cells;
        if let (Some(levels), true) = (self.col_strip, raster) {
            let colours: Vec<&str> = self.cols.iter().map(|s| levels.style(s).colour).collect();
            svg.colour_strip(
                (left, 10.0),
                (cell_w * nc as f64, STRIP),
                &colours,
                &format!("{} of each sample (colours in the legend)", levels.name),
            );
        } else if let Some(levels) = self.col_strip {
            for (j, s) in self.cols.iter().enumerate() {
                let title = format!("{s}: {} = {}", levels.name, levels.label(s));
                svg.rect(
                    (left + cell_w * j as f64, 10.0),
                    (cell_w + 0.3, STRIP),
                    levels.style(s).colour,
                    "",
                    Some(&title),
                );
            }
        }
        if let Some((levels, row_levels)) = self.row_strip {
            for (i, l) in row_levels.iter().enumerate().take(nr) {
                let title = format!("{}: {} = {l}", self.rows[i], levels.name);
                svg.rect(
                    (left - row_strip_w, top + cell_h * i as f64),
                    (STRIP, cell_h + 0.3),
                    levels.style_of(Some(l)).colour,
                    "",
                    Some(&title),
                );
            }
        }

        let limit = self.colour_limit();
        let marks: std::collections::BTreeSet<(usize, usize)> =
            self.marked.iter().map(|c| (c[0], c[1])).collect();
        let titled = !raster;
        if raster {
            self.draw_raster(&mut svg, (left, top), (cell_w, cell_h), limit);
        }
        for (i, row) in self.values.iter().enumerate().take(nr).filter(|_| !raster) {
            for (j, v) in row.iter().enumerate().take(nc) {
                let v = v.filter(|v| v.is_finite());
                let marked = marks.contains(&(i, j));
                let (fill, t) = match v {
                    Some(v) => self.fill(v, limit),
                    None => ("#E0E0E0".to_string(), 0.0),
                };
                let title = titled.then(|| {
                    format!(
                        "{} × {}: {}{}",
                        self.rows[i],
                        self.cols[j],
                        v.map_or_else(|| "NA".to_string(), num),
                        if marked {
                            format!(" ({})", self.mark_label)
                        } else {
                            String::new()
                        }
                    )
                });
                let (x, y) = (left + cell_w * j as f64, top + cell_h * i as f64);
                svg.rect(
                    (x, y),
                    (cell_w + 0.3, cell_h + 0.3),
                    &fill,
                    "",
                    title.as_deref(),
                );
                if marked {
                    svg.rect(
                        (x + cell_w / 2.0 - 1.0, y + cell_h / 2.0 - 1.0),
                        (2.0, 2.0),
                        INK,
                        "",
                        None,
                    );
                }
                if text_cells {
                    let text = v.map_or_else(|| "NA".to_string(), num);
                    // White on dark cells (a style: the fill attribute is the ink's).
                    let ink = if t > 0.55 {
                        " style=\"fill:#FFFFFF\""
                    } else {
                        ""
                    };
                    svg.text(
                        (x + cell_w / 2.0, y + cell_h / 2.0 + 4.0),
                        &text,
                        Anchor::Middle,
                        SMALL,
                        ink,
                    );
                }
            }
        }
        svg.rect(
            (left, top),
            (w, h),
            "none",
            &format!(" stroke=\"{INK}\" stroke-width=\"0.8\""),
            None,
        );
        if show_rows {
            for (i, s) in self.rows.iter().enumerate() {
                let cy = top + cell_h * (i as f64 + 0.5) + row_font * 0.35;
                svg.text(
                    (left - row_strip_w - 4.0, cy),
                    &truncate(s, 24),
                    Anchor::End,
                    row_font,
                    "",
                );
            }
        }
        if show_cols {
            for (j, s) in self.cols.iter().enumerate() {
                let (x, y) = (
                    left + cell_w * (j as f64 + 0.5) + col_font * 0.35,
                    bottom + 5.0,
                );
                svg.text(
                    (x, y),
                    &truncate(s, 24),
                    Anchor::End,
                    col_font,
                    &format!(" transform=\"rotate(-90 {} {})\"", C(x), C(y)),
                );
            }
        }
        svg.text(
            (left + w / 2.0, bottom + col_label_h + 8.0 + SMALL),
            self.col_title,
            Anchor::Middle,
            SMALL,
            " font-weight=\"600\"",
        );
        let (tx, ty) = (10.0 + SMALL, top + h / 2.0);
        svg.text(
            (tx, ty),
            self.row_title,
            Anchor::Middle,
            SMALL,
            &format!(
                " font-weight=\"600\" transform=\"rotate(-90 {} {})\"",
                C(tx),
                C(ty)
            ),
        );

        // Colour bar: stacked bands (no gradient ids, which would clash between plots).
        svg.text(
            (cb_x, top + 10.0),
            self.colour_title,
            Anchor::Start,
            SMALL,
            " font-weight=\"600\"",
        );
        let bar_top = top + 22.0;
        let (lo, hi) = match self.scale {
            GridScale::Diverging => (-limit, limit),
            GridScale::Counts => (0.0, limit),
        };
        let bands = 32;
        for b in 0..bands {
            let frac = b as f64 / bands as f64;
            let y = bar_top + cb_h * (1.0 - frac - 1.0 / bands as f64);
            let v = lo + (hi - lo) * (frac + 0.5 / bands as f64);
            svg.rect(
                (cb_x, y),
                (14.0, cb_h / bands as f64 + 0.4),
                &self.fill(v, limit).0,
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
        if mark_legend {
            svg.rect(
                (cb_x + 2.0, ly),
                (12.0, 12.0),
                "#F7F7F7",
                &format!(" stroke=\"{INK}\" stroke-width=\"0.4\""),
                None,
            );
            svg.rect((cb_x + 7.0, ly + 5.0), (2.0, 2.0), INK, "", None);
            svg.text(
                (cb_x + 24.0, ly + 10.0),
                self.mark_label,
                Anchor::Start,
                SMALL,
                "",
            );
            ly += 22.0;
        }
        for (t, entries) in &legends {
            legend(&mut svg, (cb_x, ly), Some(t), entries);
            ly += legend_height(Some(t), entries) + 8.0;
        }
        svg.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_printed_and_coloured_from_white() {
        let rows = vec!["1".to_string(), "2".to_string()];
        let cols = vec!["A".to_string(), "B".to_string()];
        let values = vec![vec![Some(3.0), Some(0.0)], vec![Some(0.0), None]];
        let g = Grid {
            label: "contingency",
            rows: &rows,
            cols: &cols,
            values: &values,
            marked: &[],
            mark_label: "",
            col_title: "source",
            row_title: "cluster",
            col_strip: None,
            row_strip: None,
            scale: GridScale::Counts,
            colour_title: "samples",
        };
        let out = g.render();
        assert!(out.contains("aria-label=\"contingency\""));
        assert!(out.contains("<title>1 × A: 3</title>"));
        assert!(out.contains(&format!("fill=\"{}\"", blues(1.0))));
        assert!(out.contains(&format!("fill=\"{}\"", blues(0.0))));
        assert!(out.contains(">NA</text>"));
        // The largest count is white on the darkest blue, written once as an attribute.
        assert!(out.contains("style=\"fill:#FFFFFF\">3</text>"));
        assert!(!out.contains("fill=\"#333333\" fill="));
        assert_eq!(out.matches("fill=\"#E0E0E0\"").count(), 1);
    }

    #[test]
    fn z_scores_are_centred_clipped_and_marked() {
        let rows = vec!["F1".to_string()];
        let cols = vec!["s1".to_string(), "s2".to_string(), "s3".to_string()];
        let values = vec![vec![Some(-5.0), Some(0.0), Some(1.0)]];
        let g = Grid {
            label: "z",
            rows: &rows,
            cols: &cols,
            values: &values,
            marked: &[[0, 2]],
            mark_label: "imputed",
            col_title: "sample",
            row_title: "feature",
            col_strip: None,
            row_strip: None,
            scale: GridScale::Diverging,
            colour_title: "z-score",
        };
        assert_eq!(g.colour_limit(), Z_CLIP);
        let out = g.render();
        assert!(out.contains(&format!("fill=\"{}\"", diverging(0.0))));
        assert!(out.contains(&format!("fill=\"{}\"", diverging(0.5))));
        assert!(out.contains("<title>F1 × s3: 1 (imputed)</title>"));
        assert!(!out.contains("<title>F1 × s2: 0 (imputed)</title>"));
    }

    #[test]
    fn large_z_score_grids_are_one_raster_with_marks() {
        let rows: Vec<String> = (0..20).map(|i| format!("F{i}")).collect();
        let cols: Vec<String> = (0..300).map(|j| format!("s{j}")).collect();
        let values: Vec<Vec<Option<f64>>> = (0..20)
            .map(|i| {
                (0..300)
                    .map(|j| (j != 7).then_some(((i + j) % 7) as f64 - 3.0))
                    .collect()
            })
            .collect();
        let g = Grid {
            label: "z",
            rows: &rows,
            cols: &cols,
            values: &values,
            marked: &[[0, 2], [19, 299]],
            mark_label: "imputed",
            col_title: "sample",
            row_title: "feature",
            col_strip: None,
            row_strip: None,
            scale: GridScale::Diverging,
            colour_title: "z-score",
        };
        let out = g.render();
        assert_eq!(out.matches("<image ").count(), 1);
        assert!(!out.contains("<title>F0 × s1:"));
        assert_eq!(
            out.matches("h2v2h-2z").count(),
            2,
            "one dot per marked cell"
        );
        assert!(out.len() < 30_000, "{}", out.len());
    }
}
