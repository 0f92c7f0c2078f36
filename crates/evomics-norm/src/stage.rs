//! The `normalize` stage as one library call: [`run_normalize`] fits every configured layer
//! pipeline on the experiment's samples and returns the normalized experiment with a
//! [`NormalizeResult`] (the fitted pipelines and what each step did).
//!
//! The stage config names one pipeline per layer. In a run config it is written
//! `[normalize.proteome]`, `[normalize.mirna]`, …; the older form
//! `[normalize.config.layers.proteome]` (and a `--config` file with `[layers.proteome]`) is still
//! read. With no layer named, every layer gets [`NormalizeConfig::recommended`].
//!
//! ```
//! use evomics_core::{Assay, Experiment, Features, LayerKind, SampleSheet, ValueScale};
//! use evomics_norm::stage::{run_normalize, NormalizeSpec};
//!
//! let ids: Vec<String> = (1..=4).map(|i| format!("EV{i}")).collect();
//! let sheet = SampleSheet::from_text_columns(ids.clone(), vec![]).unwrap();
//! let cells = ndarray::Array2::from_shape_fn((3, 4), |(i, j)| Some(100.0 * (1 + i + j) as f64));
//! let features = Features::new(vec!["P1".into(), "P2".into(), "P3".into()]).unwrap();
//! let layer = Assay::from_options("proteome", LayerKind::Proteome, ValueScale::Linear, features, ids, &cells).unwrap();
//! let mut exp = Experiment::new(sheet);
//! exp.insert_layer(layer).unwrap();
//! let spec: NormalizeSpec = toml::from_str("[proteome]\ntransform = { method = \"log2\" }\n").unwrap();
//! let (normalized, result) = run_normalize(&exp, &spec).unwrap();
//! assert_eq!(normalized.layer("proteome").unwrap().scale(), ValueScale::Log2);
//! assert_eq!(result.layers["proteome"].report.features_out, 3);
//! ```

use std::collections::BTreeMap;

use rayon::prelude::*;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use evomics_core::{ExcludeRules, Experiment, Message, StageResult, StageTables, Table};

use crate::error::{NormError, Result};
use crate::pipeline::{FittedPipeline, NormalizeConfig, PipelineReport};

/// The normalize stage's settings: one pipeline per named layer (the others are copied
/// unchanged); none named means the recommended pipeline for every layer. It is written as one
/// table per layer (`[proteome]` in a `--config` file, `[normalize.proteome]` in a run config).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NormalizeSpec {
    /// Pipelines by layer name.
    pub layers: BTreeMap<String, NormalizeConfig>,
    /// The sheet column that groups samples for the valid-values filter and the imputation
    /// report when a pipeline names none (key `group_by`); `None`: the sheet's first grouping
    /// column ([`evomics_core::SampleSheet::grouping_columns`]), or no grouping.
    pub group_by: Option<String>,
    /// Samples left out of every layer before anything is fitted (key `exclude`); the
    /// normalized store holds the other samples only.
    pub exclude: ExcludeRules,
    /// The spec used the older `layers` (or `config.layers`) nesting.
    pub legacy_form: bool,
}

impl Serialize for NormalizeSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        if let Some(g) = &self.group_by {
            m.serialize_entry("group_by", g)?;
        }
        if !self.exclude.is_empty() {
            m.serialize_entry("exclude", &self.exclude)?;
        }
        for (k, v) in &self.layers {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for NormalizeSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NormalizeSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("one table per layer, e.g. [normalize.proteome]")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Legacy {
                    #[serde(default)]
                    layers: BTreeMap<String, NormalizeConfig>,
                }
                let mut spec = NormalizeSpec::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "group_by" => spec.group_by = Some(map.next_value()?),
                        "exclude" => spec.exclude = map.next_value()?,
                        "layers" => {
                            let l: BTreeMap<String, NormalizeConfig> = map.next_value()?;
                            spec.layers.extend(l);
                            spec.legacy_form = true;
                        }
                        "config" => {
                            let l: Legacy = map.next_value()?;
                            spec.layers.extend(l.layers);
                            spec.legacy_form = true;
                        }
                        _ => {
                            let cfg: NormalizeConfig = map.next_value()?;
                            if spec.layers.insert(key.clone(), cfg).is_some() {
                                return Err(serde::de::Error::custom(format!(
                                    "layer '{key}' has two pipelines"
                                )));
                            }
                        }
                    }
                }
                Ok(spec)
            }
        }
        d.deserialize_map(V)
    }
}

