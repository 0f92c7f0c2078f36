//! One omics layer: features × samples values with a flag per value.

use std::collections::{BTreeMap, HashSet};

use ndarray::{Array2, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::flags::{FeatureFlags, FlagCounts, ValueFlag};

/// What kind of measurement a layer holds; steps use it to pick sensible defaults.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    /// Mass-spectrometry protein quantities.
    Proteome,
    /// Small-RNA sequencing read counts or miRNA abundances.
    Mirna,
    /// Lipidomics.
    Lipidome,
    /// Any other numeric layer.
    Other,
}

impl LayerKind {
    /// Stable name, as stored in the manifest.
    pub fn name(&self) -> &'static str {
        match self {
            LayerKind::Proteome => "proteome",
            LayerKind::Mirna => "mirna",
            LayerKind::Lipidome => "lipidome",
            LayerKind::Other => "other",
        }
    }

    /// Parse a stored or user-given name.
    pub fn parse(s: &str) -> Option<LayerKind> {
        match s.to_ascii_lowercase().as_str() {
            "proteome" | "protein" | "proteins" | "proteomics" => Some(LayerKind::Proteome),
            "mirna" | "mirnas" | "smallrna" | "small_rna" => Some(LayerKind::Mirna),
            "lipidome" | "lipid" | "lipids" | "lipidomics" => Some(LayerKind::Lipidome),
            "other" => Some(LayerKind::Other),
            _ => None,
        }
    }

    /// Guess from a layer name (`proteome`, `mirna`, …); unknown names are `Other`.
    pub fn guess_from_name(layer: &str) -> LayerKind {
        let l = layer.to_ascii_lowercase();
        if l.contains("prot") {
            LayerKind::Proteome
        } else if l.contains("mir") || l.contains("rna") {
            LayerKind::Mirna
        } else if l.contains("lipid") {
            LayerKind::Lipidome
        } else {
            LayerKind::Other
        }
    }
}

/// The scale of the numbers in a layer, so that a step never logs twice or exponentiates counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueScale {
    /// Linear intensities (LFQ, iBAQ, areas).
    Linear,
    /// Non-negative integer read counts.
    Counts,
    /// log2 of a linear quantity.
    Log2,
    /// Anything else (Ct values, ratios, z-scores).
    Other,
}

impl ValueScale {
    /// Stable name, as stored in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            ValueScale::Linear => "linear",
            ValueScale::Counts => "counts",
            ValueScale::Log2 => "log2",
            ValueScale::Other => "other",
        }
    }

    /// Parse a stored or user-given name.
    pub fn parse(s: &str) -> Option<ValueScale> {
        match s.to_ascii_lowercase().as_str() {
            "linear" | "intensity" => Some(ValueScale::Linear),
            "counts" | "count" => Some(ValueScale::Counts),
            "log2" => Some(ValueScale::Log2),
            "other" => Some(ValueScale::Other),
            _ => None,
        }
    }
}

/// Feature annotations of a layer: ids, named text annotations and reader flags.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Features {
    ids: Vec<String>,
    annotations: BTreeMap<String, Vec<Option<String>>>,
    flags: Vec<FeatureFlags>,
}

impl Features {
    /// Features with the given unique ids, no annotations and no flags.
    pub fn new(ids: Vec<String>) -> Result<Features> {
        check_unique(&ids, "feature", "")?;
        let n = ids.len();
        Ok(Features {
            ids,
            annotations: BTreeMap::new(),
            flags: vec![FeatureFlags::NONE; n],
        })
    }

    /// Number of features.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there are no features.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Feature ids, in matrix row order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Named annotation columns (e.g. `gene`, `name`, `original_name`), in name order.
    pub fn annotations(&self) -> &BTreeMap<String, Vec<Option<String>>> {
        &self.annotations
    }

    /// One annotation column.
    pub fn annotation(&self, name: &str) -> Option<&[Option<String>]> {
        self.annotations.get(name).map(|v| v.as_slice())
    }

    /// Add or replace an annotation column; its length must equal the number of features.
    pub fn set_annotation(&mut self, name: &str, values: Vec<Option<String>>) -> Result<()> {
        if values.len() != self.ids.len() {
            return Err(CoreError::Invalid(format!(
                "annotation '{name}' has {} values for {} features",
                values.len(),
                self.ids.len()
            )));
        }
        if name == "feature_id" || name == "feature_flags" {
            return Err(CoreError::Invalid(format!(
                "'{name}' is reserved and cannot be an annotation name"
            )));
        }
        self.annotations.insert(name.to_string(), values);
        Ok(())
    }

