//! The chart types: x–y plots (scatter, curves, histograms), vertical bars per category, box
//! plots with strips, and horizontal (stacked) bars.

use std::fmt::Write as _;

use evomics_core::num::quantile7_sorted;

use crate::fmt::C;
use crate::svg::palette::{Shape, Style, INK, NEUTRAL};
use crate::svg::scale::{self, Linear, Ticks};
use crate::svg::{
    axes, legend, legend_height, legend_width, text_width, truncate, Anchor, Frame, LegendEntry,
    Svg, TickFormat, MEDIUM, SMALL,
};

/// Stroke drawn around markers so that overlapping points stay apart.
const HALO: &str = " stroke=\"#fff\" stroke-width=\"0.8\"";
/// The halo of translucent points.
const HALO_TRANSLUCENT: &str = " stroke=\"#fff\" stroke-width=\"0.5\" fill-opacity=\"0.6\"";
/// Points above which a scatter plot draws them translucent.
pub(crate) const CROWDED: usize = 150;

/// Ticks for `values` (padded by `pad`), or inside `fixed` when given.
fn axis_ticks(
    values: impl IntoIterator<Item = f64>,
    fixed: Option<(f64, f64)>,
    pad: f64,
    target: usize,
) -> Ticks {
    match fixed {
        Some((lo, hi)) => scale::within(lo, hi, target),
        None => {
            let (lo, hi) = scale::extent(values).unwrap_or((0.0, 1.0));
            let (plo, phi) = scale::pad(lo, hi, pad);
            // Padding never crosses zero: counts and -log10 p start at 0, not at -5.
            let plo = if lo >= 0.0 && plo < 0.0 { 0.0 } else { plo };
            let phi = if hi <= 0.0 && phi > 0.0 { 0.0 } else { phi };
            scale::nice(plo, phi, target)
        }
    }
}

/// A data point.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    pub(crate) x: f64,
    pub(crate) y: f64,
    pub(crate) r: f64,
    pub(crate) style: Style,
    pub(crate) title: String,
}

/// A line through points.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub(crate) pts: Vec<(f64, f64)>,
    pub(crate) colour: &'static str,
    pub(crate) width: f64,
    pub(crate) dash: Option<&'static str>,
    pub(crate) title: Option<String>,
}

/// A rectangle in data coordinates (histogram bins).
#[derive(Debug, Clone)]
pub(crate) struct Bar {
    pub(crate) x: (f64, f64),
    pub(crate) y: (f64, f64),
    pub(crate) colour: &'static str,
    pub(crate) title: String,
}

/// A reference line.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ref {
    /// Horizontal at this y.
    H(f64),
    /// Vertical at this x.
    V(f64),
    /// The identity line y = x.
    Diagonal,
}

/// A text label attached to a data point; placed to avoid other labels.
#[derive(Debug, Clone)]
pub(crate) struct Label {
    pub(crate) x: f64,
    pub(crate) y: f64,
    pub(crate) text: String,
}

/// A scatter / line / histogram plot on two linear axes.
#[derive(Debug, Clone)]
pub(crate) struct XyPlot {
    pub(crate) width: f64,
    pub(crate) height: f64,
    pub(crate) label: String,
    pub(crate) x_title: String,
    pub(crate) y_title: String,
    pub(crate) x_domain: Option<(f64, f64)>,
    pub(crate) y_domain: Option<(f64, f64)>,
    pub(crate) points: Vec<Point>,
    pub(crate) series: Vec<Series>,
    pub(crate) bars: Vec<Bar>,
    pub(crate) refs: Vec<(Ref, &'static str, Option<&'static str>)>,
    pub(crate) labels: Vec<Label>,
    pub(crate) legend_title: Option<String>,
    pub(crate) legend: Vec<LegendEntry>,
}

impl XyPlot {
    /// An empty plot of `width` × `height` pixels.
    pub(crate) fn new(
        width: f64,
        height: f64,
        label: &str,
        x_title: &str,
        y_title: &str,
    ) -> XyPlot {
        XyPlot {
            width,
            height,
            label: label.to_string(),
            x_title: x_title.to_string(),
            y_title: y_title.to_string(),
            x_domain: None,
            y_domain: None,
            points: Vec::new(),
            series: Vec::new(),
            bars: Vec::new(),
            refs: Vec::new(),
            labels: Vec::new(),
            legend_title: None,
            legend: Vec::new(),
        }
    }

    fn xs(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self.points.iter().map(|p| p.x).collect();
        v.extend(self.series.iter().flat_map(|s| s.pts.iter().map(|p| p.0)));
        v.extend(self.bars.iter().flat_map(|b| [b.x.0, b.x.1]));
        v.extend(
            self.refs
                .iter()
                .filter_map(|r| if let Ref::V(x) = r.0 { Some(x) } else { None }),
        );
        v
    }

