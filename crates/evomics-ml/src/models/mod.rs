//! Supervised models: elastic-net generalized linear models, random forests, k-nearest
//! neighbours and PLS regression, behind one [`ModelSpec`] → [`FittedModel`] interface.
//!
//! Every model takes a complete samples × features matrix (see [`crate::matrix`]) and a
//! [`Labels`] target; parameters are validated before data are read; fitted models are serde
//! data (saved inside model files) and predict class probabilities or numbers.

pub mod binning;
pub mod boosting;
pub mod enet;
pub mod forest;
pub mod knn;
pub mod pls;
pub mod svm;

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::error::{data_err, Result};
use crate::matrix::check_matrix;

pub use boosting::{Boosting, BoostingLoss, BoostingParams};
pub use enet::{ElasticNet, ElasticNetParams};
pub use forest::{Forest, ForestParams, MaxFeatures, PreparedForest, Splitter};
pub use knn::{Knn, KnnParams, KnnWeights};
pub use pls::{Pls, PlsParams};
pub use svm::{LinearSvm, SvmParams};

/// The target of a supervised model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Labels {
    /// Class indices `0..n_classes` (two classes: binary, more: multiclass).
    Classes {
        /// Class index of every sample.
        y: Vec<usize>,
        /// Number of classes.
        n_classes: usize,
    },
    /// Numeric values.
    Numeric {
        /// Value of every sample.
        y: Vec<f64>,
    },
}

impl Labels {
    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Labels::Classes { y, .. } => y.len(),
            Labels::Numeric { y } => y.len(),
        }
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The labels of the given samples, in the given order.
    pub fn select(&self, rows: &[usize]) -> Labels {
        match self {
            Labels::Classes { y, n_classes } => Labels::Classes {
                y: rows.iter().map(|&i| y[i]).collect(),
                n_classes: *n_classes,
            },
            Labels::Numeric { y } => Labels::Numeric {
                y: rows.iter().map(|&i| y[i]).collect(),
            },
        }
    }

    /// True for a class target.
    pub fn is_classification(&self) -> bool {
        matches!(self, Labels::Classes { .. })
    }
}

/// What a model predicts for a set of samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Output {
    /// Class probabilities, samples × classes (rows sum to 1).
    Probabilities {
        /// The probabilities.
        p: Array2<f64>,
    },
    /// Predicted numbers.
    Values {
        /// One value per sample.
        y: Vec<f64>,
    },
}

impl Output {
    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Output::Probabilities { p } => p.nrows(),
            Output::Values { y } => y.len(),
        }
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A model and its parameters, selected by `model` in a config.
///
/// ```toml
/// model = { model = "elastic_net", alpha = 0.0, lambda = 0.004 }
/// model = { model = "random_forest", n_trees = 500, seed = 7 }
/// model = { model = "knn", k = 7 }
/// model = { model = "pls", n_components = 3 }
/// model = { model = "linear_svm", c = 0.1 }
/// model = { model = "gradient_boosting", learning_rate = 0.05, max_leaf_nodes = 15 }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum ModelSpec {
    /// Elastic-net logistic, multinomial or Gaussian regression (glmnet).
    ElasticNet(ElasticNetParams),
    /// Random forest classifier or regressor.
    RandomForest(ForestParams),
    /// k-nearest neighbours.
    Knn(KnnParams),
    /// PLS regression (numeric targets).
    Pls(PlsParams),
    /// Linear SVM (squared hinge, L2) with Platt-scaled probabilities (class targets).
    LinearSvm(SvmParams),
    /// Gradient boosting on histogram-binned features (classes and numbers).
    GradientBoosting(BoostingParams),
}

