//! Linear scales and "nice" axis ticks.

/// Maps a data interval onto a pixel interval.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Linear {
    d0: f64,
    d1: f64,
    r0: f64,
    r1: f64,
}

impl Linear {
    /// A scale from `domain` onto `range`; a zero-width domain maps everything to the middle.
    pub(crate) fn new(domain: (f64, f64), range: (f64, f64)) -> Linear {
        Linear {
            d0: domain.0,
            d1: domain.1,
            r0: range.0,
            r1: range.1,
        }
    }

    /// Pixel position of `v`.
    pub(crate) fn map(&self, v: f64) -> f64 {
        let span = self.d1 - self.d0;
        if span == 0.0 || !span.is_finite() {
            return (self.r0 + self.r1) / 2.0;
        }
        self.r0 + (v - self.d0) / span * (self.r1 - self.r0)
    }
}

/// Axis ticks: the domain widened to whole steps, and the tick values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ticks {
    /// Lower end of the widened domain.
    pub(crate) lo: f64,
    /// Upper end of the widened domain.
    pub(crate) hi: f64,
    /// Distance between ticks.
    pub(crate) step: f64,
    /// Tick positions, ascending.
    pub(crate) values: Vec<f64>,
}

/// A step of 1, 2 or 5 times a power of ten giving about `target` intervals over `lo..hi`.
pub(crate) fn nice_step(lo: f64, hi: f64, target: usize) -> f64 {
    let raw = (hi - lo) / target.max(1) as f64;
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let m = if norm < 1.5 {
        1.0
    } else if norm < 3.0 {
        2.0
    } else if norm < 7.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// Ticks over `lo..hi` widened to whole steps ("nice" ticks).
pub(crate) fn nice(lo: f64, hi: f64, target: usize) -> Ticks {
    let (lo, hi) = sane(lo, hi);
    let step = nice_step(lo, hi, target);
    // The epsilon keeps rounding noise (2.9999999 steps) from adding a whole empty step.
    let i0 = (lo / step + 1e-9).floor() as i64;
    let i1 = (hi / step - 1e-9).ceil() as i64;
    if !(0..=MAX_TICKS).contains(&(i1.saturating_sub(i0))) {
        return bare(lo, hi);
    }
    Ticks {
        lo: i0 as f64 * step,
        hi: i1 as f64 * step,
        step,
        // Multiplying integers by the step (not adding steps up) keeps 0.1 * 3 from drifting.
        values: (i0..=i1).map(|i| i as f64 * step).collect(),
    }
}

/// Ticks inside a fixed domain (the domain is kept, e.g. 0–1 for probabilities).
pub(crate) fn within(lo: f64, hi: f64, target: usize) -> Ticks {
    let (lo, hi) = sane(lo, hi);
    let step = nice_step(lo, hi, target);
    let i0 = (lo / step - 1e-9).ceil() as i64;
    let i1 = (hi / step + 1e-9).floor() as i64;
    if !(0..=MAX_TICKS).contains(&(i1.saturating_sub(i0))) {
        return bare(lo, hi);
    }
    Ticks {
        lo,
        hi,
        step,
        values: (i0..=i1).map(|i| i as f64 * step).collect(),
    }
}

/// More ticks than this means the interval defeated the step arithmetic (e.g. a width that
/// overflows to infinity); such an axis gets only its two ends.
const MAX_TICKS: i64 = 1000;

/// Ticks at the two ends only.
fn bare(lo: f64, hi: f64) -> Ticks {
    Ticks {
        lo,
        hi,
        step: hi - lo,
        values: vec![lo, hi],
    }
}

/// A usable interval: finite, ordered, and of non-zero width.
fn sane(lo: f64, hi: f64) -> (f64, f64) {
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    if hi - lo < 1e-12 * lo.abs().max(1.0) {
        let pad = (lo.abs() * 0.1).max(0.5);
        (lo - pad, hi + pad)
    } else {
        (lo, hi)
    }
}

/// Smallest and largest finite value, if any.
pub(crate) fn extent(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// `lo..hi` widened by `frac` of its width on each side.
pub(crate) fn pad(lo: f64, hi: f64, frac: f64) -> (f64, f64) {
    let (lo, hi) = sane(lo, hi);
    let w = (hi - lo) * frac;
    (lo - w, hi + w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_maps_ends_and_middle() {
        let s = Linear::new((0.0, 10.0), (100.0, 0.0));
        assert_eq!(s.map(0.0), 100.0);
        assert_eq!(s.map(10.0), 0.0);
        assert_eq!(s.map(5.0), 50.0);
        assert_eq!(Linear::new((3.0, 3.0), (0.0, 10.0)).map(3.0), 5.0);
    }

    #[test]
    fn nice_ticks_use_1_2_5_steps_and_cover_the_data() {
        let t = nice(0.13, 0.87, 4);
        assert_eq!(t.step, 0.2);
        assert_eq!(t.lo, 0.0);
        assert!((t.hi - 1.0).abs() < 1e-12);
        assert_eq!(t.values.len(), 6);
        assert!((t.values[3] - 0.6).abs() < 1e-12);
        let t = nice(-3.2, 7.9, 5);
        assert_eq!(t.step, 2.0);
        assert_eq!((t.lo, t.hi), (-4.0, 8.0));
        let t = nice(0.0, 2.3e7, 5);
        assert_eq!(t.step, 5e6);
        assert_eq!(t.hi, 2.5e7);
        for (lo, hi) in [(0.001, 0.0013), (-1e6, 5.0), (42.0, 42.0)] {
            let t = nice(lo, hi, 5);
            assert!(t.lo <= lo.min(hi) && t.hi >= hi.max(lo), "{t:?}");
            assert!(t.values.len() >= 2 && t.values.len() <= 12, "{t:?}");
        }
    }

    #[test]
    fn degenerate_domains_become_usable() {
        let t = nice(f64::NAN, 1.0, 5);
        assert_eq!((t.lo, t.hi), (0.0, 1.0));
        let t = nice(5.0, 5.0, 4);
        assert!(t.lo < 5.0 && t.hi > 5.0);
        assert!(pad(2.0, 2.0, 0.05).0 < 2.0);
    }

    #[test]
    fn huge_intervals_do_not_explode() {
        let t = nice(-1e308, 1e308, 5);
        assert!(t.values.len() <= 12, "{} ticks", t.values.len());
        let t = within(-f64::MAX, f64::MAX, 5);
        assert!(t.values.len() <= 12, "{} ticks", t.values.len());
    }

    #[test]
    fn fixed_domains_keep_their_ends() {
        let t = within(0.0, 1.0, 5);
        assert_eq!((t.lo, t.hi), (0.0, 1.0));
        assert_eq!(t.values, vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]);
    }

    #[test]
    fn extent_skips_non_finite_values() {
        assert_eq!(
            extent([3.0, f64::NAN, -1.0, f64::INFINITY]),
            Some((-1.0, 3.0))
        );
        assert_eq!(extent([f64::NAN]), None);
    }
}
