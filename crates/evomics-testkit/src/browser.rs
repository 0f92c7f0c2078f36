//! Headless Chromium (Debian's `chromium` package) for tests of the HTML report: a screenshot
//! and the DOM the browser built, with the browser's own log. Without Chromium a test prints a
//! skip notice, except under CI (`CI` set), which installs it, where that is a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Where Debian installs Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Whether Chromium can be used; panics under CI without it.
pub fn have_chromium() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{CHROMIUM} is missing but CI is set; CI must install Debian's chromium package");
    }
    eprintln!(
        "skipping the browser check: {CHROMIUM} not found (apt-get install chromium to run it)"
    );
    false
}

/// Runs Chromium headless with `args` on `file` (its profile in `dir`), killing it after two
/// minutes.
pub fn chromium(dir: &Path, args: &[&str], file: &Path) -> Output {
    let profile = dir.join(format!("profile-{}", args.len()));
    let child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", file.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let pid = child.id();
    // Output is drained on another thread: a full pipe (the dumped DOM is megabytes) would
    // otherwise block Chromium forever.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(out) => out.expect("chromium output"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("chromium did not finish in 120 s");
        }
    }
}

/// What the browser made of a page.
#[derive(Debug)]
pub struct Rendered {
    /// The 1200 × 3000 screenshot (PNG).
    pub screenshot: PathBuf,
    /// Wall time of the screenshot run (start to PNG written), for the record.
    pub screenshot_time: Duration,
    /// The DOM after parsing.
    pub dom: String,
    /// The browser log (`--enable-logging=stderr --v=0`).
    pub log: String,
}

/// Screenshot (into `dir`) and DOM of the page at `file`, checking that the screenshot is a
/// PNG of some substance and that the browser log has no script error or Content-Security-Policy
/// violation. `None` without Chromium (outside CI).
pub fn render_page(dir: &Path, file: &Path) -> Option<Rendered> {
    if !have_chromium() {
        return None;
    }
    let shot = dir.join("shot.png");
    let start = Instant::now();
    let out = chromium(
        dir,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,3000",
        ],
        file,
    );
    let screenshot_time = start.elapsed();
    assert!(
        out.status.success(),
        "screenshot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("no screenshot written");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "screenshot is not a PNG"
    );
    assert!(
        png.len() > 50_000,
        "screenshot is suspiciously small ({} bytes)",
        png.len()
    );
    let out = chromium(
        dir,
        &["--enable-logging=stderr", "--v=0", "--dump-dom"],
        file,
    );
    assert!(
        out.status.success(),
        "dump-dom failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    for bad in [
        "Uncaught",
        "ERROR:CONSOLE",
        "Refused to",
        "Content Security Policy",
    ] {
        assert!(
            !log.contains(bad),
            "browser console reports '{bad}':\n{log}"
        );
    }
    if let Some(keep) = std::env::var_os("EVOMICS_REPORT_KEEP") {
        let keep = Path::new(&keep);
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("report");
        std::fs::create_dir_all(keep).unwrap();
        std::fs::copy(file, keep.join(format!("{stem}.html"))).unwrap();
        std::fs::copy(&shot, keep.join(format!("{stem}.png"))).unwrap();
    }
    Some(Rendered {
        screenshot: shot,
        screenshot_time,
        dom: String::from_utf8_lossy(&out.stdout).into_owned(),
        log,
    })
}
