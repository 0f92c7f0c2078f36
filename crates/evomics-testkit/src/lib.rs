//! # evomics-testkit
//!
//! Test support shared by the evomics crates (a dev-dependency only; nothing here ships):
//!
//! - [`shared`] and [`require_shared!`]: paths into `../shared` (the public data and the R
//!   oracles that live beside the repository), with the skip rule: a test that needs a missing
//!   file prints one `skipped: needs ../shared/…` line and passes, unless the environment sets
//!   `EVOMICS_REQUIRE_SHARED=1` (CI does), when it fails;
//! - [`text`], [`plain_or_gz`], [`Tsv`], [`read_tsv`] and [`col`]: plain or gzip text and
//!   tab-separated tables, read independently of evomics' own readers so that tests check the
//!   readers against something else;
//! - [`close`]: numeric agreement with stated tolerances;
//! - [`cohorts`]: simulated cohorts shared by several crates' tests, and [`grouped_log2`], a
//!   hand-made one-layer experiment;
//! - [`snapshot`]: every file under a folder, with the run-specific part of manifests removed;
//! - [`browser`]: headless Chromium's screenshot and DOM of an HTML report.

pub mod browser;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Standard base64 (RFC 4648, with padding) decoded, for the report's `data:` URLs; panics on
/// a byte outside the alphabet.
pub fn decode_base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("bad base64 byte {c}"),
    };
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let pad = chunk.iter().filter(|c| **c == b'=').count();
        let n = chunk
            .iter()
            .take(4 - pad)
            .fold(0u32, |acc, c| (acc << 6) | u32::from(val(*c)))
            << (6 * pad);
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8][..3 - pad]);
    }
    out
}

/// The workspace root (the folder holding the top-level `Cargo.toml`).
///
/// Found from the crate under test as `cargo test` runs it (its `CARGO_MANIFEST_DIR` at run
/// time), not from where this crate was compiled: two checkouts sharing one build folder (a
/// clone in CI and the working copy) reuse a compiled test-support crate, whose compile-time
/// path would point the tests at the other checkout and its `../shared`.
pub fn workspace_root() -> PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let root = start
        .ancestors()
        .find(|d| {
            std::fs::read_to_string(d.join("Cargo.toml"))
                .is_ok_and(|t| t.lines().any(|l| l.trim() == "[workspace]"))
        })
        .map_or_else(|| start.join("../.."), Path::to_path_buf);
    root.canonicalize().unwrap_or(root)
}

/// The `../shared` folder beside the repository.
pub fn shared_root() -> PathBuf {
    workspace_root().join("../shared")
}

/// True when `EVOMICS_REQUIRE_SHARED=1`: a test needing `../shared` then fails instead of
/// skipping.
pub fn shared_required() -> bool {
    std::env::var("EVOMICS_REQUIRE_SHARED").is_ok_and(|v| v == "1" || v == "true")
}

