//! Contrasts: linear combinations of design coefficients written as expressions, as limma's
//! `makeContrasts` (`ADSC - BM_MSC`, `high - low`, `(A + B)/2 - C`, `0.5*A - 0.5*B`).
//!
//! A contrast is `name = expression` or just `expression` (its name is then the expression
//! text, as `makeContrasts` names it). Names in the expression must be coefficient names of
//! the design, or names of contrasts given before it: a contrast of contrasts such as
//! `interaction = DPSC_dif - ADSC_dif` after `DPSC_dif = DPSCs.dif - DPSCs.control` and
//! `ADSC_dif = ADSCs.dif - ADSCs.control` is the difference of the two differences (the
//! interaction contrast of limma's user's guide, written out); a coefficient name takes
//! precedence over a contrast of the same name. An unknown name is an error that lists the
//! available names. The arithmetic is edge-rs's `make_contrasts` (the grammar `+ - * / ( )`,
//! numbers and names); this module adds the naming, the references to earlier contrasts and
//! the error that lists the coefficients.

use serde::{Deserialize, Serialize};

use crate::design::Design;
use crate::error::{Result, StatsError};

/// One contrast: its name, its expression, and its weights over the design coefficients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contrast {
    /// Name used in result tables (e.g. `ADSC_vs_BM_MSC`).
    pub name: String,
    /// The expression as written (e.g. `ADSC - BM_MSC`).
    pub expression: String,
    /// One weight per design coefficient.
    pub weights: Vec<f64>,
}

/// A set of contrasts over one design.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contrasts {
    coef_names: Vec<String>,
    contrasts: Vec<Contrast>,
}

/// Whether a contrast name can be written in an expression (a run of `[A-Za-z0-9._]` that is
/// not a number).
fn is_identifier(name: &str) -> bool {
    identifiers(name) == [name]
}

/// Names that appear in an expression (maximal runs of `[A-Za-z0-9._]` that are not numbers).
fn identifiers(expr: &str) -> Vec<&str> {
    let b = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let is_word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'.';
        if is_word(c) {
            let start = i;
            while i < b.len() && is_word(b[i]) {
                i += 1;
            }
            // numbers, including exponents like 1e-3, are not names
            let numeric = c.is_ascii_digit()
                || (c == b'.' && b.get(start + 1).is_some_and(|d| d.is_ascii_digit()));
            if numeric {
                if matches!(b[i - 1], b'e' | b'E') && i < b.len() && (b[i] == b'+' || b[i] == b'-')
                {
                    i += 1;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            } else {
                out.push(&expr[start..i]);
            }
        } else {
            i += 1;
        }
    }
    out
}

impl Contrasts {
    /// Parse contrasts over `design`'s coefficients. Each entry is `name = expression` or an
    /// expression (named by its text).
    pub fn parse<S: AsRef<str>>(design: &Design, specs: &[S]) -> Result<Contrasts> {
        Contrasts::parse_for(design.coef_names(), specs)
    }

