//! End-to-end tests of the `evomics` binary: one test binary, one module per subcommand group.

mod basic;
mod explore;
mod pipeline;
mod recipe;
mod reliability;
mod report;
mod stages;
mod standards;
mod threads;
mod train;

use std::path::Path;
use std::process::{Command, Output};

/// Run the binary with `args`.
pub fn evomics(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_evomics"))
        .args(args)
        .output()
        .expect("the evomics binary runs")
}

/// Run and require success; returns stdout.
pub fn ok(args: &[&str]) -> String {
    let out = evomics(args);
    assert!(
        out.status.success(),
        "evomics {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Run and require a clean failure (exit 1, no panic); returns stderr.
pub fn fail(args: &[&str]) -> String {
    let out = evomics(args);
    assert!(!out.status.success(), "evomics {args:?} should fail");
    assert_eq!(out.status.code(), Some(1), "an error, not a panic");
    String::from_utf8(out.stderr).unwrap()
}

/// A path as `&str`.
pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Simulate a small cohort (seed `seed`) straight into an experiment store under `dir`.
pub fn sim_store(dir: &Path, seed: u64) -> std::path::PathBuf {
    let store = dir.join(format!("sim-{seed}"));
    ok(&[
        "simulate",
        "--preset",
        "small",
        "--seed",
        &seed.to_string(),
        "-o",
        p(&store),
        "--quiet",
    ]);
    store
}

pub use evomics_testkit::{col, read_tsv, snapshot};
