//! The embedded tables against the shared reference files they were derived from, and the
//! harmonizer on the miRNA names real count tables use.

use std::collections::BTreeMap;

use evomics_panels::{HarmonizeStatus, MirnaHarmonizer, MisevMarkers, PanelSet};
use sha2::{Digest, Sha256};

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared");

fn read(rel: &str) -> String {
    let path = format!("{SHARED}/{rel}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn sha256_hex(rel: &str) -> String {
    let path = format!("{SHARED}/{rel}");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn header_sha(table: &str) -> &str {
    table
        .lines()
        .find_map(|l| l.strip_prefix("# source sha256: "))
        .expect("a '# source sha256:' header line")
        .trim()
}

#[test]
fn embedded_tables_match_their_sources() {
    evomics_testkit::require_shared!("data/real/reference-mirbase-hsa-v22");
    let mirbase = "data/real/reference-mirbase-hsa-v22/hsa_mature_miRBase_v22.tsv";
    assert_eq!(
        header_sha(evomics_panels::mirna::MIRBASE_V22_TABLE),
        sha256_hex(mirbase)
    );
    // Same names and accessions as the source table.
    let h = MirnaHarmonizer::mirbase_v22();
    let src = read(mirbase);
    let mut n = 0;
    for line in src.lines().skip(1) {
        let c: Vec<&str> = line.split('\t').collect();
        let m = h.mature(c[0]).unwrap_or_else(|| panic!("{} missing", c[0]));
        assert_eq!(m.accession, c[1]);
        assert_eq!(m.precursors.join(";"), c[4]);
        n += 1;
    }
    assert_eq!(n, h.len());

    let misev = "data/real/reference-ev-markers-misev/misev2018_protein_categories.tsv";
    assert_eq!(
        header_sha(evomics_panels::misev::MISEV2018_TABLE),
        sha256_hex(misev)
    );
    // Every source gene is in the derived table, or its row says how it was corrected.
    let markers = MisevMarkers::misev2018();
    let curated: Vec<&str> = markers
        .markers()
        .iter()
        .filter(|m| m.curation != "as in source")
        .map(|m| m.curation.as_str())
        .collect();
    for line in read(misev).lines().skip(1) {
        let c: Vec<&str> = line.split('\t').collect();
        let gene = c[1].trim();
        let cat: u8 = c[0][3..4].parse().unwrap();
        match markers.lookup_symbol(gene) {
            Some(m) => assert_eq!(m.category.number(), cat, "{gene}"),
            None => assert!(
                curated.iter().any(|k| k.contains(&format!("writes {gene}"))
                    || k.contains(&format!("{gene} is a previous symbol"))
                    || k.contains("merged")),
                "{gene} neither kept nor explained"
            ),
        }
    }
}

#[test]
fn panel_citations_are_the_reviews() {
    evomics_testkit::require_shared!("reference");
    let review = read("reference/000_34590f53399340db.txt");
    let refs = &review[review.find("\nReferences\n").expect("reference list")..];
    let panels = PanelSet::osteogenic();
    for e in panels.entries() {
        for (n, citation) in panels.citations_for(e) {
            let start = refs
                .find(&format!("\n{n}. "))
                .unwrap_or_else(|| panic!("reference {n} not in the review"));
            // The first author is in the review's entry for that number.
            let entry = refs[start + 1..].lines().next().unwrap();
            let first_author = citation.split(',').next().unwrap();
            assert!(entry.contains(first_author), "ref {n}: {first_author}");
        }
        // The written name occurs in the review text.
        let written = e.as_written.split(" (").next().unwrap();
        assert!(review.contains(written), "'{written}' not in the review");
    }
}

fn statuses(names: &[String]) -> BTreeMap<&'static str, usize> {
    MirnaHarmonizer::mirbase_v22()
        .harmonize_all(names)
        .status_counts()
}

fn first_column(rel: &str, sep: char) -> Vec<String> {
    read(rel)
        .lines()
        .skip(1)
        .map(|l| l.split(sep).next().unwrap().trim_matches('"').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[test]
fn harmonizes_real_count_tables() {
    evomics_testkit::require_shared!("data/real");
    // Human EV small-RNA counts named like `miR-100-5p` (no species prefix).
    let names = first_column(
        "data/real/ev-mirna-metabolic-inhibitors-cfarkas/ev_mirna_counts.csv",
        ',',
    );
    let c = statuses(&names);
    eprintln!("cfarkas ({} names): {c:?}", names.len());
    let resolved: usize = ["exact", "normalized", "arm_resolved", "from_precursor"]
        .iter()
        .map(|k| c.get(k).copied().unwrap_or(0))
        .sum();
    assert!(resolved as f64 > 0.95 * names.len() as f64, "{c:?}");
    assert_eq!(c.get("not_human"), None);
    let l = MirnaHarmonizer::mirbase_v22().harmonize_all(&names);
    let h = &l.items[names.iter().position(|n| n == "miR-100-5p").unwrap()];
    assert_eq!(h.canonical.as_deref(), Some("hsa-miR-100-5p"));
    eprintln!(
        "cfarkas unknown: {:?}",
        l.items
            .iter()
            .filter(|h| h.status == HarmonizeStatus::Unknown)
            .map(|h| h.input.as_str())
            .take(20)
            .collect::<Vec<_>>()
    );
    eprintln!("cfarkas duplicates after mapping: {}", l.duplicates.len());

    // HepG2 EV counts named `hsa-mir-7-1_mature` (precursor + suffix) or `_precursor` etc.
    let names = first_column("data/real/hepg2-ev-mirna-pfas/ev_mirna_raw_counts.csv", ',');
    let c = statuses(&names);
    eprintln!("hepg2 ({} names): {c:?}", names.len());
    assert!(c.get("from_precursor").copied().unwrap_or(0) > 0, "{c:?}");
    assert!(c.get("ambiguous").copied().unwrap_or(0) > 0, "{c:?}");
    assert!(c.get("not_mature").copied().unwrap_or(0) > 0, "{c:?}");

    // Mouse plasma EV counts: every name is reported as not human and kept.
    let names = first_column(
        "data/real/mouse-plasma-ev-mirna-wildfire/batch0_mouse_miRNA_count.csv",
        ',',
    );
    let c = statuses(&names);
    assert_eq!(c.get("not_human"), Some(&names.len()), "{c:?}");
    let l = MirnaHarmonizer::mirbase_v22().harmonize_all(&names);
    assert_eq!(l.names.len(), names.len());
    assert!(l.items.iter().all(|h| h.output_name() == h.input));
}