impl ModelSpec {
    /// Stable model name.
    pub fn name(&self) -> &'static str {
        match self {
            ModelSpec::ElasticNet(_) => "elastic_net",
            ModelSpec::RandomForest(_) => "random_forest",
            ModelSpec::Knn(_) => "knn",
            ModelSpec::Pls(_) => "pls",
            ModelSpec::LinearSvm(_) => "linear_svm",
            ModelSpec::GradientBoosting(_) => "gradient_boosting",
        }
    }

    /// Check the parameters alone.
    pub fn validate(&self) -> Result<()> {
        match self {
            ModelSpec::ElasticNet(p) => p.validate(),
            ModelSpec::RandomForest(p) => p.validate(),
            ModelSpec::Knn(p) => p.validate(),
            ModelSpec::Pls(p) => p.validate(),
            ModelSpec::LinearSvm(p) => p.validate(),
            ModelSpec::GradientBoosting(p) => p.validate(),
        }
    }

    /// Check that the model can learn this kind of target.
    pub fn check_target(&self, labels: &Labels) -> Result<()> {
        if let (ModelSpec::Pls(_), Labels::Classes { .. }) = (self, labels) {
            return Err(data_err(
                "pls",
                "PLS regression needs a numeric target; for a class target use elastic_net, random_forest, linear_svm or knn",
            ));
        }
        if let (ModelSpec::LinearSvm(_), Labels::Numeric { .. }) = (self, labels) {
            return Err(data_err(
                "linear_svm",
                "a linear SVM needs a class target; for a numeric target use elastic_net, random_forest or pls",
            ));
        }
        Ok(())
    }

    /// The same model with a different seed (random forests, the SVM's Platt folds, boosting's
    /// early-stopping split; other models are deterministic).
    pub fn with_seed(&self, seed: u64) -> ModelSpec {
        match self {
            ModelSpec::RandomForest(p) => {
                ModelSpec::RandomForest(ForestParams { seed, ..p.clone() })
            }
            ModelSpec::LinearSvm(p) => ModelSpec::LinearSvm(SvmParams { seed, ..p.clone() }),
            ModelSpec::GradientBoosting(p) => {
                ModelSpec::GradientBoosting(BoostingParams { seed, ..p.clone() })
            }
            other => other.clone(),
        }
    }

    /// Fit on a complete samples × features matrix.
    pub fn fit(&self, x: ArrayView2<f64>, labels: &Labels) -> Result<FittedModel> {
        self.check_fit_input(x, labels)?;
        Ok(match self {
            ModelSpec::ElasticNet(p) => FittedModel::ElasticNet(p.fit(x, labels)?),
            ModelSpec::RandomForest(p) => FittedModel::RandomForest(p.fit(x, labels)?),
            ModelSpec::Knn(p) => FittedModel::Knn(p.fit(x, labels)?),
            ModelSpec::Pls(p) => FittedModel::Pls(p.fit(x, labels)?),
            ModelSpec::LinearSvm(p) => FittedModel::LinearSvm(p.fit(x, labels)?),
            ModelSpec::GradientBoosting(p) => FittedModel::GradientBoosting(p.fit(x, labels)?),
        })
    }

    /// [`ModelSpec::fit`] up to the point where the model stops reading `x`: the random
    /// forest bins its features and grows its trees in [`PreparedFit::finish`], so the caller
    /// can drop the matrix before the longest part of the fit; every other model is fitted
    /// here. The finished model is the one [`ModelSpec::fit`] returns, bit for bit.
    pub fn prepare(&self, x: ArrayView2<f64>, labels: &Labels) -> Result<PreparedFit> {
        match self {
            ModelSpec::RandomForest(p) => {
                self.check_fit_input(x, labels)?;
                Ok(PreparedFit::Forest(p.prepare(x, labels)?))
            }
            _ => Ok(PreparedFit::Fitted(self.fit(x, labels)?)),
        }
    }

    /// Whether the model works on the matrix [`ModelSpec::fit_owned`] hands it instead of a
    /// copy (the elastic net standardizes it in place).
    pub fn uses_owned_matrix(&self) -> bool {
        matches!(self, ModelSpec::ElasticNet(_))
    }

    /// [`ModelSpec::fit`] on a matrix the caller no longer needs (same fitted model, bit for
    /// bit): the elastic net works on it ([`ModelSpec::uses_owned_matrix`]), the random forest
    /// frees it before growing its trees ([`ModelSpec::prepare`]).
    pub fn fit_owned(&self, x: Array2<f64>, labels: &Labels) -> Result<FittedModel> {
        match self {
            ModelSpec::ElasticNet(p) => {
                self.check_fit_input(x.view(), labels)?;
                Ok(FittedModel::ElasticNet(p.fit_owned(x, labels)?))
            }
            ModelSpec::RandomForest(_) => {
                let prepared = self.prepare(x.view(), labels)?;
                drop(x);
                prepared.finish()
            }
            _ => self.fit(x.view(), labels),
        }
    }

    fn check_fit_input(&self, x: ArrayView2<f64>, labels: &Labels) -> Result<()> {
        self.validate()?;
        self.check_target(labels)?;
        check_matrix(x, self.name(), 2)?;
        if x.nrows() != labels.len() {
            return Err(data_err(
                self.name(),
                format!(
                    "{} samples in the matrix but {} labels",
                    x.nrows(),
                    labels.len()
                ),
            ));
        }
        Ok(())
    }
}

