//! limma's linear-model pipeline on an evomics [`Assay`]: `lmFit` → `contrasts.fit` → `eBayes`
//! → `topTable`, with observation weights (voom) and donor blocking (`duplicateCorrelation`).
//!
//! The numerics are edge-rs (a Rust port of limma, checked against R); this module turns
//! evomics types into its inputs and its outputs into evomics tables, so the engine can be
//! swapped without touching callers. What evomics adds on top:
//!
//! - Missing values are data: a cell flagged [`ValueFlag::Missing`] or
//!   [`ValueFlag::BelowDetection`] is left out of that feature's fit, as `lmFit` does with `NA`
//!   (each feature is fitted on its own observed samples and gets its own residual df). A
//!   coefficient a feature cannot estimate (e.g. a group with no observation) is `None` for that
//!   feature, and its row is kept.
//! - Adjusted p-values use [`crate::adjust::p_adjust`], which leaves `NA` out of the count as
//!   `p.adjust` does (edge-rs's own BH counts them as 1).
//! - The prior estimator is a visible choice, [`Legacy`], recorded in [`LimmaSettings`].
//!
//! References: Smyth (2004) Stat. Appl. Genet. Mol. Biol. 3:3 (moderated t and F, B statistic);
//! Phipson, Lee, Majewski, Alexander & Smyth (2016) Ann. Appl. Stat. 10:946 (robust eBayes);
//! Smyth, Michaud & Scott (2005) Bioinformatics 21:2067 (duplicateCorrelation and blocking);
//! Ritchie et al. (2015) Nucleic Acids Res. 43:e47 (limma).

use std::collections::HashMap;

use edge_rs::limma::contrasts::contrasts_fit;
use edge_rs::limma::ebayes::{ebayes, EBayesParams, EBayesTrend};
use edge_rs::limma::lm_fit::{lm_fit as engine_lm_fit, LmFitResult};
use edge_rs::limma::marray::MArrayLm;
use edge_rs::utils::recycled::Recycled;
use evomics_core::{Assay, SampleSheet, ValueFlag};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::adjust::{p_adjust, AdjustMethod};
use crate::block::{check_correlation, Blocks};
use crate::cell_means::{cell_means_groups, lm_fit_cell_means};
use crate::constant::constant_up_to_rounding;
use crate::contrasts::Contrasts;
use crate::design::Design;
use crate::error::{engine, Result, StatsError};

/// The name and version of the numerical engine, for manifests.
pub const ENGINE: &str = "edge-rs 0.3.2 (Rust port of limma)";

/// Which estimator of the variance prior `eBayes` uses (limma's `legacy` argument of
/// `squeezeVar`/`eBayes`, limma ≥ 3.60).
///
/// - `True`: `fitFDist` / `fitFDistRobustly`, the only estimator of limma < 3.60 (the oracles
///   are limma 3.54.1 and are reproduced with this).
/// - `False`: `fitFDistUnequalDF1`, the estimator limma ≥ 3.60 uses when features have
///   different residual df (here: different numbers of missing values).
/// - `Auto` (default, current limma behaviour, `legacy = NULL`): `True` when every positive
///   residual df is the same, `False` otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Legacy {
    /// limma ≥ 3.60's rule (the default).
    #[default]
    Auto,
    /// Always the legacy estimator (limma < 3.60).
    True,
    /// Always the unequal-df estimator.
    False,
}

impl Legacy {
    /// Stable name: `auto`, `true` or `false`.
    pub fn name(self) -> &'static str {
        match self {
            Legacy::Auto => "auto",
            Legacy::True => "true",
            Legacy::False => "false",
        }
    }

    /// Parse `auto`, `true` or `false` (also `yes`/`no`).
    pub fn parse(s: &str) -> Result<Legacy> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "null" | "default" => Ok(Legacy::Auto),
            "true" | "yes" => Ok(Legacy::True),
            "false" | "no" => Ok(Legacy::False),
            _ => Err(StatsError::Option {
                option: "legacy".into(),
                problem: format!("'{s}' is not one of auto, true, false"),
            }),
        }
    }

    /// Whether the legacy estimator applies to these residual df (limma's rule for `Auto`).
    pub fn resolve(self, df_residual: &[f64]) -> bool {
        match self {
            Legacy::True => true,
            Legacy::False => false,
            Legacy::Auto => {
                let mut pos = df_residual.iter().filter(|d| **d > 0.0);
                match pos.next() {
                    None => false,
                    Some(first) => pos.all(|d| d == first),
                }
            }
        }
    }
}

/// Options of the empirical Bayes step, at limma's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EbayesOptions {
    /// Let the prior variance depend on average expression (`trend = TRUE`).
    pub trend: bool,
    /// Robust hyperparameters, so outlier variances do not shrink the prior df (`robust = TRUE`).
    pub robust: bool,
    /// Assumed proportion of differential features, for the B statistic (0.01).
    pub proportion: f64,
    /// Limits on the coefficient standard deviation relative to the residual one, for B ((0.1, 4)).
    pub stdev_coef_lim: (f64, f64),
    /// Tail proportions winsorized when `robust` ((0.05, 0.1)).
    pub winsor_tail_p: (f64, f64),
    /// Prior estimator.
    pub legacy: Legacy,
    /// Adjustment of the per-contrast and F p-values (BH).
    pub adjust: AdjustMethod,
}

impl Default for EbayesOptions {
    fn default() -> Self {
        EbayesOptions {
            trend: false,
            robust: false,
            proportion: 0.01,
            stdev_coef_lim: (0.1, 4.0),
            winsor_tail_p: (0.05, 0.1),
            legacy: Legacy::Auto,
            adjust: AdjustMethod::Bh,
        }
    }
}

impl EbayesOptions {
    /// Check the options before any data is touched.
    pub fn validate(&self) -> Result<()> {
        let opt = |option: &str, problem: String| StatsError::Option {
            option: option.into(),
            problem,
        };
        if !(self.proportion > 0.0 && self.proportion < 1.0) {
            return Err(opt(
                "proportion",
                format!("{} is not strictly between 0 and 1", self.proportion),
            ));
        }
        let (lo, hi) = self.stdev_coef_lim;
        if !(lo > 0.0 && hi > lo && hi.is_finite()) {
            return Err(opt(
                "stdev_coef_lim",
                format!("({lo}, {hi}) must satisfy 0 < lower < upper"),
            ));
        }
        let (a, b) = self.winsor_tail_p;
        if !((0.0..0.5).contains(&a) && (0.0..0.5).contains(&b)) {
            return Err(opt(
                "winsor_tail_p",
                format!("({a}, {b}) must both lie in [0, 0.5)"),
            ));
        }
        Ok(())
    }
}

/// Samples that share a block (donor) are correlated; the fit is generalized least squares with a
/// common within-block correlation (limma's `block` + `correlation`).
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Name of the blocking variable (e.g. `donor_id`).
    pub name: String,
    /// Block label per design sample, in design row order.
    pub labels: Vec<String>,
    /// The within-block correlation; `None` estimates it with [`duplicate_correlation`].
    pub correlation: Option<f64>,
}

