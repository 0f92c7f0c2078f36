//! `evomics train` and `evomics predict`: donor-grouped folds proven from folds.tsv,
//! preprocessing fitted on training samples only (from the saved fold fits and a perturbation of
//! held-out samples), chance performance on shuffled labels, exact reproduction of the final
//! model by `predict`, model-file loading, config errors, and the real secretome data set.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use evomics_io::read_experiment;
use evomics_ml::data::{Dataset, TargetSpec};
use evomics_ml::evaluate::FoldFit;
use evomics_ml::persist::{train_final, SavedModel, MODEL_FORMAT, MODEL_VERSION};
use evomics_ml::preprocess::FittedPreprocess;
use serde_json::Value;

use crate::{col, evomics, fail, ok, p, read_tsv};

/// Run evomics, require success, return stderr (where the summary goes).
fn ok_stderr(args: &[&str]) -> String {
    let out = evomics(args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "evomics {args:?} failed:\n{err}");
    err
}

/// Write a TSV file.
fn write_tsv(path: &Path, header: &[String], rows: &[Vec<String>]) {
    let mut s = header.join("\t");
    s.push('\n');
    for r in rows {
        s.push_str(&r.join("\t"));
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

/// sample id → value of a sheet column.
fn sheet_map(sheet: &Path, column: &str) -> BTreeMap<String, String> {
    let (h, rows) = read_tsv(sheet);
    let c = col(&h, column);
    rows.iter().map(|r| (r[0].clone(), r[c].clone())).collect()
}

/// Read a JSON file.
fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A simulated cohort with a clear potency signature: 60 preparations, 200 proteins, as a
/// store (`store`) and as plain inputs (`tsv/`).
fn cohort(dir: &Path, seed: u64) -> (PathBuf, PathBuf) {
    let cfg = dir.join("sim.toml");
    std::fs::write(&cfg, "[effects]\nsignature_loading_log2 = [1.0, 1.6]\n").unwrap();
    let (store, tsv) = (dir.join("store"), dir.join("tsv"));
    ok(&[
        "simulate",
        "--config",
        p(&cfg),
        "--seed",
        &seed.to_string(),
        "--samples",
        "60",
        "--proteins",
        "200",
        "--mirnas",
        "40",
        "-o",
        p(&store),
        "--tsv",
        p(&tsv),
        "--quiet",
    ]);
    (store, tsv)
}

/// Ingest a sheet and a proteome TSV (sheet samples absent from the matrix, or the reverse, are
/// left out).
fn ingest(sheet: &Path, proteome: &Path, out: &Path) {
    ok(&[
        "ingest",
        "-s",
        p(sheet),
        "--layer",
        &format!("proteome={},scale=linear", p(proteome)),
        "--allow-missing-samples",
        "-o",
        p(out),
        "--quiet",
    ]);
}

/// The training config used on simulated cohorts (`extra` is prepended: top-level keys).
fn sim_config(dir: &Path, name: &str, extra: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            r#"target = "potency_class"
classes = ["low", "high"]
layers = ["proteome"]
seed = 7
{extra}

[preprocess.proteome]
filters = [{{ method = "valid_values", column = "source", min_fraction = 0.7 }}]
transform = {{ method = "log2" }}
normalization = {{ method = "median" }}
imputation = {{ method = "down_shift", width = 0.3, shift = 1.8, seed = 7 }}

[model]
model = "elastic_net"
alpha = 0.5
lambda = 0.05

[cv]
scheme = "group_k_fold"
k = 4
group = "donor_id"
repeats = 2
"#
        ),
    )
    .unwrap();
    path
}

/// The groups on the training and on the test side of a split.
type TrainTest<'a> = (BTreeSet<&'a str>, BTreeSet<&'a str>);

/// Every (repeat, fold) of folds.tsv: no group on both sides, every sample tested once per repeat.
fn assert_grouped_folds(folds: &Path, group_of: &BTreeMap<String, String>) -> (usize, usize) {
    let (h, rows) = read_tsv(folds);
    assert_eq!(h, ["sample_id", "repeat", "fold", "split"]);
    let mut parts: BTreeMap<(usize, usize), TrainTest> = BTreeMap::new();
    let mut tested: BTreeMap<(usize, &str), usize> = BTreeMap::new();
    for r in &rows {
        let key = (r[1].parse().unwrap(), r[2].parse().unwrap());
        let g = group_of
            .get(&r[0])
            .unwrap_or_else(|| panic!("sample {} not in the sheet", r[0]))
            .as_str();
        let e = parts.entry(key).or_default();
        match r[3].as_str() {
            "train" => {
                e.0.insert(g);
            }
            "test" => {
                e.1.insert(g);
                *tested.entry((key.0, r[0].as_str())).or_default() += 1;
            }
            other => panic!("split '{other}'"),
        }
    }
    for ((rep, fold), (train, test)) in &parts {
        let shared: Vec<_> = train.intersection(test).collect();
        assert!(
            shared.is_empty(),
            "repeat {rep} fold {fold}: groups {shared:?} in train and test"
        );
        assert!(!test.is_empty() && !train.is_empty());
    }
    assert!(tested.values().all(|&n| n == 1), "tested once per repeat");
    let repeats = parts.keys().map(|k| k.0).max().unwrap();
    let samples = tested.len() / repeats;
    (parts.len(), samples)
}