    /// Reader flags per feature.
    pub fn flags(&self) -> &[FeatureFlags] {
        &self.flags
    }

    /// Replace the reader flags; the length must equal the number of features.
    pub fn set_flags(&mut self, flags: Vec<FeatureFlags>) -> Result<()> {
        if flags.len() != self.ids.len() {
            return Err(CoreError::Invalid(format!(
                "{} feature flags for {} features",
                flags.len(),
                self.ids.len()
            )));
        }
        self.flags = flags;
        Ok(())
    }

    /// Row index of a feature id.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.ids.iter().position(|x| x == id)
    }

    /// Keep the given rows, in the given order.
    pub fn select(&self, rows: &[usize]) -> Features {
        Features {
            ids: rows.iter().map(|&i| self.ids[i].clone()).collect(),
            annotations: self
                .annotations
                .iter()
                .map(|(k, v)| (k.clone(), rows.iter().map(|&i| v[i].clone()).collect()))
                .collect(),
            flags: rows.iter().map(|&i| self.flags[i]).collect(),
        }
    }
}

pub(crate) fn check_unique(ids: &[String], kind: &'static str, context: &str) -> Result<()> {
    let mut seen = HashSet::with_capacity(ids.len());
    for id in ids {
        if !seen.insert(id.as_str()) {
            return Err(CoreError::DuplicateId {
                kind,
                id: id.clone(),
                context: context.to_string(),
            });
        }
    }
    Ok(())
}

/// One omics layer: a dense features × samples matrix of `f64` with a [`ValueFlag`] per cell.
///
/// Invariants, checked by every constructor: ids are unique; both matrices have shape
/// (features, samples); observed and imputed cells are finite; missing cells hold NaN.
///
/// Equality compares ids, annotations, flags and values, where two NaN slots of cells without a value are equal
/// (a derived `PartialEq` would call two identical layers with a missing cell different).
#[derive(Debug, Clone)]
pub struct Assay {
    name: String,
    kind: LayerKind,
    scale: ValueScale,
    features: Features,
    samples: Vec<String>,
    values: Array2<f64>,
    flags: Array2<ValueFlag>,
}

/// A layer's identity without its matrices ([`Assay::fingerprint`]): everything but the cells
/// compared exactly, the cells by a checksum. The checksum is not cryptographic: it tells
/// whether a layer is, with overwhelming probability, the one fingerprinted earlier in the same
/// process (e.g. the ingested layer a normalization was fitted on), not whether someone built a
/// layer to collide with it. NaN values compare equal whatever their bits, as in `Assay`'s
/// equality.
#[derive(Debug, Clone, PartialEq)]
pub struct AssayFingerprint {
    name: String,
    kind: LayerKind,
    scale: ValueScale,
    features: Features,
    samples: Vec<String>,
    cells: u64,
}

impl AssayFingerprint {
    /// The layer's features.
    pub fn features(&self) -> &Features {
        &self.features
    }

    /// The layer's samples, in column order.
    pub fn samples(&self) -> &[String] {
        &self.samples
    }
}

/// The wrapping sum over cells of a 64-bit mix (splitmix64's finalizer) of the cell's value
/// bits, flag and position: order-free, so row blocks summed on any number of threads give
/// the same total.
fn cell_checksum(values: &Array2<f64>, flags: &Array2<ValueFlag>) -> u64 {
    use rayon::prelude::*;
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let cols = values.ncols();
    let cell = |i: usize, j: usize, v: f64, f: ValueFlag| {
        let bits = if v.is_nan() {
            f64::NAN.to_bits()
        } else {
            v.to_bits()
        };
        let at = ((i * cols + j) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        mix(bits ^ at).wrapping_add(mix(at ^ (u64::from(f as u8) << 56) ^ 0x5851_f42d_4c95_7f2d))
    };
    (0..values.nrows())
        .into_par_iter()
        .map(|i| {
            values
                .row(i)
                .iter()
                .zip(flags.row(i).iter())
                .enumerate()
                .fold(0u64, |h, (j, (&v, &f))| h.wrapping_add(cell(i, j, v, f)))
        })
        .reduce(|| 0, u64::wrapping_add)
}

impl PartialEq for Assay {
    fn eq(&self, other: &Assay) -> bool {
        self.name == other.name
            && self.kind == other.kind
            && self.scale == other.scale
            && self.features == other.features
            && self.samples == other.samples
            && self.flags == other.flags
            && self.values.dim() == other.values.dim()
            && self
                .values
                .iter()
                .zip(other.values.iter())
                .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()))
    }
}