    fn ys(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self.points.iter().map(|p| p.y).collect();
        v.extend(self.series.iter().flat_map(|s| s.pts.iter().map(|p| p.1)));
        v.extend(self.bars.iter().flat_map(|b| [b.y.0, b.y.1]));
        v.extend(
            self.refs
                .iter()
                .filter_map(|r| if let Ref::H(y) = r.0 { Some(y) } else { None }),
        );
        v
    }

    /// The SVG.
    pub(crate) fn render(&self) -> String {
        self.render_counting_labels().0
    }

    /// The SVG and the number of [`XyPlot::labels`] drawn (a label with no position free of
    /// overlap inside the plot area is left out).
    pub(crate) fn render_counting_labels(&self) -> (String, usize) {
        let lt = self.legend_title.as_deref();
        let lw = legend_width(lt, &self.legend);
        let f = Frame {
            left: 66.0,
            top: 12.0,
            width: (self.width - 66.0 - 14.0 - lw).max(60.0),
            height: (self.height - 12.0 - 46.0).max(60.0),
        };
        let xt = axis_ticks(self.xs(), self.x_domain, 0.04, 6);
        let yt = axis_ticks(self.ys(), self.y_domain, 0.04, 5);
        let xs = Linear::new((xt.lo, xt.hi), (f.left, f.right()));
        let ys = Linear::new((yt.lo, yt.hi), (f.bottom(), f.top));
        let mut svg = Svg::new(self.width, self.height.max(f.bottom() + 46.0), &self.label);
        axes(
            &mut svg,
            f,
            Some((&xs, &xt, TickFormat::Number, &self.x_title)),
            (&ys, &yt, TickFormat::Number, &self.y_title),
        );
        if !self.bars.is_empty() {
            svg.open_group(" stroke=\"#fff\" stroke-width=\"0.5\"");
        }
        for b in &self.bars {
            let (x0, x1) = (xs.map(b.x.0), xs.map(b.x.1));
            let (y0, y1) = (ys.map(b.y.0), ys.map(b.y.1));
            svg.rect(
                (x0.min(x1), y0.min(y1)),
                ((x1 - x0).abs(), (y1 - y0).abs()),
                b.colour,
                "",
                Some(&b.title),
            );
        }
        if !self.bars.is_empty() {
            svg.close_group();
        }
        for (r, colour, dash) in &self.refs {
            match r {
                Ref::H(y) if y.is_finite() => svg.line(
                    (f.left, ys.map(*y)),
                    (f.right(), ys.map(*y)),
                    colour,
                    1.2,
                    *dash,
                ),
                Ref::V(x) if x.is_finite() => svg.line(
                    (xs.map(*x), f.top),
                    (xs.map(*x), f.bottom()),
                    colour,
                    1.2,
                    *dash,
                ),
                Ref::Diagonal => {
                    let lo = xt.lo.max(yt.lo);
                    let hi = xt.hi.min(yt.hi);
                    if lo < hi {
                        svg.line(
                            (xs.map(lo), ys.map(lo)),
                            (xs.map(hi), ys.map(hi)),
                            colour,
                            1.2,
                            *dash,
                        );
                    }
                }
                _ => {}
            }
        }
        // Many series (a whisker per sample): consecutive untitled, undashed series of one
        // colour and width become one path, drawn exactly as the separate lines were.
        let merge = self.series.len() > CROWDED;
        let mut run: Option<(&str, f64, String)> = None;
        for s in &self.series {
            let pts: Vec<(f64, f64)> = s
                .pts
                .iter()
                .filter(|p| p.0.is_finite() && p.1.is_finite())
                .map(|p| (xs.map(p.0), ys.map(p.1)))
                .collect();
            if pts.len() < 2 {
                continue;
            }
            let mergeable = merge && s.title.is_none() && s.dash.is_none();
            if let Some((colour, width, d)) = run.take() {
                if mergeable && colour == s.colour && width == s.width {
                    run = Some((colour, width, d));
                } else {
                    flush_run(&mut svg, colour, width, &d);
                }
            }
            if mergeable {
                let d = &mut run
                    .get_or_insert_with(|| (s.colour, s.width, String::new()))
                    .2;
                for (k, (x, y)) in pts.iter().enumerate() {
                    let _ = write!(d, "{}{},{}", if k == 0 { 'M' } else { 'L' }, C(*x), C(*y));
                }
            } else {
                svg.polyline(&pts, s.colour, s.width, s.dash, s.title.as_deref());
            }
        }
        if let Some((colour, width, d)) = run {
            flush_run(&mut svg, colour, width, &d);
        }
        // Many points overplot: drawn translucent, dense regions show as darker; the shared
        // attributes go on one group rather than on every point.
        let crowded = self.points.len() > CROWDED;
        let extra = if crowded { "" } else { HALO };
        if crowded {
            dot_density(&mut svg, &xs, &ys, &self.points);
            svg.open_group(HALO_TRANSLUCENT);
        }
        for p in self
            .points
            .iter()
            .filter(|p| p.x.is_finite() && p.y.is_finite())
            .filter(|p| !(crowded && untitled_circle(p)))
        {
            svg.marker(
                (xs.map(p.x), ys.map(p.y)),
                p.r,
                p.style,
                extra,
                (!p.title.is_empty()).then_some(p.title.as_str()),
            );
        }
        if crowded {
            svg.close_group();
        }
        let drawn = place_labels(&mut svg, f, &xs, &ys, &self.labels);
        if !self.legend.is_empty() {
            legend(&mut svg, (f.right() + 16.0, f.top), lt, &self.legend);
        }
        (svg.finish(), drawn)
    }
}

