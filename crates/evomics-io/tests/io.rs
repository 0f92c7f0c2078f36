//! Integration tests of evomics-io: store round trips, cross-reader checks with pyarrow, and
//! ingest of real public tables by path.

use std::process::Command;

use evomics_core::{
    Assay, Experiment, FeatureFlags, Features, LayerKind, SampleSheet, ValueFlag, ValueScale,
};
use evomics_io::sheet::SheetOptions;
use evomics_io::{ingest, read_experiment, write_experiment, IngestRequest, LayerSpec, Manifest};
use ndarray::Array2;
use proptest::prelude::*;

fn experiment(values: &Array2<f64>, flags: &Array2<ValueFlag>) -> Experiment {
    let (nf, ns) = values.dim();
    let samples: Vec<String> = (0..ns).map(|j| format!("EV{j:03}")).collect();
    let sheet = SampleSheet::from_text_columns(
        samples.clone(),
        vec![
            (
                "source".into(),
                (0..ns)
                    .map(|j| Some(["BM-MSC", "ADSC"][j % 2].to_string()))
                    .collect(),
            ),
            (
                "alp_activity".into(),
                (0..ns)
                    .map(|j| (j % 3 != 0).then(|| format!("{}", j as f64 * 0.5)))
                    .collect(),
            ),
        ],
    )
    .unwrap();
    let mut features = Features::new((0..nf).map(|i| format!("P{i:04}")).collect()).unwrap();
    features
        .set_annotation(
            "gene",
            (0..nf)
                .map(|i| (i % 2 == 0).then(|| format!("G{i}")))
                .collect(),
        )
        .unwrap();
    let mut ff = vec![FeatureFlags::NONE; nf];
    if nf > 0 {
        ff[0] = FeatureFlags::CONTAMINANT;
    }
    features.set_flags(ff).unwrap();
    let a = Assay::new(
        "proteome",
        LayerKind::Proteome,
        ValueScale::Linear,
        features,
        samples,
        values.clone(),
        flags.clone(),
    )
    .unwrap();
    let mut e = Experiment::new(sheet);
    e.insert_layer(a).unwrap();
    e
}

fn cell_strategy() -> impl Strategy<Value = (f64, ValueFlag)> {
    prop_oneof![
        (-1e12f64..1e12).prop_map(|v| (v, ValueFlag::Observed)),
        Just((f64::NAN, ValueFlag::Missing)),
        (0.0f64..10.0).prop_map(|v| (v, ValueFlag::Imputed)),
        Just((f64::NAN, ValueFlag::BelowDetection)),
        (0.0f64..1.0).prop_map(|v| (v, ValueFlag::BelowDetection)),
    ]
}

fn matrix_strategy() -> impl Strategy<Value = (Array2<f64>, Array2<ValueFlag>)> {
    (1usize..8, 1usize..6).prop_flat_map(|(nf, ns)| {
        proptest::collection::vec(cell_strategy(), nf * ns).prop_map(move |cells| {
            let values =
                Array2::from_shape_vec((nf, ns), cells.iter().map(|c| c.0).collect()).unwrap();
            let flags =
                Array2::from_shape_vec((nf, ns), cells.iter().map(|c| c.1).collect()).unwrap();
            (values, flags)
        })
    })
}

fn same_bits(a: &Array2<f64>, b: &Array2<f64>) -> bool {
    a.iter()
        .zip(b.iter())
        .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Values and flags survive the Parquet store unchanged, whatever mix of flags.
    #[test]
    fn store_round_trip_keeps_values_and_flags((values, flags) in matrix_strategy()) {
        let dir = tempfile::tempdir().unwrap();
        let e = experiment(&values, &flags);
        write_experiment(&dir.path().join("s"), &e, &Manifest::new("test")).unwrap();
        let (back, _) = read_experiment(&dir.path().join("s")).unwrap();
        let a = back.layer("proteome").unwrap();
        prop_assert_eq!(a.flags(), e.layer("proteome").unwrap().flags());
        prop_assert!(same_bits(a.values(), e.layer("proteome").unwrap().values()));
        prop_assert_eq!(&back, &e);
    }

    /// Permuting the columns of an input never changes which value belongs to which sample.
    #[test]
    fn sample_order_never_changes_values((values, flags) in matrix_strategy(), seed in 0u64..1000) {
        let e = experiment(&values, &flags);
        let a = e.layer("proteome").unwrap();
        let mut cols: Vec<usize> = (0..a.n_samples()).collect();
        let mut s = seed;
        for i in (1..cols.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            cols.swap(i, (s >> 33) as usize % (i + 1));
        }
        let permuted = a.select_samples(&cols);
        let mut e2 = Experiment::new(e.samples().clone());
        e2.insert_layer(permuted).unwrap();
        prop_assert_eq!(&e2, &e);
    }
}

