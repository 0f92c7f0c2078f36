//! `evomics run`.

use std::io::Write;

use evomics_pipeline::run::{execute, plan, reuse_plan, shell_quote, RunOptions};

use crate::cli::RunArgs;
use crate::cmd::Log;

pub fn run(a: RunArgs, log: Log) -> anyhow::Result<()> {
    let p = plan(&a.config, &a.out)?;
    let reuse = reuse_plan(&p, &a.out, a.force);
    let stages = |done: bool| -> Vec<serde_json::Value> {
        p.steps
            .iter()
            .zip(&reuse)
            .map(|(s, reused)| {
                let cmd: Vec<String> = s.command.iter().map(|c| shell_quote(c)).collect();
                let mut v = serde_json::json!({
                    "name": s.name,
                    "out": s.out.display().to_string(),
                    "action": if *reused { "reuse" } else { "run" },
                    "command": format!("evomics {}", cmd.join(" ")),
                });
                if done && s.name != "report" {
                    v["summary"] = crate::cmd::stage_summary(&s.out);
                }
                v
            })
            .collect()
    };
    if a.dry_run && log.json() {
        for n in &p.notes {
            log.warn(format!("run config: {n}"));
        }
        return log.finish(
            "run",
            &[],
            serde_json::json!({ "dry_run": true, "stages": stages(false) }),
        );
    }
    if a.dry_run {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        writeln!(out, "plan for {} → {}", a.config.display(), a.out.display())?;
        for n in &p.notes {
            writeln!(out, "note: {n}")?;
        }
        for (s, reused) in p.steps.iter().zip(reuse.iter().copied()) {
            writeln!(
                out,
                "{:<16} {}",
                s.name,
                if reused { "reuse (unchanged)" } else { "run" }
            )?;
            if let Some((path, body)) = &s.config_file {
                writeln!(out, "  writes {}:", path.display())?;
                for line in body.lines() {
                    writeln!(out, "    {line}")?;
                }
            }
            let cmd: Vec<String> = s.command.iter().map(|c| shell_quote(c)).collect();
            writeln!(out, "  evomics {}", cmd.join(" "))?;
        }
        return Ok(());
    }
    let progress = log.progress();
    let opts = RunOptions {
        force: a.force,
        threads: a.threads.unwrap_or(0),
        progress: Some(&progress),
    };
    execute(&p, &a.out, &opts, &mut |m| log.message(&m))?;
    log.finish(
        "run",
        &[&a.out],
        serde_json::json!({ "dry_run": false, "stages": stages(true) }),
    )
}
