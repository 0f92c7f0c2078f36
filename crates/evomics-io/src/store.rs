//! The experiment store: a directory of Parquet files plus `manifest.json`, written atomically.
//!
//! Layout (see docs/data-model.md):
//!
//! ```text
//! DIR/manifest.json
//! DIR/samples.parquet                     sample_id, then one column per sheet column
//! DIR/layers/<name>/features.parquet      feature_id, feature_flags (u8 bits), annotation columns
//! DIR/layers/<name>/values.parquet        feature_id, one Float64 column per sample (null = no value)
//! DIR/layers/<name>/flags.parquet         feature_id, one UInt8 column per sample (ValueFlag codes)
//! DIR/layers/<name>/layer.json            kind and scale
//! ```
//!
//! **Integrity.** The manifest (store format 2) lists every other file of the store with its
//! size and SHA-256, recorded when the store is written. Opening a store checks, before any file
//! is decoded, that every listed file is a regular file of the recorded size and that the
//! metadata (`samples.parquet`, every `layer.json` and `features.parquet`, fitted parameters)
//! has the recorded hash; the matrices (`values.parquet`, `flags.parquet`) of the layers being
//! read are hashed on a thread of their own while they are decoded, and nothing decoded is
//! returned unless they have it too (a changed matrix is the error even when decoding it failed
//! first); a layer folder the manifest does not list is refused. An edited
//! `layer.json`, a missing `layers/` folder or a truncated matrix is an error naming the file.
//! Stores of format 1 (no file list) are refused with a request to re-create them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ndarray::{Array2, Axis, Slice};
use polars::prelude::*;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use evomics_core::{
    Assay, Column as SheetColumn, ColumnValues, Experiment, FeatureFlags, Features, LayerKind,
    SampleSheet, ValueFlag, ValueScale,
};

use crate::atomic::{write_file_atomic, DirSwap, Replace};
use crate::error::{IoError, Result};
use crate::manifest::{sha256_file, InputFile, Manifest, StoredFile, STORE_FORMAT_VERSION};
use crate::parquet::{write_file, OutColumn, OutColumns};

#[derive(Debug, Serialize, Deserialize)]
struct LayerMeta {
    kind: LayerKind,
    scale: ValueScale,
}

/// True for layer names that are safe as directory names: letters, digits, `_`, `-`, `.`,
/// not starting with a dot.
pub fn valid_layer_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn pq_err(path: &Path, e: PolarsError) -> IoError {
    IoError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn read_parquet(path: &Path) -> Result<DataFrame> {
    crate::parquet::read(path, None)
}

/// Write an experiment to `dir` atomically: everything is written into a temporary sibling
/// directory which then replaces `dir`, so readers see the old store or the new one, never a mix.
/// An existing `dir` is replaced only when it is empty or evomics output
/// ([`crate::atomic::check_replaceable`]).
pub fn write_experiment(dir: &Path, exp: &Experiment, manifest: &Manifest) -> Result<()> {
    write_experiment_with(dir, Replace::EvomicsOutput, exp, manifest, |_| Ok(()))
}

/// [`write_experiment`], with `extra` writing further files (e.g. fitted parameters) into the
/// same temporary directory before it is swapped in, so they land atomically with the store;
/// `replace` says what an existing `dir` may be.
pub fn write_experiment_with(
    dir: &Path,
    replace: Replace,
    exp: &Experiment,
    manifest: &Manifest,
    extra: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    check_layer_names(exp.layers().keys().map(String::as_str))?;
    StoreBuilder::start(dir, replace)?.finish(exp, manifest, extra)?;
    Ok(())
}

fn check_layer_names<'a>(mut names: impl Iterator<Item = &'a str>) -> Result<()> {
    match names.find(|name| !valid_layer_name(name)) {
        Some(name) => Err(IoError::Spec(format!(
            "layer name '{name}' cannot be stored; use letters, digits, '_', '-' or '.'"
        ))),
        None => Ok(()),
    }
}

