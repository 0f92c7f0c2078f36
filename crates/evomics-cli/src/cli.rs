//! Command-line types (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// evomics: multi-omics analysis of extracellular-vesicle (EV) cargo.
///
/// Ingest proteomics and miRNA tool outputs with a sample sheet, then run QC, normalization,
/// statistics and potency models over them.
#[derive(Debug, Parser)]
#[command(name = "evomics", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Print nothing but errors on stderr.
    #[arg(long, global = true)]
    pub quiet: bool,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parse an argv (first item the program name), for stages run from a pipeline.
    pub fn try_parse_from_argv(argv: &[String]) -> anyhow::Result<Cli> {
        use clap::Parser;
        Cli::try_parse_from(argv).map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a simulated EV cargo cohort with known truth (an experiment store plus TSV inputs).
    Simulate(SimulateArgs),
    /// Read a sample sheet and tool outputs into an experiment store.
    Ingest(IngestArgs),
    /// Summarise an experiment store.
    Info(InfoArgs),
    /// Export one layer of an experiment store as a wide TSV.
    Export(ExportArgs),
    /// Run the whole pipeline from one config (each stage in its own subfolder).
    Run(crate::cmd::run::RunArgs),
    /// Write the self-contained HTML report of a pipeline's outputs.
    Report(crate::cmd::report::ReportArgs),
    /// Run the whole pipeline on an embedded simulated cohort and write report.html.
    Demo(crate::cmd::demo::DemoArgs),
    /// Per-sample and per-feature QC with the MISEV purity gate and dose ratios.
    Qc(crate::cmd::qc::QcArgs),
    /// Filter, transform, normalize, impute and batch-correct layers (fit → transform).
    Normalize(crate::cmd::normalize::NormalizeArgs),
    /// Differential statistics equal to limma (lmFit, contrasts, eBayes, topTable).
    Diff(crate::cmd::diff::DiffArgs),
    /// Per-group signatures (one-vs-rest limma), variance partition, panel scores and enrichment.
    Explore(crate::cmd::explore::ExploreArgs),
    /// PCA, clustering of samples (k by silhouette or gap) and agreement with sheet columns.
    Cluster(crate::cmd::cluster::ClusterArgs),
    /// Train a potency predictor with leakage-free (donor-grouped) cross-validation.
    Train(crate::cmd::train::TrainArgs),
    /// Apply a saved potency model to new samples, with conformal sets or intervals.
    Predict(crate::cmd::predict::PredictArgs),
}

/// `evomics simulate`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  evomics simulate --preset small --seed 7 -o cohort\n  evomics simulate --config sim.toml -o cohort --tsv cohort-tsv"
)]
pub struct SimulateArgs {
    /// Size preset: small (≈300 proteins × 36 samples), medium, large.
    #[arg(long, default_value = "small")]
    pub preset: String,
    /// A TOML file overriding simulation parameters (see docs/simulator.md).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Random seed (overrides the config's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Number of samples (overrides the preset).
    #[arg(long)]
    pub samples: Option<usize>,
    /// Number of proteins (overrides the preset).
    #[arg(long)]
    pub proteins: Option<usize>,
    /// Number of miRNAs (overrides the preset).
    #[arg(long)]
    pub mirnas: Option<usize>,
    /// Output experiment store directory.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Also write the cohort as plain inputs (samples.tsv, proteome.tsv, mirna.tsv, truth tables)
    /// into this directory, ready for `evomics ingest`.
    #[arg(long)]
    pub tsv: Option<PathBuf>,
}

/// `evomics ingest`.
#[derive(Debug, Args)]
#[command(after_help = INGEST_HELP)]
pub struct IngestArgs {
    /// Sample sheet (CSV, TSV or XLSX): one row per sample.
    #[arg(long, short = 's')]
    pub samples: PathBuf,
    /// Sample-sheet column holding the sample ids (default: sample_id, sample, Sample, …).
    #[arg(long)]
    pub sample_id_column: Option<String>,
    /// Worksheet of an XLSX sample sheet (default: the first).
    #[arg(long)]
    pub worksheet: Option<String>,
    /// A layer: NAME=PATH[,key=value…] (repeatable). See the keys below.
    #[arg(long = "layer", short = 'l', required = true)]
    pub layers: Vec<String>,
    /// Keep going when sheet samples are missing from a matrix (or the reverse): they are
    /// reported and left out of that layer.
    #[arg(long)]
    pub allow_missing_samples: bool,
    /// Output experiment store directory (replaced atomically).
    #[arg(short, long)]
    pub out: PathBuf,
}

const INGEST_HELP: &str = "\
Layer syntax: --layer NAME=PATH[,key=value...]
  format=NAME        input format (detected from the header when omitted): wide, wide-parquet, …
  quant=NAME         quantity, e.g. lfq | intensity | ibaq (MaxQuant); maxlfq | intensity | razor (FragPipe)
  kind=NAME          proteome | mirna | lipidome | other (default: guessed from NAME)
  scale=NAME         linear | counts | log2 | other
  transpose=true     rows are samples, columns are features (wide format)
  id_column=COL      feature id column (wide format; default: first column)
  annotations=A;B    text columns kept as feature annotations (wide format)
  zero=missing|observed   how a 0 is read
  keep_flagged=true  keep decoy/contaminant rows as flagged features
  sheet_column=COL   sample-sheet column naming each sample's matrix column (default: NAME_column)

Examples:
  evomics ingest -s samples.tsv --layer proteome=proteinGroups.txt,quant=lfq -o exp
  evomics ingest -s sheet.xlsx --layer mirna=counts.csv,scale=counts --layer proteome=pg.tsv -o exp
  evomics ingest -s samples.tsv --layer lipidome=lipids.tsv,transpose=true,kind=lipidome -o exp";

/// `evomics info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Experiment store directory.
    pub dir: PathBuf,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `evomics export`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  evomics export exp --layer proteome -o proteome.tsv")]
pub struct ExportArgs {
    /// Experiment store directory.
    pub dir: PathBuf,
    /// Layer to export.
    #[arg(long)]
    pub layer: String,
    /// Output TSV file (written atomically).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Write the per-cell flags (observed, missing, imputed, below_detection) instead of values.
    #[arg(long)]
    pub flags: bool,
    /// Write imputed cells as NA (only observed values as numbers).
    #[arg(long)]
    pub observed_only: bool,
}
