//! Integration tests of evomics-io: store round trips, cross-reader checks with pyarrow, and
//! ingest of real public tables by path.

use std::process::Command;

use evomics_core::{
    Assay, Experiment, FeatureFlags, Features, LayerKind, SampleSheet, ValueFlag, ValueScale,
};
use evomics_io::sheet::SheetOptions;
use evomics_io::{
    ingest, read_experiment, write_experiment, IngestRequest, InputFile, LayerSpec, Manifest,
};
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

/// Up to 7 features × a few samples, or × more than one of the store reader's 128-sample
/// batches (the last one partial).
fn matrix_strategy() -> impl Strategy<Value = (Array2<f64>, Array2<ValueFlag>)> {
    (1usize..8, prop_oneof![1usize..6, 126usize..300]).prop_flat_map(|(nf, ns)| {
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

/// An experiment whose every stored column has something a reader could get wrong: nulls,
/// non-ASCII and empty text, a quote and a tab in ids, −0, huge and tiny numbers, every flag.
fn awkward_experiment() -> Experiment {
    let samples: Vec<String> = vec!["EV-1".into(), "EV é\t2".into(), "EV\"3".into()];
    let sheet = SampleSheet::from_text_columns(
        samples.clone(),
        vec![
            (
                "source".into(),
                vec![Some("BM-MSC".into()), None, Some("ADSC ü".into())],
            ),
            (
                "alp_activity".into(),
                vec![Some("1.5".into()), None, Some("-2e-300".into())],
            ),
            (
                "note".into(),
                vec![Some("".into()), Some("x,y".into()), None],
            ),
        ],
    )
    .unwrap();
    let mut features = Features::new(vec![
        "P1".into(),
        "sp|Q2|Ω".into(),
        "".to_string() + "CON__P3",
        "P4".into(),
    ])
    .unwrap();
    features
        .set_annotation(
            "gene",
            vec![Some("G1".into()), None, Some("".into()), Some("Ω".into())],
        )
        .unwrap();
    features
        .set_flags(vec![
            FeatureFlags::NONE,
            FeatureFlags::DECOY,
            FeatureFlags::CONTAMINANT,
            FeatureFlags::NONE,
        ])
        .unwrap();
    let values = Array2::from_shape_vec(
        (4, 3),
        vec![
            1.5,
            f64::NAN,
            -0.0,
            1e300,
            5e-324,
            2.0,
            0.1 + 0.2,
            f64::NAN,
            7.0,
            0.0,
            f64::NAN,
            3.25,
        ],
    )
    .unwrap();
    use ValueFlag::*;
    let flags = Array2::from_shape_vec(
        (4, 3),
        vec![
            Observed,
            Missing,
            Observed,
            Observed,
            Observed,
            Imputed,
            Observed,
            BelowDetection,
            Observed,
            Observed,
            Missing,
            BelowDetection,
        ],
    )
    .unwrap();
    let a = Assay::new(
        "proteome",
        LayerKind::Proteome,
        ValueScale::Linear,
        features,
        samples,
        values,
        flags,
    )
    .unwrap();
    let mut e = Experiment::new(sheet);
    e.insert_layer(a).unwrap();
    e
}

/// Every column of every Parquet file of a store, as JSON, read by pyarrow (any version) or
/// DuckDB. Floats are printed with repr(), so that every bit is compared.
const READ_STORE_PY: &str = r#"
import json, sys, os
engine, d = sys.argv[1], sys.argv[2]
files = ["samples.parquet", "layers/proteome/features.parquet",
         "layers/proteome/values.parquet", "layers/proteome/flags.parquet"]
def enc(v):
    if isinstance(v, float):
        return {"f": repr(v)}
    return v
out = {}
for f in files:
    p = os.path.join(d, f)
    if engine == "duckdb":
        import duckdb
        con = duckdb.connect()
        rel = con.execute("SELECT * FROM read_parquet(?)", [p])
        names = [c[0] for c in rel.description]
        rows = rel.fetchall()
        cols = {n: [enc(r[i]) for r in rows] for i, n in enumerate(names)}
        types = {}
    else:
        import pyarrow.parquet as pq
        t = pq.read_table(p)
        cols = {n: [enc(v) for v in t.column(n).to_pylist()] for n in t.column_names}
        types = {n: str(t.schema.field(n).type) for n in t.column_names}
    out[f] = {"columns": cols, "types": types}
print(json.dumps(out))
"#;

/// What evomics wrote, in the shape READ_STORE_PY prints.
fn expected_store_json(e: &Experiment) -> serde_json::Value {
    use serde_json::{json, Map, Value};
    let f = |x: f64| json!({ "f": python_repr(x) });
    let text = |v: &[Option<String>]| {
        Value::from(
            v.iter()
                .map(|x| x.clone().map(Value::from).unwrap_or(Value::Null))
                .collect::<Vec<_>>(),
        )
    };
    let mut samples = Map::new();
    samples.insert("sample_id".into(), json!(e.samples().sample_ids()));
    for c in e.samples().columns() {
        samples.insert(
            c.name.clone(),
            match &c.values {
                evomics_core::ColumnValues::Text(v) => text(v),
                evomics_core::ColumnValues::Numeric(v) => Value::from(
                    v.iter()
                        .map(|x| x.map(f).unwrap_or(Value::Null))
                        .collect::<Vec<_>>(),
                ),
            },
        );
    }
    let a = e.layer("proteome").unwrap();
    let ids = json!(a.features().ids());
    let mut features = Map::new();
    features.insert("feature_id".into(), ids.clone());
    features.insert(
        "feature_flags".into(),
        json!(a
            .features()
            .flags()
            .iter()
            .map(|x| x.bits())
            .collect::<Vec<_>>()),
    );
    for (k, v) in a.features().annotations() {
        features.insert(k.clone(), text(v));
    }
    let mut values = Map::new();
    let mut flags = Map::new();
    values.insert("feature_id".into(), ids.clone());
    flags.insert("feature_id".into(), ids);
    for (j, s) in a.samples().iter().enumerate() {
        values.insert(
            s.clone(),
            Value::from(
                a.values()
                    .column(j)
                    .iter()
                    .map(|&x| if x.is_nan() { Value::Null } else { f(x) })
                    .collect::<Vec<_>>(),
            ),
        );
        flags.insert(
            s.clone(),
            json!(a
                .flags()
                .column(j)
                .iter()
                .map(|g| g.code())
                .collect::<Vec<_>>()),
        );
    }
    json!({
        "samples.parquet": samples,
        "layers/proteome/features.parquet": features,
        "layers/proteome/values.parquet": values,
        "layers/proteome/flags.parquet": flags,
    })
}

/// Python's `repr` of a float: the shortest round-trip digits, as Rust's `{:?}` gives them,
/// spelled as Python spells them.
fn python_repr(x: f64) -> String {
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let a = x.abs();
    if (1e-4..1e16).contains(&a) {
        let s = format!("{x:?}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        // Python: 1e+300, 5e-324, 1.5e-05
        let s = format!("{x:e}");
        let (m, e) = s.split_once('e').unwrap();
        let e: i32 = e.parse().unwrap();
        format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    }
}

/// A layer of 3,000 features whose first sample holds whole-number intensities (which
/// compress best byte-stream split), its second a few repeated values (best plain) and its
/// third intensities with every seventh missing.
fn compressible_layer(samples: &[String]) -> Assay {
    let g = 3000;
    let hash = |i: u64| {
        let z = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (z ^ (z >> 29)) >> 20
    };
    let values = Array2::from_shape_fn((g, samples.len()), |(i, j)| match j {
        0 => 1e6 + hash(i as u64) as f64,
        1 => [1.25, 2.5, 7.75][i % 3],
        _ if i % 7 == 0 => f64::NAN,
        _ => (5e7 + hash(i as u64 + 77) as f64).round(),
    });
    let flags = Array2::from_shape_fn((g, samples.len()), |(i, j)| {
        if j >= 2 && i % 7 == 0 {
            ValueFlag::Missing
        } else {
            ValueFlag::Observed
        }
    });
    let features = Features::new((0..g).map(|i| format!("Q{i}")).collect()).unwrap();
    Assay::new(
        "bulk",
        LayerKind::Proteome,
        ValueScale::Linear,
        features,
        samples.to_vec(),
        values,
        flags,
    )
    .unwrap()
}

/// The store's Parquet files are read back identically — every column, every value, nulls
/// where evomics has no value — by pyarrow 12 (the oldest line in use; polars' `string_view`
/// columns made it fail with "Unrecognized type: 24"), by current pyarrow and by DuckDB.
/// Text columns are plain `large_string`.
#[test]
fn store_is_read_identically_by_pyarrow_12_current_pyarrow_and_duckdb() {
    let old = evomics_testkit::python_with("EVOMICS_PYTHON_PARQUET", None, "pyarrow, duckdb");
    let new = evomics_testkit::python_with("EVOMICS_PYTHON", Some("python3"), "pyarrow");
    let mut e = awkward_experiment();
    // Large enough for compressed column chunks: whole-number intensities (byte-stream split)
    // and repeated values (plain).
    e.insert_layer(compressible_layer(e.samples().sample_ids()))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    write_experiment(&store, &e, &Manifest::new("test")).unwrap();
    let values = store.join("layers/bulk/values.parquet");
    let layouts: Vec<(String, String)> = evomics_io::parquet::chunk_layouts(&values)
        .unwrap()
        .into_iter()
        .map(|c| (c.codec, c.encoding))
        .collect();
    for want in ["BYTE_STREAM_SPLIT", "PLAIN"] {
        assert!(
            layouts.contains(&("zstd".to_string(), want.to_string())),
            "{layouts:?}"
        );
    }
    // The store itself reads back equal.
    let (back, _) = read_experiment(&store).unwrap();
    assert_eq!(back, e);
    let want = expected_store_json(&e);
    let mut readers = Vec::new();
    if let Some(py) = &old {
        let v = Command::new(py)
            .args(["-c", "import pyarrow; print(pyarrow.__version__)"])
            .output()
            .unwrap();
        let version = String::from_utf8_lossy(&v.stdout).trim().to_string();
        assert!(
            version.starts_with("12."),
            "EVOMICS_PYTHON_PARQUET has pyarrow {version}, expected 12.x"
        );
        readers.push((py.clone(), "pyarrow", format!("pyarrow {version}")));
        readers.push((py.clone(), "duckdb", "DuckDB".to_string()));
    }
    if let Some(py) = &new {
        readers.push((py.clone(), "pyarrow", "current pyarrow".to_string()));
    }
    for (py, engine, label) in readers {
        let out = Command::new(&py)
            .args(["-c", READ_STORE_PY, engine])
            .arg(&store)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{label}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for (file, cols) in want.as_object().unwrap() {
            let got_cols = &got[file]["columns"];
            for (name, values) in cols.as_object().unwrap() {
                assert_eq!(&got_cols[name], values, "{label}: {file}, column '{name}'");
            }
            assert_eq!(
                got_cols.as_object().unwrap().len(),
                cols.as_object().unwrap().len(),
                "{label}: {file} has other columns than evomics wrote"
            );
            if engine == "pyarrow" {
                for (name, t) in got[file]["types"].as_object().unwrap() {
                    let t = t.as_str().unwrap();
                    assert!(
                        matches!(t, "large_string" | "double" | "uint8"),
                        "{label}: {file}, column '{name}' has type {t}"
                    );
                }
            }
        }
        eprintln!("{label}: every column of the store's 4 Parquet files read back identically");
    }
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
        sample_map: None,
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
        layers: vec![LayerSpec::parse(&format!("lipidome={},scale=linear", m.display())).unwrap()],
        allow_missing_samples: false,
        sample_map: None,
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

/// Every TSV number reads back bit for bit in R: `numbers.tsv` holds 3,012 doubles (p-values down
/// to 1e-200, statistics, random bit patterns, subnormals, the fixed/exponent boundaries) as
/// evomics writes them, and `r_read.tsv` what R 4.2's `read.delim` read from it (the bits, by
/// `make.R` in the same folder). Run with `EVOMICS_BLESS=1` to rewrite `numbers.tsv` from
/// `bits.txt` (then rerun `make.R`).
#[test]
fn tsv_numbers_read_back_exactly_in_r() {
    let dir = evomics_testkit::test_data("r-reference/float-format");
    let bits: Vec<u64> = evomics_testkit::text(&dir.join("bits.txt"))
        .lines()
        .map(|l| u64::from_str_radix(l, 16).unwrap())
        .collect();
    let mut table = String::from("bits\ttext\n");
    for b in &bits {
        let x = f64::from_bits(*b);
        table.push_str(&format!(
            "{b:016x}\t{}\n",
            evomics_io::output::format_float(x)
        ));
    }
    let path = dir.join("numbers.tsv");
    if std::env::var("EVOMICS_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &table).unwrap();
    }
    assert_eq!(
        evomics_testkit::text(&path),
        table,
        "numbers.tsv is not what format_float writes now (EVOMICS_BLESS=1, then make.R)"
    );
    let r = evomics_testkit::Tsv::read(&dir.join("r_read.tsv"));
    assert_eq!(r.rows.len(), bits.len());
    for (row, b) in r.rows.iter().zip(&bits) {
        assert_eq!(row[0], format!("{b:016x}"));
        assert_eq!(
            row[1], row[0],
            "R read {} for the double with bits {}",
            row[2], row[0]
        );
    }
}

/// A store is verified when it is opened: the manifest records every file's size and SHA-256,
/// and an edited, truncated, missing or added file is refused naming it.
#[test]
fn edited_or_damaged_stores_are_refused_naming_the_file() {
    let values = Array2::from_shape_fn((6, 4), |(i, j)| (i * 4 + j) as f64 + 1.5);
    let flags = Array2::from_elem((6, 4), ValueFlag::Observed);
    let e = experiment(&values, &flags);
    let mut two = e.clone();
    let mut mirna = e.layer("proteome").unwrap().clone();
    mirna.set_name("mirna");
    two.insert_layer(mirna).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fresh = |name: &str| {
        let s = dir.path().join(name);
        write_experiment(&s, &two, &Manifest::new("ingest")).unwrap();
        s
    };
    let err = |s: &std::path::Path| read_experiment(s).unwrap_err().to_string();

    let s = fresh("ok");
    let (back, m) = read_experiment(&s).unwrap();
    assert_eq!(back, two);
    assert_eq!(m.format_version, 2);
    let listed: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
    assert!(listed.contains(&"samples.parquet") && listed.contains(&"layers/mirna/layer.json"));
    assert_eq!(listed.len(), 9, "{listed:?}");

    // layer.json's scale edited by hand.
    let s = fresh("scale");
    let lj = s.join("layers/proteome/layer.json");
    let text = std::fs::read_to_string(&lj).unwrap();
    assert!(text.contains("linear"));
    std::fs::write(&lj, text.replace("linear", "log2  ")).unwrap();
    let m = err(&s);
    assert!(
        m.contains("layers/proteome/layer.json was changed after the store was written: its content hash does not match the manifest"),
        "{m}"
    );

    // The layers/ folder gone.
    let s = fresh("nolayers");
    std::fs::remove_dir_all(s.join("layers")).unwrap();
    let m = err(&s);
    assert!(m.contains("layers/mirna/features.parquet is missing (the manifest lists it): the store is incomplete"), "{m}");

    // A matrix cut in half: caught by its size, even when only the other layer is read
    // (sizes are always checked, hashes of the matrices only for the layers read).
    let s = fresh("truncated");
    let v = s.join("layers/mirna/values.parquet");
    let bytes = std::fs::read(&v).unwrap();
    std::fs::write(&v, &bytes[..bytes.len() / 2]).unwrap();
    let m = evomics_io::read_experiment_layers(&s, Some(&["proteome"]))
        .unwrap_err()
        .to_string();
    assert!(m.contains(&format!("layers/mirna/values.parquet has {} bytes but was written with {}: it was truncated or replaced", bytes.len() / 2, bytes.len())), "{m}");

    // One byte of a matrix changed, same size: refused when that layer is read.
    let s = fresh("flipped");
    let v = s.join("layers/mirna/values.parquet");
    let mut bytes = std::fs::read(&v).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&v, &bytes).unwrap();
    assert!(evomics_io::read_experiment_layers(&s, Some(&["proteome"])).is_ok());
    let m = err(&s);
    assert!(
        m.contains("layers/mirna/values.parquet was changed after the store was written"),
        "{m}"
    );

    // A layer folder copied in from elsewhere.
    let s = fresh("added");
    std::fs::create_dir_all(s.join("layers/extra")).unwrap();
    for f in [
        "layer.json",
        "features.parquet",
        "values.parquet",
        "flags.parquet",
    ] {
        std::fs::copy(
            s.join("layers/mirna").join(f),
            s.join("layers/extra").join(f),
        )
        .unwrap();
    }
    let m = err(&s);
    assert!(
        m.contains("layers/extra was not written with the store (the manifest does not list it)"),
        "{m}"
    );

    // A store of format 1 (no file list).
    let s = fresh("old");
    let mp = s.join("manifest.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&mp).unwrap()).unwrap();
    v["format_version"] = 1.into();
    v.as_object_mut().unwrap().remove("files");
    std::fs::write(&mp, v.to_string()).unwrap();
    let m = err(&s);
    assert!(
        m.contains("store format 1 has no record of its files, so it cannot be verified"),
        "{m}"
    );
}

/// A layer's flag file with a code no flag has (a store evomics did not write) is refused
/// naming the sample and row, the first such cell in row order; missing values read back as
/// missing cells.
#[test]
fn a_flag_code_outside_the_flags_is_refused_naming_sample_and_row() {
    use evomics_io::parquet::{write_file, OutColumn};
    let mut values = Array2::from_shape_fn((5, 3), |(i, j)| (i * 3 + j) as f64 + 0.25);
    let mut flags = Array2::from_elem((5, 3), ValueFlag::Observed);
    flags[[1, 2]] = ValueFlag::Missing;
    values[[1, 2]] = f64::NAN;
    let e = experiment(&values, &flags);
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("s");
    write_experiment(&s, &e, &Manifest::new("test")).unwrap();
    let layer = s.join("layers/proteome");
    let back = evomics_io::store::read_layer(&layer).unwrap();
    assert_eq!(back.get(1, 2), None);
    assert_eq!(back.get(4, 2), Some(14.25));

    let ids: Vec<String> = (0..5).map(|i| format!("P{i:04}")).collect();
    let mut cols = vec![OutColumn::text("feature_id", || ids.iter().map(Some))];
    for j in 0..3 {
        let code = ValueFlag::Observed.code();
        let mut c = vec![code; 5];
        if j == 1 {
            c[3] = 200;
            c[4] = 201;
        }
        cols.push(OutColumn::u8(&format!("EV{j:03}"), move || c));
    }
    write_file(&layer.join("flags.parquet"), 5, cols).unwrap();
    let m = evomics_io::store::read_layer(&layer)
        .unwrap_err()
        .to_string();
    assert!(
        m.contains("sample 'EV001' row 4 has unknown flag code 200"),
        "{m}"
    );
    assert!(m.contains("flags.parquet"), "{m}");
}

/// A `manifest.json` that is a FIFO is refused at once instead of blocking the read forever.
#[cfg(unix)]
#[test]
fn a_fifo_manifest_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("manifest.json");
    let st = Command::new("mkfifo").arg(&p).status().unwrap();
    assert!(st.success());
    let m = evomics_io::read_manifest(dir.path())
        .unwrap_err()
        .to_string();
    assert!(m.contains("is not a regular file"), "{m}");
}

/// Every file of a folder (relative path, bytes), in path order.
fn folder_bytes(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// The folders beside `dir` whose name starts with a dot (temporary and moved-aside stores).
fn hidden_siblings(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

/// A store whose layers were written one by one as they became ready, from other threads, is
/// the store written at once, byte for byte; a builder dropped unfinished leaves the old store
/// and no temporary folder; a layer written twice, or written but not in the experiment, is an
/// error that leaves the old store in place.
#[test]
fn a_store_built_layer_by_layer_is_the_store_written_at_once() {
    use evomics_io::atomic::Replace;
    use evomics_io::StoreBuilder;
    let mut e = awkward_experiment();
    let mut second = e.layer("proteome").unwrap().clone();
    second.set_name("proteome_b");
    e.insert_layer(second).unwrap();
    let manifest = Manifest::new("ingest");
    let root = tempfile::tempdir().unwrap();
    let (at_once, in_steps) = (root.path().join("a"), root.path().join("b"));
    write_experiment(&at_once, &e, &manifest).unwrap();

    let builder = StoreBuilder::start(&in_steps, Replace::EvomicsOutput).unwrap();
    std::thread::scope(|s| {
        let (builder, layer) = (&builder, e.layer("proteome_b").unwrap());
        s.spawn(move || builder.write_layer(layer).unwrap());
    });
    let written = builder.finish(&e, &manifest, |_| Ok(())).unwrap();
    assert_eq!(folder_bytes(&at_once), folder_bytes(&in_steps));
    assert!(hidden_siblings(&in_steps).is_empty());
    assert_eq!(written, InputFile::store(&in_steps).unwrap());

    // Unfinished: the old store stays, the temporary folder goes.
    let before = folder_bytes(&in_steps);
    let builder = StoreBuilder::start(&in_steps, Replace::EvomicsOutput).unwrap();
    builder.write_layer(e.layer("proteome").unwrap()).unwrap();
    assert_eq!(hidden_siblings(&in_steps).len(), 1);
    drop(builder);
    assert!(hidden_siblings(&in_steps).is_empty());
    assert_eq!(folder_bytes(&in_steps), before);

    let builder = StoreBuilder::start(&in_steps, Replace::EvomicsOutput).unwrap();
    builder.write_layer(e.layer("proteome").unwrap()).unwrap();
    let m = builder
        .write_layer(e.layer("proteome").unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        m.contains("layer 'proteome' was written to the store twice"),
        "{m}"
    );
    let mut other = Experiment::new(e.samples().clone());
    other
        .insert_layer(e.layer("proteome_b").unwrap().clone())
        .unwrap();
    let m = builder
        .finish(&other, &manifest, |_| Ok(()))
        .unwrap_err()
        .to_string();
    assert!(
        m.contains("layer 'proteome' was written to the store but is not in the experiment"),
        "{m}"
    );
    assert!(hidden_siblings(&in_steps).is_empty());
    assert_eq!(folder_bytes(&in_steps), before);
}

/// A store's fingerprint is the same whether computed by reading every file, from the digests
/// taken while it was written, or from those checked while reading some of its layers (the
/// others are read for it); a changed matrix of a layer not read changes it.
#[test]
fn store_fingerprints_from_writing_and_reading_are_the_content_fingerprint() {
    use evomics_io::atomic::Replace;
    use evomics_io::{read_experiment_fingerprinted, StoreBuilder};
    let mut e = awkward_experiment();
    let mut second = e.layer("proteome").unwrap().clone();
    second.set_name("proteome_b");
    e.insert_layer(second).unwrap();
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("s");
    let builder = StoreBuilder::start(&dir, Replace::EvomicsOutput).unwrap();
    let written = builder
        .finish(&e, &Manifest::new("ingest"), |_| Ok(()))
        .unwrap();
    let content = InputFile::store(&dir).unwrap();
    assert_eq!(written, content);
    for only in [None, Some(&["proteome"][..]), Some(&["proteome_b"][..])] {
        let (_, _, read) = read_experiment_fingerprinted(&dir, only).unwrap();
        assert_eq!(read, content, "{only:?}");
    }
    // Not read, not checked: the other layer's matrix is hashed for the fingerprint.
    let values = dir.join("layers/proteome_b/values.parquet");
    let mut bytes = std::fs::read(&values).unwrap();
    let last = bytes.len() - 9;
    bytes[last] ^= 1;
    std::fs::write(&values, &bytes).unwrap();
    let (_, _, read) = read_experiment_fingerprinted(&dir, Some(&["proteome"])).unwrap();
    assert_ne!(read, content);
    assert_eq!(read, InputFile::store(&dir).unwrap());
}
