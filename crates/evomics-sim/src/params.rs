//! Simulation parameters: defaults, presets and validation.
//!
//! [`SimParams`] is plain data (serde, every field defaulted, unknown fields rejected) so a TOML or
//! JSON config can set any subset of it. [`SimParams::validate`] checks every value and returns
//! [`ValidSimParams`], the only thing the simulator runs on.

use serde::{Deserialize, Serialize};

use evomics_core::sheet::is_na_text;

use crate::catalog::{
    mirna_signature_split, protein_signature_split, NAMED_MIRNAS, N_NAMED_PROTEINS,
};
use crate::error::{Result, SimError};

/// The largest layer (features × samples cells) the simulator builds: 400 million cells are
/// about 3.6 GB of values and flags.
pub const MAX_LAYER_CELLS: usize = 400_000_000;

/// The largest log2 effect size or SD accepted (a 2^20-fold change is already absurd).
pub const MAX_LOG2_EFFECT: f64 = 20.0;

/// One stem-cell source of EVs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// Name as written in the `source` column (e.g. `BM-MSC`).
    pub name: String,
    /// Mean of the latent osteogenic potency of EVs from this source (standard-deviation units).
    #[serde(default)]
    pub potency_mean: f64,
}

/// One conditioning of the producer cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditioningSpec {
    /// Name as written in the `conditioning` column (e.g. `hypoxia`).
    pub name: String,
    /// Relative frequency among samples (≥ 0; the weights need not sum to 1).
    #[serde(default = "one")]
    pub weight: f64,
    /// Shift of the latent potency under this conditioning.
    #[serde(default)]
    pub potency_effect: f64,
}

/// One EV isolation method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IsolationSpec {
    /// Name as written in the `isolation_method` column (e.g. `SEC`).
    pub name: String,
    /// Relative frequency among batches (≥ 0).
    #[serde(default = "one")]
    pub weight: f64,
    /// log2 carry-over of contaminant markers in preparations isolated this way (≥ 0).
    #[serde(default)]
    pub contamination_log2: f64,
}

fn one() -> f64 {
    1.0
}

/// Biological and technical effect sizes, shared by both layers (all in log2 units).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EffectParams {
    /// Share of eligible features (all but the EV markers) that differ between sources.
    pub source_de_fraction: f64,
    /// Range of |log2 effect| of a source-DE feature in each deviating source.
    pub source_effect_log2: [f64; 2],
    /// Range of the log2 enrichment of literature source-typical cargo in its source.
    pub known_cargo_enrichment_log2: [f64; 2],
    /// Plant the review's source-typical cargo and conditioning effects (see `catalog`).
    pub literature_effects: bool,
    /// SD of the per-feature donor random effect.
    pub donor_sd_log2: f64,
    /// Share of eligible features that respond to conditioning.
    pub conditioning_de_fraction: f64,
    /// SD of a responding feature's effect in each non-reference conditioning.
    pub conditioning_sd_log2: f64,
    /// Share of features with a feature-specific batch effect.
    pub batch_affected_fraction: f64,
    /// SD of a feature-specific batch effect.
    pub batch_sd_log2: f64,
    /// Range of |loading| of a signature feature on the latent potency (log2 per potency unit).
    pub signature_loading_log2: [f64; 2],
    /// SD of the per-cell biological residual.
    pub residual_sd_log2: f64,
}

impl Default for EffectParams {
    fn default() -> Self {
        EffectParams {
            source_de_fraction: 0.10,
            source_effect_log2: [0.8, 2.5],
            known_cargo_enrichment_log2: [0.5, 1.5],
            literature_effects: true,
            donor_sd_log2: 0.3,
            conditioning_de_fraction: 0.03,
            conditioning_sd_log2: 0.8,
            batch_affected_fraction: 0.6,
            batch_sd_log2: 0.4,
            signature_loading_log2: [0.6, 1.2],
            residual_sd_log2: 0.35,
        }
    }
}

/// The latent potency and the readouts made from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PotencyParams {
    /// SD of the donor random effect on the latent potency.
    pub donor_sd: f64,
    /// SD of the per-preparation residual of the latent potency.
    pub residual_sd: f64,
    /// SD of the assay noise added to the standardised signature score (in score SD units).
    pub score_noise_sd: f64,
    /// `potency_score` of an average preparation.
    pub score_center: f64,
    /// `potency_score` points per SD of the signature score (> 0).
    pub score_scale: f64,
    /// ALP activity of an average preparation (e.g. nmol pNP/min/mg; > 0).
    pub alp_baseline: f64,
    /// log-fold change of ALP activity per SD of the true signature score (> 0 keeps it monotone).
    pub alp_slope: f64,
    /// SD of the multiplicative (log-scale) ALP assay noise.
    pub alp_noise_sd: f64,
}

impl Default for PotencyParams {
    fn default() -> Self {
        PotencyParams {
            donor_sd: 0.35,
            residual_sd: 0.5,
            score_noise_sd: 0.4,
            score_center: 50.0,
            score_scale: 12.0,
            alp_baseline: 40.0,
            alp_slope: 0.5,
            alp_noise_sd: 0.2,
        }
    }
}

