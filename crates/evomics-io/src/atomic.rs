//! Atomic outputs: a file or directory is either the old one or the complete new one, never partial.
//!
//! A new output is built under a hidden sibling `.NAME.tmp-PID-N` and renamed onto `NAME`; a
//! directory being replaced is first moved aside to `.NAME.old-PID-N`. A process killed
//! mid-write leaves such siblings behind (never a partial `NAME`); the next write of the same
//! `NAME` removes those whose process is gone (see [`remove_stale_siblings`]).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
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
pub fn replace_dir(dir: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    ensure_parent(dir)?;
    if dir.exists() && !dir.is_dir() {
        return Err(IoError::Spec(format!(
            "output '{}' exists and is not a directory; choose another output path",
            dir.display()
        )));
    }
    remove_stale_siblings(dir);
    let tmp = sibling(dir, "tmp");
    fs::create_dir(&tmp).map_err(|e| IoError::fs("cannot create directory", &tmp, e))?;
    if let Err(e) = fill(&tmp) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if dir.exists() {
        let old = sibling(dir, "old");
        fs::rename(dir, &old).map_err(|e| IoError::fs("cannot move aside", dir, e))?;
        if let Err(e) = fs::rename(&tmp, dir) {
            let _ = fs::rename(&old, dir);
            let _ = fs::remove_dir_all(&tmp);
            return Err(IoError::fs("cannot move into place", dir, e));
        }
        let _ = fs::remove_dir_all(&old);
    } else {
        fs::rename(&tmp, dir).map_err(|e| {
            let _ = fs::remove_dir_all(&tmp);
            IoError::fs("cannot move into place", dir, e)
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_fill_leaves_old_dir() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("store");
        replace_dir(&out, |t| write_file_atomic(&t.join("a"), b"old")).unwrap();
        let r = replace_dir(&out, |t| {
            write_file_atomic(&t.join("a"), b"new")?;
            Err(IoError::Spec("boom".into()))
        });
        assert!(r.is_err());
        assert_eq!(fs::read(out.join("a")).unwrap(), b"old");
        let leftovers: Vec<_> = fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary directories are cleaned up");
        replace_dir(&out, |t| write_file_atomic(&t.join("b"), b"new")).unwrap();
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

        replace_dir(&out, |t| write_file_atomic(&t.join("a"), b"new")).unwrap();
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

    #[test]
    fn a_file_in_the_way_is_named() {
        let d = tempfile::tempdir().unwrap();
        let blocker = d.path().join("blocker");
        fs::write(&blocker, b"x").unwrap();
        let e = replace_dir(&blocker.join("out"), |_| Ok(()))
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
