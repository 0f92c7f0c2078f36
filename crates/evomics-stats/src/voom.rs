//! voom: log2-CPM with a precision weight per observation, so that read counts can go through
//! the same linear model as intensities (Law, Chen, Shi & Smyth 2014, Genome Biol. 15:R29).
//!
//! `E = log2((count + 0.5) / (lib.size + 1) · 10⁶)`; the linear model is fitted to `E`, the
//! square root of each feature's residual standard deviation is smoothed against its average
//! log-count with `lowess` (span 0.5 by default, as limma's `voom`), and each observation's
//! weight is the inverse fourth power of the trend at its fitted log-count. The numerics are
//! edge-rs's port of limma's `voom`; pass the returned expression and weights to
//! [`crate::limma::lm_fit`].

use evomics_core::{Assay, ValueFlag, ValueScale};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::design::Design;
use crate::error::{engine, Result, StatsError};

/// Options of [`voom`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VoomOptions {
    /// Lowess span of the mean-variance trend (limma default 0.5).
    pub span: f64,
    /// Choose the span from the number of features (limma's `adaptive.span = TRUE`) instead.
    pub adaptive_span: bool,
}

impl Default for VoomOptions {
    fn default() -> Self {
        VoomOptions {
            span: 0.5,
            adaptive_span: false,
        }
    }
}

/// voom's output: the log2-CPM layer over the design's samples and its weights (same shape).
#[derive(Debug, Clone, PartialEq)]
pub struct VoomOutput {
    /// log2-CPM values (scale `log2`), features × design samples.
    pub expression: Assay,
    /// Precision weight of every value, features × design samples.
    pub weights: Array2<f64>,
    /// Mean-variance trend abscissae (average log2-count).
    pub trend_x: Vec<f64>,
    /// Trend ordinates (square root of the residual standard deviation).
    pub trend_y: Vec<f64>,
}

