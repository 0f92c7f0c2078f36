//! Design matrices from a model formula over sample-sheet columns, as R's `model.matrix`.
//!
//! A formula is `~ [0 +] term + term …`: `0` (or `-1`) removes the intercept, `1` keeps it
//! (the default). A term is a sample-sheet column: a text column is a factor, a numeric column a
//! covariate; `factor(col)` makes a numeric column a factor. Column names with spaces or
//! operators are written in backticks (`` `dose (ug)` ``).
//!
//! Coding follows `model.matrix` with treatment contrasts: with an intercept every factor
//! gets one indicator per level except its first (the reference); without an intercept the
//! first factor term gets one indicator per level (group means, as in `~0+source`) and later
//! factors are treatment-coded.
//!
//! **Level order** (the first level is the reference): by default the order of first
//! appearance in the sample sheet, which is the order the user wrote the sheet in and the one
//! the oracles use (`BM-MSC, ADSC, UC-MSC, iMSC, DPSC, SYN-MSC`; `high, low`). [`LevelOrder::Sorted`]
//! sorts levels by byte order (R sorts by locale, so the two can differ for mixed case), and
//! [`DesignOptions::levels`] fixes the order of a column explicitly.
//!
//! **Coefficient names** are syntactic, so that contrasts can name them ([`syntactic_name`]):
//! the first factor term's coefficients are its level names (`BM_MSC`, `ADSC`, …, as in the
//! oracles); every later factor's are the column name followed by the level, as R writes them
//! (`batchB2`); a numeric covariate's is its column name; the intercept is `Intercept`.
//!
//! **Missing covariates**: a sample with no value in any column the formula uses is dropped
//! from the design and listed in [`Design::dropped`], so the caller can report it.

use std::collections::BTreeMap;

use evomics_core::{ColumnValues, SampleSheet};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::error::{Result, StatsError};

/// The syntactic form of a level or column name, used for coefficient names.
///
/// Like R's `make.names`, but restricted to ASCII so every name can be typed in a contrast:
/// each character other than an ASCII letter, digit, `_` or `.` becomes `_` (so `BM-MSC` →
/// `BM_MSC`, which is the name the oracles give; `make.names` would give `BM.MSC`), and a
/// name that is empty or starts with a digit or with `.` followed by a digit gets an `X`
/// prefix (`3T3` → `X3T3`), as `make.names` does.
pub fn syntactic_name(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let b = out.as_bytes();
    let bad_start = b.is_empty()
        || b[0].is_ascii_digit()
        || (b[0] == b'.' && b.len() > 1 && b[1].is_ascii_digit());
    if bad_start {
        out.insert(0, 'X');
    }
    out
}

/// How factor levels are ordered when no explicit order is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LevelOrder {
    /// Order of first appearance in the sample sheet (default).
    #[default]
    FirstAppearance,
    /// Byte-wise sorted (`ADSC < BM-MSC < … < iMSC`).
    Sorted,
}

/// Options for building a design.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DesignOptions {
    /// Default level order of every factor.
    pub level_order: LevelOrder,
    /// Explicit level order per column (original, not syntactic, level names); the first is the
    /// reference. Every level present in the kept samples must be listed.
    pub levels: BTreeMap<String, Vec<String>>,
}

/// A sample left out of the design because a covariate it needs is missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedSample {
    /// The sample.
    pub sample_id: String,
    /// The formula columns that have no value for it.
    pub columns: Vec<String>,
}

/// How a formula term entered the design.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TermCoding {
    /// A factor: its levels in design order (original names) and whether the first level is
    /// absorbed as the reference (treatment coding) or has its own column.
    Factor {
        /// Levels in order; the first is the reference when `treatment` is true.
        levels: Vec<String>,
        /// True when the first level has no column (treatment contrasts).
        treatment: bool,
    },
    /// A numeric covariate, entered as is.
    Numeric,
}

/// One term of the formula and the design columns it produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesignTerm {
    /// Sample-sheet column.
    pub column: String,
    /// How it is coded.
    pub coding: TermCoding,
    /// Indices of its design columns.
    pub coefficients: Vec<usize>,
}

/// A design matrix: samples × coefficients, with named coefficients and the samples it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Design {
    formula: String,
    sample_ids: Vec<String>,
    matrix: Array2<f64>,
    coef_names: Vec<String>,
    terms: Vec<DesignTerm>,
    dropped: Vec<DroppedSample>,
}

