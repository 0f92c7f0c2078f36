//! `evomics demo`: the whole pipeline on an embedded simulated cohort, no input files needed.

use std::path::PathBuf;

use anyhow::{anyhow, Context};
use clap::Args;

use evomics_io::atomic::write_file_atomic;

use crate::cli::Cli;
use crate::cmd::{dispatch, Log};

/// The demo pipeline: `workflows/demo.toml`, which runs on `test-data/sim-small`.
pub const DEMO_CONFIG: &str = include_str!("../../../../workflows/demo.toml");

/// The simulation seed of the demo cohort (the seed `test-data/sim-small` was made with).
pub const DEMO_SEED: u64 = 20261126;

/// `evomics demo`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  evomics demo -o evomics-demo   # then open evomics-demo/report.html"
)]
pub struct DemoArgs {
    /// Output folder (inputs/, one subfolder per stage, report.html).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Seed of the simulated cohort.
    #[arg(long, default_value_t = DEMO_SEED)]
    pub seed: u64,
    /// Rerun every stage.
    #[arg(long)]
    pub force: bool,
}

/// The demo config with its inputs pointed at `inputs/` of the output folder.
pub fn demo_config() -> anyhow::Result<String> {
    let mut t: toml::Table = toml::from_str(DEMO_CONFIG).context("the embedded demo config")?;
    let ingest = t
        .get_mut("ingest")
        .and_then(|v| v.as_table_mut())
        .ok_or_else(|| anyhow!("the demo config has no [ingest] table"))?;
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
    Ok(toml::to_string(&t)?)
}

pub fn run(a: DemoArgs, log: Log) -> anyhow::Result<()> {
    let inputs = a.out.join("inputs");
    let q = |v: &mut Vec<String>| {
        if !log.is_verbose() {
            v.insert(1, "--quiet".into());
        }
    };
    if !inputs.join("samples.tsv").exists() || a.force {
        log.say(format!(
            "simulating the demo cohort (seed {}) into {}",
            a.seed,
            inputs.display()
        ));
        let mut argv: Vec<String> = ["evomics", "simulate", "--preset", "small", "--seed"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        argv.extend([
            a.seed.to_string(),
            "-o".into(),
            a.out.join("simulated-store").display().to_string(),
        ]);
        argv.extend(["--tsv".into(), inputs.display().to_string()]);
        q(&mut argv);
        dispatch(Cli::try_parse_from_argv(&argv)?)?;
    }
    let config = a.out.join("demo.toml");
    write_file_atomic(&config, demo_config()?.as_bytes())?;
    let mut argv: Vec<String> = vec![
        "evomics".into(),
        "run".into(),
        config.display().to_string(),
        "-o".into(),
        a.out.display().to_string(),
    ];
    if a.force {
        argv.push("--force".into());
    }
    q(&mut argv);
    dispatch(Cli::try_parse_from_argv(&argv)?)?;
    log.say(format!("open {}", a.out.join("report.html").display()));
    Ok(())
}
