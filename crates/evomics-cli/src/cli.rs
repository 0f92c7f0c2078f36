//! Command-line types (clap derive). Every stage's flags are the keys of its config (the same
//! names as in a run config's table, with `-` for `_`); a flag overrides the `--config` file,
//! which overrides the defaults.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use evomics_ml::stages::train::{CvKind, ModelKind};

/// evomics: multi-omics analysis of extracellular-vesicle (EV) cargo.
///
/// Ingest proteomics and miRNA tool outputs with a sample sheet, then run QC, normalization,
/// statistics and potency models over them.
#[derive(Debug, Parser)]
#[command(name = "evomics", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Print nothing but errors and warnings on stderr.
    #[arg(long, global = true)]
    pub quiet: bool,
    /// Print a JSON summary of what the command did on stdout when it ends (outputs, messages
    /// and the command's own summary; layout in docs/cli.md).
    #[arg(long, global = true)]
    pub json: bool,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
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
    /// Run the whole pipeline from one config, in one process (each stage in its own subfolder).
    Run(RunArgs),
    /// Write the self-contained HTML report of a pipeline's outputs.
    Report(ReportArgs),
    /// Run the whole pipeline on an embedded simulated cohort and write report.html.
    Demo(DemoArgs),
    /// Per-sample and per-feature QC with the MISEV purity gate and dose ratios.
    Qc(QcArgs),
    /// Filter, transform, normalize, impute and batch-correct layers (fit → transform).
    Normalize(NormalizeArgs),
    /// Differential statistics equal to limma (lmFit, contrasts, eBayes, topTable).
    Diff(DiffArgs),
    /// Per-group signatures (one-vs-rest limma), variance partition, panel scores and enrichment.
    Explore(ExploreArgs),
    /// PCA, clustering of samples (k by silhouette or gap) and agreement with sheet columns.
    Cluster(ClusterArgs),
    /// Train a potency predictor with leakage-free (donor-grouped) cross-validation.
    Train(TrainArgs),
    /// Apply a saved potency model to new samples, with conformal sets or intervals.
    Predict(PredictArgs),
}

/// A flags table: the keys that were given on the command line, named as in the config.
#[derive(Debug, Default)]
pub struct Flags(pub toml::Table);

impl Flags {
    /// Set `key` when `value` is given.
    pub fn opt<T: Into<toml::Value>>(mut self, key: &str, value: Option<T>) -> Flags {
        if let Some(v) = value {
            self.0.insert(key.into(), v.into());
        }
        self
    }

    /// Set `key` to a list when it is not empty.
    pub fn list<T: Clone + Into<toml::Value>>(mut self, key: &str, values: &[T]) -> Flags {
        if !values.is_empty() {
            self.0.insert(
                key.into(),
                toml::Value::Array(values.iter().cloned().map(Into::into).collect()),
            );
        }
        self
    }

    /// Set `key` to a number. TOML integers are 64-bit signed: a larger count saturates at
    /// `i64::MAX` (the key's range check then refuses it) instead of wrapping to a negative
    /// number.
    pub fn num(self, key: &str, value: Option<usize>) -> Flags {
        self.opt(key, value.map(|v| i64::try_from(v).unwrap_or(i64::MAX)))
    }

    /// Set `key` to text (a path, a name).
    pub fn text(self, key: &str, value: Option<&impl ToString>) -> Flags {
        self.opt(key, value.map(|v| v.to_string()))
    }
}

/// `--exclude`, shared by every stage that reads a store.
#[derive(Debug, Clone, Default, Args)]
pub struct ExcludeArgs {
    /// Leave out samples whose sheet column has one of the values: COLUMN=VALUE[;VALUE…],
    /// repeatable (a sample matching any rule is left out; `sample_id=S1;S2` names samples).
    /// Replaces the config's `exclude`. [default: none]
    #[arg(long = "exclude", value_name = "COLUMN=VALUES")]
    pub exclude: Vec<String>,
}

