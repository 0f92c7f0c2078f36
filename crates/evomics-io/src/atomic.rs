//! Atomic outputs: a file or directory is either the old one or the complete new one, never partial.
//!
//! A new output is built under a hidden sibling `.NAME.tmp-PID-N` and renamed onto `NAME`; a
//! directory being replaced is first moved aside to `.NAME.old-PID-N`. A process killed
//! mid-write leaves such siblings behind (never a partial `NAME`); the next write of the same
//! `NAME` removes those whose process is gone (see [`remove_stale_siblings`]).
//!
//! An output never destroys what evomics did not write ([`check_output`], docs/reliability.md):
//! a folder is replaced only when it is empty or evomics output (its `manifest.json` is an
//! evomics manifest; for `run`, the run's own layout), unless [`Replace::Anything`]
//! (`--force`); no output may be an input of its command, lie inside an input folder, or hold
//! an input that replacing it would delete; and `.`, `..` or `/` are never outputs.

use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{IoError, Result};

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn sibling(path: &Path, tag: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "out".into());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{tag}-{}-{n}", std::process::id()))
}

fn ensure_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        // create_dir_all only says "File exists" when a file is in the way; name that file.
        if let Some(file) = parent
            .ancestors()
            .filter(|a| !a.as_os_str().is_empty())
            .find(|a| a.exists() && !a.is_dir())
        {
            return Err(IoError::Spec(format!(
                "cannot write '{}': '{}' is a file, not a directory; choose another output path",
                path.display(),
                file.display()
            )));
        }
        fs::create_dir_all(parent)
            .map_err(|e| IoError::fs("cannot create directory", parent, e))?;
    }
    Ok(())
}

/// The process id in a temporary sibling's name `.NAME.tmp-PID-N` / `.NAME.old-PID-N`.
fn sibling_pid(file_name: &str, name: &str) -> Option<u32> {
    let rest = file_name.strip_prefix('.')?.strip_prefix(name)?;
    let rest = rest
        .strip_prefix(".tmp-")
        .or_else(|| rest.strip_prefix(".old-"))?;
    let (pid, n) = rest.split_once('-')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// True when the process that made a sibling can no longer be writing it.
fn writer_gone(pid: u32, sibling: &Path) -> bool {
    if pid == std::process::id() {
        return false;
    }
    let proc = Path::new("/proc");
    if proc.is_dir() {
        return !proc.join(pid.to_string()).exists();
    }
    // Without /proc the writer cannot be looked up: only siblings a day old count as stale.
    fs::symlink_metadata(sibling)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() > 24 * 3600)
}

