//! `evomics export`.

use anyhow::Context;

use evomics_io::atomic::{check_output, write_file_atomic, OutputKind, Replace};
use evomics_io::export::{flags_tsv, write_wide_tsv, ExportCells};
use evomics_io::read_experiment;

use crate::cli::ExportArgs;
use crate::cmd::Log;

pub fn run(a: ExportArgs, log: Log) -> anyhow::Result<()> {
    check_output(&a.out, OutputKind::File, &[&a.dir], Replace::EvomicsOutput)?;
    let (exp, _) = read_experiment(&a.dir)?;
    let layer = exp.layer(&a.layer)?;
    if a.flags {
        write_file_atomic(&a.out, flags_tsv(layer).as_bytes())
    } else {
        let cells = if a.observed_only {
            ExportCells::ObservedOnly
        } else {
            ExportCells::WithValues
        };
        write_wide_tsv(&a.out, layer, cells)
    }
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
