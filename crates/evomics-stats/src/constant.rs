//! Features whose values are the same number up to rounding.
//!
//! A feature can be constant except for the last bits of its values: a one-feature layer after
//! median normalization (every value becomes the sample median, `x − median + level`, up to
//! ~1e-14), the log-CPM of counts that are all zero, a feature filled by one constant. Tested as
//! it is, its spread is pure rounding, so limma can call it significant at a logFC of −1e-14 and
//! a correlation test can find a "trend" in the last bits. Every statistic of this crate leaves
//! such a feature out of its tests (its statistics are `None`, R's `NA`) and says why.
//!
//! The rule: the observed values span at most [`ROUNDING_SPREAD`] (1e-10) times their largest
//! magnitude, on a log scale at least 1 (so that values near 0 after centring are judged on the
//! log2 unit, not on their own size). Rounding of a constant leaves ~1e-15 of relative spread;
//! a measured feature spans many orders of magnitude more.

use evomics_core::ValueScale;

/// Largest relative spread (range over largest magnitude) of values that are still one number
/// up to rounding.
pub const ROUNDING_SPREAD: f64 = 1e-10;

/// `Some(reason)` when the values (at least one) are constant up to rounding.
pub(crate) fn constant_up_to_rounding(values: &[f64], scale: ValueScale) -> Option<String> {
    if values.is_empty() {
        return None;
    }
    let (mut lo, mut hi, mut big) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
    for &v in values {
        lo = lo.min(v);
        hi = hi.max(v);
        big = big.max(v.abs());
    }
    let unit = match scale {
        ValueScale::Log2 | ValueScale::Other => big.max(1.0),
        _ => big,
    };
    let range = hi - lo;
    (range <= ROUNDING_SPREAD * unit).then(|| {
        if range == 0.0 {
            format!("constant: all {} values are {lo}", values.len())
        } else {
            format!(
                "constant up to rounding: the {} values span {range:.1e} (≤ {ROUNDING_SPREAD:e} × {unit:.4}); not tested",
                values.len()
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_spread_is_constant_and_real_spread_is_not() {
        let s = ValueScale::Log2;
        assert!(constant_up_to_rounding(&[7.0, 7.0, 7.0], s)
            .unwrap()
            .starts_with("constant: all 3"));
        let r = constant_up_to_rounding(&[20.0, 20.0 + 3.5e-15, 20.0 - 1.4e-14], s).unwrap();
        assert!(r.contains("up to rounding"), "{r}");
        // centred near 0 on a log scale: judged on the log2 unit
        assert!(constant_up_to_rounding(&[1e-16, -2e-16, 0.0], s).is_some());
        assert!(constant_up_to_rounding(&[20.0, 20.001], s).is_none());
        assert!(constant_up_to_rounding(&[1e-16, -2e-16, 0.0], ValueScale::Linear).is_none());
        assert!(constant_up_to_rounding(&[3.0], s).is_some());
        assert!(constant_up_to_rounding(&[], s).is_none());
    }
}
