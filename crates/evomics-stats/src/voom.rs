//! voom: log2-CPM with a precision weight per observation, so that read counts can go through
//! the same linear model as intensities (Law, Chen, Shi & Smyth 2014, Genome Biol. 15:R29).
//!
//! `E = log2((count + 0.5) / (lib.size + 1) · 10⁶)`; the linear model is fitted to `E`, the
//! square root of each feature's residual standard deviation is smoothed against its average
//! log-count with `lowess` (span 0.5 by default, as limma's `voom`), and each observation's
//! weight is the inverse fourth power of the trend at its fitted log-count. This is limma
//! 3.54's `voom` step by step: R's `lowess` (edge-rs's port, three robustness iterations,
//! `delta` 1 % of the range), `approxfun(rule = 2, ties = mean)`, features whose counts are all
//! zero left out of the trend, weights 1 when fewer than two features have residual df.
//!
//! Three entry points:
//!
//! - [`voom`]: library sizes given (or the column sums), no blocking — limma's
//!   `voom(counts, design, lib.size)`.
//! - [`voom_libraries`] + [`voom_with_libraries`]: edgeR's library sizes and normalization
//!   factors (`calcNormFactors`: TMM, upper quartile, RLE or none) computed on the counts given,
//!   with library sizes summed over the given (filtered) features (`keep.lib.sizes = FALSE`);
//!   optionally a block and its correlation for voom's own linear model
//!   (`voom(y, design, block = , correlation = )`).
//! - [`voom_lm_fit`]: the limma user's guide recipe in one call — factors, voom, `lmFit` with
//!   the weights, and with a block limma's two passes (voom → `duplicateCorrelation` → voom with
//!   the block and correlation → `duplicateCorrelation` → `lmFit` with both), returning the
//!   expression, weights, libraries, both consensus correlations and the fit to moderate.

use evomics_core::num::{approx, mean};
use evomics_core::{Assay, ValueFlag, ValueScale};
use evomics_norm::{LibrarySizes, NormFactorsParams};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::design::Design;
use crate::error::{engine, Result, StatsError};
use crate::limma::{
    blocked_lm_fit, duplicate_correlation_detail, lm_fit, Block, DuplicateCorrelation, LmFit,
};

/// Options of [`voom`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VoomOptions {
    /// Lowess span of the mean-variance trend (limma default 0.5).
    pub span: f64,
    /// Choose the span from the number of features (limma's `adaptive.span = TRUE`, limma ≥
    /// 3.56) instead.
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
    /// Library sizes and normalization factors of the design's samples (effective library size
    /// = `lib_size × norm_factors`); factors are 1 when library sizes were given directly.
    pub libraries: LibrarySizes,
    /// The within-block correlation of voom's own linear model, when it had a block.
    pub block_correlation: Option<f64>,
    /// Remarks (e.g. all weights 1 because fewer than two features have residual df).
    pub notes: Vec<String>,
}

/// Run voom on a count layer over the design's samples.
///
/// `lib_size` holds one effective library size per layer sample (layer order), e.g. column
/// sums × TMM normalization factors; `None` uses the column sums. Every cell must carry a count
/// (a missing count is not zero: impute or drop the feature first). For edgeR's normalization
/// factors computed here, or a block, use [`voom_libraries`] and [`voom_with_libraries`], or
/// [`voom_lm_fit`].
pub fn voom(
    counts: &Assay,
    design: &Design,
    lib_size: Option<&[f64]>,
    options: &VoomOptions,
) -> Result<VoomOutput> {
    check_span(options)?;
    let layer = design_layer(counts, design)?;
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
    let lib: Vec<f64> = match lib_size {
        Some(l) => design
            .sample_ids()
            .iter()
            .filter_map(|s| counts.sample_position(s).map(|j| l[j]))
            .collect(),
        None => {
            // The engine would only say "library sizes must be positive"; name the empty sample.
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
            sums.to_vec()
        }
    };
    if let Some(bad) = lib.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
        return Err(StatsError::Data {
            layer: counts.name().to_string(),
            problem: format!("library size {bad} is not a positive number"),
        });
    }
    let libraries = LibrarySizes {
        samples: layer.samples().to_vec(),
        norm_factors: vec![1.0; lib.len()],
        lib_size: lib,
    };
    voom_core(counts.name(), &layer, design, &libraries, options, None)
}