/// A store being written in steps: layers may be written as soon as each is ready, from any
/// thread ([`StoreBuilder::write_layer`]), and [`StoreBuilder::finish`] writes the rest and
/// swaps the store in. Until then everything is in a temporary sibling of the store's folder,
/// removed when the builder is dropped unfinished, so the store is written atomically as by
/// [`write_experiment_with`], with the same bytes.
#[derive(Debug)]
pub struct StoreBuilder {
    /// The store's folder.
    dir: PathBuf,
    swap: DirSwap,
    /// SHA-256 and size of the Parquet files written so far, by path in the store.
    hashed: Mutex<BTreeMap<String, (String, u64)>>,
    /// The layers written so far.
    written: Mutex<BTreeSet<String>>,
}

impl StoreBuilder {
    /// Check that `dir` may be replaced (see [`write_experiment`]) and start its temporary
    /// folder.
    pub fn start(dir: &Path, replace: Replace) -> Result<StoreBuilder> {
        Ok(StoreBuilder {
            dir: dir.to_path_buf(),
            swap: DirSwap::begin(dir, replace)?,
            hashed: Mutex::new(BTreeMap::new()),
            written: Mutex::new(BTreeSet::new()),
        })
    }

    /// Write the layer `assay`: it must be the layer of that name, with its samples in the
    /// order, of the experiment given to [`StoreBuilder::finish`].
    pub fn write_layer(&self, assay: &Assay) -> Result<()> {
        let name = assay.name();
        check_layer_names([name].into_iter())?;
        if !lock(&self.written).insert(name.to_string()) {
            return Err(IoError::Spec(format!(
                "layer '{name}' was written to the store twice"
            )));
        }
        let ldir = self.swap.path().join("layers").join(name);
        fs::create_dir_all(&ldir).map_err(|e| IoError::fs("cannot create directory", &ldir, e))?;
        let files = write_layer(&ldir, assay)?;
        let mut hashed = lock(&self.hashed);
        for (file, digest) in files {
            hashed.insert(format!("layers/{name}/{file}"), digest);
        }
        Ok(())
    }