#[derive(Debug, Clone, PartialEq)]
struct Term {
    column: String,
    force_factor: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct Formula {
    intercept: bool,
    terms: Vec<Term>,
}

fn formula_err(formula: &str, problem: impl Into<String>) -> StatsError {
    StatsError::Formula {
        formula: formula.to_string(),
        problem: problem.into(),
    }
}

/// Split a formula's right-hand side into signed tokens, honouring backticks.
fn tokenize(formula: &str) -> Result<Vec<(bool, String, bool)>> {
    let rhs = formula.trim();
    let rhs = rhs.strip_prefix('~').ok_or_else(|| {
        formula_err(
            formula,
            "a formula starts with '~', e.g. '~ 0 + source' or '~ source + batch'",
        )
    })?;
    // (positive sign, text, was backticked)
    let mut out = Vec::new();
    let mut chars = rhs.chars().peekable();
    let mut sign = true;
    let mut expect_term = true;
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '+' || c == '-' {
            if !expect_term && c == '+' {
                expect_term = true;
                sign = true;
            } else if !expect_term && c == '-' {
                expect_term = true;
                sign = false;
            } else if expect_term && c == '-' && out.is_empty() {
                sign = !sign;
            } else {
                return Err(formula_err(formula, format!("unexpected '{c}'")));
            }
            chars.next();
        } else if !expect_term {
            return Err(formula_err(
                formula,
                "terms are separated by '+' (interactions and other operators are not supported)",
            ));
        } else if c == '`' {
            chars.next();
            let mut name = String::new();
            loop {
                match chars.next() {
                    Some('`') => break,
                    Some(ch) => name.push(ch),
                    None => return Err(formula_err(formula, "unclosed backtick")),
                }
            }
            out.push((sign, name, true));
            expect_term = false;
        } else {
            let mut name = String::new();
            let mut depth = 0usize;
            while let Some(&ch) = chars.peek() {
                if depth == 0 && (ch.is_whitespace() || ch == '+' || ch == '-') {
                    break;
                }
                if ch == '(' {
                    depth += 1;
                } else if ch == ')' {
                    depth = depth.saturating_sub(1);
                }
                name.push(ch);
                chars.next();
            }
            out.push((sign, name, false));
            expect_term = false;
        }
    }
    if expect_term {
        return Err(formula_err(
            formula,
            "the formula ends with an operator or has no terms",
        ));
    }
    Ok(out)
}

fn parse_formula(formula: &str) -> Result<Formula> {
    let mut intercept = true;
    let mut terms: Vec<Term> = Vec::new();
    for (positive, text, quoted) in tokenize(formula)? {
        if !quoted && (text == "0" || text == "1") {
            intercept = match (text.as_str(), positive) {
                ("0", true) | ("1", false) => false,
                ("1", true) => true,
                _ => {
                    return Err(formula_err(
                        formula,
                        "'-0' is not meaningful; write '0 +' or '- 1'",
                    ))
                }
            };
            continue;
        }
        if !positive {
            return Err(formula_err(
                formula,
                format!("removing term '{text}' is not supported; only '- 1' (no intercept)"),
            ));
        }
        let (column, force_factor) = match (quoted, text.strip_prefix("factor(")) {
            (false, Some(rest)) => match rest.strip_suffix(')') {
                Some(inner) => (inner.trim().trim_matches('`').to_string(), true),
                None => {
                    return Err(formula_err(
                        formula,
                        format!("unbalanced parenthesis in '{text}'"),
                    ))
                }
            },
            _ => (text, false),
        };
        if !quoted
            && (column.contains('(')
                || column.contains(')')
                || column.contains(':')
                || column.contains('*'))
        {
            return Err(formula_err(
                formula,
                format!("'{column}' is not a column name; only main effects and factor(column) are supported (quote odd names with backticks)"),
            ));
        }
        if terms.iter().any(|t| t.column == column) {
            return Err(formula_err(
                formula,
                format!("column '{column}' appears twice"),
            ));
        }
        terms.push(Term {
            column,
            force_factor,
        });
    }
    if terms.is_empty() && !intercept {
        return Err(formula_err(
            formula,
            "the model has no terms and no intercept",
        ));
    }
    Ok(Formula { intercept, terms })
}