/// edgeR's library sizes and normalization factors of the design's samples, as
/// `calcNormFactors(DGEList(counts)[features, , keep.lib.sizes = FALSE], method)`: library
/// sizes are the column sums over the features given (so filter first), factors are computed on
/// those counts. Every cell must carry a count.
pub fn voom_libraries(
    counts: &Assay,
    design: &Design,
    norm_factors: &NormFactorsParams,
) -> Result<LibrarySizes> {
    let layer = design_layer(counts, design)?;
    Ok(norm_factors.fit(&layer)?.norm_factors(&layer)?)
}

/// voom with given libraries (from [`voom_libraries`]) and, optionally, a block whose
/// correlation voom's own linear model uses (limma's `voom(y, design, block = , correlation =
/// )`; the block must carry a correlation).
pub fn voom_with_libraries(
    counts: &Assay,
    design: &Design,
    libraries: &LibrarySizes,
    options: &VoomOptions,
    block: Option<&Block>,
) -> Result<VoomOutput> {
    check_span(options)?;
    let layer = design_layer(counts, design)?;
    if libraries.samples != layer.samples() {
        return Err(StatsError::Shape {
            what: "voom libraries".into(),
            got: format!("{} samples", libraries.samples.len()),
            expected: format!(
                "the design's {} samples in design order (from voom_libraries)",
                layer.n_samples()
            ),
        });
    }
    if let Some(bad) = libraries
        .effective()
        .iter()
        .find(|v| !(v.is_finite() && **v > 0.0))
    {
        return Err(StatsError::Data {
            layer: counts.name().to_string(),
            problem: format!("effective library size {bad} is not a positive number"),
        });
    }
    let block = match block {
        None => None,
        Some(b) => {
            let rho = b.correlation.ok_or_else(|| StatsError::Option {
                option: "block correlation".into(),
                problem: format!(
                    "voom with block '{}' needs its correlation (estimate it with duplicate_correlation on a first voom, or use voom_lm_fit)",
                    b.name
                ),
            })?;
            crate::limma::check_block(b, design)?;
            Some((b.codes(), rho))
        }
    };
    voom_core(
        counts.name(),
        &layer,
        design,
        libraries,
        options,
        block.as_ref().map(|(c, r)| (c.as_slice(), *r)),
    )
}

/// Options of [`voom_lm_fit`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VoomFitOptions {
    /// Normalization factors computed on the counts (edgeR `calcNormFactors`; TMM by default).
    pub norm_factors: NormFactorsParams,
    /// voom's trend options.
    pub voom: VoomOptions,
}

/// The consensus correlations of limma's two-pass voom with blocking.
#[derive(Debug, Clone, PartialEq)]
pub struct VoomCorrelations {
    /// `duplicateCorrelation` on the first voom (no block in voom's model).
    pub first: DuplicateCorrelation,
    /// `duplicateCorrelation` on the second voom (voom's model with the block and the first
    /// consensus); the final `lmFit` uses this one.
    pub second: DuplicateCorrelation,
}

/// [`voom_lm_fit`]'s result.
#[derive(Debug, Clone)]
pub struct VoomFit {
    /// The (last) voom: expression, weights, trend, libraries.
    pub voom: VoomOutput,
    /// `lmFit` of the expression with the weights (and block and correlation); moderate it
    /// with [`LmFit::moderate`].
    pub fit: LmFit,
    /// Both consensus correlations, when a block was given without a correlation.
    pub correlations: Option<VoomCorrelations>,
}