#[test]
fn train_writes_donor_grouped_reproducible_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let (store, tsv) = cohort(dir.path(), 3);
    let cfg = sim_config(
        dir.path(),
        "train.toml",
        "permutations = 9\nsource_column = \"source\"\nsource_permutations = 3\nlearning_curve = [0.5, 1.0]",
    );
    let m1 = dir.path().join("m1");
    let err = ok_stderr(&[
        "train",
        p(&store),
        "-c",
        p(&cfg),
        "-o",
        p(&m1),
        "--threads",
        "2",
    ]);
    assert!(
        err.contains("roc_auc") && err.contains("permutation test: roc_auc"),
        "{err}"
    );
    for f in [
        "metrics.json",
        "folds.tsv",
        "predictions.tsv",
        "importance.tsv",
        "calibration.tsv",
        "learning_curve.tsv",
        "model.json",
        "manifest.json",
    ] {
        assert!(m1.join(f).is_file(), "{f} missing");
    }
    // folds.tsv, joined with the donor of every sample from the sheet.
    let donors = sheet_map(&tsv.join("samples.tsv"), "donor_id");
    let (n_splits, n_samples) = assert_grouped_folds(&m1.join("folds.tsv"), &donors);
    assert_eq!((n_splits, n_samples), (8, 60));

    let m = json(&m1.join("metrics.json"));
    assert_eq!(m["data_hash"].as_str().unwrap().len(), 64);
    assert_eq!(m["folds"].as_array().unwrap().len(), 8);
    let auc = m["summary"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "roc_auc")
        .unwrap();
    let (mean, pooled) = (
        auc["fold_mean"].as_f64().unwrap(),
        auc["pooled"].as_f64().unwrap(),
    );
    println!(
        "simulated potency_class: ROC AUC {mean:.3} ± {:.3}, pooled {pooled:.3}",
        auc["fold_sd"].as_f64().unwrap()
    );
    assert!(mean > 0.8 && pooled > 0.8, "{auc}");
    let perm = &m["permutation_test"];
    assert_eq!(perm["null"].as_array().unwrap().len(), 9);
    assert_eq!(perm["observed"].as_f64().unwrap(), pooled);
    assert_eq!(perm["p_value"].as_f64().unwrap(), 0.1);
    assert_eq!(
        m["source_check"]["within_source"]["null"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(m["learning_curve"].as_array().unwrap().len(), 2);

    // predictions.tsv: every sample once per repeat, probabilities summing to 1, coverage as
    // reported.
    let (h, rows) = read_tsv(&m1.join("predictions.tsv"));
    assert_eq!(
        h,
        [
            "sample_id",
            "repeat",
            "fold",
            "truth",
            "predicted",
            "p_low",
            "p_high",
            "conformal_set",
            "covered"
        ]
    );
    assert_eq!(rows.len(), 120);
    let (mut covered, mut single) = (0, 0);
    for r in &rows {
        let (a, b): (f64, f64) = (r[5].parse().unwrap(), r[6].parse().unwrap());
        assert!((a + b - 1.0).abs() < 1e-12);
        let set: Vec<&str> = r[7].split(';').filter(|c| !c.is_empty()).collect();
        let in_set = set.contains(&r[3].as_str());
        assert_eq!(r[8], in_set.to_string());
        covered += usize::from(in_set);
        single += usize::from(set.len() == 1);
    }
    let c = &m["conformal"];
    assert_eq!(
        c["out_of_fold_coverage"].as_f64().unwrap(),
        covered as f64 / 120.0
    );
    assert_eq!(
        c["out_of_fold_single_class"].as_f64().unwrap(),
        single as f64 / 120.0
    );
    println!(
        "out-of-fold 90 % conformal sets: coverage {:.3} (≈ 0.9 by construction), single-class sets {:.3}",
        covered as f64 / 120.0,
        single as f64 / 120.0
    );

    // The true signature dominates importance.
    let sig: BTreeSet<String> = {
        let (h, rows) = read_tsv(&tsv.join("truth_signature.tsv"));
        let (l, f) = (col(&h, "layer"), col(&h, "feature_id"));
        rows.iter()
            .filter(|r| r[l] == "proteome")
            .map(|r| r[f].clone())
            .collect()
    };
    let (h, rows) = read_tsv(&m1.join("importance.tsv"));
    let (fcol, sel) = (col(&h, "feature"), col(&h, "selection_frequency"));
    let top10 = rows
        .iter()
        .take(10)
        .filter(|r| sig.contains(&r[fcol]))
        .count();
    println!(
        "{top10} of the top-10 features are among the {} signature proteins",
        sig.len()
    );
    assert!(top10 >= 5, "top-10 signature proteins: {top10}");
    assert!(rows.iter().all(|r| {
        let v: f64 = r[sel].parse().unwrap();
        (0.0..=1.0).contains(&v)
    }));

    // Same inputs and seed, another thread count: byte-identical outputs.
    let m2 = dir.path().join("m2");
    ok(&[
        "train",
        p(&store),
        "-c",
        p(&cfg),
        "-o",
        p(&m2),
        "--threads",
        "1",
        "--quiet",
    ]);
    for f in [
        "metrics.json",
        "folds.tsv",
        "predictions.tsv",
        "importance.tsv",
        "calibration.tsv",
        "learning_curve.tsv",
        "model.json",
    ] {
        assert_eq!(
            std::fs::read(m1.join(f)).unwrap(),
            std::fs::read(m2.join(f)).unwrap(),
            "{f} differs between runs"
        );
    }
}

/// FittedPreprocess of every (repeat, fold) in fold-models.json.
fn fold_fits(model_dir: &Path) -> (Vec<String>, Vec<FoldFit>) {
    let v = json(&model_dir.join("fold-models.json"));
    (
        serde_json::from_value(v["sample_ids"].clone()).unwrap(),
        serde_json::from_value(v["folds"].clone()).unwrap(),
    )
}

#[test]
fn preprocessing_is_fitted_on_training_samples_only() {
    let dir = tempfile::tempdir().unwrap();
    let (_, tsv) = cohort(dir.path(), 5);
    let store = dir.path().join("ingested");
    ingest(&tsv.join("samples.tsv"), &tsv.join("proteome.tsv"), &store);
    let cfg = sim_config(
        dir.path(),
        "train.toml",
        "permutations = 0\nlearning_curve = []\nsave_fold_models = true",
    );
    let m1 = dir.path().join("m1");
    ok(&["train", p(&store), "-c", p(&cfg), "-o", p(&m1), "--quiet"]);
    let (ids, fits) = fold_fits(&m1);
    let saved =
        SavedModel::from_json(&std::fs::read_to_string(m1.join("model.json")).unwrap()).unwrap();

    // 1. Each fold's training samples are the ones folds.tsv lists, and its fitted
    //    preprocessing is exactly a fresh fit on them alone; the final model's is a fit on all.
    let (_, rows) = read_tsv(&m1.join("folds.tsv"));
    let (exp, _) = read_experiment(&store).unwrap();
    let sheet = exp.samples();
    let target = TargetSpec {
        column: saved.target.clone(),
        kind: Default::default(),
        classes: Some(saved.classes.clone()),
    };
    let data = Dataset::assemble(&[exp.layer("proteome").unwrap()], sheet, &target).unwrap();
    assert_eq!(data.sample_ids, ids);
    for fit in &fits {
        let listed: BTreeSet<&str> = rows
            .iter()
            .filter(|r| {
                r[1] == fit.repeat.to_string() && r[2] == fit.fold.to_string() && r[3] == "train"
            })
            .map(|r| r[0].as_str())
            .collect();
        let used: BTreeSet<&str> = fit.train.iter().map(|&i| ids[i].as_str()).collect();
        assert_eq!(listed, used);
        let (fresh, _) = saved
            .config
            .preprocess
            .fit(
                &data.layers,
                sheet,
                &fit.train,
                &data.labels.select(&fit.train),
            )
            .unwrap();
        assert_eq!(fresh, fit.preprocess, "fold {}/{}", fit.repeat, fit.fold);
        assert_ne!(fit.preprocess, saved.preprocess);
    }
    let all: Vec<usize> = (0..ids.len()).collect();
    let (fresh_all, _) = saved
        .config
        .preprocess
        .fit(&data.layers, sheet, &all, &data.labels)
        .unwrap();
    assert_eq!(fresh_all, saved.preprocess);

    // 2. Multiply the intensities of fold 1's test samples by 8 and train again: fold 1's
    //    fitted preprocessing does not move (it never saw them); folds that trained on them and
    //    the final model do.
    let test1: BTreeSet<&str> = fits[0].test.iter().map(|&i| ids[i].as_str()).collect();
    let (h, mut prot) = read_tsv(&tsv.join("proteome.tsv"));
    let cols: Vec<usize> = (1..h.len())
        .filter(|&c| test1.contains(h[c].as_str()))
        .collect();
    assert_eq!(cols.len(), test1.len());
    for r in &mut prot {
        for &c in &cols {
            if r[c] != "NA" {
                r[c] = (r[c].parse::<f64>().unwrap() * 8.0).to_string();
            }
        }
    }
    let shifted = dir.path().join("proteome8.tsv");
    write_tsv(&shifted, &h, &prot);
    let store8 = dir.path().join("ingested8");
    ingest(&tsv.join("samples.tsv"), &shifted, &store8);
    let m8 = dir.path().join("m8");
    ok(&["train", p(&store8), "-c", p(&cfg), "-o", p(&m8), "--quiet"]);
    let (_, fits8) = fold_fits(&m8);
    let level = |fp: &FittedPreprocess| serde_json::to_value(&fp.layers[0].pipeline).unwrap();
    assert_eq!(
        fits8[0].preprocess, fits[0].preprocess,
        "fold 1 saw its test samples"
    );
    for (a, b) in fits.iter().zip(&fits8).skip(1) {
        if a.train.iter().any(|i| test1.contains(ids[*i].as_str())) {
            assert_ne!(level(&a.preprocess), level(&b.preprocess));
        }
    }
    let saved8 =
        SavedModel::from_json(&std::fs::read_to_string(m8.join("model.json")).unwrap()).unwrap();
    assert_ne!(level(&saved8.preprocess), level(&saved.preprocess));
    assert_ne!(saved8.training.data_hash, saved.training.data_hash);
}

/// A sheet with `column` shuffled by a fixed pseudo-random permutation.
fn shuffle_column(sheet: &Path, column: &str, out: &Path, seed: u64) {
    let (h, mut rows) = read_tsv(sheet);
    let c = col(&h, column);
    let mut vals: Vec<String> = rows.iter().map(|r| r[c].clone()).collect();
    let mut x = seed;
    for i in (1..vals.len()).rev() {
        // xorshift64: a fixed, dependency-free shuffle.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        vals.swap(i, (x % (i as u64 + 1)) as usize);
    }
    for (r, v) in rows.iter_mut().zip(vals) {
        r[c] = v;
    }
    write_tsv(out, &h, &rows);
}

/// Observed pooled AUC and permutation p-value from metrics.json.
fn auc_and_p(model_dir: &Path) -> (f64, f64) {
    let m = json(&model_dir.join("metrics.json"));
    (
        m["permutation_test"]["observed"].as_f64().unwrap(),
        m["permutation_test"]["p_value"].as_f64().unwrap(),
    )
}

#[test]
fn shuffled_labels_give_chance_auc_and_a_large_permutation_p_value() {
    let dir = tempfile::tempdir().unwrap();
    let (store, tsv) = cohort(dir.path(), 8);
    let cfg = sim_config(
        dir.path(),
        "train.toml",
        "permutations = 19\nlearning_curve = []",
    );
    let real = dir.path().join("real");
    ok(&["train", p(&store), "-c", p(&cfg), "-o", p(&real), "--quiet"]);
    let (auc, pv) = auc_and_p(&real);
    println!("real labels: pooled AUC {auc:.3}, permutation p = {pv:.3}");
    assert!(auc > 0.8, "{auc}");
    assert_eq!(pv, 0.05, "the smallest p with 19 permutations");
    let mut aucs = Vec::new();
    for seed in [11u64, 12, 13] {
        let sheet = dir.path().join(format!("shuffled-{seed}.tsv"));
        shuffle_column(&tsv.join("samples.tsv"), "potency_class", &sheet, seed);
        let st = dir.path().join(format!("shuffled-{seed}"));
        ingest(&sheet, &tsv.join("proteome.tsv"), &st);
        let out = dir.path().join(format!("m-shuffled-{seed}"));
        ok(&["train", p(&st), "-c", p(&cfg), "-o", p(&out), "--quiet"]);
        let (a, pv) = auc_and_p(&out);
        println!("shuffled labels ({seed}): pooled AUC {a:.3}, permutation p = {pv:.3}");
        assert!(pv > 0.1, "shuffled labels, p = {pv}");
        aucs.push(a);
    }
    let mean = aucs.iter().sum::<f64>() / aucs.len() as f64;
    assert!((mean - 0.5).abs() < 0.15, "mean shuffled AUC {mean}");
}

/// Split the cohort by donor: every fourth donor's preparations are held out.
fn split_by_donor(tsv: &Path, dir: &Path) -> (PathBuf, PathBuf) {
    let (h, rows) = read_tsv(&tsv.join("samples.tsv"));
    let d = col(&h, "donor_id");
    let donors: BTreeSet<&str> = rows.iter().map(|r| r[d].as_str()).collect();
    let held: BTreeSet<&str> = donors.iter().copied().step_by(4).collect();
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for r in &rows {
        if held.contains(r[d].as_str()) {
            test.push(r.clone());
        } else {
            train.push(r.clone());
        }
    }
    let (a, b) = (dir.join("train-sheet.tsv"), dir.join("heldout-sheet.tsv"));
    write_tsv(&a, &h, &train);
    write_tsv(&b, &h, &test);
    (a, b)
}

#[test]
fn predict_reproduces_the_final_model_exactly_on_held_out_donors() {
    let dir = tempfile::tempdir().unwrap();
    let (_, tsv) = cohort(dir.path(), 13);
    let (train_sheet, held_sheet) = split_by_donor(&tsv, dir.path());
    let (train_store, held_store) = (dir.path().join("train"), dir.path().join("held"));
    ingest(&train_sheet, &tsv.join("proteome.tsv"), &train_store);
    ingest(&held_sheet, &tsv.join("proteome.tsv"), &held_store);
    let cfg = sim_config(
        dir.path(),
        "train.toml",
        "permutations = 0\nlearning_curve = []",
    );
    let m = dir.path().join("model");
    ok(&[
        "train",
        p(&train_store),
        "-c",
        p(&cfg),
        "-o",
        p(&m),
        "--quiet",
    ]);
    let preds = dir.path().join("preds.tsv");
    let err = ok_stderr(&[
        "predict",
        p(&m.join("model.json")),
        p(&held_store),
        "-o",
        p(&preds),
    ]);
    assert!(err.contains("predicted"), "{err}");

    // A model saved by this version loads, and is what a fresh fit on the training store gives.
    let text = std::fs::read_to_string(m.join("model.json")).unwrap();
    let saved = SavedModel::from_json(&text).unwrap();
    assert_eq!(
        (saved.format.as_str(), saved.version),
        (MODEL_FORMAT, MODEL_VERSION)
    );
    let (exp, _) = read_experiment(&train_store).unwrap();
    let target = TargetSpec {
        column: saved.target.clone(),
        kind: Default::default(),
        classes: Some(saved.classes.clone()),
    };
    let data =
        Dataset::assemble(&[exp.layer("proteome").unwrap()], exp.samples(), &target).unwrap();
    let fresh = train_final(&data, exp.samples(), &saved.config, None).unwrap();
    assert_eq!(fresh.preprocess, saved.preprocess);
    assert_eq!(fresh.model, saved.model);

    // The final model applied directly to the held-out layer equals `predict`'s output exactly.
    let (held, _) = read_experiment(&held_store).unwrap();
    let layer = held.layer("proteome").unwrap();
    assert_eq!(
        layer.features().ids(),
        fresh.preprocess.layers[0].input_features.as_slice()
    );
    let x = fresh
        .preprocess
        .transform_assays(std::slice::from_ref(layer), held.samples())
        .unwrap();
    let direct = match fresh.model.predict(x.view()).unwrap() {
        evomics_ml::models::Output::Probabilities { p } => p,
        other => panic!("{other:?}"),
    };
    let (h, rows) = read_tsv(&preds);
    assert_eq!(
        h,
        [
            "sample_id",
            "truth",
            "predicted",
            "p_low",
            "p_high",
            "conformal_set",
            "in_training"
        ]
    );
    assert!(
        rows.iter().all(|r| r[6].is_empty()),
        "held-out donors are not training samples"
    );
    assert!(!err.contains("training data"), "{err}");
    assert_eq!(rows.len(), layer.n_samples());
    assert!(rows.len() >= 8, "{} held-out samples", rows.len());
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], layer.samples()[i]);
        let got: Vec<f64> = r[3..5].iter().map(|v| v.parse().unwrap()).collect();
        assert_eq!(got, direct.row(i).to_vec(), "{}", r[0]);
    }
    let correct = rows.iter().filter(|r| r[1] == r[2]).count();
    println!(
        "held-out donors: {correct} of {} preparations classified correctly",
        rows.len()
    );

    // A larger error rate gives nested (never larger) conformal sets.
    let preds5 = dir.path().join("preds-05.tsv");
    ok(&[
        "predict",
        p(&m),
        p(&held_store),
        "-o",
        p(&preds5),
        "--alpha",
        "0.5",
        "--quiet",
    ]);
    let (_, rows5) = read_tsv(&preds5);
    for (a, b) in rows.iter().zip(&rows5) {
        let wide: BTreeSet<&str> = a[5].split(';').filter(|s| !s.is_empty()).collect();
        let narrow: BTreeSet<&str> = b[5].split(';').filter(|s| !s.is_empty()).collect();
        assert!(narrow.is_subset(&wide), "{a:?} {b:?}");
    }

    // Absent model inputs: refused by the saved rule, imputed and reported when asked.
    let (ph, prot) = read_tsv(&tsv.join("proteome.tsv"));
    let gone: BTreeSet<&str> = saved
        .features
        .iter()
        .take(3)
        .map(|f| f.id.as_str())
        .collect();
    let fewer: Vec<Vec<String>> = prot
        .iter()
        .filter(|r| !gone.contains(r[0].as_str()))
        .cloned()
        .collect();
    let fewer_path = dir.path().join("fewer.tsv");
    write_tsv(&fewer_path, &ph, &fewer);
    let fewer_store = dir.path().join("fewer");
    ingest(&held_sheet, &fewer_path, &fewer_store);
    let out = dir.path().join("x.tsv");
    let e = fail(&["predict", p(&m), p(&fewer_store), "-o", p(&out)]);
    assert!(e.contains("absent from layer 'proteome'"), "{e}");
    assert!(!out.exists());
    let e = ok_stderr(&[
        "predict",
        p(&m),
        p(&fewer_store),
        "-o",
        p(&out),
        "--missing-features",
        "impute",
    ]);
    assert!(
        e.contains("3 feature(s) the model was fitted on are absent"),
        "{e}"
    );
    assert_eq!(read_tsv(&out).1.len(), rows.len());

    // No model feature at all in the new data: a clear error, whatever the rule.
    let renamed: Vec<Vec<String>> = prot
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r[0] = format!("X{}", r[0]);
            r
        })
        .collect();
    let renamed_path = dir.path().join("renamed.tsv");
    write_tsv(&renamed_path, &ph, &renamed);
    let renamed_store = dir.path().join("renamed");
    ingest(&held_sheet, &renamed_path, &renamed_store);
    let e = fail(&[
        "predict",
        p(&m),
        p(&renamed_store),
        "-o",
        p(&out),
        "--missing-features",
        "impute",
    ]);
    assert!(e.contains("none of the model's"), "{e}");

    // A model file of another version is refused with the way out.
    let v = text.replacen(&format!("\"version\":{MODEL_VERSION}"), "\"version\":99", 1);
    assert_ne!(v, text);
    let bad = dir.path().join("v99.json");
    std::fs::write(&bad, v).unwrap();
    let e = fail(&["predict", p(&bad), p(&held_store), "-o", p(&out)]);
    assert!(e.contains("version 99 is not supported"), "{e}");
}

