//! `evomics`: multi-omics analysis of extracellular-vesicle cargo.
//!
//! A thin command-line layer over the evomics library crates: each subcommand lives in its
//! own file under `cmd/`, parses its arguments into a stage config, calls one library
//! function (mostly `evomics_pipeline::stages`) and prints the result's messages.

mod cli;
mod cmd;

use clap::Parser;

/// jemalloc, as polars advises for Linux: a cohort-scale `evomics run` frees and allocates
/// fold matrices of hundreds of MB, which glibc's per-thread arenas keep resident (its dynamic
/// mmap threshold moves such blocks into the arenas once one is freed). With the decay that
/// `.cargo/config.toml` builds in, freed pages go back to the system within a second;
/// `_RJEM_MALLOC_CONF` overrides it at run time (jemalloc's `opt.*` names).
#[cfg(unix)]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// True when the error is a closed output pipe (`evomics info st | head -1`): the reader has
/// what it wanted, so evomics ends quietly, as ripgrep does.
fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn main() {
    let args = cli::Cli::parse();
    if let Err(e) = cmd::dispatch(args) {
        if broken_pipe(&e) {
            std::process::exit(0);
        }
        eprintln!("error: {}", cmd::terminal_safe(&e.to_string()));
        for cause in e.chain().skip(1) {
            eprintln!("  caused by: {}", cmd::terminal_safe(&cause.to_string()));
        }
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// docs/cli.md has a section for every subcommand that names each of its flags.
    #[test]
    fn the_command_line_reference_covers_every_flag() {
        let doc = include_str!("../../../docs/cli.md");
        let cmd = crate::cli::Cli::command();
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let name = sub.get_name();
            let head = format!("## evomics {name}\n");
            let start = doc
                .find(&head)
                .unwrap_or_else(|| panic!("docs/cli.md has no section '## evomics {name}'"));
            let section = &doc[start + head.len()..];
            let section = &section[..section.find("\n## ").unwrap_or(section.len())];
            for arg in sub.get_arguments() {
                if let Some(long) = arg.get_long() {
                    let short = arg.get_short().map(|c| format!("-{c} "));
                    assert!(
                        section.contains(&format!("--{long}"))
                            || short.is_some_and(|s| section.contains(&s)),
                        "docs/cli.md, section evomics {name}: --{long} is not described"
                    );
                }
            }
        }
    }

    /// Every option that takes a value and can be left out says what happens then: a clap
    /// default, or `[default: …]` / "default" in its help. Outputs, inputs and config files
    /// (nothing happens without them) are exempt.
    #[test]
    fn every_optional_setting_states_its_default() {
        let mut cmd = crate::cli::Cli::command();
        cmd.build();
        let exempt = [
            "out",
            "config",
            "counts",
            "panels",
            "tsv",
            "samples",
            "layer",
            "layers",
            "exclude",
            "sample-id-column",
            "worksheet",
            "date",
            "title",
            "help",
            "version",
        ];
        let mut missing = Vec::new();
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            for arg in sub.get_arguments() {
                let Some(long) = arg.get_long() else { continue };
                let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values());
                if !takes_value || arg.is_required_set() || exempt.contains(&long) {
                    continue;
                }
                let help = arg
                    .get_long_help()
                    .or(arg.get_help())
                    .map(|h| h.to_string().to_lowercase())
                    .unwrap_or_default();
                if arg.get_default_values().is_empty() && !help.contains("default") {
                    missing.push(format!("evomics {} --{long}", sub.get_name()));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "no default stated: {}",
            missing.join(", ")
        );
    }

    /// Every subcommand's help ends with at least one example.
    #[test]
    fn every_subcommand_has_an_example() {
        let mut cmd = crate::cli::Cli::command();
        cmd.build();
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let after = sub
                .get_after_help()
                .map(|s| s.to_string())
                .unwrap_or_default();
            assert!(
                after.contains("evomics "),
                "evomics {} --help shows no example",
                sub.get_name()
            );
        }
    }
}
