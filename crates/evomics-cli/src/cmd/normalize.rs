//! `evomics normalize`.

use evomics_io::atomic::Replace;
use evomics_norm::stage::NormalizeSpec;
use evomics_pipeline::config::resolve;
use evomics_pipeline::stages::{self, Source, Target};

use crate::cli::NormalizeArgs;
use crate::cmd::Log;

pub fn run(a: NormalizeArgs, log: Log) -> anyhow::Result<()> {
    let spec: NormalizeSpec = resolve(a.config.as_deref(), a.flags()?.0, "evomics normalize")?;
    let target = Target {
        out: a.out.clone(),
        config_file: a.config.clone(),
        replace: Replace::forced(a.force),
        deferred: None,
    };
    let (exp, result) = stages::normalize(Source::Store(&a.store), &target, &spec)?;
    log.messages(&stages::messages(&result));
    log.say(format!("wrote {}", a.out.display()));
    if !log.json() {
        return Ok(());
    }
    // The store just written holds `exp`: only its manifest is read back.
    let manifest = evomics_io::store::read_manifest(&a.out)?;
    let mut summary = crate::cmd::info::summary(&exp, &manifest);
    summary["normalize"] = crate::cmd::stage_summary(&a.out);
    log.finish("normalize", &[&a.out], summary)
}