impl Flags {
    /// Set `exclude` to the rules given on the command line (checked here, so that a
    /// malformed rule is named as the user typed it).
    pub fn exclude(mut self, a: &ExcludeArgs) -> anyhow::Result<Flags> {
        if a.exclude.is_empty() {
            return Ok(self);
        }
        let rules = evomics_core::ExcludeRules::parse_all(&a.exclude)?;
        let value = toml::Value::try_from(&rules)?;
        self.0.insert("exclude".into(), value);
        Ok(self)
    }
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
    /// Random seed (overrides the config's) [default: the config's, else the preset's].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Number of samples (overrides the preset).
    #[arg(long)]
    pub samples: Option<usize>,
    /// Number of proteins (overrides the preset) [default: the preset's].
    #[arg(long)]
    pub proteins: Option<usize>,
    /// Number of miRNAs (overrides the preset) [default: the preset's].
    #[arg(long)]
    pub mirnas: Option<usize>,
    /// Output experiment store directory.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Replace the output folder even when it is not evomics output (see docs/reliability.md).
    #[arg(long)]
    pub force: bool,
    /// Also write the cohort as plain inputs (samples.tsv, proteome.tsv, mirna.tsv, truth tables)
    /// into this directory, ready for `evomics ingest`.
    #[arg(long)]
    pub tsv: Option<PathBuf>,
}

/// `evomics ingest`.
#[derive(Debug, Args)]
#[command(
    after_help = INGEST_HELP,
    group(clap::ArgGroup::new("sheet").required(true).args(["samples", "sdrf"]))
)]
pub struct IngestArgs {
    /// Sample sheet (CSV, TSV or XLSX): one row per sample.
    #[arg(long, short = 's')]
    pub samples: Option<PathBuf>,
    /// An SDRF-Proteomics file as the sample sheet: one sample per `source name` (or per the
    /// column --sample-id-column names), its rows (fractions, data files) collapsed. Default: none
    /// (-s gives the sheet).
    #[arg(long, value_name = "FILE")]
    pub sdrf: Option<PathBuf>,
    /// Sample-sheet column holding the sample ids (default: sample_id, sample, Sample, …; with
    /// --sdrf: source name).
    #[arg(long)]
    pub sample_id_column: Option<String>,
    /// Worksheet of an XLSX sample sheet (default: the first).
    #[arg(long)]
    pub worksheet: Option<String>,
    /// A layer: NAME=PATH[,key=value…] (repeatable; the same NAME twice reads several files
    /// into one layer). See the keys below.
    #[arg(long = "layer", short = 'l', required = true)]
    pub layers: Vec<String>,
    /// Keep going when sheet samples are missing from a matrix (or the reverse): they are
    /// reported and left out of that layer.
    #[arg(long)]
    pub allow_missing_samples: bool,
    /// A sample map (TSV or CSV with columns unit_id, assay, column): which column of which
    /// layer's file holds which sheet sample. For layers measured on different preparations or
    /// under their own column names; a sample the map does not list for a layer was not
    /// measured in it (docs/formats.md, "Sample map"). Default: none (samples are matched by
    /// id, or through a `<layer>_column` sheet column).
    #[arg(long, value_name = "FILE")]
    pub sample_map: Option<PathBuf>,
    /// Output experiment store directory (replaced atomically).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Replace the output folder even when it is not evomics output (see docs/reliability.md).
    #[arg(long)]
    pub force: bool,
}

const INGEST_HELP: &str = "\
Layer syntax: --layer NAME=PATH[,key=value...]
  format=NAME        input format (detected from the header when omitted): wide, wide-parquet, …
  quant=NAME         quantity, e.g. lfq | intensity | ibaq (MaxQuant); corrected | uncorrected (MaxQuant TMT);
                     maxlfq | intensity | razor (FragPipe); normalized | grouped | scaled | abundance
                     (Proteome Discoverer); assay | study_variable (mzTab)
  kind=NAME          proteome | mirna | lipidome | other (default: guessed from NAME)
  scale=NAME         linear | counts | log2 | other
  transpose=true     rows are samples, columns are features (wide format)
  id_column=COL      feature id column (wide format; default: first column)
  annotations=A;B    text columns kept as feature annotations (wide format)
  zero=missing|observed   how a 0 is read
  keep_flagged=true  keep decoy/contaminant rows as flagged features
  sheet_column=COL   sample-sheet column naming each sample's matrix column (default: NAME_column)
  join=outer|inner   for a layer given as several files: every feature (absent ones flagged
                     absent_from_file; default) or only the features of every file

