//! Fixed number formatting, so the same numbers always give the same bytes.

use std::fmt;

/// `v` with `decimals` decimals, never `-0`.
pub(crate) fn fixed(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    // Rounding a small negative number gives "-0.00"; print it as "0.00".
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        s[1..].to_string()
    } else {
        s
    }
}

/// A number for a table cell: four significant digits without trailing zeros, scientific
/// outside 1e-3..1e6.
pub(crate) fn num(v: f64) -> String {
    if !v.is_finite() {
        return non_finite(v);
    }
    let a = v.abs();
    if a == 0.0 {
        return "0".into();
    }
    if !(1e-3..1e6).contains(&a) {
        return trim_zeros(&format!("{v:.3e}"));
    }
    let digits = a.log10().floor() as i32;
    let decimals = (3 - digits).clamp(0, 6) as usize;
    trim_zeros(&fixed(v, decimals))
}

/// `1.2500` → `1.25`, `2.000e7` → `2e7`, `1200` unchanged.
fn trim_zeros(s: &str) -> String {
    let (mantissa, exp) = s.split_at(s.find('e').unwrap_or(s.len()));
    let m = if mantissa.contains('.') {
        mantissa.trim_end_matches('0').trim_end_matches('.')
    } else {
        mantissa
    };
    format!("{m}{exp}")
}

/// A p-value: three decimals, scientific below 0.001.
pub(crate) fn pval(v: f64) -> String {
    if !v.is_finite() {
        return non_finite(v);
    }
    if v != 0.0 && v.abs() < 1e-3 {
        format!("{v:.2e}")
    } else {
        fixed(v, 3)
    }
}

/// A fraction as a percentage with `decimals` decimals.
pub(crate) fn percent(frac: f64, decimals: usize) -> String {
    if !frac.is_finite() {
        return non_finite(frac);
    }
    format!("{}%", fixed(frac * 100.0, decimals))
}

/// An optional number in a table cell, `NA` when absent.
pub(crate) fn opt(v: Option<f64>, f: fn(f64) -> String) -> String {
    v.map_or_else(|| "NA".to_string(), f)
}

/// Significant digits of a number in a TSV download.
pub(crate) const TSV_DIGITS: usize = 7;

/// A number in a TSV download, rounded to [`TSV_DIGITS`] significant digits (single
/// precision: more than any assay measures; the stage outputs in the run folder keep every
/// digit), written as the shortest text that reads back to the rounded value.
pub(crate) fn tsv(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => {
            let rounded: f64 = format!("{v:.*e}", TSV_DIGITS - 1).parse().unwrap_or(v);
            evomics_core::format_float(rounded).unwrap_or_default()
        }
        Some(v) => non_finite(v),
        None => "NA".into(),
    }
}

fn non_finite(v: f64) -> String {
    if v.is_nan() {
        "NA".into()
    } else if v > 0.0 {
        "Inf".into()
    } else {
        "-Inf".into()
    }
}

/// Labels for axis ticks `step` apart: one unit (k, M, G) and one number of decimals for the
/// whole axis, chosen from its largest tick.
pub(crate) fn ticks(values: &[f64], step: f64) -> Vec<String> {
    let max_abs = values.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    let (unit, suffix) = if max_abs >= 1e9 {
        (1e9, "G")
    } else if max_abs >= 1e6 {
        (1e6, "M")
    } else if max_abs >= 1e4 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let scaled_step = step / unit;
    let decimals = if scaled_step > 0.0 && scaled_step.is_finite() {
        // The epsilon keeps a step of exactly 1 or 0.1 from asking for one decimal too many.
        (-(scaled_step.log10() + 1e-9).floor()).clamp(0.0, 6.0) as usize
    } else {
        0
    };
    values
        .iter()
        .map(|v| format!("{}{suffix}", fixed(v / unit, decimals)))
        .collect()
}

/// An SVG coordinate: one decimal, never `-0.0`.
#[derive(Clone, Copy)]
pub(crate) struct C(pub f64);

impl fmt::Display for C {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = if self.0.abs() < 0.05 || !self.0.is_finite() {
            0.0
        } else {
            self.0
        };
        write!(f, "{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_never_prints_negative_zero() {
        assert_eq!(fixed(-0.0, 2), "0.00");
        assert_eq!(fixed(-0.001, 2), "0.00");
        assert_eq!(fixed(-0.006, 2), "-0.01");
        assert_eq!(C(-0.01).to_string(), "0.0");
        assert_eq!(C(-12.345).to_string(), "-12.3");
    }

    #[test]
    fn table_numbers_keep_four_significant_digits() {
        assert_eq!(num(1234.567), "1235");
        assert_eq!(num(1.234567), "1.235");
        assert_eq!(num(-0.0123456), "-0.01235");
        assert_eq!(num(0.0), "0");
        assert_eq!(num(2.5e7), "2.5e7");
        assert_eq!(num(2.13456e9), "2.135e9");
        assert_eq!(num(0.4), "0.4");
        assert_eq!(num(1200.0), "1200");
        assert_eq!(num(0.05), "0.05");
        assert_eq!(num(f64::NAN), "NA");
        assert_eq!(pval(0.04), "0.040");
        assert_eq!(pval(1.5e-8), "1.50e-8");
        assert_eq!(percent(0.1234, 1), "12.3%");
        assert_eq!(opt(None, num), "NA");
        assert_eq!(tsv(Some(0.1)), "0.1");
        assert_eq!(tsv(Some(f64::INFINITY)), "Inf");
        assert_eq!(tsv(Some(-1.4052378437281923)), "-1.405238");
        assert_eq!(tsv(Some(7.7612345678e-40)), "7.761235e-40");
        assert_eq!(tsv(Some(1234567890.0)), "1234568000");
        assert_eq!(tsv(Some(0.0)), "0");
    }

    #[test]
    fn tick_labels_follow_the_step() {
        assert_eq!(ticks(&[0.0, 0.5, 1.0], 0.5), ["0.0", "0.5", "1.0"]);
        assert_eq!(ticks(&[-1.0, 0.0, 1.0], 1.0), ["-1", "0", "1"]);
        assert_eq!(ticks(&[0.0, 0.1, 0.2], 0.1), ["0.0", "0.1", "0.2"]);
        assert_eq!(ticks(&[0.2, 0.25], 0.05), ["0.20", "0.25"]);
        assert_eq!(ticks(&[0.0, 1e7, 2e7], 1e7), ["0M", "10M", "20M"]);
        assert_eq!(
            ticks(&[0.0, 5e5, 1e6, 1.5e6], 5e5),
            ["0.0M", "0.5M", "1.0M", "1.5M"]
        );
        assert_eq!(ticks(&[0.0, 5000.0, 10000.0], 5000.0), ["0k", "5k", "10k"]);
        assert_eq!(ticks(&[-0.0, 20.0], 20.0), ["0", "20"]);
    }
}
