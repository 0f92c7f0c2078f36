//! Named features and literature-based effects the simulator plants.
//!
//! The protein and miRNA names, the source-typical cargo and the conditioning effects come from
//! Dalle Carbonare et al., "Extracellular Vesicles in Osteogenesis: Comparative Analysis of Stem
//! Cell Sources, Conditioning Strategies, and In Vitro Models Toward Advanced Bone Regeneration"
//! (2025): Table 1 (source-typical cargo), Table 2 (pro- and anti-osteogenic miRNAs), Table 3
//! (conditioning strategies) and Section 1 (MISEV EV and contaminant markers).

/// MISEV positive EV markers (tetraspanins, ESCRT-associated and raft proteins): high abundance,
/// observed in almost every sample.
pub const EV_MARKERS: [&str; 7] = ["CD9", "CD63", "CD81", "TSG101", "PDCD6IP", "SDCBP", "FLOT1"];

/// MISEV negative (contaminant) markers: ER/Golgi proteins from cell debris and serum
/// lipoproteins/albumin; low in clean preparations, high in "dirty" ones.
pub const CONTAMINANT_MARKERS: [&str; 6] = ["CANX", "GOLGA2", "HSP90B1", "APOA1", "APOB", "ALB"];

/// BM-MSC EV cargo proteins (review Table 1), enriched in BM-MSC EVs.
pub const BM_MSC_CARGO: [&str; 19] = [
    "FBLN1", "PRELP", "MGP", "CST3", "SCUBE3", "FGFR1", "CCN5", "IGFBP4", "CTHRC1", "IGFBP6",
    "DCN", "CLEC3B", "MMP2", "IGF2", "IGFBP2", "IGFBP3", "HMGB1", "COL6A1", "VCAN",
];

/// Named miRNAs (miRBase names), in the order they appear in the layer. The last five are the
/// haemolysis reference miR-23a-3p and the blood-cell miRNAs the QC biofluid checks read
/// (with miR-451a and miR-142-5p above); [`crate::BiofluidContamination`] raises them.
pub const NAMED_MIRNAS: [&str; 22] = [
    "hsa-miR-196a-5p",
    "hsa-miR-27a-3p",
    "hsa-miR-150-3p",
    "hsa-miR-186-5p",
    "hsa-miR-375-3p",
    "hsa-miR-1263",
    "hsa-miR-451a",
    "hsa-miR-142-5p",
    "hsa-miR-21-5p",
    "hsa-miR-424-5p",
    "hsa-let-7a-5p",
    "hsa-let-7c-5p",
    "hsa-miR-148a-3p",
    "hsa-miR-206",
    "hsa-miR-122-5p",
    "hsa-miR-25-3p",
    "hsa-miR-192-5p",
    "hsa-miR-23a-3p",
    "hsa-miR-223-3p",
    "hsa-miR-142-3p",
    "hsa-miR-16-5p",
    "hsa-miR-486-5p",
];

/// Pro-osteogenic miRNAs of review Table 2; in the potency signature they load positively.
pub const PRO_OSTEOGENIC_MIRNAS: [&str; 14] = [
    "hsa-miR-196a-5p",
    "hsa-miR-27a-3p",
    "hsa-miR-150-3p",
    "hsa-miR-186-5p",
    "hsa-miR-375-3p",
    "hsa-miR-1263",
    "hsa-miR-451a",
    "hsa-miR-142-5p",
    "hsa-let-7a-5p",
    "hsa-let-7c-5p",
    "hsa-miR-206",
    "hsa-miR-122-5p",
    "hsa-miR-25-3p",
    "hsa-miR-192-5p",
];

/// Anti-osteogenic miRNAs of review Table 2 (osteoporotic BM-MSC EVs); in the potency signature
/// they load negatively.
pub const ANTI_OSTEOGENIC_MIRNAS: [&str; 2] = ["hsa-miR-21-5p", "hsa-miR-424-5p"];

/// Relative log2 abundance of the named miRNAs before jitter: a few miRNAs (miR-21, miR-451a,
/// let-7a, miR-148a) dominate EV small-RNA libraries.
pub(crate) const NAMED_MIRNA_BASE_LOG2: [f64; 22] = [
    4.3,  // miR-196a-5p
    6.5,  // miR-27a-3p
    2.9,  // miR-150-3p
    5.8,  // miR-186-5p
    3.6,  // miR-375-3p
    1.4,  // miR-1263
    10.1, // miR-451a
    4.3,  // miR-142-5p
    10.8, // miR-21-5p
    5.0,  // miR-424-5p
    9.4,  // let-7a-5p
    7.2,  // let-7c-5p
    8.7,  // miR-148a-3p
    2.2,  // miR-206
    7.2,  // miR-122-5p
    7.2,  // miR-25-3p
    5.8,  // miR-192-5p
    10.5, // miR-23a-3p: the haemolysis reference, abundant in MSC EVs
    2.5,  // miR-223-3p: myeloid, scarce in EVs of cultured cells
    3.0,  // miR-142-3p: haematopoietic, scarce in EVs of cultured cells
    5.0,  // miR-16-5p
    3.0,  // miR-486-5p: erythroid
];

/// Source-typical miRNA cargo (review Tables 1 and 2): `(source, miRNAs enriched in its EVs)`.
/// Applied only when a source of that name is simulated and `effects.literature_effects` is on.
pub const SOURCE_ENRICHED_MIRNAS: [(&str, &[&str]); 5] = [
    (
        "BM-MSC",
        &[
            "hsa-miR-186-5p",
            "hsa-miR-196a-5p",
            "hsa-miR-27a-3p",
            "hsa-miR-150-3p",
            "hsa-miR-424-5p",
            "hsa-let-7a-5p",
            "hsa-let-7c-5p",
        ],
    ),
    ("ADSC", &["hsa-miR-375-3p"]),
    ("UC-MSC", &["hsa-miR-1263"]),
    ("iMSC", &["hsa-miR-196a-5p", "hsa-miR-206"]),
    ("DPSC", &["hsa-miR-27a-3p"]),
];