Examples:
  evomics ingest -s samples.tsv --layer proteome=proteinGroups.txt,quant=lfq -o exp
  evomics ingest -s sheet.xlsx --layer mirna=counts.csv,scale=counts --layer proteome=pg.tsv -o exp
  evomics ingest -s samples.tsv --layer lipidome=lipids.tsv,transpose=true,kind=lipidome -o exp
  evomics ingest -s sheet.csv --layer mirna=batch0.csv --layer mirna=batch1.csv,join=inner -o exp
  evomics ingest --sdrf PXD000000.sdrf.tsv --layer proteome=proteinGroups.txt -o exp";

/// `evomics info`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  evomics info exp\n  evomics info exp --json")]
pub struct InfoArgs {
    /// Experiment store directory.
    pub dir: PathBuf,
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
    /// Output TSV file (written atomically); `-` writes the table to stdout.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Write the per-cell flags (observed, missing, imputed, below_detection) instead of values.
    #[arg(long)]
    pub flags: bool,
    /// Write imputed cells as NA (only observed values as numbers).
    #[arg(long)]
    pub observed_only: bool,
}

/// `evomics run`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  evomics run workflows/demo.toml -o results\n  evomics run workflows/maxquant-proteome.toml -o results --dry-run\n\nSee docs/run.md for the config format."
)]
pub struct RunArgs {
    /// The pipeline config (TOML).
    pub config: PathBuf,
    /// Output folder; each stage writes a subfolder.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Print the resolved plan (stages, reuse, the equivalent commands) and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Rerun every stage even when its inputs and settings are unchanged, and write into the
    /// output folder even when it is not an evomics run folder.
    #[arg(long)]
    pub force: bool,
    /// Worker threads of the permutation tests (results do not depend on it; default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// `evomics report`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  evomics report results -o results/report.html\n  evomics report results -o results/report.html --standards results/standards\n\nReads the stage folders of an `evomics run` output (ingest, qc, normalize, diff/*, explore, cluster, train)."
)]
pub struct ReportArgs {
    /// The pipeline output folder.
    pub run_dir: PathBuf,
    /// The HTML file to write (atomically).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Report title.
    #[arg(long, default_value = "EV cargo analysis")]
    pub title: String,
    /// Date to print in the header (the report never reads the clock, so reruns are identical).
    #[arg(long, default_value = "")]
    pub date: String,
    /// Also write the reporting-standards files into this folder (replaced atomically):
    /// misev2023.tsv, ev-track.tsv, dome-<model>.tsv per trained model and sdrf.tsv
    /// (docs/standards.md). Default: none (only the report).
    #[arg(long, value_name = "DIR")]
    pub standards: Option<PathBuf>,
    /// Replace the --standards folder even when it is not evomics output.
    #[arg(long)]
    pub force: bool,
}

/// `evomics demo`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  evomics demo -o evomics-demo   # then open evomics-demo/report.html"
)]
pub struct DemoArgs {
    /// Output folder (inputs/, one subfolder per stage, report.html).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Seed of the simulated cohort.
    #[arg(long, default_value_t = evomics_pipeline::demo::DEMO_SEED)]
    pub seed: u64,
    /// Rerun every stage (and simulate the cohort again), and write into the output folder even
    /// when it is not an evomics run folder.
    #[arg(long)]
    pub force: bool,
}

/// `evomics qc`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  evomics qc exp -o qc\n  evomics qc exp -o qc --layer proteome --group-by source --config qc.toml\n\nConfig (TOML, every key optional):\n  layers = [\"proteome\"], group_by = \"source\"\n  [sample]  outlier_z = 3.5, profile_min_fraction = 0.5, …\n  [purity]  co_isolate_warn_share = 0.05, co_isolate_fail_share = 0.2, …\n  [dose]    high_purity_particles_per_ug = 3e10, low_purity_particles_per_ug = 1.5e9\nSee docs/methods/qc-and-panels.md."
)]
pub struct QcArgs {
    /// Experiment store directory.
    pub store: PathBuf,
    /// Output directory (replaced atomically).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Replace the output folder even when it is not evomics output (see docs/reliability.md).
    #[arg(long)]
    pub force: bool,
    /// Layers to check (repeatable; default: all).
    #[arg(long = "layer")]
    pub layers: Vec<String>,
    /// Sample-sheet column whose groups the per-feature observed fractions are given for
    /// [default: none, fractions over all samples].
    #[arg(long)]
    pub group_by: Option<String>,
    /// QC settings (TOML; flags override its keys).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Samples to leave out.
    #[command(flatten)]
    pub exclusion: ExcludeArgs,
}