/// A Python interpreter that imports `imports` (e.g. `"pandas, pyarrow"`): the one named by the
/// environment variable `var`, else `default`. When there is none, prints a `skipped:` line and
/// returns `None`; under CI (`CI` set, as `.ci/run` does, which installs the packages) it panics
/// instead.
pub fn python_with(var: &str, default: Option<&str>, imports: &str) -> Option<String> {
    let python = std::env::var(var)
        .ok()
        .or_else(|| default.map(str::to_string));
    let ok = python.as_ref().is_some_and(|py| {
        std::process::Command::new(py)
            .args(["-c", &format!("import {imports}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    });
    if ok {
        return python;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must provide {var} with {imports}; .ci/run installs it"
    );
    eprintln!("skipped: no python with {imports} ({var}); .ci/run installs it");
    None
}

/// The path `../shared/<rel>` when it exists. When it does not, prints one line
/// `skipped: needs ../shared/<rel>` straight to the terminal's stderr (past the test harness's
/// capture, so it shows in `cargo test` output) and returns `None`; with
/// `EVOMICS_REQUIRE_SHARED=1` it panics instead, naming the path.
pub fn shared(rel: &str) -> Option<PathBuf> {
    let p = shared_root().join(rel);
    if p.exists() {
        return Some(p);
    }
    if shared_required() {
        panic!(
            "{} is missing and EVOMICS_REQUIRE_SHARED=1: this test reads ../shared/{rel} \
             (public data and R oracles beside the repository; see README.md)",
            p.display()
        );
    }
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("a test");
    // Written to the stderr handle, not with eprintln!: the harness captures the macros only.
    let _ = writeln!(std::io::stderr(), "skipped: needs ../shared/{rel} ({name})");
    None
}

/// `let path = require_shared!("data/real/x");` — the path under `../shared`, or return from
/// the test (skipped, see [`shared`]).
#[macro_export]
macro_rules! require_shared {
    ($rel:expr) => {
        match $crate::shared($rel) {
            Some(p) => p,
            None => return,
        }
    };
}

/// A file of the repository's `test-data/` (committed, always present).
pub fn test_data(rel: &str) -> PathBuf {
    let p = workspace_root().join("test-data").join(rel);
    assert!(p.exists(), "{} is missing from test-data/", p.display());
    p
}

/// A text file, gunzipped when its name ends in `.gz`.
pub fn text(path: &Path) -> String {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    if path.extension().is_some_and(|e| e == "gz") {
        let mut s = String::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut s)
            .unwrap_or_else(|e| panic!("{}: cannot decompress: {e}", path.display()));
        s
    } else {
        String::from_utf8(bytes).unwrap_or_else(|e| panic!("{}: not UTF-8: {e}", path.display()))
    }
}

/// `dir/stem` or `dir/stem.gz`, whichever exists (the plain name when neither does, so that the
/// failure names it).
pub fn plain_or_gz(dir: &Path, stem: &str) -> PathBuf {
    let plain = dir.join(stem);
    if plain.exists() {
        return plain;
    }
    let gz = dir.join(format!("{stem}.gz"));
    if gz.exists() {
        gz
    } else {
        plain
    }
}

/// A delimited text table: a header and rows of text cells (blank lines skipped).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tsv {
    /// Column names.
    pub header: Vec<String>,
    /// Rows of cells.
    pub rows: Vec<Vec<String>>,
}

impl Tsv {
    /// Read a tab-separated file (plain or `.gz`).
    pub fn read(path: &Path) -> Tsv {
        Tsv::parse(&text(path), '\t')
    }

    /// Parse text with the delimiter; cells are not trimmed and quotes are not interpreted.
    pub fn parse(text: &str, delim: char) -> Tsv {
        let mut lines = text.lines();
        let header = lines
            .next()
            .unwrap_or("")
            .split(delim)
            .map(str::to_string)
            .collect();
        let rows = lines
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.split(delim).map(str::to_string).collect())
            .collect();
        Tsv { header, rows }
    }

    /// Index of a column; panics naming the columns when absent.
    pub fn col(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column '{name}' in {:?}", self.header))
    }

    /// The text cells of a column.
    pub fn column(&self, name: &str) -> Vec<&str> {
        let k = self.col(name);
        self.rows.iter().map(|r| r[k].as_str()).collect()
    }

    /// A numeric column: `NA`, `NaN` and empty cells are `None`; `Inf`/`-Inf` are infinities.
    pub fn numbers(&self, name: &str) -> Vec<Option<f64>> {
        self.column(name).into_iter().map(number).collect()
    }
}

/// A tab-separated file (plain or `.gz`) as (header, rows of cells): [`Tsv::read`] in the shape
/// most tests destructure.
pub fn read_tsv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let t = Tsv::read(path);
    (t.header, t.rows)
}

/// Index of the column `name` in a header; panics naming the columns when absent.
#[track_caller]
pub fn col(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column '{name}' in {header:?}"))
}

/// A cell as a number as R writes them (`NA`, `NaN` and empty are `None`).
pub fn number(cell: &str) -> Option<f64> {
    match cell.trim().trim_matches('"') {
        "" | "NA" | "NaN" => None,
        "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        s => Some(
            s.parse::<f64>()
                .unwrap_or_else(|e| panic!("'{s}' is not a number: {e}")),
        ),
    }
}

/// Numeric agreement within tolerances.
pub mod close {
    /// Relative error of `a` against the reference `b`: |a − b| / max(|b|, floor).
    pub fn rel_err(a: f64, b: f64, floor: f64) -> f64 {
        if a == b {
            return 0.0;
        }
        (a - b).abs() / b.abs().max(floor)
    }

    /// Assert `a` ≈ `b` (the reference): |a − b| ≤ abs + rel·|b|. `None` must match `None`;
    /// equal infinities match.
    #[track_caller]
    pub fn assert_close(a: Option<f64>, b: Option<f64>, rel: f64, abs: f64, what: &str) {
        match (a, b) {
            (None, None) => {}
            (Some(x), Some(y)) if x == y => {}
            (Some(x), Some(y)) => assert!(
                x.is_finite() && y.is_finite() && (x - y).abs() <= abs + rel * y.abs(),
                "{what}: {x} differs from the reference {y} (|Δ| = {:e}; tolerance {abs:e} + {rel:e}·|ref|)",
                (x - y).abs()
            ),
            _ => panic!("{what}: {a:?} but the reference is {b:?}"),
        }
    }

    /// The largest relative error over paired values (`None` pairs skipped; a `None` against a
    /// number panics).
    #[track_caller]
    pub fn max_rel_err(a: &[Option<f64>], b: &[Option<f64>], floor: f64, what: &str) -> f64 {
        assert_eq!(a.len(), b.len(), "{what}: lengths differ");
        let mut worst: f64 = 0.0;
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            match (x, y) {
                (None, None) => {}
                (Some(x), Some(y)) => worst = worst.max(rel_err(*x, *y, floor)),
                _ => panic!("{what}, item {i}: {x:?} against the reference {y:?}"),
            }
        }
        worst
    }
}

