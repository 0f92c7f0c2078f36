//! `--layer NAME=PATH[,key=value…]` specifications and the reader options they carry.

use std::collections::BTreeMap;
use std::path::PathBuf;

use evomics_core::{LayerKind, ValueScale};

use crate::error::{IoError, Result};
use crate::matrix::MatchOptions;
use crate::store::valid_layer_name;

/// Option keys a layer specification accepts, with what they do (shown in errors and `--help`).
pub const LAYER_KEYS: [(&str, &str); 12] = [
    ("format", "input format; detected from the header when omitted"),
    ("quant", "quantity to read: lfq | intensity | ibaq (MaxQuant), corrected | uncorrected (MaxQuant TMT), maxlfq | intensity | razor (FragPipe), maxlfq | quantity | normalised (DIA-NN report), normalized | grouped | scaled | abundance (Proteome Discoverer), assay | study_variable (mzTab), counts (miRNA tables)"),
    ("join", "outer | inner: for a layer given as several files, keep every feature (absent ones flagged absent_from_file; default) or only those in every file"),
    ("kind", "proteome | mirna | lipidome | other (default: guessed from the layer name)"),
    ("scale", "linear | counts | log2 | other (default: set by the format)"),
    ("transpose", "true when rows are samples and columns features (wide format)"),
    ("id_column", "column holding feature ids (wide format; default: the first column)"),
    ("annotations", "extra text columns to keep as feature annotations, separated by ';' (wide format)"),
    ("zero", "missing | observed: how a 0 is read (default: missing for intensities, observed for counts)"),
    ("keep_flagged", "true keeps decoy/contaminant/site-only rows as flagged features instead of dropping them"),
    ("sheet_column", "sample-sheet column naming each sample's matrix column (default: <layer>_column)"),
    ("harmonize", "true | false: map miRNA names to miRBase v22 (default: true for miRNA layers)"),
];

/// One parsed `--layer` argument.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSpec {
    /// Layer name (a directory name in the store).
    pub name: String,
    /// The input file.
    pub path: PathBuf,
    /// The options, by key.
    pub options: BTreeMap<String, String>,
}

/// Reader options resolved from a [`LayerSpec`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadOptions {
    /// Forced format name.
    pub format: Option<String>,
    /// Quantity to read.
    pub quantity: Option<String>,
    /// Rows are samples.
    pub transpose: bool,
    /// Feature id column (wide format).
    pub id_column: Option<String>,
    /// Annotation columns to keep (wide format).
    pub annotation_columns: Vec<String>,
    /// `Some(true)`: 0 means missing; `Some(false)`: 0 is an observed value; `None`: format default.
    pub zero_is_missing: Option<bool>,
    /// Keep flagged rows as flagged features.
    pub keep_flagged: bool,
    /// Forced value scale.
    pub scale: Option<ValueScale>,
    /// Harmonize miRNA names (`None`: default for the layer kind).
    pub harmonize: Option<bool>,
}

fn parse_bool(key: &str, v: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => Err(IoError::Spec(format!(
            "option {key}={v}: expected true or false"
        ))),
    }
}