/// One path of merged series lines.
fn flush_run(svg: &mut Svg, colour: &str, width: f64, d: &str) {
    svg.path(
        d,
        &format!(
            " fill=\"none\" stroke=\"{colour}\" stroke-width=\"{width}\" stroke-linejoin=\"round\""
        ),
    );
}

/// A point drawn in a crowded plot's density layer rather than as its own element.
fn untitled_circle(p: &Point) -> bool {
    p.title.is_empty() && p.style.shape == Shape::Circle
}

/// Opacity of a density dot by how many points share its pixel: 1, 2–3, 4–7, 8 or more.
const DENSITY_OPACITY: [(usize, &str); 4] = [(1, "0.45"), (2, "0.6"), (4, "0.75"), (8, "0.9")];

/// The untitled circles of a crowded plot (the non-significant bulk of a volcano or MA plot):
/// one point per occupied pixel, as zero-length round-capped strokes grouped into one path per
/// colour, radius and density level, darker where more points share the pixel. Drawn beneath
/// every titled point. A circle element per point would cost ~80 bytes; a pixel here ~9, and
/// points hidden under one another cost nothing.
fn dot_density(svg: &mut Svg, xs: &Linear, ys: &Linear, points: &[Point]) {
    use std::collections::BTreeMap;
    // (colour, radius in 1/100 px) → pixel → points there; BTreeMaps keep the output stable.
    type Pixels = BTreeMap<(i64, i64), usize>;
    let mut layers: BTreeMap<(&str, u32), Pixels> = BTreeMap::new();
    let mut first_seen: Vec<(&str, u32)> = Vec::new();
    for p in points
        .iter()
        .filter(|p| p.x.is_finite() && p.y.is_finite() && untitled_circle(p))
    {
        let key = (p.style.colour, (p.r * 100.0).round() as u32);
        if !layers.contains_key(&key) {
            first_seen.push(key);
        }
        let px = (xs.map(p.x).round() as i64, ys.map(p.y).round() as i64);
        *layers.entry(key).or_default().entry(px).or_insert(0) += 1;
    }
    // Layers in the order their first point came, so the caller's drawing order holds.
    for key in first_seen {
        let cells = &layers[&key];
        for (k, (from, opacity)) in DENSITY_OPACITY.iter().enumerate() {
            let to = DENSITY_OPACITY.get(k + 1).map_or(usize::MAX, |n| n.0);
            let mut d = String::new();
            for ((x, y), _) in cells.iter().filter(|(_, n)| (*from..to).contains(*n)) {
                let _ = write!(d, "M{x} {y}h0");
            }
            if !d.is_empty() {
                svg.path(
                    &d,
                    &format!(
                        " fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" stroke-linecap=\"round\" stroke-opacity=\"{opacity}\"",
                        key.0,
                        C(2.0 * key.1 as f64 / 100.0)
                    ),
                );
            }
        }
    }
}

/// Font size of point labels.
const LABEL_SIZE: f64 = SMALL - 0.5;

/// Estimated width of a point label as drawn: capitals (gene symbols) run wider than the
/// average [`text_width`] assumes, hence the 15 % margin.
pub(crate) fn label_width(text: &str) -> f64 {
    text_width(text, LABEL_SIZE) * 1.15
}

