//! Hand-written SVG: a small element builder, axes, legends and the chart types the report
//! uses. Coordinates are printed with one decimal so output is byte-stable.

pub(crate) mod charts;
pub(crate) mod grid;
pub(crate) mod heatmap;
pub(crate) mod palette;
pub(crate) mod png;
pub(crate) mod scale;

use std::fmt::Write as _;

use crate::fmt::{ticks as tick_labels, C};
use crate::html::Esc;
use palette::{Shape, Style, INK};
use scale::{Linear, Ticks};

/// Font size of tick labels and legends.
pub(crate) const SMALL: f64 = 11.0;
/// Font size of axis titles.
pub(crate) const MEDIUM: f64 = 12.0;

/// Estimated width in pixels of `s` at font size `size` (a sans-serif average).
pub(crate) fn text_width(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.56
}

/// `s` cut to `max` characters with an ellipsis.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Horizontal text anchor.
#[derive(Clone, Copy)]
pub(crate) enum Anchor {
    Start,
    Middle,
    End,
}

impl Anchor {
    fn name(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }
}

/// An SVG document being written.
pub(crate) struct Svg {
    out: String,
}

impl Svg {
    /// Opens an `<svg>` of `w` × `h` pixels whose accessible name is `label`.
    pub(crate) fn new(w: f64, h: f64, label: &str) -> Svg {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"{}\" font-size=\"{SMALL}\">",
            C(w),
            C(h),
            C(w),
            C(h),
            Esc(label)
        );
        Svg { out }
    }

    /// A straight line.
    pub(crate) fn line(
        &mut self,
        (x1, y1): (f64, f64),
        (x2, y2): (f64, f64),
        stroke: &str,
        width: f64,
        dash: Option<&str>,
    ) {
        let _ = write!(
            self.out,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{stroke}\" stroke-width=\"{width}\"",
            C(x1),
            C(y1),
            C(x2),
            C(y2)
        );
        if let Some(d) = dash {
            let _ = write!(self.out, " stroke-dasharray=\"{d}\"");
        }
        self.out.push_str("/>\n");
    }

    /// A rectangle with optional extra attributes and hover title.
    pub(crate) fn rect(
        &mut self,
        (x, y): (f64, f64),
        (w, h): (f64, f64),
        fill: &str,
        extra: &str,
        title: Option<&str>,
    ) {
        let _ = write!(
            self.out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{fill}\"{extra}",
            C(x),
            C(y),
            C(w.max(0.0)),
            C(h.max(0.0))
        );
        self.close("rect", title);
    }

    /// Text at (`x`, `y`); `extra` adds attributes (rotation, weight, class).
    pub(crate) fn text(
        &mut self,
        (x, y): (f64, f64),
        s: &str,
        anchor: Anchor,
        size: f64,
        extra: &str,
    ) {
        let _ = writeln!(
            self.out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"{}\" font-size=\"{size}\" fill=\"{INK}\"{extra}>{}</text>",
            C(x),
            C(y),
            anchor.name(),
            Esc(s)
        );
    }

    /// A polyline through `pts`.
    pub(crate) fn polyline(
        &mut self,
        pts: &[(f64, f64)],
        stroke: &str,
        width: f64,
        dash: Option<&str>,
        title: Option<&str>,
    ) {
        self.out.push_str("<polyline points=\"");
        for (i, (x, y)) in pts.iter().enumerate() {
            if i > 0 {
                self.out.push(' ');
            }
            let _ = write!(self.out, "{},{}", C(*x), C(*y));
        }
        let _ = write!(
            self.out,
            "\" fill=\"none\" stroke=\"{stroke}\" stroke-width=\"{width}\" stroke-linejoin=\"round\""
        );
        if let Some(d) = dash {
            let _ = write!(self.out, " stroke-dasharray=\"{d}\"");
        }
        self.close("polyline", title);
    }

    /// Opens a group `<g{attrs}>`; close it with [`Svg::close_group`].
    pub(crate) fn open_group(&mut self, attrs: &str) {
        let _ = writeln!(self.out, "<g{attrs}>");
    }

    /// Closes the group opened last.
    pub(crate) fn close_group(&mut self) {
        self.out.push_str("</g>\n");
    }

    /// A path with data `d`.
    pub(crate) fn path(&mut self, d: &str, attrs: &str) {
        let _ = writeln!(self.out, "<path d=\"{d}\"{attrs}/>");
    }

    /// An embedded raster image (a `data:` URL) stretched to `w` × `h` without smoothing.
    pub(crate) fn image(
        &mut self,
        (x, y): (f64, f64),
        (w, h): (f64, f64),
        href: &str,
        title: &str,
    ) {
        let _ = writeln!(
            self.out,
            "<image x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" preserveAspectRatio=\"none\" style=\"image-rendering:pixelated\" href=\"{}\"><title>{}</title></image>",
            C(x),
            C(y),
            C(w),
            C(h),
            Esc(href),
            Esc(title)
        );
    }

    /// A strip of `colours.len()` cells (`#rrggbb`) side by side, as one image one pixel high
    /// stretched to `w` × `h`: an annotation strip of hundreds of samples without an element
    /// per sample.
    pub(crate) fn colour_strip(
        &mut self,
        at: (f64, f64),
        size: (f64, f64),
        colours: &[&str],
        title: &str,
    ) {
        let mut palette: Vec<&str> = Vec::new();
        let pixels: Vec<u8> = colours
            .iter()
            .map(|c| {
                let k = palette.iter().position(|p| p == c).unwrap_or_else(|| {
                    palette.push(c);
                    palette.len() - 1
                });
                k.min(255) as u8
            })
            .collect();
        let rgb: Vec<[u8; 3]> = palette.iter().map(|c| png::hex_rgb(c)).collect();
        let image = png::indexed(colours.len() as u32, 1, &rgb, &pixels);
        self.image(
            at,
            size,
            &format!("data:image/png;base64,{}", crate::html::base64(&image)),
            title,
        );
    }

    /// A data marker of radius `r` at (`x`, `y`) in `style`, with a hover title.
    pub(crate) fn marker(
        &mut self,
        (x, y): (f64, f64),
        r: f64,
        style: Style,
        extra: &str,
        title: Option<&str>,
    ) {
        let fill = style.colour;
        let tag = match style.shape {
            Shape::Circle => {
                let _ = write!(
                    self.out,
                    "<circle cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{fill}\"{extra}",
                    C(x),
                    C(y),
                    C(r)
                );
                "circle"
            }
            Shape::Square => {
                let s = r * 0.9;
                let _ = write!(
                    self.out,
                    "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{fill}\"{extra}",
                    C(x - s),
                    C(y - s),
                    C(2.0 * s),
                    C(2.0 * s)
                );
                "rect"
            }
            Shape::Triangle => {
                let s = r * 1.25;
                let _ = write!(
                    self.out,
                    "<path d=\"M{},{}L{},{}L{},{}Z\" fill=\"{fill}\"{extra}",
                    C(x),
                    C(y - s),
                    C(x + s * 0.95),
                    C(y + s * 0.65),
                    C(x - s * 0.95),
                    C(y + s * 0.65)
                );
                "path"
            }
            Shape::Diamond => {
                let s = r * 1.25;
                let _ = write!(
                    self.out,
                    "<path d=\"M{},{}L{},{}L{},{}L{},{}Z\" fill=\"{fill}\"{extra}",
                    C(x),
                    C(y - s),
                    C(x + s),
                    C(y),
                    C(x),
                    C(y + s),
                    C(x - s),
                    C(y)
                );
                "path"
            }
        };
        self.close(tag, title);
    }

    /// Ends the element `tag` just opened: self-closing, or with a `<title>` child.
    fn close(&mut self, tag: &str, title: Option<&str>) {
        match title {
            Some(t) => {
                let _ = writeln!(self.out, "><title>{}</title></{tag}>", Esc(t));
            }
            None => self.out.push_str("/>\n"),
        }
    }

    /// Closes the document.
    pub(crate) fn finish(mut self) -> String {
        self.out.push_str("</svg>\n");
        self.out
    }
}

