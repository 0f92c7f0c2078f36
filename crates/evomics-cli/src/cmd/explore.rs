//! `evomics explore`.

use evomics_io::atomic::Replace;
use evomics_pipeline::config::resolve;
use evomics_pipeline::stages::{self, Source, Target};
use evomics_stats::stages::explore::ExploreConfig;

use crate::cli::ExploreArgs;
use crate::cmd::Log;

pub fn run(a: ExploreArgs, log: Log) -> anyhow::Result<()> {
    let config: ExploreConfig = resolve(a.config.as_deref(), a.flags()?.0, "evomics explore")?;
    let target = Target {
        out: a.out.clone(),
        config_file: a.config.clone(),
        replace: Replace::forced(a.force),
        deferred: None,
    };
    let result = stages::explore(Source::Store(&a.store), &target, &config)?;
    log.messages(&stages::messages(&result));
    log.say(format!("wrote {}", a.out.display()));
    log.finish("explore", &[&a.out], crate::cmd::stage_summary(&a.out))
}