impl Assay {
    /// Build a layer and check its invariants.
    pub fn new(
        name: impl Into<String>,
        kind: LayerKind,
        scale: ValueScale,
        features: Features,
        samples: Vec<String>,
        values: Array2<f64>,
        flags: Array2<ValueFlag>,
    ) -> Result<Assay> {
        let name = name.into();
        let expected = (features.len(), samples.len());
        for (what, got) in [("values", values.dim()), ("flags", flags.dim())] {
            if got != expected {
                return Err(CoreError::Shape {
                    layer: name.clone(),
                    what,
                    got,
                    expected,
                });
            }
        }
        check_unique(&samples, "sample", &format!(" in layer '{name}'"))?;
        let a = Assay {
            name,
            kind,
            scale,
            features,
            samples,
            values,
            flags,
        };
        a.check_cells()?;
        Ok(a)
    }

    /// Build a layer from optional values: `None` becomes a missing cell, `Some` an observed one.
    pub fn from_options(
        name: impl Into<String>,
        kind: LayerKind,
        scale: ValueScale,
        features: Features,
        samples: Vec<String>,
        cells: &Array2<Option<f64>>,
    ) -> Result<Assay> {
        let values = cells.mapv(|c| c.unwrap_or(f64::NAN));
        let flags = cells.mapv(|c| {
            if c.is_some() {
                ValueFlag::Observed
            } else {
                ValueFlag::Missing
            }
        });
        Assay::new(name, kind, scale, features, samples, values, flags)
    }

    fn check_cells(&self) -> Result<()> {
        // Fast pass in memory order; the indexed pass below finds and names a bad cell.
        let bad = |f: &ValueFlag, v: f64| match f {
            ValueFlag::Observed | ValueFlag::Imputed => !v.is_finite(),
            ValueFlag::Missing | ValueFlag::AbsentFromFile => !v.is_nan(),
            _ => false,
        };
        if ndarray::Zip::from(&self.flags)
            .and(&self.values)
            .all(|f, &v| !bad(f, v))
        {
            return Ok(());
        }
        for ((i, j), f) in self.flags.indexed_iter() {
            let v = self.values[[i, j]];
            let problem = match f {
                ValueFlag::Observed | ValueFlag::Imputed if !v.is_finite() => {
                    Some(format!("{} cell holds non-finite value {v}", f.name()))
                }
                ValueFlag::Missing | ValueFlag::AbsentFromFile if !v.is_nan() => Some(format!(
                    "{} cell holds value {v}; missing cells hold no value",
                    f.name()
                )),
                _ => None,
            };
            if let Some(problem) = problem {
                return Err(CoreError::InconsistentCell {
                    layer: self.name.clone(),
                    feature: self.features.ids()[i].clone(),
                    sample: self.samples[j].clone(),
                    problem,
                });
            }
        }
        Ok(())
    }

    /// Layer name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Rename the layer.
    pub fn set_name(&mut self, name: impl Into<String>) {
        self.name = name.into();
    }

    /// Measurement kind.
    pub fn kind(&self) -> &LayerKind {
        &self.kind
    }

    /// Value scale.
    pub fn scale(&self) -> ValueScale {
        self.scale
    }

    /// Feature annotations.
    pub fn features(&self) -> &Features {
        &self.features
    }

    /// Mutable feature annotations (ids cannot be changed through this).
    pub fn features_mut(&mut self) -> &mut Features {
        &mut self.features
    }

    /// Sample ids, in matrix column order.
    pub fn samples(&self) -> &[String] {
        &self.samples
    }

    /// The value matrix (features × samples); read it together with [`Assay::flags`].
    #[inline]
    pub fn values(&self) -> &Array2<f64> {
        &self.values
    }

    /// The flag matrix (features × samples).
    #[inline]
    pub fn flags(&self) -> &Array2<ValueFlag> {
        &self.flags
    }

    /// Number of features.
    #[inline]
    pub fn n_features(&self) -> usize {
        self.features.len()
    }

    /// Number of samples.
    #[inline]
    pub fn n_samples(&self) -> usize {
        self.samples.len()
    }

    /// The value of a cell if it carries one (observed or imputed).
    #[inline]
    pub fn get(&self, feature: usize, sample: usize) -> Option<f64> {
        if self.flags[[feature, sample]].has_value() {
            Some(self.values[[feature, sample]])
        } else {
            None
        }
    }

    /// What identifies this layer's content without keeping a copy of it: its name, kind,
    /// scale, features and samples, and a 64-bit checksum of every cell's value and flag with
    /// the cell's position ([`AssayFingerprint`]). Computed in row blocks on rayon's workers;
    /// the same for any thread count.
    pub fn fingerprint(&self) -> AssayFingerprint {
        AssayFingerprint {
            name: self.name.clone(),
            kind: self.kind.clone(),
            scale: self.scale,
            features: self.features.clone(),
            samples: self.samples.clone(),
            cells: cell_checksum(&self.values, &self.flags),
        }
    }