/// Writes labels next to their points, trying positions beside the point and then above and
/// below on both sides, so that no label overlaps another or leaves the plot area; a label
/// moved away from its point gets a leader line, and a label with no free position is left
/// out. Returns the number of labels drawn.
///
/// The labels are drawn in a `<g class="labels">` whose `data-frame` attribute holds the plot
/// area (`left top right bottom`), so that their geometry can be checked from the SVG.
fn place_labels(svg: &mut Svg, f: Frame, xs: &Linear, ys: &Linear, labels: &[Label]) -> usize {
    const H: f64 = 12.0;
    // Steps up and down tried for a label, in lines of text.
    const STEPS: [f64; 13] = [
        0.0, -1.0, 1.0, -2.0, 2.0, -3.0, 3.0, -4.0, 4.0, -5.0, 5.0, -6.0, 6.0,
    ];
    let mut placed: Vec<(f64, f64, f64, f64)> = Vec::new();
    let overlaps = |b: &(f64, f64, f64, f64), placed: &[(f64, f64, f64, f64)]| {
        // A small gap keeps neighbouring labels from touching.
        const GAP: f64 = 3.0;
        placed
            .iter()
            .any(|p| b.0 < p.2 + GAP && p.0 < b.2 + GAP && b.1 < p.3 + 1.0 && p.1 < b.3 + 1.0)
    };
    let drawable: Vec<&Label> = labels
        .iter()
        .filter(|l| l.x.is_finite() && l.y.is_finite())
        .collect();
    if drawable.is_empty() {
        return 0;
    }
    svg.open_group(&format!(
        " class=\"labels\" data-frame=\"{} {} {} {}\"",
        C(f.left),
        C(f.top),
        C(f.right()),
        C(f.bottom())
    ));
    for l in drawable {
        let (px, py) = (xs.map(l.x), ys.map(l.y));
        let text = truncate(&l.text, 24);
        let w = label_width(&text);
        let right_first = px < f.left + f.width * 0.6;
        let boxed = |(right, dy): (bool, f64)| {
            let x0 = if right { px + 6.0 } else { px - 6.0 - w };
            (x0, py + dy - 8.0, x0 + w, py + dy + 4.0)
        };
        // Coordinates are printed rounded to 0.1 px: keep that much clear of the edges.
        let inside = |b: &(f64, f64, f64, f64)| {
            b.0 >= f.left + 0.1
                && b.2 <= f.right() - 0.1
                && b.1 >= f.top + 0.1
                && b.3 <= f.bottom() - 0.1
        };
        let choice = STEPS
            .iter()
            .flat_map(|k| [(right_first, k * H), (!right_first, k * H)])
            .find(|c| {
                let b = boxed(*c);
                inside(&b) && !overlaps(&b, &placed)
            });
        let Some((right, dy)) = choice else {
            continue;
        };
        let b = boxed((right, dy));
        placed.push(b);
        if dy != 0.0 {
            let lx = if right { b.0 - 1.0 } else { b.2 + 1.0 };
            svg.line((px, py), (lx, py + dy - 2.0), "#777777", 0.7, None);
        }
        let (x, anchor) = if right {
            (b.0, Anchor::Start)
        } else {
            (b.2, Anchor::End)
        };
        svg.text(
            (x, py + dy + 2.0),
            &text,
            anchor,
            LABEL_SIZE,
            " stroke=\"#fff\" stroke-width=\"3\" paint-order=\"stroke\"",
        );
    }
    svg.close_group();
    placed.len()
}

/// Vertical bars, one per category (sample), with optional flags drawn above bars.
#[derive(Debug, Clone)]
pub(crate) struct BarChart {
    pub(crate) width: f64,
    pub(crate) plot_height: f64,
    pub(crate) label: String,
    pub(crate) y_title: String,
    pub(crate) y_format: TickFormat,
    pub(crate) categories: Vec<String>,
    pub(crate) values: Vec<Option<f64>>,
    pub(crate) colours: Vec<&'static str>,
    pub(crate) titles: Vec<String>,
    pub(crate) flags: Vec<bool>,
    pub(crate) legend_title: Option<String>,
    pub(crate) legend: Vec<LegendEntry>,
}

/// Categories beyond which x labels are left out (the hover titles still name each bar).
pub(crate) const MAX_X_LABELS: usize = 90;

