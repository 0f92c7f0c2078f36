//! Fuzzing of every reader without nightly: proptest generates inputs (structure-aware
//! mutations of real headers and tables from `fuzz/seeds/`, random Parquet tables, raw byte
//! damage, gzip streams) and [`targets::check`] feeds each to its reader, requiring no panic,
//! errors that name the file, and accepted inputs that keep the reader's contract.
//!
//! `EVOMICS_FUZZ_CASES` sets the inputs per target (default 192: a few seconds for all targets
//! in the dev profile), `EVOMICS_FUZZ_SEED` the random seed (default fixed, so CI is
//! reproducible). A failing input is shrunk and written to the temporary directory; keep it under
//! `test-data/bad/fuzz-regressions/<target>/` so that [`kept_crashes_stay_fixed`] replays it.
//! docs/reliability.md has the details.

#[path = "../../../fuzz/src/targets.rs"]
#[allow(dead_code)]
mod targets;

use std::cell::Cell;
use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::{Column, DataFrame, ParquetWriter};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};

use targets::{check, target, write_base_store, Reader, Target, Verdict, STORE_FILES, TARGETS};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a whole number")),
        Err(_) => default,
    }
}

/// Cells and header names that readers treat specially, or that break naive parsers.
const TOKENS: &[&[u8]] = &[
    b"",
    b"NA",
    b"NaN",
    b"nan",
    b"Inf",
    b"-inf",
    b"1e999",
    b"-1",
    b"0",
    b"-0",
    b"0.5",
    b"1,5",
    b"1.234,5",
    b"1e-320",
    b"+",
    b"-",
    b"#N/A",
    b"null",
    b"Filtered",
    b"True",
    b"1",
    b"\"",
    b"\"a,b\"",
    b"\"\"",
    b"\"x\ny\"",
    b",",
    b";",
    b"\t",
    b"\r",
    b"\r\n",
    b"\n",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\xe9",
    b"\xc3",
    b"\0",
    b" ",
    b"REV__P1",
    b"CON__P1",
    b"contam_P1",
    b"rev_P1",
    b"sp|P1|X_HUMAN",
    b"sp||",
    b"|",
    b";;",
    b"hsa-miR-21-5p",
    b"miR-21-5p",
    b"miR-1",
    b"MIMAT0000076",
    b"hsa-mir-21_mature",
    b"mmu-miR-1a-3p",
    b"hsa-let-7a-5p",
    b"LFQ intensity ",
    b"LFQ intensity A",
    b"Intensity A",
    b"iBAQ A",
    b"Ratio H/L A",
    b"A MaxLFQ Intensity",
    b"A Intensity",
    b"A Razor Intensity",
    b"Run",
    b"Protein.Group",
    b"PG.MaxLFQ",
    b"Genes",
    b"Protein IDs",
    b"Majority protein IDs",
    b"Protein ID",
    b"Protein",
    b"Entry Name",
    b"R.FileName",
    b"PG.ProteinGroups",
    b"PG.Quantity",
    b"EG.IsDecoy",
    b"#miRNA",
    b"precursor",
    b"s1(norm)",
    b"miRNA",
    b"sample",
    b"sample_id",
    b"Sample",
    b"source",
    b"particle_count",
    b"protein_ug",
    b"proteome_column",
    b"/a/b/run.raw",
    b"C:\\x\\run.d",
    b"run.mzML.gz",
    b"\xf0\x9f\xa7\xaa",
];

