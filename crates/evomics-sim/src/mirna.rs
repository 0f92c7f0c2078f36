//! The miRNA layer: negative-binomial (gamma–Poisson) read counts with varying library sizes.

use rand::seq::index;
use rand_distr::{Distribution, Gamma};

use evomics_core::rng::{derive_seed, seeded};
use evomics_core::{Assay, Features, LayerKind, ValueFlag, ValueScale};

use crate::catalog::{
    mirna_signature_split, synthetic_mirna_ids, ANTI_OSTEOGENIC_MIRNAS, CONDITIONING_CARGO,
    NAMED_MIRNAS, NAMED_MIRNA_BASE_LOG2, PRO_OSTEOGENIC_MIRNAS, SOURCE_ENRICHED_MIRNAS,
};
use crate::effects::{draw_effects, log_uniform, normal, poisson, sign, uniform};
use crate::error::Result;
use crate::proteome::to_array;
use crate::simulate::{Ctx, LayerOut, SignatureFeature};
use crate::summary::{ratio, LayerSummary};
use crate::truth::{FeatureCategory, FeatureTruth};

/// Name of the miRNA assay in the experiment.
pub const MIRNA_LAYER: &str = "mirna";

/// SD of the jitter added to the named miRNAs' base abundance.
const NAMED_BASE_JITTER_SD: f64 = 0.4;

/// The miRNA layer plus per-sample library sizes.
pub(crate) struct MirnaOut {
    pub layer: LayerOut,
    pub library_target: Vec<f64>,
    pub library_size: Vec<f64>,
    /// Preparations made haemolysed ([`crate::BiofluidContamination`]).
    pub haemolysed: Vec<bool>,
    /// Preparations made blood-cell-rich.
    pub blood_cell_rich: Vec<bool>,
}

/// The biofluid-check miRNAs at the end of the named miRNAs (miR-23a-3p, miR-223-3p,
/// miR-142-3p, miR-16-5p, miR-486-5p).
const N_BIOFLUID_NAMED: usize = 5;

/// Erythrocyte miRNAs raised by haemolysis: miR-451a by the full shift, the others by half.
const HAEMOLYSIS_FULL: &str = "hsa-miR-451a";
const HAEMOLYSIS_HALF: [&str; 2] = ["hsa-miR-16-5p", "hsa-miR-486-5p"];
/// Leukocyte miRNAs raised in blood-cell-rich preparations.
const BLOOD_CELL: [&str; 3] = ["hsa-miR-223-3p", "hsa-miR-142-3p", "hsa-miR-142-5p"];

/// Which preparations are haemolysed and which blood-cell-rich (disjoint), from their own
/// random stream so that the rest of the simulation does not depend on them.
fn biofluid_samples(seed: u64, n_s: usize, n_h: usize, n_b: usize) -> (Vec<bool>, Vec<bool>) {
    let (mut h, mut b) = (vec![false; n_s], vec![false; n_s]);
    if n_h + n_b == 0 {
        return (h, b);
    }
    let mut r = seeded(derive_seed(seed, "mirna/biofluid"));
    let picked = index::sample(&mut r, n_s, (n_h + n_b).min(n_s)).into_vec();
    for (k, j) in picked.into_iter().enumerate() {
        if k < n_h {
            h[j] = true;
        } else {
            b[j] = true;
        }
    }
    (h, b)
}

/// log2 rise of every feature row in each preparation from biofluid contamination
/// (row-major `n_f × n_s`; empty when there is none).
fn biofluid_shift(ctx: &Ctx, n_f: usize, h: &[bool], b: &[bool]) -> Vec<f64> {
    let bf = &ctx.p.biofluid;
    let n_s = h.len();
    if !h.iter().chain(b).any(|&x| x) {
        return Vec::new();
    }
    let mut shift = vec![0.0; n_f * n_s];
    let mut add = |name: &str, on: &[bool], v: f64| {
        let row = row_of(name);
        for (j, _) in on.iter().enumerate().filter(|(_, &x)| x) {
            shift[row * n_s + j] += v;
        }
    };
    add(HAEMOLYSIS_FULL, h, bf.haemolysis_log2);
    for m in HAEMOLYSIS_HALF {
        add(m, h, bf.haemolysis_log2 / 2.0);
    }
    for m in BLOOD_CELL {
        add(m, b, bf.blood_cell_log2);
    }
    shift
}

fn row_of(name: &str) -> usize {
    // Only called with names from the catalog, which are all in NAMED_MIRNAS (tested there).
    NAMED_MIRNAS.iter().position(|m| *m == name).unwrap_or(0)
}

/// One NB(μ, φ) draw as Poisson(μ · φ · G) with G ~ Gamma(1/φ, 1); `gamma` is Gamma(1/φ, 1).
fn nb_count(rng: &mut evomics_core::rng::Rng, mu: f64, phi: f64, gamma: &Gamma<f64>) -> f64 {
    let g = gamma.sample(rng);
    poisson(rng, mu * phi * g)
}