#[test]
fn store_is_read_by_pyarrow() {
    let python = std::env::var("EVOMICS_PYTHON").unwrap_or_else(|_| "python3".into());
    let has_pyarrow = Command::new(&python)
        .args(["-c", "import pyarrow"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_pyarrow {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide python3 with pyarrow (EVOMICS_PYTHON); .ci/run installs it"
        );
        eprintln!("skipping: no python3 with pyarrow here (CI installs it)");
        return;
    }
    let values =
        Array2::from_shape_vec((3, 2), vec![1.5, f64::NAN, -2.25, 1e10, f64::NAN, 0.0]).unwrap();
    let flags = Array2::from_shape_vec(
        (3, 2),
        vec![
            ValueFlag::Observed,
            ValueFlag::Missing,
            ValueFlag::Imputed,
            ValueFlag::Observed,
            ValueFlag::BelowDetection,
            ValueFlag::Observed,
        ],
    )
    .unwrap();
    let e = experiment(&values, &flags);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    write_experiment(&store, &e, &Manifest::new("test")).unwrap();
    let script = r#"
import json, sys, pyarrow.parquet as pq
d = sys.argv[1]
v = pq.read_table(d + "/layers/proteome/values.parquet").to_pydict()
f = pq.read_table(d + "/layers/proteome/flags.parquet").to_pydict()
s = pq.read_table(d + "/samples.parquet").to_pydict()
ft = pq.read_table(d + "/layers/proteome/features.parquet").to_pydict()
print(json.dumps({"values": v, "flags": f, "samples": s, "features": ft}))
"#;
    let out = Command::new(&python)
        .args(["-c", script])
        .arg(&store)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        j["values"]["feature_id"],
        serde_json::json!(["P0000", "P0001", "P0002"])
    );
    assert_eq!(j["values"]["EV000"], serde_json::json!([1.5, -2.25, null]));
    assert_eq!(j["values"]["EV001"], serde_json::json!([null, 1e10, 0.0]));
    assert_eq!(j["flags"]["EV000"], serde_json::json!([0, 2, 3]));
    assert_eq!(j["flags"]["EV001"], serde_json::json!([1, 0, 0]));
    assert_eq!(
        j["samples"]["source"],
        serde_json::json!(["BM-MSC", "ADSC"])
    );
    assert_eq!(j["samples"]["alp_activity"], serde_json::json!([null, 0.5]));
    assert_eq!(j["features"]["feature_flags"], serde_json::json!([2, 0, 0]));
    assert_eq!(j["features"]["gene"], serde_json::json!(["G0", null, "G2"]));
}

#[test]
fn ingest_real_wide_mirna_counts() {
    let dir = evomics_testkit::require_shared!("data/real/ev-mirna-metabolic-inhibitors-cfarkas");
    let req = IngestRequest {
        samples: dir.join("samples.tsv"),
        sheet: SheetOptions::default(),
        layers: vec![LayerSpec::parse(&format!(
            "mirna={},format=wide,scale=counts",
            dir.join("ev_mirna_counts.csv").display()
        ))
        .unwrap()],
        allow_missing_samples: false,
    };
    let (exp, manifest, reports) = ingest(&req).unwrap();
    let m = exp.layer("mirna").unwrap();
    assert_eq!((m.n_features(), m.n_samples()), (2067, 16));
    assert_eq!(
        m.flag_counts().missing,
        0,
        "counts of 0 are observed, not missing"
    );
    // First data row of the file: miR-1,4,3,0,16,...; Olig_4 = 45.
    let f = m.features().position("miR-1").unwrap();
    assert_eq!(m.get(f, m.sample_position("Ctrl_1").unwrap()), Some(4.0));
    assert_eq!(m.get(f, m.sample_position("Ctrl_3").unwrap()), Some(0.0));
    assert_eq!(m.get(f, m.sample_position("Olig_4").unwrap()), Some(45.0));
    assert_eq!(reports[0].matching.samples_matched, 16);
    assert_eq!(manifest.inputs.len(), 2);
    assert_eq!(manifest.inputs[1].sha256.len(), 64);
}

#[test]
fn sheet_sample_absent_from_matrix_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let sheet = dir.path().join("s.tsv");
    std::fs::write(&sheet, "sample_id\tsource\nA\tADSC\nB\tADSC\nC\tDPSC\n").unwrap();
    let m = dir.path().join("m.tsv");
    std::fs::write(&m, "id\tA\tB\nf1\t1\t2\n").unwrap();
    let mut req = IngestRequest {
        samples: sheet,
        sheet: SheetOptions::default(),
        layers: vec![LayerSpec::parse(&format!("lipidome={}", m.display())).unwrap()],
        allow_missing_samples: false,
    };
    let e = ingest(&req).unwrap_err().to_string();
    assert!(
        e.contains("'C'") && e.contains("--allow-missing-samples"),
        "{e}"
    );
    req.allow_missing_samples = true;
    let (exp, _, _) = ingest(&req).unwrap();
    assert_eq!(exp.layer("lipidome").unwrap().n_samples(), 2);
    assert_eq!(exp.samples().len(), 3);
}
