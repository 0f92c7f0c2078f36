//! Colours and marker shapes: the Okabe–Ito palette for categories, viridis for continuous
//! values. Both stay distinguishable under the common colour-vision deficiencies.

use std::cmp::Ordering;

/// Okabe & Ito (2008) colour-blind-safe palette, ordered so that the first colours contrast
/// well on white (yellow and black come last).
pub(crate) const OKABE_ITO: [&str; 8] = [
    "#E69F00", // orange
    "#56B4E9", // sky blue
    "#009E73", // bluish green
    "#0072B2", // blue
    "#D55E00", // vermillion
    "#CC79A7", // reddish purple
    "#F0E442", // yellow
    "#000000", // black
];

/// Colour of a missing level.
pub(crate) const NA_COLOUR: &str = "#B0B0B0";
/// Colour of non-significant or neutral marks.
pub(crate) const NEUTRAL: &str = "#BDBDBD";
/// Colour of a higher / up / failing mark.
pub(crate) const UP: &str = "#D55E00";
/// Colour of a lower / down mark.
pub(crate) const DOWN: &str = "#0072B2";
/// Ink colour of axes and text.
pub(crate) const INK: &str = "#333333";

/// Marker shape; cycled after the eight colours so 32 levels stay distinct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    Circle,
    Square,
    Triangle,
    Diamond,
}

/// Colour and shape of one category level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Style {
    pub(crate) colour: &'static str,
    pub(crate) shape: Shape,
}

/// Style of the `i`-th level of a column.
pub(crate) fn level_style(i: usize) -> Style {
    const SHAPES: [Shape; 4] = [
        Shape::Circle,
        Shape::Square,
        Shape::Triangle,
        Shape::Diamond,
    ];
    Style {
        colour: OKABE_ITO[i % OKABE_ITO.len()],
        shape: SHAPES[(i / OKABE_ITO.len()) % SHAPES.len()],
    }
}

/// Style of a missing level.
pub(crate) const NA_STYLE: Style = Style {
    colour: NA_COLOUR,
    shape: Shape::Circle,
};

/// Viridis (van der Walt & Smith), sampled at nine points and interpolated linearly.
const VIRIDIS: [(u8, u8, u8); 9] = [
    (0x44, 0x01, 0x54),
    (0x47, 0x2d, 0x7b),
    (0x3b, 0x52, 0x8b),
    (0x2c, 0x72, 0x8e),
    (0x21, 0x91, 0x8c),
    (0x28, 0xae, 0x80),
    (0x5e, 0xc9, 0x62),
    (0xad, 0xdc, 0x30),
    (0xfd, 0xe7, 0x25),
];

/// Viridis colour at `t` in 0–1 (clamped) as `#rrggbb`.
pub(crate) fn viridis(t: f64) -> String {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let pos = t * (VIRIDIS.len() - 1) as f64;
    let i = (pos.floor() as usize).min(VIRIDIS.len() - 2);
    let f = pos - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |x: u8, y: u8| (f64::from(x) + (f64::from(y) - f64::from(x)) * f).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(a.0, b.0),
        mix(a.1, b.1),
        mix(a.2, b.2)
    )
}

/// ColorBrewer RdBu (Harrower & Brewer 2003), blue for low, white for 0, red for high; read
/// by viewers with red–green colour-vision deficiencies.
const RDBU: [(u8, u8, u8); 7] = [
    (0x21, 0x66, 0xac),
    (0x67, 0xa9, 0xcf),
    (0xd1, 0xe5, 0xf0),
    (0xf7, 0xf7, 0xf7),
    (0xfd, 0xdb, 0xc7),
    (0xef, 0x8a, 0x62),
    (0xb2, 0x18, 0x2b),
];

/// ColorBrewer Blues, white to dark blue, for counts.
const BLUES: [(u8, u8, u8); 5] = [
    (0xf7, 0xfb, 0xff),
    (0xc6, 0xdb, 0xef),
    (0x6b, 0xae, 0xd6),
    (0x21, 0x71, 0xb5),
    (0x08, 0x30, 0x6b),
];

fn ramp(stops: &[(u8, u8, u8)], t: f64) -> String {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let pos = t * (stops.len() - 1) as f64;
    let i = (pos.floor() as usize).min(stops.len() - 2);
    let f = pos - i as f64;
    let (a, b) = (stops[i], stops[i + 1]);
    let mix = |x: u8, y: u8| (f64::from(x) + (f64::from(y) - f64::from(x)) * f).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(a.0, b.0),
        mix(a.1, b.1),
        mix(a.2, b.2)
    )
}

/// Diverging blue–white–red colour at `t` in 0–1 (0.5 is white), as `#rrggbb`.
pub(crate) fn diverging(t: f64) -> String {
    ramp(&RDBU, t)
}

/// Sequential white–blue colour at `t` in 0–1, as `#rrggbb`.
pub(crate) fn blues(t: f64) -> String {
    ramp(&BLUES, t)
}

/// "Natural" order: runs of digits compare as numbers, so `batch2` sorts before `batch10`.
pub(crate) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let nx = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let ny = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (dx, dy) = (trim_zeros(&x[..nx]), trim_zeros(&y[..ny]));
                let ord = dx.len().cmp(&dy.len()).then_with(|| dx.cmp(dy));
                if ord != Ordering::Equal {
                    return ord;
                }
                x = &x[nx..];
                y = &y[ny..];
            }
            (Some(c), Some(d)) => {
                let ord = c.to_ascii_lowercase().cmp(&d.to_ascii_lowercase());
                if ord != Ordering::Equal {
                    return ord;
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let k = d.iter().take_while(|&&c| c == b'0').count();
    &d[k..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_cycle_colours_then_shapes() {
        assert_eq!(level_style(0).colour, "#E69F00");
        assert_eq!(level_style(0).shape, Shape::Circle);
        assert_eq!(level_style(8).colour, "#E69F00");
        assert_eq!(level_style(8).shape, Shape::Square);
        let styles: Vec<Style> = (0..32).map(level_style).collect();
        for (i, a) in styles.iter().enumerate() {
            assert!(styles[i + 1..].iter().all(|b| b != a), "level {i} repeats");
        }
    }

    #[test]
    fn palette_is_okabe_ito() {
        let mut sorted = OKABE_ITO.to_vec();
        sorted.sort();
        assert_eq!(
            sorted,
            [
                "#000000", "#0072B2", "#009E73", "#56B4E9", "#CC79A7", "#D55E00", "#E69F00",
                "#F0E442"
            ]
        );
    }

    #[test]
    fn viridis_ends_and_clamps() {
        assert_eq!(viridis(0.0), "#440154");
        assert_eq!(viridis(1.0), "#fde725");
        assert_eq!(viridis(2.0), "#fde725");
        assert_eq!(viridis(f64::NAN), "#440154");
        assert_eq!(viridis(0.0625), "#461768");
    }

    #[test]
    fn natural_order_compares_numbers_as_numbers() {
        let mut v = vec!["batch10", "batch2", "Batch1", "batch02", "a", "batch"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["a", "batch", "Batch1", "batch02", "batch2", "batch10"]);
        assert_eq!(natural_cmp("x", "x"), Ordering::Equal);
    }
}