/// Simulate the miRNA layer (validated parameters: `n_mirnas ≥ 17` + synthetic signature).
pub(crate) fn simulate_mirna(ctx: &Ctx) -> Result<MirnaOut> {
    let p = ctx.p;
    let d = ctx.design;
    let m = &p.mirna;
    let e = &p.effects;
    let n_f = p.n_mirnas;
    let n_s = d.n_samples();
    let n_named = NAMED_MIRNAS.len();
    let mut ids: Vec<String> = NAMED_MIRNAS.iter().map(|s| s.to_string()).collect();
    ids.extend(synthetic_mirna_ids(n_f - n_named));
    let cats: Vec<FeatureCategory> = (0..n_f)
        .map(|i| {
            if i < n_named {
                FeatureCategory::NamedMirna
            } else {
                FeatureCategory::Synthetic
            }
        })
        .collect();

    let mut rf = seeded(derive_seed(p.seed, "mirna/features"));
    let base: Vec<f64> = (0..n_f)
        .map(|i| match NAMED_MIRNA_BASE_LOG2.get(i) {
            Some(&b) => normal(&mut rf, b, NAMED_BASE_JITTER_SD),
            None => normal(&mut rf, 0.0, m.base_log2_sd),
        })
        .collect();
    let dispersion: Vec<f64> = (0..n_f)
        .map(|_| m.dispersion_median * normal(&mut rf, 0.0, m.dispersion_log_sd).exp())
        .collect();
    // The biofluid-check miRNAs (miR-451a, miR-142-5p, and the last named rows: the haemolysis
    // reference miR-23a-3p and the other blood-cell miRNAs) get no random source or conditioning effects:
    // miR-23a-3p is chosen as a reference for being stable, and the others should vary by
    // contamination (and their literature effects) only.
    let fixed = [row_of(HAEMOLYSIS_FULL), row_of("hsa-miR-142-5p")];
    let eligible: Vec<bool> = (0..n_f)
        .map(|i| !fixed.contains(&i) && !(n_named - N_BIOFLUID_NAMED..n_named).contains(&i))
        .collect();
    let mut fx = draw_effects(&mut rf, &eligible, p);
    if e.literature_effects {
        for (source, mirnas) in SOURCE_ENRICHED_MIRNAS {
            if let Some(s) = p.sources.iter().position(|x| x.name == source) {
                for name in mirnas {
                    let v = uniform(&mut rf, e.known_cargo_enrichment_log2);
                    fx.add_source(row_of(name), s, v);
                }
            }
        }
        for (cond, name, v) in CONDITIONING_CARGO {
            if let Some(c) = p.conditionings.iter().position(|x| x.name == cond) {
                fx.add_conditioning(row_of(name), c, v);
            }
        }
    }

    // Signature: anti-osteogenic miRNAs (negative), pro-osteogenic (positive), synthetic (mixed).
    let mut rs = seeded(derive_seed(p.seed, "mirna/signature"));
    let (n_anti, n_pro, n_syn) = mirna_signature_split(p.signature_mirnas);
    let mut loading = vec![0.0; n_f];
    let mut sig_rows = Vec::with_capacity(p.signature_mirnas);
    for name in &ANTI_OSTEOGENIC_MIRNAS[..n_anti] {
        let row = row_of(name);
        loading[row] = -uniform(&mut rs, e.signature_loading_log2);
        sig_rows.push(row);
    }
    for k in index::sample(&mut rs, PRO_OSTEOGENIC_MIRNAS.len(), n_pro) {
        let row = row_of(PRO_OSTEOGENIC_MIRNAS[k]);
        loading[row] = uniform(&mut rs, e.signature_loading_log2);
        sig_rows.push(row);
    }
    for k in index::sample(&mut rs, n_f - n_named, n_syn) {
        let row = n_named + k;
        loading[row] = sign(&mut rs, 0.7) * uniform(&mut rs, e.signature_loading_log2);
        sig_rows.push(row);
    }
    sig_rows.sort_unstable();
    let mut sig_slot = vec![None; n_f];
    for (k, &row) in sig_rows.iter().enumerate() {
        sig_slot[row] = Some(k);
    }
    let mut signature: Vec<SignatureFeature> = sig_rows
        .iter()
        .map(|&row| SignatureFeature {
            row,
            loading: loading[row],
            bio: Vec::with_capacity(n_s),
        })
        .collect();

    let (haemolysed, blood_cell_rich) = biofluid_samples(
        p.seed,
        n_s,
        p.biofluid.haemolysed,
        p.biofluid.blood_cell_rich,
    );
    let contamination = biofluid_shift(ctx, n_f, &haemolysed, &blood_cell_rich);

    // Pass 1: log2 expression rates (biology + batch + contamination), kept in the value buffer.
    let mut rv = seeded(derive_seed(p.seed, "mirna/values"));
    let library_target: Vec<f64> = (0..n_s)
        .map(|_| log_uniform(&mut rv, m.library_size))
        .collect();
    let cells = n_f * n_s;
    let mut values = vec![0.0; cells];
    let mut donor_eff = vec![0.0; d.donors.len()];
    let mut col_max = vec![f64::NEG_INFINITY; n_s];
    for i in 0..n_f {
        for v in donor_eff.iter_mut() {
            *v = normal(&mut rv, 0.0, e.donor_sd_log2);
        }
        let src = fx.source_row(i);
        let cond = fx.conditioning_row(i);
        let bat = fx.batch_row(i);
        let slot = sig_slot[i];
        let row = &mut values[i * n_s..(i + 1) * n_s];
        for (j, r) in row.iter_mut().enumerate() {
            let bio = base[i]
                + src[d.source[j]]
                + donor_eff[d.donor[j]]
                + cond[d.conditioning[j]]
                + loading[i] * ctx.latent[j]
                + normal(&mut rv, 0.0, e.residual_sd_log2);
            if let Some(k) = slot {
                signature[k].bio.push(bio);
            }
            *r = bio + bat[d.batch[j]] + contamination.get(i * n_s + j).copied().unwrap_or(0.0);
            col_max[j] = col_max[j].max(*r);
        }
    }
    // Pass 2: composition per sample (relative to the largest rate, so exp2 cannot overflow).
    let mut col_sum = vec![0.0; n_s];
    for row in values.chunks_exact_mut(n_s.max(1)) {
        for ((r, &mx), s) in row.iter_mut().zip(&col_max).zip(col_sum.iter_mut()) {
            *r = (*r - mx).exp2();
            *s += *r;
        }
    }
    let scale: Vec<f64> = library_target
        .iter()
        .zip(&col_sum)
        .map(|(&l, &s)| if s > 0.0 { l / s } else { 0.0 })
        .collect();
    // Pass 3: negative-binomial counts.
    let mut library_size = vec![0.0; n_s];
    let mut zero_count = 0usize;
    for (i, row) in values.chunks_exact_mut(n_s.max(1)).enumerate() {
        let phi = dispersion[i];
        // Validated φ > 0, so the shape is positive and finite; fall back to Poisson otherwise.
        let gamma = Gamma::new(1.0 / phi, 1.0).ok();
        for ((r, &sc), lib) in row.iter_mut().zip(&scale).zip(library_size.iter_mut()) {
            let mu = *r * sc;
            let count = match &gamma {
                Some(g) => nb_count(&mut rv, mu, phi, g),
                None => poisson(&mut rv, mu),
            };
            *r = count;
            *lib += count;
            if count == 0.0 {
                zero_count += 1;
            }
        }
    }

    let features_truth: Vec<FeatureTruth> = (0..n_f)
        .map(|i| FeatureTruth {
            layer: MIRNA_LAYER.into(),
            feature_id: ids[i].clone(),
            category: cats[i],
            base_log2: base[i],
            is_signature: sig_slot[i].is_some(),
            loading_log2: loading[i],
            weight: 0.0,
            is_source_de: fx.is_source_de(i),
            source_effects_log2: fx.source_row(i).to_vec(),
            is_conditioning_de: fx.is_conditioning_de(i),
            conditioning_effects_log2: fx.conditioning_row(i).to_vec(),
            is_batch_affected: fx.is_batch_affected(i),
            batch_effects_log2: fx.batch_row(i).to_vec(),
            mar_rate: None,
            nb_dispersion: Some(dispersion[i]),
            missing_fraction: 0.0,
        })
        .collect();

    let mut features = Features::new(ids)?;
    features.set_annotation(
        "category",
        cats.iter().map(|c| Some(c.name().to_string())).collect(),
    )?;
    let shape = (n_f, n_s);
    let assay = Assay::new(
        MIRNA_LAYER,
        LayerKind::Mirna,
        ValueScale::Counts,
        features,
        d.sample_ids.clone(),
        to_array(shape, values)?,
        to_array(shape, vec![ValueFlag::Observed; cells])?,
    )?;
    let lib_min = library_size.iter().copied().fold(f64::INFINITY, f64::min);
    let lib_max = library_size
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let summary = LayerSummary {
        layer: MIRNA_LAYER.into(),
        n_features: n_f,
        n_samples: n_s,
        observed: cells,
        missing: 0,
        missing_fraction: 0.0,
        mnar_missing: 0,
        mar_missing: 0,
        mnar_fraction: 0.0,
        zero_count,
        zero_fraction: ratio(zero_count, cells),
        library_size_min: lib_min.is_finite().then_some(lib_min),
        library_size_max: lib_max.is_finite().then_some(lib_max),
    };
    Ok(MirnaOut {
        layer: LayerOut {
            assay,
            features: features_truth,
            signature,
            summary,
        },
        library_target,
        library_size,
        haemolysed,
        blood_cell_rich,
    })
}
