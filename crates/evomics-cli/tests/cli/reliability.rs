//! Reliability (issue 10): the hostile-input corpus of `test-data/bad/cases.toml`, outputs that
//! survive a SIGKILL mid-write, and byte-identical reruns across thread counts.
//! docs/reliability.md describes all three.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

fn bad_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-data/bad")
}

/// What a case must end in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Expect {
    Error,
    Warning,
    Ok,
}

/// One `[[case]]` of cases.toml (its header documents the keys).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    about: String,
    #[serde(default)]
    setup: Vec<Vec<String>>,
    args: Vec<String>,
    expect: Expect,
    #[serde(default)]
    stderr: Vec<String>,
    #[serde(default)]
    compare: Vec<[String; 2]>,
    kept_output: Option<String>,
    generate: Option<String>,
    /// Peak RSS the command may reach, in MiB: the final matrices plus 64 MiB of buffers.
    max_rss_mib: Option<u64>,
    /// Files or folders (from the case folder) that must be byte for byte as they were before
    /// the command: inputs and other folders an output must not destroy.
    #[serde(default)]
    unchanged: Vec<String>,
    /// Files an "ok"/"warning" run must have written (and where).
    #[serde(default)]
    produced: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Corpus {
    case: Vec<Case>,
}

fn load_corpus() -> Vec<Case> {
    let path = bad_dir().join("cases.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    toml::from_str::<Corpus>(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .case
}

fn run_in(dir: &Path, args: &[String], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_evomics"))
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .expect("the evomics binary runs")
}

/// Run `evomics ARGS` in `dir` and return its output with its peak resident set size in KiB:
/// the kernel's high-water mark `VmHWM` of the child, read from `/proc/PID/status` every
/// millisecond while it runs (the mark only grows, so the last reading is the peak up to a
/// millisecond before the end).
#[cfg(target_os = "linux")]
fn run_measured(dir: &Path, args: &[String]) -> (Output, u64) {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_evomics"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the evomics binary runs");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let readers = (
        std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = out.read_to_end(&mut b);
            b
        }),
        std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = err.read_to_end(&mut b);
            b
        }),
    );
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            if let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kib);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let output = Output {
        status,
        stdout: readers.0.join().unwrap(),
        stderr: readers.1.join().unwrap(),
    };
    (output, peak)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every file under `dir`, relative to it.