/// The plot area inside an SVG.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame {
    pub(crate) left: f64,
    pub(crate) top: f64,
    pub(crate) width: f64,
    pub(crate) height: f64,
}

impl Frame {
    pub(crate) fn right(&self) -> f64 {
        self.left + self.width
    }
    pub(crate) fn bottom(&self) -> f64 {
        self.top + self.height
    }
}

/// How tick values are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TickFormat {
    /// Numbers (with k/M/G for large ones).
    Number,
    /// Fractions shown as percentages.
    Percent,
}

fn labels_for(t: &Ticks, format: TickFormat) -> Vec<String> {
    match format {
        TickFormat::Number => tick_labels(&t.values, t.step),
        TickFormat::Percent => {
            let pct: Vec<f64> = t.values.iter().map(|v| v * 100.0).collect();
            tick_labels(&pct, t.step * 100.0)
                .into_iter()
                .map(|s| s + "%")
                .collect()
        }
    }
}

/// Draws a light grid, the y axis with ticks and title, and (when `x` is given) the x axis.
pub(crate) fn axes(
    svg: &mut Svg,
    f: Frame,
    x: Option<(&Linear, &Ticks, TickFormat, &str)>,
    y: (&Linear, &Ticks, TickFormat, &str),
) {
    let (ys, yt, yf, ytitle) = y;
    let mut widest: f64 = 0.0;
    for (v, label) in yt.values.iter().zip(labels_for(yt, yf)) {
        let py = ys.map(*v);
        svg.line((f.left, py), (f.right(), py), "#E6E6E6", 1.0, None);
        svg.line((f.left - 4.0, py), (f.left, py), INK, 1.0, None);
        svg.text((f.left - 7.0, py + 3.8), &label, Anchor::End, SMALL, "");
        widest = widest.max(text_width(&label, SMALL));
    }
    svg.line((f.left, f.top), (f.left, f.bottom()), INK, 1.0, None);
    let tx = f.left - widest - 18.0;
    let ty = f.top + f.height / 2.0;
    svg.text(
        (tx, ty),
        ytitle,
        Anchor::Middle,
        MEDIUM,
        &format!(" transform=\"rotate(-90 {} {})\"", C(tx), C(ty)),
    );
    if let Some((xs, xt, xf, xtitle)) = x {
        for (v, label) in xt.values.iter().zip(labels_for(xt, xf)) {
            let px = xs.map(*v);
            svg.line((px, f.top), (px, f.bottom()), "#E6E6E6", 1.0, None);
            svg.line((px, f.bottom()), (px, f.bottom() + 4.0), INK, 1.0, None);
            svg.text((px, f.bottom() + 16.0), &label, Anchor::Middle, SMALL, "");
        }
        svg.line(
            (f.left, f.bottom()),
            (f.right(), f.bottom()),
            INK,
            1.0,
            None,
        );
        svg.text(
            (f.left + f.width / 2.0, f.bottom() + 36.0),
            xtitle,
            Anchor::Middle,
            MEDIUM,
            "",
        );
    }
}

