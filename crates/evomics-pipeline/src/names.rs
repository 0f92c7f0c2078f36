//! Names that become file or folder names (analysis names, stage names): checked before
//! anything is written, so that no name can reach outside its folder, hide a file, or collide
//! with a file the stage writes itself.

use crate::error::{PipelineError, Result};

/// Check the name of a named analysis (`[diff.NAME]`, `[train.NAME]`): letters, digits and
/// `_ . + -`, starting with a letter or digit, at most 100 characters.
pub fn check_analysis_name(stage: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-'));
    if ok {
        Ok(())
    } else {
        Err(PipelineError::Setting {
            context: format!("run config, [{stage}.{name:?}]"),
            problem: format!("the analysis name {name:?} becomes a folder name: use letters, digits and _ . + -, starting with a letter or digit (e.g. [{stage}.source])"),
        })
    }
}

/// Check that the analysis names of a stage stay distinct as folder names on a file system
/// that ignores case (macOS, Windows): `[diff.Source]` and `[diff.source]` would write one
/// folder.
pub fn check_distinct_names<'a>(
    stage: &str,
    names: impl IntoIterator<Item = &'a String>,
) -> Result<()> {
    let mut seen: std::collections::BTreeMap<String, &str> = Default::default();
    for name in names {
        if let Some(prev) = seen.insert(name.to_ascii_lowercase(), name) {
            return Err(PipelineError::Setting {
                context: format!("run config, [{stage}.{prev}] and [{stage}.{name}]"),
                problem: format!("the analysis names {prev:?} and {name:?} differ only in case and would share one folder where case is ignored; rename one"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape_or_hide() {
        for ok in ["source", "mirna_potency", "v1.2", "a+b"] {
            assert!(check_analysis_name("diff", ok).is_ok(), "{ok}");
        }
        for bad in [
            "", ".", "..", "a/b", "../x", ".hidden", "-x", "a b", "a\u{1b}b",
        ] {
            assert!(check_analysis_name("diff", bad).is_err(), "{bad:?}");
        }
        let names = ["Source".to_string(), "potency".into(), "source".into()];
        let e = check_distinct_names("diff", &names)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"Source\" and \"source\" differ only in case"),
            "{e}"
        );
        assert!(check_distinct_names("diff", &names[..2]).is_ok());
    }
}
