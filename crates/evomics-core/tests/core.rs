//! Property tests of the data model: flags travel with their values through every operation.

use evomics_core::{Assay, Experiment, Features, LayerKind, SampleSheet, ValueFlag, ValueScale};
use ndarray::Array2;
use proptest::prelude::*;

fn assay_strategy() -> impl Strategy<Value = Assay> {
    (1usize..7, 1usize..7).prop_flat_map(|(nf, ns)| {
        proptest::collection::vec(
            prop_oneof![(0.1f64..1e6).prop_map(Some), Just(None)],
            nf * ns,
        )
        .prop_map(move |cells| {
            let cells = Array2::from_shape_vec((nf, ns), cells).unwrap();
            Assay::from_options(
                "proteome",
                LayerKind::Proteome,
                ValueScale::Linear,
                Features::new((0..nf).map(|i| format!("P{i}")).collect()).unwrap(),
                (0..ns).map(|j| format!("S{j}")).collect(),
                &cells,
            )
            .unwrap()
        })
    })
}

/// The (feature, sample) → cell map of an assay, by ids.
fn cells(a: &Assay) -> Vec<(String, String, ValueFlag, Option<u64>)> {
    let mut v = Vec::new();
    for (i, f) in a.features().ids().iter().enumerate() {
        for (j, s) in a.samples().iter().enumerate() {
            v.push((
                f.clone(),
                s.clone(),
                a.flags()[[i, j]],
                a.get(i, j).map(f64::to_bits),
            ));
        }
    }
    v.sort();
    v
}

proptest! {
    #[test]
    fn selections_keep_each_cell_with_its_flag(a in assay_strategy(), seed in 0u64..10_000) {
        let ns = a.n_samples();
        let nf = a.n_features();
        let mut cols: Vec<usize> = (0..ns).collect();
        cols.rotate_left((seed as usize) % ns);
        let mut rows: Vec<usize> = (0..nf).collect();
        rows.reverse();
        let b = a.select_samples(&cols).select_features(&rows);
        prop_assert_eq!(cells(&a), cells(&b));
        let kept = a.filter_features(|i| i % 2 == 0);
        let expect: Vec<_> = cells(&a).into_iter().filter(|c| c.0[1..].parse::<usize>().unwrap() % 2 == 0).collect();
        prop_assert_eq!(cells(&kept), expect);
    }

    #[test]
    fn map_values_keeps_flags(a in assay_strategy()) {
        let b = a.map_values(ValueScale::Log2, f64::log2).unwrap();
        prop_assert_eq!(a.flags(), b.flags());
        prop_assert_eq!(a.flag_counts(), b.flag_counts());
        for ((i, j), f) in a.flags().indexed_iter() {
            prop_assert_eq!(f.has_value(), b.get(i, j).is_some());
        }
    }

    #[test]
    fn insert_layer_is_independent_of_input_column_order(a in assay_strategy(), k in 0usize..7) {
        let sheet = SampleSheet::new(a.samples().to_vec()).unwrap();
        let mut cols: Vec<usize> = (0..a.n_samples()).collect();
        cols.rotate_left(k % a.n_samples());
        let mut e1 = Experiment::new(sheet.clone());
        e1.insert_layer(a.clone()).unwrap();
        let mut e2 = Experiment::new(sheet);
        e2.insert_layer(a.select_samples(&cols)).unwrap();
        prop_assert_eq!(e1, e2);
    }
}
