//! Small robust-statistics helpers shared by the QC modules.

use evomics_core::{num, ValueScale};
use serde::{Deserialize, Serialize};

/// Which transform the log-scale QC metrics use, chosen from the layer's [`ValueScale`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogBasis {
    /// Linear intensities: log2(v) of observed values > 0 (values ≤ 0 are left out and counted).
    Log2OfLinear,
    /// Read counts: log2(count + 1).
    Log2OfCountsPlusOne,
    /// The layer is already log2: values used as they are.
    AlreadyLog2,
    /// Unknown scale: values used as they are, not transformed.
    AsGiven,
}

impl LogBasis {
    /// The basis for a layer scale.
    pub fn for_scale(scale: ValueScale) -> LogBasis {
        match scale {
            ValueScale::Linear => LogBasis::Log2OfLinear,
            ValueScale::Counts => LogBasis::Log2OfCountsPlusOne,
            ValueScale::Log2 => LogBasis::AlreadyLog2,
            ValueScale::Other => LogBasis::AsGiven,
        }
    }

    /// Stable name for output tables.
    pub fn name(self) -> &'static str {
        match self {
            LogBasis::Log2OfLinear => "log2(value)",
            LogBasis::Log2OfCountsPlusOne => "log2(count+1)",
            LogBasis::AlreadyLog2 => "value (already log2)",
            LogBasis::AsGiven => "value (scale 'other', not transformed)",
        }
    }

    /// The log-scale value of an observed cell, or `None` when it has none (linear ≤ 0, counts < 0).
    pub fn apply(self, v: f64) -> Option<f64> {
        match self {
            LogBasis::Log2OfLinear => (v > 0.0).then(|| v.log2()),
            LogBasis::Log2OfCountsPlusOne => (v >= 0.0).then(|| (v + 1.0).log2()),
            LogBasis::AlreadyLog2 | LogBasis::AsGiven => Some(v),
        }
    }
}

/// The linear-scale value of an observed cell (2^v for log2 layers); `None` for scale `other`.
pub fn linear_value(scale: ValueScale, v: f64) -> Option<f64> {
    match scale {
        ValueScale::Linear | ValueScale::Counts => Some(v),
        ValueScale::Log2 => Some(v.exp2()),
        ValueScale::Other => None,
    }
}

/// R's type-7 quantile ([`evomics_core::num::quantile7`]); `None` if empty.
pub fn quantile(values: &[f64], p: f64) -> Option<f64> {
    (!values.is_empty()).then(|| num::quantile7(values, p))
}

/// R's median ([`evomics_core::num::median`]); `None` if empty.
pub fn median(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| num::median(values))
}

/// Robust z-scores (x − median) / max(1.4826 · MAD, `floor`) of `values` (`None` stays `None`).
///
/// When the MAD is 0 (over half the values tie) the mean absolute deviation × 1.2533 is used
/// instead (Iglewicz & Hoaglin's fallback). `floor` keeps a tight cohort from turning
/// negligible differences into large z (e.g. correlations of 0.998 vs 0.999); when the scale is
/// still 0, every value equals the median and all z are 0.
pub fn robust_z(values: &[Option<f64>], floor: f64) -> Vec<Option<f64>> {
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    let Some(med) = median(&present) else {
        return vec![None; values.len()];
    };
    let dev: Vec<f64> = present.iter().map(|x| (x - med).abs()).collect();
    let mad = median(&dev).unwrap_or(0.0) * 1.4826;
    let scale = if mad > 0.0 {
        mad
    } else {
        num::mean(&dev) * 1.2533
    }
    .max(floor);
    values
        .iter()
        .map(|v| v.map(|x| if scale > 0.0 { (x - med) / scale } else { 0.0 }))
        .collect()
}

/// Pearson correlation of paired values (R's `cor`, [`evomics_core::num::pearson`]); `None`
/// with fewer than 3 pairs (QC does not judge a sample on two points) or zero variance.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() < 3 {
        return None;
    }
    num::pearson(x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_r_type7() {
        let v = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        // R: quantile(c(3,1,4,1,5,9,2,6), c(.25,.5,.75)) = 1.75 3.50 5.25
        assert_eq!(quantile(&v, 0.25), Some(1.75));
        assert_eq!(median(&v), Some(3.5));
        assert_eq!(quantile(&v, 0.75), Some(5.25));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn robust_z_flags_the_odd_one() {
        let z = robust_z(
            &[
                Some(10.0),
                Some(11.0),
                Some(9.0),
                Some(10.5),
                Some(30.0),
                None,
            ],
            0.0,
        );
        assert!(z[4].unwrap() > 10.0, "{z:?}");
        assert!(z[0].unwrap().abs() < 1.0);
        assert_eq!(z[5], None);
        let tied = robust_z(&[Some(5.0), Some(5.0), Some(5.0), Some(8.0)], 0.0);
        assert!(tied[3].unwrap() > 2.0 && tied[0] == Some(0.0), "{tied:?}");
        assert_eq!(
            robust_z(&[Some(1.0), Some(1.0)], 0.0),
            [Some(0.0), Some(0.0)]
        );
        let tight = [Some(0.999), Some(0.998), Some(0.9985), Some(0.997)];
        assert!(robust_z(&tight, 0.0)[3].unwrap() < -1.5);
        assert!(robust_z(&tight, 0.01)[3].unwrap() > -0.2);
    }

    #[test]
    fn pearson_basics() {
        assert!(
            (pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.5]).unwrap() - 0.9979487157886733).abs()
                < 1e-15
        );
        assert_eq!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(pearson(&[1.0, 2.0], &[1.0, 2.0]), None);
    }

    #[test]
    fn log_basis_by_scale() {
        assert_eq!(
            LogBasis::for_scale(ValueScale::Linear).apply(8.0),
            Some(3.0)
        );
        assert_eq!(LogBasis::Log2OfLinear.apply(0.0), None);
        assert_eq!(
            LogBasis::for_scale(ValueScale::Counts).apply(0.0),
            Some(0.0)
        );
        assert_eq!(
            LogBasis::for_scale(ValueScale::Log2).apply(-1.5),
            Some(-1.5)
        );
        assert_eq!(linear_value(ValueScale::Log2, 3.0), Some(8.0));
        assert_eq!(linear_value(ValueScale::Other, 3.0), None);
    }
}