/// One change to an input. Positions are fractions of the current length, so a mutation
/// applies to any input and shrinks towards the start.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(f64),
    InsertBytes(f64, Vec<u8>),
    InsertToken(f64, usize),
    Delete(f64, u8),
    FlipBit(f64, u8),
    ReplaceField(f64, f64, usize),
    HugeField(f64, f64, usize),
    DuplicateLine(f64),
    DeleteLine(f64),
    SwapLines(f64, f64),
    DropField(f64, f64),
    LineDelimiter(f64, u8),
    DuplicateColumn(f64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let frac = || 0.0..1.0f64;
    let token = || 0..TOKENS.len();
    prop_oneof![
        1 => frac().prop_map(Mutation::Truncate),
        1 => (frac(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(a, b)| Mutation::InsertBytes(a, b)),
        2 => (frac(), token()).prop_map(|(a, b)| Mutation::InsertToken(a, b)),
        1 => (frac(), 1..32u8).prop_map(|(a, b)| Mutation::Delete(a, b)),
        1 => (frac(), 0..8u8).prop_map(|(a, b)| Mutation::FlipBit(a, b)),
        6 => (frac(), frac(), token()).prop_map(|(a, b, c)| Mutation::ReplaceField(a, b, c)),
        1 => (frac(), frac(), 1000..200_000usize).prop_map(|(a, b, c)| Mutation::HugeField(a, b, c)),
        2 => frac().prop_map(Mutation::DuplicateLine),
        2 => frac().prop_map(Mutation::DeleteLine),
        1 => (frac(), frac()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        2 => (frac(), frac()).prop_map(|(a, b)| Mutation::DropField(a, b)),
        1 => (frac(), prop::sample::select(vec![b'\t', b',', b';', b' ']))
            .prop_map(|(a, b)| Mutation::LineDelimiter(a, b)),
        1 => frac().prop_map(Mutation::DuplicateColumn),
    ]
}

fn at(len: usize, f: f64) -> usize {
    ((len as f64 * f) as usize).min(len)
}

/// The delimiter of a table: a tab when its first line has one, else the more frequent of `,`
/// and `;` (as the readers sniff it).
fn delimiter(bytes: &[u8]) -> u8 {
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    if first.contains(&b'\t') {
        return b'\t';
    }
    let count = |d: u8| first.iter().filter(|b| **b == d).count();
    if count(b';') > count(b',') {
        b';'
    } else {
        b','
    }
}

fn split_lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect()
}

fn apply(mut bytes: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let d = delimiter(&bytes);
    let mut lines = split_lines(&bytes);
    let nl = lines.len();
    let fields_of = |lines: &[Vec<u8>], line: usize| -> Vec<Vec<u8>> {
        lines[line].split(|b| *b == d).map(<[u8]>::to_vec).collect()
    };
    let join = |fields: Vec<Vec<u8>>| fields.join(&d);
    match m {
        Mutation::Truncate(f) => {
            bytes.truncate(at(bytes.len(), *f));
            return bytes;
        }
        Mutation::InsertBytes(f, b) => {
            let i = at(bytes.len(), *f);
            bytes.splice(i..i, b.iter().copied());
            return bytes;
        }
        Mutation::InsertToken(f, t) => {
            let i = at(bytes.len(), *f);
            bytes.splice(i..i, TOKENS[*t].iter().copied());
            return bytes;
        }
        Mutation::Delete(f, n) => {
            let i = at(bytes.len(), *f);
            let j = (i + usize::from(*n)).min(bytes.len());
            bytes.drain(i..j);
            return bytes;
        }
        Mutation::FlipBit(f, bit) => {
            if !bytes.is_empty() {
                let i = at(bytes.len() - 1, *f);
                bytes[i] ^= 1 << bit;
            }
            return bytes;
        }
        Mutation::ReplaceField(l, c, t) | Mutation::HugeField(l, c, t) => {
            let line = at(nl - 1, *l);
            let mut fields = fields_of(&lines, line);
            let k = at(fields.len() - 1, *c);
            fields[k] = match m {
                Mutation::HugeField(..) => vec![b'9'; *t],
                _ => TOKENS[*t].to_vec(),
            };
            lines[line] = join(fields);
        }
        Mutation::DuplicateLine(l) => {
            let line = at(nl - 1, *l);
            let copy = lines[line].clone();
            lines.insert(line, copy);
        }
        Mutation::DeleteLine(l) => {
            lines.remove(at(nl - 1, *l));
        }
        Mutation::SwapLines(a, b) => lines.swap(at(nl - 1, *a), at(nl - 1, *b)),
        Mutation::DropField(l, c) => {
            let line = at(nl - 1, *l);
            let mut fields = fields_of(&lines, line);
            let k = at(fields.len() - 1, *c);
            fields.remove(k);
            lines[line] = join(fields);
        }
        Mutation::LineDelimiter(l, nd) => {
            let line = at(nl - 1, *l);
            lines[line] = lines[line]
                .iter()
                .map(|b| if *b == d { *nd } else { *b })
                .collect();
        }
        Mutation::DuplicateColumn(c) => {
            let k = at(fields_of(&lines, 0).len() - 1, *c);
            for line in 0..nl {
                let mut fields = fields_of(&lines, line);
                if k < fields.len() {
                    let copy = fields[k].clone();
                    fields.insert(k, copy);
                }
                lines[line] = join(fields);
            }
        }
    }
    lines.join(&b'\n')
}

/// The committed seeds of a target (`fuzz/seeds/<name>/`); `detect` and `gzip` take the text
/// seeds of every format.
fn text_seeds(t: &Target) -> Vec<Vec<u8>> {
    let dirs: Vec<PathBuf> = match t.name {
        "detect" | "gzip" => TARGETS
            .iter()
            .filter(|x| matches!(x.reader, Reader::Matrix { .. }))
            .map(|x| repo("fuzz/seeds").join(x.name))
            .collect(),
        name => vec![repo("fuzz/seeds").join(name)],
    };
    let mut seeds = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            seeds.push(std::fs::read(&p).unwrap());
        }
    }
    seeds
}