#[test]
fn predict_warns_about_training_samples_by_id_and_by_data() {
    let dir = tempfile::tempdir().unwrap();
    let (_, tsv) = cohort(dir.path(), 17);
    let (train_sheet, held_sheet) = split_by_donor(&tsv, dir.path());
    let train_store = dir.path().join("train");
    ingest(&train_sheet, &tsv.join("proteome.tsv"), &train_store);
    let cfg = sim_config(
        dir.path(),
        "train.toml",
        "permutations = 0\nlearning_curve = []",
    );
    let m = dir.path().join("model");
    ok(&[
        "train",
        p(&train_store),
        "-c",
        p(&cfg),
        "-o",
        p(&m),
        "--quiet",
    ]);
    let saved =
        SavedModel::from_json(&std::fs::read_to_string(m.join("model.json")).unwrap()).unwrap();
    let n_train = saved.training.sample_ids.len();
    assert_eq!(saved.training.row_hashes.len(), n_train);

    // The training store itself: every sample is marked by id and listed.
    let out = dir.path().join("same.tsv");
    let err = ok_stderr(&["predict", p(&m), p(&train_store), "-o", p(&out)]);
    assert!(
        err.contains(&format!(
            "warning: {n_train} of {n_train} predicted sample(s) were in the model's training data ({n_train} by sample id, 0 by identical input values)"
        )),
        "{err}"
    );
    assert!(err.contains(&saved.training.sample_ids[0]), "{err}");
    let (h, rows) = read_tsv(&out);
    let c = col(&h, "in_training");
    assert!(rows.iter().all(|r| r[c] == "id"), "{rows:?}");

    // Held-out donors plus one training preparation under a new id: caught by its data.
    let original = saved.training.sample_ids[3].clone();
    let copy = format!("{original}_renamed");
    let (sh, srows) = read_tsv(&held_sheet);
    let (_, trows) = read_tsv(&train_sheet);
    let mut row = trows.iter().find(|r| r[0] == original).unwrap().clone();
    row[0] = copy.clone();
    let mut new_rows = srows.clone();
    new_rows.push(row);
    let new_sheet = dir.path().join("new-sheet.tsv");
    write_tsv(&new_sheet, &sh, &new_rows);
    let (mut ph, prot) = read_tsv(&tsv.join("proteome.tsv"));
    let k = col(&ph, &original);
    ph.push(copy.clone());
    let prot: Vec<Vec<String>> = prot
        .into_iter()
        .map(|mut r| {
            let v = r[k].clone();
            r.push(v);
            r
        })
        .collect();
    let new_matrix = dir.path().join("new-proteome.tsv");
    write_tsv(&new_matrix, &ph, &prot);
    let new_store = dir.path().join("new");
    ingest(&new_sheet, &new_matrix, &new_store);
    let out = dir.path().join("new.tsv");
    let err = ok_stderr(&["predict", p(&m), p(&new_store), "-o", p(&out)]);
    assert!(
        err.contains("predicted sample(s) were in the model's training data (0 by sample id, 1 by identical input values)"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{copy} (same data as training sample {original})")),
        "{err}"
    );
    let (h, rows) = read_tsv(&out);
    let c = col(&h, "in_training");
    let marked: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| !r[c].is_empty())
        .map(|r| (r[0].as_str(), r[c].as_str()))
        .collect();
    assert_eq!(marked, [(copy.as_str(), "data")]);
}