impl BarChart {
    /// The SVG.
    pub(crate) fn render(&self) -> String {
        let n = self.categories.len();
        let show_labels = n <= MAX_X_LABELS;
        let lt = self.legend_title.as_deref();
        let lw = legend_width(lt, &self.legend);
        let f = Frame {
            left: 70.0,
            top: 14.0,
            width: (self.width - 70.0 - 14.0 - lw).max(80.0),
            height: self.plot_height,
        };
        let longest = self
            .categories
            .iter()
            .map(|c| text_width(&truncate(c, 22), SMALL - 1.0))
            .fold(0.0, f64::max);
        let rotate = longest + 6.0 > f.width / n.max(1) as f64;
        let label_room = match (show_labels, rotate) {
            (false, _) => 8.0,
            (true, true) => longest * 0.72 + 14.0,
            (true, false) => 22.0,
        };
        let height = (f.bottom() + label_room).max(f.top + legend_height(lt, &self.legend) + 10.0);
        let max =
            scale::extent(self.values.iter().flatten().copied()).map_or(1.0, |(_, hi)| hi.max(0.0));
        let yt = if self.y_format == TickFormat::Percent && max <= 1.0 {
            scale::nice(0.0, max.max(0.05), 5)
        } else {
            scale::nice(0.0, if max > 0.0 { max } else { 1.0 }, 5)
        };
        let ys = Linear::new((yt.lo, yt.hi), (f.bottom(), f.top));
        let mut svg = Svg::new(self.width, height, &self.label);
        axes(&mut svg, f, None, (&ys, &yt, self.y_format, &self.y_title));
        let band = f.width / n.max(1) as f64;
        let bw = (band * 0.78).max(1.0);
        for i in 0..n {
            let cx = f.left + band * (i as f64 + 0.5);
            let title = self.titles.get(i).map(String::as_str);
            match self
                .values
                .get(i)
                .copied()
                .flatten()
                .filter(|v| v.is_finite())
            {
                Some(v) => {
                    let top = ys.map(v.max(0.0));
                    let colour = self.colours.get(i).copied().unwrap_or(NEUTRAL);
                    svg.rect(
                        (cx - bw / 2.0, top),
                        (bw, f.bottom() - top),
                        colour,
                        "",
                        title,
                    );
                    if self.flags.get(i).copied().unwrap_or(false) {
                        let s = (bw / 2.0).clamp(3.0, 6.0);
                        svg.path(
                            &format!(
                                "M{},{}L{},{}L{},{}Z",
                                C(cx - s),
                                C(top - 3.0 - 1.6 * s),
                                C(cx + s),
                                C(top - 3.0 - 1.6 * s),
                                C(cx),
                                C(top - 3.0)
                            ),
                            &format!(" fill=\"{INK}\""),
                        );
                    }
                }
                None => svg.text((cx, f.bottom() - 3.0), "NA", Anchor::Middle, 8.0, ""),
            }
            if show_labels && rotate {
                let (x, y) = (cx + 3.0, f.bottom() + 8.0);
                svg.text(
                    (x, y),
                    &truncate(&self.categories[i], 22),
                    Anchor::End,
                    SMALL - 1.0,
                    &format!(" transform=\"rotate(-45 {} {})\"", C(x), C(y)),
                );
            } else if show_labels {
                svg.text(
                    (cx, f.bottom() + 15.0),
                    &self.categories[i],
                    Anchor::Middle,
                    SMALL - 1.0,
                    "",
                );
            }
        }
        svg.line(
            (f.left, f.bottom()),
            (f.right(), f.bottom()),
            INK,
            1.0,
            None,
        );
        if !self.legend.is_empty() {
            legend(&mut svg, (f.right() + 16.0, f.top), lt, &self.legend);
        }
        svg.finish()
    }
}

/// One group of a box plot.
#[derive(Debug, Clone)]
pub(crate) struct BoxGroup {
    pub(crate) label: String,
    pub(crate) colour: &'static str,
    pub(crate) values: Vec<f64>,
    /// Hover titles of the points (same length as `values` when points are drawn).
    pub(crate) titles: Vec<String>,
}

/// Box plots side by side, with the individual points (strip) or only the outliers.
#[derive(Debug, Clone)]
pub(crate) struct BoxPlot {
    pub(crate) width: f64,
    pub(crate) plot_height: f64,
    pub(crate) label: String,
    pub(crate) y_title: String,
    pub(crate) y_format: TickFormat,
    pub(crate) y_domain: Option<(f64, f64)>,
    pub(crate) groups: Vec<BoxGroup>,
    pub(crate) points: bool,
}

