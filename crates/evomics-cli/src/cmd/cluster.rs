//! `evomics cluster`: PCA of the samples, clustering (k-means, hierarchical, Gaussian mixture)
//! with k chosen by silhouette or gap statistic, and agreement of the clusters with sample-sheet
//! columns (ARI, NMI). Methods: docs/methods/ml.md and docs/methods/explore.md.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use ndarray::Array2;
use serde_json::json;

use evomics_core::rng::derive_seed;
use evomics_io::table::{num, Table};
use evomics_io::{read_experiment_layers, InputFile, Manifest};
use evomics_ml::cluster::{
    adjusted_rand_index, normalized_mutual_information, ChooseKParams, ClusterMethod, GapReference,
    GapRule, GmmParams, HclustParams, KMeansParams, KSelection, Linkage,
};
use evomics_ml::matrix::{complete_features, complete_matrix, Distance};
use evomics_ml::pca::PcaParams;
use evomics_stats::labels_from_sheet;

use crate::cmd::explore::{layer_sheet, log_scale_layer, require_column};
use crate::cmd::{write_stage, Log};

/// `evomics cluster`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  evomics cluster exp-norm --layer proteome --by source,batch -o clusters\n  evomics cluster exp-norm --layer proteome --k 2..8 --method kmeans,hclust --linkage average --distance pearson -o clusters\n  evomics cluster exp --layer proteome --log2 --complete-features --scale -o clusters\n\nOutputs: pca_scores.tsv, pca_loadings.tsv, pca_variance.tsv, clusters.tsv, k_selection.tsv,\nagreement.tsv, manifest.json (docs/methods/explore.md)."
)]
pub struct ClusterArgs {
    /// Experiment store directory (normally the output of `evomics normalize`).
    pub store: PathBuf,
    /// Layer to cluster (log-scale values; see --log2).
    #[arg(long)]
    pub layer: String,
    /// Output directory (replaced atomically).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Sample-sheet columns to compare the clusters with, comma-separated (default: those of
    /// source, batch, donor_id, conditioning the sheet has).
    #[arg(long, value_delimiter = ',')]
    pub by: Vec<String>,
    /// Candidate numbers of clusters: a range 2..8, a list 2,3,5 or one k.
    #[arg(long, default_value = "2..8")]
    pub k: String,
    /// Clustering methods, comma-separated: kmeans, hclust, gmm.
    #[arg(long, value_delimiter = ',', default_value = "kmeans,hclust,gmm", value_parser = ["kmeans", "hclust", "gmm"])]
    pub method: Vec<String>,
    /// Seed of k-means++, the Gaussian mixture and the gap statistic's reference sets.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Scale every feature to unit variance after centring (prcomp scale. = TRUE).
    #[arg(long)]
    pub scale: bool,
    /// Keep only features with a value in every sample (otherwise missing cells are an error).
    #[arg(long)]
    pub complete_features: bool,
    /// Log2-transform a layer of linear intensities first.
    #[arg(long)]
    pub log2: bool,
    /// Linkage of hierarchical clustering.
    #[arg(long, default_value = "ward.D2", value_parser = ["ward.D2", "average", "complete"])]
    pub linkage: String,
    /// Dissimilarity of hierarchical clustering (1 − correlation for pearson and spearman).
    #[arg(long, default_value = "euclidean", value_parser = ["euclidean", "pearson", "spearman"])]
    pub distance: String,
    /// How k is chosen from the candidates: silhouette (largest mean width) or gap (firstSEmax).
    #[arg(long, default_value = "silhouette", value_parser = ["silhouette", "gap"])]
    pub choose_by: String,
    /// Reference data sets of the gap statistic (0 skips it).
    #[arg(long, default_value_t = 50)]
    pub gap_references: usize,
    /// Principal components the Gaussian mixture is fitted on.
    #[arg(long, default_value_t = 5)]
    pub gmm_pcs: usize,
    /// Components written to pca_scores.tsv and pca_loadings.tsv.
    #[arg(long, default_value_t = 10)]
    pub components: usize,
}