#[test]
fn numeric_target_writes_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = cohort(dir.path(), 21);
    let cfg = dir.path().join("num.toml");
    std::fs::write(
        &cfg,
        r#"target = "potency_score"
permutations = 0
learning_curve = []
[preprocess.proteome]
filters = [{ method = "valid_values", column = "source", min_fraction = 0.7 }]
transform = { method = "log2" }
normalization = { method = "median" }
imputation = { method = "min_det" }
[model]
model = "pls"
n_components = 2
"#,
    )
    .unwrap();
    let m = dir.path().join("m");
    let err = ok_stderr(&[
        "train",
        p(&store),
        "-c",
        p(&cfg),
        "--layers",
        "proteome",
        "--cv",
        "kfold",
        "--folds",
        "3",
        "-o",
        p(&m),
    ]);
    assert!(err.contains("r2") && err.contains("intervals"), "{err}");
    let (h, rows) = read_tsv(&m.join("predictions.tsv"));
    assert_eq!(
        h,
        [
            "sample_id",
            "repeat",
            "fold",
            "truth",
            "predicted",
            "lower",
            "upper",
            "covered"
        ]
    );
    for r in &rows {
        let (y, lo, hi): (f64, f64, f64) = (
            r[4].parse().unwrap(),
            r[5].parse().unwrap(),
            r[6].parse().unwrap(),
        );
        assert!(lo <= y && y <= hi);
    }
    let (h, imp) = read_tsv(&m.join("importance.tsv"));
    let c = col(&h, "final_coefficient");
    assert!(imp.iter().any(|r| r[c] != "NA" && r[c] != "0"));
    let out = dir.path().join("p.tsv");
    ok(&["predict", p(&m), p(&store), "-o", p(&out), "--quiet"]);
    let (h, rows) = read_tsv(&out);
    assert_eq!(
        h,
        [
            "sample_id",
            "truth",
            "predicted",
            "lower",
            "upper",
            "in_training"
        ]
    );
    // Predicting the training samples themselves: every row says so.
    assert!(rows.iter().all(|r| r[5] == "id"), "{rows:?}");
}

