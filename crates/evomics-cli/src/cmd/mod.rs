//! One module per subcommand: each parses its arguments into a stage config, calls one
//! function of the library and prints what the result has to say.

mod cluster;
mod demo;
mod diff;
mod explore;
mod export;
pub mod info;
mod ingest;
mod normalize;
mod predict;
mod qc;
mod report;
mod run;
mod simulate;
mod train;

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;

use serde_json::{json, Value};

use evomics_core::{Level, Message};

use crate::cli::{Cli, Command};

/// Messages for the user on stderr: info lines are silenced by `--quiet`, warnings are not
/// (they change results). With `--json`, every message is also kept for the summary that
/// [`Log::finish`] prints on stdout.
#[derive(Debug, Clone, Copy)]
pub struct Log {
    quiet: bool,
    json: bool,
}

/// Every message of this process, in order (for the `--json` summary).
static MESSAGES: Mutex<Vec<Message>> = Mutex::new(Vec::new());

fn keep(m: Message) {
    if let Ok(mut v) = MESSAGES.lock() {
        v.push(m);
    }
}

/// Version of the `--json` summary's layout (docs/cli.md); bumped when a reader of the older
/// layout would misread it.
pub const SUMMARY_SCHEMA: u32 = 1;

/// The `reports` of the `manifest.json` in a stage folder (the stage's summary).
pub fn stage_summary(dir: &Path) -> Value {
    let path = dir.join("manifest.json");
    std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| evomics_io::Manifest::from_json(&path, &t).ok())
        .map(|m| m.reports)
        .unwrap_or(Value::Null)
}

/// Text with control characters (ESC, BEL, NUL, …) and bidirectional overrides shown as
/// `\u{…}`, so that no input cell can drive the terminal (`evomics_io::text::escape_for_terminal`,
/// the one escape of every printed line).
pub fn terminal_safe(s: &str) -> String {
    evomics_io::text::escape_for_terminal(s).into_owned()
}

impl Log {
    /// A log that prints info lines unless `quiet`, and a summary at the end when `json`.
    pub fn new(quiet: bool, json: bool) -> Log {
        Log { quiet, json }
    }

    /// True when the command's summary goes to stdout as JSON (`--json`).
    pub fn json(&self) -> bool {
        self.json
    }

    /// With `--json`, print the summary of the finished command on stdout: the command, its
    /// outputs, its messages (info and warnings, in order) and `summary` (the command's own
    /// part, documented per command in docs/cli.md). Without `--json`, nothing.
    pub fn finish(&self, command: &str, outputs: &[&Path], summary: Value) -> anyhow::Result<()> {
        if !self.json {
            return Ok(());
        }
        let messages: Vec<Message> = MESSAGES.lock().map(|v| v.clone()).unwrap_or_default();
        let doc = json!({
            "schema": SUMMARY_SCHEMA,
            "evomics": env!("CARGO_PKG_VERSION"),
            "command": command,
            "outputs": outputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "warnings": messages.iter().filter(|m| m.level == Level::Warning).map(|m| &m.text).collect::<Vec<_>>(),
            "messages": messages,
            "summary": summary,
        });
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        Ok(())
    }

    /// Print a line on stderr unless quiet.
    pub fn say(&self, msg: impl AsRef<str>) {
        keep(Message::info(msg.as_ref()));
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "{}", terminal_safe(msg.as_ref()));
        }
    }

    /// Print a warning (shown even with `--quiet`).
    pub fn warn(&self, msg: impl AsRef<str>) {
        keep(Message::warn(msg.as_ref()));
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
    let log = Log::new(cli.quiet, cli.json);
    match cli.command {
        Command::Simulate(a) => simulate::run(a, log),
        Command::Ingest(a) => ingest::run(a, log),
        Command::Info(a) => info::run(a, log),
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
