//! Outputs do not depend on the thread count: the same stages run with one and with two
//! threads (RAYON_NUM_THREADS for lmFit and the other rayon loops, `train --threads` for the
//! permutation test, the forest's `n_threads` for its trees) write identical files.
//! bench/threads.sh runs the same check on the whole demo pipeline.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::p;

/// [`crate::snapshot`] without the forest's own `n_threads` setting, the hash of the config
/// file that differs by that one line and the model file's content hash, which covers it.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    crate::snapshot(dir)
        .into_iter()
        .map(|(rel, mut bytes)| {
            if rel.ends_with("manifest.json") {
                let mut m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                if let Some(inputs) = m["inputs"].as_array_mut() {
                    for i in inputs.iter_mut().filter(|i| i["role"] == "config") {
                        i.as_object_mut().unwrap().remove("sha256");
                    }
                }
                bytes = serde_json::to_vec(&m).unwrap();
            }
            // The model file's content hash covers its `n_threads` setting too.
            if rel.ends_with("model.json") {
                let mut m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                assert!(m
                    .as_object_mut()
                    .unwrap()
                    .remove(evomics_ml::persist::CONTENT_HASH_KEY)
                    .is_some());
                bytes = serde_json::to_vec(&m).unwrap();
            }
            let text = String::from_utf8_lossy(&bytes)
                .replace("\"n_threads\": 1", "\"n_threads\": N")
                .replace("\"n_threads\": 2", "\"n_threads\": N")
                .replace("\"n_threads\":1", "\"n_threads\":N")
                .replace("\"n_threads\":2", "\"n_threads\":N");
            (rel, text.into_bytes())
        })
        .collect()
}

fn forest_config(threads: usize) -> String {
    format!(
        r#"target = "potency_class"
classes = ["low", "high"]
layers = ["proteome", "mirna"]
seed = 5
permutations = 9
learning_curve = []
[preprocess.proteome]
filters = [{{ method = "valid_values", column = "source", min_fraction = 0.7 }}]
transform = {{ method = "log2" }}
normalization = {{ method = "median" }}
imputation = {{ method = "down_shift", width = 0.3, shift = 1.8, seed = 7 }}
[preprocess.mirna]
transform = {{ method = "log_cpm", prior_count = 2.0, norm_factors = {{ method = "tmm" }} }}
[model]
model = "random_forest"
n_trees = 40
seed = 3
n_threads = {threads}
[cv]
scheme = "group_k_fold"
k = 4
group = "donor_id"
"#
    )
}

/// Run `evomics ARGS` in `dir` with `threads` rayon threads.
fn run_in(dir: &Path, threads: usize, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_evomics"))
        .args(args)
        .current_dir(dir)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .output()
        .expect("the evomics binary runs");
    assert!(
        out.status.success(),
        "evomics {args:?} with {threads} thread(s) failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn outputs_are_identical_with_one_and_two_threads() {
    let d = tempfile::tempdir().unwrap();
    let store = crate::sim_store(d.path(), 20240611);
    let mut snapshots = Vec::new();
    for threads in [1usize, 2] {
        let dir = d.path().join(format!("threads-{threads}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("forest.toml"), forest_config(threads)).unwrap();
        let t = threads.to_string();
        let q = "--quiet";
        run_in(
            &dir,
            threads,
            &[q, "normalize", p(&store), "-o", "out/norm"],
        );
        run_in(
            &dir,
            threads,
            &[
                q,
                "diff",
                "out/norm",
                "--layer",
                "proteome",
                "--design",
                "~ 0 + source",
                "--contrast",
                "ADSC - BM_MSC",
                "--contrast",
                "DPSC - BM_MSC",
                "--block",
                "donor_id",
                "-o",
                "out/diff-source",
            ],
        );
        run_in(
            &dir,
            threads,
            &[
                q,
                "diff",
                "out/norm",
                "--layer",
                "mirna",
                "--design",
                "~ potency_score + batch",
                "--contrast",
                "potency_score",
                "--counts",
                p(&store),
                "-o",
                "out/diff-potency",
            ],
        );
        run_in(
            &dir,
            threads,
            &[
                q,
                "cluster",
                "out/norm",
                "--layer",
                "proteome",
                "--k",
                "3..5",
                "--gap-references",
                "5",
                "--complete-features",
                "-o",
                "out/cluster",
            ],
        );
        run_in(
            &dir,
            threads,
            &[
                q,
                "train",
                p(&store),
                "--config",
                "forest.toml",
                "--threads",
                &t,
                "-o",
                "out/train",
            ],
        );
        snapshots.push(snapshot(&dir.join("out")));
    }
    let (one, two) = (&snapshots[0], &snapshots[1]);
    assert_eq!(
        one.keys().collect::<Vec<_>>(),
        two.keys().collect::<Vec<_>>(),
        "the same files"
    );
    assert!(one.contains_key("train/metrics.json"));
    assert!(one.contains_key("diff-source/contrast_ADSC_-_BM_MSC.tsv"));
    assert!(one.contains_key("cluster/clusters.tsv"));
    let differ: Vec<&String> = one.keys().filter(|k| one[*k] != two[*k]).collect();
    assert!(
        differ.is_empty(),
        "files differ between 1 and 2 threads: {differ:?}"
    );
}