/// A column of a random Parquet table.
#[derive(Debug, Clone)]
enum Values {
    Text(Vec<Option<String>>),
    Float(Vec<Option<f64>>),
    Int(Vec<Option<i64>>),
    Byte(Vec<Option<u8>>),
    Bool(Vec<Option<bool>>),
}

const NAMES: &[&str] = &[
    "feature_id",
    "sample_id",
    "feature_flags",
    "Run",
    "Protein.Group",
    "PG.MaxLFQ",
    "PG.Quantity",
    "PG.Normalised",
    "Genes",
    "Protein.Ids",
    "Protein.Names",
    "Decoy",
    "A",
    "B",
    "C",
    "",
    "P1",
    "source",
    "protein_ug",
    "gene",
];

fn special_f64() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        3 => any::<f64>().prop_map(Some),
        2 => (0.0..1e9f64).prop_map(Some),
        1 => prop::sample::select(vec![
            f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 0.0, -0.0, f64::MIN_POSITIVE,
        ])
        .prop_map(Some),
        1 => Just(None),
    ]
}

fn column(rows: usize) -> impl Strategy<Value = (String, Values)> {
    let text = prop::option::weighted(
        0.9,
        prop_oneof![
            prop::sample::select(vec![
                "A",
                "B",
                "run_1.raw",
                "P1",
                "P1;P2",
                "True",
                "1",
                "",
                "1.5"
            ])
            .prop_map(str::to_string),
            "[a-zA-Z0-9 ._;|-]{0,12}",
        ],
    );
    let values = prop_oneof![
        3 => prop::collection::vec(text, rows).prop_map(Values::Text),
        4 => prop::collection::vec(special_f64(), rows).prop_map(Values::Float),
        1 => prop::collection::vec(prop::option::of(any::<i64>()), rows).prop_map(Values::Int),
        1 => prop::collection::vec(prop::option::of(any::<u8>()), rows).prop_map(Values::Byte),
        1 => prop::collection::vec(prop::option::of(any::<bool>()), rows).prop_map(Values::Bool),
    ];
    (
        prop_oneof![3 => prop::sample::select(NAMES).prop_map(str::to_string), 1 => "[A-Za-z0-9_.]{0,6}"],
        values,
    )
}

/// A random table written as Parquet: names the readers look for, every type they may meet,
/// NaN, infinities, negatives and nulls.
fn parquet_table() -> impl Strategy<Value = Vec<u8>> {
    (0..6usize)
        .prop_flat_map(|rows| {
            prop::collection::vec(column(rows), 1..7).prop_map(move |c| (rows, c))
        })
        .prop_map(|(rows, cols)| {
            let mut seen = std::collections::BTreeSet::new();
            let cols: Vec<Column> = cols
                .into_iter()
                .enumerate()
                .map(|(i, (name, v))| {
                    let name = if seen.insert(name.clone()) {
                        name
                    } else {
                        format!("{name}~{i}")
                    };
                    let name = name.as_str().into();
                    match v {
                        Values::Text(v) => Column::new(name, v),
                        Values::Float(v) => Column::new(name, v),
                        Values::Int(v) => Column::new(name, v),
                        Values::Byte(v) => Column::new(name, v),
                        Values::Bool(v) => Column::new(name, v),
                    }
                })
                .collect();
            let mut df = DataFrame::new(rows, cols).expect("columns of equal length, unique names");
            let mut buf = Vec::new();
            ParquetWriter::new(&mut buf)
                .finish(&mut df)
                .expect("polars writes the table");
            buf
        })
}

