//! k-nearest neighbours (Cover & Hart 1967, *IEEE Trans Inf Theory* 13:21) for classes and
//! numbers, with Euclidean distances on the (preprocessed) features.
//!
//! Neighbours are the k training samples at the smallest distance (ties broken by training
//! order). Class probabilities are the (optionally inverse-distance weighted) vote shares; a
//! numeric prediction is the (weighted) neighbour mean. With distance weights a neighbour at
//! distance 0 takes all the weight (shared equally among such neighbours), as scikit-learn.

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::error::{data_err, ensure, Result};
use crate::matrix::sq_dist;
use crate::models::{Labels, Output};

/// Neighbour weighting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum KnnWeights {
    /// Every neighbour counts the same.
    #[default]
    Uniform,
    /// Weight 1/distance.
    Distance,
}

/// k-NN parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnnParams {
    /// Number of neighbours, ≥ 1 (default 5).
    pub k: usize,
    /// Weighting (default uniform).
    pub weights: KnnWeights,
}

impl Default for KnnParams {
    fn default() -> Self {
        KnnParams {
            k: 5,
            weights: KnnWeights::Uniform,
        }
    }
}

crate::param_guard!(KnnParams);

/// A fitted k-NN model: the training samples themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Knn {
    /// Parameters.
    pub params: KnnParams,
    /// Training matrix, samples × features.
    pub x: Array2<f64>,
    /// Training labels.
    pub labels: Labels,
}

impl KnnParams {
    /// Check the parameters alone.
    pub fn validate(&self) -> Result<()> {
        ensure(self.k >= 1, "knn", "k", || {
            "is 0; use at least 1 neighbour".into()
        })
    }

    /// Keep the training data.
    pub fn fit(&self, x: ArrayView2<f64>, labels: &Labels) -> Result<Knn> {
        self.validate()?;
        if self.k > x.nrows() {
            return Err(data_err(
                "knn",
                format!(
                    "k = {} neighbours but only {} training samples; lower k",
                    self.k,
                    x.nrows()
                ),
            ));
        }
        Ok(Knn {
            params: self.clone(),
            x: x.to_owned(),
            labels: labels.clone(),
        })
    }
}

impl Knn {
    /// Predict new samples.
    pub fn predict(&self, x: ArrayView2<f64>) -> Output {
        let k = self.params.k;
        let n = self.x.nrows();
        let mut probs: Option<Array2<f64>> = match &self.labels {
            Labels::Classes { n_classes, .. } => {
                Some(Array2::zeros((x.nrows(), (*n_classes).max(2))))
            }
            Labels::Numeric { .. } => None,
        };
        let mut values = Vec::with_capacity(x.nrows());
        for (r, row) in x.rows().into_iter().enumerate() {
            let mut d: Vec<(f64, usize)> = (0..n)
                .map(|i| (sq_dist(row, self.x.row(i)).sqrt(), i))
                .collect();
            d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let nb = &d[..k];
            let zero = nb.iter().filter(|(dist, _)| *dist == 0.0).count();
            let weight = |dist: f64| -> f64 {
                match self.params.weights {
                    KnnWeights::Uniform => 1.0,
                    KnnWeights::Distance if zero > 0 => f64::from(u8::from(dist == 0.0)),
                    KnnWeights::Distance => 1.0 / dist,
                }
            };
            let total: f64 = nb.iter().map(|(dist, _)| weight(*dist)).sum();
            match (&self.labels, probs.as_mut()) {
                (Labels::Classes { y, .. }, Some(p)) => {
                    for (dist, i) in nb {
                        p[[r, y[*i]]] += weight(*dist) / total;
                    }
                }
                (Labels::Numeric { y }, _) => {
                    values.push(
                        nb.iter()
                            .map(|(dist, i)| weight(*dist) * y[*i])
                            .sum::<f64>()
                            / total,
                    );
                }
                _ => {}
            }
        }
        match probs {
            Some(p) => Output::Probabilities { p },
            None => Output::Values { y: values },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn votes_and_means() {
        let x = array![[0.0], [1.0], [2.0], [10.0], [11.0]];
        let c = KnnParams {
            k: 3,
            ..Default::default()
        }
        .fit(
            x.view(),
            &Labels::Classes {
                y: vec![0, 0, 1, 1, 1],
                n_classes: 2,
            },
        )
        .unwrap();
        let Output::Probabilities { p } = c.predict(array![[0.4], [10.5]].view()) else {
            panic!()
        };
        assert!((p[[0, 0]] - 2.0 / 3.0).abs() < 1e-12 && (p[[1, 1]] - 1.0).abs() < 1e-12);
        let r = KnnParams {
            k: 2,
            weights: KnnWeights::Distance,
        }
        .fit(
            x.view(),
            &Labels::Numeric {
                y: vec![0.0, 1.0, 2.0, 10.0, 11.0],
            },
        )
        .unwrap();
        let Output::Values { y } = r.predict(array![[1.0], [0.25]].view()) else {
            panic!()
        };
        assert_eq!(y[0], 1.0);
        // neighbours 0 (d .25) and 1 (d .75): weights 4 and 4/3 → (0·4 + 1·4/3) / (16/3) = 0.25
        assert!((y[1] - 0.25).abs() < 1e-12);
        assert!(KnnParams {
            k: 6,
            ..Default::default()
        }
        .fit(x.view(), &Labels::Numeric { y: vec![0.0; 5] })
        .is_err());
    }
}