fn files(dir: &Path) -> BTreeSet<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// Inputs too large to commit, written by the test.
fn generate(kind: &str, dir: &Path) {
    match kind {
        // A store folder whose manifest.json is a FIFO (a named pipe, which git cannot hold):
        // reading it would block until a writer comes, which none does.
        "fifo_manifest" => {
            let store = dir.join("store");
            std::fs::create_dir_all(&store).unwrap();
            let made = Command::new("mkfifo")
                .arg(store.join("manifest.json"))
                .status()
                .unwrap();
            assert!(made.success(), "mkfifo failed");
        }
        "huge_header_matrix" => {
            let n = 150_000;
            let mut s = String::with_capacity(n * 10);
            s.push_str("id");
            for i in 0..n {
                s.push_str(&format!("\tS{i:06}"));
            }
            s.push_str("\nf1");
            for _ in 0..n {
                s.push_str("\t1");
            }
            s.push('\n');
            std::fs::write(dir.join("huge.tsv"), s).unwrap();
        }
        "huge_header_sheet" => {
            let s = format!("{}\nA\n", "x".repeat(8_000_000));
            std::fs::write(dir.join("huge.tsv"), s).unwrap();
        }
        "too_wide_header" => {
            let mut s = String::from("id");
            for i in 0..250_000 {
                s.push_str(&format!("\tS{i:06}"));
            }
            s.push('\n');
            std::fs::write(dir.join("wide.tsv"), s).unwrap();
        }
        "long_line" => {
            let s = format!("id\tA\nf1\t{}", "1".repeat(20 << 20));
            std::fs::write(dir.join("matrix.tsv"), s).unwrap();
        }
        // 1 GiB of zero bytes, gzip-compressed (1,024 copies of one gzip member of 1 MiB).
        "gzip_bomb_zeros" => {
            let member = gzip(&vec![0u8; 1 << 20]);
            write_repeated(&dir.join("matrix.tsv.gz"), &[], &member, 1024, &[]);
        }
        // A wide table whose second row has a 1 GiB cell, gzip-compressed.
        "one_gigabyte_cell" => {
            let head = gzip(b"id\tA\tB\nf1\t");
            let member = gzip(&vec![b'7'; 1 << 20]);
            let tail = gzip(b"\t1\n");
            write_repeated(&dir.join("matrix.tsv.gz"), &head, &member, 1024, &tail);
        }
        // A DIA-NN report of one row repeated to 400 MB decompressed, its last row cut short.
        "gzip_400mb_truncated" => {
            let row = "runA\tP1\tGENE1\tAAAK2\t1000\n";
            let head = gzip(
                format!("Run\tProtein.Group\tGenes\tPrecursor.Id\tPG.MaxLFQ\n{row}").as_bytes(),
            );
            let member = gzip(row.repeat((1 << 20) / row.len()).as_bytes());
            let tail = gzip(b"runA\tP1\tGE");
            write_repeated(&dir.join("report.tsv.gz"), &head, &member, 400, &tail);
        }
        // An XLSX workbook whose worksheet decompresses to 1 GiB of cells.
        "xlsx_bomb_sheet" => xlsx_bomb(&dir.join("samples.xlsx"), 1 << 30),
        "xlsx_bomb_layer" => xlsx_bomb(&dir.join("matrix.xlsx"), 1 << 30),
        other => panic!("unknown generator '{other}' in cases.toml"),
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// `head`, then `n` copies of `member`, then `tail` (gzip members decompress as one stream).
fn write_repeated(path: &Path, head: &[u8], member: &[u8], n: usize, tail: &[u8]) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(head).unwrap();
    for _ in 0..n {
        f.write_all(member).unwrap();
    }
    f.write_all(tail).unwrap();
}

/// An XLSX zip bomb: a valid workbook whose sheet1.xml holds `bytes` of rows of cells,
/// deflated (about 1,000:1).
fn xlsx_bomb(path: &Path, bytes: usize) {
    use std::io::Write;
    let head = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData><row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>sample_id</t></is></c></row>";
    let row = "<row><c t=\"inlineStr\"><is><t>EV0001</t></is></c></row>";
    let tail = "</sheetData></worksheet>";
    // Deflate blocks ended by a sync flush are byte-aligned and refer to nothing before them,
    // so one compressed chunk repeated is a valid stream of many chunks.
    let flushed = |text: &[u8]| {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(text).unwrap();
        e.flush().unwrap();
        e.get_ref().clone()
    };
    let chunk = row.repeat((1 << 20) / row.len());
    let copies = bytes / chunk.len();
    let mut crc = flate2::Crc::new();
    let mut data = flushed(head.as_bytes());
    crc.update(head.as_bytes());
    let block = flushed(chunk.as_bytes());
    for _ in 0..copies {
        data.extend_from_slice(&block);
        crc.update(chunk.as_bytes());
    }
    let mut last = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    last.write_all(tail.as_bytes()).unwrap();
    data.extend_from_slice(&last.finish().unwrap());
    crc.update(tail.as_bytes());
    let size = head.len() + copies * chunk.len() + tail.len();
    let sheet = (crc.sum(), size as u32, data);
    let plain = |text: &str| {
        let mut c = flate2::Crc::new();
        c.update(text.as_bytes());
        (c.sum(), text.len() as u32, text.as_bytes().to_vec())
    };
    // (part name, zip method, (crc32, uncompressed size, stored bytes))
    type Part<'a> = (&'a str, u16, (u32, u32, Vec<u8>));
    let parts: Vec<Part> = vec![
        ("[Content_Types].xml", 0, plain("<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"><Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/><Default Extension=\"xml\" ContentType=\"application/xml\"/><Override PartName=\"/xl/workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/><Override PartName=\"/xl/worksheets/sheet1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/></Types>")),
        ("_rels/.rels", 0, plain("<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"><Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>")),
        ("xl/workbook.xml", 0, plain("<?xml version=\"1.0\"?><workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"><sheets><sheet name=\"Sheet1\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>")),
        ("xl/_rels/workbook.xml.rels", 0, plain("<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"><Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" Target=\"worksheets/sheet1.xml\"/></Relationships>")),
        ("xl/worksheets/sheet1.xml", 8, sheet),
    ];
    let mut out: Vec<u8> = Vec::new();
    let mut central: Vec<u8> = Vec::new();
    let le16 = |v: &mut Vec<u8>, x: u16| v.extend_from_slice(&x.to_le_bytes());
    let le32 = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_le_bytes());
    for (name, method, (crc, size, data)) in &parts {
        let offset = out.len() as u32;
        le32(&mut out, 0x0403_4b50);
        for x in [20u16, 0, *method, 0, 0x21] {
            le16(&mut out, x);
        }
        le32(&mut out, *crc);
        le32(&mut out, data.len() as u32);
        le32(&mut out, *size);
        le16(&mut out, name.len() as u16);
        le16(&mut out, 0);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        le32(&mut central, 0x0201_4b50);
        for x in [20u16, 20, 0, *method, 0, 0x21] {
            le16(&mut central, x);
        }
        le32(&mut central, *crc);
        le32(&mut central, data.len() as u32);
        le32(&mut central, *size);
        for x in [name.len() as u16, 0, 0, 0, 0] {
            le16(&mut central, x);
        }
        le32(&mut central, 0);
        le32(&mut central, offset);
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    le32(&mut out, 0x0605_4b50);
    for x in [0u16, 0, parts.len() as u16, parts.len() as u16] {
        le16(&mut out, x);
    }
    le32(&mut out, central.len() as u32);
    le32(&mut out, cd_offset);
    le16(&mut out, 0);
    std::fs::File::create(path)
        .unwrap()
        .write_all(&out)
        .unwrap();
}

/// Spellings of a non-finite number that must never reach an output.
fn non_finite_token(text: &str) -> Option<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_')))
        .find(|t| {
            matches!(
                t.trim_start_matches(['-', '+']),
                "NaN" | "nan" | "NAN" | "inf" | "Inf" | "INF" | "infinity" | "Infinity"
            )
        })
}

/// limma's `df.prior` (and so `df.total`) is infinite when the features' variances are more
/// alike than sampling alone would make them; R prints `Inf` and so does a diff's `fit.tsv` and
/// `result.json`. Those cells, and only those, are blanked before the scan.
fn allowed_infinities(rel: &Path, text: String) -> String {
    let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name == "result.json" {
        let mut text = text;
        for key in ["df_prior", "df_total"] {
            for sep in [":", ": "] {
                text = text.replace(&format!("\"{key}\"{sep}\"Inf\""), "");
            }
        }
        return text;
    }
    if name != "fit.tsv" {
        return text;
    }
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
    let mut out = header.join("\t") + "\n";
    for line in lines {
        let cells: Vec<&str> = line
            .split('\t')
            .enumerate()
            .map(|(k, c)| match header.get(k) {
                Some(&"df.prior" | &"df.total") if c == "Inf" => "",
                _ => c,
            })
            .collect();
        out.push_str(&cells.join("\t"));
        out.push('\n');
    }
    out
}

/// NaN or infinities in the outputs of a successful run: in any text file, and in the values
/// and numeric sheet columns of every experiment store.
fn non_finite_outputs(dir: &Path, inputs: &BTreeSet<PathBuf>) -> Vec<String> {
    let mut found = Vec::new();
    let mut stores = BTreeSet::new();
    for rel in files(dir).difference(inputs) {
        let path = dir.join(rel);
        if rel.file_name().is_some_and(|n| n == "manifest.json") {
            if let Some(store) = path.parent().filter(|d| d.join("samples.parquet").exists()) {
                stores.insert(store.to_path_buf());
            }
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue; // binary (Parquet): checked through the store reader below
        };
        let text = allowed_infinities(rel, text);
        if let Some(t) = non_finite_token(&text) {
            found.push(format!("{} contains '{t}'", rel.display()));
        }
    }
    for store in stores {
        match evomics_io::read_experiment(&store) {
            Err(e) => found.push(format!("{}: cannot read back ({e})", store.display())),
            Ok((exp, _)) => {
                for (name, a) in exp.layers() {
                    let bad = a
                        .flags()
                        .iter()
                        .zip(a.values().iter())
                        .filter(|(f, v)| f.has_value() && !v.is_finite())
                        .count();
                    if bad > 0 {
                        found.push(format!(
                            "{}: layer {name} has {bad} non-finite value(s)",
                            store.display()
                        ));
                    }
                }
                for c in exp.samples().columns() {
                    if let evomics_core::ColumnValues::Numeric(v) = &c.values {
                        if v.iter().flatten().any(|x| !x.is_finite()) {
                            found.push(format!(
                                "{}: sheet column {} has a non-finite value",
                                store.display(),
                                c.name
                            ));
                        }
                    }
                }
            }
        }
    }
    found
}

/// The `-o`/`--out` value of a command line.
fn out_arg(args: &[String]) -> Option<&str> {
    args.windows(2)
        .find(|w| w[0] == "-o" || w[0] == "--out")
        .map(|w| w[1].as_str())
}

/// A panic (exit status 101, "panicked" on stderr) or death by a signal: anything but the
/// documented exit statuses 0 and 1.
fn panicked(out: &Output) -> bool {
    !matches!(out.status.code(), Some(0 | 1))
        || String::from_utf8_lossy(&out.stderr).contains("panicked")
}

/// Run one case in a scratch copy; every way it falls short of its expectation, as text.
fn check_case(case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    let scratch = tempfile::tempdir().unwrap();
    copy_dir(&bad_dir().join("common"), &scratch.path().join("common"));
    let dir = scratch.path().join(&case.name);
    let committed = bad_dir().join(&case.name);
    if committed.is_dir() {
        copy_dir(&committed, &dir);
    } else {
        std::fs::create_dir_all(&dir).unwrap();
    }
    if let Some(kind) = &case.generate {
        generate(kind, &dir);
    }
    let inputs = files(&dir);
    for step in &case.setup {
        let out = run_in(&dir, step, &[]);
        if !out.status.success() || panicked(&out) {
            problems.push(format!(
                "setup {step:?} failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
            return problems;
        }
    }
    let kept: Vec<(String, BTreeMap<PathBuf, Vec<u8>>)> = case
        .unchanged
        .iter()
        .map(|p| (p.clone(), snapshot_path(&dir.join(p))))
        .collect();
    let target = out_arg(&case.args).map(|o| dir.join(o));
    let target_existed = target.as_ref().is_some_and(|t| t.exists());
    let started = Instant::now();
    #[cfg(target_os = "linux")]
    let out = match case.max_rss_mib {
        Some(limit) => {
            let (out, kib) = run_measured(&dir, &case.args);
            eprintln!(
                "{}: peak RSS {:.1} MiB (bound {limit} MiB)",
                case.name,
                kib as f64 / 1024.0
            );
            if kib > limit * 1024 {
                problems.push(format!(
                    "peak RSS {:.1} MiB is above the bound of {limit} MiB",
                    kib as f64 / 1024.0
                ));
            }
            out
        }
        None => run_in(&dir, &case.args, &[]),
    };
    #[cfg(not(target_os = "linux"))]
    let out = run_in(&dir, &case.args, &[]);
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if panicked(&out) {
        problems.push(format!("panicked or killed ({}):\n{stderr}", out.status));
        return problems;
    }
    if let Some(b) = out
        .stderr
        .iter()
        .find(|&&b| (b < 0x20 && b != b'\n' && b != b'\t') || b == 0x7f)
    {
        problems.push(format!(
            "stderr holds the raw control character {b:#04x}: input text reached the terminal unescaped"
        ));
    }
    if out.stderr.len() > 64 * 1024 {
        problems.push(format!(
            "{} bytes on stderr: a hostile input is echoed whole",
            out.stderr.len()
        ));
    }
    if elapsed > Duration::from_secs(60) {
        problems.push(format!("took {elapsed:?}"));
    }
    let code = out.status.code();
    match case.expect {
        Expect::Error if code != Some(1) => problems.push(format!(
            "expected an error (exit 1), got {}; stderr:\n{stderr}",
            out.status
        )),
        Expect::Warning | Expect::Ok if code != Some(0) => problems.push(format!(
            "expected success, got {}; stderr:\n{stderr}",
            out.status
        )),
        _ => {}
    }
    if case.expect == Expect::Error && !stderr.lines().any(|l| l.starts_with("error: ")) {
        problems.push(format!(
            "no line of stderr starts with 'error: ':\n{stderr}"
        ));
    }
    for fragment in &case.stderr {
        let found = match case.expect {
            Expect::Warning => stderr
                .lines()
                .any(|l| l.starts_with("warning: ") && l.contains(fragment.as_str())),
            _ => stderr.contains(fragment.as_str()),
        };
        if !found {
            problems.push(format!(
                "stderr lacks {}'{fragment}':\n{stderr}",
                if case.expect == Expect::Warning {
                    "a warning line with "
                } else {
                    ""
                }
            ));
        }
    }
    for (p, before) in &kept {
        if snapshot_path(&dir.join(p)) != *before {
            problems.push(format!(
                "{p} changed: the command destroyed what it must not touch"
            ));
        }
    }
    let leftovers: Vec<String> = files(scratch.path())
        .iter()
        .map(|f| f.display().to_string())
        .filter(|f| f.contains(".tmp-") || f.contains(".old-"))
        .collect();
    if !leftovers.is_empty() {
        problems.push(format!("temporary files left behind: {leftovers:?}"));
    }
    match case.expect {
        Expect::Error => {
            if let (Some(t), None) = (&target, &case.kept_output) {
                if t.exists() != target_existed {
                    problems.push(format!("the failed run left an output at {}", t.display()));
                }
            }
        }
        Expect::Ok | Expect::Warning => {
            problems.extend(non_finite_outputs(&dir, &inputs));
            for p in &case.produced {
                if !dir.join(p).is_file() {
                    problems.push(format!("{p} was not written"));
                }
            }
            for [produced, expected] in &case.compare {
                let a = std::fs::read(dir.join(produced));
                let b = std::fs::read(dir.join(expected));
                match (a, b) {
                    (Ok(a), Ok(b)) if a == b => {}
                    (Ok(a), Ok(b)) => problems.push(format!(
                        "{produced} differs from {expected}:\n{}\n---\n{}",
                        String::from_utf8_lossy(&a[..a.len().min(400)]),
                        String::from_utf8_lossy(&b[..b.len().min(400)])
                    )),
                    (a, b) => problems.push(format!(
                        "cannot compare {produced} ({:?}) with {expected} ({:?})",
                        a.err(),
                        b.err()
                    )),
                }
            }
        }
    }
    problems
}

/// Every case of the corpus ends as cases.toml says: a clear error, or a run that succeeds with
/// its documented warning and no NaN in any output; never a panic.
#[test]
fn hostile_input_corpus() {
    let cases = load_corpus();
    assert!(cases.len() >= 40, "the corpus has {} cases", cases.len());
    let mut names = BTreeSet::new();
    for c in &cases {
        assert!(names.insert(c.name.as_str()), "case '{}' twice", c.name);
        assert!(
            !c.about.trim().is_empty(),
            "case '{}' says nothing about itself",
            c.name
        );
        assert!(
            c.expect != Expect::Error || !c.stderr.is_empty(),
            "error case '{}' names no message fragment",
            c.name
        );
    }
    // A folder without a case would be a silently untested input.
    for entry in std::fs::read_dir(bad_dir()).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if entry.path().is_dir() && !matches!(name.as_str(), "common" | "fuzz-regressions") {
            assert!(
                names.contains(name.as_str()),
                "folder test-data/bad/{name} has no case"
            );
        }
    }
    // Two workers: the machine class this runs on has two cores.
    let (tx, rx) = std::sync::mpsc::channel();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            let tx = tx.clone();
            let (cases, next) = (&cases, &next);
            s.spawn(move || loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                tx.send((case.name.clone(), check_case(case))).unwrap();
            });
        }
    });
    drop(tx);
    let failures: BTreeMap<String, Vec<String>> =
        rx.into_iter().filter(|(_, p)| !p.is_empty()).collect();
    let report: Vec<String> = failures
        .iter()
        .map(|(name, problems)| format!("== {name}\n{}", problems.join("\n")))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        report.join("\n")
    );
}