#[test]
fn configuration_errors_say_what_and_how() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::sim_store(dir.path(), 4);
    let out = dir.path().join("m");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "target = \"potency_class\"\npermutatons = 5\n").unwrap();
    let e = fail(&["train", p(&store), "-c", p(&bad), "-o", p(&out)]);
    assert!(
        e.contains("permutatons") && e.contains("unknown field"),
        "{e}"
    );
    let e = fail(&["train", p(&store), "-o", p(&out)]);
    assert!(e.contains("--target"), "{e}");
    let e = fail(&[
        "train",
        p(&store),
        "--target",
        "potency_class",
        "--cv",
        "logo",
        "--folds",
        "3",
        "-o",
        p(&out),
    ]);
    assert!(e.contains("--folds does not apply"), "{e}");
    let e = fail(&[
        "train",
        p(&store),
        "--target",
        "potency_class",
        "--layers",
        "mirna",
        "--folds",
        "40",
        "-o",
        p(&out),
    ]);
    assert!(e.contains("largest feasible number of folds"), "{e}");
    let e = fail(&[
        "train",
        p(&store),
        "--target",
        "potency_clas",
        "-o",
        p(&out),
    ]);
    assert!(
        e.contains("potency_class"),
        "the error lists the columns: {e}"
    );
    // The proteome has missing cells and no pipeline imputes them.
    let e = fail(&[
        "train",
        p(&store),
        "--target",
        "potency_class",
        "--layers",
        "proteome",
        "-o",
        p(&out),
    ]);
    assert!(e.contains("[preprocess.proteome]"), "{e}");
    let grid = dir.path().join("grid.toml");
    std::fs::write(
        &grid,
        "target = \"potency_class\"\n[tuning]\ngrid = { lamda = [0.1, 1.0] }\n",
    )
    .unwrap();
    let e = fail(&["train", p(&store), "-c", p(&grid), "-o", p(&out)]);
    assert!(
        e.contains("'lamda' is not a parameter of elastic_net"),
        "{e}"
    );
    assert!(!out.exists(), "nothing written on error");
}

