//! Putting a cohort together: design → latent potency → layers → potency readouts → sheet.

use std::collections::BTreeSet;

use evomics_core::rng::{derive_seed, seeded};
use evomics_core::{Assay, Column, ColumnValues, Experiment, SampleSheet};

use crate::design::{draw_design, Design};
use crate::effects::{log_uniform, normal, uniform, zscore};
use crate::error::Result;
use crate::mirna::simulate_mirna;
use crate::params::{SimParams, ValidSimParams};
use crate::proteome::simulate_proteome;
use crate::summary::{LayerSummary, SimSummary, SourceSummary};
use crate::truth::{BatchTruth, DonorTruth, FeatureTruth, MissingCause, SampleTruth, Truth};
use rand::seq::SliceRandom;

/// A simulated cohort: the data, the truth behind it, and realised summary numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct SimCohort {
    /// Sample sheet plus the `proteome` and `mirna` layers.
    pub experiment: Experiment,
    /// Everything the simulator decided.
    pub truth: Truth,
    /// Realised numbers (counts equal the assays' flag counts).
    pub summary: SimSummary,
}

/// Shared inputs of the layer generators.
pub(crate) struct Ctx<'a> {
    pub p: &'a SimParams,
    pub design: &'a Design,
    /// Latent potency per sample.
    pub latent: &'a [f64],
}

/// One signature feature's biological (pre-technical) log2 abundance per sample.
pub(crate) struct SignatureFeature {
    pub row: usize,
    pub loading: f64,
    pub bio: Vec<f64>,
}

/// A generated layer with its truth.
pub(crate) struct LayerOut {
    pub assay: Assay,
    pub features: Vec<FeatureTruth>,
    pub signature: Vec<SignatureFeature>,
    pub summary: LayerSummary,
}

/// Validate `params` and simulate a cohort. The same parameters (including the seed) always give
/// the same cohort, bit for bit.
pub fn simulate(params: &SimParams) -> Result<SimCohort> {
    params.validate()?.simulate()
}

impl ValidSimParams {
    /// Simulate a cohort from checked parameters.
    pub fn simulate(&self) -> Result<SimCohort> {
        run(self.params())
    }
}

/// Latent potency: source mean + donor effect + conditioning effect + residual.
fn latent_potency(
    p: &SimParams,
    d: &Design,
    rng: &mut evomics_core::rng::Rng,
) -> (Vec<f64>, Vec<f64>) {
    let donor_eff: Vec<f64> = (0..d.donors.len())
        .map(|_| normal(rng, 0.0, p.potency.donor_sd))
        .collect();
    let u = (0..d.n_samples())
        .map(|j| {
            p.sources[d.source[j]].potency_mean
                + donor_eff[d.donor[j]]
                + p.conditionings[d.conditioning[j]].potency_effect
                + normal(rng, 0.0, p.potency.residual_sd)
        })
        .collect();
    (u, donor_eff)
}

/// Readouts made from the signature: weights, noise-free and observed scores, class, ALP.
struct Potency {
    signature_score: Vec<f64>,
    potency_score: Vec<f64>,
    potency_class: Vec<String>,
    alp: Vec<f64>,
}

fn potency_readouts(
    p: &SimParams,
    n_s: usize,
    layers: [&mut LayerOut; 2],
    rng: &mut evomics_core::rng::Rng,
) -> Potency {
    let mut lin = vec![0.0; n_s];
    for layer in layers {
        for sf in &layer.signature {
            let w = sf.loading.signum() * uniform(rng, [0.5, 1.5]);
            layer.features[sf.row].weight = w;
            for (l, z) in lin.iter_mut().zip(zscore(&sf.bio)) {
                *l += w * z;
            }
        }
    }
    let lin = zscore(&lin);
    let pp = &p.potency;
    let signature_score: Vec<f64> = lin
        .iter()
        .map(|&l| pp.score_center + pp.score_scale * l)
        .collect();
    let potency_score: Vec<f64> = lin
        .iter()
        .map(|&l| pp.score_center + pp.score_scale * (l + normal(rng, 0.0, pp.score_noise_sd)))
        .collect();
    let alp: Vec<f64> = lin
        .iter()
        .map(|&l| pp.alp_baseline * (pp.alp_slope * l + normal(rng, 0.0, pp.alp_noise_sd)).exp())
        .collect();
    let median = evomics_core::num::median(&potency_score);
    let potency_class = potency_score
        .iter()
        .map(|&s| if s > median { "high" } else { "low" }.to_string())
        .collect();
    Potency {
        signature_score,
        potency_score,
        potency_class,
        alp,
    }
}

/// MISEV dose metadata: particle counts and protein mass (impurity raises protein per particle).
fn doses(p: &SimParams, d: &Design) -> (Vec<f64>, Vec<f64>) {
    let mut rng = seeded(derive_seed(p.seed, "doses"));
    let dp = &p.doses;
    let mut particles = Vec::with_capacity(d.n_samples());
    let mut protein = Vec::with_capacity(d.n_samples());
    for &c in &d.contamination_log2 {
        let n = (normal(&mut rng, dp.particles_median.ln(), dp.particles_log_sd).exp())
            .round()
            .max(1.0);
        let ratio = log_uniform(&mut rng, dp.protein_per_particle_ug)
            * (dp.impurity_protein_slope * c).exp2();
        particles.push(n);
        protein.push(n * ratio);
    }
    (particles, protein)
}

