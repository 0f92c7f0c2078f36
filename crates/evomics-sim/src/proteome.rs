//! The proteome layer: LFQ-like intensities with intensity-dependent (MNAR) and random (MAR)
//! missingness.

use ndarray::Array2;
use rand::seq::index;
use rand::Rng as _;

use evomics_core::rng::{derive_seed, seeded};
use evomics_core::{Assay, Features, LayerKind, ValueFlag, ValueScale};

use crate::catalog::{
    protein_signature_split, synthetic_protein_ids, BM_MSC_CARGO, CONTAMINANT_MARKERS, EV_MARKERS,
    N_NAMED_PROTEINS,
};
use crate::effects::{draw_effects, normal, sign, uniform};
use crate::error::{Result, SimError};
use crate::simulate::{Ctx, LayerOut, SignatureFeature};
use crate::summary::{ratio, LayerSummary};
use crate::truth::{FeatureCategory, FeatureTruth, MissingCause};

/// Name of the proteome assay in the experiment.
pub const PROTEOME_LAYER: &str = "proteome";

/// The proteome layer plus its per-cell and per-sample truth.
pub(crate) struct ProteomeOut {
    pub layer: LayerOut,
    pub missing_cause: Array2<MissingCause>,
    pub complete_log2: Option<Array2<f64>>,
    pub loading_offset: Vec<f64>,
    pub mnar_midpoint: Vec<f64>,
    pub batch_shift: Vec<f64>,
}

fn ids_and_categories(n_f: usize) -> (Vec<String>, Vec<FeatureCategory>) {
    let mut ids = Vec::with_capacity(n_f);
    let mut cats = Vec::with_capacity(n_f);
    for (list, cat) in [
        (&EV_MARKERS[..], FeatureCategory::EvMarker),
        (&CONTAMINANT_MARKERS[..], FeatureCategory::ContaminantMarker),
        (&BM_MSC_CARGO[..], FeatureCategory::Cargo),
    ] {
        ids.extend(list.iter().map(|s| s.to_string()));
        cats.extend(std::iter::repeat_n(cat, list.len()));
    }
    ids.extend(synthetic_protein_ids(n_f - N_NAMED_PROTEINS));
    cats.resize(n_f, FeatureCategory::Synthetic);
    (ids, cats)
}