/// Remove the temporary siblings (`.NAME.tmp-PID-N`, `.NAME.old-PID-N`) that an interrupted
/// write of `path` left behind, when their process is gone (on Linux: no `/proc/PID`;
/// elsewhere: older than a day). Siblings of a live writer are left alone, and a sibling that
/// cannot be removed is skipped: cleaning up never fails a write. Returns how many were removed.
pub fn remove_stale_siblings(path: &Path) -> usize {
    let Some(name) = path.file_name().map(|s| s.to_string_lossy().to_string()) else {
        return 0;
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().to_string();
        let Some(pid) = sibling_pid(&file_name, &name) else {
            continue;
        };
        let p = entry.path();
        if !writer_gone(pid, &p) {
            continue;
        }
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        let gone = if is_dir {
            fs::remove_dir_all(&p)
        } else {
            fs::remove_file(&p)
        };
        if gone.is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Write `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    ensure_parent(path)?;
    if path.is_dir() {
        return Err(IoError::Spec(format!(
            "output '{}' is a directory; give a file path",
            path.display()
        )));
    }
    remove_stale_siblings(path);
    let tmp = sibling(path, "tmp");
    let result = (|| {
        let mut f = fs::File::create(&tmp).map_err(|e| IoError::fs("cannot create", &tmp, e))?;
        f.write_all(bytes)
            .map_err(|e| IoError::fs("cannot write", &tmp, e))?;
        f.sync_all()
            .map_err(|e| IoError::fs("cannot write", &tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| IoError::fs("cannot move into place", path, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Write `path` through `fill`, which gets the temporary file to write into; it is synced and
/// renamed onto `path` when `fill` succeeds, and removed when it fails.
pub fn write_file_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut fs::File) -> Result<()>,
) -> Result<()> {
    ensure_parent(path)?;
    if path.is_dir() {
        return Err(IoError::Spec(format!(
            "output '{}' is a directory; give a file path",
            path.display()
        )));
    }
    remove_stale_siblings(path);
    let tmp = sibling(path, "tmp");
    let result = (|| {
        let mut f = fs::File::create(&tmp).map_err(|e| IoError::fs("cannot create", &tmp, e))?;
        fill(&mut f)?;
        f.sync_all()
            .map_err(|e| IoError::fs("cannot write", &tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| IoError::fs("cannot move into place", path, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Build a directory with `fill` in a temporary sibling, then swap it in place of `dir`.
///
/// On error the temporary directory is removed and `dir` is untouched. An existing `dir` is
/// moved aside before the new one is renamed in and deleted afterwards, so at every instant
/// `dir` is absent, old or complete.
///
/// `replace` says what an existing `dir` may be: [`Replace::EvomicsOutput`] refuses a folder
/// that is neither empty nor evomics output (see [`check_replaceable`]), and a path without a
/// name of its own (`.`, `..`, `/`) is always refused, since no sibling can be built for it.
pub fn replace_dir(
    dir: &Path,
    replace: Replace,
    fill: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let swap = DirSwap::begin(dir, replace)?;
    fill(swap.path())?;
    swap.commit()
}

/// A folder being replaced: [`replace_dir`] in steps, for a folder filled from several places
/// (e.g. a store whose layers are written as each is read). [`DirSwap::begin`] makes the
/// temporary sibling, [`DirSwap::commit`] swaps it in; a `DirSwap` dropped uncommitted removes
/// its temporary folder, so a failed write leaves `dir` as it was.
#[derive(Debug)]
pub struct DirSwap {
    dir: PathBuf,
    tmp: PathBuf,
    committed: bool,
}

impl DirSwap {
    /// Check that `dir` may be replaced (as [`replace_dir`] does) and make its temporary
    /// sibling.
    pub fn begin(dir: &Path, replace: Replace) -> Result<DirSwap> {
        check_output_name(dir)?;
        ensure_parent(dir)?;
        check_replaceable(dir, replace)?;
        remove_stale_siblings(dir);
        let tmp = sibling(dir, "tmp");
        fs::create_dir(&tmp).map_err(|e| IoError::fs("cannot create directory", &tmp, e))?;
        Ok(DirSwap {
            dir: dir.to_path_buf(),
            tmp,
            committed: false,
        })
    }

    /// The temporary folder to fill.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Put the filled folder in place of `dir`: the old one is moved aside, the new one moved
    /// in, the old one removed (on failure the old one is moved back).
    pub fn commit(mut self) -> Result<()> {
        self.committed = true;
        let (dir, tmp) = (&self.dir, &self.tmp);
        if dir.exists() {
            let old = sibling(dir, "old");
            fs::rename(dir, &old).map_err(|e| {
                let _ = fs::remove_dir_all(tmp);
                IoError::fs("cannot move aside", dir, e)
            })?;
            if let Err(e) = fs::rename(tmp, dir) {
                let _ = fs::rename(&old, dir);
                let _ = fs::remove_dir_all(tmp);
                return Err(IoError::fs("cannot move into place", dir, e));
            }
            let _ = fs::remove_dir_all(&old);
        } else {
            fs::rename(tmp, dir).map_err(|e| {
                let _ = fs::remove_dir_all(tmp);
                IoError::fs("cannot move into place", dir, e)
            })?;
        }
        Ok(())
    }
}

impl Drop for DirSwap {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.tmp);
        }
    }
}

/// What an output folder may replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Replace {
    /// Only an empty folder or evomics output (the default).
    #[default]
    EvomicsOutput,
    /// Whatever folder is there (`--force`).
    Anything,
}

impl Replace {
    /// [`Replace::Anything`] when `force`, else [`Replace::EvomicsOutput`].
    pub fn forced(force: bool) -> Replace {
        if force {
            Replace::Anything
        } else {
            Replace::EvomicsOutput
        }
    }
}

/// How a command writes its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// A folder replaced as a whole (a store, a stage folder).
    Folder,
    /// A folder written into, whose stage folders and files are replaced one by one (`run`,
    /// `demo`; see [`RUN_ENTRIES`]).
    RunFolder,
    /// One file: an existing file is replaced, a folder never.
    File,
}

/// The entries `evomics run` writes in its folder: an input inside one of them would be
/// replaced by the run.
pub const RUN_ENTRIES: [&str; 10] = [
    "ingest",
    "qc",
    "normalize",
    "diff",
    "explore",
    "cluster",
    "train",
    "config",
    "run.json",
    "report.html",
];

fn output_error(path: &Path, problem: impl Into<String>) -> IoError {
    IoError::Output {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

/// A temporary sibling an atomic write leaves while it runs (`.NAME.tmp-…`, `.NAME.old-…`).
fn is_temp_sibling(name: &str) -> bool {
    name.starts_with('.') && (name.contains(".tmp-") || name.contains(".old-"))
}

/// Refuse an output path whose last part is not a name (`.`, `..`, `/`, empty): the output is
/// built in a sibling of that name and renamed onto it, which such a path does not have.
pub fn check_output_name(out: &Path) -> Result<()> {
    match out.components().next_back() {
        Some(Component::Normal(_)) => Ok(()),
        _ => Err(output_error(
            out,
            "names no folder or file of its own ('.', '..', a root or nothing): an output is written beside its path and renamed onto it; give a new name such as 'out'",
        )),
    }
}

/// `path` made absolute with symbolic links resolved, also when it does not exist yet: the
/// nearest existing ancestor is canonicalized and the rest appended (`.` dropped, `..` taking
/// off one part).
pub fn resolve_path(path: &Path) -> Result<PathBuf> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        let cwd = std::env::current_dir().map_err(|e| IoError::fs("cannot resolve", path, e))?;
        cwd.join(path)
    };
    for anc in abs.ancestors() {
        let Ok(base) = fs::canonicalize(anc) else {
            continue;
        };
        let mut out = base;
        for c in abs.strip_prefix(anc).unwrap_or(Path::new("")).components() {
            match c {
                Component::Normal(n) => out.push(n),
                Component::ParentDir => {
                    out.pop();
                }
                _ => {}
            }
        }
        return Ok(out);
    }
    Ok(abs)
}

/// A JSON document of at most 16 MiB at `path` that is a regular file, parsed.
fn small_json(path: &Path) -> Option<serde_json::Value> {
    let meta = fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > 16 << 20 {
        return None;
    }
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

/// True when `dir/manifest.json` is an evomics manifest (a regular file whose `tool` is
/// `evomics`, with a stage and a layout version): the folder is evomics output.
pub fn is_evomics_output(dir: &Path) -> bool {
    small_json(&dir.join("manifest.json")).is_some_and(|m| {
        m.get("tool").and_then(|t| t.as_str()) == Some("evomics")
            && m.get("stage").is_some_and(|s| s.is_string())
            && m.get("format_version").is_some_and(|v| v.is_u64())
    })
}

/// True when `dir/run.json` is the state file of `evomics run` (an object with `stages`).
pub fn is_run_state(dir: &Path) -> bool {
    small_json(&dir.join("run.json"))
        .is_some_and(|m| m.get("stages").is_some_and(|s| s.is_object()))
}

/// The entries of an existing folder that are not temporary siblings, sorted (None: not a
/// folder or absent).
fn entries(dir: &Path) -> Result<Option<Vec<String>>> {
    match fs::symlink_metadata(dir) {
        Err(_) => return Ok(None),
        Ok(m) if !m.is_dir() && !dir.is_dir() => {
            return Err(output_error(
                dir,
                "exists and is not a folder; choose another output path",
            ))
        }
        Ok(_) => {}
    }
    let list = fs::read_dir(dir).map_err(|e| IoError::fs("cannot list", dir, e))?;
    let mut names: Vec<String> = list
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| !is_temp_sibling(n))
        .collect();
    names.sort();
    Ok(Some(names))
}

fn not_ours(dir: &Path, what: &str, names: &[String]) -> IoError {
    let shown: Vec<String> = names.iter().take(3).map(|n| format!("'{n}'")).collect();
    let more = if names.len() > 3 { ", …" } else { "" };
    output_error(
        dir,
        format!(
            "the folder exists and is not {what}; it holds {}{more}, which writing the output would delete. Choose another output path, or give --force to replace it anyway",
            shown.join(", ")
        ),
    )
}

/// Whether the folder `dir` may be replaced by an output: it is absent, empty (temporary
/// siblings of interrupted writes aside) or evomics output ([`is_evomics_output`]); with
/// [`Replace::Anything`] any folder may. A file in its place is always an error.
pub fn check_replaceable(dir: &Path, replace: Replace) -> Result<()> {
    let Some(names) = entries(dir)? else {
        return Ok(());
    };
    if replace == Replace::Anything || names.is_empty() || is_evomics_output(dir) {
        return Ok(());
    }
    Err(not_ours(
        dir,
        "an evomics output (no evomics manifest.json in it)",
        &names,
    ))
}

/// Whether `evomics run` (or `demo`) may write into `dir`: it is absent, empty, holds the
/// run's `run.json` ([`is_run_state`]), or holds only `demo.toml` and evomics output folders
/// (a demo interrupted before its first stage finished); with [`Replace::Anything`] any folder
/// may. Each stage folder in it is checked again when it is replaced.
pub fn check_run_folder(dir: &Path, replace: Replace) -> Result<()> {
    let Some(names) = entries(dir)? else {
        return Ok(());
    };
    let demo_layout = || {
        names
            .iter()
            .all(|n| n == "demo.toml" || is_evomics_output(&dir.join(n)))
    };
    if replace == Replace::Anything || names.is_empty() || is_run_state(dir) || demo_layout() {
        return Ok(());
    }
    Err(not_ours(
        dir,
        "an evomics run folder (no run.json of evomics run in it)",
        &names,
    ))
}

/// Check an output path before anything is computed or written:
///
/// - its last part is a name ([`check_output_name`]) and it is not the root;
/// - it is none of `inputs`, not inside an input folder, and (for folders) no input lies in
///   it: for [`OutputKind::Folder`] anywhere, for [`OutputKind::RunFolder`] inside one of the
///   [`RUN_ENTRIES`]; paths are compared after [`resolve_path`], so `st/./x`, `../d/st` and
///   symbolic links are seen through;
/// - a replaced folder does not hold the current folder;
/// - what exists there may be replaced: [`check_replaceable`] / [`check_run_folder`]; for
///   [`OutputKind::File`], an existing file may be replaced but a folder never.
pub fn check_output(
    out: &Path,
    kind: OutputKind,
    inputs: &[&Path],
    replace: Replace,
) -> Result<()> {
    check_output_name(out)?;
    let abs_out = resolve_path(out)?;
    if abs_out.parent().is_none() {
        return Err(output_error(
            out,
            "is the root folder; give a new folder name",
        ));
    }
    for input in inputs {
        let abs_in = resolve_path(input)?;
        let both = format!("'{}' (as '{}')", input.display(), abs_in.display());
        if abs_out == abs_in {
            return Err(output_error(
                out,
                format!(
                    "is the command's input {both}: writing it would destroy the input; choose another output path"
                ),
            ));
        }
        if abs_out.starts_with(&abs_in) {
            return Err(output_error(
                out,
                format!(
                    "lies inside the input folder {both}: writing it would change the input; choose an output path outside it"
                ),
            ));
        }
        let inside = match kind {
            OutputKind::File => false,
            OutputKind::Folder => abs_in.starts_with(&abs_out),
            OutputKind::RunFolder => abs_in.strip_prefix(&abs_out).is_ok_and(|rest| {
                rest.components().next().is_some_and(|c| {
                    RUN_ENTRIES
                        .iter()
                        .any(|e| c.as_os_str() == std::ffi::OsStr::new(e))
                })
            }),
        };
        if inside {
            return Err(output_error(
                out,
                format!(
                    "holds the command's input {both}, which writing the output would delete; choose an output path that does not contain the input"
                ),
            ));
        }
    }
    match kind {
        OutputKind::Folder => {
            if let Ok(cwd) = std::env::current_dir().and_then(fs::canonicalize) {
                if cwd.starts_with(&abs_out) {
                    return Err(output_error(
                        out,
                        format!(
                            "holds the current folder '{}', which replacing the output would delete; give a folder outside it",
                            cwd.display()
                        ),
                    ));
                }
            }
            check_replaceable(out, replace)
        }
        OutputKind::RunFolder => check_run_folder(out, replace),
        OutputKind::File => {
            if out.is_dir() {
                // A file output never replaces a folder.
                Err(IoError::Spec(format!(
                    "output '{}' is a directory; give a file path",
                    out.display()
                )))
            } else {
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_fill_leaves_old_dir() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("store");
        replace_dir(&out, Replace::Anything, |t| {
            write_file_atomic(&t.join("a"), b"old")
        })
        .unwrap();
        let r = replace_dir(&out, Replace::Anything, |t| {
            write_file_atomic(&t.join("a"), b"new")?;
            Err(IoError::Spec("boom".into()))
        });
        assert!(r.is_err());
        assert_eq!(fs::read(out.join("a")).unwrap(), b"old");
        let leftovers: Vec<_> = fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary directories are cleaned up");
        replace_dir(&out, Replace::Anything, |t| {
            write_file_atomic(&t.join("b"), b"new")
        })
        .unwrap();
        assert!(!out.join("a").exists());
        assert_eq!(fs::read(out.join("b")).unwrap(), b"new");
    }

    /// A pid no process has: above the kernel's pid_max limit (2^22).
    const DEAD_PID: u32 = 4_194_304 + 17;

    #[test]
    fn stale_siblings_of_a_killed_writer_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("store");
        let stale_dir = d.path().join(format!(".store.tmp-{DEAD_PID}-0"));
        fs::create_dir(&stale_dir).unwrap();
        fs::write(stale_dir.join("samples.parquet"), b"half").unwrap();
        let stale_old = d.path().join(format!(".store.old-{DEAD_PID}-3"));
        fs::create_dir(&stale_old).unwrap();
        let stale_file = d.path().join(format!(".x.tsv.tmp-{DEAD_PID}-1"));
        fs::write(&stale_file, b"half").unwrap();
        // Names that only look alike are not ours to remove.
        let live = d
            .path()
            .join(format!(".store.tmp-{}-9", std::process::id()));
        fs::create_dir(&live).unwrap();
        for other in [
            ".store.tmp-notes",
            ".store.tmp-12-",
            "store.tmp-1-1",
            ".stores.tmp-1-1",
        ] {
            fs::write(d.path().join(other), b"keep").unwrap();
        }

        replace_dir(&out, Replace::EvomicsOutput, |t| {
            write_file_atomic(&t.join("a"), b"new")
        })
        .unwrap();
        assert!(!stale_dir.exists() && !stale_old.exists());
        assert!(live.exists(), "a live writer's sibling is kept");
        assert!(
            stale_file.exists(),
            "only siblings of the target written are touched"
        );
        for other in [
            ".store.tmp-notes",
            ".store.tmp-12-",
            "store.tmp-1-1",
            ".stores.tmp-1-1",
        ] {
            assert!(d.path().join(other).exists(), "{other}");
        }
        write_file_atomic(&d.path().join("x.tsv"), b"full").unwrap();
        assert!(!stale_file.exists());
        assert_eq!(fs::read(d.path().join("x.tsv")).unwrap(), b"full");
    }

    fn manifest_text() -> String {
        crate::manifest::Manifest::new("test").to_json()
    }

    #[test]
    fn only_empty_folders_and_evomics_output_are_replaced() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        fs::create_dir(&out).unwrap();
        fs::write(out.join("notes.txt"), b"my notes").unwrap();
        let e = replace_dir(&out, Replace::EvomicsOutput, |t| {
            write_file_atomic(&t.join("a"), b"new")
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("out': the folder exists and is not an evomics output")
                && e.contains("'notes.txt'")
                && e.contains("--force"),
            "{e}"
        );
        assert_eq!(fs::read(out.join("notes.txt")).unwrap(), b"my notes");
        assert_eq!(
            fs::read_dir(d.path()).unwrap().count(),
            1,
            "no sibling left"
        );
        // A manifest that is not evomics' (or not a file) does not make it evomics output.
        for bad in [
            &b"{}"[..],
            b"not json",
            br#"{"tool":"other","stage":"x","format_version":1}"#,
        ] {
            fs::write(out.join("manifest.json"), bad).unwrap();
            assert!(check_replaceable(&out, Replace::EvomicsOutput).is_err());
        }
        fs::remove_file(out.join("manifest.json")).unwrap();
        fs::create_dir(out.join("manifest.json")).unwrap();
        assert!(check_replaceable(&out, Replace::EvomicsOutput).is_err());
        fs::remove_dir(out.join("manifest.json")).unwrap();
        // --force replaces it.
        replace_dir(&out, Replace::Anything, |t| {
            write_file_atomic(&t.join("manifest.json"), manifest_text().as_bytes())
        })
        .unwrap();
        assert!(!out.join("notes.txt").exists() && is_evomics_output(&out));
        // evomics output and empty folders are replaced without it.
        replace_dir(&out, Replace::EvomicsOutput, |t| {
            write_file_atomic(&t.join("b"), b"x")
        })
        .unwrap();
        assert!(out.join("b").is_file());
        let empty = d.path().join("empty");
        fs::create_dir(&empty).unwrap();
        fs::create_dir(empty.join(format!(".x.tmp-{DEAD_PID}-0"))).unwrap();
        replace_dir(&empty, Replace::EvomicsOutput, |t| {
            write_file_atomic(&t.join("c"), b"x")
        })
        .unwrap();
        assert!(empty.join("c").is_file());
    }

    #[test]
    fn paths_without_a_name_are_refused_and_leave_nothing() {
        let d = tempfile::tempdir().unwrap();
        for bad in [".", "..", "/", "", "a/..", "./"] {
            let e = check_output_name(Path::new(bad)).unwrap_err().to_string();
            assert!(
                e.contains("names no folder or file of its own"),
                "{bad:?}: {e}"
            );
        }
        let cwd_like = d.path().join(".");
        assert!(check_output_name(&cwd_like)
            .is_ok_and(|_| cwd_like.ends_with(d.path().file_name().unwrap())));
        let e = replace_dir(&d.path().join(".."), Replace::Anything, |_| Ok(())).unwrap_err();
        assert!(e.to_string().contains("names no folder"), "{e}");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 0);
    }

    #[test]
    fn outputs_never_touch_their_inputs() {
        let d = tempfile::tempdir().unwrap();
        let st = d.path().join("st");
        fs::create_dir_all(st.join("layers/p")).unwrap();
        fs::write(st.join("manifest.json"), manifest_text()).unwrap();
        let model = d.path().join("model.json");
        fs::write(&model, b"{}").unwrap();
        let ok = Replace::EvomicsOutput;
        let err = |out: &Path, kind, inputs: &[&Path]| {
            check_output(out, kind, inputs, Replace::Anything)
                .unwrap_err()
                .to_string()
        };
        // onto the input, inside it, around it
        let e = err(&st, OutputKind::Folder, &[&st]);
        assert!(e.contains("is the command's input"), "{e}");
        let e = err(&st.join("manifest.json"), OutputKind::File, &[&st]);
        assert!(e.contains("lies inside the input folder"), "{e}");
        let e = err(&st.join("layers/qc"), OutputKind::Folder, &[&st]);
        assert!(e.contains("lies inside the input folder"), "{e}");
        let e = err(&model, OutputKind::File, &[&model, &st]);
        assert!(
            e.contains("is the command's input") && e.contains("model.json"),
            "{e}"
        );
        let e = err(d.path(), OutputKind::Folder, &[&st]);
        assert!(e.contains("holds the command's input"), "{e}");
        // seen through `.`/`..`, not-yet-existing parts and symbolic links
        let e = err(&st.join("x/../../st/./layers"), OutputKind::Folder, &[&st]);
        assert!(e.contains("lies inside the input folder"), "{e}");
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&st, &link).unwrap();
        let e = err(&link.join("qc"), OutputKind::Folder, &[&st]);
        assert!(e.contains("lies inside the input folder"), "{e}");
        // a run folder may hold its config, but not inside a folder the run replaces
        let run = d.path().join("run");
        fs::create_dir_all(run.join("ingest")).unwrap();
        fs::write(run.join("run.json"), br#"{"stages":{}}"#).unwrap();
        fs::write(run.join("pipeline.toml"), b"").unwrap();
        fs::write(run.join("ingest/samples.tsv"), b"").unwrap();
        check_output(
            &run,
            OutputKind::RunFolder,
            &[&run.join("pipeline.toml")],
            ok,
        )
        .unwrap();
        let e = err(
            &run,
            OutputKind::RunFolder,
            &[&run.join("ingest/samples.tsv")],
        );
        assert!(e.contains("holds the command's input"), "{e}");
        // a file output replaces a file, never a folder
        check_output(
            &d.path().join("model2.json"),
            OutputKind::File,
            &[&model],
            ok,
        )
        .unwrap();
        fs::write(d.path().join("old.tsv"), b"x").unwrap();
        check_output(&d.path().join("old.tsv"), OutputKind::File, &[&st], ok).unwrap();
        let e = err(&run, OutputKind::File, &[]);
        assert!(e.contains("is a directory; give a file path"), "{e}");
        // a new folder beside the inputs is fine
        check_output(&d.path().join("qc"), OutputKind::Folder, &[&st, &model], ok).unwrap();
    }

    #[test]
    fn run_folders_are_recognised_by_their_state_or_layout() {
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("run");
        check_run_folder(&run, Replace::EvomicsOutput).unwrap();
        fs::create_dir(&run).unwrap();
        check_run_folder(&run, Replace::EvomicsOutput).unwrap();
        fs::write(run.join("demo.toml"), b"").unwrap();
        fs::create_dir(run.join("simulated-store")).unwrap();
        fs::write(run.join("simulated-store/manifest.json"), manifest_text()).unwrap();
        check_run_folder(&run, Replace::EvomicsOutput).unwrap();
        fs::write(run.join("notes.txt"), b"mine").unwrap();
        let e = check_run_folder(&run, Replace::EvomicsOutput)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("is not an evomics run folder") && e.contains("--force"),
            "{e}"
        );
        check_run_folder(&run, Replace::Anything).unwrap();
        fs::write(run.join("run.json"), br#"{"stages":{"ingest":"k"}}"#).unwrap();
        check_run_folder(&run, Replace::EvomicsOutput).unwrap();
    }

    #[test]
    fn resolved_paths_need_not_exist() {
        let d = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(d.path()).unwrap();
        assert_eq!(
            resolve_path(&d.path().join("a/./b/../c")).unwrap(),
            base.join("a/c")
        );
    }

    #[test]
    fn a_file_in_the_way_is_named() {
        let d = tempfile::tempdir().unwrap();
        let blocker = d.path().join("blocker");
        fs::write(&blocker, b"x").unwrap();
        let e = replace_dir(&blocker.join("out"), Replace::EvomicsOutput, |_| Ok(()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("is a file, not a directory") && e.contains("blocker'"),
            "{e}"
        );
        let e = write_file_atomic(&blocker.join("sub/x.tsv"), b"x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a file, not a directory"), "{e}");
        let e = write_file_atomic(d.path(), b"x").unwrap_err().to_string();
        assert!(e.contains("is a directory; give a file path"), "{e}");
    }
}