impl Block {
    /// Block labels from a sample-sheet column, aligned to the design's samples. A design sample
    /// without a label is an error (blocking needs to know every sample's donor).
    pub fn from_sheet(sheet: &SampleSheet, column: &str, design: &Design) -> Result<Block> {
        let col = sheet
            .column(column)
            .ok_or_else(|| StatsError::UnknownColumn {
                column: column.to_string(),
                available: sheet
                    .columns()
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let labels = design
            .sample_ids()
            .iter()
            .map(|id| {
                let row = sheet.position(id).ok_or_else(|| StatsError::Column {
                    column: column.to_string(),
                    problem: format!("design sample '{id}' is not in the sample sheet"),
                })?;
                col.values.text(row).ok_or_else(|| StatsError::Column {
                    column: column.to_string(),
                    problem: format!("sample '{id}' has no value; blocking needs every sample's {column} (fill it in, or give the sample its own label)"),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Block {
            name: column.to_string(),
            labels,
            correlation: None,
        })
    }

    /// Block index of every design sample, numbered by first appearance (0, 1, …).
    pub fn codes(&self) -> Vec<usize> {
        let mut map: HashMap<&str, usize> = HashMap::new();
        self.labels
            .iter()
            .map(|l| {
                let n = map.len();
                *map.entry(l.as_str()).or_insert(n)
            })
            .collect()
    }
}

/// The response matrix of a layer over a design's samples, with the cells that carry no value
/// as NaN (the engine's missing marker) and the per-feature count of usable observations.
struct Response {
    y: Vec<f64>,
    n_obs: Vec<usize>,
    amean: Vec<Option<f64>>,
    weights: Option<Vec<f64>>,
    /// Features left out of the fit because their values are constant up to rounding.
    excluded: Vec<ExcludedFeature>,
}

/// A feature left out of a test, with the reason (e.g. its values are constant up to rounding,
/// see [`crate::constant`]). Its statistics are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExcludedFeature {
    /// Feature id.
    pub feature_id: String,
    /// Why it was not tested.
    pub reason: String,
}

fn design_columns(assay: &Assay, design: &Design) -> Result<Vec<usize>> {
    let pos: HashMap<&str, usize> = assay
        .samples()
        .iter()
        .enumerate()
        .map(|(j, s)| (s.as_str(), j))
        .collect();
    design
        .sample_ids()
        .iter()
        .map(|s| {
            pos.get(s.as_str())
                .copied()
                .ok_or_else(|| StatsError::SampleNotInLayer {
                    layer: assay.name().to_string(),
                    sample: s.clone(),
                })
        })
        .collect()
}

/// Which cells of a layer the linear model fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cells {
    /// Every cell with a value (measured or imputed).
    WithValue,
    /// Measured cells only: imputed ones are fitted as missing.
    Measured,
}

impl Cells {
    fn fitted(self, f: ValueFlag) -> bool {
        match self {
            Cells::WithValue => f.has_value(),
            Cells::Measured => f.has_value() && f != ValueFlag::Imputed,
        }
    }
}

fn response(
    assay: &Assay,
    design: &Design,
    weights: Option<&Array2<f64>>,
    cells: Cells,
) -> Result<Response> {
    let cols = design_columns(assay, design)?;
    let (g, n) = (assay.n_features(), cols.len());
    if let Some(w) = weights {
        if w.dim() != (g, assay.n_samples()) {
            return Err(StatsError::Shape {
                what: format!("weights of layer '{}'", assay.name()),
                got: format!("{:?}", w.dim()),
                expected: format!("({g}, {}) like the layer", assay.n_samples()),
            });
        }
        if let Some(bad) = w.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
            return Err(StatsError::Data {
                layer: assay.name().to_string(),
                problem: format!("observation weight {bad} is not a finite non-negative number"),
            });
        }
    }
    let values = assay.values();
    let flags = assay.flags();
    let mut y = vec![f64::NAN; g * n];
    let mut wv = weights.map(|_| vec![0.0; g * n]);
    // One feature's response row (and weights row): (usable observations, Amean, why it is
    // not tested). Rows are independent, so they are filled on the worker threads; each row's
    // sums run in sample order whatever the thread count.
    let fill = |i: usize, row: &mut [f64], wrow: Option<&mut [f64]>| {
        let (vrow, frow) = (values.row(i), flags.row(i));
        let mut wrow = wrow;
        let mut sum = 0.0;
        let mut cnt = 0usize;
        let mut n_obs = 0usize;
        for (k, &j) in cols.iter().enumerate() {
            if !cells.fitted(frow[j]) {
                continue;
            }
            let v = vrow[j];
            row[k] = v;
            sum += v;
            cnt += 1;
            let usable = match (weights, wrow.as_deref_mut()) {
                (Some(w), Some(out)) => {
                    out[k] = w[[i, j]];
                    // the engine drops weights at or below 1e-15, as lmFit does
                    w[[i, j]] > 1e-15
                }
                _ => true,
            };
            n_obs += usize::from(usable);
        }
        // limma's Amean is rowMeans(y, na.rm = TRUE): unweighted, over the observed values
        let amean = (cnt > 0).then(|| sum / cnt as f64);
        let observed: Vec<f64> = row.iter().copied().filter(|v| !v.is_nan()).collect();
        let excluded = constant_up_to_rounding(&observed, assay.scale()).map(|reason| {
            row.iter_mut().for_each(|v| *v = f64::NAN);
            n_obs = 0;
            ExcludedFeature {
                feature_id: assay.features().ids()[i].clone(),
                reason,
            }
        });
        (n_obs, amean, excluded)
    };
    let rows: Vec<(usize, Option<f64>, Option<ExcludedFeature>)> = if n == 0 {
        (0..g).map(|i| fill(i, &mut [], None)).collect()
    } else {
        use rayon::prelude::*;
        let wrows: Vec<Option<&mut [f64]>> = match wv.as_mut() {
            Some(w) => w.chunks_mut(n).map(Some).collect(),
            None => (0..g).map(|_| None).collect(),
        };
        y.par_chunks_mut(n)
            .zip(wrows)
            .enumerate()
            .map(|(i, (row, wrow))| fill(i, row, wrow))
            .collect()
    };
    let mut n_obs = Vec::with_capacity(g);
    let mut amean = Vec::with_capacity(g);
    let mut excluded = Vec::new();
    for (k, a, e) in rows {
        n_obs.push(k);
        amean.push(a);
        excluded.extend(e);
    }
    Ok(Response {
        y,
        n_obs,
        amean,
        weights: wv,
        excluded,
    })
}

/// Consensus within-block correlation, limma's `duplicateCorrelation` (trim 0.15), on the
/// observed values of the layer (Smyth, Michaud & Scott 2005). See
/// [`duplicate_correlation_detail`] for the per-feature correlations.
pub fn duplicate_correlation(
    assay: &Assay,
    design: &Design,
    block: &Block,
    weights: Option<&Array2<f64>>,
) -> Result<f64> {
    Ok(duplicate_correlation_detail(assay, design, block, weights)?.consensus)
}

/// limma's `duplicateCorrelation` result: the consensus correlation and the Fisher-transformed
/// correlation of every feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuplicateCorrelation {
    /// `consensus.correlation`: tanh of the 15 % trimmed mean of the per-feature atanh values.
    pub consensus: f64,
    /// `atanh.correlations`, one per feature in layer order; `None` (R's `NA`) for a feature with
    /// too few observations or blocks to estimate it (limma needs more than p + 2 observations,
    /// at least 2 blocks and fewer blocks than observations − 1) or whose REML fit failed.
    pub atanh_correlations: Vec<Option<f64>>,
    /// Features that contributed to the consensus.
    pub n_estimated: usize,
    /// When limma sets the correlation to 0 without estimating it: why.
    pub note: Option<String>,
}

/// limma's `duplicateCorrelation(y, design, block = …, weights = …)` with every per-feature
/// correlation (Smyth, Michaud & Scott 2005).
///
/// Each feature's REML fit (statmod's `mixedModel2Fit`) runs on its observed values (and, with
/// weights, those with a positive weight), reduced to the block structure as described in
/// `docs/methods/statistics.md`: O(n·p² + B³) per feature for n samples, p coefficients and B
/// blocks, instead of an SVD of an (n − p) × B matrix. Per-feature correlations are clamped to
/// [1/(1 − largest block) + 0.01, 0.99] as limma does. When every block has one sample, or the
/// blocks are already in the design, the correlation is 0 with a note (limma warns and does the
/// same).
///
/// ```
/// use evomics_core::{Assay, Features, LayerKind, SampleSheet, ValueScale};
/// use evomics_stats::{duplicate_correlation_detail, Block, Design, DesignOptions};
/// use ndarray::Array2;
///
/// let ids: Vec<String> = (0..12).map(|j| format!("s{j}")).collect();
/// let text = |f: &dyn Fn(usize) -> String| (0..12).map(|j| Some(f(j))).collect::<Vec<_>>();
/// let sheet = SampleSheet::from_text_columns(
///     ids.clone(),
///     vec![
///         ("group".into(), text(&|j| if j < 6 { "a".into() } else { "b".into() })),
///         ("donor".into(), text(&|j| format!("d{}", j / 2))),
///     ],
/// )
/// .unwrap();
/// // a shared donor effect on every feature
/// let donor = [0.9, -0.4, 0.3, -1.1, 0.6, 0.1];
/// let cells = Array2::from_shape_fn((40, 12), |(i, j)| {
///     Some(10.0 + donor[j / 2] + (((i * 7 + j * 13) % 11) as f64 - 5.0) / 10.0)
/// });
/// let layer = Assay::from_options(
///     "proteome", LayerKind::Proteome, ValueScale::Log2,
///     Features::new((0..40).map(|i| format!("P{i}")).collect()).unwrap(), ids, &cells,
/// )
/// .unwrap();
/// let design = Design::from_formula(&sheet, "~ 0 + group", &DesignOptions::default()).unwrap();
/// let block = Block::from_sheet(&sheet, "donor", &design).unwrap();
/// let dc = duplicate_correlation_detail(&layer, &design, &block, None).unwrap();
/// assert!(dc.consensus > 0.5 && dc.n_estimated == 40);
/// ```
pub fn duplicate_correlation_detail(
    assay: &Assay,
    design: &Design,
    block: &Block,
    weights: Option<&Array2<f64>>,
) -> Result<DuplicateCorrelation> {
    check_block(block, design)?;
    let r = response(assay, design, weights, Cells::WithValue)?;
    duplicate_correlation_raw(
        &r.y,
        assay.n_features(),
        design,
        &block.codes(),
        r.weights.as_deref(),
        assay.name(),
    )
}

/// duplicateCorrelation on a response in engine layout (features × design samples, NaN missing).
pub(crate) fn duplicate_correlation_raw(
    y: &[f64],
    g: usize,
    design: &Design,
    codes: &[usize],
    weights: Option<&[f64]>,
    layer: &str,
) -> Result<DuplicateCorrelation> {
    let blocks = Blocks::new(codes.to_vec());
    let (n, p) = (design.n_samples(), design.n_coef());
    let x = design.row_major();
    let zero = |note: &str| DuplicateCorrelation {
        consensus: 0.0,
        atanh_correlations: vec![Some(0.0); g],
        n_estimated: 0,
        note: Some(note.to_string()),
    };
    if blocks.max_size <= 1 {
        return Ok(zero(
            "every block has a single sample: the within-block correlation is set to 0 (as limma does)",
        ));
    }
    if crate::block::block_in_design(&x, n, p, &blocks) {
        return Ok(zero(
            "the blocks are already encoded in the design (e.g. donor nested in a design factor with one donor per level): the within-block correlation is set to 0 (as limma does)",
        ));
    }
    let rho = crate::block::feature_correlations(y, g, &x, n, p, weights, &blocks);
    let (consensus, z) = crate::block::consensus(&rho, blocks.max_size);
    let consensus = consensus.ok_or_else(|| StatsError::Data {
        layer: layer.to_string(),
        problem: format!(
            "no feature can estimate the within-block correlation (each needs more than {} observed values in at least 2 blocks, and fewer blocks than values − 1); give the correlation explicitly or drop the block",
            p + 2
        ),
    })?;
    Ok(DuplicateCorrelation {
        consensus,
        n_estimated: z.iter().flatten().count(),
        atanh_correlations: z,
        note: None,
    })
}

/// Blocked lmFit (`gls.series`) in engine form.
pub(crate) fn blocked_lm_fit(
    y: &[f64],
    g: usize,
    design: &Design,
    codes: &[usize],
    weights: Option<&[f64]>,
    rho: f64,
) -> LmFitResult {
    let blocks = Blocks::new(codes.to_vec());
    let (n, p) = (design.n_samples(), design.n_coef());
    let fit = crate::block::gls_series(y, g, &design.row_major(), n, p, weights, &blocks, rho);
    let mut coefficients = Vec::with_capacity(g * p);
    let mut stdev_unscaled = Vec::with_capacity(g * p);
    let mut sigma = Vec::with_capacity(g);
    let mut df_residual = Vec::with_capacity(g);
    for gene in fit.genes {
        coefficients.extend(gene.coef);
        stdev_unscaled.extend(gene.stdev);
        sigma.push(gene.sigma);
        df_residual.push(gene.df);
    }
    LmFitResult {
        coefficients,
        stdev_unscaled,
        sigma,
        df_residual,
        fitted: Vec::new(),
        cov_coefficients: fit.cov,
        pivot: fit.pivot,
        rank: fit.rank,
    }
}

pub(crate) fn check_block(block: &Block, design: &Design) -> Result<()> {
    if block.labels.len() != design.n_samples() {
        return Err(StatsError::Shape {
            what: format!("block '{}'", block.name),
            got: format!("{} labels", block.labels.len()),
            expected: format!("{} (one per design sample)", design.n_samples()),
        });
    }
    if let Some(c) = block.correlation {
        let max_size = Blocks::new(block.codes()).max_size;
        check_correlation(c, max_size).map_err(|problem| StatsError::Option {
            option: "block correlation".into(),
            problem,
        })?;
    }
    Ok(())
}

/// Run an engine step on one worker thread.
///
/// edge-rs's trended prior (eBayes) and duplicateCorrelation sum in an order that depends on the
/// number of rayon threads, which changes the last bits of the results between machines with
/// different core counts (the test `results_do_not_depend_on_thread_count` shows it). On one
/// thread every machine gives the same bits, as DESIGN.md requires. lmFit itself is
/// thread-count independent and keeps all threads.
fn single_thread<T>(step: &'static str, f: impl FnOnce() -> Result<T> + Send) -> Result<T>
where
    T: Send,
{
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| StatsError::Engine {
            step,
            message: format!("cannot start a worker thread: {e}"),
        })?
        .install(f)
}

/// The per-feature least-squares fit (`lmFit`), before contrasts and moderation.
#[derive(Debug, Clone)]
pub struct LmFit {
    layer: String,
    feature_ids: Vec<String>,
    names: Vec<Option<String>>,
    n_obs: Vec<usize>,
    amean: Vec<Option<f64>>,
    design: Design,
    weighted: bool,
    block: Option<(String, f64)>,
    fit: MArrayLm,
    excluded: Vec<ExcludedFeature>,
}

/// Feature display names: the `name` annotation if the layer has one, else `gene`.
pub(crate) fn feature_names(assay: &Assay) -> Vec<Option<String>> {
    let f = assay.features();
    match f.annotation("name").or_else(|| f.annotation("gene")) {
        Some(a) => a.to_vec(),
        None => vec![None; f.len()],
    }
}

/// Fit the design to every feature of the layer by (weighted, generalized) least squares,
/// each feature on its own observed samples, as limma's `lmFit`.
///
/// `weights` are observation weights with the layer's shape (features × layer samples), e.g.
/// from [`crate::voom::voom`]. With `block`, samples sharing a label are correlated (estimated
/// with [`duplicate_correlation`] when the block carries no correlation).
pub fn lm_fit(
    assay: &Assay,
    design: &Design,
    weights: Option<&Array2<f64>>,
    block: Option<&Block>,
) -> Result<LmFit> {
    fit_cells(assay, design, weights, block, Cells::WithValue)
}

/// [`lm_fit`] on the measured cells only: imputed cells are fitted as missing ones (limma's
/// `lmFit` on the layer with its imputed values set to `NA`), without a copy of the layer.
pub fn lm_fit_measured(
    assay: &Assay,
    design: &Design,
    weights: Option<&Array2<f64>>,
    block: Option<&Block>,
) -> Result<LmFit> {
    fit_cells(assay, design, weights, block, Cells::Measured)
}

fn fit_cells(
    assay: &Assay,
    design: &Design,
    weights: Option<&Array2<f64>>,
    block: Option<&Block>,
    cells: Cells,
) -> Result<LmFit> {
    if assay.n_features() == 0 {
        return Err(StatsError::Data {
            layer: assay.name().to_string(),
            problem: "the layer has no features".into(),
        });
    }
    let resp = response(assay, design, weights, cells)?;
    let (g, n, p) = (assay.n_features(), design.n_samples(), design.n_coef());
    let x = design.row_major();
    let block_info = match block {
        None => None,
        Some(b) => {
            check_block(b, design)?;
            let codes = b.codes();
            let rho = match b.correlation {
                Some(c) => c,
                None => {
                    duplicate_correlation_raw(
                        &resp.y,
                        g,
                        design,
                        &codes,
                        resp.weights.as_deref(),
                        assay.name(),
                    )?
                    .consensus
                }
            };
            let max_size = Blocks::new(codes.clone()).max_size;
            check_correlation(rho, max_size).map_err(|problem| StatsError::Option {
                option: "block correlation".into(),
                problem,
            })?;
            Some((b.name.clone(), rho, codes))
        }
    };
    let fit = match &block_info {
        // limma's lm.series: edge-rs, exact and fast
        None => {
            // Missing cells or weights make edge-rs fit feature by feature; for a cell-means
            // design that fit has a closed form (crate::cell_means).
            let per_feature = resp.weights.is_some() || resp.y.iter().any(|v| !v.is_finite());
            match cell_means_groups(&x, n, p).filter(|_| per_feature) {
                Some(groups) => {
                    lm_fit_cell_means(&resp.y, g, &x, &groups, p, resp.weights.as_deref())?
                }
                None => {
                    let w = resp.weights.clone().map(Recycled::Full);
                    engine_lm_fit(&resp.y, g, n, &x, p, w.as_ref(), None, None)
                        .map_err(engine("lmFit"))?
                }
            }
        }
        // gls.series: the compound-symmetry path of this crate
        Some((_, rho, codes)) => {
            blocked_lm_fit(&resp.y, g, design, codes, resp.weights.as_deref(), *rho)
        }
    };
    // The engine's trended prior rejects a NaN covariate, so a feature without any value gets
    // the median Amean there: it has no residual df, so it does not shape the prior, and its
    // coefficients are NA anyway.
    let mut finite: Vec<f64> = resp.amean.iter().flatten().copied().collect();
    finite.sort_by(f64::total_cmp);
    let fill = finite.get(finite.len() / 2).copied().unwrap_or(0.0);
    let amean_engine: Vec<f64> = resp.amean.iter().map(|a| a.unwrap_or(fill)).collect();
    let fit = MArrayLm::from_lm_fit(fit, &x, p, n, Some(amean_engine)).map_err(engine("lmFit"))?;
    Ok(LmFit {
        layer: assay.name().to_string(),
        feature_ids: assay.features().ids().to_vec(),
        names: feature_names(assay),
        n_obs: resp.n_obs,
        amean: resp.amean,
        design: design.clone(),
        weighted: weights.is_some(),
        block: block_info.map(|(name, rho, _)| (name, rho)),
        fit,
        excluded: resp.excluded,
    })
}

/// lmFit coefficients per feature (`fit$coefficients`); `None` where not estimable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoefTable {
    /// Coefficient names, the column order of `rows[i].coefficients`.
    pub coef_names: Vec<String>,
    /// One row per feature.
    pub rows: Vec<CoefRow>,
}