    /// Parse contrasts over a list of coefficient names.
    pub fn parse_for<S: AsRef<str>>(coef_names: &[String], specs: &[S]) -> Result<Contrasts> {
        if specs.is_empty() {
            return Err(StatsError::Contrast {
                contrast: String::new(),
                problem: "no contrast given; write e.g. 'ADSC - BM_MSC'".into(),
            });
        }
        let mut contrasts: Vec<Contrast> = Vec::with_capacity(specs.len());
        for spec in specs {
            let spec = spec.as_ref().trim();
            let (name, expression) = match spec.split_once('=') {
                Some((n, e)) => (n.trim().to_string(), e.trim().to_string()),
                None => (spec.to_string(), spec.to_string()),
            };
            if name.is_empty() || expression.is_empty() {
                return Err(StatsError::Contrast {
                    contrast: spec.to_string(),
                    problem: "write 'name = expression' or an expression".into(),
                });
            }
            // earlier contrasts that the expression may name (coefficients take precedence)
            let earlier: Vec<&Contrast> = contrasts
                .iter()
                .filter(|c| !coef_names.contains(&c.name) && is_identifier(&c.name))
                .collect();
            let mut levels: Vec<&str> = coef_names.iter().map(String::as_str).collect();
            levels.extend(earlier.iter().map(|c| c.name.as_str()));
            let mut available = coef_names.join(", ");
            if !earlier.is_empty() {
                available.push_str("; earlier contrasts: ");
                available.push_str(
                    &earlier
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                );
            }
            for id in identifiers(&expression) {
                if !levels.contains(&id) {
                    return Err(StatsError::UnknownCoefficient {
                        contrast: expression.clone(),
                        name: id.to_string(),
                        available: available.clone(),
                    });
                }
            }
            let (extended, _) =
                edge_rs::limma::contrasts::make_contrasts(&levels, &[expression.as_str()])
                    .map_err(|e| {
                        // The engine repeats "Invalid argument: contrast '…':" before its reason.
                        let reason = e.to_string();
                        let reason = reason.strip_prefix("Invalid argument: ").unwrap_or(&reason);
                        let reason = reason
                            .strip_prefix(&format!("contrast '{expression}': "))
                            .unwrap_or(reason);
                        StatsError::Contrast {
                            contrast: expression.clone(),
                            problem: format!(
                                "{reason}; write a combination of coefficients such as 'A - B' or '(A + B)/2 - C' (coefficients: {available})"
                            ),
                        }
                    })?;
            // a named earlier contrast contributes its own weights
            let p = coef_names.len();
            let mut weights = extended[..p].to_vec();
            for (k, c) in earlier.iter().enumerate() {
                let f = extended[p + k];
                if f != 0.0 {
                    for (w, cw) in weights.iter_mut().zip(&c.weights) {
                        *w += f * cw;
                    }
                }
            }
            if weights.iter().all(|w| *w == 0.0) {
                return Err(StatsError::Contrast {
                    contrast: expression.clone(),
                    problem: "all weights are zero, so there is nothing to test".into(),
                });
            }
            if contrasts.iter().any(|c| c.name == name) {
                return Err(StatsError::Contrast {
                    contrast: spec.to_string(),
                    problem: format!("the name '{name}' is used twice"),
                });
            }
            contrasts.push(Contrast {
                name,
                expression,
                weights,
            });
        }
        Ok(Contrasts {
            coef_names: coef_names.to_vec(),
            contrasts,
        })
    }

    /// Every coefficient on its own (limma without `contrasts.fit`), named by the coefficient.
    pub fn coefficients(design: &Design) -> Contrasts {
        let n = design.n_coef();
        Contrasts {
            coef_names: design.coef_names().to_vec(),
            contrasts: design
                .coef_names()
                .iter()
                .enumerate()
                .map(|(j, name)| Contrast {
                    name: name.clone(),
                    expression: name.clone(),
                    weights: (0..n).map(|k| f64::from(u8::from(k == j))).collect(),
                })
                .collect(),
        }
    }

    /// The contrasts, in the order given.
    pub fn contrasts(&self) -> &[Contrast] {
        &self.contrasts
    }

    /// The coefficient names the weights refer to.
    pub fn coef_names(&self) -> &[String] {
        &self.coef_names
    }

    /// Number of contrasts.
    pub fn len(&self) -> usize {
        self.contrasts.len()
    }

    /// True when there is no contrast.
    pub fn is_empty(&self) -> bool {
        self.contrasts.is_empty()
    }