impl BoxPlot {
    /// The SVG.
    pub(crate) fn render(&self) -> String {
        let longest = self
            .groups
            .iter()
            .map(|g| text_width(&truncate(&g.label, 20), SMALL))
            .fold(0.0, f64::max);
        let n = self.groups.len().max(1);
        let f0 = self.width - 70.0 - 14.0;
        let rotate = longest > f0 / n as f64 - 6.0;
        let label_room = if rotate { longest * 0.72 + 30.0 } else { 36.0 };
        let f = Frame {
            left: 70.0,
            top: 12.0,
            width: f0.max(60.0),
            height: self.plot_height,
        };
        let yt = axis_ticks(
            self.groups.iter().flat_map(|g| g.values.iter().copied()),
            self.y_domain,
            0.05,
            5,
        );
        let ys = Linear::new((yt.lo, yt.hi), (f.bottom(), f.top));
        let mut svg = Svg::new(self.width, f.bottom() + label_room, &self.label);
        axes(&mut svg, f, None, (&ys, &yt, self.y_format, &self.y_title));
        let band = f.width / n as f64;
        let bw = (band * 0.5).min(70.0);
        for (i, g) in self.groups.iter().enumerate() {
            let cx = f.left + band * (i as f64 + 0.5);
            let mut sorted: Vec<f64> = g.values.iter().copied().filter(|v| v.is_finite()).collect();
            sorted.sort_by(f64::total_cmp);
            if !sorted.is_empty() {
                let (q1, med, q3) = (
                    quantile7_sorted(&sorted, 0.25),
                    quantile7_sorted(&sorted, 0.5),
                    quantile7_sorted(&sorted, 0.75),
                );
                let iqr = q3 - q1;
                let lo = sorted
                    .iter()
                    .copied()
                    .find(|v| *v >= q1 - 1.5 * iqr)
                    .unwrap_or(q1);
                let hi = sorted
                    .iter()
                    .rev()
                    .copied()
                    .find(|v| *v <= q3 + 1.5 * iqr)
                    .unwrap_or(q3);
                let title = format!(
                    "{}: n = {}, median {}, IQR {} to {}",
                    g.label,
                    sorted.len(),
                    crate::fmt::num(med),
                    crate::fmt::num(q1),
                    crate::fmt::num(q3)
                );
                svg.line((cx, ys.map(hi)), (cx, ys.map(q3)), INK, 1.0, None);
                svg.line((cx, ys.map(q1)), (cx, ys.map(lo)), INK, 1.0, None);
                svg.line(
                    (cx - bw / 4.0, ys.map(hi)),
                    (cx + bw / 4.0, ys.map(hi)),
                    INK,
                    1.0,
                    None,
                );
                svg.line(
                    (cx - bw / 4.0, ys.map(lo)),
                    (cx + bw / 4.0, ys.map(lo)),
                    INK,
                    1.0,
                    None,
                );
                svg.rect(
                    (cx - bw / 2.0, ys.map(q3)),
                    (bw, ys.map(q1) - ys.map(q3)),
                    g.colour,
                    &format!(" fill-opacity=\"0.35\" stroke=\"{INK}\" stroke-width=\"1\""),
                    Some(&title),
                );
                svg.line(
                    (cx - bw / 2.0, ys.map(med)),
                    (cx + bw / 2.0, ys.map(med)),
                    INK,
                    2.0,
                    None,
                );
                if !self.points {
                    for v in sorted.iter().filter(|v| **v < lo || **v > hi) {
                        svg.marker(
                            (cx, ys.map(*v)),
                            1.8,
                            Style {
                                colour: "#777777",
                                ..crate::svg::palette::NA_STYLE
                            },
                            "",
                            None,
                        );
                    }
                }
            }
            if self.points {
                for (k, v) in g.values.iter().enumerate().filter(|(_, v)| v.is_finite()) {
                    // A fixed low-discrepancy sequence spreads points evenly and reproducibly.
                    let jitter = ((k as f64 * 0.618_033_988_749_895).fract() - 0.5) * bw * 0.8;
                    svg.marker(
                        (cx + jitter, ys.map(*v)),
                        3.6,
                        Style {
                            colour: g.colour,
                            shape: crate::svg::palette::Shape::Circle,
                        },
                        &format!(" stroke=\"{INK}\" stroke-width=\"0.6\""),
                        g.titles.get(k).map(String::as_str),
                    );
                }
            }
            let label = truncate(&g.label, 20);
            let count = format!("n = {}", g.values.iter().filter(|v| v.is_finite()).count());
            if rotate {
                let (x, y) = (cx + 4.0, f.bottom() + 10.0);
                svg.text(
                    (x, y),
                    &format!("{label} ({count})"),
                    Anchor::End,
                    SMALL,
                    &format!(" transform=\"rotate(-40 {} {})\"", C(x), C(y)),
                );
            } else {
                svg.text((cx, f.bottom() + 16.0), &label, Anchor::Middle, SMALL, "");
                svg.text(
                    (cx, f.bottom() + 29.0),
                    &count,
                    Anchor::Middle,
                    SMALL - 1.5,
                    " fill-opacity=\"0.75\"",
                );
            }
        }
        svg.line(
            (f.left, f.bottom()),
            (f.right(), f.bottom()),
            INK,
            1.0,
            None,
        );
        svg.finish()
    }
}

