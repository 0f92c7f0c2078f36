//! Design matrices from a model formula over sample-sheet columns, as R's `model.matrix`.
//!
//! Shared by the statistics (`evomics-stats` re-exports this module as its `design`) and by
//! preprocessing steps that need a design (edgeR's `filterByExpr` with `design = "~ …"`).
//!
//! A formula is `~ [0 +] term + term …`: `0` (or `-1`) removes the intercept, `1` keeps it
//! (the default). A term is a sample-sheet column, or an interaction of columns: `a:b` is the
//! interaction alone, `a*b` is `a + b + a:b` (and `a*b*c` every main effect and interaction of
//! the three). A text column is a factor, a numeric column a covariate; `factor(col)` makes a
//! numeric column a factor. Column names with spaces or operators are written in backticks
//! (`` `dose (ug)` ``).
//!
//! **Coding** follows `model.matrix` with treatment contrasts, term by term in R's order (main
//! effects first, then two-way interactions, …, formula order within each): a factor in a term is
//! coded by contrasts (one indicator per level except the first, the reference) when the term
//! without that factor is empty or is contained in an earlier term, and by one indicator per
//! level otherwise; without an intercept, the first factor of the first term that has one gets
//! one indicator per level (group means, as in `~ 0 + source`). So `~ 0 + a:b` has one column
//! per combination of levels (the cell-means model of the limma user's guide), `~ a*b` has the
//! intercept, the contrasts of `a` and `b` and their products. A term's columns run through the
//! levels of its first factor fastest, as R's do. Combinations that no sample has are kept as
//! all-zero columns, as R keeps them (their coefficients are then not estimable).
//!
//! **Level order** (the first level is the reference): by default the order of first
//! appearance in the sample sheet, which is the order the user wrote the sheet in and the one
//! the oracles use (`BM-MSC, ADSC, UC-MSC, iMSC, DPSC, SYN-MSC`; `high, low`). [`LevelOrder::Sorted`]
//! sorts levels by byte order (R sorts by locale, so the two can differ for mixed case), and
//! [`DesignOptions::levels`] fixes the order of a column explicitly.
//!
//! **Coefficient names** are syntactic, so that contrasts can name them ([`syntactic_name`]):
//! the factors of the first term that has a factor are named by their levels alone (`BM_MSC`,
//! `ADSC`, …, as in the oracles; for `~ 0 + Cell_type:Differentiation`, `ADSCs.control`,
//! `DPSCs.control`, …, the names of the limma user's guide's `paste(a, b, sep = ".")` groups);
//! every other factor is named by the column followed by the level, as R writes them
//! (`batchB2`); a numeric covariate by its column name; the parts of an interaction are joined
//! by `.` where R writes `:` (R's `sourceADSC:batchB2` is not a name a contrast can use, so
//! `~ source * batch` has the interaction column `sourceADSC.batchB2`); the intercept is
//! `Intercept`.
//!
//! **Missing covariates**: a sample with no value in any column the formula uses is dropped
//! from the design and listed in [`Design::dropped`], so the caller can report it.

use std::collections::BTreeMap;

use evomics_core::{ColumnValues, SampleSheet};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::error::{NormError, Result};

const STEP: &str = "design";
/// Most terms one `a*b*…` may cross (2⁸ − 1 = 255 terms).
const MAX_CROSSED: usize = 8;

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
    /// An interaction: the product of its components' columns (the first component varying
    /// fastest).
    Interaction {
        /// The components, in the order of their first appearance in the formula.
        components: Vec<TermComponent>,
    },
}

/// One column of an interaction term and its coding within the term.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TermComponent {
    /// Sample-sheet column.
    pub column: String,
    /// [`TermCoding::Factor`] or [`TermCoding::Numeric`].
    pub coding: TermCoding,
}

/// One term of the formula and the design columns it produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesignTerm {
    /// The term: a sample-sheet column, or columns joined by `:` for an interaction.
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