/// One feature's lmFit coefficients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoefRow {
    /// Feature id.
    pub feature_id: String,
    /// Display name (annotation `name` or `gene`).
    pub name: Option<String>,
    /// Observations used.
    pub n_obs: usize,
    /// Coefficients, in `coef_names` order.
    pub coefficients: Vec<Option<f64>>,
    /// Unscaled standard deviations (`fit$stdev.unscaled`).
    pub stdev_unscaled: Vec<Option<f64>>,
}

fn opt(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

impl LmFit {
    /// The design the fit used.
    pub fn design(&self) -> &Design {
        &self.design
    }

    /// The within-block correlation used, with the blocking variable's name.
    pub fn block_correlation(&self) -> Option<(&str, f64)> {
        self.block.as_ref().map(|(n, r)| (n.as_str(), *r))
    }

    /// Features left out of the fit (constant up to rounding), with the reason.
    pub fn excluded(&self) -> &[ExcludedFeature] {
        &self.excluded
    }

    /// Residual df per feature (observations used minus the rank achieved on them).
    pub fn df_residual(&self) -> &[f64] {
        &self.fit.df_residual
    }

    /// The coefficient table.
    pub fn coefficients(&self) -> CoefTable {
        let p = self.fit.n_coef;
        CoefTable {
            coef_names: self.design.coef_names().to_vec(),
            rows: (0..self.fit.n_genes)
                .map(|i| CoefRow {
                    feature_id: self.feature_ids[i].clone(),
                    name: self.names[i].clone(),
                    n_obs: self.n_obs[i],
                    coefficients: self.fit.coefficients[i * p..(i + 1) * p]
                        .iter()
                        .map(|&v| opt(v))
                        .collect(),
                    stdev_unscaled: self.fit.stdev_unscaled[i * p..(i + 1) * p]
                        .iter()
                        .map(|&v| opt(v))
                        .collect(),
                })
                .collect(),
        }
    }

    /// The engine reports a contrast on a non-estimable coefficient by 0-based indices; say
    /// which contrast and coefficients by name, why, and how to fix the design.
    fn contrast_error(&self, contrasts: &Contrasts, e: edge_rs::errors::EdgeErrors) -> StatsError {
        let edge_rs::errors::EdgeErrors::NotEstimableContrast { contrast, coef } = e else {
            return engine("contrasts.fit")(e);
        };
        let names = self.design.coef_names();
        let name = |j: usize| names.get(j).map(String::as_str).unwrap_or("?");
        let aliased: Vec<String> = self
            .fit
            .pivot
            .get(self.fit.rank..)
            .unwrap_or_default()
            .iter()
            .map(|&j| format!("'{}'", name(j)))
            .collect();
        StatsError::Design {
            formula: self.design.formula().to_string(),
            problem: format!(
                "the design is not of full rank (rank {} for {} coefficients): {} cannot be estimated, being a combination of the other columns (a term nested in or confounded with another, e.g. donor_id within source), and contrast '{}' uses '{}'. Drop or merge the confounded term, or test only estimable coefficients",
                self.fit.rank,
                names.len(),
                aliased.join(", "),
                contrasts
                    .contrasts()
                    .get(contrast)
                    .map(|c| c.name.as_str())
                    .unwrap_or("?"),
                name(coef)
            ),
        }
    }

    /// Apply contrasts (`contrasts.fit`), moderate (`eBayes`) and tabulate (`topTable`, unsorted,
    /// every feature). Use [`Contrasts::coefficients`] to test the coefficients themselves.
    pub fn moderate(&self, contrasts: &Contrasts, options: &EbayesOptions) -> Result<LimmaResult> {
        self.moderate_impl(contrasts, options, None)
    }

    /// limma's `treat` and `topTreat` (McCarthy & Smyth 2009, Bioinformatics 25:765): for each
    /// contrast, the test of |logFC| ≤ `lfc` against |logFC| > `lfc` with the moderated
    /// variances of `eBayes` (same prior, same df), as limma 3.54's `treat(fit, lfc = )`:
    /// `p = P(T > (|β| − lfc)/se) + P(T > (|β| + lfc)/se)` on the total df, and `t` is 0 when
    /// |β| ≤ lfc, else `sign(β) · (|β| − lfc)/se`. Tables have no B statistic and there is no
    /// F table; `settings.treat_lfc` records the threshold. Of `options`, `proportion` and
    /// `stdev_coef_lim` (which only shape B) are not used.
    ///
    /// ```
    /// use evomics_core::{Assay, Features, LayerKind, ValueScale};
    /// use evomics_stats::{lm_fit, Contrasts, Design, EbayesOptions};
    /// use ndarray::Array2;
    ///
    /// let ids: Vec<String> = (0..6).map(|j| format!("s{j}")).collect();
    /// // three features: a 3-fold change, a 1.4-fold change, none
    /// let shift = [1.6, 0.5, 0.0];
    /// let cells = Array2::from_shape_fn((3, 6), |(i, j)| {
    ///     Some(20.0 + if j >= 3 { shift[i] } else { 0.0 } + [0.1, -0.2, 0.05, -0.1, 0.2, 0.0][j])
    /// });
    /// let layer = Assay::from_options(
    ///     "p", LayerKind::Proteome, ValueScale::Log2,
    ///     Features::new(vec!["A".into(), "B".into(), "C".into()]).unwrap(), ids.clone(), &cells,
    /// )
    /// .unwrap();
    /// let x = Array2::from_shape_fn((6, 2), |(j, c)| f64::from(u8::from((j >= 3) == (c == 1))));
    /// let design = Design::from_matrix(ids, x, vec!["ctl".into(), "trt".into()]).unwrap();
    /// let fit = lm_fit(&layer, &design, None, None).unwrap();
    /// let c = Contrasts::parse(&design, &["trt - ctl"]).unwrap();
    /// let tr = fit.treat(&c, 1.0, &EbayesOptions::default()).unwrap();
    /// let rows = &tr.tables[0].rows;
    /// assert!(rows[0].t.unwrap() > 0.0 && rows[0].b.is_none());
    /// assert_eq!(rows[1].t, Some(0.0)); // |logFC| 0.5 is under the threshold
    /// assert_eq!(tr.settings.treat_lfc, Some(1.0));
    /// ```
    pub fn treat(
        &self,
        contrasts: &Contrasts,
        lfc: f64,
        options: &EbayesOptions,
    ) -> Result<LimmaResult> {
        if !(lfc.is_finite() && lfc >= 0.0) {
            return Err(StatsError::Option {
                option: "treat lfc".into(),
                problem: format!(
                    "{lfc} is not a log2 fold change ≥ 0 (limma's treat takes |lfc|; use e.g. 1 for a two-fold change)"
                ),
            });
        }
        self.moderate_impl(contrasts, options, Some(lfc))
    }

    fn moderate_impl(
        &self,
        contrasts: &Contrasts,
        options: &EbayesOptions,
        treat_lfc: Option<f64>,
    ) -> Result<LimmaResult> {
        options.validate()?;
        if contrasts.coef_names() != self.design.coef_names() {
            return Err(StatsError::Contrast {
                contrast: contrasts
                    .contrasts()
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                problem: format!(
                    "the contrasts were made for coefficients [{}] but the fit has [{}]",
                    contrasts.coef_names().join(", "),
                    self.design.coef_names().join(", ")
                ),
            });
        }
        if self.fit.df_residual.iter().all(|d| *d <= 0.0) && !self.excluded.is_empty() {
            let names: Vec<&str> = self
                .excluded
                .iter()
                .take(5)
                .map(|e| e.feature_id.as_str())
                .collect();
            return Err(StatsError::Data {
                layer: self.layer.clone(),
                problem: format!(
                    "no feature can be tested: {} feature(s) are constant up to rounding ({}{}: {}) and no other has residual degrees of freedom (more coefficients than observations): use fewer terms or more samples",
                    self.excluded.len(),
                    names.join(", "),
                    if self.excluded.len() > 5 { ", …" } else { "" },
                    self.excluded[0].reason
                ),
            });
        }
        if self.fit.df_residual.iter().all(|d| *d <= 0.0) {
            return Err(StatsError::Design {
                formula: self.design.formula().to_string(),
                problem: format!(
                    "no feature of layer '{}' has residual degrees of freedom (more coefficients than observations); use fewer terms or more samples",
                    self.layer
                ),
            });
        }
        let with_df = self.fit.df_residual.iter().filter(|d| **d > 0.0).count();
        if options.robust && with_df < 2 {
            return Err(StatsError::Option {
                option: "robust".into(),
                problem: format!(
                    "robust empirical Bayes needs at least two features with residual degrees of freedom; layer '{}' has {with_df}{}; use robust = false",
                    self.layer,
                    if self.excluded.is_empty() {
                        String::new()
                    } else {
                        format!(" ({} constant up to rounding and not tested)", self.excluded.len())
                    }
                ),
            });
        }
        let legacy_applied = options.legacy.resolve(&self.fit.df_residual);
        let params = EBayesParams {
            proportion: options.proportion,
            stdev_coef_lim: options.stdev_coef_lim,
            trend: if options.trend {
                EBayesTrend::Amean
            } else {
                EBayesTrend::None
            },
            span: None,
            robust: options.robust,
            winsor_tail_p: options.winsor_tail_p,
            legacy: Some(legacy_applied),
        };
        let eb = single_thread("eBayes", || {
            let cfit = contrasts_fit(self.fit.clone(), &contrasts.column_major(), contrasts.len())
                .map_err(|e| self.contrast_error(contrasts, e))?;
            ebayes(cfit, Some(params)).map_err(engine("eBayes"))
        })?;
        let missing = |what: &str| StatsError::Engine {
            step: "eBayes",
            message: format!("the engine returned no {what}"),
        };
        let t = eb.t.as_ref().ok_or_else(|| missing("t"))?;
        let pv = eb.p_value.as_ref().ok_or_else(|| missing("p-values"))?;
        let lods = eb.lods.as_ref().ok_or_else(|| missing("B"))?;
        let s2_post = eb.s2_post.as_ref().ok_or_else(|| missing("s2.post"))?;
        let s2_prior = eb.s2_prior.as_ref().ok_or_else(|| missing("s2.prior"))?;
        let df_prior = eb.df_prior.as_ref().ok_or_else(|| missing("df.prior"))?;
        let df_total = eb.df_total.as_ref().ok_or_else(|| missing("df.total"))?;
        let (g, k) = (eb.n_genes, eb.n_coef);
        let rec = |v: &[f64], i: usize| if v.len() == 1 { v[0] } else { v[i] };

        // treat: t and p from the squeezed variances, per limma 3.54's treat()
        let treat_tp = |idx: usize, i: usize, lfc: f64| -> (Option<f64>, Option<f64>) {
            let coef = eb.coefficients[idx];
            let se = eb.stdev_unscaled[idx] * s2_post[i].sqrt();
            let df = df_total[i];
            if !(coef.is_finite() && se.is_finite() && df > 0.0) {
                return (None, None);
            }
            let right = (coef.abs() - lfc) / se;
            let left = (coef.abs() + lfc) / se;
            let tail = |x: f64| {
                if x.is_nan() {
                    None
                } else {
                    edge_rs::numeric::dist::t_sf(x, df).ok()
                }
            };
            let p = match (tail(right), tail(left)) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
            let t = if right.is_nan() {
                None
            } else if coef > lfc {
                Some(right.max(0.0))
            } else if coef < -lfc {
                Some(-right.max(0.0))
            } else {
                Some(0.0)
            };
            (t, p)
        };
        let mut tables = Vec::with_capacity(k);
        for (c, con) in contrasts.contrasts().iter().enumerate() {
            let pvals: Vec<Option<f64>> = match treat_lfc {
                None => (0..g).map(|i| opt(pv[i * k + c])).collect(),
                Some(lfc) => (0..g).map(|i| treat_tp(i * k + c, i, lfc).1).collect(),
            };
            let adj = p_adjust(&pvals, options.adjust);
            let rows = (0..g)
                .map(|i| {
                    let idx = i * k + c;
                    let lfc = opt(eb.coefficients[idx]);
                    ContrastRow {
                        feature_id: self.feature_ids[i].clone(),
                        name: self.names[i].clone(),
                        n_obs: self.n_obs[i],
                        log_fc: lfc,
                        ave_expr: self.amean[i],
                        t: match treat_lfc {
                            None => lfc.and(opt(t[idx])),
                            Some(l) => lfc.and(treat_tp(idx, i, l).0),
                        },
                        p_value: lfc.and(pvals[i]),
                        adj_p_value: lfc.and(adj[i]),
                        b: if treat_lfc.is_some() {
                            None
                        } else {
                            lfc.and(opt(lods[idx]))
                        },
                    }
                })
                .collect();
            tables.push(ContrastTable {
                contrast: con.name.clone(),
                expression: con.expression.clone(),
                rows,
            });
        }

        let f_table = match (&eb.f_stat, &eb.f_p_value) {
            (Some(f), Some(fp)) if k > 1 && treat_lfc.is_none() => {
                let fpv: Vec<Option<f64>> = fp.iter().map(|&v| opt(v)).collect();
                let adj = p_adjust(&fpv, options.adjust);
                Some(FTable {
                    contrasts: contrasts
                        .contrasts()
                        .iter()
                        .map(|c| c.name.clone())
                        .collect(),
                    rows: (0..g)
                        .map(|i| FRow {
                            feature_id: self.feature_ids[i].clone(),
                            name: self.names[i].clone(),
                            n_obs: self.n_obs[i],
                            log_fc: eb.coefficients[i * k..(i + 1) * k]
                                .iter()
                                .map(|&v| opt(v))
                                .collect(),
                            ave_expr: self.amean[i],
                            f: opt(f[i]),
                            p_value: fpv[i],
                            adj_p_value: adj[i],
                        })
                        .collect(),
                })
            }
            _ => None,
        };

        let fit = FitTable {
            rows: (0..g)
                .map(|i| {
                    let df = eb.df_residual[i];
                    FitRow {
                        feature_id: self.feature_ids[i].clone(),
                        name: self.names[i].clone(),
                        n_obs: self.n_obs[i],
                        amean: self.amean[i],
                        // limma reports sigma as NA when there is no residual df
                        sigma: if df > 0.0 { opt(eb.sigma[i]) } else { None },
                        df_residual: df,
                        s2_prior: opt(rec(s2_prior, i)),
                        df_prior: rec(df_prior, i),
                        s2_post: opt(s2_post[i]),
                        df_total: df_total[i],
                    }
                })
                .collect(),
        };

        Ok(LimmaResult {
            settings: LimmaSettings {
                engine: ENGINE.to_string(),
                layer: self.layer.clone(),
                formula: self.design.formula().to_string(),
                coefficients: self.design.coef_names().to_vec(),
                contrasts: contrasts
                    .contrasts()
                    .iter()
                    .map(|c| (c.name.clone(), c.expression.clone()))
                    .collect(),
                n_samples: self.design.n_samples(),
                dropped_samples: self
                    .design
                    .dropped()
                    .iter()
                    .map(|d| d.sample_id.clone())
                    .collect(),
                weighted: self.weighted,
                block: self.block.as_ref().map(|(n, _)| n.clone()),
                block_correlation: self.block.as_ref().map(|(_, r)| *r),
                options: *options,
                legacy_applied,
                treat_lfc,
            },
            tables,
            f_table,
            fit,
            excluded: self.excluded.clone(),
        })
    }
}

/// One row of a per-contrast table (limma `topTable(coef=, sort.by="none")` plus id, name, n_obs).
/// `None` is R's `NA` (a contrast the feature's observations cannot estimate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContrastRow {
    /// Feature id.
    pub feature_id: String,
    /// Display name (annotation `name` or `gene`).
    pub name: Option<String>,
    /// Observations the feature's fit used.
    pub n_obs: usize,
    /// Estimated contrast (`logFC`).
    pub log_fc: Option<f64>,
    /// Mean of the feature's observed values (`AveExpr`).
    pub ave_expr: Option<f64>,
    /// Moderated t (`t`).
    pub t: Option<f64>,
    /// Two-sided p-value (`P.Value`).
    pub p_value: Option<f64>,
    /// Adjusted p-value within the contrast (`adj.P.Val`).
    pub adj_p_value: Option<f64>,
    /// Log-odds of differential abundance (`B`).
    pub b: Option<f64>,
}

