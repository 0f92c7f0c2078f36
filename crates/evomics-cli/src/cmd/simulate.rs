//! `evomics simulate`.

use evomics_io::atomic::Replace;
use evomics_pipeline::simulate::{resolve_params, simulate, SimOverrides};

use crate::cli::SimulateArgs;
use crate::cmd::Log;

pub fn run(a: SimulateArgs, log: Log) -> anyhow::Result<()> {
    let overrides = SimOverrides {
        seed: a.seed,
        samples: a.samples,
        proteins: a.proteins,
        mirnas: a.mirnas,
    };
    let params = resolve_params(&a.preset, a.config.as_deref(), &overrides)?;
    let msgs = simulate(
        &params,
        a.config.as_deref(),
        &a.out,
        a.tsv.as_deref(),
        Replace::forced(a.force),
    )?;
    log.messages(&msgs);
    if log.json() {
        let (exp, manifest) = evomics_io::read_experiment(&a.out)?;
        let mut outputs = vec![a.out.as_path()];
        outputs.extend(a.tsv.as_deref());
        log.finish(
            "simulate",
            &outputs,
            crate::cmd::info::summary(&exp, &manifest),
        )?;
    }
    Ok(())
}
