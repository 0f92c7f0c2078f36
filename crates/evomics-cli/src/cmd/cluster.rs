//! `evomics cluster`.

use evomics_io::atomic::Replace;
use evomics_ml::stages::cluster::ClusterConfig;
use evomics_pipeline::config::resolve;
use evomics_pipeline::stages::{self, Source, Target};

use crate::cli::ClusterArgs;
use crate::cmd::Log;

pub fn run(a: ClusterArgs, log: Log) -> anyhow::Result<()> {
    let config: ClusterConfig = resolve(a.config.as_deref(), a.flags()?.0, "evomics cluster")?;
    let target = Target {
        out: a.out.clone(),
        config_file: a.config.clone(),
        replace: Replace::forced(a.force),
        deferred: None,
    };
    let result = stages::cluster(Source::Store(&a.store), &target, &config)?;
    log.messages(&stages::messages(&result));
    log.say(format!("wrote {}", a.out.display()));
    log.finish("cluster", &[&a.out], crate::cmd::stage_summary(&a.out))
}