fn gzipped(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// The entries of a zip archive written without compression (the spreadsheet seeds are), as
/// (name, content) pairs; `None` for anything else.
fn unzip_stored(bytes: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let u16_at =
        |i: usize| Some(u16::from_le_bytes(bytes.get(i..i + 2)?.try_into().ok()?) as usize);
    let u32_at =
        |i: usize| Some(u32::from_le_bytes(bytes.get(i..i + 4)?.try_into().ok()?) as usize);
    let mut entries = Vec::new();
    let mut at = 0;
    while u32_at(at)? == 0x0403_4b50 {
        if u16_at(at + 8)? != 0 {
            return None;
        }
        let (size, name_len, extra_len) = (u32_at(at + 18)?, u16_at(at + 26)?, u16_at(at + 28)?);
        let name = bytes.get(at + 30..at + 30 + name_len)?.to_vec();
        let start = at + 30 + name_len + extra_len;
        entries.push((name, bytes.get(start..start + size)?.to_vec()));
        at = start + size;
    }
    Some(entries)
}

/// A zip archive of `entries`, stored without compression, with correct CRCs: mutated XML
/// inside it reaches the spreadsheet parser instead of failing the archive's checksum.
fn zip_stored(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let offset = out.len() as u32;
        let common = |v: &mut Vec<u8>| {
            v.extend(0u16.to_le_bytes()); // flags
            v.extend(0u16.to_le_bytes()); // method: stored
            v.extend(0u16.to_le_bytes()); // time
            v.extend(0x5821u16.to_le_bytes()); // date 2024-01-01
            v.extend(crc.sum().to_le_bytes());
            v.extend((data.len() as u32).to_le_bytes());
            v.extend((data.len() as u32).to_le_bytes());
            v.extend((name.len() as u16).to_le_bytes());
            v.extend(0u16.to_le_bytes()); // extra length
        };
        out.extend(0x0403_4b50u32.to_le_bytes());
        out.extend(20u16.to_le_bytes());
        common(&mut out);
        out.extend(name);
        out.extend(data);
        central.extend(0x0201_4b50u32.to_le_bytes());
        central.extend(20u16.to_le_bytes());
        central.extend(20u16.to_le_bytes());
        common(&mut central);
        central.extend([0u8; 6]); // comment length, disk, internal attributes
        central.extend(0u32.to_le_bytes()); // external attributes
        central.extend(offset.to_le_bytes());
        central.extend(name);
    }
    let (cd_offset, cd_size) = (out.len() as u32, central.len() as u32);
    out.extend(central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0u8; 4]); // disk numbers
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend(cd_size.to_le_bytes());
    out.extend(cd_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

/// Spreadsheets with one entry's XML mutated and the archive rebuilt around it.
fn mutated_workbooks(seeds: Vec<Vec<u8>>) -> BoxedStrategy<Vec<u8>> {
    let books: Vec<Vec<(Vec<u8>, Vec<u8>)>> =
        seeds.iter().filter_map(|s| unzip_stored(s)).collect();
    assert!(
        !books.is_empty(),
        "the spreadsheet seeds are stored zip archives"
    );
    (
        0..books.len(),
        any::<prop::sample::Index>(),
        prop::collection::vec(mutation(), 1..6),
    )
        .prop_map(move |(b, entry, ms)| {
            let mut book = books[b].clone();
            let k = entry.index(book.len());
            book[k].1 = ms.iter().fold(book[k].1.clone(), apply);
            zip_stored(&book)
        })
        .boxed()
}

/// Seeds for the Parquet and store targets, from the base store `dir/base-store`.
fn binary_seeds(t: &Target, dir: &Path) -> Vec<Vec<u8>> {
    let store = dir.join("base-store");
    match t.name {
        "wide_parquet" => vec![std::fs::read(store.join("layers/p/values.parquet")).unwrap()],
        "diann_report_parquet" => {
            let s = |v: &[&str]| v.iter().map(|x| Some(x.to_string())).collect::<Vec<_>>();
            let cols = vec![
                Column::new("Run".into(), s(&["run_A", "run_A", "run_B", "run_B"])),
                Column::new("Protein.Group".into(), s(&["P1", "P1", "P1", "P2"])),
                Column::new("Genes".into(), s(&["CD9", "CD9", "CD9", ""])),
                Column::new(
                    "PG.MaxLFQ".into(),
                    vec![Some(10.0), Some(10.0), Some(3.5), None],
                ),
                Column::new("Decoy".into(), vec![Some(0i64), Some(0), Some(0), Some(0)]),
            ];
            let mut df = DataFrame::new(4, cols).unwrap();
            let mut buf = Vec::new();
            ParquetWriter::new(&mut buf).finish(&mut df).unwrap();
            vec![buf]
        }
        "store" => STORE_FILES
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let mut b = vec![i as u8];
                b.extend(std::fs::read(store.join(f)).unwrap());
                b
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The inputs of a target: mutated seeds, and for Parquet targets also random tables.
fn inputs(t: &'static Target, dir: &Path) -> BoxedStrategy<Vec<u8>> {
    let mutations = || prop::collection::vec(mutation(), 0..6);
    let seeds = match t.reader {
        Reader::Store => binary_seeds(t, dir),
        _ if t.file.ends_with(".parquet") => binary_seeds(t, dir),
        _ => text_seeds(t),
    };
    let mutated = if seeds.is_empty() {
        None
    } else {
        Some(
            (0..seeds.len(), mutations())
                .prop_map(move |(i, ms)| ms.iter().fold(seeds[i].clone(), apply)),
        )
    };
    match (t.reader, t.file) {
        (Reader::Store, _) => {
            let table = (0..STORE_FILES.len() as u8, parquet_table()).prop_map(|(i, mut b)| {
                b.insert(0, i);
                b
            });
            prop_oneof![3 => mutated.expect("store seeds"), 1 => table].boxed()
        }
        (_, f) if f.ends_with(".parquet") => match mutated {
            Some(m) => prop_oneof![1 => m, 3 => parquet_table()].boxed(),
            None => parquet_table().boxed(),
        },
        (_, f) if f.ends_with(".gz") => {
            (mutated.expect("text seeds"), prop::option::of(mutation()))
                .prop_map(|(text, damage)| {
                    let z = gzipped(&text);
                    match damage {
                        Some(
                            m @ (Mutation::Truncate(_)
                            | Mutation::FlipBit(..)
                            | Mutation::Delete(..)),
                        ) => apply(z, &m),
                        _ => z,
                    }
                })
                .boxed()
        }
        (_, f) if f.ends_with(".xlsx") || f.ends_with(".ods") => {
            let seeds = text_seeds(t);
            prop_oneof![1 => mutated.expect("workbook seeds"), 3 => mutated_workbooks(seeds)]
                .boxed()
        }
        _ => {
            let raw = prop::collection::vec(any::<u8>(), 0..64);
            prop_oneof![9 => mutated.expect("text seeds"), 1 => raw].boxed()
        }
    }
}

/// Run one target for `EVOMICS_FUZZ_CASES` inputs; on a failure, keep the shrunk input.
fn fuzz(name: &str) {
    let t = target(name).expect("a target of that name");
    let dir = tempfile::tempdir().unwrap();
    write_base_store(&dir.path().join("base-store"));
    let cases = env_number("EVOMICS_FUZZ_CASES", 192) as u32;
    let seed = env_number("EVOMICS_FUZZ_SEED", 20_240_601);
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..8 + name.len().min(24)].copy_from_slice(&name.as_bytes()[..name.len().min(24)]);
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &key));
    let (accepted, refused) = (Cell::new(0u32), Cell::new(0u32));
    let result = runner.run(&inputs(t, dir.path()), |bytes| {
        match check(t, dir.path(), &bytes).map_err(TestCaseError::fail)? {
            Verdict::Accepted => accepted.set(accepted.get() + 1),
            Verdict::Refused(_) => refused.set(refused.get() + 1),
        }
        Ok(())
    });
    match result {
        // Inputs that are all refused (or all accepted) would mean the generator lost its seeds
        // or its teeth.
        Ok(()) => assert!(
            accepted.get() > 0 && refused.get() > 0,
            "fuzz target '{name}': {} accepted, {} refused of {cases} inputs",
            accepted.get(),
            refused.get()
        ),
        Err(TestError::Fail(why, bytes)) => {
            let kept = std::env::temp_dir().join(format!("evomics-fuzz-{name}-{seed}.bin"));
            std::fs::write(&kept, &bytes).unwrap();
            panic!(
                "fuzz target '{name}' (seed {seed}): {why}\nthe shrunk input ({} bytes) is in {}; \
                 after fixing the reader, keep it as test-data/bad/fuzz-regressions/{name}/<what-it-is>",
                bytes.len(),
                kept.display()
            );
        }
        Err(e) => panic!("fuzz target '{name}': {e}"),
    }
}