    /// Write the sample sheet and every layer of `exp` not written yet, then `extra` (further
    /// files, as in [`write_experiment_with`]) and the manifest with every file's hash, and
    /// put the store in place. Returns the store's content fingerprint
    /// ([`InputFile::store`]), from the digests taken as its files were written.
    pub fn finish(
        self,
        exp: &Experiment,
        manifest: &Manifest,
        extra: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<InputFile> {
        check_layer_names(exp.layers().keys().map(String::as_str))?;
        let tmp = self.swap.path();
        let written = std::mem::take(&mut *lock(&self.written));
        if let Some(name) = written.iter().find(|n| !exp.layers().contains_key(*n)) {
            return Err(IoError::Spec(format!(
                "layer '{name}' was written to the store but is not in the experiment"
            )));
        }
        // The Parquet files are hashed as they are written; the others when listed.
        let mut hashed = std::mem::take(&mut *lock(&self.hashed));
        hashed.insert(
            "samples.parquet".into(),
            write_samples(&tmp.join("samples.parquet"), exp.samples())?,
        );
        for (name, assay) in exp.layers() {
            if written.contains(name) {
                continue;
            }
            let ldir = tmp.join("layers").join(name);
            fs::create_dir_all(&ldir)
                .map_err(|e| IoError::fs("cannot create directory", &ldir, e))?;
            for (file, digest) in write_layer(&ldir, assay)? {
                hashed.insert(format!("layers/{name}/{file}"), digest);
            }
        }
        extra(tmp)?;
        let mut manifest = manifest.clone();
        manifest.files = store_files(tmp)?
            .into_iter()
            .map(|(rel, path)| {
                let (sha256, bytes) = match hashed.remove(&rel) {
                    Some(digest) => digest,
                    None => sha256_file(&path)?,
                };
                Ok(StoredFile {
                    path: rel,
                    bytes,
                    sha256,
                })
            })
            .collect::<Result<_>>()?;
        write_file_atomic(&tmp.join("manifest.json"), manifest.to_json().as_bytes())?;
        let dir = self.dir;
        self.swap.commit()?;
        InputFile::store_with(&dir, &manifest.files)
    }
}

/// A lock on data that stays consistent whatever a panicking holder did (sets and maps filled
/// by single inserts).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Every file under `dir` but its top-level `manifest.json`: the relative `/`-separated path
/// and the full path, in path order.
fn store_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).map_err(|e| IoError::fs("cannot list", &d, e))? {
            let path = e.map_err(|e| IoError::fs("cannot list", &d, e))?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .replace('\\', "/");
                if rel != "manifest.json" {
                    files.push((rel, path));
                }
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Whether a stored file is a layer matrix (hashed only when its layer is read).
fn matrix_layer(rel: &str) -> Option<&str> {
    let rest = rel.strip_prefix("layers/")?;
    let (layer, file) = rest.split_once('/')?;
    matches!(file, "values.parquet" | "flags.parquet").then_some(layer)
}

/// Check a store's files against its manifest (see the module notes): every listed file is a
/// regular file of the recorded size; the metadata, and the matrices of the layers `hash_layer`
/// accepts, have the recorded SHA-256. The metadata's SHA-256 is checked here; the matrices
/// are returned for [`check_hashes`] (which a reader runs while it decodes them), after the
/// metadata files whose SHA-256 was checked.
fn verify_store(
    dir: &Path,
    m: &Manifest,
    hash_layer: impl Fn(&str) -> bool,
) -> Result<(Vec<StoredFile>, Vec<StoredFile>)> {
    let redo = "re-run the stage that wrote the store (or restore it from a copy)";
    if m.format_version < 2 {
        return Err(store_err(
            dir,
            format!(
                "store format {} has no record of its files, so it cannot be verified (this evomics reads format {STORE_FORMAT_VERSION}); re-create it: run `evomics ingest` again, then the later stages",
                m.format_version
            ),
        ));
    }
    if m.files.is_empty() {
        return Err(store_err(
            dir,
            format!(
                "its manifest (written by `evomics {}`) lists no stored files: this is not an experiment store; give a folder written by `evomics ingest`, `simulate` or `normalize`",
                crate::text::clip(&m.stage)
            ),
        ));
    }
    let (mut hashed, mut matrices) = (Vec::new(), Vec::new());
    for f in &m.files {
        let unsafe_path = f.path.is_empty()
            || f.path.starts_with('/')
            || f.path
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..");
        if unsafe_path {
            return Err(store_err(
                dir,
                format!(
                    "manifest.json lists the file '{}', which is not a path inside the store; the manifest was edited or damaged: {redo}",
                    crate::text::clip(&f.path)
                ),
            ));
        }
        let path = dir.join(&f.path);
        let meta = match fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(store_err(
                    dir,
                    format!(
                        "{} is missing (the manifest lists it): the store is incomplete; {redo}",
                        f.path
                    ),
                ))
            }
            Err(e) => return Err(IoError::fs("cannot read", &path, e)),
        };
        if !meta.is_file() {
            return Err(store_err(
                dir,
                format!(
                    "{} is not a regular file (a folder, FIFO or device); {redo}",
                    f.path
                ),
            ));
        }
        if meta.len() != f.bytes {
            return Err(store_err(
                dir,
                format!(
                    "{} has {} bytes but was written with {}: it was truncated or replaced; {redo}",
                    f.path,
                    meta.len(),
                    f.bytes
                ),
            ));
        }
        match matrix_layer(&f.path) {
            None => {
                check_hashes(dir, std::slice::from_ref(f))?;
                hashed.push(f.clone());
            }
            Some(layer) if hash_layer(layer) => matrices.push(f.clone()),
            Some(_) => {}
        }
    }
    Ok((hashed, matrices))
}

