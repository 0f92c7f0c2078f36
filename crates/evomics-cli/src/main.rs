//! `evomics`: multi-omics analysis of extracellular-vesicle cargo.
//!
//! A thin command-line layer over the evomics library crates: each subcommand lives in its
//! own file under `cmd/`, parses its arguments with clap and calls the libraries.

mod cli;
mod cmd;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    if let Err(e) = cmd::dispatch(args) {
        eprintln!("error: {e}");
        for cause in e.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
        std::process::exit(1);
    }
}