macro_rules! fuzz_targets {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                fuzz(stringify!($name));
            }
        )*

        /// Every target of `targets::TARGETS` has a test above.
        #[test]
        fn every_target_is_fuzzed() {
            let tested = [$(stringify!($name)),*];
            for t in TARGETS {
                assert!(tested.contains(&t.name), "no fuzz test for target '{}'", t.name);
            }
        }
    };
}

fuzz_targets!(
    sheet_text,
    sheet_xlsx,
    sheet_ods,
    wide,
    maxquant,
    diann,
    diann_report,
    diann_report_parquet,
    fragpipe,
    proteome_discoverer,
    perseus,
    maxquant_tmt,
    tmt_integrator,
    mztab,
    spectronaut,
    smrnaseq,
    smrnaseq_transposed,
    mirdeep2,
    wide_parquet,
    detect,
    gzip,
    store,
);

/// The zip writer the workbook mutations use rebuilds the seeds exactly as readable archives.
#[test]
fn rebuilt_workbooks_are_read() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["sheet_xlsx", "sheet_ods"] {
        let t = target(name).unwrap();
        for seed in text_seeds(t) {
            let book = unzip_stored(&seed).expect("a stored zip archive");
            assert!(book.len() >= 3, "{name}: {} entries", book.len());
            assert_eq!(
                check(t, dir.path(), &zip_stored(&book)),
                Ok(Verdict::Accepted),
                "{name}"
            );
        }
    }
}