fn text_column(name: &str, values: Vec<String>) -> Column {
    Column {
        name: name.into(),
        values: ColumnValues::Text(values.into_iter().map(Some).collect()),
    }
}

fn numeric_column(name: &str, values: &[f64]) -> Column {
    Column {
        name: name.into(),
        values: ColumnValues::Numeric(values.iter().copied().map(Some).collect()),
    }
}

/// Which preparations the proteome and the miRNA assay measured ([`crate::AssayCoverage`]):
/// a seeded shuffle of the preparations, the first ones proteome-only, the next miRNA-only.
fn assay_membership(p: &SimParams, n: usize) -> (Vec<bool>, Vec<bool>) {
    let (n_p, n_m) = p.assays.counts(n);
    let (mut in_p, mut in_m) = (vec![true; n], vec![true; n]);
    if n_p + n_m == 0 {
        return (in_p, in_m);
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut seeded(derive_seed(p.seed, "assays")));
    for &j in &order[..n_p] {
        in_m[j] = false;
    }
    for &j in &order[n_p..n_p + n_m] {
        in_p[j] = false;
    }
    (in_p, in_m)
}

/// Keep the measured preparations of a simulated layer and recount its summary over them.
fn restrict_layer(
    layer: &mut LayerOut,
    keep: &[bool],
    cause: Option<&ndarray::Array2<MissingCause>>,
    library_size: Option<&[f64]>,
) -> Result<()> {
    if keep.iter().all(|&k| k) {
        return Ok(());
    }
    let cols: Vec<usize> = (0..keep.len()).filter(|&j| keep[j]).collect();
    layer.assay = layer.assay.select_samples(&cols);
    let a = &layer.assay;
    let c = a.flag_counts();
    let cells = a.n_features() * a.n_samples();
    let ratio = |k: usize| {
        if cells == 0 {
            0.0
        } else {
            k as f64 / cells as f64
        }
    };
    let zero_count = a
        .values()
        .iter()
        .zip(a.flags().iter())
        .filter(|(v, f)| f.has_value() && **v == 0.0)
        .count();
    let count = |which: MissingCause| {
        cause.map_or(0, |m| {
            cols.iter()
                .map(|&j| m.column(j).iter().filter(|&&x| x == which).count())
                .sum()
        })
    };
    let (mnar, mar) = (count(MissingCause::Mnar), count(MissingCause::Mar));
    let s = &mut layer.summary;
    s.n_samples = a.n_samples();
    s.observed = c.observed;
    s.missing = c.missing;
    s.missing_fraction = ratio(c.missing);
    s.mnar_missing = mnar;
    s.mar_missing = mar;
    s.mnar_fraction = ratio(mnar);
    s.zero_count = zero_count;
    s.zero_fraction = ratio(zero_count);
    if let Some(lib) = library_size {
        let kept = cols.iter().map(|&j| lib[j]);
        let min = kept.clone().fold(f64::INFINITY, f64::min);
        let max = kept.fold(f64::NEG_INFINITY, f64::max);
        s.library_size_min = min.is_finite().then_some(min);
        s.library_size_max = max.is_finite().then_some(max);
    }
    Ok(())
}

