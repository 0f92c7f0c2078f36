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
    }
}
