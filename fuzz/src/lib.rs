//! cargo-fuzz harness of evomics' readers: each target in `fuzz_targets/` hands libFuzzer's
//! bytes to [`run`], which checks them with [`targets::check`] and aborts (a crash libFuzzer
//! records) when a reader panics, returns an error that does not name the file, or accepts an
//! input that breaks its contract.

pub mod targets;

use std::path::PathBuf;

thread_local! {
    /// One scratch directory per fuzzing thread, holding the base store and the current input.
    static SCRATCH: (tempfile::TempDir, PathBuf) = {
        let dir = tempfile::tempdir().expect("a scratch directory");
        targets::write_base_store(&dir.path().join("base-store"));
        let path = dir.path().to_path_buf();
        (dir, path)
    };
}

/// Check one input against the target called `name`.
pub fn run(name: &str, data: &[u8]) {
    let t = targets::target(name).expect("a target of that name");
    SCRATCH.with(|(_, dir)| {
        if let Err(problem) = targets::check(t, dir, data) {
            panic!("fuzz target '{name}': {problem}");
        }
    });
}
