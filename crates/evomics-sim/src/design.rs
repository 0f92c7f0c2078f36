//! The study design: which preparation comes from which source, donor, batch, conditioning and
//! isolation method, and which preparations are dirty.

use rand::distributions::WeightedIndex;
use rand::prelude::Distribution;
use rand::seq::{index, SliceRandom};
use rand::Rng as _;

use evomics_core::rng::Rng;

use crate::catalog::digits;
use crate::error::{Result, SimError};
use crate::params::{donor_bounds, SimParams};

/// One donor: its id and the index of its source.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Donor {
    pub id: String,
    pub source: usize,
}

/// The realised design; per-sample vectors are indexed by sample (sheet order).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Design {
    pub sample_ids: Vec<String>,
    pub source: Vec<usize>,
    pub donor: Vec<usize>,
    pub batch: Vec<usize>,
    pub conditioning: Vec<usize>,
    pub isolation: Vec<usize>,
    pub dirty: Vec<bool>,
    /// log2 carry-over of contaminant markers: isolation method plus dirty shift.
    pub contamination_log2: Vec<f64>,
    pub donors: Vec<Donor>,
    pub batch_ids: Vec<String>,
    pub batch_isolation: Vec<usize>,
}

impl Design {
    pub fn n_samples(&self) -> usize {
        self.sample_ids.len()
    }
}

/// Split `n` items into `k` parts as evenly as possible; the parts that get one extra are random.
pub(crate) fn allocate(n: usize, k: usize, rng: &mut Rng) -> Vec<usize> {
    if k == 0 {
        return Vec::new();
    }
    let mut parts = vec![n / k; k];
    for i in index::sample(rng, k, n % k) {
        parts[i] += 1;
    }
    parts
}

fn weighted(param: &str, weights: impl Iterator<Item = f64>) -> Result<WeightedIndex<f64>> {
    WeightedIndex::new(weights)
        .map_err(|e| SimError::param(param, format!("weights are unusable: {e}")))
}

/// Draw the design from the `design` stream.
pub(crate) fn draw_design(p: &SimParams, rng: &mut Rng) -> Result<Design> {
    let n = p.n_samples;
    let k = p.sources.len();
    let per_source = allocate(n, k, rng);

    let mut source = Vec::with_capacity(n);
    let mut donor = Vec::with_capacity(n);
    let mut donors = Vec::new();
    for (s, &n_s) in per_source.iter().enumerate() {
        let (lo, hi) = donor_bounds(n_s, p.donors_per_source, p.preps_per_donor).ok_or_else(|| {
            SimError::param(
                "n_samples",
                format!("{n_s} samples of source '{}' do not fit donors_per_source and preps_per_donor", p.sources[s].name),
            )
        })?;
        let n_d = rng.gen_range(lo..=hi);
        let width = digits(hi).max(2);
        for (d, n_preps) in allocate(n_s, n_d, rng).into_iter().enumerate() {
            let g = donors.len();
            donors.push(Donor {
                id: format!("{}_D{:0width$}", p.sources[s].name, d + 1),
                source: s,
            });
            for _ in 0..n_preps {
                source.push(s);
                donor.push(g);
            }
        }
    }

    // Batches cross sources: a rotation over all samples (so batch sizes differ by at most one
    // and a source with fewer samples than batches never repeats a batch), shuffled within source.
    let n_b = p.n_batches;
    let mut batch = Vec::with_capacity(n);
    let mut cursor = rng.gen_range(0..n_b);
    for &n_s in &per_source {
        let mut labels: Vec<usize> = (0..n_s).map(|t| (cursor + t) % n_b).collect();
        labels.shuffle(rng);
        batch.extend(labels);
        cursor = (cursor + n_s) % n_b;
    }

    let iso_dist = weighted(
        "isolation_methods",
        p.isolation_methods.iter().map(|m| m.weight),
    )?;
    let batch_isolation: Vec<usize> = (0..n_b).map(|_| iso_dist.sample(rng)).collect();
    let isolation: Vec<usize> = batch.iter().map(|&b| batch_isolation[b]).collect();

    let cond_dist = weighted("conditionings", p.conditionings.iter().map(|c| c.weight))?;
    let conditioning: Vec<usize> = (0..n).map(|_| cond_dist.sample(rng)).collect();

    let n_dirty = ((n as f64) * p.purity.dirty_sample_fraction).round() as usize;
    let mut dirty = vec![false; n];
    for j in index::sample(rng, n, n_dirty.min(n)) {
        dirty[j] = true;
    }
    let contamination_log2 = (0..n)
        .map(|j| {
            p.isolation_methods[isolation[j]].contamination_log2
                + if dirty[j] {
                    p.purity.dirty_shift_log2
                } else {
                    0.0
                }
        })
        .collect();

    let sw = digits(n).max(5);
    let bw = digits(n_b);
    Ok(Design {
        sample_ids: (1..=n).map(|j| format!("EV{j:0sw$}")).collect(),
        source,
        donor,
        batch,
        conditioning,
        isolation,
        dirty,
        contamination_log2,
        donors,
        batch_ids: (1..=n_b).map(|b| format!("B{b:0bw$}")).collect(),
        batch_isolation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use evomics_core::rng::seeded;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn allocation_is_even() {
        let mut rng = seeded(1);
        let parts = allocate(10, 4, &mut rng);
        assert_eq!(parts.iter().sum::<usize>(), 10);
        assert!(parts.iter().all(|&x| x == 2 || x == 3));
        assert!(allocate(3, 0, &mut rng).is_empty());
    }

    #[test]
    fn default_design_shape() {
        let p = SimParams::default();
        let d = draw_design(&p, &mut seeded(3)).unwrap();
        assert_eq!(d.n_samples(), 48);
        assert_eq!(d.sample_ids[0], "EV00001");
        assert!(d.donors[0].id.starts_with("BM-MSC_D0"));
        assert_eq!(d.batch_ids, vec!["B1", "B2", "B3", "B4"]);
        assert_eq!(d.dirty.iter().filter(|&&x| x).count(), 2);
    }

    proptest! {
        #[test]
        fn design_invariants(seed in any::<u64>(), n in 18usize..120, n_b in 1usize..9) {
            let p = SimParams {
                n_samples: n,
                n_batches: n_b,
                donors_per_source: [1, 6],
                preps_per_donor: [1, 20],
                ..SimParams::default()
            };
            prop_assume!(p.validate().is_ok());
            let d = draw_design(&p, &mut seeded(seed)).unwrap();
            prop_assert_eq!(d.n_samples(), n);
            // donors nested in sources
            for (j, &g) in d.donor.iter().enumerate() {
                prop_assert_eq!(d.donors[g].source, d.source[j]);
            }
            // batch sizes balanced
            let mut sizes = vec![0usize; n_b];
            for &b in &d.batch { sizes[b] += 1; }
            let (mn, mx) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            prop_assert!(mx - mn <= 1);
            // batches cross sources whenever every batch can hold two samples
            if n >= 2 * n_b {
                for b in 0..n_b {
                    let srcs: BTreeSet<usize> = (0..n).filter(|&j| d.batch[j] == b).map(|j| d.source[j]).collect();
                    prop_assert!(srcs.len() >= 2, "batch {} has sources {:?}", b, srcs);
                }
            }
            // preps per donor within range
            let mut preps = vec![0usize; d.donors.len()];
            for &g in &d.donor { preps[g] += 1; }
            prop_assert!(preps.iter().all(|&x| (1..=20).contains(&x)));
        }
    }
}