/// The real secretome data (issue 7): control vs osteogenic secretomes of six mesenchymal cell
/// sources, 5-fold CV grouped by donor, with a within-donor permutation p-value.
#[test]
fn real_secretome_predicts_differentiation_with_donor_grouped_cv() {
    let data =
        evomics_testkit::require_shared!("data/real/msc-sources-osteogenic-secretome-proteome");
    let sheet = data.join("secretome_samples.tsv");
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("secretome");
    ok(&[
        "ingest",
        "-s",
        p(&sheet),
        "--sample-id-column",
        "Sample",
        "--layer",
        &format!(
            "proteome={}",
            p(&data.join("secretome_fragpipe_combined_protein.tsv.gz"))
        ),
        "-o",
        p(&store),
        "--quiet",
    ]);
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../workflows/train/msc-secretome-differentiation.toml");
    let m = dir.path().join("model");
    // Fast settings: the documented config without its tuning grid, source check and learning
    // curve, and with 19 permutations.
    let mut fast: toml::Table = toml::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    for key in ["tuning", "source_column", "source_permutations"] {
        assert!(
            fast.remove(key).is_some(),
            "the workflow config sets '{key}'"
        );
    }
    fast.insert("learning_curve".into(), toml::Value::Array(Vec::new()));
    fast.insert("permutations".into(), toml::Value::Integer(19));
    let fast = toml::to_string(&fast).unwrap();
    let fast_cfg = dir.path().join("fast.toml");
    std::fs::write(&fast_cfg, fast).unwrap();
    let err = ok_stderr(&["train", p(&store), "-c", p(&fast_cfg), "-o", p(&m)]);
    println!("{err}");
    let donors = sheet_map(&sheet, "Donor");
    let (splits, n) = assert_grouped_folds(&m.join("folds.tsv"), &donors);
    assert_eq!(splits, 5);
    let metrics = json(&m.join("metrics.json"));
    assert_eq!(n, metrics["n_samples"].as_u64().unwrap() as usize);
    assert_eq!(metrics["positive_class"], "dif");
    assert_eq!(
        metrics["permutation_test"]["permutation"]["column"],
        "Donor"
    );
    let (auc, pv) = auc_and_p(&m);
    assert!(auc > 0.9, "pooled AUC {auc}");
    assert_eq!(pv, 0.05, "the smallest p with 19 permutations");
}

