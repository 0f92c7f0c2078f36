//! Leaving samples out: `exclude` rules on sample-sheet columns, shared by every stage and by
//! `evomics run`.
//!
//! A rule names a sheet column and the values that mark a sample to leave out (compared as
//! text, as the sheet shows them). A stage applies its rules before anything else, so the
//! samples left out take part in nothing (not in filters, fits, folds or plots), and it lists
//! the ids it left out in its result. In a config a stage's `exclude` is one rule or a list:
//!
//! ```toml
//! exclude = { column = "excluded_by_authors", values = ["True"] }
//! exclude = [{ column = "qc_status", values = ["fail"] }, { column = "donor_id", values = ["D7"] }]
//! ```
//!
//! On the command line: `--exclude COLUMN=VALUE[;VALUE…]`, repeatable. The column `sample_id`
//! names samples by id (`--exclude sample_id=S07;S12`).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::experiment::Experiment;
use crate::sheet::SampleSheet;
use crate::stage::Message;

/// The rule column that names samples by id when the sheet has no column of that name.
pub const ID_COLUMN: &str = "sample_id";

/// Samples to leave out: those whose `column` holds one of `values` (compared as text).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exclude {
    /// Sheet column.
    pub column: String,
    /// Values marking a sample to leave out.
    pub values: Vec<String>,
}

impl Exclude {
    /// Parse the command-line form `COLUMN=VALUE[;VALUE…]`.
    pub fn parse(text: &str) -> Result<Exclude> {
        let Some((column, values)) = text.split_once('=') else {
            return Err(CoreError::Invalid(format!(
                "--exclude '{text}': expected COLUMN=VALUE[;VALUE...], e.g. excluded_by_authors=True"
            )));
        };
        let rule = Exclude {
            column: column.trim().to_string(),
            values: values.split(';').map(|v| v.trim().to_string()).collect(),
        };
        rule.validate().map_err(|e| {
            CoreError::Invalid(format!(
                "--exclude '{text}': {}",
                e.to_string().trim_start_matches("exclude: ")
            ))
        })?;
        Ok(rule)
    }

    /// Check that the column and every value are non-empty.
    pub fn validate(&self) -> Result<()> {
        if self.column.trim().is_empty() {
            return Err(CoreError::Invalid(
                "exclude: the column name is empty; name the sample-sheet column".into(),
            ));
        }
        if self.values.is_empty() || self.values.iter().any(|v| v.trim().is_empty()) {
            return Err(CoreError::Invalid(format!(
                "exclude: column '{}' needs one or more non-empty values",
                self.column
            )));
        }
        Ok(())
    }

    /// `column=v1;v2`, as on the command line.
    pub fn describe(&self) -> String {
        format!("{}={}", self.column, self.values.join(";"))
    }
}

/// The `exclude` rules of a stage: a sample is left out when any rule matches it. Written as a
/// list; read from one rule or a list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ExcludeRules(pub Vec<Exclude>);

impl<'de> Deserialize<'de> for ExcludeRules {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(Exclude),
            Many(Vec<Exclude>),
        }
        match OneOrMany::deserialize(d) {
            Ok(OneOrMany::One(r)) => Ok(ExcludeRules(vec![r])),
            Ok(OneOrMany::Many(r)) => Ok(ExcludeRules(r)),
            Err(_) => Err(serde::de::Error::custom(
                "exclude: expected { column = \"COLUMN\", values = [\"VALUE\", ...] } or a list of such tables",
            )),
        }
    }
}

impl ExcludeRules {
    /// No rules.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parse command-line rules (`COLUMN=VALUE[;VALUE…]` each).
    pub fn parse_all(texts: &[String]) -> Result<ExcludeRules> {
        texts
            .iter()
            .map(|t| Exclude::parse(t))
            .collect::<Result<_>>()
            .map(ExcludeRules)
    }

    /// Check every rule.
    pub fn validate(&self) -> Result<()> {
        self.0.iter().try_for_each(Exclude::validate)
    }