/// All features for one contrast, in layer order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContrastTable {
    /// Contrast name.
    pub contrast: String,
    /// Contrast expression.
    pub expression: String,
    /// One row per feature.
    pub rows: Vec<ContrastRow>,
}

/// One row of the moderated F table (limma `topTable(coef=NULL)`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FRow {
    /// Feature id.
    pub feature_id: String,
    /// Display name.
    pub name: Option<String>,
    /// Observations used.
    pub n_obs: usize,
    /// Estimated contrasts, in [`FTable::contrasts`] order.
    pub log_fc: Vec<Option<f64>>,
    /// Mean of the observed values.
    pub ave_expr: Option<f64>,
    /// Moderated F over all contrasts.
    pub f: Option<f64>,
    /// Its p-value.
    pub p_value: Option<f64>,
    /// Adjusted p-value.
    pub adj_p_value: Option<f64>,
}

/// Moderated F over several contrasts, one row per feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FTable {
    /// Contrast names (the `log_fc` columns).
    pub contrasts: Vec<String>,
    /// One row per feature.
    pub rows: Vec<FRow>,
}

/// One feature's fit and moderation quantities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitRow {
    /// Feature id.
    pub feature_id: String,
    /// Display name.
    pub name: Option<String>,
    /// Observations used.
    pub n_obs: usize,
    /// `Amean`.
    pub amean: Option<f64>,
    /// Residual standard deviation (`sigma`; `None` without residual df).
    pub sigma: Option<f64>,
    /// `df.residual`.
    pub df_residual: f64,
    /// Prior variance (`s2.prior`; per feature with `trend`).
    pub s2_prior: Option<f64>,
    /// Prior df (`df.prior`; per feature with `robust`). Infinite when the features' variances
    /// are more alike than sampling alone would make them (homoscedastic data; R gives `Inf`
    /// too): then every posterior variance is the prior. Serialized as the string `"Inf"`.
    #[serde(with = "evomics_core::vocab::nonfinite")]
    pub df_prior: f64,
    /// Posterior variance (`s2.post`).
    pub s2_post: Option<f64>,
    /// `df.total` (residual plus prior df, capped at the pooled residual df as limma does).
    #[serde(with = "evomics_core::vocab::nonfinite")]
    pub df_total: f64,
}