impl QcArgs {
    /// The flags as config keys.
    pub fn flags(&self) -> anyhow::Result<Flags> {
        Flags::default()
            .list("layers", &self.layers)
            .text("group_by", self.group_by.as_ref())
            .exclude(&self.exclusion)
    }
}

/// `evomics normalize`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  evomics normalize exp -o exp-norm\n  evomics normalize exp -o exp-norm --config normalize.toml\n\nConfig (TOML): one table per layer, e.g.\n  [proteome]\n  filters = [{ method = \"contaminants\" }, { method = \"valid_values\", column = \"source\", min_fraction = 0.7 }]\n  transform = { method = \"log2\" }\n  normalization = { method = \"median\" }\n  imputation = { method = \"down_shift\", width = 0.3, shift = 1.8, seed = 7 }\n  batch_correction = { method = \"combat\", batch = \"batch\", covariates = [\"source\"] }\nWithout --config every layer gets the recommended pipeline (docs/methods/normalization.md)."
)]
pub struct NormalizeArgs {
    /// Experiment store directory.
    pub store: PathBuf,
    /// Output experiment store (replaced atomically).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Replace the output folder even when it is not evomics output (see docs/reliability.md).
    #[arg(long)]
    pub force: bool,
    /// Pipeline per layer (TOML); layers it does not name are copied unchanged.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Sheet column grouping the samples of the valid-values filter and the imputation report
    /// when a pipeline names none [default: the sheet's first grouping column].
    #[arg(long)]
    pub group_by: Option<String>,
    /// Samples to leave out.
    #[command(flatten)]
    pub exclusion: ExcludeArgs,
}

impl NormalizeArgs {
    /// The flags as config keys.
    pub fn flags(&self) -> anyhow::Result<Flags> {
        Flags::default()
            .text("group_by", self.group_by.as_ref())
            .exclude(&self.exclusion)
    }
}

/// A boolean flag that can also be switched off: `--trend`, `--trend=false`.
macro_rules! switch {
    () => {
        clap::builder::ArgAction::Set
    };
}

/// `evomics diff`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  evomics diff exp-norm --layer proteome --design '~ 0 + source' --contrast 'ADSC - BM_MSC' -o diff\n  evomics diff exp-norm --config diff.toml -o diff\n  evomics diff exp-norm --counts exp --layer mirna --design '~ 0 + source' --block donor_id -o diff\n\nConfig (TOML): layer, design, contrasts = [\"name = expr\", …], trend, robust, legacy (auto|true|false),\nblock (e.g. \"donor_id\"), voom (auto|true|false), norm_factors = { method = \"tmm\" } (voom's libraries:\ntmm|upper_quartile|rle|none), treat_lfc, adjust (BH|BY|holm|bonferroni|none), level_order\n(first_appearance|sorted), [levels] source = [\"BM-MSC\", …], significance (0.05). See docs/methods/statistics.md."
)]
pub struct DiffArgs {
    /// Experiment store directory (normally the output of `evomics normalize`).
    pub store: PathBuf,
    /// Output directory (replaced atomically).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Replace the output folder even when it is not evomics output (see docs/reliability.md).
    #[arg(long)]
    pub force: bool,
    /// Settings file (TOML); flags below override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Layer to test.
    #[arg(long)]
    pub layer: Option<String>,
    /// Design formula over sample-sheet columns, e.g. '~ 0 + source' [default: none; required
    /// here or in --config].
    #[arg(long)]
    pub design: Option<String>,
    /// Contrast (repeatable): 'ADSC - BM_MSC' or 'name = ADSC - BM_MSC' [default: every
    /// coefficient of the design].
    #[arg(long = "contrast")]
    pub contrasts: Vec<String>,
    /// Intensity-dependent prior variance (eBayes trend = TRUE) [default: false].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", action = switch!())]
    pub trend: Option<bool>,
    /// Robust empirical Bayes (eBayes robust = TRUE) [default: false].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", action = switch!())]
    pub robust: Option<bool>,
    /// Prior estimator: auto (current limma), true (limma < 3.60), false [default: auto].
    #[arg(long)]
    pub legacy: Option<String>,
    /// Sample-sheet column of correlated samples (e.g. donor_id): duplicateCorrelation + block
    /// [default: none].
    #[arg(long)]
    pub block: Option<String>,
    /// voom precision weights: auto (count layers), true, false [default: auto].
    #[arg(long)]
    pub voom: Option<String>,
    /// limma's treat: test |logFC| > this log2 fold change instead of logFC ≠ 0 [default: none,
    /// test logFC ≠ 0].
    #[arg(long)]
    pub treat_lfc: Option<f64>,
    /// What a layer of scale 'other' holds (log2); without it such a layer is refused
    /// [default: none].
    #[arg(long)]
    pub assume_scale: Option<String>,
    /// The ingested store with the layer's counts: when the store's layer is normalize's
    /// log-CPM, voom runs on these counts (the features and samples normalize kept).
    #[arg(long)]
    pub counts: Option<PathBuf>,
    /// Samples to leave out.
    #[command(flatten)]
    pub exclusion: ExcludeArgs,
}