enum Cells {
    Text(Vec<Option<String>>),
    Numeric(Vec<Option<f64>>),
}

fn term_cells(sheet: &SampleSheet, term: &Term) -> Result<Cells> {
    let col = sheet
        .column(&term.column)
        .ok_or_else(|| StatsError::UnknownColumn {
            column: term.column.clone(),
            available: sheet
                .columns()
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    Ok(match (&col.values, term.force_factor) {
        (ColumnValues::Text(v), _) => Cells::Text(v.clone()),
        (ColumnValues::Numeric(v), true) => {
            Cells::Text((0..v.len()).map(|i| col.values.text(i)).collect())
        }
        (ColumnValues::Numeric(v), false) => Cells::Numeric(v.clone()),
    })
}

impl Design {
    /// Build the design of `formula` over the sample sheet's rows (in sheet order).
    ///
    /// Samples missing a value in a formula column are dropped and listed in
    /// [`Design::dropped`]. To model one layer, pass the sheet restricted to the layer's samples.
    pub fn from_formula(
        sheet: &SampleSheet,
        formula: &str,
        options: &DesignOptions,
    ) -> Result<Design> {
        let f = parse_formula(formula)?;
        let cells: Vec<Cells> = f
            .terms
            .iter()
            .map(|t| term_cells(sheet, t))
            .collect::<Result<_>>()?;
        for col in options.levels.keys() {
            if !f.terms.iter().any(|t| &t.column == col) {
                return Err(StatsError::Option {
                    option: "levels".into(),
                    problem: format!("an order is given for column '{col}', which the formula '{formula}' does not use"),
                });
            }
        }

        // samples with every covariate present
        let mut kept = Vec::new();
        let mut dropped = Vec::new();
        for (row, id) in sheet.sample_ids().iter().enumerate() {
            let missing: Vec<String> = f
                .terms
                .iter()
                .zip(&cells)
                .filter(|(_, c)| match c {
                    Cells::Text(v) => v[row].is_none(),
                    Cells::Numeric(v) => v[row].is_none(),
                })
                .map(|(t, _)| t.column.clone())
                .collect();
            if missing.is_empty() {
                kept.push(row);
            } else {
                dropped.push(DroppedSample {
                    sample_id: id.clone(),
                    columns: missing,
                });
            }
        }
        let design_err = |problem: String| StatsError::Design {
            formula: formula.to_string(),
            problem,
        };
        if kept.is_empty() {
            return Err(design_err(format!(
                "no sample has a value in every formula column ({} dropped); fill in the sample sheet",
                dropped.len()
            )));
        }

        let n = kept.len();
        let mut columns: Vec<Vec<f64>> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut terms = Vec::new();
        if f.intercept {
            columns.push(vec![1.0; n]);
            names.push("Intercept".into());
        }
        let mut first_factor = true;
        for (term, c) in f.terms.iter().zip(&cells) {
            let start = columns.len();
            match c {
                Cells::Numeric(v) => {
                    if options.levels.contains_key(&term.column) {
                        return Err(StatsError::Option {
                            option: format!("levels.{}", term.column),
                            problem: format!(
                                "column '{}' is numeric and enters as a covariate; write factor({}) in the formula to treat it as a factor",
                                term.column, term.column
                            ),
                        });
                    }
                    columns.push(kept.iter().map(|&r| v[r].unwrap_or(f64::NAN)).collect());
                    names.push(syntactic_name(&term.column));
                    terms.push(DesignTerm {
                        column: term.column.clone(),
                        coding: TermCoding::Numeric,
                        coefficients: vec![start],
                    });
                }
                Cells::Text(v) => {
                    let values: Vec<&str> = kept
                        .iter()
                        .map(|&r| v[r].as_deref().unwrap_or(""))
                        .collect();
                    let levels = order_levels(&term.column, &values, options)?;
                    check_syntactic_unique(&term.column, &levels)?;
                    let full = !f.intercept && first_factor;
                    let bare = first_factor;
                    first_factor = false;
                    if !full && levels.len() < 2 {
                        return Err(design_err(format!(
                            "factor '{}' has a single level '{}' among the kept samples, so it cannot be contrasted; drop it from the formula",
                            term.column, levels[0]
                        )));
                    }
                    let skip = usize::from(!full);
                    for level in &levels[skip..] {
                        columns.push(
                            values
                                .iter()
                                .map(|x| f64::from(u8::from(x == level)))
                                .collect(),
                        );
                        names.push(if bare {
                            syntactic_name(level)
                        } else {
                            syntactic_name(&format!("{}{}", term.column, level))
                        });
                    }
                    terms.push(DesignTerm {
                        column: term.column.clone(),
                        coding: TermCoding::Factor {
                            levels,
                            treatment: !full,
                        },
                        coefficients: (start..columns.len()).collect(),
                    });
                }
            }
        }
        for (i, a) in names.iter().enumerate() {
            if let Some(b) = names[..i].iter().position(|b| b == a) {
                return Err(design_err(format!(
                    "two design columns are both named '{a}' (columns {} and {}); rename a level or column in the sample sheet",
                    b + 1,
                    i + 1
                )));
            }
        }
        let mut matrix = Array2::zeros((n, columns.len()));
        for (j, col) in columns.iter().enumerate() {
            for (i, &v) in col.iter().enumerate() {
                matrix[[i, j]] = v;
            }
        }
        Ok(Design {
            formula: formula.to_string(),
            sample_ids: kept
                .iter()
                .map(|&r| sheet.sample_ids()[r].clone())
                .collect(),
            matrix,
            coef_names: names,
            terms,
            dropped,
        })
    }

    /// A design from an explicit matrix (samples × coefficients) with its coefficient names.
    pub fn from_matrix(
        sample_ids: Vec<String>,
        matrix: Array2<f64>,
        coef_names: Vec<String>,
    ) -> Result<Design> {
        if matrix.nrows() != sample_ids.len() || matrix.ncols() != coef_names.len() {
            return Err(StatsError::Shape {
                what: "design matrix".into(),
                got: format!("{:?}", matrix.dim()),
                expected: format!("({}, {})", sample_ids.len(), coef_names.len()),
            });
        }
        if matrix.iter().any(|v| !v.is_finite()) {
            return Err(StatsError::Design {
                formula: "<matrix>".into(),
                problem: "the design matrix has a non-finite entry".into(),
            });
        }
        if matrix.ncols() == 0 || matrix.nrows() == 0 {
            return Err(StatsError::Design {
                formula: "<matrix>".into(),
                problem: "the design matrix is empty".into(),
            });
        }
        for (i, a) in coef_names.iter().enumerate() {
            if coef_names[..i].contains(a) {
                return Err(StatsError::Design {
                    formula: "<matrix>".into(),
                    problem: format!("coefficient name '{a}' occurs twice"),
                });
            }
        }
        Ok(Design {
            formula: "<matrix>".into(),
            sample_ids,
            matrix,
            coef_names,
            terms: Vec::new(),
            dropped: Vec::new(),
        })
    }

    /// The formula the design came from (`<matrix>` for [`Design::from_matrix`]).
    pub fn formula(&self) -> &str {
        &self.formula
    }

    /// Samples in the design, in row order (sheet order, dropped samples left out).
    pub fn sample_ids(&self) -> &[String] {
        &self.sample_ids
    }

    /// The matrix, samples × coefficients.
    pub fn matrix(&self) -> &Array2<f64> {
        &self.matrix
    }

    /// Coefficient (column) names.
    pub fn coef_names(&self) -> &[String] {
        &self.coef_names
    }

    /// How each formula term was coded.
    pub fn terms(&self) -> &[DesignTerm] {
        &self.terms
    }

    /// Samples dropped because a covariate was missing.
    pub fn dropped(&self) -> &[DroppedSample] {
        &self.dropped
    }

    /// Number of samples.
    pub fn n_samples(&self) -> usize {
        self.matrix.nrows()
    }

    /// Number of coefficients.
    pub fn n_coef(&self) -> usize {
        self.matrix.ncols()
    }

    /// Row-major copy of the matrix, the layout the engine takes.
    pub(crate) fn row_major(&self) -> Vec<f64> {
        self.matrix.iter().copied().collect()
    }

    /// Numerical rank of the design (limma's `qr(design)$rank` rule).
    pub fn rank(&self) -> Result<usize> {
        edge_rs::utils::design::matrix_rank(&self.row_major(), self.n_samples(), self.n_coef())
            .map_err(crate::error::engine("design rank"))
    }
}

fn order_levels(column: &str, values: &[&str], options: &DesignOptions) -> Result<Vec<String>> {
    let mut seen: Vec<String> = Vec::new();
    for v in values {
        if !seen.iter().any(|s| s == v) {
            seen.push((*v).to_string());
        }
    }
    if let Some(explicit) = options.levels.get(column) {
        for v in &seen {
            if !explicit.contains(v) {
                return Err(StatsError::Option {
                    option: format!("levels.{column}"),
                    problem: format!(
                        "level '{v}' occurs in the samples but is not in the given order [{}]; list every level",
                        explicit.join(", ")
                    ),
                });
            }
        }
        for (i, e) in explicit.iter().enumerate() {
            if !seen.contains(e) {
                return Err(StatsError::Option {
                    option: format!("levels.{column}"),
                    problem: format!(
                        "level '{e}' does not occur in the kept samples (present: {})",
                        seen.join(", ")
                    ),
                });
            }
            if explicit[..i].contains(e) {
                return Err(StatsError::Option {
                    option: format!("levels.{column}"),
                    problem: format!("level '{e}' is listed twice"),
                });
            }
        }
        return Ok(explicit.clone());
    }
    if options.level_order == LevelOrder::Sorted {
        seen.sort();
    }
    Ok(seen)
}

fn check_syntactic_unique(column: &str, levels: &[String]) -> Result<()> {
    for (i, a) in levels.iter().enumerate() {
        for b in &levels[..i] {
            if syntactic_name(a) == syntactic_name(b) {
                return Err(StatsError::Column {
                    column: column.to_string(),
                    problem: format!(
                        "levels '{b}' and '{a}' both become coefficient name '{}'; rename one in the sample sheet",
                        syntactic_name(a)
                    ),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sheet() -> SampleSheet {
        let s = |v: &[&str]| v.iter().map(|x| Some(x.to_string())).collect::<Vec<_>>();
        SampleSheet::from_text_columns(
            vec!["a".into(), "b".into(), "c".into(), "d".into(), "e".into()],
            vec![
                (
                    "source".into(),
                    s(&["BM-MSC", "ADSC", "BM-MSC", "UC-MSC", "ADSC"]),
                ),
                (
                    "batch".into(),
                    vec![
                        Some("B1".into()),
                        Some("B2".into()),
                        None,
                        Some("B2".into()),
                        Some("B1".into()),
                    ],
                ),
                ("potency_score".into(), s(&["1.5", "2", "3", "4", "5.5"])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn syntactic_names() {
        assert_eq!(syntactic_name("BM-MSC"), "BM_MSC");
        assert_eq!(syntactic_name("iMSC"), "iMSC");
        assert_eq!(syntactic_name("3T3"), "X3T3");
        assert_eq!(syntactic_name(".5x"), "X.5x");
        assert_eq!(syntactic_name("a b/c"), "a_b_c");
        assert_eq!(syntactic_name(""), "X");
        assert_eq!(syntactic_name("HIF-1α"), "HIF_1_");
    }

    #[test]
    fn group_means_design_in_first_appearance_order() {
        let d = Design::from_formula(&sheet(), "~ 0 + source", &DesignOptions::default()).unwrap();
        assert_eq!(d.coef_names(), &["BM_MSC", "ADSC", "UC_MSC"]);
        assert_eq!(d.n_samples(), 5);
        assert_eq!(d.matrix().row(1).to_vec(), vec![0.0, 1.0, 0.0]);
        assert!(d.dropped().is_empty());
        assert_eq!(d.rank().unwrap(), 3);
    }

    #[test]
    fn sorted_and_explicit_orders() {
        let o = DesignOptions {
            level_order: LevelOrder::Sorted,
            ..Default::default()
        };
        let d = Design::from_formula(&sheet(), "~0+source", &o).unwrap();
        assert_eq!(d.coef_names(), &["ADSC", "BM_MSC", "UC_MSC"]);
        let mut o = DesignOptions::default();
        o.levels.insert(
            "source".into(),
            vec!["UC-MSC".into(), "ADSC".into(), "BM-MSC".into()],
        );
        let d = Design::from_formula(&sheet(), "~ source", &o).unwrap();
        assert_eq!(d.coef_names(), &["Intercept", "ADSC", "BM_MSC"]);
        o.levels
            .insert("source".into(), vec!["UC-MSC".into(), "ADSC".into()]);
        let e = Design::from_formula(&sheet(), "~ source", &o)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("BM-MSC") && e.contains("list every level"),
            "{e}"
        );
    }

    #[test]
    fn intercept_factor_and_covariate_with_dropped_sample() {
        let d =
            Design::from_formula(&sheet(), "~ source + batch", &DesignOptions::default()).unwrap();
        assert_eq!(d.coef_names(), &["Intercept", "ADSC", "UC_MSC", "batchB2"]);
        assert_eq!(d.sample_ids(), &["a", "b", "d", "e"]);
        assert_eq!(
            d.dropped(),
            &[DroppedSample {
                sample_id: "c".into(),
                columns: vec!["batch".into()]
            }]
        );
        let d = Design::from_formula(
            &sheet(),
            "~ potency_score + batch",
            &DesignOptions::default(),
        )
        .unwrap();
        assert_eq!(d.coef_names(), &["Intercept", "potency_score", "B2"]);
        assert_eq!(d.matrix()[[2, 1]], 4.0);
        let d = Design::from_formula(&sheet(), "~ potency_score - 1", &DesignOptions::default())
            .unwrap();
        assert_eq!(d.coef_names(), &["potency_score"]);
    }

    #[test]
    fn factor_of_numeric_and_backticks() {
        let d = Design::from_formula(
            &sheet(),
            "~0 + factor(potency_score)",
            &DesignOptions::default(),
        )
        .unwrap();
        assert_eq!(d.coef_names(), &["X1.5", "X2", "X3", "X4", "X5.5"]);
        let d =
            Design::from_formula(&sheet(), "~ 0 + `source`", &DesignOptions::default()).unwrap();
        assert_eq!(d.n_coef(), 3);
    }

    #[test]
    fn formula_errors_are_explained() {
        let s = sheet();
        let o = DesignOptions::default();
        let e = Design::from_formula(&s, "~ 0 + donor", &o)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("donor") && e.contains("source, batch, potency_score"),
            "{e}"
        );
        assert!(Design::from_formula(&s, "0 + source", &o)
            .unwrap_err()
            .to_string()
            .contains("starts with '~'"));
        assert!(Design::from_formula(&s, "~ source +", &o).is_err());
        assert!(Design::from_formula(&s, "~ source:batch", &o).is_err());
        assert!(Design::from_formula(&s, "~ source + source", &o).is_err());
        assert!(Design::from_formula(&s, "~ 0", &o).is_err());
        let mut lv = DesignOptions::default();
        lv.levels.insert("batch".into(), vec!["B1".into()]);
        assert!(Design::from_formula(&s, "~ source", &lv)
            .unwrap_err()
            .to_string()
            .contains("does not use"));
        let mut lv = DesignOptions::default();
        lv.levels.insert("potency_score".into(), vec!["1.5".into()]);
        assert!(Design::from_formula(&s, "~ potency_score", &lv)
            .unwrap_err()
            .to_string()
            .contains("factor(potency_score)"));
    }

    #[test]
    fn colliding_names_are_errors() {
        let s = |v: &[&str]| v.iter().map(|x| Some(x.to_string())).collect::<Vec<_>>();
        let sh = SampleSheet::from_text_columns(
            vec!["a".into(), "b".into()],
            vec![("source".into(), s(&["BM-MSC", "BM MSC"]))],
        )
        .unwrap();
        let e = Design::from_formula(&sh, "~0+source", &DesignOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("BM_MSC"), "{e}");
        let sh = SampleSheet::from_text_columns(
            vec!["a".into(), "b".into()],
            vec![("source".into(), s(&["A", "A"]))],
        )
        .unwrap();
        let e = Design::from_formula(&sh, "~source", &DesignOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("single level"), "{e}");
    }

    #[test]
    fn from_matrix_checks_shape() {
        let m = Array2::from_shape_vec((2, 1), vec![1.0, 1.0]).unwrap();
        assert!(
            Design::from_matrix(vec!["a".into(), "b".into()], m.clone(), vec!["x".into()]).is_ok()
        );
        assert!(Design::from_matrix(vec!["a".into()], m, vec!["x".into()]).is_err());
    }
}