/// Fit and moderation quantities for every feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitTable {
    /// One row per feature, in layer order.
    pub rows: Vec<FitRow>,
}

/// Everything needed to state in a manifest how a limma result was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimmaSettings {
    /// Numerical engine ([`ENGINE`]).
    pub engine: String,
    /// Layer name.
    pub layer: String,
    /// Design formula.
    pub formula: String,
    /// Design coefficient names.
    pub coefficients: Vec<String>,
    /// (name, expression) of each contrast.
    pub contrasts: Vec<(String, String)>,
    /// Samples in the design.
    pub n_samples: usize,
    /// Samples dropped for missing covariates.
    pub dropped_samples: Vec<String>,
    /// Whether observation weights (voom) were used.
    pub weighted: bool,
    /// Blocking variable, if any.
    pub block: Option<String>,
    /// Within-block correlation used, if blocking.
    pub block_correlation: Option<f64>,
    /// The eBayes options as requested (including `legacy`).
    pub options: EbayesOptions,
    /// Whether the legacy prior estimator was used (`options.legacy` resolved on this data).
    pub legacy_applied: bool,
    /// The fold-change threshold (log2) of a `treat` result; `None` for `eBayes`.
    #[serde(default)]
    pub treat_lfc: Option<f64>,
}

/// The result of [`LmFit::moderate`] (or [`LmFit::treat`]): per-contrast tables, the F table
/// (several contrasts on a full-rank design; not for `treat`), the fit table and the settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimmaResult {
    /// How the result was made.
    pub settings: LimmaSettings,
    /// One table per contrast, in contrast order.
    pub tables: Vec<ContrastTable>,
    /// Moderated F table, when there are at least two contrasts.
    pub f_table: Option<FTable>,
    /// sigma, df.residual, s2.prior, df.prior, s2.post, df.total per feature.
    pub fit: FitTable,
    /// Features not tested (constant up to rounding), with the reason; their rows are `None`.
    #[serde(default)]
    pub excluded: Vec<ExcludedFeature>,
}