    /// Flag counts over the whole matrix.
    pub fn flag_counts(&self) -> FlagCounts {
        match self.flags.as_slice_memory_order() {
            Some(all) => FlagCounts::count_slice(all),
            None => FlagCounts::count(self.flags.iter()),
        }
    }

    /// Flag counts per sample (column).
    pub fn flag_counts_per_sample(&self) -> Vec<FlagCounts> {
        // Counted row by row, in memory order: a column of a row-major matrix strides through
        // memory one cache line per cell.
        let mut by_code = vec![[0usize; ValueFlag::ALL.len()]; self.n_samples()];
        for row in self.flags.rows() {
            for (c, f) in by_code.iter_mut().zip(row.iter()) {
                c[f.code() as usize] += 1;
            }
        }
        by_code
            .into_iter()
            .map(|c| FlagCounts {
                observed: c[ValueFlag::Observed.code() as usize],
                missing: c[ValueFlag::Missing.code() as usize],
                imputed: c[ValueFlag::Imputed.code() as usize],
                below_detection: c[ValueFlag::BelowDetection.code() as usize],
                absent_from_file: c[ValueFlag::AbsentFromFile.code() as usize],
            })
            .collect()
    }

    /// Column index of a sample id.
    pub fn sample_position(&self, id: &str) -> Option<usize> {
        self.samples.iter().position(|x| x == id)
    }

    /// The same layer with its matrices stored column-major (each sample's cells contiguous),
    /// the layout a transposed source gives: every method reads either layout with the same
    /// results, and tests of layout-dependent fast paths compare the two.
    pub fn to_column_major(&self) -> Assay {
        use ndarray::ShapeBuilder;
        let mut values = Array2::zeros(self.values.dim().f());
        values.assign(&self.values);
        let mut flags = Array2::from_elem(self.flags.dim().f(), ValueFlag::Missing);
        flags.assign(&self.flags);
        Assay {
            name: self.name.clone(),
            kind: self.kind.clone(),
            scale: self.scale,
            features: self.features.clone(),
            samples: self.samples.clone(),
            values,
            flags,
        }
    }

    /// Keep the given sample columns, in the given order.
    pub fn select_samples(&self, cols: &[usize]) -> Assay {
        self.select_samples_reserving(cols, 0)
    }

    /// [`Assay::select_samples`] with room for `cells` values in the values' storage (at least
    /// its own cells), for a caller that extends that storage in place: a training fold's
    /// model matrix grows from its first layer's values instead of being copied into a matrix
    /// of its own. Reserved memory that is never written is never resident, and
    /// [`Assay::retain_features`] keeps the room.
    pub fn select_samples_reserving(&self, cols: &[usize], cells: usize) -> Assay {
        Assay {
            name: self.name.clone(),
            kind: self.kind.clone(),
            scale: self.scale,
            features: self.features.clone(),
            samples: cols.iter().map(|&j| self.samples[j].clone()).collect(),
            values: select_columns(&self.values, cols, cells),
            flags: select_columns(&self.flags, cols, 0),
        }
    }

    /// A sentence for the user when the layer has imputed cells that a stage uses as values
    /// (`None` when it has none): how many, and what share of the cells with a value.
    pub fn imputed_note(&self, used_by: &str) -> Option<String> {
        let c = self.flag_counts();
        (c.imputed > 0).then(|| {
            let with_value = (c.observed + c.imputed).max(1);
            format!(
                "layer '{}': {} of its {} values are imputed ({:.1} %); {used_by} uses them as values",
                self.name,
                c.imputed,
                with_value,
                100.0 * c.imputed as f64 / with_value as f64
            )
        })
    }

