//! `evomics ingest`.

use anyhow::Context;

use evomics_io::sheet::SheetOptions;
use evomics_io::text::header_preview;
use evomics_io::{ingest, write_experiment, IngestRequest, LayerSpec};

use crate::cli::IngestArgs;
use crate::cmd::Log;

pub fn run(a: IngestArgs, log: Log) -> anyhow::Result<()> {
    let layers = a
        .layers
        .iter()
        .map(|s| LayerSpec::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let req = IngestRequest {
        samples: a.samples.clone(),
        sheet: SheetOptions {
            id_column: a.sample_id_column.clone(),
            worksheet: a.worksheet.clone(),
        },
        layers,
        allow_missing_samples: a.allow_missing_samples,
    };
    let (exp, manifest, reports) = ingest(&req)?;
    log.say(format!("samples in sheet: {}", exp.samples().len()));
    for r in &reports {
        log.say(format!(
            "layer {} ({}, format {}, quantity {}): {} rows read, {} features kept, {} samples matched; {} observed, {} missing values",
            r.layer, r.path, r.read.format, r.read.quantity, r.read.rows_read, r.features,
            r.matching.samples_matched, r.cells.observed, r.cells.missing
        ));
        for (why, n) in &r.read.rows_dropped {
            log.say(format!("  dropped {n} row(s): {why}"));
        }
        for (why, n) in &r.read.rows_flagged {
            log.say(format!("  kept {n} flagged row(s): {why}"));
        }
        if let Some(c) = &r.matching.sheet_column {
            log.say(format!("  samples matched through sheet column '{c}'"));
        }
        if !r.matching.sheet_samples_not_in_matrix.is_empty() {
            log.warn(format!(
                "layer {}: {} sheet sample(s) not in the matrix: {}",
                r.layer,
                r.matching.sheet_samples_not_in_matrix.len(),
                header_preview(&r.matching.sheet_samples_not_in_matrix)
            ));
        }
        if !r.matching.matrix_columns_not_in_sheet.is_empty() {
            log.warn(format!(
                "layer {}: {} matrix column(s) not in the sheet, left out: {}",
                r.layer,
                r.matching.matrix_columns_not_in_sheet.len(),
                header_preview(&r.matching.matrix_columns_not_in_sheet)
            ));
        }
        for w in &r.read.warnings {
            log.warn(format!("layer {}: {w}", r.layer));
        }
    }
    for w in evomics_io::ingest::sheet_warnings(&manifest) {
        log.warn(format!("sample sheet: {w}"));
    }
    write_experiment(&a.out, &exp, &manifest)
        .with_context(|| format!("writing the experiment store {}", a.out.display()))?;
    log.say(format!("wrote {}", a.out.display()));
    Ok(())
}
