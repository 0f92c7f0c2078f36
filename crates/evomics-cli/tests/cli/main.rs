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

/// A run config for the real MSC secretome (FragPipe MaxLFQ; `Sample`, `Cell_type`,
/// `Differentiation`, `Donor`): ingest, qc grouped by `Cell_type`, normalize (valid values,
/// log2, median) and a donor-grouped elastic net of `Differentiation`; `extra` (more stages)
/// is appended.
pub fn secretome_config(data: &Path, extra: &str) -> String {
    format!(
        r#"seed = 5
[ingest]
samples = "{}"
sample_id_column = "Sample"
layer = ["proteome={}"]

[qc]
group_by = "Cell_type"

[normalize.proteome]
filters = [{{ method = "valid_values", column = "Cell_type", min_fraction = 0.7 }}]
transform = {{ method = "log2" }}
normalization = {{ method = "median" }}

[train]
target = "Differentiation"
layers = ["proteome"]
permutations = 4
learning_curve = []
selection = {{ method = "univariate", k = 50 }}

[train.preprocess.proteome]
filters = [{{ method = "valid_values", column = "Cell_type", min_fraction = 0.7 }}]
transform = {{ method = "log2" }}
normalization = {{ method = "median" }}
imputation = {{ method = "down_shift", seed = 7 }}

[train.model]
model = "elastic_net"
alpha = 0.5
lambda = 0.05

[train.cv]
scheme = "group_k_fold"
k = 4
group = "Donor"
{extra}"#,
        data.join("secretome_samples.tsv").display(),
        data.join("secretome_fragpipe_combined_protein.tsv.gz")
            .display()
    )
}