/// A fit that no longer needs its training matrix ([`ModelSpec::prepare`]).
pub enum PreparedFit {
    /// Fitted already.
    Fitted(FittedModel),
    /// A random forest whose features are binned and whose trees are not grown yet.
    Forest(PreparedForest),
}

impl PreparedFit {
    /// The fitted model.
    pub fn finish(self) -> Result<FittedModel> {
        match self {
            PreparedFit::Fitted(m) => Ok(m),
            PreparedFit::Forest(f) => Ok(FittedModel::RandomForest(f.grow()?)),
        }
    }
}

/// A fitted model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum FittedModel {
    /// Elastic net.
    ElasticNet(ElasticNet),
    /// Random forest.
    RandomForest(Forest),
    /// k-nearest neighbours.
    Knn(Knn),
    /// PLS regression.
    Pls(Pls),
    /// Linear SVM.
    LinearSvm(LinearSvm),
    /// Gradient boosting.
    GradientBoosting(Boosting),
}

impl FittedModel {
    /// Number of input features.
    pub fn n_features(&self) -> usize {
        match self {
            FittedModel::ElasticNet(m) => m.n_features(),
            FittedModel::RandomForest(m) => m.n_features,
            FittedModel::Knn(m) => m.x.ncols(),
            FittedModel::Pls(m) => m.coefficients.len(),
            FittedModel::LinearSvm(m) => m.n_features(),
            FittedModel::GradientBoosting(m) => m.n_features,
        }
    }

    /// Predict for new samples (same features, same order).
    pub fn predict(&self, x: ArrayView2<f64>) -> Result<Output> {
        if x.ncols() != self.n_features() {
            return Err(data_err(
                "predict",
                format!(
                    "new data have {} features; the model was fitted on {}",
                    x.ncols(),
                    self.n_features()
                ),
            ));
        }
        check_matrix(x, "predict", 0)?;
        Ok(match self {
            FittedModel::ElasticNet(m) => m.predict(x),
            FittedModel::RandomForest(m) => m.predict(x),
            FittedModel::Knn(m) => m.predict(x),
            FittedModel::Pls(m) => m.predict(x),
            FittedModel::LinearSvm(m) => m.predict(x),
            FittedModel::GradientBoosting(m) => m.predict(x),
        })
    }

