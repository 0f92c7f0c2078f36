//! `evomics demo`.

use evomics_pipeline::demo::demo;
use evomics_pipeline::run::RunOptions;

use crate::cli::DemoArgs;
use crate::cmd::Log;

pub fn run(a: DemoArgs, log: Log) -> anyhow::Result<()> {
    let progress = log.progress();
    let opts = RunOptions {
        force: a.force,
        threads: 0,
        progress: Some(&progress),
    };
    demo(&a.out, a.seed, &opts, &mut |m| log.message(&m))?;
    let report = a.out.join("report.html");
    log.finish(
        "demo",
        &[&a.out, &report],
        serde_json::json!({ "seed": a.seed }),
    )
}