/// What a legend entry draws.
#[derive(Debug, Clone)]
pub(crate) enum Key {
    /// A marker.
    Marker(Style),
    /// A line, optionally dashed.
    Line(&'static str, Option<&'static str>),
    /// A filled box.
    Swatch(String),
}

/// One legend entry.
#[derive(Debug, Clone)]
pub(crate) struct LegendEntry {
    pub(crate) label: String,
    pub(crate) key: Key,
}

/// Width a legend needs.
pub(crate) fn legend_width(title: Option<&str>, entries: &[LegendEntry]) -> f64 {
    if entries.is_empty() {
        return 0.0;
    }
    let w = entries
        .iter()
        .map(|e| 26.0 + text_width(&truncate(&e.label, 28), SMALL))
        .fold(title.map_or(0.0, |t| text_width(t, SMALL) + 4.0), f64::max);
    w + 12.0
}

/// Height a legend needs.
pub(crate) fn legend_height(title: Option<&str>, entries: &[LegendEntry]) -> f64 {
    if entries.is_empty() {
        return 0.0;
    }
    entries.len() as f64 * 17.0 + if title.is_some() { 18.0 } else { 0.0 }
}

/// Draws a legend with its top-left corner at (`x`, `y`).
pub(crate) fn legend(
    svg: &mut Svg,
    (x, mut y): (f64, f64),
    title: Option<&str>,
    entries: &[LegendEntry],
) {
    if let Some(t) = title {
        svg.text(
            (x, y + 10.0),
            t,
            Anchor::Start,
            SMALL,
            " font-weight=\"600\"",
        );
        y += 18.0;
    }
    for e in entries {
        let cy = y + 7.0;
        match &e.key {
            Key::Marker(style) => svg.marker(
                (x + 8.0, cy),
                4.5,
                *style,
                " stroke=\"#fff\" stroke-width=\"0.8\"",
                None,
            ),
            Key::Line(colour, dash) => svg.line((x, cy), (x + 18.0, cy), colour, 2.0, *dash),
            Key::Swatch(colour) => svg.rect((x + 2.0, cy - 6.0), (12.0, 12.0), colour, "", None),
        }
        let label = truncate(&e.label, 28);
        svg.text((x + 24.0, cy + 4.0), &label, Anchor::Start, SMALL, "");
        y += 17.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_closed_and_titles_escaped() {
        let mut s = Svg::new(100.0, 50.0, "a \"plot\"");
        s.marker((10.0, 10.0), 3.0, palette::level_style(0), "", Some("<x>"));
        s.marker((10.0, 10.0), 3.0, palette::level_style(8), "", None);
        s.marker((10.0, 10.0), 3.0, palette::level_style(16), "", Some("t"));
        s.rect((0.0, 0.0), (5.0, -1.0), "#000", "", Some("r"));
        s.polyline(
            &[(0.0, 0.0), (1.0, 2.0)],
            "#000",
            1.0,
            Some("4 2"),
            Some("p"),
        );
        let out = s.finish();
        assert!(out.contains("aria-label=\"a &quot;plot&quot;\""));
        assert!(out.contains("<circle cx=\"10.0\" cy=\"10.0\" r=\"3.0\" fill=\"#E69F00\"><title>&lt;x&gt;</title></circle>"));
        assert!(out
            .contains("<rect x=\"7.3\" y=\"7.3\" width=\"5.4\" height=\"5.4\" fill=\"#E69F00\"/>"));
        assert!(out.contains("Z\" fill=\"#E69F00\"><title>t</title></path>"));
        assert!(out.contains("height=\"0.0\" fill=\"#000\"><title>r</title></rect>"));
        assert!(out.contains("stroke-dasharray=\"4 2\"><title>p</title></polyline>"));
        assert!(out.ends_with("</svg>\n"));
    }

    #[test]
    fn axes_label_ticks() {
        let f = Frame {
            left: 50.0,
            top: 10.0,
            width: 200.0,
            height: 100.0,
        };
        let yt = scale::within(0.0, 1.0, 4);
        let ys = Linear::new((0.0, 1.0), (f.bottom(), f.top));
        let xt = scale::nice(0.0, 2e6, 4);
        let xs = Linear::new((xt.lo, xt.hi), (f.left, f.right()));
        let mut s = Svg::new(300.0, 160.0, "axes");
        axes(
            &mut s,
            f,
            Some((&xs, &xt, TickFormat::Number, "Total")),
            (&ys, &yt, TickFormat::Percent, "Missing"),
        );
        let out = s.finish();
        for want in [
            ">0%<",
            ">40%<",
            ">100%<",
            ">1.0M<",
            ">2.0M<",
            ">Total<",
            ">Missing<",
        ] {
            assert!(out.contains(want), "{want} missing in {out}");
        }
    }

    #[test]
    fn truncation_and_legend_size() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        let entries = vec![LegendEntry {
            label: "BM-MSC".into(),
            key: Key::Marker(palette::level_style(0)),
        }];
        assert!(legend_width(Some("source"), &entries) > 40.0);
        assert_eq!(legend_height(None, &[]), 0.0);
        assert_eq!(legend_height(Some("source"), &entries), 35.0);
    }
}
