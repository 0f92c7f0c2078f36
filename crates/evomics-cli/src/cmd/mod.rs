//! One module per subcommand.

mod export;
mod info;
mod ingest;
mod simulate;

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
    }
}
