//! `evomics ingest`.

use evomics_io::atomic::Replace;
use evomics_io::sheet::SheetOptions;
use evomics_pipeline::stages;

use crate::cli::IngestArgs;
use crate::cmd::Log;

pub fn run(a: IngestArgs, log: Log) -> anyhow::Result<()> {
    let sheet = SheetOptions {
        id_column: a.sample_id_column.clone(),
        worksheet: a.worksheet.clone(),
        sdrf: a.sdrf.is_some(),
    };
    let Some(samples) = a.samples.as_ref().or(a.sdrf.as_ref()) else {
        anyhow::bail!("give the sample sheet with -s SHEET or an SDRF file with --sdrf FILE");
    };
    let inputs = stages::IngestInputs {
        samples,
        sheet,
        layers: &a.layers,
        allow_missing_samples: a.allow_missing_samples,
        sample_map: a.sample_map.as_deref(),
    };
    let (exp, manifest, msgs) = stages::ingest(inputs, &a.out, Replace::forced(a.force))?;
    log.messages(&msgs);
    log.say(format!("wrote {}", a.out.display()));
    if log.json() {
        log.finish(
            "ingest",
            &[&a.out],
            crate::cmd::info::summary(&exp, &manifest),
        )?;
    }
    Ok(())
}