impl DiffArgs {
    /// The flags as config keys.
    pub fn flags(&self) -> anyhow::Result<Flags> {
        Flags::default()
            .text("layer", self.layer.as_ref())
            .text("design", self.design.as_ref())
            .list("contrasts", &self.contrasts)
            .opt("trend", self.trend)
            .opt("robust", self.robust)
            .text("legacy", self.legacy.as_ref())
            .text("block", self.block.as_ref())
            .text("voom", self.voom.as_ref())
            .opt("treat_lfc", self.treat_lfc)
            .text("assume_scale", self.assume_scale.as_ref())
            .exclude(&self.exclusion)
    }
}

/// `evomics explore`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  evomics explore exp-norm --layer proteome --by source -o explore\n  evomics explore exp --layer proteome --log2 --by Cell_type --by Differentiation --factors Cell_type,Differentiation,Donor -o explore\n  evomics explore exp-norm --layer proteome --by source --panels my_panels.tsv -o explore\n\nOutputs: markers.tsv, one_vs_rest.tsv, variance_partition.tsv, variance_partition_summary.tsv,\npanel_members.tsv, panel_scores.tsv, panel_enrichment.tsv, result.json, manifest.json\n(docs/methods/explore.md). Every flag is also a key of the --config file."
)]
pub struct ExploreArgs {
    /// Experiment store directory (normally the output of `evomics normalize`).
    pub store: PathBuf,
    /// Output directory (replaced atomically).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Replace the output folder even when it is not evomics output (see docs/reliability.md).
    #[arg(long)]
    pub force: bool,
    /// Settings file (TOML, the keys of [explore] in a run config); flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Layer to explore (log-scale values; see --log2).
    #[arg(long)]
    pub layer: Option<String>,
    /// Grouping column for one-vs-rest signatures (repeatable, e.g. --by source --by conditioning)
    /// [default: the sheet's first grouping column].
    #[arg(long)]
    pub by: Vec<String>,
    /// Log2-transform a layer of linear intensities first (missing cells stay missing)
    /// [default: false].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", action = switch!())]
    pub log2: Option<bool>,
    /// What a layer of scale 'other' holds (log2); without it such a layer is refused
    /// [default: none].
    #[arg(long)]
    pub assume_scale: Option<String>,
    /// User panels: TSV with columns panel, feature, direction[, note].
    #[arg(long)]
    pub panels: Option<PathBuf>,
    /// Leave out the curated osteogenic panels (score only --panels).
    #[arg(long)]
    pub no_curated_panels: bool,
    /// Variance-partition factors, comma-separated [default: the --by columns and the sheet's
    /// grouping columns with 2+ levels and fewer levels than samples].
    #[arg(long, value_delimiter = ',')]
    pub factors: Vec<String>,
    /// Variance components by maximum likelihood (ml, variancePartition's default) or reml.
    #[arg(long)]
    pub vp_method: Option<String>,
    /// Fit the variance partition only for features observed in at least this share [default: 0.5].
    #[arg(long)]
    pub vp_min_observed: Option<f64>,
    /// Markers written per group [default: 25].
    #[arg(long)]
    pub top: Option<usize>,
    /// Which markers: up (higher in the group), down, both [default: up].
    #[arg(long)]
    pub direction: Option<String>,
    /// Columns to adjust the one-vs-rest fits for, comma-separated (`~ 0 + group + cov…`);
    /// factor(col) reads a numeric column as a factor [default: none].
    #[arg(long, value_delimiter = ',')]
    pub covariates: Vec<String>,
    /// Sample-sheet column of correlated samples (e.g. donor_id): duplicateCorrelation + block
    /// [default: none].
    #[arg(long)]
    pub block: Option<String>,
    /// Intensity-dependent prior variance (eBayes trend = TRUE) [default: false].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", action = switch!())]
    pub trend: Option<bool>,
    /// Robust empirical Bayes (eBayes robust = TRUE) [default: false].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", action = switch!())]
    pub robust: Option<bool>,
    /// adj.P.Val cut-off of the hypergeometric panel enrichment [default: 0.05].
    #[arg(long)]
    pub fdr: Option<f64>,
    /// Panels with fewer matched features are listed but not scored or tested [default: 3].
    #[arg(long)]
    pub min_panel_size: Option<usize>,
    /// Inter-feature correlation assumed by cameraPR [default: 0.01].
    #[arg(long)]
    pub inter_gene_cor: Option<f64>,
    /// Samples to leave out.
    #[command(flatten)]
    pub exclusion: ExcludeArgs,
}