/// Issue 18: four models (elastic net, tuned linear SVM, forest, boosting) on the same
/// donor-grouped folds of the real secretome, with the in-fold preprocessing of the documented
/// config, compared in pairs by the corrected resampled t-test; then the same models with
/// leave-one-cell-type-out.
#[test]
fn real_secretome_models_compared_on_shared_folds() {
    let data =
        evomics_testkit::require_shared!("data/real/msc-sources-osteogenic-secretome-proteome");
    let sheet = data.join("secretome_samples.tsv");
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("secretome");
    ok(&[
        "ingest",
        "-s",
        p(&sheet),
        "--sample-id-column",
        "Sample",
        "--layer",
        &format!(
            "proteome={}",
            p(&data.join("secretome_fragpipe_combined_protein.tsv.gz"))
        ),
        "-o",
        p(&store),
        "--quiet",
    ]);
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../workflows/train/msc-secretome-model-comparison.toml");
    let mut fast: toml::Table = toml::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    fast.insert("permutations".into(), toml::Value::Integer(0));
    let fast_cfg = dir.path().join("fast.toml");
    std::fs::write(&fast_cfg, toml::to_string(&fast).unwrap()).unwrap();

    let check = |out: &Path, splits: usize| -> String {
        let (h, rows) = read_tsv(&out.join("models.tsv"));
        let (model, selected, metric, pooled) = (
            col(&h, "model"),
            col(&h, "selected"),
            col(&h, "metric"),
            col(&h, "pooled"),
        );
        let auc: BTreeMap<String, f64> = rows
            .iter()
            .filter(|r| r[metric] == "roc_auc")
            .map(|r| (r[model].clone(), r[pooled].parse::<f64>().unwrap()))
            .collect();
        assert_eq!(
            auc.keys().map(String::as_str).collect::<Vec<_>>(),
            ["boosting", "enet", "forest", "svm"]
        );
        let kept: BTreeSet<&str> = rows
            .iter()
            .filter(|r| r[selected] == "true")
            .map(|r| r[model].as_str())
            .collect();
        assert_eq!(kept.len(), 1, "one model is kept: {kept:?}");
        let kept = kept.into_iter().next().unwrap().to_string();
        let best = auc
            .iter()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(n, _)| n.clone())
            .unwrap();
        assert_eq!(kept, best, "the best pooled ROC AUC is kept: {auc:?}");
        let (h, rows) = read_tsv(&out.join("model_comparison.tsv"));
        let (m, n, df, pv, t) = (
            col(&h, "metric"),
            col(&h, "n_splits"),
            col(&h, "df"),
            col(&h, "p_value"),
            col(&h, "t"),
        );
        let aucs: Vec<&Vec<String>> = rows.iter().filter(|r| r[m] == "roc_auc").collect();
        assert_eq!(aucs.len(), 6, "every pair of four models");
        for r in aucs {
            assert_eq!(r[n], splits.to_string());
            assert_eq!(r[df], (splits - 1).to_string());
            if r[t] != "NA" {
                let p: f64 = r[pv].parse().unwrap();
                assert!((0.0..=1.0).contains(&p), "{r:?}");
            }
        }
        let (h, rows) = read_tsv(&out.join("model_folds.tsv"));
        let per_model = rows
            .iter()
            .filter(|r| r[col(&h, "metric")] == "roc_auc" && r[col(&h, "model")] == "svm")
            .count();
        assert_eq!(per_model, splits);
        let metrics = json(&out.join("metrics.json"));
        assert_eq!(metrics["model_comparison"]["selected"], kept.as_str());
        let model =
            SavedModel::from_json(&std::fs::read_to_string(out.join("model.json")).unwrap())
                .unwrap();
        let kind = |n: &str| match n {
            "enet" => "elastic_net",
            "svm" => "linear_svm",
            "forest" => "random_forest",
            _ => "gradient_boosting",
        };
        assert_eq!(
            model.model_params.name(),
            kind(&kept),
            "the saved model is the kept one"
        );
        println!("pooled ROC AUC {auc:?}, kept {kept}");
        kept
    };

    let grouped = dir.path().join("grouped");
    let err = ok_stderr(&["train", p(&store), "-c", p(&fast_cfg), "-o", p(&grouped)]);
    println!("{err}");
    assert!(err.contains("4 models on the same folds"), "{err}");
    assert!(
        err.contains("optimistic"),
        "the selection is said to bias the estimate: {err}"
    );
    assert!(
        !err.contains("learned nothing"),
        "every model learns: {err}"
    );
    let donors = sheet_map(&sheet, "Donor");
    let (splits, _) = assert_grouped_folds(&grouped.join("folds.tsv"), &donors);
    assert_eq!(splits, 5);
    check(&grouped, 5);

    let logo = dir.path().join("logo");
    ok(&[
        "train",
        p(&store),
        "-c",
        p(&fast_cfg),
        "--cv",
        "leave_one_group_out",
        "--group",
        "Cell_type",
        "-o",
        p(&logo),
        "--quiet",
    ]);
    let types = sheet_map(&sheet, "Cell_type");
    let (splits, _) = assert_grouped_folds(&logo.join("folds.tsv"), &types);
    assert_eq!(splits, 6, "one fold per cell type");
    check(&logo, 6);

    // Naming the model removes the selection; --model cannot replace [[models]].
    let named = dir.path().join("named");
    fast.insert("select".into(), toml::Value::String("forest".into()));
    fast.insert("learning_curve".into(), toml::Value::Array(Vec::new()));
    let named_cfg = dir.path().join("named.toml");
    std::fs::write(&named_cfg, toml::to_string(&fast).unwrap()).unwrap();
    let err = ok_stderr(&["train", p(&store), "-c", p(&named_cfg), "-o", p(&named)]);
    assert!(!err.contains("optimistic"), "{err}");
    assert_eq!(
        json(&named.join("metrics.json"))["model_comparison"]["selected_by"],
        "named: forest"
    );
    let e = fail(&[
        "train",
        p(&store),
        "-c",
        p(&fast_cfg),
        "--model",
        "svm",
        "-o",
        p(&named),
    ]);
    assert!(e.contains("[[models]]"), "{e}");
}