/// The limma user's guide recipe for counts: edgeR's normalization factors on the counts given
/// ([`voom_libraries`]), voom, and `lmFit` with the voom weights. With a block (donor) and no
/// correlation, limma's two passes: voom → `duplicateCorrelation` → voom with the block and that
/// correlation → `duplicateCorrelation` → `lmFit` with the block and the second correlation;
/// with a correlation given, voom and `lmFit` both use it.
///
/// The R it equals (filter the counts first, e.g. with edgeR's `filterByExpr`):
///
/// ```r
/// y <- calcNormFactors(DGEList(counts)[keep, , keep.lib.sizes = FALSE])
/// v1 <- voom(y, design); dc1 <- duplicateCorrelation(v1, design, block = donor)
/// v2 <- voom(y, design, block = donor, correlation = dc1$consensus)
/// dc2 <- duplicateCorrelation(v2, design, block = donor)
/// fit <- lmFit(v2, design, block = donor, correlation = dc2$consensus)
/// ```
///
/// ```
/// use evomics_core::{Assay, Features, LayerKind, SampleSheet, ValueScale};
/// use evomics_stats::{voom_lm_fit, Contrasts, Design, DesignOptions, EbayesOptions, VoomFitOptions};
/// use ndarray::Array2;
///
/// let ids: Vec<String> = (0..8).map(|j| format!("s{j}")).collect();
/// let group = (0..8).map(|j| Some(if j < 4 { "a" } else { "b" }.to_string())).collect();
/// let sheet = SampleSheet::from_text_columns(ids.clone(), vec![("group".into(), group)]).unwrap();
/// let counts = Array2::from_shape_fn((30, 8), |(i, j)| {
///     Some(((i * 37 + j * 11) % 50 + 5 * i + if j >= 4 && i < 5 { 40 } else { 0 }) as f64)
/// });
/// let layer = Assay::from_options(
///     "mirna", LayerKind::Mirna, ValueScale::Counts,
///     Features::new((0..30).map(|i| format!("m{i}")).collect()).unwrap(), ids, &counts,
/// )
/// .unwrap();
/// let design = Design::from_formula(&sheet, "~ 0 + group", &DesignOptions::default()).unwrap();
/// let vf = voom_lm_fit(&layer, &design, None, &VoomFitOptions::default()).unwrap();
/// assert_eq!(vf.voom.libraries.norm_factors.len(), 8); // the TMM factors used
/// let res = vf.fit
///     .moderate(&Contrasts::parse(&design, &["b - a"]).unwrap(), &EbayesOptions::default())
///     .unwrap();
/// assert!(res.settings.weighted);
/// ```
pub fn voom_lm_fit(
    counts: &Assay,
    design: &Design,
    block: Option<&Block>,
    options: &VoomFitOptions,
) -> Result<VoomFit> {
    options.norm_factors.validate("voom norm_factors")?;
    check_span(&options.voom)?;
    let libraries = voom_libraries(counts, design, &options.norm_factors)?;
    let Some(b) = block else {
        let v = voom_with_libraries(counts, design, &libraries, &options.voom, None)?;
        let fit = lm_fit(&v.expression, design, Some(&v.weights), None)?;
        return Ok(VoomFit {
            voom: v,
            fit,
            correlations: None,
        });
    };
    if b.correlation.is_some() {
        let v = voom_with_libraries(counts, design, &libraries, &options.voom, Some(b))?;
        let fit = lm_fit(&v.expression, design, Some(&v.weights), Some(b))?;
        return Ok(VoomFit {
            voom: v,
            fit,
            correlations: None,
        });
    }
    let v1 = voom_with_libraries(counts, design, &libraries, &options.voom, None)?;
    let first = duplicate_correlation_detail(&v1.expression, design, b, Some(&v1.weights))?;
    let b1 = Block {
        correlation: Some(first.consensus),
        ..b.clone()
    };
    let v2 = voom_with_libraries(counts, design, &libraries, &options.voom, Some(&b1))?;
    let second = duplicate_correlation_detail(&v2.expression, design, b, Some(&v2.weights))?;
    let b2 = Block {
        correlation: Some(second.consensus),
        ..b.clone()
    };
    let fit = lm_fit(&v2.expression, design, Some(&v2.weights), Some(&b2))?;
    Ok(VoomFit {
        voom: v2,
        fit,
        correlations: Some(VoomCorrelations { first, second }),
    })
}

fn check_span(options: &VoomOptions) -> Result<()> {
    if !(options.adaptive_span || (options.span > 0.0 && options.span <= 1.0)) {
        return Err(StatsError::Option {
            option: "voom span".into(),
            problem: format!("{} is not in (0, 1]", options.span),
        });
    }
    Ok(())
}

/// The count layer over the design's samples, checked: counts scale, every cell a count ≥ 0.
fn design_layer(counts: &Assay, design: &Design) -> Result<Assay> {
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
    if layer.n_features() < 2 {
        return Err(StatsError::Data {
            layer: counts.name().to_string(),
            problem: format!(
                "{} feature(s); voom needs at least 2 to fit a mean-variance trend",
                layer.n_features()
            ),
        });
    }
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
        let v = layer.values()[[i, j]];
        if !(v.is_finite() && v >= 0.0) {
            return Err(StatsError::Data {
                layer: counts.name().to_string(),
                problem: format!(
                    "feature '{}', sample '{}' has count {v}; counts must be finite and ≥ 0",
                    layer.features().ids()[i],
                    layer.samples()[j]
                ),
            });
        }
    }
    Ok(layer)
}

