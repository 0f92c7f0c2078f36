//! One module per subcommand.

pub(crate) mod cluster;
pub(crate) mod demo;
pub(crate) mod diff;
pub(crate) mod explore;
mod export;
mod info;
mod ingest;
pub(crate) mod normalize;
pub(crate) mod predict;
pub(crate) mod qc;
pub(crate) mod report;
pub(crate) mod run;
mod simulate;
pub(crate) mod train;

use crate::cli::{Cli, Command};

/// Messages for the user on stderr, silenced by `--quiet`.
#[derive(Debug, Clone, Copy)]
pub struct Log {
    quiet: bool,
}

impl Log {
    /// Print a line on stderr unless quiet.
    pub fn say(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", msg.as_ref());
        }
    }

    /// True unless `--quiet` was given.
    pub fn is_verbose(&self) -> bool {
        !self.quiet
    }

    /// Print a warning on stderr (warnings are shown even with `--quiet`: they change results).
    pub fn warn(&self, msg: impl AsRef<str>) {
        eprintln!("warning: {}", msg.as_ref());
    }
}

/// Run the chosen subcommand.
pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let log = Log { quiet: cli.quiet };
    match cli.command {
        Command::Simulate(a) => simulate::run(a, log),

        Command::Ingest(a) => ingest::run(a, log),
        Command::Info(a) => info::run(a),
        Command::Export(a) => export::run(a, log),
        Command::Run(a) => run::run(a, log),
        Command::Report(a) => report::run(a, log),
        Command::Demo(a) => demo::run(a, log),
        Command::Qc(a) => qc::run(a, log),
        Command::Normalize(a) => normalize::run(a, log),
        Command::Diff(a) => diff::run(a, log),
        Command::Explore(a) => explore::run(a, log),
        Command::Cluster(a) => cluster::run(a, log),
        Command::Train(a) => train::run(a, log),
        Command::Predict(a) => predict::run(a, log),
    }
}

/// Write a stage's output directory atomically: `fill` writes the files into a temporary
/// directory, then `manifest.json` is added and the directory replaces `out` in one rename.
pub fn write_stage(
    out: &std::path::Path,
    manifest: &evomics_io::Manifest,
    fill: impl FnOnce(&std::path::Path) -> evomics_io::Result<()>,
) -> anyhow::Result<()> {
    evomics_io::atomic::replace_dir(out, |tmp| {
        fill(tmp)?;
        evomics_io::atomic::write_file_atomic(
            &tmp.join("manifest.json"),
            manifest.to_json().as_bytes(),
        )
    })
    .map_err(|e| anyhow::anyhow!("writing {}: {e}", out.display()))
}
