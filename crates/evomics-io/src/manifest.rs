//! The provenance manifest written next to every stored experiment and stage output.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{IoError, Result};

/// Version of the on-disk layout; bumped when a reader of an older store would misread it.
/// Version 2 lists every file of a store with its size and SHA-256 ([`Manifest::files`]).
pub const STORE_FORMAT_VERSION: u32 = 2;

/// One file of an experiment store as written: checked when the store is opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    /// Path relative to the store, `/`-separated (`layers/proteome/values.parquet`).
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the file's bytes, lower-case hex.
    pub sha256: String,
}

/// SHA-256 (lower-case hex) and size of a file, read in 64 KiB blocks.
pub fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let bytes = feed_file(&mut hasher, path)?;
    Ok((hex(&hasher.finalize()), bytes))
}

/// Stream a file's bytes into `hasher` in 64 KiB reads; its length in bytes.
fn feed_file(hasher: &mut Sha256, path: &Path) -> Result<u64> {
    let mut f = std::fs::File::open(path).map_err(|e| IoError::fs("cannot read", path, e))?;
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| IoError::fs("cannot read", path, e))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok(bytes)
}

/// One input file with its content hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputFile {
    /// What the file was used for (`samples`, `layer:proteome`, `config`, …).
    pub role: String,
    /// The path as given on the command line.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the file's bytes, lower-case hex.
    pub sha256: String,
}

impl InputFile {
    /// Hash a file for the manifest.
    pub fn hash(role: &str, path: &Path) -> Result<InputFile> {
        let (sha256, bytes) = sha256_file(path)?;
        Ok(InputFile {
            role: role.to_string(),
            path: path.display().to_string(),
            bytes,
            sha256,
        })
    }
}

impl InputFile {
    /// Fingerprint an experiment store or stage folder by content: SHA-256 over every file's
    /// relative path, size and SHA-256 (lower-case hex), in path order, with the run-specific
    /// `run` part of each `manifest.json` left out (its content is taken whole instead of its
    /// hash), so the same data gives the same hash however and whenever it was written.
    ///
    /// Hashing each file on its own and then the list lets a store's fingerprint reuse the
    /// digests its manifest records where this process has just computed them (see
    /// [`InputFile::store_with`]) instead of reading the store again.
    pub fn store(dir: &Path) -> Result<InputFile> {
        InputFile::store_with(dir, &[])
    }

    /// [`InputFile::store`], taking the SHA-256 of the files in `known` (paths relative to
    /// the store, `/`-separated, as a store's manifest lists them) from there instead of
    /// reading them, where a file still has the listed size: for a store this process has
    /// just written (the digests taken as its bytes were written) or whose files it has just
    /// checked against its manifest while reading them. The fingerprint is the one
    /// [`InputFile::store`] computes when the listed digests are the files' own.
    pub fn store_with(dir: &Path, known: &[StoredFile]) -> Result<InputFile> {
        let known: BTreeMap<&str, &StoredFile> =
            known.iter().map(|f| (f.path.as_str(), f)).collect();
        let mut files = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let entries = std::fs::read_dir(&d).map_err(|e| IoError::fs("cannot list", &d, e))?;
            for e in entries {
                let path = e.map_err(|e| IoError::fs("cannot list", &d, e))?.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        files.sort();
        let mut hasher = Sha256::new();
        let mut bytes = 0u64;
        for f in &files {
            let rel = f
                .strip_prefix(dir)
                .unwrap_or(f)
                .to_string_lossy()
                .replace('\\', "/");
            hasher.update((rel.len() as u64).to_le_bytes());
            hasher.update(rel.as_bytes());
            if f.file_name().is_some_and(|n| n == "manifest.json") {
                let mut content = std::fs::read(f).map_err(|e| IoError::fs("cannot read", f, e))?;
                if let Ok(mut m) = serde_json::from_slice::<serde_json::Value>(&content) {
                    if let Some(o) = m.as_object_mut() {
                        o.remove("run");
                    }
                    content = serde_json::to_vec(&m).unwrap_or(content);
                }
                bytes += content.len() as u64;
                hasher.update((content.len() as u64).to_le_bytes());
                hasher.update(&content);
                continue;
            }
            let len = std::fs::metadata(f)
                .map_err(|e| IoError::fs("cannot read", f, e))?
                .len();
            let digest = match known.get(rel.as_str()) {
                Some(k) if k.bytes == len => k.sha256.clone(),
                _ => {
                    // Data files (Parquet layers of hundreds of MB) are streamed, not read whole.
                    let (digest, read) = sha256_file(f)?;
                    if read != len {
                        return Err(IoError::fs(
                            "cannot hash",
                            f,
                            std::io::Error::other(format!(
                                "the file changed while it was read ({len} bytes, then {read}); rerun once nothing else writes to it"
                            )),
                        ));
                    }
                    digest
                }
            };
            hasher.update(len.to_le_bytes());
            hasher.update(digest.as_bytes());
            bytes += len;
        }
        Ok(InputFile {
            role: "store".into(),
            path: dir.display().to_string(),
            bytes,
            sha256: hex(&hasher.finalize()),
        })
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Provenance of a stored result: what made it, from what, with which settings and seeds.
///
/// Everything except [`Manifest::run`] is a pure function of the inputs, settings and seeds,
/// so two runs can be compared by comparing manifests with `run` removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version of the store ([`STORE_FORMAT_VERSION`]).
    pub format_version: u32,
    /// `evomics` and its version.
    pub tool: String,
    /// Tool version.
    pub tool_version: String,
    /// The stage that wrote this (`ingest`, `simulate`, `normalize`, …).
    pub stage: String,
    /// Resolved settings of the stage, as JSON.
    pub settings: serde_json::Value,
    /// Input files with hashes, in the order given.
    pub inputs: Vec<InputFile>,
    /// Seeds used, by step name.
    pub seeds: BTreeMap<String, u64>,
    /// Per-layer summaries and reader reports, as JSON.
    pub reports: serde_json::Value,
    /// Facts that change from run to run (command line, time, host): excluded from comparisons.
    pub run: RunInfo,
    /// For an experiment store: every file but `manifest.json` with its size and SHA-256, in
    /// path order, written with the store and checked when it is opened (empty for stage
    /// folders that are not stores).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<StoredFile>,
}

/// The run-specific part of a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The command line, as argv.
    pub command: Vec<String>,
    /// Seconds since the Unix epoch when the run finished.
    pub finished_unix: u64,
}

impl RunInfo {
    /// The current process's argv and time.
    pub fn now() -> RunInfo {
        RunInfo {
            command: std::env::args().collect(),
            finished_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }
}

impl Manifest {
    /// A manifest for a stage with empty settings, inputs, seeds and reports.
    pub fn new(stage: &str) -> Manifest {
        Manifest {
            format_version: STORE_FORMAT_VERSION,
            tool: "evomics".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            stage: stage.into(),
            settings: serde_json::Value::Object(Default::default()),
            inputs: Vec::new(),
            seeds: BTreeMap::new(),
            reports: serde_json::Value::Object(Default::default()),
            run: RunInfo::now(),
            files: Vec::new(),
        }
    }

    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into());
        s.push('\n');
        s
    }