    /// Keep the named samples, in the given order; unknown names are an error.
    pub fn select_samples_by_id(&self, ids: &[String]) -> Result<Assay> {
        let at: std::collections::HashMap<&str, usize> = self
            .samples
            .iter()
            .enumerate()
            .map(|(j, s)| (s.as_str(), j))
            .collect();
        let cols = ids
            .iter()
            .map(|id| {
                at.get(id.as_str())
                    .copied()
                    .ok_or_else(|| CoreError::NotFound {
                        kind: "sample",
                        name: id.clone(),
                        hint: format!(" in layer '{}'", self.name),
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(self.select_samples(&cols))
    }

    /// Keep the given feature rows, in the given order.
    pub fn select_features(&self, rows: &[usize]) -> Assay {
        Assay {
            name: self.name.clone(),
            kind: self.kind.clone(),
            scale: self.scale,
            features: self.features.select(rows),
            samples: self.samples.clone(),
            values: self.values.select(Axis(0), rows),
            flags: self.flags.select(Axis(0), rows),
        }
    }

    /// [`Assay::select_features`] on an assay the caller hands over, with `rows` ascending: the
    /// kept rows move up in place and the matrices shrink, so the layer is never held twice.
    /// Rows out of order (or a matrix not in row-major layout) are selected into a copy.
    pub fn retain_features(self, rows: &[usize]) -> Assay {
        let ascending = rows.windows(2).all(|w| w[0] < w[1])
            && rows.last().is_none_or(|&r| r < self.n_features());
        if !ascending || !self.values.is_standard_layout() || !self.flags.is_standard_layout() {
            return self.select_features(rows);
        }
        let ns = self.n_samples();
        Assay {
            features: self.features.select(rows),
            values: retain_rows(self.values, rows, ns),
            flags: retain_rows(self.flags, rows, ns),
            ..self
        }
    }

    /// Rewrite the values and flags of an assay the caller hands over in place (a step on a
    /// pipeline's working copy), then give it `scale`: every cell `f` leaves without a value
    /// is set to NaN and the invariants are checked again as by [`Assay::new`]. Messages that
    /// need the assay's names are best raised before (`f` sees only the matrices).
    pub fn rewrite<E: From<CoreError>>(
        mut self,
        scale: ValueScale,
        f: impl FnOnce(&mut Array2<f64>, &mut Array2<ValueFlag>) -> std::result::Result<(), E>,
    ) -> std::result::Result<Assay, E> {
        f(&mut self.values, &mut self.flags)?;
        // One pass sets the cells without a value to NaN and looks for a value-carrying cell
        // that is not finite, the only inconsistency left after it; the indexed check then
        // names that cell.
        let bad = crate::cells::fold_row_blocks(
            &mut self.values,
            &mut self.flags,
            false,
            |_, v, fl| {
                let mut bad = false;
                for (v, f) in v.iter_mut().zip(fl.iter()) {
                    if !f.has_value() {
                        *v = f64::NAN;
                    } else {
                        bad |= !v.is_finite();
                    }
                }
                bad
            },
            |a, b| a || b,
        );
        self.scale = scale;
        if bad {
            self.check_cells()?;
        }
        Ok(self)
    }

    /// Keep features for which `keep(row)` is true.
    pub fn filter_features(&self, keep: impl Fn(usize) -> bool) -> Assay {
        let rows: Vec<usize> = (0..self.n_features()).filter(|&i| keep(i)).collect();
        self.select_features(&rows)
    }

    /// The value and flag matrices, consuming the assay (no copy).
    pub fn into_matrices(self) -> (Array2<f64>, Array2<ValueFlag>) {
        (self.values, self.flags)
    }

    /// Replace values and flags together (a transform step's output), re-checking invariants.
    pub fn with_matrices(
        &self,
        values: Array2<f64>,
        flags: Array2<ValueFlag>,
        scale: ValueScale,
    ) -> Result<Assay> {
        Assay::new(
            self.name.clone(),
            self.kind.clone(),
            scale,
            self.features.clone(),
            self.samples.clone(),
            values,
            flags,
        )
    }

    /// Apply `f` to every value-carrying cell, keeping flags; cells without a value stay as they are.
    ///
    /// A result that is not finite turns the cell into an error rather than a silent NaN.
    pub fn map_values(&self, scale: ValueScale, f: impl Fn(f64) -> f64) -> Result<Assay> {
        let mut values = self.values.clone();
        for ((i, j), v) in values.indexed_iter_mut() {
            if self.flags[[i, j]].has_value() {
                let nv = f(*v);
                if !nv.is_finite() {
                    return Err(CoreError::InconsistentCell {
                        layer: self.name.clone(),
                        feature: self.features.ids()[i].clone(),
                        sample: self.samples[j].clone(),
                        problem: format!("transform turned {v} into {nv}"),
                    });
                }
                *v = nv;
            }
        }
        self.with_matrices(values, self.flags.clone(), scale)
    }
}

/// Rows `rows` (ascending, in range) of a row-major matrix of `ns` columns, moved up in place;
/// the allocation shrinks to the rows kept.
fn retain_rows<T: Copy>(a: Array2<T>, rows: &[usize], ns: usize) -> Array2<T> {
    let (mut v, offset) = a.into_raw_vec_and_offset();
    debug_assert_eq!(offset.unwrap_or(0), 0);
    for (dst, &src) in rows.iter().enumerate() {
        if dst != src {
            v.copy_within(src * ns..(src + 1) * ns, dst * ns);
        }
    }
    // Storage reserved beyond the cells (Assay::select_samples_reserving) keeps its room.
    let reserved = v.capacity() > v.len();
    v.truncate(rows.len() * ns);
    if !reserved {
        v.shrink_to_fit();
    }
    Array2::from_shape_vec((rows.len(), ns), v).expect("kept rows × samples")
}

/// Columns `cols` of a row-major matrix, filled row by row (ndarray's `select` along the
/// second axis copies column by column, which strides through memory), in storage with room
/// for at least `room` cells.
fn select_columns<T: Clone>(a: &Array2<T>, cols: &[usize], room: usize) -> Array2<T> {
    let mut out = Vec::with_capacity((a.nrows() * cols.len()).max(room));
    match a.as_slice() {
        // Row-major storage: each row read as a slice (no per-cell stride arithmetic).
        Some(cells) if a.ncols() > 0 => {
            for row in cells.chunks_exact(a.ncols()) {
                out.extend(cols.iter().map(|&j| row[j].clone()));
            }
        }
        _ => {
            for row in a.rows() {
                out.extend(cols.iter().map(|&j| row[j].clone()));
            }
        }
    }
    Array2::from_shape_vec((a.nrows(), cols.len()), out).expect("rows × selected columns")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn small() -> Assay {
        let cells = array![[Some(1.0), None, Some(3.0)], [Some(4.0), Some(5.0), None]];
        Assay::from_options(
            "proteome",
            LayerKind::Proteome,
            ValueScale::Linear,
            Features::new(vec!["P1".into(), "P2".into()]).unwrap(),
            vec!["s1".into(), "s2".into(), "s3".into()],
            &cells,
        )
        .unwrap()
    }

    /// A selection with room is the plain selection, and keeps its room through a retain.
    #[test]
    fn reserved_selection_keeps_its_room() {
        let a = small();
        let got = a.select_samples_reserving(&[2, 0], 100);
        assert_eq!(got, a.select_samples(&[2, 0]));
        let (values, _) = got.retain_features(&[1]).into_matrices();
        assert_eq!(values.len(), 2);
        assert!(values.into_raw_vec_and_offset().0.capacity() >= 100);
        let (values, _) = a
            .select_samples(&[2, 0])
            .retain_features(&[1])
            .into_matrices();
        assert_eq!(values.into_raw_vec_and_offset().0.capacity(), 2);
    }

    #[test]
    fn retain_and_rewrite_work_in_place_as_the_copies_do() {
        let a = small();
        for rows in [vec![1], vec![0, 1], vec![], vec![1, 0]] {
            assert_eq!(a.clone().retain_features(&rows), a.select_features(&rows));
        }
        let shifted = a
            .clone()
            .rewrite(ValueScale::Log2, |v, f| {
                v.mapv_inplace(|x| x + 1.0);
                f[[0, 0]] = ValueFlag::Missing;
                Ok::<(), CoreError>(())
            })
            .unwrap();
        assert_eq!(shifted.scale(), ValueScale::Log2);
        assert_eq!(shifted.get(0, 0), None);
        assert!(
            shifted.values()[[0, 0]].is_nan(),
            "a cell without a value holds NaN"
        );
        assert_eq!(shifted.get(1, 1), Some(6.0));
        let bad = a.rewrite(ValueScale::Linear, |v, _| {
            v[[1, 0]] = f64::INFINITY;
            Ok::<(), CoreError>(())
        });
        assert!(bad.unwrap_err().to_string().contains("non-finite"));
    }

    #[test]
    fn options_become_flags() {
        let a = small();
        assert_eq!(a.get(0, 1), None);
        assert_eq!(a.get(1, 1), Some(5.0));
        let c = a.flag_counts();
        assert_eq!((c.observed, c.missing), (4, 2));
    }

    #[test]
    fn duplicate_samples_rejected() {
        let e = Assay::new(
            "x",
            LayerKind::Other,
            ValueScale::Other,
            Features::new(vec!["f".into()]).unwrap(),
            vec!["a".into(), "a".into()],
            Array2::zeros((1, 2)),
            Array2::from_elem((1, 2), ValueFlag::Observed),
        )
        .unwrap_err();
        assert!(e.to_string().contains("'a' occurs more than once"), "{e}");
    }

    #[test]
    fn observed_nan_rejected() {
        let e = Assay::new(
            "x",
            LayerKind::Other,
            ValueScale::Other,
            Features::new(vec!["f".into()]).unwrap(),
            vec!["a".into()],
            Array2::from_elem((1, 1), f64::NAN),
            Array2::from_elem((1, 1), ValueFlag::Observed),
        )
        .unwrap_err();
        assert!(e.to_string().contains("non-finite"), "{e}");
    }

    /// A layer of the given cells, features `f0…` and samples `s0…`.
    fn grid(values: Array2<f64>, flags: Array2<ValueFlag>) -> Result<Assay> {
        let (g, n) = values.dim();
        Assay::new(
            "x",
            LayerKind::Other,
            ValueScale::Other,
            Features::new((0..g).map(|i| format!("f{i}")).collect())?,
            (0..n).map(|j| format!("s{j}")).collect(),
            values,
            flags,
        )
    }

    #[test]
    fn consistency_checks_find_a_bad_cell_anywhere_in_either_layout() {
        use ndarray::ShapeBuilder;
        // 90 × 100 cells: more than one chunk of the branch-free pass.
        let (g, n) = (90, 100);
        let build = |column_major: bool, bad: Option<(usize, usize, ValueFlag, f64)>| {
            let shape = if column_major {
                (g, n).f()
            } else {
                (g, n).into_shape_with_order()
            };
            let mut values = Array2::from_shape_fn(shape, |(i, j)| (i * n + j) as f64);
            let mut flags = Array2::from_shape_fn(shape, |(i, j)| match (i + j) % 5 {
                0 => ValueFlag::Missing,
                1 => ValueFlag::BelowDetection,
                2 => ValueFlag::Imputed,
                _ => ValueFlag::Observed,
            });
            ndarray::Zip::from(&mut values)
                .and(&flags)
                .for_each(|v, f| {
                    if f.is_missing() {
                        *v = f64::NAN;
                    }
                });
            if let Some((i, j, f, v)) = bad {
                flags[[i, j]] = f;
                values[[i, j]] = v;
            }
            grid(values, flags)
        };
        for column_major in [false, true] {
            // A below-detection cell may hold its limit; every other cell here is consistent.
            let ok = build(column_major, None).unwrap();
            assert_eq!(ok.values().as_slice().is_some(), !column_major);
            for (f, v, what) in [
                (ValueFlag::Observed, f64::INFINITY, "non-finite value inf"),
                (ValueFlag::Imputed, f64::NAN, "non-finite value NaN"),
                (ValueFlag::Missing, 1.5, "holds value 1.5"),
                (ValueFlag::AbsentFromFile, 0.0, "holds value 0"),
            ] {
                let e = build(column_major, Some((77, 61, f, v))).unwrap_err();
                let text = e.to_string();
                assert!(text.contains("'f77'") && text.contains("'s61'"), "{text}");
                assert!(text.contains(what), "{text}");
            }
            // rewrite: cells left without a value become NaN; a value turned non-finite is
            // named.
            let a = ok
                .clone()
                .rewrite(ValueScale::Log2, |v, f| {
                    f[[3, 4]] = ValueFlag::Missing;
                    v[[5, 8]] += 1.0;
                    Ok::<(), CoreError>(())
                })
                .unwrap();
            assert!(a.values()[[3, 4]].is_nan() && a.get(3, 4).is_none());
            assert_eq!(a.get(5, 8), Some((5 * n + 8) as f64 + 1.0));
            assert!(a.values()[[0, 1]].is_nan(), "below detection, no value");
            assert_eq!(a.scale(), ValueScale::Log2);
            let e = ok
                .rewrite(ValueScale::Log2, |v, _| {
                    v[[88, 95]] = f64::NEG_INFINITY;
                    Ok::<(), CoreError>(())
                })
                .unwrap_err();
            let text = e.to_string();
            assert!(text.contains("'f88'") && text.contains("'s95'"), "{text}");
        }
    }

    #[test]
    fn flag_counts_per_sample_count_each_column_in_either_layout() {
        use ndarray::ShapeBuilder;
        let (g, n) = (13, 7);
        for shape in [(g, n).into_shape_with_order(), (g, n).f()] {
            let flags = Array2::from_shape_fn(shape, |(i, j)| {
                ValueFlag::ALL[(i + j * j) % ValueFlag::ALL.len()]
            });
            let values = Array2::from_shape_fn(shape, |(i, j)| {
                if flags[[i, j]].is_missing() {
                    f64::NAN
                } else {
                    1.0
                }
            });
            let a = grid(values, flags).unwrap();
            let per = a.flag_counts_per_sample();
            assert_eq!(per.len(), n);
            for (j, c) in per.iter().enumerate() {
                assert_eq!(
                    *c,
                    FlagCounts::count(a.flags().column(j).iter()),
                    "sample {j}"
                );
            }
            assert!(per
                .iter()
                .all(|c| c.absent_from_file > 0 && c.below_detection > 0));
            let total = per.iter().fold(0, |t, c| {
                t + c.observed + c.missing + c.imputed + c.below_detection + c.absent_from_file
            });
            assert_eq!(total, g * n);
        }
    }

    #[test]
    fn map_values_keeps_missing() {
        let a = small().map_values(ValueScale::Log2, f64::log2).unwrap();
        assert_eq!(a.get(0, 1), None);
        assert_eq!(a.get(0, 2), Some(3f64.log2()));
        assert_eq!(a.scale(), ValueScale::Log2);
        let err = small().map_values(ValueScale::Log2, |v| v - 1.0).unwrap();
        assert_eq!(err.get(0, 0), Some(0.0));
        assert!(small()
            .map_values(ValueScale::Log2, |v| (v - 1.0).log2())
            .is_err());
    }

    #[test]
    fn selected_samples_are_the_cells_of_those_columns_in_either_layout() {
        let a = small();
        let column_major = a.to_column_major();
        assert_eq!(column_major, a);
        assert!(column_major.values().as_slice().is_none());
        for layer in [&a, &column_major] {
            for cols in [vec![2, 0], vec![1], vec![0, 1, 2, 1], vec![]] {
                let b = layer.select_samples(&cols);
                assert_eq!(b.n_samples(), cols.len());
                for i in 0..2 {
                    for (c, &j) in cols.iter().enumerate() {
                        assert_eq!(b.get(i, c), a.get(i, j), "cell ({i}, {j})");
                        assert_eq!(b.flags()[[i, c]], a.flags()[[i, j]]);
                    }
                }
            }
        }
    }

    #[test]
    fn select_by_id_reorders() {
        let a = small();
        let b = a.select_samples_by_id(&["s3".into(), "s1".into()]).unwrap();
        assert_eq!(b.samples(), &["s3".to_string(), "s1".to_string()]);
        assert_eq!(b.get(0, 0), Some(3.0));
        assert_eq!(b.get(1, 0), None);
        assert!(a.select_samples_by_id(&["zz".into()]).is_err());
    }

    /// The fingerprint tells a layer from one with one cell's value or flag changed, or two
    /// cells swapped, but not from a copy (whatever its missing cells' NaN bits), and it is
    /// the same on one thread and on four.
    #[test]
    fn fingerprints_tell_every_cell_change_and_not_the_thread_count() {
        let (g, n) = (300, 70);
        let values = Array2::from_shape_fn((g, n), |(i, j)| ((i * 31 + j * 7) % 97) as f64 * 0.5);
        let flags = Array2::from_shape_fn((g, n), |(i, j)| {
            if (i + j) % 11 == 0 {
                ValueFlag::Missing
            } else {
                ValueFlag::Observed
            }
        });
        let layer = |values: Array2<f64>, flags: Array2<ValueFlag>| {
            let mut values = values;
            values.zip_mut_with(&flags, |v, f| {
                if !f.has_value() {
                    *v = f64::NAN;
                }
            });
            Assay::new(
                "proteome",
                LayerKind::Proteome,
                ValueScale::Log2,
                Features::new((0..g).map(|i| format!("P{i}")).collect()).unwrap(),
                (0..n).map(|j| format!("s{j}")).collect(),
                values,
                flags,
            )
            .unwrap()
        };
        let a = layer(values.clone(), flags.clone());
        let fp = a.fingerprint();
        let on = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| a.fingerprint())
        };
        assert_eq!(on(1), fp);
        assert_eq!(on(4), fp);
        let (copy, copy_flags) = a.clone().into_matrices();
        let mut other_nan = copy.clone();
        other_nan.mapv_inplace(|v| if v.is_nan() { -f64::NAN } else { v });
        assert_eq!(layer(other_nan, copy_flags.clone()).fingerprint(), fp);
        let mut changed = values.clone();
        changed[[123, 45]] += 1e-12;
        assert_ne!(layer(changed, flags.clone()).fingerprint(), fp);
        let mut swapped = values.clone();
        swapped.swap([1, 1], [1, 2]);
        assert_ne!(swapped[[1, 1]], swapped[[1, 2]]);
        assert_ne!(layer(swapped, flags.clone()).fingerprint(), fp);
        let mut reflagged = flags.clone();
        reflagged[[5, 6]] = ValueFlag::Imputed;
        assert_ne!(layer(values.clone(), reflagged).fingerprint(), fp);
        let mut renamed = a.clone();
        renamed
            .features_mut()
            .set_annotation("gene", vec![None; g])
            .unwrap();
        assert_ne!(renamed.fingerprint(), fp);
    }
}