/// One row of a horizontal bar chart: stacked segments and an optional error bar.
#[derive(Debug, Clone)]
pub(crate) struct HBarRow {
    pub(crate) label: String,
    pub(crate) segments: Vec<(f64, &'static str, String)>,
    pub(crate) err: Option<f64>,
}

/// Horizontal bars, one row per item, segments stacked from zero.
#[derive(Debug, Clone)]
pub(crate) struct HBarChart {
    pub(crate) width: f64,
    pub(crate) label: String,
    pub(crate) x_title: String,
    pub(crate) x_format: TickFormat,
    pub(crate) x_domain: Option<(f64, f64)>,
    pub(crate) rows: Vec<HBarRow>,
    pub(crate) legend_title: Option<String>,
    pub(crate) legend: Vec<LegendEntry>,
}

impl HBarChart {
    /// The SVG.
    pub(crate) fn render(&self) -> String {
        const ROW: f64 = 19.0;
        // The label margin fits the longest label at the width estimate of point labels
        // (capitals run wide), so that no label is cut at the left edge.
        let longest = self
            .rows
            .iter()
            .map(|r| text_width(&truncate(&r.label, 30), SMALL) * 1.15)
            .fold(0.0, f64::max);
        let lt = self.legend_title.as_deref();
        let lw = legend_width(lt, &self.legend);
        let left = longest + 14.0;
        let f = Frame {
            left,
            top: 8.0,
            width: (self.width - left - 16.0 - lw).max(80.0),
            height: ROW * self.rows.len().max(1) as f64,
        };
        let ends = self.rows.iter().flat_map(|r| {
            let total: f64 = r
                .segments
                .iter()
                .map(|s| s.0)
                .filter(|v| v.is_finite())
                .sum();
            [
                0.0,
                total + r.err.unwrap_or(0.0),
                total - r.err.unwrap_or(0.0),
            ]
        });
        let xt = match self.x_domain {
            Some((lo, hi)) => scale::within(lo, hi, 5),
            None => {
                let (lo, hi) = scale::extent(ends).unwrap_or((0.0, 1.0));
                scale::nice(lo.min(0.0), hi.max(0.0), 5)
            }
        };
        let xs = Linear::new((xt.lo, xt.hi), (f.left, f.right()));
        let height = (f.bottom() + 46.0).max(f.top + legend_height(lt, &self.legend) + 8.0);
        let mut svg = Svg::new(self.width, height, &self.label);
        let labels = super::labels_for(&xt, self.x_format);
        for (v, label) in xt.values.iter().zip(labels) {
            let px = xs.map(*v);
            svg.line((px, f.top), (px, f.bottom()), "#E6E6E6", 1.0, None);
            svg.line((px, f.bottom()), (px, f.bottom() + 4.0), INK, 1.0, None);
            svg.text((px, f.bottom() + 16.0), &label, Anchor::Middle, SMALL, "");
        }
        svg.text(
            (f.left + f.width / 2.0, f.bottom() + 36.0),
            &self.x_title,
            Anchor::Middle,
            MEDIUM,
            "",
        );
        for (i, r) in self.rows.iter().enumerate() {
            let cy = f.top + ROW * (i as f64 + 0.5);
            svg.text(
                (f.left - 6.0, cy + 4.0),
                &truncate(&r.label, 30),
                Anchor::End,
                SMALL,
                "",
            );
            let mut at = 0.0;
            for (v, colour, title) in r.segments.iter().filter(|s| s.0.is_finite()) {
                let (a, b) = (xs.map(at), xs.map(at + v));
                svg.rect(
                    (a.min(b), cy - 6.5),
                    ((b - a).abs(), 13.0),
                    colour,
                    "",
                    Some(title),
                );
                at += v;
            }
            if let Some(e) = r.err.filter(|e| e.is_finite() && *e > 0.0) {
                let (a, b) = (xs.map(at - e), xs.map(at + e));
                svg.line((a, cy), (b, cy), INK, 1.0, None);
                svg.line((a, cy - 3.5), (a, cy + 3.5), INK, 1.0, None);
                svg.line((b, cy - 3.5), (b, cy + 3.5), INK, 1.0, None);
            }
        }
        let zero = xs.map(0.0);
        svg.line((zero, f.top), (zero, f.bottom()), INK, 1.0, None);
        svg.line(
            (f.left, f.bottom()),
            (f.right(), f.bottom()),
            INK,
            1.0,
            None,
        );
        if !self.legend.is_empty() {
            legend(&mut svg, (f.right() + 16.0, f.top), lt, &self.legend);
        }
        svg.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::svg::palette::level_style;

    fn count(hay: &str, needle: &str) -> usize {
        hay.matches(needle).count()
    }

    #[test]
    fn xy_plot_draws_every_finite_point_with_a_title() {
        let mut p = XyPlot::new(400.0, 300.0, "scatter", "x", "y");
        for i in 0..5 {
            p.points.push(Point {
                x: i as f64,
                y: (i * i) as f64,
                r: 3.0,
                style: level_style(i),
                title: format!("s{i}"),
            });
        }
        p.points.push(Point {
            x: f64::NAN,
            y: 1.0,
            r: 3.0,
            style: level_style(0),
            title: "nan".into(),
        });
        p.refs.push((Ref::Diagonal, INK, Some("4 3")));
        p.labels.push(Label {
            x: 4.0,
            y: 16.0,
            text: "top".into(),
        });
        let out = p.render();
        for i in 0..5 {
            assert!(out.contains(&format!("<title>s{i}</title>")));
        }
        assert!(!out.contains("<title>nan</title>"));
        assert!(out.contains(">top</text>"));
        assert_eq!(count(&out, "stroke-dasharray=\"4 3\""), 1);
    }

    #[test]
    fn crowded_untitled_points_become_density_dots() {
        let mut p = XyPlot::new(400.0, 300.0, "volcano", "x", "y");
        for i in 0..1000 {
            p.points.push(Point {
                x: (i % 10) as f64,
                y: (i % 10) as f64,
                r: 2.0,
                style: level_style(0),
                title: String::new(),
            });
        }
        p.points.push(Point {
            x: 5.5,
            y: 1.0,
            r: 3.0,
            style: level_style(1),
            title: "hit".into(),
        });
        let out = p.render();
        // Ten occupied pixels of 100 points each: one path at the densest level.
        assert_eq!(
            count(&out, "<circle"),
            1,
            "only the titled point is an element"
        );
        assert!(out.contains("<title>hit</title>"));
        let dots: Vec<&str> = out
            .lines()
            .filter(|l| l.contains("stroke-linecap=\"round\""))
            .collect();
        assert_eq!(dots.len(), 1, "{dots:?}");
        assert_eq!(count(dots[0], "h0"), 10);
        assert!(dots[0].contains("stroke-opacity=\"0.9\""));
        // The density layer comes before (beneath) the titled point.
        assert!(out.find("h0").unwrap() < out.find("<circle").unwrap());
    }

    #[test]
    fn labels_do_not_overlap() {
        let mut p = XyPlot::new(500.0, 400.0, "labels", "x", "y");
        p.x_domain = Some((0.0, 10.0));
        p.y_domain = Some((0.0, 10.0));
        for i in 0..6 {
            p.labels.push(Label {
                x: 5.0,
                y: 5.0 + i as f64 * 0.01,
                text: format!("label{i}"),
            });
        }
        let out = p.render();
        let ys: Vec<String> = out
            .lines()
            .filter(|l| l.contains(">label"))
            .map(|l| {
                let x = l
                    .split("x=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap()
                    .to_string();
                let y = l
                    .split("y=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap()
                    .to_string();
                format!("{x},{y}")
            })
            .collect();
        assert_eq!(ys.len(), 6);
        let mut unique = ys.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 6, "labels share a position: {ys:?}");
    }

    #[test]
    fn bar_chart_marks_flags_and_missing_values() {
        let chart = BarChart {
            width: 600.0,
            plot_height: 150.0,
            label: "bars".into(),
            y_title: "Missing".into(),
            y_format: TickFormat::Percent,
            categories: vec!["a".into(), "b".into(), "c".into()],
            values: vec![Some(0.1), None, Some(0.3)],
            colours: vec!["#111111"; 3],
            titles: vec!["ta".into(), "tb".into(), "tc".into()],
            flags: vec![false, false, true],
            legend_title: None,
            legend: Vec::new(),
        };
        let out = chart.render();
        assert_eq!(count(&out, "fill=\"#111111\""), 2);
        assert!(out.contains(">NA</text>"));
        assert_eq!(count(&out, &format!("Z\" fill=\"{INK}\"")), 1);
        assert!(
            out.contains(">30%</text>") || out.contains(">30.0%</text>"),
            "{out}"
        );
    }

    #[test]
    fn box_plot_draws_one_box_per_group_and_every_point() {
        let plot = BoxPlot {
            width: 500.0,
            plot_height: 200.0,
            label: "box".into(),
            y_title: "score".into(),
            y_format: TickFormat::Number,
            y_domain: None,
            groups: vec![
                BoxGroup {
                    label: "A".into(),
                    colour: "#E69F00",
                    values: vec![1.0, 2.0, 3.0, 10.0],
                    titles: (0..4).map(|i| format!("a{i}")).collect(),
                },
                BoxGroup {
                    label: "B".into(),
                    colour: "#56B4E9",
                    values: vec![f64::NAN, 2.0],
                    titles: vec!["b0".into(), "b1".into()],
                },
            ],
            points: true,
        };
        let out = plot.render();
        assert_eq!(count(&out, "fill-opacity=\"0.35\""), 2);
        assert_eq!(count(&out, "<circle"), 5);
        assert!(out.contains("A: n = 4, median 2.5,"));
        assert!(out.contains(">n = 1<"));
    }

    #[test]
    fn hbar_stacks_segments_from_zero() {
        let chart = HBarChart {
            width: 500.0,
            label: "h".into(),
            x_title: "share".into(),
            x_format: TickFormat::Percent,
            x_domain: Some((0.0, 1.0)),
            rows: vec![HBarRow {
                label: "f1".into(),
                segments: vec![(0.25, "#E69F00", "a".into()), (0.75, NEUTRAL, "b".into())],
                err: None,
            }],
            legend_title: None,
            legend: Vec::new(),
        };
        let out = chart.render();
        let rects: Vec<&str> = out.lines().filter(|l| l.starts_with("<rect")).collect();
        assert_eq!(rects.len(), 2);
        let x = |l: &str| {
            l.split("x=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .parse::<f64>()
                .unwrap()
        };
        let w = |l: &str| {
            l.split("width=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .parse::<f64>()
                .unwrap()
        };
        assert!((x(rects[0]) + w(rects[0]) - x(rects[1])).abs() < 0.2);
        assert!((w(rects[1]) - 3.0 * w(rects[0])).abs() < 0.5);
    }
}