/// Parse `2..8`, `2,3,5` or `4` into strictly increasing candidates.
fn parse_ks(s: &str) -> anyhow::Result<Vec<usize>> {
    let bad = || format!("--k '{s}': write a range like 2..8, a list like 2,3,5, or one number");
    let ks: Vec<usize> = if let Some((a, b)) = s.split_once("..") {
        let a: usize = a.trim().parse().with_context(bad)?;
        let b: usize = b.trim().trim_start_matches('=').parse().with_context(bad)?;
        if a > b {
            bail!("--k '{s}': the range is empty");
        }
        (a..=b).collect()
    } else {
        let mut v = s
            .split(',')
            .map(|x| x.trim().parse::<usize>().with_context(bad))
            .collect::<anyhow::Result<Vec<_>>>()?;
        v.sort_unstable();
        v.dedup();
        v
    };
    if ks.iter().any(|&k| k < 2) {
        bail!(
            "--k '{s}': every k must be at least 2 (silhouettes and agreement need two clusters)"
        );
    }
    Ok(ks)
}

pub fn run(a: ClusterArgs, log: Log) -> anyhow::Result<()> {
    let ks = parse_ks(&a.k)?;
    if a.components == 0 || a.gmm_pcs == 0 {
        bail!("--components and --gmm-pcs must be at least 1");
    }
    let linkage = match a.linkage.as_str() {
        "average" => Linkage::Average,
        "complete" => Linkage::Complete,
        _ => Linkage::WardD2,
    };
    let distance = match a.distance.as_str() {
        "pearson" => Distance::Pearson,
        "spearman" => Distance::Spearman,
        _ => Distance::Euclidean,
    };
    let mut methods: Vec<String> = Vec::new();
    for m in &a.method {
        if !methods.contains(m) {
            methods.push(m.clone());
        }
    }
    let (exp, _) = read_experiment_layers(&a.store, Some(&[a.layer.as_str()]))?;
    let raw = exp.layer(&a.layer)?;
    let (mut assay, transform_note) = log_scale_layer(raw, a.log2, log)?;
    let sheet = layer_sheet(exp.samples(), &assay)?;
    let by: Vec<String> = if a.by.is_empty() {
        ["source", "batch", "donor_id", "conditioning"]
            .iter()
            .filter(|c| sheet.column(c).is_some())
            .map(|c| c.to_string())
            .collect()
    } else {
        for b in &a.by {
            require_column(&sheet, b)?;
        }
        a.by.clone()
    };

    // complete features only: PCA and the clusterings need a value in every cell
    let n_features_in = assay.n_features();
    let complete = complete_features(&assay);
    let mut notes: Vec<String> = transform_note.into_iter().collect();
    if complete.len() < n_features_in {
        if !a.complete_features {
            bail!(
                "layer '{}' has {} of {n_features_in} features with a missing value; PCA and clustering need complete data: impute with `evomics normalize`, or add --complete-features to keep the {} complete features",
                a.layer,
                n_features_in - complete.len(),
                complete.len()
            );
        }
        let note = format!(
            "--complete-features: kept the {} of {n_features_in} features with a value in every sample ({} dropped)",
            complete.len(),
            n_features_in - complete.len()
        );
        log.say(&note);
        notes.push(note);
        assay = assay.select_features(&complete);
    }
    if a.scale {
        let keep: Vec<usize> = (0..assay.n_features())
            .filter(|&i| {
                let v: Vec<f64> = (0..assay.n_samples())
                    .filter_map(|j| assay.get(i, j))
                    .collect();
                v.iter().any(|x| *x != v[0])
            })
            .collect();
        if keep.len() < assay.n_features() {
            let note = format!(
                "--scale: dropped {} constant feature(s), which cannot be scaled to unit variance",
                assay.n_features() - keep.len()
            );
            log.say(&note);
            notes.push(note);
            assay = assay.select_features(&keep);
        }
    }
    if assay.n_features() < 2 {
        bail!(
            "layer '{}' has {} usable feature(s); PCA and clustering need at least 2",
            a.layer,
            assay.n_features()
        );
    }
    let n = assay.n_samples();
    if let Some(&k) = ks.iter().find(|&&k| k >= n) {
        bail!("--k: k = {k} needs more than {k} samples; the layer has {n}");
    }
    let x = complete_matrix(&assay)?;
    let pca = PcaParams {
        n_components: None,
        scale: a.scale,
    }
    .fit(x.view())?;
    let xs = pca.standardizer.transform(x.view());
    let pcs = pca.top_scores(a.gmm_pcs);
    log.say(format!(
        "PCA of {} samples × {} features{}: PC1 {:.1}%, PC2 {:.1}% of the variance",
        n,
        assay.n_features(),
        if a.scale { " (scaled)" } else { "" },
        100.0 * pca.variance_explained[0],
        100.0 * pca.variance_explained.get(1).copied().unwrap_or(0.0)
    ));

    // clusterings
    let mut selections: Vec<(String, KSelection, usize, Vec<usize>)> = Vec::new();
    for m in &methods {
        let (method, space): (ClusterMethod, &Array2<f64>) = match m.as_str() {
            "kmeans" => (
                ClusterMethod::KMeans(KMeansParams::new(2, derive_seed(a.seed, "cluster/kmeans"))),
                &xs,
            ),
            "hclust" => (
                ClusterMethod::Hierarchical(HclustParams { linkage, distance }),
                &xs,
            ),
            _ => (
                ClusterMethod::Gmm(GmmParams {
                    seed: derive_seed(a.seed, "cluster/gmm"),
                    ..GmmParams::default()
                }),
                &pcs,
            ),
        };
        let sel = ChooseKParams {
            ks: ks.clone(),
            method: method.clone(),
            gap_references: a.gap_references,
            gap_reference: GapReference::ScaledPca,
            gap_rule: GapRule::FirstSeMax,
            seed: derive_seed(a.seed, &format!("cluster/gap/{m}")),
        }
        .fit(space.view())
        .with_context(|| format!("choosing k for {m}"))?;
        let k = if ks.len() == 1 {
            ks[0]
        } else if a.choose_by == "gap" {
            sel.best_gap
                .with_context(|| "--choose-by gap needs --gap-references above 0".to_string())?
        } else {
            sel.best_silhouette.unwrap_or(ks[0])
        };
        let labels = method
            .labels(space.view(), k)
            .with_context(|| format!("{m} with k = {k}"))?;
        selections.push((m.clone(), sel, k, labels));
    }

    // agreement with sheet columns
    let mut agreement = Table::new([
        "method",
        "k",
        "column",
        "n_samples",
        "n_levels",
        "ARI",
        "NMI",
    ]);
    let mut summary = Vec::new();
    for (m, _, k, labels) in &selections {
        for b in &by {
            let col = labels_from_sheet(&sheet, b, assay.samples())?;
            let (mut cl, mut lv) = (Vec::new(), Vec::new());
            for (l, c) in labels.iter().zip(&col) {
                if let Some(c) = c {
                    cl.push(*l);
                    lv.push(c.clone());
                }
            }
            let n_levels = lv.iter().collect::<BTreeSet<_>>().len();
            let (ari, nmi) = if cl.len() >= 2 {
                (
                    Some(adjusted_rand_index(&cl, &lv)?),
                    Some(normalized_mutual_information(&cl, &lv)?),
                )
            } else {
                (None, None)
            };
            agreement.push(vec![
                m.clone(),
                k.to_string(),
                b.clone(),
                cl.len().to_string(),
                n_levels.to_string(),
                num(ari),
                num(nmi),
            ]);
            summary.push(format!("{b} ARI {} NMI {}", fmt3(ari), fmt3(nmi)));
        }
        log.say(format!(
            "{m}: k = {k}{}",
            if summary.is_empty() {
                String::new()
            } else {
                format!("; {}", summary.join(", "))
            }
        ));
        summary.clear();
    }

    let mut manifest = Manifest::new("cluster");
    manifest.inputs.push(InputFile::store(&a.store)?);
    manifest.seeds.insert("cluster".into(), a.seed);
    manifest.settings = json!({
        "store": a.store.display().to_string(),
        "layer": a.layer,
        "log2": a.log2,
        "scale": a.scale,
        "complete_features": a.complete_features,
        "k": ks,
        "methods": methods,
        "choose_by": a.choose_by,
        "hclust": { "linkage": linkage.name(), "distance": distance.name() },
        "kmeans": { "n_init": KMeansParams::default().n_init, "algorithm": "hartigan", "space": "centred (scaled) features" },
        "gmm": { "covariance": "diagonal", "n_init": GmmParams::default().n_init, "space": format!("PC1..PC{}", pcs.ncols()) },
        "gap": { "references": a.gap_references, "reference": "scaled_pca", "rule": "first_se_max" },
        "by": by,
    });
    manifest.reports = json!({
        "notes": notes,
        "samples": n,
        "features": assay.n_features(),
        "chosen_k": selections.iter().map(|(m, s, k, _)| json!({
            "method": m, "k": k, "best_silhouette": s.best_silhouette, "best_gap": s.best_gap,
        })).collect::<Vec<_>>(),
    });

    let n_comp = a.components.min(pca.n_components());
    write_stage(&a.out, &manifest, |tmp| {
        let pc_names: Vec<String> = (1..=n_comp).map(|c| format!("PC{c}")).collect();
        let mut scores =
            Table::new(std::iter::once("sample_id".to_string()).chain(pc_names.iter().cloned()));
        for (j, s) in assay.samples().iter().enumerate() {
            let mut row = vec![s.clone()];
            row.extend((0..n_comp).map(|c| num(Some(pca.scores[[j, c]]))));
            scores.push(row);
        }
        scores.write(&tmp.join("pca_scores.tsv"))?;
        let names = assay
            .features()
            .annotation("name")
            .or_else(|| assay.features().annotation("gene"));
        let mut loadings = Table::new(
            ["feature_id".to_string(), "name".to_string()]
                .into_iter()
                .chain(pc_names.iter().cloned()),
        );
        for (i, id) in assay.features().ids().iter().enumerate() {
            let mut row = vec![
                id.clone(),
                names.and_then(|v| v[i].clone()).unwrap_or_default(),
            ];
            row.extend((0..n_comp).map(|c| num(Some(pca.rotation[[i, c]]))));
            loadings.push(row);
        }
        loadings.write(&tmp.join("pca_loadings.tsv"))?;
        let mut var = Table::new(["component", "sdev", "variance_explained", "cumulative"]);
        for (c, ((s, v), cum)) in pca
            .sdev
            .iter()
            .zip(&pca.variance_explained)
            .zip(pca.cumulative_variance())
            .enumerate()
        {
            var.push(vec![
                format!("PC{}", c + 1),
                num(Some(*s)),
                num(Some(*v)),
                num(Some(cum)),
            ]);
        }
        var.write(&tmp.join("pca_variance.tsv"))?;
        let mut clusters = Table::new(
            std::iter::once("sample_id".to_string()).chain(selections.iter().map(|s| s.0.clone())),
        );
        for (j, s) in assay.samples().iter().enumerate() {
            let mut row = vec![s.clone()];
            // clusters are numbered from 1 (as R's cutree and kmeans)
            row.extend(selections.iter().map(|x| (x.3[j] + 1).to_string()));
            clusters.push(row);
        }
        clusters.write(&tmp.join("clusters.tsv"))?;
        let mut ksel = Table::new([
            "method",
            "k",
            "silhouette",
            "log_w",
            "gap",
            "gap_se",
            "chosen",
        ]);
        for (m, sel, k, _) in &selections {
            for s in &sel.scores {
                let mut tags = Vec::new();
                if sel.best_silhouette == Some(s.k) {
                    tags.push("best_silhouette");
                }
                if sel.best_gap == Some(s.k) {
                    tags.push("best_gap");
                }
                if *k == s.k {
                    tags.push("used");
                }
                ksel.push(vec![
                    m.clone(),
                    s.k.to_string(),
                    num(s.silhouette),
                    num(Some(s.log_w)),
                    num(s.gap),
                    num(s.gap_se),
                    tags.join(","),
                ]);
            }
        }
        ksel.write(&tmp.join("k_selection.tsv"))?;
        agreement.write(&tmp.join("agreement.tsv"))
    })?;
    log.say(format!("wrote {}", a.out.display()));
    Ok(())
}

fn fmt3(v: Option<f64>) -> String {
    v.map_or("NA".into(), |x| format!("{x:.3}"))
}

#[cfg(test)]
mod tests {
    use super::parse_ks;

    #[test]
    fn k_candidates_parse() {
        assert_eq!(parse_ks("2..5").unwrap(), vec![2, 3, 4, 5]);
        assert_eq!(parse_ks("5,3,3").unwrap(), vec![3, 5]);
        assert_eq!(parse_ks("4").unwrap(), vec![4]);
        assert!(parse_ks("1..3").is_err());
        assert!(parse_ks("5..2").is_err());
        assert!(parse_ks("x").is_err());
    }
}