/// The proteome layer: abundances, technical noise and missingness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProteomeParams {
    /// Mean of the log2 base abundance of synthetic proteins.
    pub base_log2_mean: f64,
    /// SD of the log2 base abundance of synthetic proteins.
    pub base_log2_sd: f64,
    /// Clip range of synthetic base abundances.
    pub base_log2_range: [f64; 2],
    /// Range (uniform) of EV-marker base abundances.
    pub marker_log2_range: [f64; 2],
    /// Range (uniform) of contaminant-marker base abundances in a clean preparation.
    pub contaminant_log2_range: [f64; 2],
    /// Range (uniform) of named cargo base abundances.
    pub cargo_log2_range: [f64; 2],
    /// SD of the per-sample loading offset (amount injected).
    pub sample_loading_sd_log2: f64,
    /// SD of the global per-batch shift (affects every protein of a batch).
    pub batch_shift_sd_log2: f64,
    /// SD of the per-cell measurement noise.
    pub measurement_sd_log2: f64,
    /// Mean log2 intensity at which a value is missing with probability 1/2 (MNAR midpoint).
    pub mnar_midpoint_log2: f64,
    /// SD of the per-sample MNAR midpoint (run-to-run sensitivity).
    pub mnar_midpoint_sd_log2: f64,
    /// Width of the logistic MNAR curve (> 0; smaller is a sharper detection limit).
    pub mnar_scale_log2: f64,
    /// Mean per-protein random (MAR) dropout rate; each protein's rate is uniform on [0, 2·mar_rate].
    pub mar_rate: f64,
    /// Keep the complete log2 matrix before dropout in the truth (large for big cohorts).
    pub keep_complete_log2: bool,
}

impl Default for ProteomeParams {
    fn default() -> Self {
        ProteomeParams {
            base_log2_mean: 24.5,
            base_log2_sd: 2.6,
            base_log2_range: [17.5, 31.0],
            marker_log2_range: [27.0, 30.0],
            contaminant_log2_range: [19.0, 22.0],
            cargo_log2_range: [22.5, 27.5],
            sample_loading_sd_log2: 0.5,
            batch_shift_sd_log2: 0.3,
            measurement_sd_log2: 0.25,
            mnar_midpoint_log2: 22.0,
            mnar_midpoint_sd_log2: 0.5,
            mnar_scale_log2: 0.5,
            mar_rate: 0.02,
            keep_complete_log2: false,
        }
    }
}

/// The miRNA layer: composition, sequencing depth and overdispersion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MirnaParams {
    /// SD of the relative log2 abundance of synthetic miRNAs (mean 0; named miRNAs sit above).
    pub base_log2_sd: f64,
    /// Range of library sizes (reads per sample, drawn log-uniformly; ≥ 1).
    pub library_size: [f64; 2],
    /// Median negative-binomial dispersion φ (variance = μ + φμ²; > 0).
    pub dispersion_median: f64,
    /// SD of log φ across miRNAs.
    pub dispersion_log_sd: f64,
}

impl Default for MirnaParams {
    fn default() -> Self {
        MirnaParams {
            base_log2_sd: 3.2,
            library_size: [1e5, 5e6],
            dispersion_median: 0.08,
            dispersion_log_sd: 0.5,
        }
    }
}

/// MISEV dose metadata: particle counts and protein mass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DoseParams {
    /// Median particle count of a preparation (> 0).
    pub particles_median: f64,
    /// SD of log particle count.
    pub particles_log_sd: f64,
    /// Range (log-uniform) of µg protein per particle in a clean preparation (> 0).
    pub protein_per_particle_ug: [f64; 2],
    /// How impurity raises protein per particle: ratio × 2^(slope · contamination_log2).
    pub impurity_protein_slope: f64,
}

impl Default for DoseParams {
    fn default() -> Self {
        DoseParams {
            particles_median: 2e10,
            particles_log_sd: 0.6,
            protein_per_particle_ug: [1e-10, 1e-9],
            impurity_protein_slope: 0.25,
        }
    }
}

/// Preparation purity: a few "dirty" samples with high contaminant markers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PurityParams {
    /// Share of samples that are dirty (rounded to a whole number of samples).
    pub dirty_sample_fraction: f64,
    /// log2 increase of contaminant markers in a dirty sample (≥ 0).
    pub dirty_shift_log2: f64,
}

impl Default for PurityParams {
    fn default() -> Self {
        PurityParams {
            dirty_sample_fraction: 0.05,
            dirty_shift_log2: 9.0,
        }
    }
}

/// Biofluid contamination of the miRNA layer (off by default): a number of haemolysed
/// preparations, in which miR-451a rises by `haemolysis_log2` and the other erythrocyte miRNAs
/// (miR-16-5p, miR-486-5p) by half of it (Pritchard et al. 2012: haemolysis raises these most,
/// miR-451a above all), and a number of blood-cell-rich preparations, in which the leukocyte
/// miRNAs miR-223-3p, miR-142-3p and miR-142-5p rise by `blood_cell_log2`. The two sets are
/// disjoint, drawn from their own random stream, so other outputs do not change with them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BiofluidContamination {
    /// Number of haemolysed preparations.
    pub haemolysed: usize,
    /// Number of blood-cell-rich preparations.
    pub blood_cell_rich: usize,
    /// log2 rise of miR-451a in a haemolysed preparation (≥ 0).
    pub haemolysis_log2: f64,
    /// log2 rise of miR-223-3p, miR-142-3p and miR-142-5p in a blood-cell-rich preparation (≥ 0).
    pub blood_cell_log2: f64,
}

impl Default for BiofluidContamination {
    fn default() -> Self {
        BiofluidContamination {
            haemolysed: 0,
            blood_cell_rich: 0,
            haemolysis_log2: 10.0,
            blood_cell_log2: 7.0,
        }
    }
}

