//! `evomics qc`.

use evomics_io::atomic::Replace;
use evomics_pipeline::config::resolve;
use evomics_pipeline::stages::{self, Source, Target};
use evomics_qc::QcConfig;

use crate::cli::QcArgs;
use crate::cmd::Log;

pub fn run(a: QcArgs, log: Log) -> anyhow::Result<()> {
    let config: QcConfig = resolve(a.config.as_deref(), a.flags()?.0, "evomics qc")?;
    let target = Target {
        out: a.out.clone(),
        config_file: a.config.clone(),
        replace: Replace::forced(a.force),
        deferred: None,
    };
    let result = stages::qc(Source::Store(&a.store), &target, &config)?;
    log.messages(&stages::messages(&result));
    log.say(format!("wrote {}", a.out.display()));
    log.finish("qc", &[&a.out], crate::cmd::stage_summary(&a.out))
}
