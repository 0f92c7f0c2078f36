//! Training data: one or more omics layers joined on `sample_id`, and a target column of the
//! sample sheet.
//!
//! **Join rule.** A sample enters the data set when it is in the sheet, in *every* layer, and has
//! a non-empty target value; every other sample is dropped and listed with the reason in
//! [`Dataset::dropped`] (no layer is ever filled in for a sample that lacks it). Samples keep the
//! sheet's order, so the same inputs always give the same rows.

use std::collections::{BTreeSet, HashMap};

use evomics_core::{Assay, ColumnValues, SampleSheet};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{MlError, Result};
use crate::models::Labels;

/// Bytes [`Dataset::hash`] gathers before each update of its hasher.
const HASH_BUFFER: usize = 1 << 16;

/// How the target column is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// A text column is a class target, a numeric column a numeric one.
    #[default]
    Auto,
    /// Classes (numbers in the column are read as class names).
    Class,
    /// Numbers.
    Numeric,
}

/// The target of a model: a sample-sheet column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// Sheet column (e.g. `potency_class`, `alp_activity`).
    pub column: String,
    /// Class or numeric (default auto).
    #[serde(default)]
    pub kind: TargetKind,
    /// Class order (default: sorted names). For two classes the second is the positive class
    /// whose probability the ROC and PR curves rank, e.g. `["low", "high"]`.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
}

impl TargetSpec {
    /// A target read from `column` with automatic typing and sorted classes.
    pub fn new(column: &str) -> TargetSpec {
        TargetSpec {
            column: column.to_string(),
            kind: TargetKind::Auto,
            classes: None,
        }
    }
}

/// A sample left out of the data set, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedSample {
    /// Sample id.
    pub sample_id: String,
    /// Why, e.g. `not in layer 'mirna'` or `no value in 'potency_class'`.
    pub reason: String,
}

/// Layers aligned on the same samples plus the target.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Sample ids, in sheet order.
    pub sample_ids: Vec<String>,
    /// The layers, each restricted to `sample_ids` in that order.
    pub layers: Vec<Assay>,
    /// Target name (the sheet column).
    pub target: String,
    /// Class names (empty for a numeric target).
    pub classes: Vec<String>,
    /// The target values.
    pub labels: Labels,
    /// Samples left out.
    pub dropped: Vec<DroppedSample>,
}