impl LimmaResult {
    /// The table of a contrast by name.
    pub fn table(&self, contrast: &str) -> Option<&ContrastTable> {
        self.tables.iter().find(|t| t.contrast == contrast)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evomics_core::{Features, LayerKind, ValueScale};

    fn assay(rows: &[&[Option<f64>]]) -> Assay {
        let g = rows.len();
        let n = rows[0].len();
        let cells = Array2::from_shape_fn((g, n), |(i, j)| rows[i][j]);
        Assay::from_options(
            "prot",
            LayerKind::Proteome,
            ValueScale::Log2,
            Features::new((0..g).map(|i| format!("P{i}")).collect()).unwrap(),
            (0..n).map(|j| format!("s{j}")).collect(),
            &cells,
        )
        .unwrap()
    }

    fn two_groups(n: usize) -> Design {
        let m = Array2::from_shape_fn((n, 2), |(i, j)| {
            f64::from(u8::from((i < n / 2) == (j == 0)))
        });
        Design::from_matrix(
            (0..n).map(|j| format!("s{j}")).collect(),
            m,
            vec!["a".into(), "b".into()],
        )
        .unwrap()
    }

    #[test]
    fn legacy_rule() {
        assert!(Legacy::Auto.resolve(&[4.0, 4.0, 0.0]));
        assert!(!Legacy::Auto.resolve(&[4.0, 3.0]));
        assert!(!Legacy::Auto.resolve(&[0.0]));
        assert!(Legacy::True.resolve(&[1.0, 2.0]));
        assert!(!Legacy::False.resolve(&[2.0, 2.0]));
        for l in [Legacy::Auto, Legacy::True, Legacy::False] {
            assert_eq!(Legacy::parse(l.name()).unwrap(), l);
        }
        assert!(Legacy::parse("maybe").is_err());
    }

    #[test]
    fn options_are_validated() {
        let mut o = EbayesOptions::default();
        assert!(o.validate().is_ok());
        o.proportion = 1.0;
        assert!(o.validate().is_err());
        let o = EbayesOptions {
            winsor_tail_p: (0.5, 0.1),
            ..Default::default()
        };
        assert!(o.validate().is_err());
    }

    #[test]
    fn measured_fit_equals_the_fit_with_imputed_cells_missing() {
        let v = |x: f64| Some(x);
        let a = assay(&[
            &[v(1.0), v(1.2), v(0.9), v(2.0), v(2.1), v(1.8)],
            &[v(3.0), v(3.3), v(2.9), v(3.6), v(3.1), v(3.9)],
            &[v(5.0), v(5.2), v(4.7), v(5.1), v(4.6), v(5.3)],
            &[v(0.5), v(0.4), v(0.7), v(1.9), v(1.5), v(1.2)],
        ]);
        let imputed = [(0, 1), (1, 3), (1, 4), (3, 5)];
        let mut flags = a.flags().clone();
        let mut missing_values = a.values().clone();
        let mut missing_flags = a.flags().clone();
        for &(i, j) in &imputed {
            flags[[i, j]] = ValueFlag::Imputed;
            missing_values[[i, j]] = f64::NAN;
            missing_flags[[i, j]] = ValueFlag::Missing;
        }
        let with_imputed = a
            .with_matrices(a.values().clone(), flags, a.scale())
            .unwrap();
        let without = a
            .with_matrices(missing_values, missing_flags, a.scale())
            .unwrap();
        let d = two_groups(6);
        let c = Contrasts::parse(&d, &["b - a"]).unwrap();
        let o = EbayesOptions::default();
        let measured = lm_fit_measured(&with_imputed, &d, None, None).unwrap();
        let reference = lm_fit(&without, &d, None, None).unwrap();
        assert_eq!(measured.n_obs, reference.n_obs);
        assert_eq!(measured.n_obs[1], 4);
        assert_eq!(measured.amean, reference.amean);
        assert_eq!(
            measured.moderate(&c, &o).unwrap(),
            reference.moderate(&c, &o).unwrap()
        );
        // Fitting the imputed cells is a different fit.
        let all = lm_fit(&with_imputed, &d, None, None).unwrap();
        assert_eq!(all.n_obs[1], 6);
        assert_ne!(all.amean, reference.amean);
    }

    #[test]
    fn unestimable_contrast_is_none_and_row_is_kept() {
        let v = |x: f64| Some(x);
        let a = assay(&[
            &[v(1.0), v(1.2), v(0.9), v(2.0), v(2.1), v(1.8)],
            &[v(3.0), v(3.3), v(2.9), None, None, None],
            &[v(5.0), v(5.2), v(4.7), v(5.1), v(4.6), v(5.3)],
            &[v(0.5), None, v(0.7), v(1.9), v(1.5), None],
        ]);
        let d = two_groups(6);
        let fit = lm_fit(&a, &d, None, None).unwrap();
        let coef = fit.coefficients();
        assert_eq!(coef.rows[1].coefficients[1], None);
        assert!((coef.rows[1].coefficients[0].unwrap() - 3.0666666666666664).abs() < 1e-12);
        assert_eq!(coef.rows[3].n_obs, 4);
        let c = Contrasts::parse(&d, &["b - a"]).unwrap();
        let r = fit.moderate(&c, &EbayesOptions::default()).unwrap();
        let t = &r.tables[0];
        assert_eq!(t.rows.len(), 4);
        assert_eq!(t.rows[1].log_fc, None);
        assert_eq!(t.rows[1].p_value, None);
        assert_eq!(t.rows[1].adj_p_value, None);
        assert!(t.rows[1].ave_expr.is_some());
        assert!((t.rows[0].log_fc.unwrap() - (5.9 / 3.0 - 3.1 / 3.0)).abs() < 1e-12);
        // unequal df: Auto resolves to the current (non-legacy) estimator
        assert!(!r.settings.legacy_applied);
        assert!(r.f_table.is_none());
        assert_eq!(r.fit.rows[3].df_residual, 2.0);
    }

    #[test]
    fn contrast_on_an_aliased_coefficient_is_named() {
        let a = assay(&[
            &[
                Some(1.0),
                Some(1.2),
                Some(0.9),
                Some(2.0),
                Some(2.1),
                Some(1.8),
            ],
            &[
                Some(3.0),
                Some(3.3),
                Some(2.9),
                Some(3.1),
                Some(3.4),
                Some(2.8),
            ],
        ]);
        // Column 'c' repeats column 'b': the design has rank 2 for 3 coefficients.
        let m = Array2::from_shape_fn((6, 3), |(i, j)| match j {
            0 => 1.0,
            _ => f64::from(u8::from(i >= 3)),
        });
        let names = vec!["a".to_string(), "b".into(), "c".into()];
        let d = Design::from_matrix((0..6).map(|j| format!("s{j}")).collect(), m, names).unwrap();
        let fit = lm_fit(&a, &d, None, None).unwrap();
        let c = Contrasts::coefficients(&d);
        let e = fit
            .moderate(&c, &EbayesOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not of full rank (rank 2 for 3 coefficients)")
                && e.contains("'c' cannot be estimated")
                && e.contains("contrast 'c' uses 'c'"),
            "{e}"
        );
    }

    #[test]
    fn feature_without_values_is_kept_under_every_variant() {
        let v = |x: f64| Some(x);
        let a = assay(&[
            &[v(1.0), v(1.2), v(0.9), v(2.0), v(2.1), v(1.8)],
            &[None, None, None, None, None, None],
            &[v(5.0), v(5.2), v(4.7), v(5.1), v(4.6), v(5.3)],
            &[v(3.0), v(3.4), v(2.7), v(3.9), v(3.6), v(3.1)],
            &[v(7.0), v(7.3), v(7.1), v(7.0), v(6.8), v(7.4)],
        ]);
        let d = two_groups(6);
        let fit = lm_fit(&a, &d, None, None).unwrap();
        let c = Contrasts::parse(&d, &["b - a"]).unwrap();
        for (trend, robust) in [(false, false), (true, false), (false, true), (true, true)] {
            let o = EbayesOptions {
                trend,
                robust,
                ..Default::default()
            };
            let r = fit.moderate(&c, &o).unwrap();
            let row = &r.tables[0].rows[1];
            assert_eq!(
                (row.n_obs, row.log_fc, row.ave_expr, row.p_value),
                (0, None, None, None)
            );
            assert_eq!(r.fit.rows[1].sigma, None);
            assert_eq!(r.fit.rows[1].df_residual, 0.0);
            assert!(r.tables[0].rows[0].p_value.is_some());
        }
    }

    /// Features with the same residuals (homoscedastic): limma's df.prior is Inf, kept as
    /// infinity, through serialization too, and every posterior variance is the prior.
    #[test]
    fn infinite_prior_df_is_representable() {
        let noise = [0.3, -0.1, -0.2, 0.25, -0.05, -0.2];
        let rows: Vec<Vec<Option<f64>>> = (0..6)
            .map(|i| {
                (0..6)
                    .map(|j| {
                        Some(10.0 + i as f64 + if j >= 3 { 0.4 * i as f64 } else { 0.0 } + noise[j])
                    })
                    .collect()
            })
            .collect();
        let refs: Vec<&[Option<f64>]> = rows.iter().map(|r| r.as_slice()).collect();
        let a = assay(&refs);
        let d = two_groups(6);
        let fit = lm_fit(&a, &d, None, None).unwrap();
        let c = Contrasts::parse(&d, &["b - a"]).unwrap();
        let r = fit.moderate(&c, &EbayesOptions::default()).unwrap();
        let row = &r.fit.rows[0];
        assert_eq!(row.df_prior, f64::INFINITY);
        assert_eq!(row.s2_post, row.s2_prior);
        assert!(row.df_total.is_finite());
        let json = serde_json::to_string(&r.fit).unwrap();
        assert!(json.contains("\"df_prior\":\"Inf\""), "{json}");
        let back: FitTable = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r.fit);
        assert!(r.tables[0].rows.iter().all(|x| x.p_value.is_some()));
    }