/// Check that each file has its recorded SHA-256; the first that does not is the error.
fn check_hashes(dir: &Path, files: &[StoredFile]) -> Result<()> {
    for f in files {
        let (sha256, _) = sha256_file(&dir.join(&f.path))?;
        if sha256 != f.sha256 {
            return Err(store_err(
                dir,
                format!(
                    "{} was changed after the store was written: its content hash does not match the manifest; re-run the stage that wrote the store (or restore it from a copy)",
                    f.path
                ),
            ));
        }
    }
    Ok(())
}

fn write_samples(path: &Path, sheet: &SampleSheet) -> Result<(String, u64)> {
    let mut cols = vec![OutColumn::text("sample_id", || {
        sheet.sample_ids().iter().map(Some)
    })];
    for c in sheet.columns() {
        cols.push(match &c.values {
            ColumnValues::Text(v) => OutColumn::text(&c.name, || v.iter().map(|x| x.as_ref())),
            ColumnValues::Numeric(v) => OutColumn::f64(&c.name, || v.iter().copied()),
        });
    }
    write_file(path, sheet.len(), cols)
}

/// Write a layer's four files. values.parquet and flags.parquet are written one sample column
/// at a time from the layer's matrices (no copy of the table is built). Returns the Parquet
/// files' names with their SHA-256 and size.
/// Samples whose columns of a layer's matrices are gathered together when the layer is written
/// (one pass over the rows of a 16-column band: 128 contiguous bytes of values per row).
const GATHER_COLUMNS: usize = 16;

fn write_layer(dir: &Path, a: &Assay) -> Result<Vec<(&'static str, (String, u64))>> {
    let ids = a.features().ids();
    let n = a.n_features();
    let fpath = dir.join("features.parquet");
    let mut fcols = vec![
        OutColumn::text("feature_id", || ids.iter().map(Some)),
        OutColumn::u8("feature_flags", || {
            a.features().flags().iter().map(|f| f.bits()).collect()
        }),
    ];
    for (k, v) in a.features().annotations() {
        fcols.push(OutColumn::text(k, || v.iter().map(|x| x.as_ref())));
    }
    let features = write_file(&fpath, n, fcols)?;

    let vpath = dir.join("values.parquet");
    let mut vcols: Vec<OutColumns> =
        vec![OutColumn::text("feature_id", || ids.iter().map(Some)).into()];
    let gpath = dir.join("flags.parquet");
    let mut gcols: Vec<OutColumns> =
        vec![OutColumn::text("feature_id", || ids.iter().map(Some)).into()];
    let (values, flags) = (a.values(), a.flags());
    let samples = a.samples();
    for (k, names) in samples.chunks(GATHER_COLUMNS).enumerate() {
        let cols = Slice::from(k * GATHER_COLUMNS..k * GATHER_COLUMNS + names.len());
        vcols.push(OutColumns::f64_matrix(
            names,
            values.slice_axis(Axis(1), cols),
        ));
        gcols.push(OutColumns::u8_matrix(
            names,
            flags.slice_axis(Axis(1), cols),
            |f| f.code(),
        ));
    }
    let values = write_file(&vpath, n, vcols)?;
    let flags = write_file(&gpath, n, gcols)?;
    let meta = LayerMeta {
        kind: a.kind().clone(),
        scale: a.scale(),
    };
    let json = serde_json::to_string_pretty(&meta).unwrap_or_default() + "\n";
    write_file_atomic(&dir.join("layer.json"), json.as_bytes())?;
    Ok(vec![
        ("features.parquet", features),
        ("values.parquet", values),
        ("flags.parquet", flags),
    ])
}