/// Which preparations each assay measured (both by default). Labs often profile the proteome
/// and the small RNAs of different isolations or of different subsets of their preparations; a
/// share of the preparations then has one layer only. The two sets are disjoint, drawn from
/// their own random stream, so the values of the other preparations do not change with them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssayCoverage {
    /// Share of preparations with a proteome and no miRNA profile (rounded to whole samples).
    pub proteome_only: f64,
    /// Share of preparations with a miRNA profile and no proteome.
    pub mirna_only: f64,
}

impl Default for AssayCoverage {
    fn default() -> Self {
        AssayCoverage {
            proteome_only: 0.0,
            mirna_only: 0.0,
        }
    }
}

impl AssayCoverage {
    /// Numbers of proteome-only and miRNA-only preparations among `n`.
    pub fn counts(&self, n: usize) -> (usize, usize) {
        let k = |f: f64| ((f * n as f64).round() as usize).min(n);
        (k(self.proteome_only), k(self.mirna_only))
    }
}

/// Everything the simulator needs. `Default` is the S cohort (48 samples × 500 proteins, 250
/// miRNAs, 6 sources, 4 batches); see also [`SimParams::small`], [`SimParams::medium`] and
/// [`SimParams::large`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimParams {
    /// Seed of every random stream (each step derives its own with `derive_seed`).
    pub seed: u64,
    /// Number of EV preparations (samples).
    pub n_samples: usize,
    /// Number of proteins (named ones first, then synthetic `PROT…`).
    pub n_proteins: usize,
    /// Number of miRNAs (named ones first, then synthetic `hsa-miR-sim-…`).
    pub n_mirnas: usize,
    /// Stem-cell sources and their mean potency; samples are split evenly between them.
    pub sources: Vec<SourceSpec>,
    /// Inclusive range of the number of donors per source.
    pub donors_per_source: [usize; 2],
    /// Inclusive range of the number of EV preparations per donor.
    pub preps_per_donor: [usize; 2],
    /// Number of processing batches; batches cross sources.
    pub n_batches: usize,
    /// Conditionings; the first is the reference (no cargo effects).
    pub conditionings: Vec<ConditioningSpec>,
    /// Isolation methods; each batch uses one.
    pub isolation_methods: Vec<IsolationSpec>,
    /// Number of proteins in the potency signature.
    pub signature_proteins: usize,
    /// Number of miRNAs in the potency signature.
    pub signature_mirnas: usize,
    /// Effect sizes shared by both layers.
    pub effects: EffectParams,
    /// Latent potency and readouts.
    pub potency: PotencyParams,
    /// Proteome layer.
    pub proteome: ProteomeParams,
    /// miRNA layer.
    pub mirna: MirnaParams,
    /// Dose metadata.
    pub doses: DoseParams,
    /// Preparation purity.
    pub purity: PurityParams,
    /// Biofluid contamination of the miRNA layer: haemolysed and blood-cell-rich preparations.
    pub biofluid: BiofluidContamination,
    /// Which preparations each assay measured (by default every preparation has both).
    pub assays: AssayCoverage,
}

/// The default stem-cell sources with their mean latent potency (BM-MSC and DPSC highest).
pub fn default_sources() -> Vec<SourceSpec> {
    [
        ("BM-MSC", 1.0),
        ("ADSC", -0.1),
        ("UC-MSC", -0.4),
        ("iMSC", 0.3),
        ("DPSC", 0.6),
        ("SYN-MSC", 0.1),
    ]
    .into_iter()
    .map(|(name, potency_mean)| SourceSpec {
        name: name.into(),
        potency_mean,
    })
    .collect()
}

/// The default conditionings (control first) with their frequencies and potency effects.
pub fn default_conditionings() -> Vec<ConditioningSpec> {
    [
        ("control", 0.4, 0.0),
        ("osteogenic_induction", 0.2, 0.6),
        ("hypoxia", 0.15, 0.2),
        ("mechanical", 0.1, 0.3),
        ("mg2_preconditioning", 0.15, 0.4),
    ]
    .into_iter()
    .map(|(name, weight, potency_effect)| ConditioningSpec {
        name: name.into(),
        weight,
        potency_effect,
    })
    .collect()
}

/// The default isolation methods with their frequencies and contaminant carry-over.
pub fn default_isolation_methods() -> Vec<IsolationSpec> {
    [
        ("UC", 0.4, 1.0),
        ("SEC", 0.35, 0.0),
        ("TFF", 0.15, 0.5),
        ("precipitation", 0.1, 2.5),
    ]
    .into_iter()
    .map(|(name, weight, contamination_log2)| IsolationSpec {
        name: name.into(),
        weight,
        contamination_log2,
    })
    .collect()
}

impl Default for SimParams {
    fn default() -> Self {
        SimParams {
            seed: 20240601,
            n_samples: 48,
            n_proteins: 500,
            n_mirnas: 250,
            sources: default_sources(),
            donors_per_source: [3, 8],
            preps_per_donor: [1, 4],
            n_batches: 4,
            conditionings: default_conditionings(),
            isolation_methods: default_isolation_methods(),
            signature_proteins: 10,
            signature_mirnas: 8,
            effects: EffectParams::default(),
            potency: PotencyParams::default(),
            proteome: ProteomeParams::default(),
            mirna: MirnaParams::default(),
            doses: DoseParams::default(),
            purity: PurityParams::default(),
            biofluid: BiofluidContamination::default(),
            assays: AssayCoverage::default(),
        }
    }
}