#[test]
fn non_finite_tokens_are_found() {
    assert_eq!(non_finite_token("a\tNaN\tb"), Some("NaN"));
    assert_eq!(non_finite_token("x,-inf\n"), Some("-inf"));
    assert_eq!(non_finite_token("0.5\tNA\tinference\tInfant"), None);
}

/// [`snapshot`] of a folder, or of one file (under its own name), or empty when absent.
fn snapshot_path(path: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    if path.is_dir() {
        snapshot(path)
    } else {
        std::fs::read(path)
            .map(|b| BTreeMap::from([(PathBuf::from(path.file_name().unwrap_or_default()), b)]))
            .unwrap_or_default()
    }
}

/// A directory's files with their bytes; `manifest.json` files without their run-specific
/// `run` key (command line, time).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    files(dir)
        .into_iter()
        .map(|rel| {
            let bytes = std::fs::read(dir.join(&rel)).unwrap();
            let bytes = if rel.file_name().is_some_and(|n| n == "manifest.json") {
                let mut m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                m.as_object_mut().unwrap().remove("run");
                serde_json::to_vec_pretty(&m).unwrap()
            } else {
                bytes
            };
            (rel, bytes)
        })
        .collect()
}

fn temp_siblings(dir: &Path, name: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| {
            n.starts_with(&format!(".{name}.tmp-")) || n.starts_with(&format!(".{name}.old-"))
        })
        .collect()
}