    #[test]
    fn block_needs_every_label() {
        let d = two_groups(4);
        let mk = |donor: Vec<Option<String>>| {
            SampleSheet::from_text_columns(
                (0..4).map(|j| format!("s{j}")).collect(),
                vec![("donor_id".into(), donor)],
            )
            .unwrap()
        };
        let some = |s: &str| Some(s.to_string());
        let ok = mk(vec![some("d1"), some("d1"), some("d2"), some("d2")]);
        let b = Block::from_sheet(&ok, "donor_id", &d).unwrap();
        assert_eq!(b.codes(), vec![0, 0, 1, 1]);
        let gap = mk(vec![some("d1"), None, some("d2"), some("d2")]);
        let e = Block::from_sheet(&gap, "donor_id", &d)
            .unwrap_err()
            .to_string();
        assert!(e.contains("'s1'") && e.contains("donor_id"), "{e}");
        assert!(Block::from_sheet(&ok, "donor", &d).is_err());
        let bad = Block {
            correlation: Some(1.0),
            ..b
        };
        assert!(check_block(&bad, &d).is_err());
    }

    #[test]
    fn design_sample_missing_from_layer_is_an_error() {
        let v = |x: f64| Some(x);
        let a = assay(&[&[v(1.0), v(2.0), v(3.0), v(4.0)]]);
        let d = two_groups(6);
        let e = lm_fit(&a, &d, None, None).unwrap_err();
        assert!(matches!(e, StatsError::SampleNotInLayer { .. }), "{e}");
    }

    #[test]
    fn weights_with_wrong_shape_are_rejected() {
        let v = |x: f64| Some(x);
        let a = assay(&[
            &[v(1.0), v(2.0), v(3.0), v(4.0)],
            &[v(1.0), v(2.5), v(3.0), v(4.5)],
        ]);
        let d = two_groups(4);
        let w = Array2::ones((1, 4));
        assert!(lm_fit(&a, &d, Some(&w), None).is_err());
        let mut w = Array2::ones((2, 4));
        w[[0, 0]] = -1.0;
        assert!(lm_fit(&a, &d, Some(&w), None).is_err());
    }
}