impl SimParams {
    /// A small cohort for committed test data: 36 samples × 300 proteins, 150 miRNAs, 3 batches.
    pub fn small() -> SimParams {
        SimParams {
            n_samples: 36,
            n_proteins: 300,
            n_mirnas: 150,
            donors_per_source: [2, 4],
            preps_per_donor: [1, 3],
            n_batches: 3,
            ..SimParams::default()
        }
    }

    /// A medium cohort (the size of the M oracle): 300 samples × 5,000 proteins, 2,500 miRNAs.
    pub fn medium() -> SimParams {
        SimParams {
            n_samples: 300,
            n_proteins: 5_000,
            n_mirnas: 2_500,
            donors_per_source: [7, 12],
            preps_per_donor: [3, 8],
            n_batches: 8,
            ..SimParams::default()
        }
    }

    /// A large cohort for benchmarks: 2,000 samples × 10,000 proteins, 5,000 miRNAs, 20 batches.
    pub fn large() -> SimParams {
        SimParams {
            n_samples: 2_000,
            n_proteins: 10_000,
            n_mirnas: 5_000,
            donors_per_source: [30, 60],
            preps_per_donor: [4, 12],
            n_batches: 20,
            ..SimParams::default()
        }
    }

    /// A preset by name: `small`, `default` (S), `medium` or `large`.
    pub fn preset(name: &str) -> Result<SimParams> {
        match name.trim().to_ascii_lowercase().as_str() {
            "small" | "xs" => Ok(SimParams::small()),
            "default" | "s" => Ok(SimParams::default()),
            "medium" | "m" => Ok(SimParams::medium()),
            "large" | "l" => Ok(SimParams::large()),
            other => Err(SimError::param(
                "preset",
                format!("unknown preset '{other}'; choose one of: small, default, medium, large"),
            )),
        }
    }

    /// Check every parameter; the simulator only runs on the result.
    pub fn validate(&self) -> Result<ValidSimParams> {
        self.check_design()?;
        self.check_features()?;
        self.check_effects()?;
        self.check_assays()?;
        let per_source = source_sizes(self.n_samples, self.sources.len());
        Ok(ValidSimParams {
            params: self.clone(),
            per_source,
        })
    }