/// A variable of the formula: a sample-sheet column, possibly forced to a factor.
#[derive(Debug, Clone, PartialEq)]
struct Var {
    column: String,
    force_factor: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct Formula {
    intercept: bool,
    vars: Vec<Var>,
    /// Terms as sorted variable indices, in R's order (by degree, then formula order).
    terms: Vec<Vec<usize>>,
}

fn formula_err(formula: &str, problem: impl Into<String>) -> NormError {
    NormError::Formula {
        formula: formula.to_string(),
        problem: problem.into(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Op(char),
    Name { text: String, quoted: bool },
}

/// Split a formula's right-hand side into operators and names, honouring backticks and the
/// parentheses of `factor(…)`.
fn tokenize(formula: &str) -> Result<Vec<Token>> {
    let rhs = formula.trim();
    let rhs = rhs.strip_prefix('~').ok_or_else(|| {
        formula_err(
            formula,
            "a formula starts with '~', e.g. '~ 0 + source' or '~ source + batch'",
        )
    })?;
    let mut out = Vec::new();
    let mut chars = rhs.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if matches!(c, '+' | '-' | ':' | '*') {
            out.push(Token::Op(c));
            chars.next();
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
            out.push(Token::Name {
                text: name,
                quoted: true,
            });
        } else {
            let mut name = String::new();
            let mut depth = 0usize;
            while let Some(&ch) = chars.peek() {
                if depth == 0 && (ch.is_whitespace() || matches!(ch, '+' | '-' | ':' | '*')) {
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
            out.push(Token::Name {
                text: name,
                quoted: false,
            });
        }
    }
    Ok(out)
}

/// A variable from a name token: `col`, `` `col` `` or `factor(col)`.
fn variable(formula: &str, text: &str, quoted: bool) -> Result<Var> {
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
        _ => (text.to_string(), false),
    };
    if !quoted && (column.contains('(') || column.contains(')')) {
        return Err(formula_err(
            formula,
            format!("'{column}' is not a column name; terms are columns, factor(column) and their interactions a:b, a*b (quote odd names with backticks)"),
        ));
    }
    if column.is_empty() {
        return Err(formula_err(formula, "an empty column name"));
    }
    Ok(Var {
        column,
        force_factor,
    })
}

fn parse_formula(formula: &str) -> Result<Formula> {
    let tokens = tokenize(formula)?;
    let mut intercept = true;
    let mut vars: Vec<Var> = Vec::new();
    let mut terms: Vec<Vec<usize>> = Vec::new();
    // additive items as written, to catch a term written twice
    let mut written: Vec<Vec<Vec<usize>>> = Vec::new();
    let mut i = 0;
    let mut first = true;
    while i < tokens.len() {
        // sign of the additive item
        let mut positive = true;
        if first {
            if tokens[i] == Token::Op('-') {
                positive = false;
                i += 1;
            }
        } else {
            match tokens[i] {
                Token::Op('+') => {}
                Token::Op('-') => positive = false,
                Token::Op(c) => return Err(formula_err(formula, format!("unexpected '{c}'"))),
                Token::Name { .. } => {
                    return Err(formula_err(
                        formula,
                        "terms are separated by '+'; interactions are written a:b or a*b",
                    ))
                }
            }
            i += 1;
        }
        first = false;
        // a product: name ((':' | '*') name)*
        let mut groups: Vec<Vec<usize>> = vec![Vec::new()];
        let mut constant: Option<String> = None;
        loop {
            let Some(Token::Name { text, quoted }) = tokens.get(i) else {
                return Err(match tokens.get(i) {
                    Some(Token::Op(c)) => formula_err(formula, format!("unexpected '{c}'")),
                    _ => formula_err(formula, "the formula ends with an operator or has no terms"),
                });
            };
            i += 1;
            if !quoted && (text == "0" || text == "1") {
                constant = Some(text.clone());
            } else {
                let v = variable(formula, text, *quoted)?;
                let idx = match vars.iter().position(|w| w.column == v.column) {
                    Some(k) if vars[k].force_factor != v.force_factor => {
                        return Err(formula_err(
                            formula,
                            format!(
                                "column '{}' is used both as factor({0}) and as {0}; use one",
                                v.column
                            ),
                        ))
                    }
                    Some(k) => k,
                    None => {
                        vars.push(v);
                        vars.len() - 1
                    }
                };
                let g = groups.last_mut().expect("a group");
                if !g.contains(&idx) {
                    g.push(idx);
                }
            }
            match tokens.get(i) {
                Some(Token::Op(':')) => i += 1,
                Some(Token::Op('*')) => {
                    groups.push(Vec::new());
                    i += 1;
                }
                _ => break,
            }
        }
        if let Some(c) = constant {
            if groups.len() > 1 || !groups[0].is_empty() {
                return Err(formula_err(
                    formula,
                    format!("'{c}' cannot be part of an interaction"),
                ));
            }
            intercept = match (c.as_str(), positive) {
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
                "removing a term is not supported; only '- 1' (no intercept)",
            ));
        }
        let mut item: Vec<Vec<usize>> = groups
            .iter()
            .map(|g| {
                let mut g = g.clone();
                g.sort_unstable();
                g
            })
            .collect();
        item.sort();
        if written.contains(&item) {
            let label: Vec<String> = groups
                .iter()
                .map(|g| {
                    g.iter()
                        .map(|&k| vars[k].column.clone())
                        .collect::<Vec<_>>()
                        .join(":")
                })
                .collect();
            return Err(formula_err(
                formula,
                format!("term '{}' appears twice", label.join("*")),
            ));
        }
        written.push(item);
        // a*b*c: every non-empty product of the groups, in R's expansion order
        let k = groups.len();
        if k > MAX_CROSSED {
            return Err(formula_err(
                formula,
                format!("{k} terms crossed with '*' would give {} terms; at most {MAX_CROSSED} can be crossed", (1u64 << k.min(63)) - 1),
            ));
        }
        for mask in 1u64..(1u64 << k) {
            let mut t: Vec<usize> = Vec::new();
            for (b, g) in groups.iter().enumerate() {
                if mask & (1 << b) != 0 {
                    for &v in g {
                        if !t.contains(&v) {
                            t.push(v);
                        }
                    }
                }
            }
            t.sort_unstable();
            if !terms.contains(&t) {
                terms.push(t);
            }
        }
    }
    if first {
        return Err(formula_err(
            formula,
            "the formula ends with an operator or has no terms",
        ));
    }
    if terms.is_empty() && !intercept {
        return Err(formula_err(
            formula,
            "the model has no terms and no intercept",
        ));
    }
    // R orders terms by degree, keeping formula order within a degree
    terms.sort_by_key(|t| t.len());
    Ok(Formula {
        intercept,
        vars,
        terms,
    })
}

enum Cells {
    Text(Vec<Option<String>>),
    Numeric(Vec<Option<f64>>),
}

fn var_cells(sheet: &SampleSheet, var: &Var) -> Result<Cells> {
    let col = sheet
        .column(&var.column)
        .ok_or_else(|| NormError::MissingColumn {
            step: STEP,
            column: var.column.clone(),
            param: "formula",
            available: sheet
                .columns()
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    Ok(match (&col.values, var.force_factor) {
        (ColumnValues::Text(v), _) => Cells::Text(v.clone()),
        (ColumnValues::Numeric(v), true) => {
            Cells::Text((0..v.len()).map(|i| col.values.text(i)).collect())
        }
        (ColumnValues::Numeric(v), false) => Cells::Numeric(v.clone()),
    })
}

/// A variable over the kept samples: a factor's level index per sample, or the numbers.
enum Coded {
    Factor {
        levels: Vec<String>,
        index: Vec<usize>,
    },
    Numeric(Vec<f64>),
}

impl Design {
    /// Build the design of `formula` over the sample sheet's rows (in sheet order).
    ///
    /// Samples missing a value in a formula column are dropped and listed in
    /// [`Design::dropped`]. To model one layer, pass the sheet restricted to the layer's samples.
    ///
    /// ```
    /// use evomics_core::SampleSheet;
    /// use evomics_norm::design::{Design, DesignOptions};
    ///
    /// let text = |v: &[&str]| v.iter().map(|x| Some(x.to_string())).collect::<Vec<_>>();
    /// let sheet = SampleSheet::from_text_columns(
    ///     (1..=8).map(|j| format!("s{j}")).collect(),
    ///     vec![
    ///         ("cell".into(), text(&["ADSC", "ADSC", "ADSC", "ADSC", "DPSC", "DPSC", "DPSC", "DPSC"])),
    ///         ("diff".into(), text(&["control", "dif", "control", "dif", "control", "dif", "control", "dif"])),
    ///     ],
    /// )
    /// .unwrap();
    /// let o = DesignOptions::default();
    /// let cells = Design::from_formula(&sheet, "~ 0 + cell:diff", &o).unwrap();
    /// assert_eq!(cells.coef_names(), ["ADSC.control", "DPSC.control", "ADSC.dif", "DPSC.dif"]);
    /// let full = Design::from_formula(&sheet, "~ cell * diff", &o).unwrap();
    /// assert_eq!(full.coef_names(), ["Intercept", "DPSC", "diffdif", "cellDPSC.diffdif"]);
    /// ```
    pub fn from_formula(
        sheet: &SampleSheet,
        formula: &str,
        options: &DesignOptions,
    ) -> Result<Design> {
        let f = parse_formula(formula)?;
        let cells: Vec<Cells> = f
            .vars
            .iter()
            .map(|v| var_cells(sheet, v))
            .collect::<Result<_>>()?;
        for col in options.levels.keys() {
            if !f.vars.iter().any(|v| &v.column == col) {
                return Err(NormError::InvalidParam {
                    step: STEP,
                    param: "levels",
                    problem: format!("an order is given for column '{col}', which the formula '{formula}' does not use"),
                });
            }
        }

        // samples with every covariate present
        let mut kept = Vec::new();
        let mut dropped = Vec::new();
        for (row, id) in sheet.sample_ids().iter().enumerate() {
            let missing: Vec<String> = f
                .vars
                .iter()
                .zip(&cells)
                .filter(|(_, c)| match c {
                    Cells::Text(v) => v[row].is_none(),
                    Cells::Numeric(v) => v[row].is_none(),
                })
                .map(|(v, _)| v.column.clone())
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
        let design_err = |problem: String| NormError::Design {
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

        let coded: Vec<Coded> = f
            .vars
            .iter()
            .zip(&cells)
            .map(|(var, c)| match c {
                Cells::Numeric(v) => {
                    if options.levels.contains_key(&var.column) {
                        return Err(NormError::InvalidParam {
                            step: STEP,
                            param: "levels",
                            problem: format!(
                                "column '{}' is numeric and enters as a covariate; write factor({}) in the formula to treat it as a factor",
                                var.column, var.column
                            ),
                        });
                    }
                    Ok(Coded::Numeric(
                        kept.iter().map(|&r| v[r].unwrap_or(f64::NAN)).collect(),
                    ))
                }
                Cells::Text(v) => {
                    let values: Vec<&str> = kept
                        .iter()
                        .map(|&r| v[r].as_deref().unwrap_or(""))
                        .collect();
                    let levels = order_levels(&var.column, &values, options)?;
                    check_syntactic_unique(formula, &var.column, &levels)?;
                    let index = values
                        .iter()
                        .map(|x| levels.iter().position(|l| l == x).unwrap_or(0))
                        .collect();
                    Ok(Coded::Factor { levels, index })
                }
            })
            .collect::<Result<_>>()?;
        let is_factor = |v: usize| matches!(coded[v], Coded::Factor { .. });

        // R's TermCode: contrasts (false) or full indicators (true) per factor of each term
        let mut full: Vec<Vec<bool>> = f
            .terms
            .iter()
            .enumerate()
            .map(|(t, term)| {
                term.iter()
                    .map(|&v| {
                        let rest: Vec<usize> = term.iter().copied().filter(|&u| u != v).collect();
                        if rest.is_empty() {
                            return false;
                        }
                        !f.terms[..t]
                            .iter()
                            .any(|prev| rest.iter().all(|u| prev.contains(u)))
                    })
                    .collect()
            })
            .collect();
        // without an intercept, the first factor of the first term with one is coded fully
        let first_factor_term = f.terms.iter().position(|t| t.iter().any(|&v| is_factor(v)));
        if let Some(t) = first_factor_term {
            if !f.intercept {
                let k = f.terms[t]
                    .iter()
                    .position(|&v| is_factor(v))
                    .expect("a factor");
                full[t][k] = true;
            }
        }

        let mut columns: Vec<Vec<f64>> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut terms = Vec::new();
        if f.intercept {
            columns.push(vec![1.0; n]);
            names.push("Intercept".into());
        }
        for (t, term) in f.terms.iter().enumerate() {
            let bare = Some(t) == first_factor_term;
            // per component: (name, values) of each of its columns
            let mut parts: Vec<Vec<(String, Vec<f64>)>> = Vec::new();
            let mut components = Vec::new();
            for (k, &v) in term.iter().enumerate() {
                let column = &f.vars[v].column;
                match &coded[v] {
                    Coded::Numeric(x) => {
                        parts.push(vec![(syntactic_name(column), x.clone())]);
                        components.push(TermComponent {
                            column: column.clone(),
                            coding: TermCoding::Numeric,
                        });
                    }
                    Coded::Factor { levels, index } => {
                        let treatment = !full[t][k];
                        if treatment && levels.len() < 2 {
                            return Err(design_err(format!(
                                "factor '{column}' has a single level '{}' among the kept samples, so it cannot be contrasted; drop it from the formula",
                                levels[0]
                            )));
                        }
                        let skip = usize::from(treatment);
                        parts.push(
                            (skip..levels.len())
                                .map(|l| {
                                    let name = if bare {
                                        syntactic_name(&levels[l])
                                    } else {
                                        syntactic_name(&format!("{column}{}", levels[l]))
                                    };
                                    (
                                        name,
                                        index
                                            .iter()
                                            .map(|&i| f64::from(u8::from(i == l)))
                                            .collect(),
                                    )
                                })
                                .collect(),
                        );
                        components.push(TermComponent {
                            column: column.clone(),
                            coding: TermCoding::Factor {
                                levels: levels.clone(),
                                treatment,
                            },
                        });
                    }
                }
            }
            let start = columns.len();
            // cartesian product, the first component varying fastest
            let mut combos: Vec<(String, Vec<f64>)> = vec![(String::new(), vec![1.0; n])];
            for part in &parts {
                let mut next = Vec::with_capacity(combos.len() * part.len());
                for (pname, pval) in part {
                    for (cname, cval) in &combos {
                        let name = if cname.is_empty() {
                            pname.clone()
                        } else {
                            format!("{cname}.{pname}")
                        };
                        next.push((name, cval.iter().zip(pval).map(|(a, b)| a * b).collect()));
                    }
                }
                combos = next;
            }
            for (name, col) in combos {
                names.push(name);
                columns.push(col);
            }
            let label = term
                .iter()
                .map(|&v| f.vars[v].column.clone())
                .collect::<Vec<_>>()
                .join(":");
            let coding = if components.len() == 1 {
                components.pop().expect("one component").coding
            } else {
                TermCoding::Interaction { components }
            };
            terms.push(DesignTerm {
                column: label,
                coding,
                coefficients: (start..columns.len()).collect(),
            });
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
        let err = |problem: String| NormError::Design {
            formula: "<matrix>".into(),
            problem,
        };
        if matrix.nrows() != sample_ids.len() || matrix.ncols() != coef_names.len() {
            return Err(err(format!(
                "the matrix is {:?}, expected ({}, {}) (samples × coefficient names)",
                matrix.dim(),
                sample_ids.len(),
                coef_names.len()
            )));
        }
        if matrix.iter().any(|v| !v.is_finite()) {
            return Err(err("the design matrix has a non-finite entry".into()));
        }
        if matrix.ncols() == 0 || matrix.nrows() == 0 {
            return Err(err("the design matrix is empty".into()));
        }
        for (i, a) in coef_names.iter().enumerate() {
            if coef_names[..i].contains(a) {
                return Err(err(format!("coefficient name '{a}' occurs twice")));
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

    /// Row-major copy of the matrix (sample by sample).
    pub fn row_major(&self) -> Vec<f64> {
        self.matrix.iter().copied().collect()
    }

    /// Numerical rank of the design (R's `qr(design)$rank`: a column whose part orthogonal to the
    /// earlier ones is at most 1e-7 of its norm does not count).
    pub fn rank(&self) -> Result<usize> {
        Ok(crate::num::column_rank(
            &self.row_major(),
            self.n_samples(),
            self.n_coef(),
        ))
    }

    /// Leverages of the samples (R's `hat(design)`, which adds an intercept column unless
    /// `intercept` is false): the diagonal of the projection onto the design's column space.
    pub fn hat_values(&self, intercept: bool) -> Vec<f64> {
        let (n, p) = (self.n_samples(), self.n_coef());
        let mut x = Vec::with_capacity(n * (p + 1));
        for i in 0..n {
            if intercept {
                x.push(1.0);
            }
            x.extend(self.matrix.row(i).iter().copied());
        }
        let cols = p + usize::from(intercept);
        let basis = crate::num::orthonormal_basis(&x, n, cols);
        (0..n)
            .map(|i| crate::num::sum(basis.iter().map(|q| q[i] * q[i])))
            .collect()
    }
}

fn order_levels(column: &str, values: &[&str], options: &DesignOptions) -> Result<Vec<String>> {
    let mut seen: Vec<String> = Vec::new();
    for v in values {
        if !seen.iter().any(|s| s == v) {
            seen.push((*v).to_string());
        }
    }
    let bad = |problem: String| NormError::InvalidParam {
        step: STEP,
        param: "levels",
        problem: format!("for column '{column}': {problem}"),
    };
    if let Some(explicit) = options.levels.get(column) {
        for v in &seen {
            if !explicit.contains(v) {
                return Err(bad(format!(
                    "level '{v}' occurs in the samples but is not in the given order [{}]; list every level",
                    explicit.join(", ")
                )));
            }
        }
        for (i, e) in explicit.iter().enumerate() {
            if !seen.contains(e) {
                return Err(bad(format!(
                    "level '{e}' does not occur in the kept samples (present: {})",
                    seen.join(", ")
                )));
            }
            if explicit[..i].contains(e) {
                return Err(bad(format!("level '{e}' is listed twice")));
            }
        }
        return Ok(explicit.clone());
    }
    if options.level_order == LevelOrder::Sorted {
        seen.sort();
    }
    Ok(seen)
}

fn check_syntactic_unique(formula: &str, column: &str, levels: &[String]) -> Result<()> {
    for (i, a) in levels.iter().enumerate() {
        for b in &levels[..i] {
            if syntactic_name(a) == syntactic_name(b) {
                return Err(NormError::Design {
                    formula: formula.to_string(),
                    problem: format!(
                        "sample sheet column '{column}': levels '{b}' and '{a}' both become coefficient name '{}'; rename one in the sample sheet",
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

    /// A 2 × 3 layout with every cell filled twice.
    fn crossed() -> SampleSheet {
        let a = ["x", "y", "x", "y", "x", "y", "x", "y", "x", "y", "x", "y"];
        let b = ["p", "p", "q", "q", "r", "r", "p", "p", "q", "q", "r", "r"];
        let z = [
            "1.5", "2", "0.5", "1", "3", "2.5", "1", "0", "2", "1", "0.5", "4",
        ];
        let s = |v: &[&str]| v.iter().map(|x| Some(x.to_string())).collect::<Vec<_>>();
        SampleSheet::from_text_columns(
            (0..12).map(|j| format!("s{j}")).collect(),
            vec![
                ("a".into(), s(&a)),
                ("b".into(), s(&b)),
                ("z".into(), s(&z)),
            ],
        )
        .unwrap()
    }

    /// Coefficient names and columns as R 4.2's model.matrix gives them (R's `:` written `.`,
    /// and the first factor term's levels bare).
    #[test]
    fn interactions_follow_model_matrix() {
        let o = DesignOptions::default();
        let s = crossed();
        // model.matrix(~0 + a:b): aX:bP, aY:bP, aX:bQ, …
        let d = Design::from_formula(&s, "~ 0 + a:b", &o).unwrap();
        assert_eq!(d.coef_names(), ["x.p", "y.p", "x.q", "y.q", "x.r", "y.r"]);
        assert_eq!(d.matrix().row(3).to_vec(), [0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
        assert_eq!(d.rank().unwrap(), 6);
        // model.matrix(~a*b): (Intercept) ay bq br ay:bq ay:br
        let d = Design::from_formula(&s, "~ a*b", &o).unwrap();
        assert_eq!(
            d.coef_names(),
            ["Intercept", "y", "bq", "br", "ay.bq", "ay.br"]
        );
        assert_eq!(d.matrix().row(3).to_vec(), [1.0, 1.0, 1.0, 0.0, 1.0, 0.0]);
        assert_eq!(d.rank().unwrap(), 6);
        // the same columns written out
        let e = Design::from_formula(&s, "~ a + b + a:b", &o).unwrap();
        assert_eq!(e.matrix(), d.matrix());
        // R sorts by degree: ~ a:b + a is ~ a + a:b, and a:b has b fully coded within a
        // (model.matrix(~a:b + a): (Intercept) ay ax:bq ay:bq ax:br ay:br)
        let d = Design::from_formula(&s, "~ a:b + a", &o).unwrap();
        assert_eq!(
            d.coef_names(),
            ["Intercept", "y", "ax.bq", "ay.bq", "ax.br", "ay.br"]
        );
        // a factor by a covariate without the covariate's main effect: one slope per level
        // (model.matrix(~0 + a + a:z): ax ay ax:z ay:z)
        let d = Design::from_formula(&s, "~ 0 + a + a:z", &o).unwrap();
        assert_eq!(d.coef_names(), ["x", "y", "ax.z", "ay.z"]);
        assert_eq!(d.matrix().row(1).to_vec(), [0.0, 1.0, 0.0, 2.0]);
        match &d.terms()[1].coding {
            TermCoding::Interaction { components } => {
                assert_eq!(components.len(), 2);
                assert_eq!(components[0].column, "a");
            }
            c => panic!("{c:?}"),
        }
        assert_eq!(d.terms()[1].column, "a:z");
    }

    #[test]
    fn empty_cells_are_kept_as_zero_columns() {
        let s = |v: &[&str]| v.iter().map(|x| Some(x.to_string())).collect::<Vec<_>>();
        let sh = SampleSheet::from_text_columns(
            (0..4).map(|j| format!("s{j}")).collect(),
            vec![
                ("a".into(), s(&["x", "x", "y", "y"])),
                ("b".into(), s(&["p", "q", "p", "p"])),
            ],
        )
        .unwrap();
        let d = Design::from_formula(&sh, "~ 0 + a:b", &DesignOptions::default()).unwrap();
        assert_eq!(d.coef_names(), ["x.p", "y.p", "x.q", "y.q"]);
        assert!(d.matrix().column(3).iter().all(|v| *v == 0.0));
        assert_eq!(d.rank().unwrap(), 3);
    }

    #[test]
    fn hat_values_are_leverages() {
        // groups of sizes 2 and 3 (plus the intercept hat() adds): leverage 1/size
        let s = |v: &[&str]| v.iter().map(|x| Some(x.to_string())).collect::<Vec<_>>();
        let sh = SampleSheet::from_text_columns(
            (0..5).map(|j| format!("s{j}")).collect(),
            vec![("g".into(), s(&["a", "a", "b", "b", "b"]))],
        )
        .unwrap();
        let d = Design::from_formula(&sh, "~ 0 + g", &DesignOptions::default()).unwrap();
        let h = d.hat_values(true);
        for (i, want) in [0.5, 0.5, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]
            .iter()
            .enumerate()
        {
            assert!((h[i] - want).abs() < 1e-14, "{h:?}");
        }
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
        assert!(Design::from_formula(&s, "~ source:", &o).is_err());
        assert!(Design::from_formula(&s, "~ source + source", &o).is_err());
        assert!(Design::from_formula(&s, "~ source - batch", &o).is_err());
        assert!(Design::from_formula(&s, "~ source:1", &o).is_err());
        assert!(Design::from_formula(&s, "~ source + factor(source)", &o).is_err());
        assert!(Design::from_formula(&s, "~ source batch", &o).is_err());
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