/// Run voom on a count layer over the design's samples.
///
/// `lib_size` holds one effective library size per layer sample (layer order), e.g. column
/// sums × TMM normalization factors; `None` uses the column sums. Every cell must carry a count
/// (a missing count is not zero: impute or drop the feature first).
pub fn voom(
    counts: &Assay,
    design: &Design,
    lib_size: Option<&[f64]>,
    options: &VoomOptions,
) -> Result<VoomOutput> {
    if !(options.adaptive_span || (options.span > 0.0 && options.span <= 1.0)) {
        return Err(StatsError::Option {
            option: "voom span".into(),
            problem: format!("{} is not in (0, 1]", options.span),
        });
    }
    if counts.scale() != ValueScale::Counts {
        return Err(StatsError::Data {
            layer: counts.name().to_string(),
            problem: format!(
                "voom needs read counts, but the layer's scale is '{}'",
                counts.scale().name()
            ),
        });
    }
    let layer = counts
        .select_samples_by_id(design.sample_ids())
        .map_err(|_| {
            let missing = design
                .sample_ids()
                .iter()
                .find(|s| counts.sample_position(s).is_none())
                .cloned()
                .unwrap_or_default();
            StatsError::SampleNotInLayer {
                layer: counts.name().to_string(),
                sample: missing,
            }
        })?;
    if let Some(l) = lib_size {
        if l.len() != counts.n_samples() {
            return Err(StatsError::Shape {
                what: "library sizes".into(),
                got: format!("{}", l.len()),
                expected: format!(
                    "{} (one per sample of layer '{}')",
                    counts.n_samples(),
                    counts.name()
                ),
            });
        }
    }
    let lib: Option<Vec<f64>> = lib_size.map(|l| {
        design
            .sample_ids()
            .iter()
            .filter_map(|s| counts.sample_position(s).map(|j| l[j]))
            .collect()
    });
    if let Some(bad) = lib.iter().flatten().find(|v| !(v.is_finite() && **v > 0.0)) {
        return Err(StatsError::Data {
            layer: counts.name().to_string(),
            problem: format!("library size {bad} is not a positive number"),
        });
    }
    let (g, n) = (layer.n_features(), layer.n_samples());
    for ((i, j), f) in layer.flags().indexed_iter() {
        if !f.has_value() {
            return Err(StatsError::Data {
                layer: counts.name().to_string(),
                problem: format!(
                    "feature '{}', sample '{}' has no count ({}); voom needs every count",
                    layer.features().ids()[i],
                    layer.samples()[j],
                    f.name()
                ),
            });
        }
    }
    if lib.is_none() {
        // The engine only says "library sizes must be positive"; name the empty sample.
        let sums = layer.values().sum_axis(ndarray::Axis(0));
        if let Some(j) = sums.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(StatsError::Data {
                layer: counts.name().to_string(),
                problem: format!(
                    "sample '{}' has library size {} (the sum of its counts); voom needs a positive total: leave the empty sample out of the design",
                    layer.samples()[j],
                    sums[j]
                ),
            });
        }
    }
    let y: Vec<f64> = layer.values().iter().copied().collect();
    let params = edge_rs::limma::voom::VoomParams {
        normalize_method: edge_rs::core::normalisation::NormMethod::None,
        span: options.span,
        adaptive_span: options.adaptive_span,
        prior_count: 0.5,
        save_trend: true,
    };
    let out = edge_rs::limma::voom::voom(
        &y,
        g,
        n,
        &design.row_major(),
        design.n_coef(),
        lib.as_deref(),
        None,
        Some(params),
    )
    .map_err(engine("voom"))?;
    let to_matrix = |v: Vec<f64>, what: &str| {
        Array2::from_shape_vec((g, n), v).map_err(|e| StatsError::Engine {
            step: "voom",
            message: format!("{what} has the wrong size: {e}"),
        })
    };
    let e = to_matrix(out.e, "expression")?;
    let weights = to_matrix(out.weights, "weights")?;
    let expression = layer
        .with_matrices(
            e,
            Array2::from_elem((g, n), ValueFlag::Observed),
            ValueScale::Log2,
        )
        .map_err(|e| StatsError::Data {
            layer: counts.name().to_string(),
            problem: e.to_string(),
        })?;
    Ok(VoomOutput {
        expression,
        weights,
        trend_x: out.trend_x,
        trend_y: out.trend_y,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use evomics_core::{Features, LayerKind};

    fn counts(scale: ValueScale) -> Assay {
        let g = 30;
        let n = 6;
        let cells = Array2::from_shape_fn((g, n), |(i, j)| {
            Some(((i * 37 + j * 11) % 50 + 5 * i) as f64)
        });
        Assay::from_options(
            "mirna",
            LayerKind::Mirna,
            scale,
            Features::new((0..g).map(|i| format!("m{i}")).collect()).unwrap(),
            (0..n).map(|j| format!("s{j}")).collect(),
            &cells,
        )
        .unwrap()
    }

    fn design() -> Design {
        let m = Array2::from_shape_fn((6, 2), |(i, j)| f64::from(u8::from((i < 3) == (j == 0))));
        Design::from_matrix(
            (0..6).map(|j| format!("s{j}")).collect(),
            m,
            vec!["a".into(), "b".into()],
        )
        .unwrap()
    }

    #[test]
    fn empty_library_names_the_sample() {
        let c = counts(ValueScale::Counts);
        let mut values = c.values().clone();
        values.column_mut(4).fill(0.0);
        let cells = values.mapv(Some);
        let c = Assay::from_options(
            "mirna",
            LayerKind::Mirna,
            ValueScale::Counts,
            c.features().clone(),
            c.samples().to_vec(),
            &cells,
        )
        .unwrap();
        let e = voom(&c, &design(), None, &VoomOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("sample 's4' has library size 0"), "{e}");
    }

    #[test]
    fn weights_are_positive_and_expression_is_log_cpm() {
        let c = counts(ValueScale::Counts);
        let out = voom(&c, &design(), None, &VoomOptions::default()).unwrap();
        assert_eq!(out.weights.dim(), (30, 6));
        assert!(out.weights.iter().all(|w| *w > 0.0 && w.is_finite()));
        let lib: f64 = c.values().column(0).sum();
        let expect = ((c.values()[[3, 0]] + 0.5) / (lib + 1.0) * 1e6).log2();
        assert!((out.expression.values()[[3, 0]] - expect).abs() < 1e-12);
        assert_eq!(out.expression.scale(), ValueScale::Log2);
    }

    #[test]
    fn non_counts_and_bad_library_sizes_are_rejected() {
        assert!(voom(
            &counts(ValueScale::Log2),
            &design(),
            None,
            &VoomOptions::default()
        )
        .is_err());
        let c = counts(ValueScale::Counts);
        assert!(voom(&c, &design(), Some(&[1.0; 5]), &VoomOptions::default()).is_err());
        assert!(voom(&c, &design(), Some(&[0.0; 6]), &VoomOptions::default()).is_err());
        let o = VoomOptions {
            span: 0.0,
            ..Default::default()
        };
        assert!(voom(&c, &design(), None, &o).is_err());
    }
}