/// A stored sample's values, NaN where the column is null, copied chunk by chunk from the
/// Arrow buffers (a null's slot holds an arbitrary value, so the validity decides).
fn value_column(c: &Float64Chunked) -> Vec<f64> {
    let mut out = Vec::with_capacity(c.len());
    for arr in c.downcast_iter() {
        let vals: &[f64] = arr.values();
        match arr.validity().filter(|v| v.unset_bits() > 0) {
            None => out.extend_from_slice(vals),
            Some(valid) => {
                out.extend(
                    vals.iter()
                        .zip(valid.iter())
                        .map(|(v, ok)| if ok { *v } else { f64::NAN }),
                )
            }
        }
    }
    out
}

/// A stored sample's flags; the first null or unknown code, in row order, is the error.
fn flag_column(c: &UInt8Chunked, path: &Path, sample: &str) -> Result<Vec<ValueFlag>> {
    let mut out = Vec::with_capacity(c.len());
    for arr in c.downcast_iter() {
        let valid = arr.validity().filter(|v| v.unset_bits() > 0);
        let codes = arr.values().as_slice();
        // Every code known and present: decoded without a check per cell.
        let top = ValueFlag::ALL.len() as u8 - 1;
        if valid.is_none() && codes.iter().fold(0u8, |m, &c| m.max(c)) <= top {
            out.extend(
                codes
                    .iter()
                    .map(|&c| ValueFlag::ALL[usize::from(c.min(top))]),
            );
            continue;
        }
        for (k, &code) in codes.iter().enumerate() {
            let row = out.len() + 1;
            if valid.is_some_and(|v| !v.get_bit(k)) {
                return Err(store_err(
                    path,
                    format!("sample '{sample}' row {row} has no flag"),
                ));
            }
            out.push(ValueFlag::from_code(code).ok_or_else(|| {
                store_err(
                    path,
                    format!("sample '{sample}' row {row} has unknown flag code {code}"),
                )
            })?);
        }
    }
    Ok(out)
}

/// Rows copied together by [`transpose_into`].
const TRANSPOSE_ROWS: usize = 32;

/// Copy the columns `cols` (each one value per row) into `rows` at columns `first..`, in
/// blocks of [`TRANSPOSE_ROWS`] rows: a block's rows stay in cache while every column's run of
/// values is written across them, where a row at a time reads one value from each column.
fn transpose_into<T: Copy>(rows: &mut [&mut [T]], cols: &[Vec<T>], first: usize) {
    for (r0, block) in rows.chunks_mut(TRANSPOSE_ROWS).enumerate() {
        let r0 = r0 * TRANSPOSE_ROWS;
        let len = block.len();
        for (k, col) in cols.iter().enumerate() {
            for (row, &x) in block.iter_mut().zip(&col[r0..r0 + len]) {
                row[first + k] = x;
            }
        }
    }
}