/// Start `evomics ARGS` in `dir`, wait until it is writing its output (its temporary sibling of
/// `name` exists), let it write for `delay` more, then SIGKILL it. True when the kill landed
/// mid-write (the process died of the signal), false when the run had already finished.
#[cfg(target_os = "linux")]
fn kill_mid_write(dir: &Path, args: &[&str], name: &str, delay: Duration) -> bool {
    use std::os::unix::process::ExitStatusExt;
    let mut child = Command::new(env!("CARGO_BIN_EXE_evomics"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let tmp_prefix = format!(".{name}.tmp-{}-", child.id());
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        let writing = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(&tmp_prefix));
        if writing {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "evomics {args:?} never started writing"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(delay);
    // kill() sends SIGKILL; wait() reaps the process so that its /proc entry is gone.
    let _ = child.kill();
    let status = child.wait().unwrap();
    status.signal() == Some(9)
}

/// SIGKILL during the write of a store leaves no partial store at the target: nothing when there
/// was none, else the old store byte for byte (or, if the kill came after the final rename, the
/// complete new one). The rerun completes and removes the killed runs' temporary siblings.
#[cfg(target_os = "linux")]
#[test]
fn killed_run_leaves_old_store_or_none_and_rerun_completes() {
    let d = tempfile::tempdir().unwrap();
    let work = d.path().join("work");
    let reference = d.path().join("reference");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&reference).unwrap();
    // About 11 MB of Parquet: its write takes long enough to be interrupted.
    let new_args = [
        "simulate", "--preset", "medium", "--seed", "4", "-o", "cohort", "--quiet",
    ];
    let args: Vec<String> = new_args.iter().map(|s| s.to_string()).collect();
    assert!(run_in(&reference, &args, &[]).status.success());
    let new = snapshot(&reference.join("cohort"));

    let out = work.join("cohort");
    let mut interrupted = 0;
    if kill_mid_write(&work, &new_args, "cohort", Duration::ZERO) {
        interrupted += 1;
        assert!(
            !out.exists(),
            "a first run killed mid-write left {}",
            out.display()
        );
    }

    let old_args: Vec<String> = [
        "simulate", "--preset", "small", "--seed", "1", "-o", "cohort", "--quiet",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert!(run_in(&work, &old_args, &[]).status.success());
    let old = snapshot(&out);
    // The last kill comes as soon as the write starts: a later one may land after the final
    // rename, and each run removes the siblings its killed predecessors left.
    let mut last_interrupted = false;
    for delay in [300, 100, 0] {
        last_interrupted = kill_mid_write(&work, &new_args, "cohort", Duration::from_millis(delay));
        if last_interrupted {
            interrupted += 1;
        }
        let now = snapshot(&out);
        assert!(
            now == old || now == new,
            "after a kill {delay} ms into the write, {} is neither the old nor the new store ({} files)",
            out.display(),
            now.len()
        );
    }
    assert!(
        interrupted >= 2,
        "only {interrupted} of 4 kills landed mid-write"
    );
    assert!(
        !last_interrupted || !temp_siblings(&work, "cohort").is_empty(),
        "the run killed as its write began left no temporary sibling (which the rerun must clean)"
    );

    let rerun = run_in(&work, &args, &[]);
    assert!(
        rerun.status.success(),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    assert!(
        snapshot(&out) == new,
        "the rerun wrote the complete new store"
    );
    assert_eq!(temp_siblings(&work, "cohort"), Vec::<String>::new());
}

/// Run simulate → ingest → normalize (seeded imputation) → diff → qc in `dir` with `threads`
/// rayon threads.
fn pipeline(dir: &Path, threads: &str) {
    std::fs::write(
        dir.join("normalize.toml"),
        "[layers.proteome]\n\
         filters = [{ method = \"valid_values\", column = \"source\", min_fraction = 0.5 }]\n\
         transform = { method = \"log2\" }\n\
         normalization = { method = \"median\" }\n\
         imputation = { method = \"down_shift\", width = 0.3, shift = 1.8, seed = 11 }\n\
         batch_correction = { method = \"combat\", batch = \"batch\", covariates = [\"source\"] }\n\
         [layers.mirna]\n\
         filters = [{ method = \"min_count\", min_count = 10, min_samples = 3 }]\n\
         transform = { method = \"log_cpm\", prior_count = 2, norm_factors = { method = \"tmm\" } }\n\
         imputation = { method = \"qrilc\", seed = 12 }\n",
    )
    .unwrap();
    let steps: [&[&str]; 6] = [
        &[
            "simulate", "--preset", "small", "--seed", "9", "-o", "sim", "--tsv", "tsv",
        ],
        &[
            "ingest",
            "-s",
            "tsv/samples.tsv",
            "--layer",
            "proteome=tsv/proteome.tsv,scale=linear",
            "--layer",
            "mirna=tsv/mirna.tsv,scale=counts",
            "-o",
            "raw",
        ],
        &[
            "normalize",
            "raw",
            "--config",
            "normalize.toml",
            "-o",
            "norm",
        ],
        &[
            "diff",
            "norm",
            "--layer",
            "proteome",
            "--design",
            "~ 0 + source",
            "--contrast",
            "ADSC - BM_MSC",
            "--contrast",
            "UC_MSC - BM_MSC",
            "--robust",
            "-o",
            "diff-proteome",
        ],
        &[
            "diff",
            "raw",
            "--layer",
            "mirna",
            "--design",
            "~ 0 + source + batch",
            "--contrast",
            "ADSC - BM_MSC",
            "-o",
            "diff-mirna",
        ],
        &["qc", "raw", "--group-by", "source", "-o", "qc"],
    ];
    for step in steps {
        let args: Vec<String> = step.iter().map(|s| s.to_string()).collect();
        let out = run_in(dir, &args, &[("RAYON_NUM_THREADS", threads)]);
        assert!(
            out.status.success(),
            "evomics {step:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The same inputs, configs and seeds give byte-identical outputs (manifests' `run` aside),
/// with one worker thread or four.
#[test]
fn pipeline_is_byte_identical_across_runs_and_thread_counts() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    pipeline(&a, "1");
    pipeline(&b, "4");
    let (sa, sb) = (snapshot(&a), snapshot(&b));
    assert_eq!(
        sa.keys().collect::<Vec<_>>(),
        sb.keys().collect::<Vec<_>>(),
        "both runs write the same files"
    );
    assert!(sa.len() > 30, "{} files", sa.len());
    let differing: Vec<String> = sa
        .iter()
        .filter(|(k, v)| sb[*k] != **v)
        .map(|(k, _)| k.display().to_string())
        .collect();
    assert!(
        differing.is_empty(),
        "files differ between the runs: {differing:?}"
    );
    assert!(sa
        .keys()
        .any(|k| k.ends_with("contrast_ADSC_-_BM_MSC.parquet")));
}