impl ExploreArgs {
    /// The flags as config keys.
    pub fn flags(&self) -> anyhow::Result<Flags> {
        Flags::default()
            .text("layer", self.layer.as_ref())
            .list("by", &self.by)
            .opt("log2", self.log2)
            .text("assume_scale", self.assume_scale.as_ref())
            .text("panels", self.panels.as_ref().map(|p| p.display()).as_ref())
            .opt("curated_panels", self.no_curated_panels.then_some(false))
            .list("factors", &self.factors)
            .text("vp_method", self.vp_method.as_ref())
            .opt("vp_min_observed", self.vp_min_observed)
            .num("top", self.top)
            .text("direction", self.direction.as_ref())
            .list("covariates", &self.covariates)
            .text("block", self.block.as_ref())
            .opt("trend", self.trend)
            .opt("robust", self.robust)
            .opt("fdr", self.fdr)
            .num("min_panel_size", self.min_panel_size)
            .opt("inter_gene_cor", self.inter_gene_cor)
            .exclude(&self.exclusion)
    }
}

/// `evomics cluster`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  evomics cluster exp-norm --layer proteome --by source,batch -o clusters\n  evomics cluster exp-norm --layer proteome --k 2..8 --method kmeans,hclust --linkage average --distance pearson -o clusters\n  evomics cluster exp --layer proteome --log2 --complete-features --scale -o clusters\n\nOutputs: pca_scores.tsv, pca_loadings.tsv, pca_variance.tsv, clusters.tsv, k_selection.tsv,\nagreement.tsv, result.json, manifest.json (docs/methods/explore.md). Every flag is also a key of\nthe --config file."
)]
pub struct ClusterArgs {
    /// Experiment store directory (normally the output of `evomics normalize`).
    pub store: PathBuf,
    /// Output directory (replaced atomically).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Replace the output folder even when it is not evomics output (see docs/reliability.md).
    #[arg(long)]
    pub force: bool,
    /// Settings file (TOML, the keys of [cluster] in a run config); flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Layer to cluster (log-scale values; see --log2).
    #[arg(long)]
    pub layer: Option<String>,
    /// Sample-sheet columns to compare the clusters with, comma-separated [default: the
    /// sheet's grouping columns: text columns with 2 or more values, each on 2 or more samples].
    #[arg(long, value_delimiter = ',')]
    pub by: Vec<String>,
    /// Candidate numbers of clusters: a range 2..8, a list 2,3,5 or one k [default: 2..8].
    #[arg(long)]
    pub k: Option<String>,
    /// Clustering methods, comma-separated: kmeans, hclust, gmm [default: all three].
    #[arg(long, value_delimiter = ',')]
    pub method: Vec<String>,
    /// Seed of k-means++, the Gaussian mixture and the gap statistic's reference sets [default: 1].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Scale every feature to unit variance after centring (prcomp scale. = TRUE) [default: false].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", action = switch!())]
    pub scale: Option<bool>,
    /// Keep only features with a value in every sample (otherwise missing cells are an error)
    /// [default: false].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", action = switch!())]
    pub complete_features: Option<bool>,
    /// Log2-transform a layer of linear intensities first [default: false].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", action = switch!())]
    pub log2: Option<bool>,
    /// What a layer of scale 'other' holds (log2); without it such a layer is refused
    /// [default: none].
    #[arg(long)]
    pub assume_scale: Option<String>,
    /// Linkage of hierarchical clustering: ward.D2, average, complete [default: ward.D2].
    #[arg(long)]
    pub linkage: Option<String>,
    /// Dissimilarity of hierarchical clustering: euclidean, pearson, spearman (1 − correlation)
    /// [default: euclidean].
    #[arg(long)]
    pub distance: Option<String>,
    /// How k is chosen: silhouette (largest mean width) or gap (firstSEmax) [default: silhouette].
    #[arg(long)]
    pub choose_by: Option<String>,
    /// Reference data sets of the gap statistic (0 skips it) [default: 50; none above 500
    /// samples unless --choose-by gap].
    #[arg(long)]
    pub gap_references: Option<usize>,
    /// Principal components the Gaussian mixture is fitted on [default: 5].
    #[arg(long)]
    pub gmm_pcs: Option<usize>,
    /// What k-means and hierarchical clustering work on: features, pcs (the leading --pcs
    /// components) or auto (pcs above 500 samples, features below) [default: auto].
    #[arg(long)]
    pub space: Option<String>,
    /// Principal components k-means and hierarchical clustering work on when --space resolves
    /// to components [default: 50].
    #[arg(long)]
    pub pcs: Option<usize>,
    /// Components written to pca_scores.tsv and pca_loadings.tsv [default: 10].
    #[arg(long)]
    pub components: Option<usize>,
    /// Add a UMAP embedding of the samples with umap-learn's defaults (its parameters go in the
    /// config's `umap` table) [default: false].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", action = switch!())]
    pub umap: Option<bool>,
    /// Principal components UMAP is computed on [default: 50].
    #[arg(long)]
    pub umap_pcs: Option<usize>,
    /// Samples to leave out.
    #[command(flatten)]
    pub exclusion: ExcludeArgs,
}