/// The text of a sheet column for the given sample ids (`None` for empty cells).
pub fn sheet_column_text(
    sheet: &SampleSheet,
    column: &str,
    ids: &[String],
) -> Result<Vec<Option<String>>> {
    let col = sheet.column(column).ok_or_else(|| MlError::Column {
        column: column.to_string(),
        problem: format!(
            "not in the sample sheet (it has: {})",
            sheet
                .columns()
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })?;
    let rows: HashMap<&str, usize> = sheet
        .sample_ids()
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    ids.iter()
        .map(|id| {
            rows.get(id.as_str())
                .map(|&r| col.values.text(r))
                .ok_or_else(|| MlError::Column {
                    column: column.to_string(),
                    problem: format!("sample '{id}' is not in the sample sheet"),
                })
        })
        .collect()
}

/// Group labels (donor, source, batch…) of the given samples; an empty cell is an error naming
/// the sample, since an unknown group could hide a leak.
pub fn group_labels(sheet: &SampleSheet, column: &str, ids: &[String]) -> Result<Vec<String>> {
    let vals = sheet_column_text(sheet, column, ids)?;
    vals.into_iter()
        .zip(ids)
        .map(|(v, id)| {
            v.ok_or_else(|| MlError::Column {
                column: column.to_string(),
                problem: format!("sample '{id}' has no value; every sample needs a group (fill it in or drop the sample)"),
            })
        })
        .collect()
}

impl Dataset {
    /// Join `layers` on sample id with the sheet and read the target (see the module docs).
    pub fn assemble(
        layers: &[&Assay],
        sheet: &SampleSheet,
        target: &TargetSpec,
    ) -> Result<Dataset> {
        let mut d = Dataset::assemble_with(layers, sheet, target)?;
        d.layers = layers
            .iter()
            .map(|l| l.select_samples_by_id(&d.sample_ids))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(d)
    }

    /// [`Dataset::assemble`] from layers the caller hands over: a layer that already holds
    /// exactly the dataset's samples in sheet order (the usual case: every sample has a target
    /// value) becomes the dataset's layer without a copy.
    pub fn assemble_owned(
        layers: Vec<Assay>,
        sheet: &SampleSheet,
        target: &TargetSpec,
    ) -> Result<Dataset> {
        let views: Vec<&Assay> = layers.iter().collect();
        let mut d = Dataset::assemble_with(&views, sheet, target)?;
        d.layers = layers
            .into_iter()
            .map(|l| {
                if l.samples() == d.sample_ids.as_slice() {
                    Ok(l)
                } else {
                    l.select_samples_by_id(&d.sample_ids)
                }
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(d)
    }

    /// Everything of [`Dataset::assemble`] but the layers (left empty).
    pub(crate) fn assemble_with(
        layers: &[&Assay],
        sheet: &SampleSheet,
        target: &TargetSpec,
    ) -> Result<Dataset> {
        if layers.is_empty() {
            return Err(MlError::Data {
                what: "training data",
                problem: "no layer given; name at least one omics layer".into(),
            });
        }
        let mut names = BTreeSet::new();
        for l in layers {
            if !names.insert(l.name().to_string()) {
                return Err(MlError::Data {
                    what: "training data",
                    problem: format!("layer '{}' is given twice", l.name()),
                });
            }
        }
        let col = sheet
            .column(&target.column)
            .ok_or_else(|| MlError::Column {
                column: target.column.clone(),
                problem: format!(
                    "the target is not in the sample sheet (it has: {})",
                    sheet
                        .columns()
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        let numeric = match (target.kind, &col.values) {
            (TargetKind::Numeric, ColumnValues::Text(_)) => {
                return Err(MlError::Column {
                    column: target.column.clone(),
                    problem: "is text but a numeric target was asked for; check the column or use kind = \"class\"".into(),
                })
            }
            (TargetKind::Numeric, _) => true,
            (TargetKind::Class, _) => false,
            (TargetKind::Auto, ColumnValues::Numeric(_)) => true,
            (TargetKind::Auto, ColumnValues::Text(_)) => false,
        };
        let in_layer: Vec<BTreeSet<&str>> = layers
            .iter()
            .map(|l| l.samples().iter().map(String::as_str).collect())
            .collect();
        let mut ids = Vec::new();
        let mut dropped = Vec::new();
        let mut raw_text = Vec::new();
        let mut raw_num = Vec::new();
        for (row, id) in sheet.sample_ids().iter().enumerate() {
            if let Some(l) = layers
                .iter()
                .zip(&in_layer)
                .find(|(_, s)| !s.contains(id.as_str()))
                .map(|(l, _)| l)
            {
                dropped.push(DroppedSample {
                    sample_id: id.clone(),
                    reason: format!("not in layer '{}'", l.name()),
                });
                continue;
            }
            let value = col.values.text(row);
            match (&col.values, value) {
                (_, None) => dropped.push(DroppedSample {
                    sample_id: id.clone(),
                    reason: format!("no value in '{}'", target.column),
                }),
                (ColumnValues::Numeric(v), Some(_)) if numeric => {
                    ids.push(id.clone());
                    raw_num.push(v[row].unwrap_or(f64::NAN));
                }
                (_, Some(t)) => {
                    ids.push(id.clone());
                    raw_text.push(t);
                }
            }
        }
        for l in layers {
            let extra: Vec<&String> = l
                .samples()
                .iter()
                .filter(|s| sheet.position(s).is_none())
                .collect();
            if let Some(first) = extra.first() {
                return Err(MlError::Data {
                    what: "training data",
                    problem: format!("layer '{}' has {} sample(s) not in the sample sheet (first: '{first}'); add them to the sheet", l.name(), extra.len()),
                });
            }
        }
        if ids.len() < 4 {
            return Err(MlError::Data {
                what: "training data",
                problem: format!("only {} sample(s) are in every layer and have a '{}' value; at least 4 are needed", ids.len(), target.column),
            });
        }
        let (labels, classes) = if numeric {
            (Labels::Numeric { y: raw_num }, Vec::new())
        } else {
            let found: BTreeSet<&String> = raw_text.iter().collect();
            let classes: Vec<String> = match &target.classes {
                Some(order) => {
                    if let Some(c) = found.iter().find(|c| !order.contains(c)) {
                        return Err(MlError::Column {
                            column: target.column.clone(),
                            problem: format!("class '{c}' is not in the given class order {order:?}; list every class"),
                        });
                    }
                    order.clone()
                }
                None => found.into_iter().cloned().collect(),
            };
            if classes.len() < 2 {
                return Err(MlError::Column {
                    column: target.column.clone(),
                    problem: format!("has a single class ({:?}) among the usable samples; a classifier needs at least 2", classes),
                });
            }
            let y = raw_text
                .iter()
                .map(|t| classes.iter().position(|c| c == t).unwrap_or(0))
                .collect();
            (
                Labels::Classes {
                    y,
                    n_classes: classes.len(),
                },
                classes,
            )
        };
        Ok(Dataset {
            sample_ids: ids,
            layers: Vec::new(),
            target: target.column.clone(),
            classes,
            labels,
            dropped,
        })
    }

    /// Number of samples.
    pub fn n_samples(&self) -> usize {
        self.sample_ids.len()
    }

    /// The target value of a sample as text (class name or number).
    pub fn label_text(&self, i: usize) -> String {
        match &self.labels {
            Labels::Classes { y, .. } => self.classes[y[i]].clone(),
            Labels::Numeric { y } => y[i].to_string(),
        }
    }

    /// The same data with other labels (e.g. permuted).
    pub fn with_labels(&self, labels: Labels) -> Dataset {
        Dataset {
            labels,
            ..self.clone()
        }
    }

    /// SHA-256 over the target, sample ids, labels and every layer's feature ids, values and flags
    /// (hex), identifying exactly the data a model was trained on.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"evomics-ml dataset v1\0");
        h.update(self.target.as_bytes());
        h.update([0]);
        for id in &self.sample_ids {
            h.update(id.as_bytes());
            h.update([0]);
        }
        match &self.labels {
            Labels::Classes { y, .. } => {
                for c in &self.classes {
                    h.update(c.as_bytes());
                    h.update([0]);
                }
                for v in y {
                    h.update((*v as u64).to_le_bytes());
                }
            }
            Labels::Numeric { y } => {
                for v in y {
                    h.update(v.to_bits().to_le_bytes());
                }
            }
        }
        for l in &self.layers {
            h.update(l.name().as_bytes());
            h.update([0]);
            for f in l.features().ids() {
                h.update(f.as_bytes());
                h.update([0]);
            }
            // The cells' bytes go to the hasher a buffer at a time (the digest is that of the
            // byte stream, however it is split): two small updates per cell cost as much
            // again as the hashing.
            let mut buf: Vec<u8> = Vec::with_capacity(HASH_BUFFER + 9);
            for (v, f) in l.values().iter().zip(l.flags().iter()) {
                buf.push(f.code());
                if f.has_value() {
                    buf.extend_from_slice(&v.to_bits().to_le_bytes());
                }
                if buf.len() >= HASH_BUFFER {
                    h.update(&buf);
                    buf.clear();
                }
            }
            h.update(&buf);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evomics_core::{Features, LayerKind, ValueScale};
    use ndarray::Array2;

    fn layer(name: &str, samples: &[&str]) -> Assay {
        let cells = Array2::from_shape_fn((2, samples.len()), |(i, j)| Some((i * 10 + j) as f64));
        Assay::from_options(
            name,
            LayerKind::Other,
            ValueScale::Log2,
            Features::new(vec!["f1".into(), "f2".into()]).unwrap(),
            samples.iter().map(|s| s.to_string()).collect(),
            &cells,
        )
        .unwrap()
    }

    fn sheet() -> SampleSheet {
        let ids = ["a", "b", "c", "d", "e", "f"].map(String::from).to_vec();
        SampleSheet::from_text_columns(
            ids,
            vec![
                (
                    "cls".into(),
                    ["x", "y", "x", "", "y", "x"]
                        .iter()
                        .map(|s| Some(s.to_string()))
                        .collect(),
                ),
                (
                    "num".into(),
                    ["1", "2", "3", "4", "5", "6"]
                        .iter()
                        .map(|s| Some(s.to_string()))
                        .collect(),
                ),
            ],
        )
        .unwrap()
    }

    #[test]
    fn joins_on_samples_in_every_layer() {
        let p = layer("proteome", &["f", "a", "b", "c", "d", "e"]);
        let m = layer("mirna", &["a", "b", "c", "d", "f"]);
        let d = Dataset::assemble(&[&p, &m], &sheet(), &TargetSpec::new("cls")).unwrap();
        assert_eq!(d.sample_ids, vec!["a", "b", "c", "f"]);
        assert_eq!(d.dropped.len(), 2);
        assert_eq!(d.dropped[0].reason, "no value in 'cls'");
        assert_eq!(d.dropped[1].reason, "not in layer 'mirna'");
        assert_eq!(d.classes, vec!["x", "y"]);
        assert_eq!(
            d.labels,
            Labels::Classes {
                y: vec![0, 1, 0, 0],
                n_classes: 2
            }
        );
        assert_eq!(d.layers[0].samples(), d.sample_ids.as_slice());
        // Handed over, the layers are taken (or selected when samples drop out) alike.
        let owned = Dataset::assemble_owned(
            vec![p.clone(), m.clone()],
            &sheet(),
            &TargetSpec::new("cls"),
        )
        .unwrap();
        assert_eq!(owned, d);
        let kept = d.layers[0].clone();
        let again = Dataset::assemble_owned(
            vec![kept.clone(), d.layers[1].clone()],
            &sheet(),
            &TargetSpec::new("cls"),
        )
        .unwrap();
        assert_eq!(again.layers[0], kept);
        assert_eq!(d.layers[0].get(0, 3), Some(0.0)); // 'f' was the first column
        let n = Dataset::assemble(&[&p], &sheet(), &TargetSpec::new("num")).unwrap();
        assert!(matches!(n.labels, Labels::Numeric { .. }));
        assert_ne!(d.hash(), n.hash());
        assert_eq!(d.hash(), d.clone().hash());
    }

    /// The buffered digest is the one of the byte stream fed cell by cell.
    #[test]
    fn the_data_hash_is_that_of_the_cells_fed_one_by_one() {
        // More cells than one hash buffer holds, with holes.
        let (nf, ns) = (90, 1000);
        let cells = Array2::from_shape_fn((nf, ns), |(i, j)| {
            ((i * 31 + j * 7) % 11 != 0).then(|| (i * ns + j) as f64 / 7.0)
        });
        let samples: Vec<String> = (0..ns).map(|j| format!("s{j}")).collect();
        let p = Assay::from_options(
            "prot",
            LayerKind::Proteome,
            ValueScale::Log2,
            Features::new((0..nf).map(|i| format!("P{i}")).collect()).unwrap(),
            samples.clone(),
            &cells,
        )
        .unwrap();
        let sheet = SampleSheet::from_text_columns(
            samples,
            vec![(
                "cls".into(),
                (0..ns)
                    .map(|j| Some(["a", "b"][j % 2].to_string()))
                    .collect(),
            )],
        )
        .unwrap();
        let d = Dataset::assemble(&[&p], &sheet, &TargetSpec::new("cls")).unwrap();
        let mut h = Sha256::new();
        h.update(b"evomics-ml dataset v1\0");
        h.update(b"cls\0");
        for s in &d.sample_ids {
            h.update(s.as_bytes());
            h.update([0]);
        }
        let Labels::Classes { y, .. } = &d.labels else {
            panic!("classes")
        };
        for c in &d.classes {
            h.update(c.as_bytes());
            h.update([0]);
        }
        for v in y {
            h.update((*v as u64).to_le_bytes());
        }
        let l = &d.layers[0];
        h.update(b"prot\0");
        for f in l.features().ids() {
            h.update(f.as_bytes());
            h.update([0]);
        }
        for (v, f) in l.values().iter().zip(l.flags().iter()) {
            h.update([f.code()]);
            if f.has_value() {
                h.update(v.to_bits().to_le_bytes());
            }
        }
        let want: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert!(nf * ns * 9 > 2 * HASH_BUFFER);
        assert_eq!(d.hash(), want);
    }

    #[test]
    fn clear_errors() {
        let p = layer("proteome", &["a", "b", "c", "d", "e", "f"]);
        let e = Dataset::assemble(&[&p], &sheet(), &TargetSpec::new("nope"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cls, num"), "{e}");
        let t = TargetSpec {
            column: "cls".into(),
            kind: TargetKind::Class,
            classes: Some(vec!["x".into()]),
        };
        assert!(Dataset::assemble(&[&p], &sheet(), &t)
            .unwrap_err()
            .to_string()
            .contains("'y'"));
        let t = TargetSpec {
            column: "cls".into(),
            kind: TargetKind::Numeric,
            classes: None,
        };
        assert!(Dataset::assemble(&[&p], &sheet(), &t).is_err());
        assert!(group_labels(&sheet(), "cls", &["d".to_string()])
            .unwrap_err()
            .to_string()
            .contains("'d'"));
    }
}