    /// Check that the parts of a fitted model read from a file fit each other and a target of
    /// `n_classes` classes (0 for a numeric target): matrix shapes, one output per class, tree
    /// nodes that point inside their tree (children after their parent, so a walk ends) and
    /// split features that exist. Returns what does not fit; a model fitted by evomics always
    /// passes, so a failure means the file was edited or damaged.
    pub fn check_shapes(&self, n_classes: usize) -> std::result::Result<(), String> {
        let p = self.n_features();
        let want = |ok: bool, what: String| if ok { Ok(()) } else { Err(what) };
        match self {
            FittedModel::ElasticNet(m) => {
                let outputs = m.coefficients.ncols();
                want(
                    m.std_coefficients.dim() == m.coefficients.dim(),
                    "elastic net: standardized and original coefficients differ in shape".into(),
                )?;
                want(
                    m.intercepts.len() == outputs,
                    format!(
                        "elastic net: {} intercepts for {outputs} coefficient columns",
                        m.intercepts.len()
                    ),
                )?;
                let expected = match m.family {
                    enet::Family::Gaussian => (n_classes == 0).then_some(1),
                    enet::Family::Binomial => (n_classes == 2).then_some(1),
                    enet::Family::Multinomial => (n_classes > 2).then_some(n_classes),
                };
                want(
                    expected == Some(outputs),
                    format!("elastic net ({:?}): {outputs} coefficient column(s) for {n_classes} class(es)", m.family),
                )
            }
            FittedModel::RandomForest(m) => {
                want(
                    m.n_classes == n_classes,
                    format!("random forest: fitted for {} classes, the model lists {n_classes} class(es)", m.n_classes),
                )?;
                want(!m.trees.is_empty(), "random forest: no trees".into())?;
                want(
                    m.importance.len() == p,
                    format!(
                        "random forest: {} importances for {p} features",
                        m.importance.len()
                    ),
                )?;
                m.trees.iter().enumerate().try_for_each(|(t, tree)| {
                    tree.check(p, n_classes.max(1))
                        .map_err(|e| format!("random forest tree {t}: {e}"))
                })
            }
            FittedModel::Knn(m) => {
                match &m.labels {
                    Labels::Classes { y, n_classes: k } => {
                        want(*k == n_classes, format!("k-NN: fitted for {k} classes, the model lists {n_classes} class(es)"))?;
                        want(
                            y.len() == m.x.nrows(),
                            format!("k-NN: {} labels for {} training rows", y.len(), m.x.nrows()),
                        )?;
                        want(
                            y.iter().all(|c| c < k),
                            "k-NN: a label names a class that does not exist".into(),
                        )
                    }
                    Labels::Numeric { y } => {
                        want(
                            n_classes == 0,
                            format!(
                                "k-NN: fitted on numbers, the model lists {n_classes} class(es)"
                            ),
                        )?;
                        want(
                            y.len() == m.x.nrows(),
                            format!("k-NN: {} labels for {} training rows", y.len(), m.x.nrows()),
                        )
                    }
                }
            }
            FittedModel::Pls(m) => {
                want(
                    n_classes == 0,
                    format!("PLS: a regression model, the model lists {n_classes} class(es)"),
                )?;
                want(
                    m.standardizer.mean.len() == p
                        && (m.standardizer.scale.is_empty() || m.standardizer.scale.len() == p),
                    format!(
                        "PLS: the standardizer has {} means for {p} coefficients",
                        m.standardizer.mean.len()
                    ),
                )
            }
            FittedModel::LinearSvm(m) => {
                want(
                    m.n_classes == n_classes && n_classes >= 2,
                    format!(
                        "linear SVM: fitted for {} classes, the model lists {n_classes} class(es)",
                        m.n_classes
                    ),
                )?;
                let outputs = if n_classes == 2 { 1 } else { n_classes };
                want(
                    m.weights.ncols() == outputs && m.intercepts.len() == outputs && m.platt.len() == outputs,
                    format!(
                        "linear SVM: {} weight columns, {} intercepts and {} Platt scalings for {n_classes} classes (expected {outputs} each)",
                        m.weights.ncols(),
                        m.intercepts.len(),
                        m.platt.len()
                    ),
                )
            }
            FittedModel::GradientBoosting(m) => {
                let outputs = match m.loss {
                    BoostingLoss::SquaredError => (n_classes == 0).then_some(1),
                    BoostingLoss::LogLoss => (n_classes == 2).then_some(1),
                    BoostingLoss::Softmax => (n_classes > 2).then_some(n_classes),
                };
                let Some(outputs) = outputs else {
                    return Err(format!(
                        "gradient boosting ({:?}): does not fit {n_classes} class(es)",
                        m.loss
                    ));
                };
                want(
                    m.n_classes == n_classes && m.baseline.len() == outputs && m.trees.len() % outputs == 0,
                    format!(
                        "gradient boosting: {} baseline value(s) and {} trees for {n_classes} class(es)",
                        m.baseline.len(),
                        m.trees.len()
                    ),
                )?;
                want(
                    m.importance.len() == p,
                    format!(
                        "gradient boosting: {} importances for {p} features",
                        m.importance.len()
                    ),
                )?;
                m.trees.iter().enumerate().try_for_each(|(t, tree)| {
                    tree.check(p, 1)
                        .map_err(|e| format!("gradient boosting tree {t}: {e}"))
                })
            }
        }
    }

    /// Built-in importance of every feature, when the model has one: |standardized coefficient|
    /// (the largest over classes for multinomial models), mean decrease in impurity for forests,
    /// |regression coefficient on the scaled features| for PLS, |weight| for the linear SVM
    /// (largest over one-vs-rest models), normalized total split gain for boosting; None for
    /// k-NN.
    pub fn builtin_importance(&self) -> Option<Vec<f64>> {
        match self {
            FittedModel::ElasticNet(m) => Some(m.importance()),
            FittedModel::RandomForest(m) => Some(m.importance.clone()),
            FittedModel::Knn(_) => None,
            FittedModel::Pls(m) => Some(m.scaled_coefficients().iter().map(|v| v.abs()).collect()),
            FittedModel::LinearSvm(m) => Some(m.importance()),
            FittedModel::GradientBoosting(m) => Some(m.importance.clone()),
        }
    }
}