    /// `first`'s rules followed by those of `self` not already in `first` (a run's rules
    /// before a stage's own).
    pub fn after(&self, first: &ExcludeRules) -> ExcludeRules {
        let mut all = first.0.clone();
        all.extend(self.0.iter().filter(|r| !first.0.contains(r)).cloned());
        ExcludeRules(all)
    }

    /// The ids of the sheet's samples that a rule matches, in sheet order; an error when a rule
    /// names a column the sheet lacks. The column `sample_id`, unless the sheet has one of that
    /// name, matches the sample ids themselves.
    pub fn matching(&self, sheet: &SampleSheet) -> Result<Vec<String>> {
        let cols = self
            .0
            .iter()
            .map(|r| {
                if r.column == ID_COLUMN && sheet.column(ID_COLUMN).is_none() {
                    return Ok(None);
                }
                sheet
                    .require_column(&r.column)
                    .map(Some)
                    .map_err(|e| CoreError::Invalid(format!("exclude: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(sheet
            .sample_ids()
            .iter()
            .enumerate()
            .filter(|(row, _)| {
                self.0.iter().zip(&cols).any(|(rule, col)| match col {
                    Some(col) => col
                        .values
                        .text(*row)
                        .is_some_and(|v| rule.values.contains(&v)),
                    None => rule.values.contains(&sheet.sample_ids()[*row]),
                })
            })
            .map(|(_, id)| id.clone())
            .collect())
    }

    /// What the user should read about the samples `excluded` by these rules: the ids left
    /// out, or a warning when the rules matched nothing (a misspelt value leaves everyone in).
    pub fn message(&self, stage: &str, excluded: &[String]) -> Option<Message> {
        if self.is_empty() {
            return None;
        }
        let rules: Vec<String> = self.0.iter().map(Exclude::describe).collect();
        Some(if excluded.is_empty() {
            Message::warn(format!(
                "{stage}: exclude {} matched no sample; nothing was left out (check the values against the sheet)",
                rules.join(", ")
            ))
        } else {
            Message::info(format!(
                "{stage}: left out {} sample(s) by exclude {}: {}",
                excluded.len(),
                rules.join(", "),
                excluded.join(", ")
            ))
        })
    }
}

impl Experiment {
    /// The experiment without the samples `rules` match (sheet rows and layer columns), and
    /// their ids. Borrowed unchanged when there are no rules or no sample matches; an error when
    /// a rule names a missing column or every sample would be left out.
    pub fn excluding(&self, rules: &ExcludeRules) -> Result<(Cow<'_, Experiment>, Vec<String>)> {
        if rules.is_empty() {
            return Ok((Cow::Borrowed(self), Vec::new()));
        }
        rules.validate()?;
        let excluded = rules.matching(self.samples())?;
        if excluded.is_empty() {
            return Ok((Cow::Borrowed(self), excluded));
        }
        let keep: Vec<usize> = self
            .samples()
            .sample_ids()
            .iter()
            .enumerate()
            .filter(|(_, id)| !excluded.contains(id))
            .map(|(i, _)| i)
            .collect();
        if keep.is_empty() {
            return Err(CoreError::Invalid(format!(
                "exclude {} leaves no sample: every one of the {} samples matches",
                rules
                    .0
                    .iter()
                    .map(Exclude::describe)
                    .collect::<Vec<_>>()
                    .join(", "),
                excluded.len()
            )));
        }
        let mut out = Experiment::new(self.samples().select(&keep));
        for layer in self.layers().values() {
            let ids: Vec<String> = layer
                .samples()
                .iter()
                .filter(|s| out.samples().position(s).is_some())
                .cloned()
                .collect();
            out.insert_layer(layer.select_samples_by_id(&ids)?)?;
        }
        Ok((Cow::Owned(out), excluded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assay::{Assay, Features, LayerKind, ValueScale};
    use crate::sheet::{Column, ColumnValues};

    fn exp() -> Experiment {
        let mut sheet =
            SampleSheet::new(vec!["a".into(), "b".into(), "c".into(), "d".into()]).unwrap();
        sheet
            .push_column(Column {
                name: "qc".into(),
                values: ColumnValues::Text(vec![
                    Some("ok".into()),
                    Some("fail".into()),
                    None,
                    Some("ok".into()),
                ]),
            })
            .unwrap();
        let mut e = Experiment::new(sheet);
        let a = Assay::from_options(
            "p",
            LayerKind::Proteome,
            ValueScale::Log2,
            Features::new(vec!["f".into()]).unwrap(),
            vec!["a".into(), "b".into(), "c".into(), "d".into()],
            &ndarray::array![[Some(1.0), Some(2.0), None, Some(4.0)]],
        )
        .unwrap();
        e.insert_layer(a).unwrap();
        e
    }

    #[test]
    fn rules_drop_matching_rows_and_columns_together() {
        let e = exp();
        let rules = ExcludeRules::parse_all(&["qc=fail".into()]).unwrap();
        let (kept, out) = e.excluding(&rules).unwrap();
        assert_eq!(out, vec!["b".to_string()]);
        assert_eq!(kept.samples().sample_ids(), &["a", "c", "d"]);
        assert_eq!(kept.layer("p").unwrap().samples(), &["a", "c", "d"]);
        // A missing cell never matches.
        let p = kept.layer("p").unwrap();
        assert_eq!(
            (p.get(0, 0), p.get(0, 1), p.get(0, 2)),
            (Some(1.0), None, Some(4.0))
        );
    }

    #[test]
    fn one_rule_or_a_list_reads_and_a_list_writes() {
        #[derive(Deserialize, Serialize)]
        struct C {
            exclude: ExcludeRules,
        }
        let one: C = toml::from_str("exclude = { column = \"qc\", values = [\"fail\"] }").unwrap();
        let many: C =
            toml::from_str("exclude = [{ column = \"qc\", values = [\"fail\", \"ok\"] }]").unwrap();
        assert_eq!(one.exclude.0.len(), 1);
        assert_eq!(many.exclude.0[0].values, vec!["fail", "ok"]);
        assert!(toml::to_string(&one).unwrap().contains("[[exclude]]"));
        assert!(toml::from_str::<C>("exclude = \"qc=fail\"").is_err());
    }

    #[test]
    fn bad_rules_are_errors_that_say_what() {
        let e = exp();
        let err = e
            .excluding(&ExcludeRules::parse_all(&["batch=1".into()]).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("'batch'") && err.contains("qc"), "{err}");
        assert!(Exclude::parse("qc").is_err());
        assert!(Exclude::parse("qc=a;").is_err());
        let all = ExcludeRules::parse_all(&["qc=ok;fail".into(), "sample_id=c".into()]);
        assert!(e
            .excluding(&all.unwrap())
            .unwrap_err()
            .to_string()
            .contains("leaves no sample"));
        let by_id = ExcludeRules::parse_all(&["sample_id=a;d".into()]).unwrap();
        assert_eq!(e.excluding(&by_id).unwrap().1, vec!["a", "d"]);
        let none = ExcludeRules::parse_all(&["qc=Fail".into()]).unwrap();
        let (kept, out) = e.excluding(&none).unwrap();
        assert!(out.is_empty() && matches!(kept, Cow::Borrowed(_)));
        assert_eq!(
            none.message("qc", &out).unwrap().level,
            crate::stage::Level::Warning
        );
    }

    #[test]
    fn run_rules_come_first_without_repeats() {
        let run = ExcludeRules::parse_all(&["qc=fail".into()]).unwrap();
        let stage = ExcludeRules::parse_all(&["qc=fail".into(), "qc=ok".into()]).unwrap();
        assert_eq!(stage.after(&run).0.len(), 2);
        assert_eq!(stage.after(&run).0[0], run.0[0]);
    }
}