    /// Column-major weights (coefficient × contrast), the engine's layout.
    pub(crate) fn column_major(&self) -> Vec<f64> {
        self.contrasts
            .iter()
            .flat_map(|c| c.weights.iter().copied())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_named_and_unnamed() {
        let c = Contrasts::parse_for(
            &names(&["BM_MSC", "ADSC", "UC_MSC"]),
            &[
                "ADSC_vs_BM_MSC = ADSC - BM_MSC",
                "(ADSC + UC_MSC)/2 - BM_MSC",
                "0.5*ADSC-1e-1*UC_MSC",
            ],
        )
        .unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c.contrasts()[0].name, "ADSC_vs_BM_MSC");
        assert_eq!(c.contrasts()[0].weights, vec![-1.0, 1.0, 0.0]);
        assert_eq!(c.contrasts()[1].name, "(ADSC + UC_MSC)/2 - BM_MSC");
        assert_eq!(c.contrasts()[1].weights, vec![-1.0, 0.5, 0.5]);
        assert_eq!(c.contrasts()[2].weights, vec![0.0, 0.5, -0.1]);
        assert_eq!(c.column_major().len(), 9);
    }

    #[test]
    fn unknown_name_lists_coefficients() {
        let e = Contrasts::parse_for(&names(&["high", "low"]), &["high - medium"]).unwrap_err();
        let m = e.to_string();
        assert!(m.contains("'medium'") && m.contains("high, low"), "{m}");
        assert!(matches!(e, StatsError::UnknownCoefficient { .. }));
    }

    #[test]
    fn malformed_contrasts_are_errors() {
        let n = names(&["a", "b"]);
        assert!(Contrasts::parse_for(&n, &["a -"]).is_err());
        assert!(Contrasts::parse_for(&n, &["a * b"]).is_err());
        assert!(Contrasts::parse_for(&n, &["a - a"]).is_err());
        assert!(Contrasts::parse_for(&n, &["x = a - b", "x = b - a"]).is_err());
        assert!(Contrasts::parse_for::<&str>(&n, &[]).is_err());
        assert!(Contrasts::parse_for(&n, &[" = a"]).is_err());
    }

    #[test]
    fn syntax_error_says_it_once_and_how_to_write_one() {
        let n = names(&["ADSC", "BM_MSC"]);
        let e = Contrasts::parse_for(&n, &["ADSC -"])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("contrast 'ADSC -': expression ended early"),
            "{e}"
        );
        assert_eq!(e.matches("contrast '").count(), 1, "{e}");
        assert!(
            e.contains("such as 'A - B'") && e.contains("coefficients: ADSC, BM_MSC"),
            "{e}"
        );
    }

    #[test]
    fn contrasts_of_contrasts() {
        let n = names(&["A.ctl", "A.dif", "B.ctl", "B.dif"]);
        let c = Contrasts::parse_for(
            &n,
            &[
                "A_dif = A.dif - A.ctl",
                "B_dif = B.dif - B.ctl",
                "interaction = B_dif - A_dif",
                "(B.dif - B.ctl) - (A.dif - A.ctl)",
                "half = 0.5 * interaction",
            ],
        )
        .unwrap();
        assert_eq!(c.contrasts()[2].weights, vec![1.0, -1.0, -1.0, 1.0]);
        assert_eq!(c.contrasts()[3].weights, c.contrasts()[2].weights);
        assert_eq!(c.contrasts()[4].weights, vec![0.5, -0.5, -0.5, 0.5]);
        // a later contrast cannot be named before it is defined
        let e = Contrasts::parse_for(&n, &["x = y - A.ctl", "y = A.dif"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("'y'"), "{e}");
        // an unnamed contrast is not an identifier and cannot be referred to
        let e = Contrasts::parse_for(&n, &["A.dif - A.ctl", "A_ctl = A.ctl"]).unwrap();
        assert_eq!(e.len(), 2);
    }

    #[test]
    fn identifiers_skip_numbers() {
        assert_eq!(
            identifiers("0.5*a_1 - 2e-3*b.c + .5*X3"),
            vec!["a_1", "b.c", "X3"]
        );
    }
}
