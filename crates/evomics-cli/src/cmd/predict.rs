//! `evomics predict`.

use evomics_ml::persist::MissingFeatureRule;
use evomics_ml::stages::predict::PredictConfig;
use evomics_pipeline::stages::{self, Source};

use crate::cli::PredictArgs;
use crate::cmd::Log;

pub fn run(a: PredictArgs, log: Log) -> anyhow::Result<()> {
    let missing_features = match a.missing_features.as_deref() {
        None => None,
        Some("error") => Some(MissingFeatureRule::Error),
        Some("impute") => Some(MissingFeatureRule::Impute),
        Some(other) => anyhow::bail!("--missing-features '{other}' is not one of error, impute"),
    };
    let config = PredictConfig {
        alpha: a.alpha,
        missing_features,
    };
    let result = stages::predict(&a.model, Source::Store(&a.store), &a.out, &config)?;
    log.messages(&stages::messages(&result));
    log.say(format!("wrote {}", a.out.display()));
    log.finish(
        "predict",
        &[&a.out],
        serde_json::json!({
            "target": result.target,
            "samples": result.report.predictions.len(),
            "dropped": result.report.dropped.len(),
            "in_training": result.report.in_training.iter().filter(|t| t.is_some()).count(),
            "missing_features": result.report.missing_features.len(),
        }),
    )
}