impl NormalizeSpec {
    /// Check every pipeline (no data read).
    pub fn validate(&self) -> Result<()> {
        self.exclude.validate()?;
        for (name, cfg) in &self.layers {
            cfg.validate().map_err(|e| NormError::Config {
                problem: format!("pipeline of layer '{name}': {e}"),
            })?;
        }
        Ok(())
    }

    /// The pipeline of each layer of `exp`: the named ones, or the recommended pipeline for
    /// every layer when none is named. A named layer the experiment lacks is an error.
    pub fn resolve(&self, exp: &Experiment) -> Result<BTreeMap<String, NormalizeConfig>> {
        let group = self.grouping(exp)?;
        // A recommended pipeline without a grouping column filters on all samples; a pipeline
        // the user wrote keeps its empty column, which the filter reports as an error.
        let fill = |mut cfg: NormalizeConfig, recommended: bool| {
            for f in &mut cfg.filters {
                if let crate::filter::FilterParams::ValidValues(p) = f {
                    if p.column.trim().is_empty() && p.mode != crate::filter::ValidMode::Total {
                        match &group {
                            Some(g) => p.column = g.clone(),
                            None if recommended => p.mode = crate::filter::ValidMode::Total,
                            None => {}
                        }
                    }
                }
            }
            if cfg.report_group.trim().is_empty() {
                cfg.report_group = group.clone().unwrap_or_default();
            }
            cfg
        };
        if self.layers.is_empty() {
            return Ok(exp
                .layers()
                .iter()
                .map(|(n, a)| {
                    (
                        n.clone(),
                        fill(NormalizeConfig::recommended(a.kind(), a.scale()), true),
                    )
                })
                .collect());
        }
        for name in self.layers.keys() {
            if !exp.layers().contains_key(name) {
                return Err(NormError::Config {
                    problem: format!(
                        "the config names layer '{name}', which the store does not have (it has: {})",
                        exp.layers().keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                });
            }
        }
        Ok(self
            .layers
            .iter()
            .map(|(k, c)| (k.clone(), fill(c.clone(), false)))
            .collect())
    }

    /// The grouping column: `group_by` (which the sheet must have), else the sheet's first
    /// grouping column, else none.
    pub fn grouping(&self, exp: &Experiment) -> Result<Option<String>> {
        match &self.group_by {
            Some(g) => {
                exp.samples().require_column(g)?;
                Ok(Some(g.clone()))
            }
            None => Ok(exp.samples().grouping_columns().into_iter().next()),
        }
    }
}

/// One layer's fitted pipeline and what it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerNormalization {
    /// The pipeline as configured.
    pub config: NormalizeConfig,
    /// The fitted steps (what `train` saves, what new samples get).
    pub fitted: FittedPipeline,
    /// What every step did.
    pub report: PipelineReport,
}

/// The result of `normalize` (the normalized experiment itself is returned beside it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NormalizeResult {
    /// True when no layer was named and the recommended pipelines ran.
    pub recommended: bool,
    /// True when the spec used the older nesting (`[normalize.config.layers.X]`).
    pub legacy_form: bool,
    /// Per normalized layer.
    pub layers: BTreeMap<String, LayerNormalization>,
    /// The rules that left samples out (`exclude`).
    #[serde(default, skip_serializing_if = "ExcludeRules::is_empty")]
    pub exclude: ExcludeRules,
    /// The samples they left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<String>,
}