fn store_err(path: &Path, problem: impl Into<String>) -> IoError {
    IoError::Store {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

fn get_strings(path: &Path, df: &DataFrame, name: &str) -> Result<Vec<Option<String>>> {
    let c = df
        .column(name)
        .map_err(|_| store_err(path, format!("column '{name}' is missing")))?;
    let s = c
        .str()
        .map_err(|_| store_err(path, format!("column '{name}' is not text")))?;
    Ok(s.iter().map(|v| v.map(str::to_string)).collect())
}

fn get_ids(path: &Path, df: &DataFrame, name: &str) -> Result<Vec<String>> {
    get_strings(path, df, name)?
        .into_iter()
        .enumerate()
        .map(|(i, v)| v.ok_or_else(|| store_err(path, format!("row {} has no {name}", i + 1))))
        .collect()
}

/// Read the manifest of a store.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let p = dir.join("manifest.json");
    if !p.exists() {
        return Err(store_err(
            dir,
            "no manifest.json here; is this a directory written by `evomics ingest` or `evomics simulate`?",
        ));
    }
    // A regular file only: a FIFO in its place would block the read forever.
    let text = crate::output::read_regular_text(&p)?;
    let m = Manifest::from_json(&p, &text)?;
    if m.format_version > STORE_FORMAT_VERSION {
        return Err(store_err(
            dir,
            format!(
                "written by a newer evomics (store format {}, this version reads up to {STORE_FORMAT_VERSION}); upgrade evomics",
                m.format_version
            ),
        ));
    }
    Ok(m)
}

/// Read a whole experiment store.
pub fn read_experiment(dir: &Path) -> Result<(Experiment, Manifest)> {
    read_experiment_layers(dir, None)
}

/// Read an experiment store with only the named layers (all when `None`): a stage that
/// analyses one layer does not decode the others. When a named layer is not in the store, every
/// layer is read, so the caller's lookup error lists what the store has.
pub fn read_experiment_layers(dir: &Path, only: Option<&[&str]>) -> Result<(Experiment, Manifest)> {
    let (exp, manifest, _) = read_checked(dir, only)?;
    Ok((exp, manifest))
}

/// [`read_experiment_layers`], with the store's content fingerprint ([`InputFile::store`]):
/// the files checked against the manifest while reading are not read again for it.
pub fn read_experiment_fingerprinted(
    dir: &Path,
    only: Option<&[&str]>,
) -> Result<(Experiment, Manifest, InputFile)> {
    let (exp, manifest, checked) = read_checked(dir, only)?;
    let fingerprint = InputFile::store_with(dir, &checked)?;
    Ok((exp, manifest, fingerprint))
}

/// [`read_experiment_layers`], with the files whose SHA-256 was checked.
fn read_checked(
    dir: &Path,
    only: Option<&[&str]>,
) -> Result<(Experiment, Manifest, Vec<StoredFile>)> {
    let manifest = read_manifest(dir)?;
    let ldir = dir.join("layers");
    let mut names: Vec<PathBuf> = Vec::new();
    if ldir.is_dir() {
        names = fs::read_dir(&ldir)
            .map_err(|e| IoError::fs("cannot list", &ldir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        names.sort();
        if let Some(only) = only {
            let present = |want: &&str| {
                names
                    .iter()
                    .any(|p| p.file_name().is_some_and(|f| f == *want))
            };
            if only.iter().all(present) {
                names.retain(|p| p.file_name().is_some_and(|f| only.iter().any(|w| f == *w)));
            }
        }
    }
    let read: Vec<String> = names
        .iter()
        .filter_map(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
        .collect();
    let (mut checked, matrices) =
        verify_store(dir, &manifest, |layer| read.iter().any(|r| r == layer))?;
    for name in &read {
        let listed = format!("layers/{name}/layer.json");
        if !manifest.files.iter().any(|f| f.path == listed) {
            return Err(store_err(
                dir,
                format!(
                    "layers/{} was not written with the store (the manifest does not list it); remove it, or ingest the layer with the others",
                    crate::text::clip(name)
                ),
            ));
        }
    }
    let decode = || -> Result<Experiment> {
        let sheet = read_samples(&dir.join("samples.parquet"))?;
        let mut exp = Experiment::new(sheet);
        for p in names {
            let assay = read_layer(&p)?;
            exp.insert_layer(assay)
                .map_err(|e| IoError::core(p.display().to_string(), e))?;
        }
        Ok(exp)
    };
    // The matrices are hashed on a thread of their own while they are decoded (hashing takes
    // about as long as decoding); nothing decoded is returned unless every hash matches, and a
    // changed file is the error even when its decoding failed first.
    let (exp, hashes) = std::thread::scope(|s| {
        let hashing = s.spawn(|| check_hashes(dir, &matrices));
        let exp = decode();
        (exp, hashing.join())
    });
    match hashes {
        Ok(hashes) => hashes?,
        Err(panic) => std::panic::resume_unwind(panic),
    }
    let exp = exp?;
    checked.extend(matrices);
    Ok((exp, manifest, checked))
}

fn read_samples(path: &Path) -> Result<SampleSheet> {
    let df = read_parquet(path)?;
    let ids = get_ids(path, &df, "sample_id")?;
    let mut sheet =
        SampleSheet::new(ids).map_err(|e| IoError::core(path.display().to_string(), e))?;
    for c in df.columns() {
        let name = c.name().as_str();
        if name == "sample_id" {
            continue;
        }
        let values = match c.dtype() {
            DataType::String => ColumnValues::Text(get_strings(path, &df, name)?),
            DataType::Float64 => {
                ColumnValues::Numeric(c.f64().map_err(|e| pq_err(path, e))?.iter().collect())
            }
            other => {
                return Err(store_err(
                    path,
                    format!("sample column '{name}' has type {other}, expected text or Float64"),
                ))
            }
        };
        sheet
            .push_column(SheetColumn {
                name: name.to_string(),
                values,
            })
            .map_err(|e| IoError::core(path.display().to_string(), e))?;
    }
    Ok(sheet)
}

/// Read one stored layer directory.
pub fn read_layer(dir: &Path) -> Result<Assay> {
    let name = dir
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let mpath = dir.join("layer.json");
    let meta: LayerMeta = serde_json::from_str(
        &fs::read_to_string(&mpath).map_err(|e| IoError::fs("cannot read", &mpath, e))?,
    )
    .map_err(|e| store_err(&mpath, format!("not a valid layer description ({e})")))?;

    let fpath = dir.join("features.parquet");
    let fdf = read_parquet(&fpath)?;
    let ids = get_ids(&fpath, &fdf, "feature_id")?;
    let mut features =
        Features::new(ids.clone()).map_err(|e| IoError::core(fpath.display().to_string(), e))?;
    let bits: Vec<FeatureFlags> = fdf
        .column("feature_flags")
        .and_then(|c| c.u8().cloned())
        .map_err(|_| store_err(&fpath, "column 'feature_flags' (UInt8) is missing"))?
        .iter()
        .map(|b| FeatureFlags::from_bits(b.unwrap_or(0)))
        .collect();
    features
        .set_flags(bits)
        .map_err(|e| IoError::core(fpath.display().to_string(), e))?;
    for c in fdf.columns() {
        let n = c.name().as_str();
        if n == "feature_id" || n == "feature_flags" {
            continue;
        }
        features
            .set_annotation(n, get_strings(&fpath, &fdf, n)?)
            .map_err(|e| IoError::core(fpath.display().to_string(), e))?;
    }

    let vpath = dir.join("values.parquet");
    let gpath = dir.join("flags.parquet");
    let vnames = crate::parquet::column_names(&vpath)?;
    let gnames = crate::parquet::column_names(&gpath)?;
    for (p, names) in [(&vpath, &vnames), (&gpath, &gnames)] {
        if names.first().map(String::as_str) != Some("feature_id") {
            return Err(store_err(p, "column 'feature_id' is missing"));
        }
        let df = crate::parquet::read(p, Some(vec!["feature_id".to_string()]))?;
        if get_ids(p, &df, "feature_id")? != ids {
            return Err(store_err(p, "feature ids differ from features.parquet; the store is damaged, re-run the stage that wrote it"));
        }
    }
    let samples: Vec<String> = vnames[1..].to_vec();
    if samples[..] != gnames[1..] {
        return Err(store_err(
            dir,
            "values.parquet and flags.parquet name different samples; the store is damaged",
        ));
    }
    let (nf, ns) = (ids.len(), samples.len());
    let mut values = vec![f64::NAN; nf * ns];
    let mut flags = vec![ValueFlag::Missing; nf * ns];
    // The samples are read in as many contiguous parts as rayon has workers, each into its own
    // columns of the matrices, a batch of sample columns at a time: reading needs the layer's
    // matrices plus one batch per part. Each column is decoded whole, then the batch is written
    // into the row-major matrices in blocks of rows ([`transpose_into`]), not one strided
    // column at a time. Parts only copy, so the matrices do not depend on the thread count;
    // the error of the first failing part (in sample order) is returned.
    const BATCH: usize = 128;
    let parts = rayon::current_num_threads().clamp(1, ns.div_ceil(BATCH).max(1));
    let width = ns.div_ceil(parts).max(1);
    // Each part's stretch of every row of the row-major matrices.
    type Stretches<'m, T> = Vec<&'m mut [T]>;
    let mut jobs: Vec<(usize, Stretches<f64>, Stretches<ValueFlag>)> = (0..ns.div_ceil(width))
        .map(|k| (k * width, Vec::with_capacity(nf), Vec::with_capacity(nf)))
        .collect();
    if ns > 0 {
        for (vrow, grow) in values.chunks_mut(ns).zip(flags.chunks_mut(ns)) {
            let (mut vrest, mut grest) = (vrow, grow);
            for (_, vparts, gparts) in &mut jobs {
                let w = width.min(vrest.len());
                let (v, vtail) = vrest.split_at_mut(w);
                let (g, gtail) = grest.split_at_mut(w);
                vparts.push(v);
                gparts.push(g);
                (vrest, grest) = (vtail, gtail);
            }
        }
    }
    let results: Vec<Result<()>> = jobs
        .into_par_iter()
        .map(|(first, mut vrows, mut grows)| {
            let part = &samples[first..(first + width).min(ns)];
            let mut vcols: Vec<Vec<f64>> = Vec::with_capacity(BATCH);
            let mut gcols: Vec<Vec<ValueFlag>> = Vec::with_capacity(BATCH);
            for (b, batch) in part.chunks(BATCH).enumerate() {
                // The values straight from their pages where the file is laid out as evomics
                // writes it (one zstd context for the batch), else through polars.
                let direct = crate::parquet::read_f64_columns(&vpath, batch, nf)?;
                let vdf = match direct {
                    Some(_) => None,
                    None => Some(crate::parquet::read(&vpath, Some(batch.to_vec()))?),
                };
                let gdf = crate::parquet::read(&gpath, Some(batch.to_vec()))?;
                vcols.clear();
                gcols.clear();
                if let Some(direct) = direct {
                    vcols.extend(direct);
                }
                for s in batch {
                    let gc = gdf
                        .column(s)
                        .and_then(|c| c.u8().cloned())
                        .map_err(|_| store_err(&gpath, format!("column '{s}' is not UInt8")))?;
                    let values = match &vdf {
                        Some(vdf) => {
                            let vc = vdf.column(s).and_then(|c| c.f64().cloned()).map_err(|_| {
                                store_err(&vpath, format!("column '{s}' is not Float64"))
                            })?;
                            Some(vc)
                        }
                        None => None,
                    };
                    let n_values = values.as_ref().map_or(nf, |vc| vc.len());
                    if n_values != nf || gc.len() != nf {
                        return Err(store_err(
                            dir,
                            format!("sample '{s}' has {n_values} values and {} flags for {nf} features; the store is damaged", gc.len()),
                        ));
                    }
                    gcols.push(flag_column(&gc, &gpath, s)?);
                    if let Some(vc) = values {
                        vcols.push(value_column(&vc));
                    }
                }
                transpose_into(&mut vrows, &vcols, b * BATCH);
                transpose_into(&mut grows, &gcols, b * BATCH);
            }
            Ok(())
        })
        .collect();
    results.into_iter().collect::<Result<()>>()?;
    let shape = |e: ndarray::ShapeError| store_err(dir, format!("matrix shape: {e}"));
    let values = Array2::from_shape_vec((nf, ns), values).map_err(shape)?;
    let flags = Array2::from_shape_vec((nf, ns), flags).map_err(shape)?;
    Assay::new(
        name, meta.kind, meta.scale, features, samples, values, flags,
    )
    .map_err(|e| IoError::core(dir.display().to_string(), e))
}
