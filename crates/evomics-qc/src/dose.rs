//! Dose metadata checks: protein per particle and the particle-to-protein purity ratio.
//!
//! Webber & Clayton (2013, J Extracell Vesicles 2:19861) proposed the ratio of particles to
//! protein as a purity index: above 3 × 10¹⁰ particles/µg a preparation is of high purity;
//! 2 × 10⁹ – 2 × 10¹⁰ is low purity, and below 1.5 × 10⁹ it is impure (dominated by
//! non-vesicular protein). The check reads the MISEV dose columns `particle_count` and
//! `protein_ug` of the sample sheet; both must describe the same preparation volume.

use evomics_core::{ColumnValues, SampleSheet};
use serde::{Deserialize, Serialize};

use crate::error::{QcError, Result};

/// Citation of the purity ratio.
pub const WEBBER_CLAYTON_2013: &str = "Webber J, Clayton A. How pure are your vesicles? J Extracell Vesicles. 2013;2:19861. doi:10.3402/jev.v2i0.19861";

/// Thresholds of the particle-to-protein ratio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DoseParams {
    /// At or above this many particles per µg protein a preparation is called high purity.
    pub high_purity_particles_per_ug: f64,
    /// Below this many particles per µg protein a preparation is called impure and flagged.
    pub low_purity_particles_per_ug: f64,
}

impl Default for DoseParams {
    fn default() -> Self {
        DoseParams {
            high_purity_particles_per_ug: 3e10,
            low_purity_particles_per_ug: 1.5e9,
        }
    }
}

impl DoseParams {
    /// Check the ranges; call before reading data.
    pub fn validate(&self) -> Result<()> {
        let (h, l) = (
            self.high_purity_particles_per_ug,
            self.low_purity_particles_per_ug,
        );
        if !(l.is_finite() && l > 0.0) {
            return Err(QcError::InvalidParam {
                param: "low_purity_particles_per_ug",
                problem: format!("{l} must be a positive number (default 1.5e9)"),
            });
        }
        if !(h.is_finite() && h > l) {
            return Err(QcError::InvalidParam {
                param: "high_purity_particles_per_ug",
                problem: format!("{h} must be a number above low_purity_particles_per_ug ({l})"),
            });
        }
        Ok(())
    }
}

/// Purity class from the particle-to-protein ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DosePurity {
    /// ≥ the high-purity threshold.
    High,
    /// Between the two thresholds.
    Intermediate,
    /// < the low-purity threshold (flagged).
    Low,
    /// No ratio (a dose value missing or zero).
    NotAssessed,
}

impl DosePurity {
    /// Stable lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            DosePurity::High => "high",
            DosePurity::Intermediate => "intermediate",
            DosePurity::Low => "low",
            DosePurity::NotAssessed => "not_assessed",
        }
    }
}

/// Dose ratios of one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DoseQc {
    /// Sample id.
    pub sample: String,
    /// `particle_count` from the sheet.
    pub particle_count: Option<f64>,
    /// `protein_ug` from the sheet.
    pub protein_ug: Option<f64>,
    /// Particles per µg protein.
    pub particles_per_ug: Option<f64>,
    /// µg protein per particle.
    pub ug_per_particle: Option<f64>,
    /// Purity class.
    pub purity: DosePurity,
    /// True when the sample deserves attention (impure ratio, or a zero dose value).
    pub flagged: bool,
    /// Explanation.
    pub note: String,
}

fn numeric<'a>(sheet: &'a SampleSheet, name: &str) -> Result<Option<&'a [Option<f64>]>> {
    match sheet.column(name).map(|c| &c.values) {
        None => Ok(None),
        Some(ColumnValues::Numeric(v)) => Ok(Some(v)),
        Some(ColumnValues::Text(v)) if v.iter().all(Option::is_none) => Ok(None),
        Some(ColumnValues::Text(_)) => Err(QcError::SheetColumn {
            column: name.to_string(),
            problem: "holds text; dose columns must be numbers (e.g. 1.2e9)".into(),
        }),
    }
}