fn run(p: &SimParams) -> Result<SimCohort> {
    let design = draw_design(p, &mut seeded(derive_seed(p.seed, "design")))?;
    let n_s = design.n_samples();
    let mut potency_rng = seeded(derive_seed(p.seed, "potency"));
    let (latent, donor_eff) = latent_potency(p, &design, &mut potency_rng);
    let ctx = Ctx {
        p,
        design: &design,
        latent: &latent,
    };
    let mut prot = simulate_proteome(&ctx)?;
    let mut mir = simulate_mirna(&ctx)?;
    let pot = potency_readouts(p, n_s, [&mut prot.layer, &mut mir.layer], &mut potency_rng);
    let (particles, protein_ug) = doses(p, &design);

    let names = |idx: &[usize], all: &dyn Fn(usize) -> String| -> Vec<String> {
        idx.iter().map(|&i| all(i)).collect()
    };
    let source_names = names(&design.source, &|s| p.sources[s].name.clone());
    let donor_ids = names(&design.donor, &|g| design.donors[g].id.clone());
    let batch_names = names(&design.batch, &|b| design.batch_ids[b].clone());
    let cond_names = names(&design.conditioning, &|c| p.conditionings[c].name.clone());
    let iso_names = names(&design.isolation, &|m| p.isolation_methods[m].name.clone());

    let mut sheet = SampleSheet::new(design.sample_ids.clone())?;
    for col in [
        text_column("source", source_names.clone()),
        text_column("donor_id", donor_ids.clone()),
        text_column("batch", batch_names.clone()),
        text_column("conditioning", cond_names.clone()),
        text_column("isolation_method", iso_names.clone()),
        numeric_column("particle_count", &particles),
        numeric_column("protein_ug", &protein_ug),
        numeric_column("potency_score", &pot.potency_score),
        text_column("potency_class", pot.potency_class.clone()),
        numeric_column("alp_activity", &pot.alp),
    ] {
        sheet.push_column(col)?;
    }
    let (in_proteome, in_mirna) = assay_membership(p, n_s);
    restrict_layer(
        &mut prot.layer,
        &in_proteome,
        Some(&prot.missing_cause),
        None,
    )?;
    restrict_layer(&mut mir.layer, &in_mirna, None, Some(&mir.library_size))?;
    let mut experiment = Experiment::new(sheet);
    experiment.insert_layer(prot.layer.assay)?;
    experiment.insert_layer(mir.layer.assay)?;

    let samples: Vec<SampleTruth> = (0..n_s)
        .map(|j| SampleTruth {
            sample_id: design.sample_ids[j].clone(),
            source: source_names[j].clone(),
            donor_id: donor_ids[j].clone(),
            batch: batch_names[j].clone(),
            conditioning: cond_names[j].clone(),
            isolation_method: iso_names[j].clone(),
            is_dirty: design.dirty[j],
            contamination_log2: design.contamination_log2[j],
            latent_potency: latent[j],
            signature_score: pot.signature_score[j],
            potency_score: pot.potency_score[j],
            potency_class: pot.potency_class[j].clone(),
            alp_activity: pot.alp[j],
            loading_offset_log2: prot.loading_offset[j],
            mnar_midpoint_log2: prot.mnar_midpoint[j],
            library_size_target: mir.library_target[j],
            library_size: mir.library_size[j],
            haemolysed: mir.haemolysed[j],
            blood_cell_rich: mir.blood_cell_rich[j],
            in_proteome: in_proteome[j],
            in_mirna: in_mirna[j],
        })
        .collect();
    let donors: Vec<DonorTruth> = design
        .donors
        .iter()
        .enumerate()
        .map(|(g, dn)| DonorTruth {
            donor_id: dn.id.clone(),
            source: p.sources[dn.source].name.clone(),
            n_samples: design.donor.iter().filter(|&&x| x == g).count(),
            potency_effect: donor_eff[g],
        })
        .collect();
    let batches: Vec<BatchTruth> = design
        .batch_ids
        .iter()
        .enumerate()
        .map(|(b, id)| {
            let members: Vec<usize> = (0..n_s).filter(|&j| design.batch[j] == b).collect();
            let srcs: BTreeSet<usize> = members.iter().map(|&j| design.source[j]).collect();
            BatchTruth {
                batch: id.clone(),
                isolation_method: p.isolation_methods[design.batch_isolation[b]].name.clone(),
                n_samples: members.len(),
                sources: srcs
                    .into_iter()
                    .map(|s| p.sources[s].name.clone())
                    .collect(),
                proteome_shift_log2: prot.batch_shift[b],
            }
        })
        .collect();
    let sources: Vec<SourceSummary> = p
        .sources
        .iter()
        .enumerate()
        .map(|(s, spec)| SourceSummary {
            source: spec.name.clone(),
            n_samples: design.source.iter().filter(|&&x| x == s).count(),
            n_donors: design.donors.iter().filter(|d| d.source == s).count(),
        })
        .collect();
    let summary = SimSummary {
        seed: p.seed,
        n_samples: n_s,
        n_donors: design.donors.len(),
        n_batches: p.n_batches,
        n_dirty: design.dirty.iter().filter(|&&x| x).count(),
        n_high: pot.potency_class.iter().filter(|c| *c == "high").count(),
        sources,
        layers: vec![prot.layer.summary, mir.layer.summary],
    };
    let mut features = prot.layer.features;
    features.append(&mut mir.layer.features);
    let truth = Truth {
        sources: p.sources.iter().map(|s| s.name.clone()).collect(),
        conditionings: p.conditionings.iter().map(|c| c.name.clone()).collect(),
        batches,
        donors,
        samples,
        features,
        proteome_missing_cause: prot.missing_cause,
        proteome_complete_log2: prot.complete_log2,
    };
    Ok(SimCohort {
        experiment,
        truth,
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_cohort_is_consistent() {
        let c = simulate(&SimParams::small()).unwrap();
        let prot = c.experiment.layer("proteome").unwrap();
        assert_eq!(prot.n_features(), 300);
        assert_eq!(prot.n_samples(), 36);
        assert_eq!(c.summary.n_high, 18);
        assert_eq!(c.truth.signature().len(), 18);
        assert!(c.truth.signature().iter().all(|f| f.weight != 0.0));
        assert!(c
            .truth
            .features
            .iter()
            .filter(|f| !f.is_signature)
            .all(|f| f.weight == 0.0 && f.loading_log2 == 0.0));
        let (lo, hi) = (
            c.summary.layer("mirna").unwrap().library_size_min.unwrap(),
            c.summary.layer("mirna").unwrap().library_size_max.unwrap(),
        );
        assert!(lo >= 5e4 && hi <= 1e7, "{lo} {hi}");
    }
}