    fn check_assays(&self) -> Result<()> {
        let a = &self.assays;
        for (name, v) in [
            ("assays.proteome_only", a.proteome_only),
            ("assays.mirna_only", a.mirna_only),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(SimError::param(
                    name,
                    format!("is {v}; a share lies in [0, 1]"),
                ));
            }
        }
        let (p, m) = a.counts(self.n_samples);
        if p + m + 2 > self.n_samples {
            return Err(SimError::param(
                "assays",
                format!(
                    "{p} proteome-only and {m} miRNA-only preparations of {} leave fewer than 2 with both layers; lower the shares",
                    self.n_samples
                ),
            ));
        }
        Ok(())
    }

    fn check_design(&self) -> Result<()> {
        let n = self.n_samples;
        if n < 2 {
            return Err(SimError::param(
                "n_samples",
                format!("is {n}; a cohort needs at least 2 samples (potency classes split at the median)"),
            ));
        }
        check_names("sources", self.sources.iter().map(|s| s.name.as_str()))?;
        for (i, s) in self.sources.iter().enumerate() {
            finite(&format!("sources[{i}].potency_mean"), s.potency_mean)?;
        }
        check_names(
            "conditionings",
            self.conditionings.iter().map(|c| c.name.as_str()),
        )?;
        for (i, c) in self.conditionings.iter().enumerate() {
            non_negative(&format!("conditionings[{i}].weight"), c.weight)?;
            finite(
                &format!("conditionings[{i}].potency_effect"),
                c.potency_effect,
            )?;
        }
        if self.conditionings.iter().all(|c| c.weight == 0.0) {
            return Err(SimError::param(
                "conditionings",
                "every weight is 0; give at least one conditioning a positive weight",
            ));
        }
        check_names(
            "isolation_methods",
            self.isolation_methods.iter().map(|c| c.name.as_str()),
        )?;
        for (i, m) in self.isolation_methods.iter().enumerate() {
            non_negative(&format!("isolation_methods[{i}].weight"), m.weight)?;
            non_negative(
                &format!("isolation_methods[{i}].contamination_log2"),
                m.contamination_log2,
            )?;
        }
        if self.isolation_methods.iter().all(|c| c.weight == 0.0) {
            return Err(SimError::param(
                "isolation_methods",
                "every weight is 0; give at least one isolation method a positive weight",
            ));
        }

        let [dmin, dmax] = self.donors_per_source;
        let [pmin, pmax] = self.preps_per_donor;
        if dmin == 0 || dmin > dmax {
            return Err(SimError::param(
                "donors_per_source",
                format!("is [{dmin}, {dmax}]; write [min, max] with 1 ≤ min ≤ max"),
            ));
        }
        if pmin == 0 || pmin > pmax {
            return Err(SimError::param(
                "preps_per_donor",
                format!("is [{pmin}, {pmax}]; write [min, max] with 1 ≤ min ≤ max"),
            ));
        }
        let k = self.sources.len();
        let min_donors = k.saturating_mul(dmin);
        if n < min_donors {
            return Err(SimError::param(
                "n_samples",
                format!(
                    "is {n}, fewer than the donors it must hold ({k} sources × at least {dmin} donors = {min_donors}); \
                     every donor needs at least one EV preparation: raise n_samples or lower donors_per_source"
                ),
            ));
        }
        let (lo, hi) = (n / k, n.div_ceil(k));
        for n_s in [lo, hi] {
            if donor_bounds(n_s, self.donors_per_source, self.preps_per_donor).is_none() {
                return Err(SimError::param(
                    "n_samples",
                    format!(
                        "{n} samples over {k} sources gives {lo}–{hi} samples per source, but {dmin}–{dmax} donors \
                         with {pmin}–{pmax} preparations each hold {}–{} samples; change n_samples, \
                         donors_per_source or preps_per_donor",
                        dmin.saturating_mul(pmin),
                        dmax.saturating_mul(pmax)
                    ),
                ));
            }
        }
        if self.n_batches == 0 || self.n_batches > n {
            return Err(SimError::param(
                "n_batches",
                format!(
                    "is {}; it must be between 1 and n_samples ({n})",
                    self.n_batches
                ),
            ));
        }
        Ok(())
    }

    fn check_features(&self) -> Result<()> {
        let (_, syn_p) = protein_signature_split(self.signature_proteins);
        let min_p = N_NAMED_PROTEINS + syn_p;
        if self.n_proteins < min_p {
            return Err(SimError::param(
                "n_proteins",
                format!(
                    "is {}; it must be at least {min_p} ({N_NAMED_PROTEINS} named proteins plus {syn_p} synthetic \
                     signature proteins for signature_proteins = {})",
                    self.n_proteins, self.signature_proteins
                ),
            ));
        }
        let (_, _, syn_m) = mirna_signature_split(self.signature_mirnas);
        let min_m = NAMED_MIRNAS.len() + syn_m;
        if self.n_mirnas < min_m {
            return Err(SimError::param(
                "n_mirnas",
                format!(
                    "is {}; it must be at least {min_m} ({} named miRNAs plus {syn_m} synthetic signature miRNAs \
                     for signature_mirnas = {})",
                    self.n_mirnas,
                    NAMED_MIRNAS.len(),
                    self.signature_mirnas
                ),
            ));
        }
        if self.signature_proteins + self.signature_mirnas == 0 {
            return Err(SimError::param(
                "signature_proteins",
                "and signature_mirnas are both 0; the potency score needs at least one signature feature",
            ));
        }
        for (what, n_f) in [("n_proteins", self.n_proteins), ("n_mirnas", self.n_mirnas)] {
            if n_f
                .checked_mul(self.n_samples)
                .is_none_or(|c| c > MAX_LAYER_CELLS)
            {
                return Err(SimError::param(
                    what,
                    format!(
                        "{n_f} features × {} samples exceeds the simulator's limit of {MAX_LAYER_CELLS} cells per layer",
                        self.n_samples
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check_effects(&self) -> Result<()> {
        let e = &self.effects;
        fraction("effects.source_de_fraction", e.source_de_fraction)?;
        range("effects.source_effect_log2", e.source_effect_log2, 0.0)?;
        range(
            "effects.known_cargo_enrichment_log2",
            e.known_cargo_enrichment_log2,
            0.0,
        )?;
        non_negative("effects.donor_sd_log2", e.donor_sd_log2)?;
        fraction(
            "effects.conditioning_de_fraction",
            e.conditioning_de_fraction,
        )?;
        non_negative("effects.conditioning_sd_log2", e.conditioning_sd_log2)?;
        fraction("effects.batch_affected_fraction", e.batch_affected_fraction)?;
        non_negative("effects.batch_sd_log2", e.batch_sd_log2)?;
        range(
            "effects.signature_loading_log2",
            e.signature_loading_log2,
            0.0,
        )?;
        non_negative("effects.residual_sd_log2", e.residual_sd_log2)?;

        // Caps keep every generated number finite (2^60 intensities, exp(±700) readouts); values
        // anywhere near them are far outside anything a real cohort shows.
        for (name, v) in [
            ("effects.source_effect_log2", e.source_effect_log2[1]),
            (
                "effects.known_cargo_enrichment_log2",
                e.known_cargo_enrichment_log2[1],
            ),
            ("effects.donor_sd_log2", e.donor_sd_log2),
            ("effects.conditioning_sd_log2", e.conditioning_sd_log2),
            ("effects.batch_sd_log2", e.batch_sd_log2),
            (
                "effects.signature_loading_log2",
                e.signature_loading_log2[1],
            ),
            ("effects.residual_sd_log2", e.residual_sd_log2),
        ] {
            at_most(name, v, MAX_LOG2_EFFECT)?;
        }

        let p = &self.potency;
        non_negative("potency.donor_sd", p.donor_sd)?;
        non_negative("potency.residual_sd", p.residual_sd)?;
        non_negative("potency.score_noise_sd", p.score_noise_sd)?;
        finite("potency.score_center", p.score_center)?;
        positive("potency.score_scale", p.score_scale)?;
        positive("potency.alp_baseline", p.alp_baseline)?;
        positive("potency.alp_slope", p.alp_slope)?;
        non_negative("potency.alp_noise_sd", p.alp_noise_sd)?;
        at_most("potency.alp_slope", p.alp_slope, 10.0)?;
        at_most("potency.alp_noise_sd", p.alp_noise_sd, 10.0)?;
        at_most("potency.score_noise_sd", p.score_noise_sd, 100.0)?;
        for (name, v) in [
            ("potency.score_center", p.score_center.abs()),
            ("potency.score_scale", p.score_scale),
            ("potency.alp_baseline", p.alp_baseline),
        ] {
            at_most(name, v, 1e12)?;
        }
        for (i, s) in self.sources.iter().enumerate() {
            at_most(
                &format!("sources[{i}].potency_mean"),
                s.potency_mean.abs(),
                10.0,
            )?;
        }
        for (i, c) in self.conditionings.iter().enumerate() {
            at_most(
                &format!("conditionings[{i}].potency_effect"),
                c.potency_effect.abs(),
                10.0,
            )?;
        }
        for (i, m) in self.isolation_methods.iter().enumerate() {
            at_most(
                &format!("isolation_methods[{i}].contamination_log2"),
                m.contamination_log2,
                MAX_LOG2_EFFECT,
            )?;
        }
        at_most("potency.donor_sd", p.donor_sd, 10.0)?;
        at_most("potency.residual_sd", p.residual_sd, 10.0)?;

        let q = &self.proteome;
        non_negative("proteome.base_log2_mean", q.base_log2_mean)?;
        at_most("proteome.base_log2_mean", q.base_log2_mean, 60.0)?;
        non_negative("proteome.base_log2_sd", q.base_log2_sd)?;
        at_most("proteome.base_log2_sd", q.base_log2_sd, MAX_LOG2_EFFECT)?;
        for (name, r) in [
            ("proteome.base_log2_range", q.base_log2_range),
            ("proteome.marker_log2_range", q.marker_log2_range),
            ("proteome.contaminant_log2_range", q.contaminant_log2_range),
            ("proteome.cargo_log2_range", q.cargo_log2_range),
        ] {
            range(name, r, 0.0)?;
            if r[1] > 60.0 {
                return Err(SimError::param(
                    name,
                    format!(
                        "upper end {} is beyond log2 intensities any instrument reports (≤ 60)",
                        r[1]
                    ),
                ));
            }
        }
        for (name, v) in [
            ("proteome.sample_loading_sd_log2", q.sample_loading_sd_log2),
            ("proteome.batch_shift_sd_log2", q.batch_shift_sd_log2),
            ("proteome.measurement_sd_log2", q.measurement_sd_log2),
            ("proteome.mnar_midpoint_sd_log2", q.mnar_midpoint_sd_log2),
            ("purity.dirty_shift_log2", self.purity.dirty_shift_log2),
        ] {
            non_negative(name, v)?;
            at_most(name, v, MAX_LOG2_EFFECT)?;
        }
        finite("proteome.mnar_midpoint_log2", q.mnar_midpoint_log2)?;
        at_most(
            "proteome.mnar_midpoint_log2",
            q.mnar_midpoint_log2.abs(),
            100.0,
        )?;
        positive("proteome.mnar_scale_log2", q.mnar_scale_log2)?;
        at_most(
            "proteome.mnar_scale_log2",
            q.mnar_scale_log2,
            MAX_LOG2_EFFECT,
        )?;
        if !(0.0..=0.5).contains(&q.mar_rate) {
            return Err(SimError::param(
                "proteome.mar_rate",
                format!(
                    "is {}; it must be between 0 and 0.5 (per-protein rates are uniform on [0, 2·mar_rate])",
                    q.mar_rate
                ),
            ));
        }

        let m = &self.mirna;
        non_negative("mirna.base_log2_sd", m.base_log2_sd)?;
        at_most("mirna.base_log2_sd", m.base_log2_sd, MAX_LOG2_EFFECT)?;
        range("mirna.library_size", m.library_size, 1.0)?;
        if m.library_size[1] > 1e10 {
            return Err(SimError::param(
                "mirna.library_size",
                format!(
                    "upper end {} is more reads than any run yields (≤ 1e10)",
                    m.library_size[1]
                ),
            ));
        }
        positive("mirna.dispersion_median", m.dispersion_median)?;
        at_most("mirna.dispersion_median", m.dispersion_median, 100.0)?;
        non_negative("mirna.dispersion_log_sd", m.dispersion_log_sd)?;
        at_most("mirna.dispersion_log_sd", m.dispersion_log_sd, 5.0)?;

        let d = &self.doses;
        positive("doses.particles_median", d.particles_median)?;
        at_most("doses.particles_median", d.particles_median, 1e16)?;
        non_negative("doses.particles_log_sd", d.particles_log_sd)?;
        at_most("doses.particles_log_sd", d.particles_log_sd, 5.0)?;
        at_most(
            "doses.protein_per_particle_ug",
            d.protein_per_particle_ug[1],
            1e-3,
        )?;
        range(
            "doses.protein_per_particle_ug",
            d.protein_per_particle_ug,
            0.0,
        )?;
        if d.protein_per_particle_ug[0] <= 0.0 {
            return Err(SimError::param(
                "doses.protein_per_particle_ug",
                "lower end must be > 0 (e.g. [1e-10, 1e-9] µg per particle)",
            ));
        }
        non_negative("doses.impurity_protein_slope", d.impurity_protein_slope)?;
        at_most(
            "doses.impurity_protein_slope",
            d.impurity_protein_slope,
            5.0,
        )?;

        fraction(
            "purity.dirty_sample_fraction",
            self.purity.dirty_sample_fraction,
        )?;
        let b = &self.biofluid;
        for (name, v) in [
            ("biofluid.haemolysis_log2", b.haemolysis_log2),
            ("biofluid.blood_cell_log2", b.blood_cell_log2),
        ] {
            non_negative(name, v)?;
            at_most(name, v, MAX_LOG2_EFFECT)?;
        }
        if b.haemolysed.saturating_add(b.blood_cell_rich) > self.n_samples {
            return Err(SimError::param(
                "biofluid.haemolysed",
                format!(
                    "{} haemolysed plus {} blood-cell-rich preparations exceed the {} samples; the two sets are disjoint",
                    b.haemolysed, b.blood_cell_rich, self.n_samples
                ),
            ));
        }
        Ok(())
    }
}

/// Parameters that passed [`SimParams::validate`], with the derived per-source sample counts.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSimParams {
    params: SimParams,
    per_source: Vec<usize>,
}

impl ValidSimParams {
    /// The checked parameters.
    pub fn params(&self) -> &SimParams {
        &self.params
    }

    /// The two possible per-source sample counts (⌊n/k⌋, ⌈n/k⌉); which sources get the larger is random.
    pub fn samples_per_source_range(&self) -> (usize, usize) {
        let lo = self.per_source.iter().copied().min().unwrap_or(0);
        let hi = self.per_source.iter().copied().max().unwrap_or(0);
        (lo, hi)
    }
}

/// ⌊n/k⌋ for every source; the design stream hands out the remainder.
fn source_sizes(n: usize, k: usize) -> Vec<usize> {
    let base = n / k.max(1);
    let rem = n % k.max(1);
    (0..k).map(|i| base + usize::from(i < rem)).collect()
}

/// The feasible range of donor counts for a source with `n_s` samples: every donor gets between
/// `preps[0]` and `preps[1]` preparations when samples are spread evenly over them.
pub(crate) fn donor_bounds(
    n_s: usize,
    donors: [usize; 2],
    preps: [usize; 2],
) -> Option<(usize, usize)> {
    let lo = donors[0].max(n_s.div_ceil(preps[1].max(1)));
    let hi = donors[1].min(n_s / preps[0].max(1));
    (lo >= 1 && lo <= hi).then_some((lo, hi))
}

fn check_names<'a>(param: &str, names: impl Iterator<Item = &'a str>) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    let mut n = 0;
    for (i, name) in names.enumerate() {
        n += 1;
        if name.trim() != name || is_na_text(name) || name.contains(['\t', '\n', '\r']) {
            return Err(SimError::param(
                format!("{param}[{i}].name"),
                format!(
                    "'{name}' is not a usable name: it must be non-empty, not an NA spelling, without tabs, \
                     newlines or surrounding spaces"
                ),
            ));
        }
        if !seen.insert(name) {
            return Err(SimError::param(
                format!("{param}[{i}].name"),
                format!("'{name}' occurs more than once; names must be unique"),
            ));
        }
    }
    if n == 0 {
        return Err(SimError::param(param, "is empty; list at least one"));
    }
    Ok(())
}

fn finite(param: &str, v: f64) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(SimError::param(
            param,
            format!("is {v}; it must be a finite number"),
        ))
    }
}

