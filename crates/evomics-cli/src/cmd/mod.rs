//! One module per subcommand: each parses its arguments into a stage config, calls one
//! function of the library and prints what the result has to say.

mod cluster;
mod demo;
mod diff;
mod explore;
mod export;
mod info;
mod ingest;
mod normalize;
mod predict;
mod qc;
mod report;
mod run;
mod simulate;
mod train;

use std::io::{IsTerminal, Write};

use evomics_core::{Level, Message};

use crate::cli::{Cli, Command};

/// Messages for the user on stderr: info lines are silenced by `--quiet`, warnings are not
/// (they change results).
#[derive(Debug, Clone, Copy)]
pub struct Log {
    quiet: bool,
}

/// Text with control characters (ESC, BEL, NUL, …) and bidirectional overrides shown as
/// `\u{…}`, so that no input cell can drive the terminal (`evomics_io::text::escape_for_terminal`,
/// the one escape of every printed line).
pub fn terminal_safe(s: &str) -> String {
    evomics_io::text::escape_for_terminal(s).into_owned()
}

impl Log {
    /// A log that prints info lines unless `quiet`.
    pub fn new(quiet: bool) -> Log {
        Log { quiet }
    }

    /// Print a line on stderr unless quiet.
    pub fn say(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "{}", terminal_safe(msg.as_ref()));
        }
    }

    /// Print a warning (shown even with `--quiet`).
    pub fn warn(&self, msg: impl AsRef<str>) {
        let _ = writeln!(
            std::io::stderr(),
            "warning: {}",
            terminal_safe(msg.as_ref())
        );
    }

    /// Print a stage's message.
    pub fn message(&self, m: &Message) {
        match m.level {
            Level::Info => self.say(&m.text),
            Level::Warning => self.warn(&m.text),
        }
    }

    /// Print every message of a result.
    pub fn messages(&self, ms: &[Message]) {
        for m in ms {
            self.message(m);
        }
    }

    /// A progress callback: a `\r`-rewritten line on a terminal, nothing otherwise.
    pub fn progress(&self) -> impl Fn(&str, usize, usize) + Sync {
        let on = !self.quiet && std::io::stderr().is_terminal();
        move |what: &str, done: usize, total: usize| {
            if on {
                eprint!("\r{what} {done}/{total}");
                if done == total {
                    eprintln!();
                }
            }
        }
    }
}

/// Run the chosen subcommand.
pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let log = Log::new(cli.quiet);
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