/// Fit every configured pipeline on `exp` and transform its layers; layers without a pipeline
/// are copied unchanged.
pub fn run_normalize(
    exp: &Experiment,
    spec: &NormalizeSpec,
) -> Result<(Experiment, NormalizeResult)> {
    spec.validate()?;
    let (exp, excluded) = exp.excluding(&spec.exclude)?;
    let exp = exp.as_ref();
    let configs = spec.resolve(exp)?;
    // Layers without a pipeline are copied; the others are built by their pipelines, one layer
    // per thread (each pipeline is deterministic, and results are kept in name order).
    let mut out = Experiment::new(exp.samples().clone());
    for (name, assay) in exp.layers() {
        if !configs.contains_key(name) {
            out.insert_layer(assay.clone())?;
        }
    }
    let fits: Vec<_> = configs
        .into_iter()
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|(name, cfg)| {
            let layer = exp.layer(&name)?;
            let fit = cfg
                .fit_transform(layer, exp.samples())
                .map_err(|e| NormError::Config {
                    problem: format!("normalizing layer '{name}': {e}"),
                })?;
            Ok::<_, NormError>((name, cfg, fit))
        })
        .collect();
    let mut layers = BTreeMap::new();
    for fit in fits {
        let (name, cfg, (fitted, transformed, report)) = fit?;
        out.insert_layer(transformed)?;
        layers.insert(
            name,
            LayerNormalization {
                config: cfg,
                fitted,
                report,
            },
        );
    }
    Ok((
        out,
        NormalizeResult {
            recommended: spec.layers.is_empty(),
            legacy_form: spec.legacy_form,
            layers,
            exclude: spec.exclude.clone(),
            excluded,
        },
    ))
}

impl StageTables for NormalizeResult {
    fn tables(&self) -> Vec<Table> {
        Vec::new()
    }
}

impl StageResult for NormalizeResult {
    const STAGE: &'static str = "normalize";
    const VERSION: u32 = 1;

    fn messages(&self) -> Vec<Message> {
        let mut out = Vec::new();
        out.extend(self.exclude.message("normalize", &self.excluded));
        if self.recommended {
            out.push(Message::info(
                "no --config: using the recommended pipeline for every layer",
            ));
        }
        if self.legacy_form {
            out.push(Message::warn("the normalize config uses the older nesting ([normalize.config.layers.NAME] or [layers.NAME]); write [normalize.NAME] (run config) or [NAME] (--config file) instead"));
        }
        for (name, l) in &self.layers {
            let r = &l.report;
            out.push(Message::info(format!(
                "{name}: {} → {} features, {} removed, {} cells imputed",
                r.features_in,
                r.features_out,
                r.removed_total(),
                r.imputed_total()
            )));
            for step in &r.steps {
                for note in &step.notes {
                    out.push(Message::info(format!("  {}: {note}", step.method)));
                }
                for w in &step.warnings {
                    out.push(Message::warn(format!("{name}: {}: {w}", step.method)));
                }
                if !step.uncorrected.is_empty() {
                    out.push(Message::warn(format!(
                        "{name}: {} feature(s) left uncorrected by {}",
                        step.uncorrected.len(),
                        step.method
                    )));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_and_legacy_forms_read_the_same() {
        let flat: NormalizeSpec =
            toml::from_str("[proteome]\ntransform = { method = \"log2\" }\n").unwrap();
        let old: NormalizeSpec =
            toml::from_str("[layers.proteome]\ntransform = { method = \"log2\" }\n").unwrap();
        let run_old: NormalizeSpec =
            toml::from_str("[config.layers.proteome]\ntransform = { method = \"log2\" }\n")
                .unwrap();
        assert_eq!(flat.layers, old.layers);
        assert_eq!(flat.layers, run_old.layers);
        assert!(!flat.legacy_form && old.legacy_form && run_old.legacy_form);
        let bad =
            toml::from_str::<NormalizeSpec>("[proteome]\ntransfrom = { method = \"log2\" }\n");
        assert!(bad.unwrap_err().to_string().contains("transfrom"));
    }
}