fn non_negative(param: &str, v: f64) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(SimError::param(
            param,
            format!("is {v}; it must be a finite number ≥ 0"),
        ))
    }
}

fn positive(param: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(SimError::param(
            param,
            format!("is {v}; it must be a finite number > 0"),
        ))
    }
}

fn fraction(param: &str, v: f64) -> Result<()> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(SimError::param(
            param,
            format!("is {v}; it must be a fraction between 0 and 1"),
        ))
    }
}

fn at_most(param: &str, v: f64, max: f64) -> Result<()> {
    if v <= max {
        Ok(())
    } else {
        Err(SimError::param(
            param,
            format!("is {v}; values above {max} are outside anything a real cohort shows"),
        ))
    }
}

fn range(param: &str, r: [f64; 2], min: f64) -> Result<()> {
    let [a, b] = r;
    if !(a.is_finite() && b.is_finite()) || a < min || a > b {
        return Err(SimError::param(
            param,
            format!("is [{a}, {b}]; write [low, high] with finite {min} ≤ low ≤ high"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(p: SimParams) -> String {
        p.validate().unwrap_err().to_string()
    }

    #[test]
    fn presets_validate() {
        for name in ["small", "default", "medium", "large"] {
            SimParams::preset(name).unwrap().validate().unwrap();
        }
        assert!(SimParams::preset("huge")
            .unwrap_err()
            .to_string()
            .contains("small"));
    }

    #[test]
    fn donor_bounds_respect_preps() {
        assert_eq!(donor_bounds(8, [3, 8], [1, 4]), Some((3, 8)));
        assert_eq!(donor_bounds(6, [2, 4], [1, 3]), Some((2, 4)));
        assert_eq!(donor_bounds(334, [30, 60], [4, 12]), Some((30, 60)));
        assert_eq!(donor_bounds(2, [3, 8], [1, 4]), None);
        assert_eq!(donor_bounds(100, [3, 8], [1, 4]), None);
    }

    #[test]
    fn zero_samples() {
        let m = err(SimParams {
            n_samples: 0,
            ..SimParams::default()
        });
        assert!(m.contains("`n_samples`") && m.contains("at least 2"), "{m}");
    }

    #[test]
    fn biofluid_contamination_is_validated() {
        let with = |b: BiofluidContamination| SimParams {
            biofluid: b,
            ..SimParams::default()
        };
        let m = err(with(BiofluidContamination {
            haemolysis_log2: -1.0,
            ..Default::default()
        }));
        assert!(m.contains("biofluid.haemolysis_log2"), "{m}");
        let m = err(with(BiofluidContamination {
            blood_cell_log2: 25.0,
            ..Default::default()
        }));
        assert!(m.contains("biofluid.blood_cell_log2"), "{m}");
        let m = err(with(BiofluidContamination {
            haemolysed: 40,
            blood_cell_rich: 9,
            ..Default::default()
        }));
        assert!(m.contains("exceed the 48 samples"), "{m}");
        assert!(with(BiofluidContamination {
            haemolysed: 40,
            blood_cell_rich: 8,
            ..Default::default()
        })
        .validate()
        .is_ok());
    }

    #[test]
    fn more_donors_than_samples() {
        let m = err(SimParams {
            n_samples: 12,
            ..SimParams::default()
        });
        assert!(m.contains("fewer than the donors"), "{m}");
        assert!(m.contains("6 sources × at least 3 donors = 18"), "{m}");
    }

    #[test]
    fn too_many_samples_for_donors() {
        let m = err(SimParams {
            n_samples: 600,
            ..SimParams::default()
        });
        assert!(
            m.contains("100–100 samples per source") && m.contains("3–32"),
            "{m}"
        );
    }

    #[test]
    fn negative_and_nan_values() {
        let mut p = SimParams::default();
        p.effects.donor_sd_log2 = -0.1;
        assert!(err(p).contains("effects.donor_sd_log2"));
        let mut p = SimParams::default();
        p.mirna.library_size = [-5.0, 1e6];
        assert!(err(p).contains("mirna.library_size"));
        let mut p = SimParams::default();
        p.proteome.mnar_scale_log2 = f64::NAN;
        assert!(err(p).contains("> 0"));
        let mut p = SimParams::default();
        p.effects.source_effect_log2 = [2.0, 1.0];
        assert!(err(p).contains("low ≤ high"));
        let mut p = SimParams::default();
        p.sources[1].potency_mean = f64::INFINITY;
        assert!(err(p).contains("sources[1].potency_mean"));
    }

    #[test]
    fn absurd_values_are_capped() {
        let mut p = SimParams::default();
        p.effects.source_effect_log2 = [1.0, 1e6];
        assert!(err(p).contains("outside anything"));
        let mut p = SimParams::default();
        p.proteome.base_log2_mean = 1e300;
        assert!(err(p).contains("proteome.base_log2_mean"));
        let mut p = SimParams::default();
        p.potency.alp_slope = 1e6;
        assert!(err(p).contains("potency.alp_slope"));
        let mut p = SimParams::default();
        p.isolation_methods[0].contamination_log2 = 1e9;
        assert!(err(p).contains("isolation_methods[0]"));
    }

    #[test]
    fn extreme_but_valid_values_fail_cleanly() {
        // Every cap at its limit at once: either a cohort or a clear error, never a panic.
        let mut p = SimParams::small();
        p.sources[0].potency_mean = 10.0;
        p.effects.signature_loading_log2 = [20.0, 20.0];
        p.effects.source_effect_log2 = [20.0, 20.0];
        p.potency.residual_sd = 10.0;
        match crate::simulate(&p) {
            Ok(c) => assert_eq!(c.summary.n_samples, 36),
            Err(e) => assert!(e.to_string().contains("simulation parameter"), "{e}"),
        }
    }

    #[test]
    fn bad_names() {
        let mut p = SimParams::default();
        p.sources[2].name = "ADSC".into();
        assert!(err(p).contains("more than once"));
        let mut p = SimParams::default();
        p.conditionings[0].name = "NA".into();
        assert!(err(p).contains("conditionings[0].name"));
        let mut p = SimParams::default();
        p.isolation_methods.clear();
        assert!(err(p).contains("is empty"));
        let mut p = SimParams::default();
        for c in &mut p.conditionings {
            c.weight = 0.0;
        }
        assert!(err(p).contains("positive weight"));
    }

    #[test]
    fn sizes() {
        let m = err(SimParams {
            n_proteins: 20,
            ..SimParams::default()
        });
        assert!(m.contains("at least 36"), "{m}");
        let m = err(SimParams {
            n_mirnas: 3,
            ..SimParams::default()
        });
        assert!(m.contains("n_mirnas"), "{m}");
        let m = err(SimParams {
            n_batches: 0,
            ..SimParams::default()
        });
        assert!(m.contains("n_batches"), "{m}");
        let m = err(SimParams {
            signature_mirnas: 0,
            signature_proteins: 0,
            ..SimParams::default()
        });
        assert!(m.contains("at least one signature"), "{m}");
        let m = err(SimParams {
            n_proteins: 1_000_000_000,
            ..SimParams::default()
        });
        assert!(m.contains("limit"), "{m}");
        let m = err(SimParams {
            donors_per_source: [0, 3],
            ..SimParams::default()
        });
        assert!(m.contains("1 ≤ min ≤ max"), "{m}");
    }

    #[test]
    fn config_round_trip_and_unknown_fields() {
        let p = SimParams::small();
        let s = serde_json::to_string(&p).unwrap();
        let back: SimParams = serde_json::from_str(&s).unwrap();
        assert_eq!(back, p);
        let partial: SimParams =
            serde_json::from_str(r#"{"seed": 7, "proteome": {"mar_rate": 0.01}}"#).unwrap();
        assert_eq!(partial.seed, 7);
        assert_eq!(partial.proteome.mar_rate, 0.01);
        assert_eq!(partial.n_samples, SimParams::default().n_samples);
        let e = serde_json::from_str::<SimParams>(r#"{"n_sampels": 7}"#).unwrap_err();
        assert!(e.to_string().contains("n_sampels"), "{e}");
        let e = serde_json::from_str::<SimParams>(r#"{"n_samples": -3}"#).unwrap_err();
        assert!(e.to_string().contains("-3"), "{e}");
        let src: SimParams = serde_json::from_str(
            r#"{"sources": [{"name": "BM-MSC"}, {"name": "X", "potency_mean": 0.5}]}"#,
        )
        .unwrap();
        assert_eq!(src.sources[0].potency_mean, 0.0);
    }
}
