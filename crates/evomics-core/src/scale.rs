//! Putting a layer on a log scale for the analyses that need one (linear models, PCA,
//! clustering), and refusing the layers that cannot be.

use std::borrow::Cow;

use crate::assay::{Assay, ValueScale};
use crate::error::{CoreError, Result};

/// What the user says the values of a layer of scale `other` are, so that a stage that needs
/// log-scale data may use them (`assume_scale = "log2"`, `--assume-scale log2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssumedScale {
    /// The values are log2 intensities (or another log2 quantity).
    Log2,
}
crate::vocabulary!(AssumedScale { Log2 => "log2" });

/// Refuse a layer of scale `other` unless the user said what its values are: `other` is what
/// ingest stores when the values were neither counts nor intensities and no `scale=` was given
/// (log2 values, but also ratios, z-scores, Ct values), and analysing them as log2 without being
/// told would be a guess.
pub fn check_assumed(layer: &Assay, assume: Option<AssumedScale>) -> Result<Option<String>> {
    match (layer.scale(), assume) {
        (ValueScale::Other, None) => Err(CoreError::Invalid(format!(
            "layer '{}' has scale 'other' (ingest could not tell what its values are); if they are log2 values say so: assume_scale = \"log2\" (--assume-scale log2), or ingest with scale=log2",
            layer.name()
        ))),
        (ValueScale::Other, Some(AssumedScale::Log2)) => Ok(Some(format!(
            "layer '{}' has scale 'other'; its values are taken as log2 (assume_scale = \"log2\")",
            layer.name()
        ))),
        (_, _) => Ok(None),
    }
}

/// The layer on a log scale: its log2 when `log2` is set and the layer holds linear intensities
/// (missing cells stay missing; a value ≤ 0 is an error naming the cell), else the layer itself
/// when it is already log-scale (`log2`), or of scale `other` and `assume` says it is log2 (see
/// [`check_assumed`]; without it the layer is refused). Counts, and linear layers without
/// `log2`, are refused with how to fix it. Returns the layer and, when transformed or assumed,
/// a note saying so.
pub fn log_scale(
    layer: &Assay,
    log2: bool,
    assume: Option<AssumedScale>,
) -> Result<(Cow<'_, Assay>, Option<String>)> {
    let fail = |problem: String| Err(CoreError::Invalid(problem));
    if !log2 {
        if let Some(note) = check_assumed(layer, assume)? {
            return Ok((Cow::Borrowed(layer), Some(note)));
        }
    }
    match (layer.scale(), log2) {
        (ValueScale::Linear, true) => {
            if let Some(((i, j), v)) = layer
                .values()
                .indexed_iter()
                .find(|((i, j), v)| layer.flags()[[*i, *j]].has_value() && **v <= 0.0)
            {
                return fail(format!(
                    "layer '{}' has the value {v} (feature '{}', sample '{}'); log2 needs positive values: read zeros as missing at ingest (zero=missing) or normalize first",
                    layer.name(),
                    layer.features().ids()[i],
                    layer.samples()[j]
                ));
            }
            let out = layer.map_values(ValueScale::Log2, f64::log2)?;
            let note = format!(
                "layer '{}' log2-transformed (--log2); missing cells stay missing",
                layer.name()
            );
            Ok((Cow::Owned(out), Some(note)))
        }
        (ValueScale::Log2 | ValueScale::Other, false) => Ok((Cow::Borrowed(layer), None)),
        (ValueScale::Linear, false) => fail(format!(
            "layer '{}' holds linear values; this analysis needs log-scale data: add --log2, or run `evomics normalize` first",
            layer.name()
        )),
        (ValueScale::Counts, _) => fail(format!(
            "layer '{}' holds counts; run `evomics normalize` first (e.g. log-CPM) and explore the normalized store",
            layer.name()
        )),
        (s, true) => fail(format!(
            "--log2 applies to linear layers; layer '{}' has scale '{}'",
            layer.name(),
            s.name()
        )),
    }
}

/// Largest plausible log2 value: 2^60 ≈ 1e18, beyond any intensity or count a mass spectrometer
/// or sequencer reports.
pub const MAX_PLAUSIBLE_LOG2: f64 = 60.0;

/// A warning when a layer that is to be read as log2 values holds values above
/// [`MAX_PLAUSIBLE_LOG2`]: such a layer almost surely holds linear intensities (declared or
/// assumed `log2` by mistake), and differences of it are not log fold changes.
pub fn implausible_log2(layer: &Assay) -> Option<String> {
    let (mut n, mut max) = (0usize, f64::NEG_INFINITY);
    for (v, f) in layer.values().iter().zip(layer.flags().iter()) {
        if f.has_value() && *v > MAX_PLAUSIBLE_LOG2 {
            n += 1;
            max = max.max(*v);
        }
    }
    (n > 0).then(|| {
        format!(
            "layer '{}' is read as log2 values but {n} cell(s) exceed {MAX_PLAUSIBLE_LOG2} (up to {max:.4e}, i.e. 2^{max:.0}): it probably holds linear intensities; declare scale=linear at ingest (and log2-transform in normalize) or check the input",
            layer.name()
        )
    })
}
