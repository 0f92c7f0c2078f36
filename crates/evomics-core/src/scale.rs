//! Putting a layer on a log scale for the analyses that need one (linear models, PCA,
//! clustering), and refusing the layers that cannot be.

use std::borrow::Cow;

use crate::assay::{Assay, ValueScale};
use crate::error::{CoreError, Result};

/// The layer on a log scale: its log2 when `log2` is set and the layer holds linear intensities
/// (missing cells stay missing; a value ≤ 0 is an error naming the cell), else the layer itself
/// when it is already log-scale (`log2`) or of scale `other` (used as is; the caller should say
/// so). Counts, and linear layers without `log2`, are refused with how to fix it. Returns the
/// layer and, when transformed, a note saying so.
pub fn log_scale(layer: &Assay, log2: bool) -> Result<(Cow<'_, Assay>, Option<String>)> {
    let fail = |problem: String| Err(CoreError::Invalid(problem));
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