/// Simulate the proteome (validated parameters: `n_proteins ≥ N_NAMED_PROTEINS` + synthetic signature).
pub(crate) fn simulate_proteome(ctx: &Ctx) -> Result<ProteomeOut> {
    let p = ctx.p;
    let d = ctx.design;
    let q = &p.proteome;
    let e = &p.effects;
    let n_f = p.n_proteins;
    let n_s = d.n_samples();
    let (ids, cats) = ids_and_categories(n_f);

    // Feature-level parameters: their own stream, so they do not move when the design changes.
    let mut rf = seeded(derive_seed(p.seed, "proteome/features"));
    let base: Vec<f64> = cats
        .iter()
        .map(|c| match c {
            FeatureCategory::EvMarker => uniform(&mut rf, q.marker_log2_range),
            FeatureCategory::ContaminantMarker => uniform(&mut rf, q.contaminant_log2_range),
            FeatureCategory::Cargo => uniform(&mut rf, q.cargo_log2_range),
            _ => normal(&mut rf, q.base_log2_mean, q.base_log2_sd)
                .clamp(q.base_log2_range[0], q.base_log2_range[1]),
        })
        .collect();
    // EV markers are identified by many peptides, so random identification dropout spares them.
    let mar: Vec<f64> = cats
        .iter()
        .map(|c| match c {
            FeatureCategory::EvMarker => 0.0,
            _ => uniform(&mut rf, [0.0, 2.0 * q.mar_rate]),
        })
        .collect();
    let eligible: Vec<bool> = cats
        .iter()
        .map(|c| *c != FeatureCategory::EvMarker)
        .collect();
    let mut fx = draw_effects(&mut rf, &eligible, p);
    if e.literature_effects {
        if let Some(bm) = p.sources.iter().position(|s| s.name == "BM-MSC") {
            for i in (0..n_f).filter(|&i| cats[i] == FeatureCategory::Cargo) {
                let v = uniform(&mut rf, e.known_cargo_enrichment_log2);
                fx.add_source(i, bm, v);
            }
        }
    }

    // Signature: named BM-MSC cargo (positive loadings) plus synthetic proteins (mostly positive).
    let mut rs = seeded(derive_seed(p.seed, "proteome/signature"));
    let (n_named, n_syn) = protein_signature_split(p.signature_proteins);
    let cargo_start = EV_MARKERS.len() + CONTAMINANT_MARKERS.len();
    let mut loading = vec![0.0; n_f];
    let mut sig_rows = Vec::with_capacity(p.signature_proteins);
    for i in index::sample(&mut rs, BM_MSC_CARGO.len(), n_named) {
        let row = cargo_start + i;
        loading[row] = uniform(&mut rs, e.signature_loading_log2);
        sig_rows.push(row);
    }
    for i in index::sample(&mut rs, n_f - N_NAMED_PROTEINS, n_syn) {
        let row = N_NAMED_PROTEINS + i;
        loading[row] = sign(&mut rs, 0.75) * uniform(&mut rs, e.signature_loading_log2);
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

    // Cell values.
    let mut rv = seeded(derive_seed(p.seed, "proteome/values"));
    let loading_offset: Vec<f64> = (0..n_s)
        .map(|_| normal(&mut rv, 0.0, q.sample_loading_sd_log2))
        .collect();
    let mnar_midpoint: Vec<f64> = (0..n_s)
        .map(|_| normal(&mut rv, q.mnar_midpoint_log2, q.mnar_midpoint_sd_log2))
        .collect();
    let batch_shift: Vec<f64> = (0..p.n_batches)
        .map(|_| normal(&mut rv, 0.0, q.batch_shift_sd_log2))
        .collect();
    // Everything that does not depend on the feature, per sample, once.
    let tech: Vec<f64> = (0..n_s)
        .map(|j| loading_offset[j] + batch_shift[d.batch[j]])
        .collect();

    let noise_sd = e.residual_sd_log2.hypot(q.measurement_sd_log2);
    let cells = n_f * n_s;
    let mut values = vec![f64::NAN; cells];
    let mut flags = vec![ValueFlag::Missing; cells];
    let mut cause = vec![MissingCause::Observed; cells];
    let mut complete = q.keep_complete_log2.then(|| vec![0.0; cells]);
    let mut donor_eff = vec![0.0; d.donors.len()];
    let mut missing_per_row = vec![0usize; n_f];
    let (mut n_mnar, mut n_mar) = (0usize, 0usize);

    for i in 0..n_f {
        for v in donor_eff.iter_mut() {
            *v = normal(&mut rv, 0.0, e.donor_sd_log2);
        }
        let src = fx.source_row(i);
        let cond = fx.conditioning_row(i);
        let bat = fx.batch_row(i);
        let is_contaminant = cats[i] == FeatureCategory::ContaminantMarker;
        let slot = sig_slot[i];
        let range = i * n_s..(i + 1) * n_s;
        for (j, cell) in range.enumerate() {
            let mut mean = base[i]
                + src[d.source[j]]
                + donor_eff[d.donor[j]]
                + cond[d.conditioning[j]]
                + loading[i] * ctx.latent[j];
            if is_contaminant {
                mean += d.contamination_log2[j];
            }
            // Only signature rows need the biological value on its own; elsewhere the residual and
            // the measurement noise are one normal draw with the summed variance (half the draws).
            let y = match slot {
                Some(k) => {
                    let bio = mean + normal(&mut rv, 0.0, e.residual_sd_log2);
                    signature[k].bio.push(bio);
                    bio + normal(&mut rv, 0.0, q.measurement_sd_log2)
                }
                None => normal(&mut rv, mean, noise_sd),
            } + tech[j]
                + bat[d.batch[j]];
            let p_mnar = 1.0 / (1.0 + ((y - mnar_midpoint[j]) / q.mnar_scale_log2).exp());
            let is_mnar = rv.gen::<f64>() < p_mnar;
            let is_mar = mar[i] > 0.0 && rv.gen::<f64>() < mar[i];
            if let Some(c) = complete.as_mut() {
                c[cell] = y;
            }
            if is_mnar || is_mar {
                missing_per_row[i] += 1;
                if is_mnar {
                    cause[cell] = MissingCause::Mnar;
                    n_mnar += 1;
                } else {
                    cause[cell] = MissingCause::Mar;
                    n_mar += 1;
                }
            } else {
                let v = y.exp2();
                if !(v.is_finite() && v > 0.0) {
                    return Err(SimError::param(
                        "effects",
                        format!(
                            "protein '{}' reached log2 intensity {y}, beyond what an f64 intensity can hold; \
                             lower the effect sizes, loadings or potency means",
                            ids[i]
                        ),
                    ));
                }
                values[cell] = v;
                flags[cell] = ValueFlag::Observed;
            }
        }
    }

    let missing = n_mnar + n_mar;
    let features_truth: Vec<FeatureTruth> = (0..n_f)
        .map(|i| FeatureTruth {
            layer: PROTEOME_LAYER.into(),
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
            mar_rate: Some(mar[i]),
            nb_dispersion: None,
            missing_fraction: ratio(missing_per_row[i], n_s),
        })
        .collect();

    let mut features = Features::new(ids.clone())?;
    features.set_annotation("gene", ids.into_iter().map(Some).collect())?;
    features.set_annotation(
        "category",
        cats.iter().map(|c| Some(c.name().to_string())).collect(),
    )?;
    let shape = (n_f, n_s);
    let assay = Assay::new(
        PROTEOME_LAYER,
        LayerKind::Proteome,
        ValueScale::Linear,
        features,
        d.sample_ids.clone(),
        to_array(shape, values)?,
        to_array(shape, flags)?,
    )?;
    let summary = LayerSummary {
        layer: PROTEOME_LAYER.into(),
        n_features: n_f,
        n_samples: n_s,
        observed: cells - missing,
        missing,
        missing_fraction: ratio(missing, cells),
        mnar_missing: n_mnar,
        mar_missing: n_mar,
        mnar_fraction: ratio(n_mnar, cells),
        zero_count: 0,
        zero_fraction: 0.0,
        library_size_min: None,
        library_size_max: None,
    };
    Ok(ProteomeOut {
        layer: LayerOut {
            assay,
            features: features_truth,
            signature,
            summary,
        },
        missing_cause: to_array(shape, cause)?,
        complete_log2: complete.map(|c| to_array(shape, c)).transpose()?,
        loading_offset,
        mnar_midpoint,
        batch_shift,
    })
}

/// A row-major vector as a matrix; the shapes are ours, so a mismatch is an internal error.
pub(crate) fn to_array<T>(shape: (usize, usize), v: Vec<T>) -> Result<Array2<T>> {
    Array2::from_shape_vec(shape, v).map_err(|e| {
        SimError::Core(evomics_core::CoreError::Invalid(format!(
            "internal shape error: {e}"
        )))
    })
}
