//! `evomics report`.

use evomics_io::atomic::{check_output, write_file_atomic, OutputKind, Replace};
use evomics_pipeline::report::{render, RunFolder};
use evomics_pipeline::standards::write_standards;

use crate::cli::ReportArgs;
use crate::cmd::Log;

pub fn run(a: ReportArgs, log: Log) -> anyhow::Result<()> {
    // The report may sit in the run folder (as `evomics run` writes it), but not onto or into
    // what it reads: the stage folders and run.json.
    let read: Vec<std::path::PathBuf> = evomics_io::atomic::RUN_ENTRIES
        .iter()
        .filter(|e| **e != "report.html")
        .map(|e| a.run_dir.join(e))
        .filter(|p| p.exists())
        .collect();
    let mut inputs: Vec<&std::path::Path> = read.iter().map(|p| p.as_path()).collect();
    if !a.run_dir.join("ingest").exists() {
        inputs.push(&a.run_dir);
    }
    check_output(&a.out, OutputKind::File, &inputs, Replace::EvomicsOutput)?;
    let folder = RunFolder::read(&a.run_dir)?;
    let html = render(&folder.results(&a.title, &a.date))?;
    let mut outputs = vec![a.out.as_path()];
    let mut standards = Vec::new();
    // Written first: a standards folder that may not be replaced stops the command before the
    // report is written.
    if let Some(dir) = &a.standards {
        standards = write_standards(&folder, &a.run_dir, dir, Replace::forced(a.force))?;
        log.say(format!("wrote {}: {}", dir.display(), standards.join(", ")));
        outputs.push(dir);
    }
    write_file_atomic(&a.out, html.as_bytes())?;
    log.say(format!(
        "wrote {} ({} KiB)",
        a.out.display(),
        html.len() / 1024
    ));
    log.finish(
        "report",
        &outputs,
        serde_json::json!({ "bytes": html.len(), "standards": standards }),
    )
}
