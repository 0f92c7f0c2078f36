//! The older run form's `[train]` flags (`cv = "group_k_fold"`, `folds`, `repeats`, `group`,
//! `model = "random_forest"`, `exclude = "COL=V"`), taken out of a table before it is read as a
//! [`TrainSpec`](evomics_ml::stages::train::TrainSpec).

pub use evomics_ml::stages::train::TrainFlags;
use evomics_ml::stages::train::{CvKind, ModelKind};

use crate::error::{PipelineError, Result};

/// Take the flag-only keys out of a `[train]` table (leaving the spec keys).
pub fn from_table(t: &mut toml::Table, origin: &str) -> Result<TrainFlags> {
    let bad = |key: &str, problem: String| PipelineError::Setting {
        context: format!("{origin}, key '{key}'"),
        problem,
    };
    let mut flags = TrainFlags::default();
    if let Some(toml::Value::String(s)) = t.get("model") {
        flags.model = Some(s.parse::<ModelKind>().map_err(|e| bad("model", e))?);
        t.remove("model");
    }
    if let Some(toml::Value::String(s)) = t.get("cv") {
        flags.cv = Some(s.parse::<CvKind>().map_err(|e| bad("cv", e))?);
        t.remove("cv");
    }
    for key in ["folds", "repeats"] {
        if let Some(v) = t.remove(key) {
            let n = v
                .as_integer()
                .and_then(|i| usize::try_from(i).ok())
                .ok_or_else(|| bad(key, format!("{v} is not a non-negative whole number")))?;
            if key == "folds" {
                flags.folds = Some(n);
            } else {
                flags.repeats = Some(n);
            }
        }
    }
    if let Some(v) = t.remove("group") {
        flags.group = Some(
            v.as_str()
                .ok_or_else(|| bad("group", format!("{v} is not a column name")))?
                .to_string(),
        );
    }
    if let Some(toml::Value::String(s)) = t.get("exclude") {
        flags.exclude = vec![s.clone()];
        t.remove("exclude");
    }
    t.remove("threads");
    Ok(flags)
}