impl LayerSpec {
    /// Parse `NAME=PATH[,key=value…]`.
    pub fn parse(s: &str) -> Result<LayerSpec> {
        let (name, rest) = s.split_once('=').ok_or_else(|| {
            IoError::Spec(format!(
                "--layer '{s}': expected NAME=PATH[,key=value…], e.g. proteome=proteinGroups.txt,quant=lfq"
            ))
        })?;
        let name = name.trim();
        if !valid_layer_name(name) {
            return Err(IoError::Spec(format!(
                "--layer '{s}': layer name '{name}' must use letters, digits, '_', '-' or '.'"
            )));
        }
        let mut parts = rest.split(',');
        let path = parts.next().unwrap_or("").trim();
        if path.is_empty() {
            return Err(IoError::Spec(format!("--layer '{s}': the path is empty")));
        }
        let mut options = BTreeMap::new();
        for p in parts {
            let (k, v) = p.split_once('=').ok_or_else(|| {
                IoError::Spec(format!("--layer '{s}': option '{p}' is not key=value"))
            })?;
            let k = k.trim().to_ascii_lowercase();
            if !LAYER_KEYS.iter().any(|(key, _)| *key == k) {
                return Err(IoError::Spec(format!(
                    "--layer '{s}': unknown option '{k}'; known options: {}",
                    LAYER_KEYS
                        .iter()
                        .map(|(k, _)| *k)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            if options.insert(k.clone(), v.trim().to_string()).is_some() {
                return Err(IoError::Spec(format!(
                    "--layer '{s}': option '{k}' given twice"
                )));
            }
        }
        Ok(LayerSpec {
            name: name.to_string(),
            path: PathBuf::from(path),
            options,
        })
    }

    /// The layer kind: `kind=` or guessed from the name.
    pub fn kind(&self) -> Result<LayerKind> {
        match self.options.get("kind") {
            Some(k) => LayerKind::parse(k).ok_or_else(|| {
                IoError::Spec(format!(
                    "layer '{}': kind={k} is not one of proteome, mirna, lipidome, other",
                    self.name
                ))
            }),
            None => Ok(LayerKind::guess_from_name(&self.name)),
        }
    }

    /// Reader options.
    pub fn read_options(&self) -> Result<ReadOptions> {
        let o = &self.options;
        let scale = match o.get("scale") {
            Some(s) => Some(ValueScale::parse(s).ok_or_else(|| {
                IoError::Spec(format!(
                    "layer '{}': scale={s} is not one of linear, counts, log2, other",
                    self.name
                ))
            })?),
            None => None,
        };
        let zero_is_missing = match o.get("zero").map(|s| s.to_ascii_lowercase()) {
            None => None,
            Some(z) if z == "missing" => Some(true),
            Some(z) if z == "observed" => Some(false),
            Some(z) => {
                return Err(IoError::Spec(format!(
                    "layer '{}': zero={z} must be 'missing' or 'observed'",
                    self.name
                )))
            }
        };
        Ok(ReadOptions {
            format: o.get("format").map(|s| s.to_ascii_lowercase()),
            quantity: o.get("quant").map(|s| s.to_ascii_lowercase()),
            transpose: o
                .get("transpose")
                .map(|v| parse_bool("transpose", v))
                .transpose()?
                .unwrap_or(false),
            id_column: o.get("id_column").cloned(),
            annotation_columns: o
                .get("annotations")
                .map(|s| {
                    s.split(';')
                        .map(|x| x.trim().to_string())
                        .filter(|x| !x.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            zero_is_missing,
            keep_flagged: o
                .get("keep_flagged")
                .map(|v| parse_bool("keep_flagged", v))
                .transpose()?
                .unwrap_or(false),
            scale,
            harmonize: o
                .get("harmonize")
                .map(|v| parse_bool("harmonize", v))
                .transpose()?,
        })
    }

    /// Sample matching options (`sheet_column=`; `allow_missing_samples` comes from the command line).
    pub fn match_options(&self, allow_missing_samples: bool) -> MatchOptions {
        MatchOptions {
            sheet_column: self.options.get("sheet_column").cloned(),
            allow_missing_samples,
            column_map: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_options() {
        let s = LayerSpec::parse("proteome=pg.txt,format=maxquant,quant=LFQ").unwrap();
        assert_eq!(s.name, "proteome");
        assert_eq!(s.path, PathBuf::from("pg.txt"));
        let o = s.read_options().unwrap();
        assert_eq!(o.format.as_deref(), Some("maxquant"));
        assert_eq!(o.quantity.as_deref(), Some("lfq"));
        assert_eq!(s.kind().unwrap(), LayerKind::Proteome);
    }

    #[test]
    fn rejects_bad_specs() {
        for (bad, frag) in [
            ("nopath", "expected NAME=PATH"),
            ("a b=x", "layer name"),
            ("p=", "path is empty"),
            ("p=x,colour=red", "unknown option 'colour'"),
            ("p=x,zero", "not key=value"),
            ("p=x,format=a,format=b", "given twice"),
        ] {
            let m = LayerSpec::parse(bad).unwrap_err().to_string();
            assert!(m.contains(frag), "{bad}: {m}");
        }
        let s = LayerSpec::parse("p=x,transpose=maybe").unwrap();
        assert!(s
            .read_options()
            .unwrap_err()
            .to_string()
            .contains("true or false"));
    }
}