/// Every seed is read cleanly by its target (mutations start from valid inputs). With
/// `EVOMICS_FUZZ_EXPORT=DIR` the seeds, generated ones included, are also written to
/// `DIR/<target>/` as a starting corpus for the cargo-fuzz targets.
#[test]
fn seeds_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    write_base_store(&dir.path().join("base-store"));
    let export = std::env::var_os("EVOMICS_FUZZ_EXPORT").map(PathBuf::from);
    for t in TARGETS {
        let seeds = match t.reader {
            Reader::Store => binary_seeds(t, dir.path()),
            _ if t.file.ends_with(".parquet") => binary_seeds(t, dir.path()),
            _ if t.name == "gzip" => text_seeds(t).iter().map(|s| gzipped(s)).collect(),
            _ => text_seeds(t),
        };
        assert!(!seeds.is_empty(), "target '{}' has no seeds", t.name);
        for (i, s) in seeds.iter().enumerate() {
            assert_eq!(
                check(t, dir.path(), s),
                Ok(Verdict::Accepted),
                "seed {i} of '{}'",
                t.name
            );
            if let Some(root) = &export {
                let d = root.join(t.name);
                std::fs::create_dir_all(&d).unwrap();
                std::fs::write(d.join(format!("seed-{i}")), s).unwrap();
            }
        }
    }
}

/// Inputs that once crashed a reader or broke its contract, kept as regression tests:
/// `test-data/bad/fuzz-regressions/<target>/<file>`.
#[test]
fn kept_crashes_stay_fixed() {
    let root = repo("test-data/bad/fuzz-regressions");
    let dir = tempfile::tempdir().unwrap();
    write_base_store(&dir.path().join("base-store"));
    let mut replayed = 0;
    for entry in std::fs::read_dir(&root).unwrap().flatten() {
        if !entry.path().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().to_string();
        let t = target(&name).unwrap_or_else(|| panic!("{}: no target '{name}'", root.display()));
        for input in std::fs::read_dir(entry.path()).unwrap().flatten() {
            let bytes = std::fs::read(input.path()).unwrap();
            if let Err(e) = check(t, dir.path(), &bytes) {
                panic!("{}: {e}", input.path().display());
            }
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no kept input under {}", root.display());
}
