//! linfa interoperability: k-means, Gaussian mixtures and every supervised model ([`ModelSpec`])
//! implement linfa's [`Fit`] on a linfa `DatasetBase` of a samples × features `Array2` (class
//! targets as `Array1<usize>`, numeric ones as `Array1<f64>`), validating their parameters
//! before reading data; the other parameter types implement linfa's [`ParamGuard`]. (A type
//! cannot be both: linfa derives `Fit` for every `ParamGuard` whose checked type fits, and here
//! the checked parameters are the parameters themselves.)
//!
//! Prediction stays on the evomics types (`predict` returns a `Result`): linfa's
//! `PredictInplace` has no error path, and a shape mismatch must be an error, not a panic.
//!
//! [`ParamGuard`]: linfa::ParamGuard

use linfa::dataset::{DatasetBase, Records};
use linfa::traits::Fit;
use ndarray::{Array1, ArrayBase, Data, Ix2};

use crate::cluster::{Gmm, GmmParams, KMeans, KMeansParams};
use crate::error::{MlError, Result};
use crate::models::{FittedModel, Labels, ModelSpec};

impl<S: Data<Elem = f64>, T> Fit<ArrayBase<S, Ix2>, T, MlError> for KMeansParams
where
    ArrayBase<S, Ix2>: Records,
{
    type Object = KMeans;

    fn fit(&self, dataset: &DatasetBase<ArrayBase<S, Ix2>, T>) -> Result<KMeans> {
        KMeansParams::fit(self, dataset.records.view())
    }
}

impl<S: Data<Elem = f64>, T> Fit<ArrayBase<S, Ix2>, T, MlError> for GmmParams
where
    ArrayBase<S, Ix2>: Records,
{
    type Object = Gmm;

    fn fit(&self, dataset: &DatasetBase<ArrayBase<S, Ix2>, T>) -> Result<Gmm> {
        GmmParams::fit(self, dataset.records.view())
    }
}

/// Class targets: labels `0..k`.
impl<S: Data<Elem = f64>> Fit<ArrayBase<S, Ix2>, Array1<usize>, MlError> for ModelSpec
where
    ArrayBase<S, Ix2>: Records,
{
    type Object = FittedModel;

    fn fit(&self, dataset: &DatasetBase<ArrayBase<S, Ix2>, Array1<usize>>) -> Result<FittedModel> {
        let y = dataset.targets.to_vec();
        let n_classes = y.iter().copied().max().map_or(0, |m| m + 1);
        ModelSpec::fit(
            self,
            dataset.records.view(),
            &Labels::Classes { y, n_classes },
        )
    }
}

/// Numeric targets.
impl<S: Data<Elem = f64>> Fit<ArrayBase<S, Ix2>, Array1<f64>, MlError> for ModelSpec
where
    ArrayBase<S, Ix2>: Records,
{
    type Object = FittedModel;

    fn fit(&self, dataset: &DatasetBase<ArrayBase<S, Ix2>, Array1<f64>>) -> Result<FittedModel> {
        ModelSpec::fit(
            self,
            dataset.records.view(),
            &Labels::Numeric {
                y: dataset.targets.to_vec(),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{KnnParams, Output, PlsParams};
    use linfa::ParamGuard;
    use ndarray::{array, Array2};

    #[test]
    fn estimators_fit_linfa_datasets() {
        let x: Array2<f64> = array![
            [0.0, 0.1],
            [0.2, 0.0],
            [5.0, 5.1],
            [5.2, 4.9],
            [0.1, 0.2],
            [5.1, 5.0]
        ];
        let ds = DatasetBase::new(x.clone(), array![0usize, 0, 1, 1, 0, 1]);
        let km = <KMeansParams as Fit<_, _, MlError>>::fit(&KMeansParams::new(2, 1), &ds).unwrap();
        assert_eq!(km.labels, vec![0, 0, 1, 1, 0, 1]);
        let spec = ModelSpec::Knn(KnnParams {
            k: 1,
            ..Default::default()
        });
        let m = <ModelSpec as Fit<_, Array1<usize>, MlError>>::fit(&spec, &ds).unwrap();
        assert!(matches!(
            m.predict(x.view()).unwrap(),
            Output::Probabilities { .. }
        ));
        let reg = DatasetBase::new(x.clone(), array![0.0, 0.2, 5.0, 5.2, 0.1, 5.1]);
        let pls = <ModelSpec as Fit<_, Array1<f64>, MlError>>::fit(
            &ModelSpec::Pls(PlsParams::default()),
            &reg,
        )
        .unwrap();
        assert!(matches!(
            pls.predict(x.view()).unwrap(),
            Output::Values { .. }
        ));
        let bad = <KMeansParams as Fit<_, _, MlError>>::fit(
            &KMeansParams {
                k: 0,
                ..Default::default()
            },
            &ds,
        );
        assert!(matches!(bad, Err(MlError::InvalidParam { .. })));
        assert!(crate::pca::PcaParams::default().check_ref().is_ok());
        assert!(crate::models::ForestParams {
            n_trees: 0,
            ..Default::default()
        }
        .check()
        .is_err());
    }
}