/// An experiment of one log2 `proteome` layer: samples `ids`, features `P0`, `P1`, …, the cells
/// of `cells` (features × samples; `None` is a missing cell), and a sheet with one text column
/// `column` holding each sample's group.
pub fn grouped_log2(
    ids: Vec<String>,
    column: &str,
    groups: Vec<Option<String>>,
    cells: &ndarray::Array2<Option<f64>>,
) -> evomics_core::Experiment {
    use evomics_core::{Assay, Experiment, Features, LayerKind, SampleSheet, ValueScale};
    let sheet = SampleSheet::from_text_columns(ids.clone(), vec![(column.to_string(), groups)])
        .expect("one group per sample");
    let features =
        Features::new((0..cells.nrows()).map(|i| format!("P{i}")).collect()).expect("ids");
    let layer = Assay::from_options(
        "proteome",
        LayerKind::Proteome,
        ValueScale::Log2,
        features,
        ids,
        cells,
    )
    .expect("a cell per feature and sample");
    let mut exp = Experiment::new(sheet);
    exp.insert_layer(layer).expect("the sheet's samples");
    exp
}

/// Simulated cohorts that several crates' tests share.
pub mod cohorts {
    use evomics_sim::{simulate, SimCohort, SimParams};

    /// A cohort where source and batch effects are both strong and batch dominates before
    /// correction: 60 preparations, 3 sources crossed with 3 batches, 30 % of proteins differing
    /// by source (1.5–3 log2), 90 % batch-affected (SD 2 log2, plus a global batch shift of SD 1),
    /// little donor and conditioning structure, and a detection limit low enough (no random
    /// dropout) that most proteins are complete. Clustering and batch-correction tests use it.
    pub fn batchy(seed: u64) -> SimCohort {
        let mut p = SimParams {
            seed,
            n_samples: 60,
            n_proteins: 400,
            n_mirnas: 60,
            n_batches: 3,
            donors_per_source: [3, 5],
            preps_per_donor: [2, 5],
            ..SimParams::default()
        };
        p.sources.truncate(3);
        p.effects.source_de_fraction = 0.3;
        p.effects.source_effect_log2 = [1.5, 3.0];
        p.effects.batch_affected_fraction = 0.9;
        p.effects.batch_sd_log2 = 2.0;
        p.effects.donor_sd_log2 = 0.2;
        p.effects.conditioning_de_fraction = 0.01;
        p.proteome.batch_shift_sd_log2 = 1.0;
        p.purity.dirty_sample_fraction = 0.0;
        p.proteome.mnar_midpoint_log2 = 16.0;
        p.proteome.mar_rate = 0.0;
        simulate(&p).expect("the batchy cohort's parameters are valid")
    }
}

/// Every file under `dir` (relative path with `/` → bytes), with the run-specific `run` part of
/// each `manifest.json` removed, so that two runs of the same work compare equal.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries =
            std::fs::read_dir(&d).unwrap_or_else(|e| panic!("cannot list {}: {e}", d.display()));
        for e in entries {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let mut bytes = std::fs::read(&path).unwrap();
            if path.file_name().is_some_and(|n| n == "manifest.json") {
                if let Ok(mut m) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                    if let Some(o) = m.as_object_mut() {
                        o.remove("run");
                    }
                    bytes = serde_json::to_vec(&m).unwrap();
                }
            }
            out.insert(rel, bytes);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_numbers_read_r_spellings() {
        let t = Tsv::parse("id\tx\na\tNA\nb\t1.5\nc\tInf\n\n", '\t');
        assert_eq!(t.rows.len(), 3);
        assert_eq!(t.numbers("x"), vec![None, Some(1.5), Some(f64::INFINITY)]);
        assert_eq!(col(&t.header, "x"), 1);
        assert!(std::panic::catch_unwind(|| col(&t.header, "y")).is_err());
    }

    #[test]
    fn close_checks_both_ways() {
        close::assert_close(Some(1.0), Some(1.0 + 1e-9), 1e-6, 0.0, "x");
        let r =
            std::panic::catch_unwind(|| close::assert_close(Some(1.0), Some(1.1), 1e-6, 0.0, "x"));
        assert!(r.is_err());
        let r = std::panic::catch_unwind(|| close::assert_close(None, Some(1.0), 1e-6, 0.0, "x"));
        assert!(r.is_err());
    }

    #[test]
    fn missing_shared_path_is_none_unless_required() {
        if shared_required() {
            return;
        }
        assert!(shared("no/such/file/anywhere").is_none());
    }
}
