//! `demo`: the whole pipeline on an embedded simulated cohort, no input files needed. The
//! pipeline is `workflows/demo.toml` (which runs on `test-data/sim-small`, the same cohort) with
//! its inputs pointed at the freshly simulated `inputs/` of the output folder.

use std::path::Path;

use evomics_core::Message;
use evomics_io::atomic::{check_output, write_file_atomic, OutputKind, Replace};

use crate::error::{PipelineError, Result};
use crate::run::{execute, plan, RunOptions};
use crate::simulate::{resolve_params, simulate, SimOverrides};

/// The demo pipeline: `workflows/demo.toml`.
pub const DEMO_CONFIG: &str = include_str!("../../../workflows/demo.toml");

/// The simulation seed of the demo cohort (the seed `test-data/sim-small` was made with).
pub const DEMO_SEED: u64 = 20261126;

/// The demo config with its inputs pointed at `inputs/` of the output folder.
pub fn demo_config() -> Result<String> {
    let mut t: toml::Table =
        DEMO_CONFIG
            .parse()
            .map_err(|e: toml::de::Error| PipelineError::Setting {
                context: "the embedded demo config".into(),
                problem: e.to_string(),
            })?;
    let ingest = t
        .get_mut("ingest")
        .and_then(|v| v.as_table_mut())
        .ok_or_else(|| PipelineError::Setting {
            context: "the embedded demo config".into(),
            problem: "has no [ingest] table".into(),
        })?;
    ingest.insert(
        "samples".into(),
        toml::Value::String("inputs/samples.tsv".into()),
    );
    if let Some(toml::Value::Array(layers)) = ingest.get_mut("layer") {
        for l in layers.iter_mut() {
            if let toml::Value::String(s) = l {
                *s = s.replace("../test-data/sim-small/", "inputs/");
            }
        }
    }
    toml::to_string(&t).map_err(|e| PipelineError::Setting {
        context: "the embedded demo config".into(),
        problem: e.to_string(),
    })
}

/// Simulate the demo cohort into `out/inputs` (unless it is there and `force` is off), write
/// `out/demo.toml` and run it.
pub fn demo(
    out: &Path,
    seed: u64,
    opts: &RunOptions<'_>,
    log: &mut dyn FnMut(Message),
) -> Result<()> {
    let replace = Replace::forced(opts.force);
    check_output(out, OutputKind::RunFolder, &[], replace)?;
    let inputs = out.join("inputs");
    if !inputs.join("samples.tsv").exists() || opts.force {
        log(Message::info(format!(
            "simulating the demo cohort (seed {seed}) into {}",
            inputs.display()
        )));
        let params = resolve_params(
            "small",
            None,
            &SimOverrides {
                seed: Some(seed),
                ..SimOverrides::default()
            },
        )?;
        for m in simulate(
            &params,
            None,
            &out.join("simulated-store"),
            Some(&inputs),
            replace,
        )? {
            log(m);
        }
    }
    let config = out.join("demo.toml");
    write_file_atomic(&config, demo_config()?.as_bytes())?;
    let p = plan(&config, out)?;
    execute(&p, out, opts, log)?;
    log(Message::info(format!(
        "open {}",
        out.join("report.html").display()
    )));
    Ok(())
}