    /// Parse a manifest.
    pub fn from_json(path: &Path, text: &str) -> Result<Manifest> {
        serde_json::from_str(text).map_err(|e| IoError::Store {
            path: path.to_path_buf(),
            problem: format!("manifest.json is not a valid evomics manifest ({e})"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_known_value() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        std::fs::write(&p, b"abc").unwrap();
        let h = InputFile::hash("x", &p).unwrap();
        assert_eq!(
            h.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(h.bytes, 3);
    }

    #[test]
    fn store_fingerprint_ignores_run_info() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Manifest::new("x");
        std::fs::create_dir_all(dir.path().join("layers/p")).unwrap();
        std::fs::write(dir.path().join("layers/p/values.parquet"), b"v").unwrap();
        std::fs::write(dir.path().join("manifest.json"), m.to_json()).unwrap();
        let a = InputFile::store(dir.path()).unwrap();
        m.run.finished_unix += 100;
        std::fs::write(dir.path().join("manifest.json"), m.to_json()).unwrap();
        assert_eq!(InputFile::store(dir.path()).unwrap().sha256, a.sha256);
        std::fs::write(dir.path().join("layers/p/values.parquet"), b"w").unwrap();
        assert_ne!(InputFile::store(dir.path()).unwrap().sha256, a.sha256);
    }

    #[test]
    fn known_digests_give_the_fingerprint_of_reading_the_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("layers/p")).unwrap();
        let values = dir.path().join("layers/p/values.parquet");
        std::fs::write(&values, b"values").unwrap();
        std::fs::write(dir.path().join("samples.parquet"), b"sheet").unwrap();
        std::fs::write(
            dir.path().join("manifest.json"),
            Manifest::new("x").to_json(),
        )
        .unwrap();
        let read = InputFile::store(dir.path()).unwrap();
        let (sha256, bytes) = sha256_file(&values).unwrap();
        let listed = |sha256: &str, bytes| {
            vec![StoredFile {
                path: "layers/p/values.parquet".into(),
                bytes,
                sha256: sha256.into(),
            }]
        };
        let known = InputFile::store_with(dir.path(), &listed(&sha256, bytes)).unwrap();
        assert_eq!(known, read);
        // A listed digest is taken as the file's: another digest gives another fingerprint...
        let other = InputFile::store_with(dir.path(), &listed(&"0".repeat(64), bytes)).unwrap();
        assert_ne!(other.sha256, read.sha256);
        // ...unless the file no longer has the listed size, when it is read again.
        let resized = InputFile::store_with(dir.path(), &listed(&"0".repeat(64), 99)).unwrap();
        assert_eq!(resized, read);
    }

    #[test]
    fn json_round_trip() {
        let m = Manifest::new("ingest");
        let back = Manifest::from_json(Path::new("m"), &m.to_json()).unwrap();
        assert_eq!(m, back);
    }
}