impl ClusterArgs {
    /// The flags as config keys.
    pub fn flags(&self) -> anyhow::Result<Flags> {
        Flags::default()
            .text("layer", self.layer.as_ref())
            .list("by", &self.by)
            .text("k", self.k.as_ref())
            .list("methods", &self.method)
            .opt("seed", self.seed.map(|s| s as i64))
            .opt("scale", self.scale)
            .opt("complete_features", self.complete_features)
            .opt("log2", self.log2)
            .text("assume_scale", self.assume_scale.as_ref())
            .text("linkage", self.linkage.as_ref())
            .text("distance", self.distance.as_ref())
            .text("choose_by", self.choose_by.as_ref())
            .num("gap_references", self.gap_references)
            .num("gmm_pcs", self.gmm_pcs)
            .text("space", self.space.as_ref())
            .num("pcs", self.pcs)
            .num("components", self.components)
            .opt("umap", self.umap)
            .num("umap_pcs", self.umap_pcs)
            .exclude(&self.exclusion)
    }
}

/// `evomics train`.
#[derive(Debug, Args)]
#[command(after_help = TRAIN_HELP)]
pub struct TrainArgs {
    /// Experiment store with the raw (ingested) layers; preprocessing runs inside the folds.
    pub store: PathBuf,
    /// Training configuration (TOML, see docs/potency-models.md); flags override its keys.
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Output model directory (replaced atomically).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Replace the output folder even when it is not evomics output (see docs/reliability.md).
    #[arg(long)]
    pub force: bool,
    /// Sample-sheet column to predict (a class or numeric column) [default: none; required here
    /// or in --config].
    #[arg(long)]
    pub target: Option<String>,
    /// Layers to use, comma-separated (default: the config's, else every layer of the store).
    #[arg(long, value_delimiter = ',')]
    pub layers: Vec<String>,
    /// Model: elastic_net, random_forest, gradient_boosting, linear_svm, knn, pls; when the
    /// config's model is of another kind,
    /// this one gets default parameters.
    #[arg(long)]
    pub model: Option<ModelKind>,
    /// Cross-validation design: group_k_fold, k_fold, leave_one_group_out [default:
    /// group_k_fold].
    #[arg(long)]
    pub cv: Option<CvKind>,
    /// Number of folds (k-fold designs) [default: 5].
    #[arg(long)]
    pub folds: Option<usize>,
    /// Repeats of the k-fold designs with new shuffles [default: 1].
    #[arg(long)]
    pub repeats: Option<usize>,
    /// Sample-sheet column grouping samples that must stay together (group designs) [default:
    /// donor_id].
    #[arg(long)]
    pub group: Option<String>,
    /// Label permutations of the permutation test (0: no test) [default: 99].
    #[arg(long)]
    pub permutations: Option<usize>,
    /// Permute labels only among samples sharing a value of this column (e.g. the donor of a
    /// paired design); default: free permutations.
    #[arg(long)]
    pub permute_within: Option<String>,
    /// Sample-sheet column of the cell source for the "is it just predicting source?" check
    /// [default: none, no check].
    #[arg(long)]
    pub source_column: Option<String>,
    /// Within-source permutations of the source check [default: --permutations].
    #[arg(long)]
    pub source_permutations: Option<usize>,
    /// Seed of the folds, the models and the permutations [default: 20240601].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Also write every fold's fitted preprocessing and model (fold-models.json) for audits.
    #[arg(long)]
    pub save_fold_models: bool,
    /// Worker threads for the permutations (results do not depend on it; default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Samples to leave out.
    #[command(flatten)]
    pub exclusion: ExcludeArgs,
}

