//! Clustering of samples (or of features, by passing the transposed matrix): hierarchical
//! clustering, k-means, Gaussian mixtures, cluster validity and the choice of k, and agreement
//! of a partition with a known labelling.

pub mod agreement;
pub mod gmm;
pub mod hclust;
pub mod kmeans;
pub mod select;

pub use agreement::{adjusted_rand_index, normalized_mutual_information};
pub use gmm::{Gmm, GmmParams};
pub use hclust::{Dendrogram, HclustParams, Linkage, Merge};
pub use kmeans::{KMeans, KMeansAlgorithm, KMeansParams};
pub use select::{
    log_within, mean_silhouette, silhouette, ChooseKParams, ClusterMethod, GapReference, GapRule,
    KScore, KSelection,
};
