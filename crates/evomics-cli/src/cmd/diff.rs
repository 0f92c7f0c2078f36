//! `evomics diff`.

use evomics_io::atomic::Replace;
use evomics_pipeline::config::resolve;
use evomics_pipeline::stages::{self, Source, Target};
use evomics_stats::stages::diff::DiffConfig;

use crate::cli::DiffArgs;
use crate::cmd::Log;

pub fn run(a: DiffArgs, log: Log) -> anyhow::Result<()> {
    let config: DiffConfig = resolve(a.config.as_deref(), a.flags()?.0, "evomics diff")?;
    let target = Target {
        out: a.out.clone(),
        config_file: a.config.clone(),
        replace: Replace::forced(a.force),
        deferred: None,
    };
    let counts = a.counts.as_deref().map(Source::Store);
    let result = stages::diff(Source::Store(&a.store), counts, &target, &config)?;
    log.messages(&stages::messages(&result));
    log.say(format!("wrote {}", a.out.display()));
    log.finish("diff", &[&a.out], crate::cmd::stage_summary(&a.out))
}
