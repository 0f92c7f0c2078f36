//! Atomic outputs: a file or directory is either the old one or the complete new one, never partial.

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
        fs::create_dir_all(parent)
            .map_err(|e| IoError::fs("cannot create directory", parent, e))?;
    }
    Ok(())
}

/// Write `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    ensure_parent(path)?;
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
}
