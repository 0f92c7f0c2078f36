//! End-to-end tests of the `evomics` binary: one test binary, one module per subcommand group.

mod basic;
mod explore;
mod pipeline;
mod recipe;
mod reliability;
mod stages;
mod threads;
mod train;

use std::collections::BTreeMap;
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

/// A TSV file as (header, rows); blank lines are skipped.
pub fn read_tsv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = text.lines();
    let header = lines
        .next()
        .unwrap_or_else(|| panic!("{} is empty", path.display()))
        .split('\t')
        .map(String::from)
        .collect();
    let rows = lines
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').map(String::from).collect())
        .collect();
    (header, rows)
}

/// Index of a column by name.
pub fn col(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column '{name}' in {header:?}"))
}

/// Every file under `dir` (relative path → bytes), with the run-specific part of each
/// manifest.json removed.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            let mut bytes = std::fs::read(&path).unwrap();
            if path.file_name().is_some_and(|n| n == "manifest.json") {
                let mut m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                m.as_object_mut().unwrap().remove("run");
                bytes = serde_json::to_vec(&m).unwrap();
            }
            out.insert(rel, bytes);
        }
    }
    out
}