/// Compute protein-per-particle ratios and purity classes for every sample of the sheet.
pub fn dose_qc(sheet: &SampleSheet, params: &DoseParams) -> Result<Vec<DoseQc>> {
    params.validate()?;
    let particles = numeric(sheet, "particle_count")?;
    let protein = numeric(sheet, "protein_ug")?;
    let fmt = |x: f64| format!("{x:.2e}");
    Ok(sheet
        .sample_ids()
        .iter()
        .enumerate()
        .map(|(row, id)| {
            let pc = particles.and_then(|v| v[row]);
            let ug = protein.and_then(|v| v[row]);
            let mut q = DoseQc {
                sample: id.clone(),
                particle_count: pc,
                protein_ug: ug,
                particles_per_ug: None,
                ug_per_particle: None,
                purity: DosePurity::NotAssessed,
                flagged: false,
                note: String::new(),
            };
            match (pc, ug) {
                (None, _) | (_, None) => {
                    q.note = match (pc, ug) {
                        (None, None) => "no particle_count and no protein_ug".into(),
                        (None, _) => "no particle_count".into(),
                        _ => "no protein_ug".into(),
                    };
                }
                (Some(p), Some(u)) if u <= 0.0 || p <= 0.0 => {
                    q.flagged = true;
                    q.note = if u <= 0.0 {
                        format!("protein_ug is 0 with {} particles: ratio undefined; check the protein assay (below its detection limit?)", fmt(p))
                    } else {
                        format!("particle_count is 0 with {u} µg protein: no vesicles counted; check the particle measurement")
                    };
                }
                (Some(p), Some(u)) => {
                    let r = p / u;
                    q.particles_per_ug = Some(r);
                    q.ug_per_particle = Some(u / p);
                    let (h, l) = (
                        params.high_purity_particles_per_ug,
                        params.low_purity_particles_per_ug,
                    );
                    if r >= h {
                        q.purity = DosePurity::High;
                        q.note = format!("{} particles/µg ≥ {}: high purity (Webber & Clayton 2013)", fmt(r), fmt(h));
                    } else if r < l {
                        q.purity = DosePurity::Low;
                        q.flagged = true;
                        q.note = format!("{} particles/µg < {}: impure, protein not carried by vesicles dominates (Webber & Clayton 2013)", fmt(r), fmt(l));
                    } else {
                        q.purity = DosePurity::Intermediate;
                        q.note = format!("{} particles/µg between {} and {}: low-to-intermediate purity", fmt(r), fmt(l), fmt(h));
                    }
                }
            }
            q
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sheet(pc: &[&str], ug: &[&str]) -> SampleSheet {
        let t = |v: &[&str]| v.iter().map(|x| Some(x.to_string())).collect::<Vec<_>>();
        let ids = (0..pc.len()).map(|k| format!("s{k}")).collect();
        SampleSheet::from_text_columns(
            ids,
            vec![
                ("particle_count".into(), t(pc)),
                ("protein_ug".into(), t(ug)),
            ],
        )
        .unwrap()
    }

    #[test]
    fn classes_and_flags() {
        let s = sheet(
            &["6e10", "1e10", "1e9", "5e9", "", "0"],
            &["1", "1", "2", "0", "3", "4"],
        );
        let r = dose_qc(&s, &DoseParams::default()).unwrap();
        let classes: Vec<&str> = r.iter().map(|q| q.purity.name()).collect();
        assert_eq!(
            classes,
            [
                "high",
                "intermediate",
                "low",
                "not_assessed",
                "not_assessed",
                "not_assessed"
            ]
        );
        assert_eq!(r[0].particles_per_ug, Some(6e10));
        assert!((r[0].ug_per_particle.unwrap() - 1.0 / 6e10).abs() < 1e-25);
        assert_eq!(r[2].particles_per_ug, Some(5e8));
        let flagged: Vec<bool> = r.iter().map(|q| q.flagged).collect();
        assert_eq!(flagged, [false, false, true, true, false, true]);
        assert!(r[2].note.contains("< 1.50e9"), "{}", r[2].note);
        assert!(r[3].note.contains("protein_ug is 0"), "{}", r[3].note);
        assert_eq!(r[4].note, "no particle_count");
    }

    #[test]
    fn missing_columns_and_params() {
        let s = SampleSheet::new(vec!["a".into()]).unwrap();
        let r = dose_qc(&s, &DoseParams::default()).unwrap();
        assert_eq!(r[0].note, "no particle_count and no protein_ug");
        let bad = DoseParams {
            high_purity_particles_per_ug: 1e9,
            ..Default::default()
        };
        assert!(dose_qc(&s, &bad)
            .unwrap_err()
            .to_string()
            .contains("high_purity"));
        let e = serde_json::from_str::<DoseParams>(r#"{"high": 1}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }
}
