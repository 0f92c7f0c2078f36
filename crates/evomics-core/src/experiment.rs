//! An experiment: the sample sheet plus named layers aligned on `sample_id`.

use std::collections::BTreeMap;

use crate::assay::Assay;
use crate::error::{CoreError, Result};
use crate::sheet::SampleSheet;

/// The sample sheet plus named assays. Every layer's samples are in the sheet; a layer may
/// cover a subset of them (as in MuData), and layers are kept in name order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Experiment {
    samples: SampleSheet,
    layers: BTreeMap<String, Assay>,
}

/// How the samples of an experiment's layers overlap ([`Experiment::layer_overlap`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LayerOverlap {
    /// Sheet samples held by every layer.
    pub in_every_layer: usize,
    /// Sheet samples held by no layer.
    pub in_no_layer: usize,
    /// Every combination of layers that holds some samples, with their number (layer names in
    /// name order; the empty combination is the samples in no layer).
    pub combinations: Vec<(Vec<String>, usize)>,
}

impl Experiment {
    /// An experiment with no layers.
    pub fn new(samples: SampleSheet) -> Experiment {
        Experiment {
            samples,
            layers: BTreeMap::new(),
        }
    }

    /// The sample sheet.
    pub fn samples(&self) -> &SampleSheet {
        &self.samples
    }

    /// Layers in name order.
    pub fn layers(&self) -> &BTreeMap<String, Assay> {
        &self.layers
    }

    /// A layer by name, or an error listing the available layers.
    pub fn layer(&self, name: &str) -> Result<&Assay> {
        self.layers.get(name).ok_or_else(|| CoreError::NotFound {
            kind: "layer",
            name: name.to_string(),
            hint: format!(
                "; the experiment has: {}",
                self.layers.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        })
    }

    /// Add or replace a layer. Its samples must all be in the sheet; its columns are put in sheet order,
    /// so the same data always lands in the same place whatever order the input file had.
    pub fn insert_layer(&mut self, assay: Assay) -> Result<()> {
        let ordered = Experiment::in_sheet_order(&self.samples, assay)?;
        self.layers.insert(ordered.name().to_string(), ordered);
        Ok(())
    }

    /// `assay` as [`Experiment::insert_layer`] stores it with `sheet`: its columns in sheet
    /// order, or an error when a sample is not in the sheet.
    pub fn in_sheet_order(sheet: &SampleSheet, assay: Assay) -> Result<Assay> {
        let rows: std::collections::HashMap<&str, usize> = sheet
            .sample_ids()
            .iter()
            .enumerate()
            .map(|(i, s)| (s.as_str(), i))
            .collect();
        let unknown: Vec<&String> = assay
            .samples()
            .iter()
            .filter(|s| !rows.contains_key(s.as_str()))
            .collect();
        if let Some(first) = unknown.first() {
            return Err(CoreError::UnknownSamples {
                layer: assay.name().to_string(),
                n: unknown.len(),
                first: (*first).clone(),
            });
        }
        let sheet_row = |j: usize| rows[assay.samples()[j].as_str()];
        let in_order = (1..assay.n_samples()).all(|j| sheet_row(j - 1) < sheet_row(j));
        Ok(if in_order {
            assay
        } else {
            let mut cols: Vec<usize> = (0..assay.n_samples()).collect();
            cols.sort_by_key(|&j| sheet_row(j));
            assay.select_samples(&cols)
        })
    }

    /// How the layers' samples overlap: a layer may hold a subset of the sheet's samples (an
    /// assay run on some preparations only), and analyses of several layers use the samples in
    /// all of them.
    pub fn layer_overlap(&self) -> LayerOverlap {
        let mut by_set: BTreeMap<Vec<String>, usize> = BTreeMap::new();
        for sid in self.samples.sample_ids() {
            let set: Vec<String> = self
                .layers
                .iter()
                .filter(|(_, a)| a.sample_position(sid).is_some())
                .map(|(n, _)| n.clone())
                .collect();
            *by_set.entry(set).or_insert(0) += 1;
        }
        let all = self.layers.len();
        LayerOverlap {
            in_every_layer: by_set
                .iter()
                .filter(|(s, _)| s.len() == all)
                .map(|(_, n)| n)
                .sum(),
            in_no_layer: by_set.get(&Vec::new()).copied().unwrap_or(0),
            combinations: by_set.into_iter().collect(),
        }
    }

    /// Remove a layer, returning it.
    pub fn remove_layer(&mut self, name: &str) -> Option<Assay> {
        self.layers.remove(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assay::{Features, LayerKind, ValueScale};
    use ndarray::array;

    #[test]
    fn layers_follow_sheet_order() {
        let sheet = SampleSheet::new(vec!["a".into(), "b".into(), "c".into()]).unwrap();
        let mut e = Experiment::new(sheet);
        let a = Assay::from_options(
            "mirna",
            LayerKind::Mirna,
            ValueScale::Counts,
            Features::new(vec!["m1".into()]).unwrap(),
            vec!["c".into(), "a".into()],
            &array![[Some(3.0), Some(1.0)]],
        )
        .unwrap();
        e.insert_layer(a).unwrap();
        let l = e.layer("mirna").unwrap();
        assert_eq!(l.samples(), &["a".to_string(), "c".to_string()]);
        assert_eq!(l.get(0, 0), Some(1.0));
        assert!(e
            .layer("proteome")
            .unwrap_err()
            .to_string()
            .contains("mirna"));
    }

    #[test]
    fn overlap_counts_samples_per_combination_of_layers() {
        let sheet = SampleSheet::new(vec!["a".into(), "b".into(), "c".into(), "d".into()]).unwrap();
        let mut e = Experiment::new(sheet);
        let layer = |name: &str, kind, ids: &[&str]| {
            Assay::from_options(
                name,
                kind,
                ValueScale::Counts,
                Features::new(vec!["f".into()]).unwrap(),
                ids.iter().map(|s| s.to_string()).collect(),
                &ndarray::Array2::from_elem((1, ids.len()), Some(1.0)),
            )
            .unwrap()
        };
        e.insert_layer(layer("mirna", LayerKind::Mirna, &["a", "b"]))
            .unwrap();
        e.insert_layer(layer("proteome", LayerKind::Proteome, &["b", "c"]))
            .unwrap();
        let o = e.layer_overlap();
        assert_eq!((o.in_every_layer, o.in_no_layer), (1, 1));
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            o.combinations,
            vec![
                (s(&[]), 1),
                (s(&["mirna"]), 1),
                (s(&["mirna", "proteome"]), 1),
                (s(&["proteome"]), 1)
            ]
        );
    }

    #[test]
    fn unknown_sample_rejected() {
        let sheet = SampleSheet::new(vec!["a".into()]).unwrap();
        let mut e = Experiment::new(sheet);
        let a = Assay::from_options(
            "x",
            LayerKind::Other,
            ValueScale::Other,
            Features::new(vec!["m1".into()]).unwrap(),
            vec!["zz".into()],
            &array![[Some(3.0)]],
        )
        .unwrap();
        let m = e.insert_layer(a).unwrap_err().to_string();
        assert!(m.contains("'zz'"), "{m}");
    }
}