/// Assays from different subsets of preparations: the simulator gives 20 % of the preparations
/// only a proteome and 20 % only a miRNA profile and writes the sample map; ingest through the
/// map keeps each layer's own preparations (no --allow-missing-samples), `info` reports the
/// overlap, and a multi-omics model trains on the preparations with both layers, the others
/// listed as dropped, with no preparation and no donor on both sides of a split.
#[test]
fn multi_omics_training_uses_the_preparations_with_both_layers() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sim.toml");
    std::fs::write(
        &cfg,
        "[effects]\nsignature_loading_log2 = [1.0, 1.6]\n[assays]\nproteome_only = 0.2\nmirna_only = 0.2\n",
    )
    .unwrap();
    let (sim, tsv) = (dir.path().join("sim"), dir.path().join("tsv"));
    ok(&[
        "simulate",
        "--config",
        p(&cfg),
        "--seed",
        "11",
        "--samples",
        "60",
        "--proteins",
        "200",
        "--mirnas",
        "60",
        "-o",
        p(&sim),
        "--tsv",
        p(&tsv),
        "--quiet",
    ]);
    let (h, map_rows) = read_tsv(&tsv.join("sample_map.tsv"));
    assert_eq!(h, ["unit_id", "assay", "column"]);
    let assays = |unit: &str| -> BTreeSet<String> {
        map_rows
            .iter()
            .filter(|r| r[0] == unit)
            .map(|r| r[1].clone())
            .collect()
    };
    let sheet = tsv.join("samples.tsv");
    let donor_of = sheet_map(&sheet, "donor_id");
    let both: BTreeSet<String> = donor_of
        .keys()
        .filter(|u| assays(u).len() == 2)
        .cloned()
        .collect();
    let only = |a: &str| {
        donor_of
            .keys()
            .filter(|u| assays(u) == BTreeSet::from([a.to_string()]))
            .count()
    };
    assert_eq!((both.len(), only("proteome"), only("mirna")), (36, 12, 12));

    // Without the map the layers' missing preparations are an error ...
    let store = dir.path().join("store");
    let layers = [
        "--layer".to_string(),
        format!("proteome={},scale=linear", p(&tsv.join("proteome.tsv"))),
        "--layer".to_string(),
        format!("mirna={},scale=counts", p(&tsv.join("mirna.tsv"))),
    ];
    let mut args = vec!["ingest", "-s", p(&sheet)];
    args.extend(layers.iter().map(String::as_str));
    args.extend(["-o", p(&store), "--quiet"]);
    let err = fail(&args);
    assert!(err.contains("--allow-missing-samples"), "{err}");
    // ... and with it, each layer holds its own preparations.
    let map = tsv.join("sample_map.tsv");
    args.insert(3, p(&map));
    args.insert(3, "--sample-map");
    let out = evomics(&args[..args.len() - 1]);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(
            "12 sheet sample(s) not measured in this layer (not in the sample map for it)"
        ),
        "{said}"
    );
    let (exp, manifest) = read_experiment(&store).unwrap();
    assert_eq!(exp.layer("proteome").unwrap().n_samples(), 48);
    assert_eq!(exp.layer("mirna").unwrap().n_samples(), 48);
    assert!(manifest.inputs.iter().any(|i| i.role == "sample_map"));
    let info = evomics(&["info", p(&store)]);
    let info = String::from_utf8_lossy(&info.stdout).to_string();
    assert!(info.contains("samples in every layer: 36 of 60"), "{info}");
    assert!(
        info.contains("only mirna: 12") && info.contains("only proteome: 12"),
        "{info}"
    );

    let train_cfg = dir.path().join("train.toml");
    std::fs::write(
        &train_cfg,
        r#"target = "potency_class"
classes = ["low", "high"]
layers = ["proteome", "mirna"]
seed = 7
permutations = 0
learning_curve = []

[preprocess.proteome]
filters = [{ method = "valid_values", column = "source", min_fraction = 0.7 }]
transform = { method = "log2" }
normalization = { method = "median" }
imputation = { method = "down_shift", width = 0.3, shift = 1.8, seed = 7 }

[preprocess.mirna]
transform = { method = "log_cpm", prior_count = 2.0, norm_factors = { method = "tmm" } }

[model]
model = "elastic_net"
alpha = 0.5
lambda = 0.05

[cv]
scheme = "group_k_fold"
k = 4
group = "donor_id"
repeats = 2
"#,
    )
    .unwrap();
    let m = dir.path().join("model");
    ok(&[
        "train",
        p(&store),
        "-c",
        p(&train_cfg),
        "-o",
        p(&m),
        "--quiet",
    ]);
    let metrics = json(&m.join("metrics.json"));
    assert_eq!(metrics["n_samples"], 36);
    let dropped = metrics["dropped"].as_array().unwrap();
    assert_eq!(dropped.len(), 24);
    for d in dropped {
        let unit = d["sample_id"].as_str().unwrap();
        let missing = if assays(unit).contains("proteome") {
            "mirna"
        } else {
            "proteome"
        };
        assert_eq!(d["reason"], format!("not in layer '{missing}'"), "{d}");
    }
    // Folds: only preparations with both layers, none and no donor on both sides of a split.
    let unit_of: BTreeMap<String, String> =
        donor_of.keys().map(|u| (u.clone(), u.clone())).collect();
    let (_, tested) = assert_grouped_folds(&m.join("folds.tsv"), &unit_of);
    assert_eq!(tested, 36);
    assert_grouped_folds(&m.join("folds.tsv"), &donor_of);
    let (_, rows) = read_tsv(&m.join("folds.tsv"));
    assert!(rows.iter().all(|r| both.contains(&r[0])));
}