/// Conditioning-induced cargo changes (review Table 3): `(conditioning, feature, log2 effect)`.
/// Applied only when a conditioning of that name is simulated and `effects.literature_effects` is on.
pub const CONDITIONING_CARGO: [(&str, &str, f64); 2] = [
    ("osteogenic_induction", "hsa-miR-27a-3p", 1.0),
    ("mg2_preconditioning", "hsa-miR-451a", 1.5),
];

/// Prefix of synthetic protein ids (`PROT0001`, …).
pub const SYNTHETIC_PROTEIN_PREFIX: &str = "PROT";

/// Prefix of synthetic miRNA names (`hsa-miR-sim-0001`, …). miRBase names carry a number after
/// `hsa-miR-` (or are `hsa-let-7…`), so `sim` can never collide with a real miRNA.
pub const SYNTHETIC_MIRNA_PREFIX: &str = "hsa-miR-sim-";

/// Number of named proteins (markers, contaminants, cargo) that precede the synthetic ones.
pub const N_NAMED_PROTEINS: usize =
    EV_MARKERS.len() + CONTAMINANT_MARKERS.len() + BM_MSC_CARGO.len();

/// Share of the protein signature drawn from the named BM-MSC cargo (the rest is synthetic).
pub(crate) const PROTEIN_SIGNATURE_NAMED_SHARE: f64 = 0.6;

/// Share of the miRNA signature drawn from the named osteogenic miRNAs (anti first, then pro).
pub(crate) const MIRNA_SIGNATURE_NAMED_SHARE: f64 = 0.75;

/// How many named and synthetic proteins a signature of `k` proteins takes.
pub(crate) fn protein_signature_split(k: usize) -> (usize, usize) {
    let named = ((k as f64 * PROTEIN_SIGNATURE_NAMED_SHARE).round() as usize)
        .min(BM_MSC_CARGO.len())
        .min(k);
    (named, k - named)
}

/// How many anti-osteogenic, pro-osteogenic and synthetic miRNAs a signature of `k` miRNAs takes.
pub(crate) fn mirna_signature_split(k: usize) -> (usize, usize, usize) {
    let anti = ANTI_OSTEOGENIC_MIRNAS.len().min(k);
    let named = (k as f64 * MIRNA_SIGNATURE_NAMED_SHARE).round() as usize;
    let pro = named
        .saturating_sub(anti)
        .min(PRO_OSTEOGENIC_MIRNAS.len())
        .min(k - anti);
    (anti, pro, k - anti - pro)
}

/// Decimal digits of `n` (at least 1).
pub(crate) fn digits(n: usize) -> usize {
    n.max(1).to_string().len()
}

/// Synthetic protein ids for `n` synthetic proteins (`PROT0001`, …; wider when n ≥ 10,000).
pub(crate) fn synthetic_protein_ids(n: usize) -> Vec<String> {
    let w = digits(n).max(4);
    (1..=n)
        .map(|i| format!("{SYNTHETIC_PROTEIN_PREFIX}{i:0w$}"))
        .collect()
}

/// Synthetic miRNA names for `n` synthetic miRNAs (`hsa-miR-sim-0001`, …).
pub(crate) fn synthetic_mirna_ids(n: usize) -> Vec<String> {
    let w = digits(n).max(4);
    (1..=n)
        .map(|i| format!("{SYNTHETIC_MIRNA_PREFIX}{i:0w$}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn named_lists_are_consistent() {
        let named: HashSet<&str> = NAMED_MIRNAS.iter().copied().collect();
        assert_eq!(named.len(), NAMED_MIRNAS.len());
        for m in PRO_OSTEOGENIC_MIRNAS.iter().chain(&ANTI_OSTEOGENIC_MIRNAS) {
            assert!(named.contains(m), "{m}");
        }
        for (_, ms) in SOURCE_ENRICHED_MIRNAS {
            for m in ms {
                assert!(named.contains(m), "{m}");
            }
        }
        for (_, m, _) in CONDITIONING_CARGO {
            assert!(named.contains(m), "{m}");
        }
        let prots: HashSet<&str> = EV_MARKERS
            .iter()
            .chain(&CONTAMINANT_MARKERS)
            .chain(&BM_MSC_CARGO)
            .copied()
            .collect();
        assert_eq!(prots.len(), N_NAMED_PROTEINS);
    }

    #[test]
    fn synthetic_names_never_look_like_mirbase() {
        let ids = synthetic_mirna_ids(12_000);
        assert_eq!(ids[0], "hsa-miR-sim-00001");
        for id in &ids {
            let rest = id.strip_prefix("hsa-miR-").unwrap();
            // miRBase names continue with a digit after `hsa-miR-`.
            assert!(!rest.starts_with(|c: char| c.is_ascii_digit()));
        }
        assert_eq!(synthetic_protein_ids(3)[2], "PROT0003");
    }

    #[test]
    fn signature_splits() {
        assert_eq!(protein_signature_split(10), (6, 4));
        assert_eq!(protein_signature_split(1), (1, 0));
        assert_eq!(protein_signature_split(100), (19, 81));
        assert_eq!(mirna_signature_split(8), (2, 4, 2));
        assert_eq!(mirna_signature_split(1), (1, 0, 0));
        assert_eq!(mirna_signature_split(0), (0, 0, 0));
        assert_eq!(mirna_signature_split(40), (2, 14, 24));
    }
}