/// limma 3.54's voom on a checked layer (design samples, design order) with libraries.
fn voom_core(
    name: &str,
    layer: &Assay,
    design: &Design,
    libraries: &LibrarySizes,
    options: &VoomOptions,
    block: Option<(&[usize], f64)>,
) -> Result<VoomOutput> {
    let (g, n, p) = (layer.n_features(), layer.n_samples(), design.n_coef());
    let lib: Vec<f64> = libraries.effective();
    let counts = layer.values();
    let mut e = vec![0.0; g * n];
    for i in 0..g {
        for j in 0..n {
            e[i * n + j] = ((counts[[i, j]] + 0.5) / (lib[j] + 1.0) * 1e6).log2();
        }
    }
    let x = design.row_major();
    let fit = match block {
        None => edge_rs::limma::lm_fit::lm_fit(&e, g, n, &x, p, None, None, None)
            .map_err(engine("voom lmFit"))?,
        Some((codes, rho)) => blocked_lm_fit(&e, g, design, codes, None, rho),
    };
    let span = if options.adaptive_span {
        edge_rs::utils::design::choose_lowess_span(g, 50, 0.3, 1.0 / 3.0)
    } else {
        options.span
    };
    let mut notes = Vec::new();
    let with_reps = fit.df_residual.iter().filter(|d| **d > 0.0).count();
    let (weights, trend_x, trend_y) = if with_reps < 2 {
        notes.push(format!(
            "{with_reps} feature(s) have residual degrees of freedom, too few for a mean-variance trend: every weight is 1 (as limma does)"
        ));
        (vec![1.0; g * n], Vec::new(), Vec::new())
    } else {
        let mean_log_lib = mean(&lib.iter().map(|l| (l + 1.0).log2()).collect::<Vec<_>>());
        let mut sx = Vec::with_capacity(g);
        let mut sy = Vec::with_capacity(g);
        for i in 0..g {
            // features with no count at all are left out of the trend
            if counts.row(i).iter().all(|c| *c == 0.0) {
                continue;
            }
            let row = &e[i * n..(i + 1) * n];
            // R: fit$Amean + mean(log2(lib.size + 1)) - log2(1e6)
            sx.push(row.iter().sum::<f64>() / n as f64 + mean_log_lib - 1e6f64.log2());
            sy.push(fit.sigma[i].sqrt());
        }
        if sx.len() < 2 {
            return Err(StatsError::Data {
                layer: name.to_string(),
                problem: "fewer than two features have a count; voom needs a mean-variance trend"
                    .into(),
            });
        }
        let smooth =
            edge_rs::limma::lowess::lowess(&sx, &sy, span, 3).map_err(engine("voom lowess"))?;
        // approxfun(ties = list("ordered", mean)): knots sorted, tied abscissae averaged
        let mut order: Vec<usize> = (0..sx.len()).collect();
        order.sort_by(|&a, &b| sx[a].total_cmp(&sx[b]));
        let (mut kx, mut ky) = (Vec::new(), Vec::new());
        let mut k = 0;
        while k < order.len() {
            let x0 = sx[order[k]];
            let mut l = k;
            let mut sum = 0.0;
            while l < order.len() && sx[order[l]] == x0 {
                sum += smooth[order[l]];
                l += 1;
            }
            kx.push(x0);
            ky.push(sum / (l - k) as f64);
            k = l;
        }
        if kx.len() < 2 {
            return Err(StatsError::Data {
                layer: name.to_string(),
                problem:
                    "every feature has the same average log-count; voom's trend needs at least two"
                        .into(),
            });
        }
        let est: Vec<usize> = fit.pivot[..fit.rank].to_vec();
        let mut w = vec![0.0; g * n];
        for i in 0..g {
            let coef = &fit.coefficients[i * p..(i + 1) * p];
            for j in 0..n {
                let fv: f64 = est
                    .iter()
                    .filter(|&&c| coef[c].is_finite())
                    .map(|&c| coef[c] * x[j * p + c])
                    .sum();
                // fitted.count = 1e-6 · 2^fitted · (lib.size + 1), in R's order of operations
                let log_count = (1e-6 * (2f64.powf(fv) * (lib[j] + 1.0))).log2();
                let t = approx(&kx, &ky, log_count);
                w[i * n + j] = 1.0 / (t * t * t * t);
            }
        }
        (w, kx, ky)
    };
    let to_matrix = |v: Vec<f64>, what: &str| {
        Array2::from_shape_vec((g, n), v).map_err(|err| StatsError::Engine {
            step: "voom",
            message: format!("{what} has the wrong size: {err}"),
        })
    };
    let expression = layer
        .with_matrices(
            to_matrix(e, "expression")?,
            Array2::from_elem((g, n), ValueFlag::Observed),
            ValueScale::Log2,
        )
        .map_err(|err| StatsError::Data {
            layer: name.to_string(),
            problem: err.to_string(),
        })?;
    Ok(VoomOutput {
        expression,
        weights: to_matrix(weights, "weights")?,
        trend_x,
        trend_y,
        libraries: libraries.clone(),
        block_correlation: block.map(|(_, r)| r),
        notes,
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
