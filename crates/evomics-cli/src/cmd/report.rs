//! `evomics report`.

use evomics_io::atomic::write_file_atomic;
use evomics_pipeline::report::{render, RunFolder};

use crate::cli::ReportArgs;
use crate::cmd::Log;

pub fn run(a: ReportArgs, log: Log) -> anyhow::Result<()> {
    let folder = RunFolder::read(&a.run_dir)?;
    let html = render(&folder.results(&a.title, &a.date))?;
    write_file_atomic(&a.out, html.as_bytes())?;
    log.say(format!(
        "wrote {} ({} KiB)",
        a.out.display(),
        html.len() / 1024
    ));
    log.finish(
        "report",
        &[&a.out],
        serde_json::json!({ "bytes": html.len() }),
    )
}
