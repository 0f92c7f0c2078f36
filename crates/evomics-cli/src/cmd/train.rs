//! `evomics train`.

use evomics_io::atomic::Replace;
use evomics_ml::stages::train::{TrainContext, TrainSpec};
use evomics_pipeline::config::resolve;
use evomics_pipeline::stages::{self, Source, Target};

use crate::cli::TrainArgs;
use crate::cmd::Log;

pub fn run(a: TrainArgs, log: Log) -> anyhow::Result<()> {
    let mut spec: TrainSpec = resolve(a.config.as_deref(), a.flags()?.0, "evomics train")?;
    a.shortcuts().apply(&mut spec)?;
    let progress = log.progress();
    let ctx = TrainContext {
        threads: a.threads.unwrap_or(0),
        progress: Some(&progress),
        preprocessed_store: false,
        prefit: None,
        early_final: None,
    };
    let target = Target {
        out: a.out.clone(),
        config_file: a.config.clone(),
        replace: Replace::forced(a.force),
        deferred: None,
    };
    let result = stages::train(Source::Store(&a.store), &target, &spec, &ctx)?;
    log.messages(&stages::messages(&result));
    log.say(format!("wrote {}", a.out.display()));
    log.finish("train", &[&a.out], crate::cmd::stage_summary(&a.out))
}