const TRAIN_HELP: &str = "\
Examples:
  evomics train exp --config workflows/train/potency-class.toml -o model
  evomics train exp --target potency_class --layers proteome --model random_forest \\
      --cv group_k_fold --folds 5 --group donor_id --permutations 199 -o model
  evomics predict model/model.json new-exp -o preds.tsv --alpha 0.1

Outputs (MODELDIR): metrics.json, folds.tsv, predictions.tsv, importance.tsv, calibration.tsv,
learning_curve.tsv, model.json, result.json, manifest.json (+ fold-models.json with
--save-fold-models). Train on the ingested store: every layer's pipeline ([preprocess.<layer>] in
the config) is fitted inside each training fold. The config schema is in docs/potency-models.md.";

impl TrainArgs {
    /// The flags that are keys of the train config.
    pub fn flags(&self) -> anyhow::Result<Flags> {
        Flags::default()
            .text("target", self.target.as_ref())
            .list("layers", &self.layers)
            .num("permutations", self.permutations)
            .text("permute_within", self.permute_within.as_ref())
            .text("source_column", self.source_column.as_ref())
            .num("source_permutations", self.source_permutations)
            .opt("seed", self.seed.map(|s| s as i64))
            .opt("save_fold_models", self.save_fold_models.then_some(true))
            .exclude(&self.exclusion)
    }

    /// The flags that name a model or design by kind (applied on top of the config).
    pub fn shortcuts(&self) -> evomics_ml::stages::train::TrainFlags {
        evomics_ml::stages::train::TrainFlags {
            model: self.model,
            cv: self.cv,
            folds: self.folds,
            repeats: self.repeats,
            group: self.group.clone(),
            exclude: Vec::new(),
        }
    }
}

/// `evomics predict`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  evomics predict model/model.json new-exp -o preds.tsv\n  evomics predict model new-exp -o preds.tsv --alpha 0.05\n\nOutput columns: sample_id, [truth,] predicted, then p_<class> per class and conformal_set\n(classes, ';'-separated) or lower and upper (numbers). Conformal sets cover the truth of a new\npreparation with probability ≈ 1 − alpha, calibrated on the training run's out-of-fold scores."
)]
pub struct PredictArgs {
    /// Model file written by `evomics train` (model.json, or the model directory holding it).
    pub model: PathBuf,
    /// Experiment store with the new samples (raw layers, as the training store).
    pub store: PathBuf,
    /// Output TSV (written atomically).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Error rate of the conformal sets / intervals (default: the α the model was trained with).
    #[arg(long)]
    pub alpha: Option<f64>,
    /// What to do with model features the new data lack: error or impute (default: the rule
    /// saved in the model).
    #[arg(long)]
    pub missing_features: Option<String>,
}
