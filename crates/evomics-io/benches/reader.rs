//! The streaming wide-TSV reader, the whole ingest (sheet + layer + alignment), the store
//! write (Parquet, column chunk by column chunk) and read (every file's hash checked), of the
//! linear layer and of its log2 values, on a generated
//! LFQ-like matrix: 4,000 proteins × 250 samples (1,000,000 cells, about 9 MB), 20% `NA`,
//! values written as the peers' generator writes them (integers up to 10^10). One iteration
//! takes a fraction of a second, so `cargo bench -p evomics-io --bench reader` runs in seconds;
//! the time scales linearly with the number of cells, so the L input (10,000 × 2,000 = 20 M
//! cells, 153 MB) takes about 20× one iteration (docs/performance.md).

// criterion_group! generates a public function that cannot carry a doc comment
#![allow(missing_docs)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use evomics_io::formats::read_matrix;
use evomics_io::sheet::SheetOptions;
use evomics_io::{ingest, read_experiment, write_experiment, IngestRequest, LayerSpec};
use rand::Rng;

const FEATURES: usize = 4_000;
const SAMPLES: usize = 250;
const MISSING: f64 = 0.2;

/// Write samples.tsv and proteins.tsv into `dir`; returns (sheet, matrix, bytes of the matrix).
fn write_inputs(dir: &Path) -> (PathBuf, PathBuf, u64) {
    let mut rng = evomics_core::rng::seeded(20240601);
    let ids: Vec<String> = (0..SAMPLES).map(|j| format!("EV{j:05}")).collect();
    let sources = ["BM-MSC", "ADSC", "UC-MSC", "iMSC", "DPSC", "SYN-MSC"];
    let mut sheet = String::from("sample_id\tsource\tdonor_id\n");
    for (j, id) in ids.iter().enumerate() {
        writeln!(sheet, "{id}\t{}\tD{:03}", sources[j % 6], j / 2).unwrap();
    }
    let mut m = String::with_capacity(FEATURES * SAMPLES * 11);
    m.push_str("protein_id");
    for id in &ids {
        write!(m, "\t{id}").unwrap();
    }
    m.push('\n');
    for i in 0..FEATURES {
        write!(m, "P{i:05}").unwrap();
        let base: f64 = rng.gen_range(20.0..32.0);
        for _ in 0..SAMPLES {
            if rng.gen::<f64>() < MISSING {
                m.push_str("\tNA");
            } else {
                let v = (base + rng.gen_range(-1.0..1.0f64)).exp2().round();
                write!(m, "\t{v}").unwrap();
            }
        }
        m.push('\n');
    }
    let sheet_path = dir.join("samples.tsv");
    let matrix_path = dir.join("proteins.tsv");
    std::fs::write(&sheet_path, sheet).unwrap();
    std::fs::write(&matrix_path, &m).unwrap();
    (sheet_path, matrix_path, m.len() as u64)
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (sheet, matrix, bytes) = write_inputs(dir.path());
    let spec = LayerSpec::parse(&format!("proteome={},scale=linear", matrix.display()))
        .expect("layer spec");
    let opts = spec.read_options().expect("read options");

    let mut group = c.benchmark_group(format!(
        "wide TSV {FEATURES}x{SAMPLES}, 20% NA ({:.1} MB)",
        bytes as f64 / 1e6
    ));
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("read_matrix", |b| {
        b.iter(|| read_matrix(&matrix, &opts).expect("read"))
    });
    let req = IngestRequest {
        samples: sheet.clone(),
        sheet: SheetOptions::default(),
        layers: vec![spec.clone()],
        allow_missing_samples: false,
        sample_map: None,
    };
    group.bench_function("ingest (sheet + layer + alignment)", |b| {
        b.iter(|| ingest(&req).expect("ingest"))
    });
    let (exp, manifest, _) = ingest(&req).expect("ingest");
    let store = dir.path().join("store");
    group.bench_function("write_experiment (Parquet store)", |b| {
        b.iter(|| write_experiment(&store, &exp, &manifest).expect("write"))
    });
    write_experiment(&store, &exp, &manifest).expect("write");
    group.bench_function("read_experiment (Parquet store, verified)", |b| {
        b.iter(|| read_experiment(&store).expect("read"))
    });
    // The same layer as log2 intensities, as `normalize` writes it: values that barely
    // compress, so their column chunks are stored uncompressed.
    let mut logged = exp.clone();
    let layer = exp.layer("proteome").expect("layer");
    logged
        .insert_layer(
            layer
                .map_values(evomics_core::ValueScale::Log2, f64::log2)
                .expect("log2"),
        )
        .expect("insert");
    let log_store = dir.path().join("log-store");
    group.bench_function("write_experiment (log2 values)", |b| {
        b.iter(|| write_experiment(&log_store, &logged, &manifest).expect("write"))
    });
    write_experiment(&log_store, &logged, &manifest).expect("write");
    group.bench_function("read_experiment (log2 values, verified)", |b| {
        b.iter(|| read_experiment(&log_store).expect("read"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
