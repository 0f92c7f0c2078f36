//! `evomics export`.

use anyhow::Context;

use evomics_io::atomic::{check_output, write_file_atomic, OutputKind, Replace};
use std::io::Write;

use evomics_io::export::{flags_tsv, wide_tsv, ExportCells};
use evomics_io::read_experiment;

use crate::cli::ExportArgs;
use crate::cmd::Log;

pub fn run(a: ExportArgs, log: Log) -> anyhow::Result<()> {
    // `-o -` writes to stdout, as Unix tools do (the summary of --json then goes nowhere: the
    // table is the output).
    let to_stdout = a.out.as_os_str() == "-";
    if !to_stdout {
        check_output(&a.out, OutputKind::File, &[&a.dir], Replace::EvomicsOutput)?;
    }
    let (exp, _) = read_experiment(&a.dir)?;
    let layer = exp.layer(&a.layer)?;
    let text = if a.flags {
        flags_tsv(layer)
    } else {
        let cells = if a.observed_only {
            ExportCells::ObservedOnly
        } else {
            ExportCells::WithValues
        };
        wide_tsv(layer, cells)
    };
    if to_stdout {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
        return Ok(());
    }
    write_file_atomic(&a.out, text.as_bytes())
        .with_context(|| format!("writing {}", a.out.display()))?;
    log.say(format!(
        "wrote {} ({} features × {} samples)",
        a.out.display(),
        layer.n_features(),
        layer.n_samples()
    ));
    log.finish(
        "export",
        &[&a.out],
        serde_json::json!({ "layer": a.layer, "features": layer.n_features(), "samples": layer.n_samples() }),
    )
}
