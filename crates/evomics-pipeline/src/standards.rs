//! Reporting-standards files of a run, from its typed stage results ([`RunFolder`]):
//!
//! - `misev2023.tsv`: the MISEV2023 reporting items evomics can speak to (Welsh et al. 2024,
//!   *J Extracell Vesicles* 13:e12404, doi:10.1002/jev2.12404) — EV sources, preparations and
//!   donors, separation, quantification, protein markers per category and the contaminants and
//!   their intensity shares (from `qc`'s purity gate), biofluid checks of miRNA layers, dose
//!   normalisation (from `normalize` and the models' preprocessing), and the items only the lab
//!   can give (images, protocols) as `not_available` with what to provide;
//! - `ev-track.tsv`: the EV-TRACK checklist (Van Deun et al. 2017, *Nat Methods* 14:228–232,
//!   doi:10.1038/nmeth.4185) pre-filled from the sample sheet and the run; `to_fill` marks what
//!   the lab must add before submitting to evtrack.org;
//! - `dome-<model>.tsv` per trained model: the DOME recommendations for machine learning in
//!   biology (Walsh et al. 2021, *Nat Methods* 18:1122–1127, doi:10.1038/s41592-021-01205-4) —
//!   data, optimisation, model, evaluation — filled from the `TrainResult`;
//! - `sdrf.tsv`: the sample sheet as SDRF-Proteomics ([`evomics_io::sdrf::write_sdrf`]).
//!
//! Sheet columns are found by the names docs/standards.md lists (compared ignoring case, `_`,
//! `-` and spaces), the donor column first from the models' grouped cross-validation. A missing
//! column is never an error: its items say what is missing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use evomics_core::{Cell, ColumnValues, Kind, LayerKind, SampleSheet, Table};
use evomics_io::atomic::{check_output, replace_dir, write_file_atomic, OutputKind, Replace};
use evomics_io::output::to_tsv;
use evomics_io::sdrf::{write_sdrf, SdrfExport, LABEL_FREE, MS_TECHNOLOGY, NOT_AVAILABLE};
use evomics_ml::cv::{CvScheme, Part};
use evomics_ml::stages::train::TrainResult;
use evomics_norm::normalize::NormalizationParams;
use evomics_norm::pipeline::NormalizeConfig;
use evomics_panels::{MisevCategory, MisevMarkers};
use evomics_qc::{BiofluidScope, DosePurity, PurityReport, Verdict};

use crate::error::Result;
use crate::report::RunFolder;

/// Reported: the data or the sheet show it.
const REPORTED: &str = "reported";
/// The run cannot know it; the user must provide it.
const NOT_AVAIL: &str = "not_available";
/// The item does not apply to this run.
const NOT_APPLICABLE: &str = "not_applicable";

/// Sheet columns looked for, by role: the names compared ignoring case, `_`, `-` and spaces.
pub const COLUMN_NAMES: [(&str, &[&str]); 13] = [
    (
        "source",
        &["source", "cell_type", "celltype", "cell_source"],
    ),
    (
        "donor",
        &["donor_id", "donor", "individual", "patient", "subject"],
    ),
    (
        "conditioning",
        &["conditioning", "condition", "treatment", "differentiation"],
    ),
    (
        "isolation",
        &[
            "isolation_method",
            "isolation",
            "separation_method",
            "separation",
        ],
    ),
    (
        "particles",
        &["particle_count", "particles", "particle_number"],
    ),
    (
        "protein",
        &["protein_ug", "protein", "protein_amount", "protein_mass"],
    ),
    ("cells", &["cell_equivalents", "cell_count"]),
    ("biofluid", &["biofluid", "body_fluid"]),
    ("organism", &["organism", "species"]),
    (
        "medium",
        &["culture_medium", "medium", "serum", "ev_depleted_serum"],
    ),
    ("passage", &["passage"]),
    (
        "size",
        &[
            "particle_size_nm",
            "mode_size_nm",
            "mean_size_nm",
            "size_nm",
        ],
    ),
    ("volume", &["volume_ml", "medium_volume_ml", "volume"]),
];

/// A written standards file.
#[derive(Debug, Clone, PartialEq)]
pub struct StandardsFile {
    /// File name (`misev2023.tsv`, …).
    pub name: String,
    /// Its text.
    pub text: String,
}

fn key(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The sheet column of a role (see [`COLUMN_NAMES`]), preferring `first` when the sheet has it.
fn find_column<'a>(sheet: &'a SampleSheet, role: &str, first: Option<&str>) -> Option<&'a str> {
    if let Some(c) = first.and_then(|f| sheet.column(f)) {
        return Some(c.name.as_str());
    }
    let names = COLUMN_NAMES.iter().find(|(r, _)| *r == role)?.1;
    names.iter().find_map(|n| {
        sheet
            .columns()
            .iter()
            .find(|c| key(&c.name) == key(n))
            .map(|c| c.name.as_str())
    })
}

/// Compact number: 4 significant digits, scientific outside 10⁻³…10⁶.
fn num(x: f64) -> String {
    if !x.is_finite() {
        return "NA".into();
    }
    if x != 0.0 && (x.abs() >= 1e6 || x.abs() < 1e-3) {
        return format!("{x:.3e}");
    }
    let s = format!("{x:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

fn pct(x: f64) -> String {
    format!("{} %", num(100.0 * x))
}

/// Levels of a text column with their counts, in first-appearance order.
fn levels(sheet: &SampleSheet, column: &str) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    if let Some(c) = sheet.column(column) {
        for i in 0..sheet.len() {
            if let Some(v) = c.values.text(i) {
                match out.iter_mut().find(|(l, _)| *l == v) {
                    Some((_, n)) => *n += 1,
                    None => out.push((v, 1)),
                }
            }
        }
    }
    out
}

fn level_text(levels: &[(String, usize)]) -> String {
    let mut parts: Vec<String> = levels
        .iter()
        .take(12)
        .map(|(l, n)| format!("{l} ({n})"))
        .collect();
    if levels.len() > 12 {
        parts.push(format!("… {} more", levels.len() - 12));
    }
    parts.join(", ")
}

/// Values of a numeric column: (filled, min, median, max).
fn numeric_summary(sheet: &SampleSheet, column: &str) -> Option<(usize, f64, f64, f64)> {
    let ColumnValues::Numeric(v) = &sheet.column(column)?.values else {
        return None;
    };
    let mut x: Vec<f64> = v.iter().flatten().copied().collect();
    if x.is_empty() {
        return None;
    }
    x.sort_by(f64::total_cmp);
    let mid = x.len() / 2;
    let median = if x.len().is_multiple_of(2) {
        (x[mid - 1] + x[mid]) / 2.0
    } else {
        x[mid]
    };
    Some((x.len(), x[0], median, x[x.len() - 1]))
}

/// One row of a checklist.
struct Row {
    section: String,
    item: String,
    status: &'static str,
    value: String,
    evidence: String,
    action: String,
}

fn row(
    section: &str,
    item: &str,
    status: &'static str,
    value: String,
    evidence: &str,
    action: &str,
) -> Row {
    Row {
        section: section.into(),
        item: item.into(),
        status,
        value,
        evidence: evidence.into(),
        action: action.into(),
    }
}

/// A checklist table; `evidence` names the column that says where each value came from.
fn checklist(name: &str, evidence: &str, rows: Vec<Row>) -> String {
    let mut t = Table::new(name).cols(
        [
            "section",
            "item",
            "status",
            "value",
            evidence,
            "user_action",
        ],
        Kind::Text,
    );
    for r in rows {
        let opt = |s: String| -> Cell {
            if s.is_empty() {
                Cell::Na
            } else {
                s.into()
            }
        };
        t.push(vec![
            r.section.into(),
            r.item.into(),
            r.status.into(),
            opt(r.value),
            opt(r.evidence),
            opt(r.action),
        ]);
    }
    to_tsv(&t)
}

/// What the run's sheet holds, found once.
struct Sheet<'a> {
    sheet: &'a SampleSheet,
    donor: Option<&'a str>,
    source: Option<&'a str>,
}

impl<'a> Sheet<'a> {
    fn new(run: &'a RunFolder) -> Sheet<'a> {
        let sheet = run.experiment.samples();
        let group = run
            .train
            .iter()
            .find_map(|(_, t)| t.settings.config.cv.group_column().map(str::to_string));
        let donor = find_column(sheet, "donor", group.as_deref());
        let qc_group = run.qc.as_ref().and_then(|q| q.config.group_by.clone());
        let source = find_column(sheet, "source", None).or_else(|| {
            qc_group
                .as_deref()
                .and_then(|g| sheet.column(g).map(|c| c.name.as_str()))
        });
        Sheet {
            sheet,
            donor,
            source,
        }
    }

    fn col(&self, role: &str) -> Option<&'a str> {
        find_column(self.sheet, role, None)
    }

    fn evidence(&self, column: &str) -> String {
        format!("sample sheet, column '{column}'")
    }

    /// A text item from a sheet column (levels with counts), or `not_available` with `action`.
    fn text_item(&self, section: &str, item: &str, role: &str, action: &str) -> Row {
        match self.col(role) {
            Some(c) if !levels(self.sheet, c).is_empty() => row(
                section,
                item,
                REPORTED,
                level_text(&levels(self.sheet, c)),
                &self.evidence(c),
                "",
            ),
            _ => row(section, item, NOT_AVAIL, String::new(), "", action),
        }
    }

    /// A numeric item (filled count and range), or `not_available` with `action`.
    fn number_item(&self, section: &str, item: &str, role: &str, unit: &str, action: &str) -> Row {
        let n = self.sheet.len();
        match self
            .col(role)
            .and_then(|c| numeric_summary(self.sheet, c).map(|s| (c, s)))
        {
            Some((c, (k, lo, med, hi))) => row(
                section,
                item,
                REPORTED,
                format!(
                    "{k} of {n} preparations: {} – {} {unit} (median {})",
                    num(lo),
                    num(hi),
                    num(med)
                ),
                &self.evidence(c),
                action,
            ),
            None => row(section, item, NOT_AVAIL, String::new(), "", action),
        }
    }
}

fn proteome_purity(run: &RunFolder) -> Vec<&PurityReport> {
    run.qc
        .iter()
        .flat_map(|q| q.layers.iter().filter_map(|l| l.purity.as_ref()))
        .collect()
}

/// Per marker gene, the samples of a report whose evidence in category `c` holds it.
fn marker_counts(r: &PurityReport, c: MisevCategory) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for s in &r.samples {
        for g in &s.category(c).markers {
            *out.entry(g.clone()).or_insert(0) += 1;
        }
    }
    out
}

fn share_text(r: &PurityReport, c: MisevCategory) -> Option<String> {
    let mut v: Vec<(f64, &str)> = r
        .samples
        .iter()
        .filter_map(|s| s.category(c).share.map(|x| (x, s.sample.as_str())))
        .collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let med = v[v.len() / 2].0;
    let (max, who) = v[v.len() - 1];
    Some(format!(
        "share of summed intensity: median {}, largest {} ({who})",
        pct(med),
        pct(max)
    ))
}

fn marker_list(counts: &BTreeMap<String, usize>, n: usize) -> String {
    let mut v: Vec<(&String, &usize)> = counts.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut parts: Vec<String> = v
        .iter()
        .take(15)
        .map(|(g, k)| format!("{g} {k}/{n}"))
        .collect();
    if v.len() > 15 {
        parts.push(format!("… {} more", v.len() - 15));
    }
    parts.join(", ")
}

/// The canonical EV markers and the contaminants MISEV2023 names, by gene symbol.
const CONTAMINANTS: [(&str, &str); 5] = [
    ("CANX", "calnexin, endoplasmic reticulum"),
    ("GOLGA2", "GM130, Golgi"),
    ("APOA1", "apolipoprotein A-I, HDL"),
    ("APOB", "apolipoprotein B, LDL/VLDL"),
    ("ALB", "albumin"),
];

fn protein_rows(run: &RunFolder, rows: &mut Vec<Row>) {
    let sec = "EV characterisation: protein markers";
    let reports = proteome_purity(run);
    if reports.is_empty() {
        let (status, why) = if run.qc.is_none() {
            (NOT_AVAIL, "run `evomics qc` on a proteome layer (the MISEV purity gate), or report Western blots of category 1, 2 and 3 proteins")
        } else {
            (NOT_AVAIL, "this run has no proteome layer: report protein markers of categories 1, 2 and 3 from another assay (Western blot, flow cytometry, ELISA)")
        };
        rows.push(row(sec, "Transmembrane or GPI-anchored proteins (category 1), cytosolic proteins (category 2), non-EV co-isolates (category 3)", status, String::new(), "", why));
        return;
    }
    let markers = MisevMarkers::misev2018();
    for r in reports {
        let n = r.samples.len();
        let ev = format!("qc/purity.tsv (layer '{}')", r.layer);
        let quantified: BTreeSet<&str> = r
            .marker_features
            .iter()
            .flat_map(|f| f.markers.iter().map(|(g, _)| g.as_str()))
            .collect();
        for g in &r.params.core_markers {
            let desc = markers
                .lookup_symbol(g)
                .map(|m| format!("category {}, {}", m.subcategory, m.category.name()))
                .unwrap_or_default();
            let k = r
                .samples
                .iter()
                .filter(|s| s.core_markers.iter().any(|c| c.eq_ignore_ascii_case(g)))
                .count();
            let value = if !quantified.contains(g.to_ascii_uppercase().as_str()) {
                format!(
                    "{}: not quantified (no feature of the layer matches {g})",
                    r.layer
                )
            } else if k == 0 {
                format!(
                    "{}: quantified but observed in none of {n} preparations",
                    r.layer
                )
            } else {
                format!("{}: detected in {k} of {n} preparations", r.layer)
            };
            rows.push(row(
                sec,
                &format!("EV marker {g} ({desc})"),
                REPORTED,
                value,
                &format!("{ev}, column core_markers"),
                "",
            ));
        }
        for (c, item, col) in [
            (
                MisevCategory::Transmembrane,
                "Transmembrane or GPI-anchored proteins (category 1)",
                "transmembrane_markers",
            ),
            (
                MisevCategory::Cytosolic,
                "Cytosolic proteins recovered in EVs (category 2)",
                "cytosolic_markers",
            ),
        ] {
            let counts = marker_counts(r, c);
            let without = r
                .samples
                .iter()
                .filter(|s| s.category(c).markers.is_empty())
                .count();
            let value = if counts.is_empty() {
                format!("{}: none observed", r.layer)
            } else {
                format!(
                    "{}: {} marker genes observed; preparations with none: {without} of {n}; {}",
                    r.layer,
                    counts.len(),
                    marker_list(&counts, n)
                )
            };
            rows.push(row(
                sec,
                item,
                REPORTED,
                value,
                &format!("{ev}, column {col}"),
                "",
            ));
        }
        for (c, item, col) in [
            (MisevCategory::CoIsolated, "Non-EV co-isolated structures (category 3: lipoproteins, albumin, aggregates)", "co_isolate_markers, co_isolate_share"),
            (MisevCategory::OtherCompartment, "Proteins of other intracellular compartments (category 4: nucleus, mitochondria, ER, Golgi)", "other_compartment_markers, other_compartment_share"),
        ] {
            let counts = marker_counts(r, c);
            let mut value = format!("{}: ", r.layer);
            value.push_str(&if counts.is_empty() {
                "none observed".to_string()
            } else {
                format!("{} marker genes observed: {}", counts.len(), marker_list(&counts, n))
            });
            match share_text(r, c) {
                Some(s) => value.push_str(&format!("; {s}")),
                None => value.push_str("; intensity shares not computed (the layer's scale is not linear or log2)"),
            }
            rows.push(row(sec, item, REPORTED, value, &format!("{ev}, columns {col}"), ""));
        }
        for (g, what) in CONTAMINANTS {
            let cat = markers.lookup_symbol(g).map(|m| m.category);
            let k = r
                .samples
                .iter()
                .filter(|s| cat.is_some_and(|c| s.category(c).markers.iter().any(|m| m == g)))
                .count();
            let value = if !quantified.contains(g) {
                format!(
                    "{}: not quantified (no feature of the layer matches {g})",
                    r.layer
                )
            } else {
                format!("{}: detected in {k} of {n} preparations", r.layer)
            };
            rows.push(row(
                sec,
                &format!("Contaminant {g} ({what})"),
                REPORTED,
                value,
                &ev,
                "",
            ));
        }
        let (p, w, f) = r.counts();
        let pp = &r.params;
        rows.push(row(
            sec,
            "Purity verdict (evomics MISEV gate)",
            REPORTED,
            format!(
                "{}: {p} pass, {w} warn, {f} fail of {n}; rules: ≥ {} category-1 and ≥ {} category-2 ({}) marker genes, ≥ {} of the core markers, category-3 share warn > {} / fail > {}, category-4 share warn > {} / fail > {}",
                r.layer,
                pp.min_transmembrane,
                pp.min_cytosolic,
                pp.cytosolic_subcategories.join("+"),
                pp.min_core_markers,
                pct(pp.co_isolate_warn_share),
                pct(pp.co_isolate_fail_share),
                pct(pp.other_compartment_warn_share),
                pct(pp.other_compartment_fail_share)
            ),
            &format!("{ev}, columns verdict, reasons"),
            "",
        ));
    }
}

/// Dose normalisation of one layer pipeline, in words.
fn dose_text(layer: &str, c: &NormalizeConfig) -> String {
    match &c.normalization {
        NormalizationParams::Dose(d) => {
            let what = match d.column.as_str() {
                "particle_count" => "particle number",
                "protein_ug" => "protein mass",
                "cell_equivalents" => "cell equivalents",
                _ => "a sheet column",
            };
            format!(
                "{layer}: by {what} (column '{}', per {})",
                d.column,
                num(d.per)
            )
        }
        other => format!(
            "{layer}: none (between-sample normalization: {})",
            other.method()
        ),
    }
}

fn dose_rows(run: &RunFolder, s: &Sheet<'_>, rows: &mut Vec<Row>) {
    let sec = "Dose and functional studies";
    let dose_cols: Vec<&str> = ["particles", "protein", "cells"]
        .iter()
        .filter_map(|r| s.col(r))
        .collect();
    let how = if dose_cols.is_empty() {
        "add particle_count, protein_ug or cell_equivalents to the sheet to normalise by dose"
            .to_string()
    } else {
        format!(
            "to express cargo per dose: normalization = {{ method = \"dose\", column = \"{}\" }}",
            dose_cols[0]
        )
    };
    match &run.normalized {
        Some((_, r)) => {
            let texts: Vec<String> = r
                .layers
                .iter()
                .map(|(l, n)| dose_text(l, &n.config))
                .collect();
            let any = r
                .layers
                .values()
                .any(|n| matches!(n.config.normalization, NormalizationParams::Dose(_)));
            rows.push(row(
                sec,
                "Dose normalisation used (particle number, protein mass or none)",
                REPORTED,
                texts.join("; "),
                "normalize/result.json (each layer's normalization)",
                if any { "" } else { &how },
            ));
        }
        None => rows.push(row(
            sec,
            "Dose normalisation used (particle number, protein mass or none)",
            NOT_AVAIL,
            "this run has no normalize stage".into(),
            "",
            &how,
        )),
    }
    for (name, t) in &run.train {
        let texts: Vec<String> = t
            .settings
            .config
            .preprocess
            .layers
            .iter()
            .map(|(l, c)| dose_text(l, c))
            .collect();
        if !texts.is_empty() {
            rows.push(row(
                sec,
                &format!("Dose normalisation in potency model '{name}'"),
                REPORTED,
                texts.join("; "),
                &format!(
                    "{}/result.json (settings.config.preprocess)",
                    train_dir(name)
                ),
                "",
            ));
        }
    }
    let value = if dose_cols.is_empty() {
        String::new()
    } else {
        dose_cols
            .iter()
            .map(|c| format!("'{c}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    rows.push(row(
        sec,
        "Dose metrics available to normalise functional doses",
        if dose_cols.is_empty() {
            NOT_AVAIL
        } else {
            REPORTED
        },
        value,
        "sample sheet",
        if dose_cols.is_empty() {
            "report particle number, protein amount or producer-cell equivalents per preparation"
        } else {
            ""
        },
    ));
}

fn train_dir(name: &str) -> String {
    if name == "train" {
        "train".into()
    } else {
        format!("train/{name}")
    }
}

fn biofluid_rows(run: &RunFolder, rows: &mut Vec<Row>) {
    let sec = "EV cargo: RNA";
    let reports: Vec<_> = run
        .qc
        .iter()
        .flat_map(|q| q.layers.iter().filter_map(|l| l.biofluid.as_ref()))
        .collect();
    let has_mirna = run
        .experiment
        .layers()
        .values()
        .any(|l| *l.kind() == LayerKind::Mirna);
    if !has_mirna {
        rows.push(row(
            sec,
            "Blood-derived RNA in biofluid EVs (haemolysis, blood-cell miRNAs)",
            NOT_APPLICABLE,
            "no small-RNA layer in this run".into(),
            "",
            "",
        ));
        return;
    }
    if reports.is_empty() {
        rows.push(row(
            sec,
            "Blood-derived RNA in biofluid EVs (haemolysis, blood-cell miRNAs)",
            NOT_AVAIL,
            String::new(),
            "",
            "run `evomics qc` on the miRNA layer (haemolysis and blood-cell checks)",
        ));
    }
    for r in reports {
        let ev = format!("qc/biofluid.tsv (layer '{}')", r.layer);
        let scoped: Vec<_> = r
            .samples
            .iter()
            .filter(|s| s.scope != BiofluidScope::NotBiofluid)
            .collect();
        let count = |f: &dyn Fn(&evomics_qc::SampleBiofluid) -> Option<Verdict>| {
            let n = |v| scoped.iter().filter(|s| f(s) == Some(v)).count();
            let na = scoped.iter().filter(|s| f(s).is_none()).count();
            format!(
                "{} pass, {} warn, {} fail, {na} NA",
                n(Verdict::Pass),
                n(Verdict::Warn),
                n(Verdict::Fail)
            )
        };
        let scope = match &r.column {
            Some(c) => format!("checked on {} of {} preparations whose '{c}' names a biofluid", scoped.len(), r.samples.len()),
            None => format!("informational on all {} preparations (no 'biofluid' sheet column: EVs from cell culture carry no blood)", r.samples.len()),
        };
        if scoped.is_empty() {
            rows.push(row(
                sec,
                "Haemolysis (miR-451a / miR-23a-3p)",
                NOT_APPLICABLE,
                format!("{}: no preparation is from a biofluid", r.layer),
                &ev,
                "",
            ));
            continue;
        }
        let p = &r.params;
        rows.push(row(
            sec,
            "Haemolysis (miR-451a / miR-23a-3p)",
            REPORTED,
            format!(
                "{}: {scope}; {} (log2 ratio warn ≥ {}, fail > {})",
                r.layer,
                count(&|s| s.haemolysis),
                num(p.haemolysis_warn_log2),
                num(p.haemolysis_fail_log2)
            ),
            &format!("{ev}, columns haemolysis_log2, haemolysis"),
            "",
        ));
        rows.push(row(
            sec,
            "Blood-cell miRNAs (miR-223-3p, miR-142-3p/5p, miR-16-5p, miR-486-5p)",
            REPORTED,
            format!(
                "{}: {scope}; {} (read share warn > {}, fail > {})",
                r.layer,
                count(&|s| s.blood_cell),
                pct(p.blood_cell_warn_share),
                pct(p.blood_cell_fail_share)
            ),
            &format!("{ev}, columns blood_cell_share, blood_cell"),
            "",
        ));
    }
    rows.push(row(sec, "Topology of RNA cargo (RNase with and without detergent) and co-isolated RNA carriers (RNPs, lipoproteins)", NOT_AVAIL, String::new(), "", "report RNase/protease protection assays and how non-vesicular RNA carriers were assessed"));
}

/// `misev2023.tsv`.
fn misev(run: &RunFolder) -> String {
    let s = Sheet::new(run);
    let sheet = s.sheet;
    let n = sheet.len();
    let mut rows = Vec::new();
    let src = "EV source and pre-separation";
    rows.push(row(
        src,
        "Number of EV preparations",
        REPORTED,
        format!(
            "{n} in the sample sheet; per layer: {}",
            run.experiment
                .layers()
                .values()
                .map(|l| format!("{} {}", l.name(), l.n_samples()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "ingest/ (the experiment store)",
        "",
    ));
    rows.push(match s.source {
        Some(c) => row(
            src,
            "Source of the EVs (producer cell type or biofluid)",
            REPORTED,
            level_text(&levels(sheet, c)),
            &s.evidence(c),
            "",
        ),
        None => row(
            src,
            "Source of the EVs (producer cell type or biofluid)",
            NOT_AVAIL,
            String::new(),
            "",
            "add a 'source' column (cell type or biofluid of each preparation)",
        ),
    });
    rows.push(match s.donor {
        Some(c) => {
            let l = levels(sheet, c);
            let (lo, hi) = (
                l.iter().map(|x| x.1).min().unwrap_or(0),
                l.iter().map(|x| x.1).max().unwrap_or(0),
            );
            row(
                src,
                "Donors (biological replicates)",
                REPORTED,
                format!("{} donors; {lo}–{hi} preparations per donor", l.len()),
                &s.evidence(c),
                "",
            )
        }
        None => row(
            src,
            "Donors (biological replicates)",
            NOT_AVAIL,
            String::new(),
            "",
            "add a 'donor_id' column (the donor or cell line of each preparation)",
        ),
    });
    rows.push(s.text_item(
        src,
        "Producer-cell conditioning or treatment",
        "conditioning",
        "describe the culture conditions and treatments of the producer cells",
    ));
    rows.push(s.text_item(src, "Culture medium and serum (serum-free, EV-depleted serum)", "medium", "state the medium, the serum and how it was EV-depleted, culture time, cell viability and confluence at harvest"));
    rows.push(s.text_item(
        src,
        "Cell passage",
        "passage",
        "state the passage number of the producer cells",
    ));
    rows.push(match s.col("biofluid") {
        Some(c) => row(src, "Biofluid collection and pre-processing", NOT_AVAIL, level_text(&levels(sheet, c)), &s.evidence(c), "state collection (anticoagulant, needle, time to processing), centrifugation to remove cells and platelets, and storage"),
        None => row(src, "Biofluid collection and pre-processing", NOT_APPLICABLE, "no 'biofluid' sheet column: preparations are taken to be from cell culture".into(), "", ""),
    });
    let sep = "EV separation and concentration";
    rows.push(s.text_item(
        sep,
        "Separation method",
        "isolation",
        "add an 'isolation_method' column (UC, SEC, TFF, precipitation, density gradient, …)",
    ));
    rows.push(row(sep, "Separation protocol details (g-force, time, rotor and k-factor; columns, fractions, volumes)", NOT_AVAIL, String::new(), "", "give the protocol in enough detail to repeat it (EV-TRACK records it)"));
    let q = "EV characterisation: quantification";
    rows.push(s.number_item(
        q,
        "Particle number per preparation",
        "particles",
        "particles",
        "name the method and settings (NTA, TRPS, flow cytometry) and the volume it refers to",
    ));
    rows.push(s.number_item(
        q,
        "Total protein per preparation",
        "protein",
        "µg",
        "name the protein assay (BCA, Bradford, …)",
    ));
    rows.push(match &run.qc {
        Some(qc) if qc.dose.iter().any(|d| d.particles_per_ug.is_some()) => {
            let c = |p: DosePurity| qc.dose.iter().filter(|d| d.purity == p).count();
            row(q, "Particle-to-protein ratio (purity)", REPORTED, format!("high {}, intermediate {}, low {}, not assessed {} (particles per µg: high ≥ {}, low < {}; Webber & Clayton 2013)", c(DosePurity::High), c(DosePurity::Intermediate), c(DosePurity::Low), c(DosePurity::NotAssessed), num(qc.config.dose.high_purity_particles_per_ug), num(qc.config.dose.low_purity_particles_per_ug)), "qc/dose.tsv", "")
        }
        _ => row(q, "Particle-to-protein ratio (purity)", NOT_AVAIL, String::new(), "", "give particle_count and protein_ug per preparation and run `evomics qc`"),
    });
    rows.push(s.number_item(
        q,
        "Particle size distribution",
        "size",
        "nm",
        "report the size distribution (mode, mean, span) and the method",
    ));
    protein_rows(run, &mut rows);
    let single = "EV characterisation: single vesicles";
    rows.push(row(
        single,
        "Images of single EVs (wide-field and close-up; EM, cryo-EM, AFM or super-resolution)",
        NOT_AVAIL,
        String::new(),
        "",
        "provide images showing EVs and their integrity",
    ));
    rows.push(row(
        single,
        "Single-particle analysis (size and markers of individual EVs)",
        NOT_AVAIL,
        String::new(),
        "",
        "report single-EV methods if used (flow cytometry, imaging)",
    ));
    biofluid_rows(run, &mut rows);
    dose_rows(run, &s, &mut rows);
    let rep = "Reporting and data availability";
    let prot = run
        .experiment
        .layers()
        .values()
        .any(|l| *l.kind() == LayerKind::Proteome);
    rows.push(row(
        rep,
        "Proteomics data deposited (PRIDE/ProteomeXchange) with sample annotation",
        if prot { NOT_AVAIL } else { NOT_APPLICABLE },
        if prot {
            "sdrf.tsv in this folder is the sample annotation (SDRF-Proteomics) to submit".into()
        } else {
            "no proteome layer".into()
        },
        if prot { "sdrf.tsv" } else { "" },
        if prot {
            "deposit the raw files with sdrf.tsv and give the PXD accession"
        } else {
            ""
        },
    ));
    let rna = run
        .experiment
        .layers()
        .values()
        .any(|l| *l.kind() == LayerKind::Mirna);
    rows.push(row(
        rep,
        "Small-RNA sequencing data deposited (GEO, ArrayExpress)",
        if rna { NOT_AVAIL } else { NOT_APPLICABLE },
        String::new(),
        "",
        if rna {
            "deposit the reads and counts and give the accession"
        } else {
            ""
        },
    ));
    rows.push(row(
        rep,
        "EV-TRACK submission",
        NOT_AVAIL,
        "ev-track.tsv in this folder is pre-filled from the sheet and the run".into(),
        "ev-track.tsv",
        "complete the to_fill items, submit at evtrack.org and cite the EV-TRACK ID",
    ));
    rows.push(row(
        rep,
        "Analysis provenance (software, inputs)",
        REPORTED,
        format!(
            "evomics {}; inputs: {}",
            run.ingest_manifest.tool_version,
            run.inputs
                .iter()
                .map(|i| format!("{} (SHA-256 {})", i.path, i.sha256))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        "ingest/manifest.json",
        "",
    ));
    checklist("misev2023", "evidence", rows)
}

/// `ev-track.tsv`: status `filled` or `to_fill`.
fn ev_track(run: &RunFolder) -> String {
    let s = Sheet::new(run);
    let sheet = s.sheet;
    let mut rows: Vec<Row> = Vec::new();
    let fill = |r: Row| -> Row {
        let status = match r.status {
            REPORTED => "filled",
            NOT_APPLICABLE => NOT_APPLICABLE,
            _ => "to_fill",
        };
        Row { status, ..r }
    };
    let smp = "Sample";
    let fluid = s.col("biofluid");
    rows.push(fill(match fluid {
        Some(c) => row(
            smp,
            "Sample type",
            REPORTED,
            format!("biofluid: {}", level_text(&levels(sheet, c))),
            &s.evidence(c),
            "",
        ),
        None => row(
            smp,
            "Sample type",
            NOT_AVAIL,
            "cell culture (no 'biofluid' column)".into(),
            "sample sheet",
            "confirm: cell culture-conditioned medium",
        ),
    }));
    rows.push(fill(s.text_item(
        smp,
        "Species",
        "organism",
        "give the species of the producer cells or donors",
    )));
    rows.push(fill(match s.source {
        Some(c) => row(
            smp,
            "Cell type (or biofluid)",
            REPORTED,
            level_text(&levels(sheet, c)),
            &s.evidence(c),
            "",
        ),
        None => row(
            smp,
            "Cell type (or biofluid)",
            NOT_AVAIL,
            String::new(),
            "",
            "name the producer cell type",
        ),
    }));
    rows.push(fill(s.text_item(
        smp,
        "Culture conditions and treatment",
        "conditioning",
        "describe culture and treatment",
    )));
    rows.push(fill(s.text_item(
        smp,
        "EV-depleted or serum-free medium",
        "medium",
        "state serum use and EV depletion of the medium",
    )));
    rows.push(fill(row(
        smp,
        "Cell viability at harvest",
        NOT_AVAIL,
        String::new(),
        "",
        "give the viability (%) and how it was measured",
    )));
    rows.push(fill(s.number_item(
        smp,
        "Volume of conditioned medium or biofluid",
        "volume",
        "mL",
        "give the starting volume per preparation",
    )));
    let sep = "Separation";
    rows.push(fill(s.text_item(sep, "Separation method(s)", "isolation", "name the methods (differential ultracentrifugation, density gradient, SEC, filtration, precipitation, immunoaffinity)")));
    for item in [
        "Ultracentrifugation: g-force, duration, rotor type, k-factor",
        "Density gradient: medium, top-down or bottom-up, fractions",
        "Size-exclusion chromatography: resin, column, fractions",
        "Filtration or ultrafiltration: pore size, device",
        "Precipitation or immunoaffinity capture: kit or antibody",
    ] {
        rows.push(fill(row(
            sep,
            item,
            NOT_AVAIL,
            String::new(),
            "",
            "fill in if used; otherwise not applicable",
        )));
    }
    let ch = "Characterisation";
    rows.push(fill(s.number_item(
        ch,
        "Protein quantification",
        "protein",
        "µg",
        "name the protein assay",
    )));
    rows.push(fill(s.number_item(
        ch,
        "Particle analysis (NTA, TRPS, flow): concentration",
        "particles",
        "particles",
        "name the instrument and settings",
    )));
    rows.push(fill(s.number_item(
        ch,
        "Particle size",
        "size",
        "nm",
        "report the size distribution",
    )));
    let reports = proteome_purity(run);
    if reports.is_empty() {
        rows.push(fill(row(ch, "EV-enriched proteins", NOT_AVAIL, String::new(), "", "report EV proteins (Western blot or proteomics) or run `evomics qc` on a proteome layer")));
        rows.push(fill(row(
            ch,
            "Non-EV-enriched proteins (co-isolates)",
            NOT_AVAIL,
            String::new(),
            "",
            "report proteins of co-isolates or other compartments",
        )));
    }
    for r in reports {
        let n = r.samples.len();
        let mut c1 = marker_counts(r, MisevCategory::Transmembrane);
        c1.extend(marker_counts(r, MisevCategory::Cytosolic));
        let mut c3 = marker_counts(r, MisevCategory::CoIsolated);
        c3.extend(marker_counts(r, MisevCategory::OtherCompartment));
        rows.push(fill(row(
            ch,
            "EV-enriched proteins",
            REPORTED,
            format!(
                "by mass spectrometry ({}): {}",
                r.layer,
                marker_list(&c1, n)
            ),
            &format!("qc/purity.tsv (layer '{}')", r.layer),
            "",
        )));
        rows.push(fill(row(
            ch,
            "Non-EV-enriched proteins (co-isolates)",
            REPORTED,
            format!(
                "by mass spectrometry ({}): {}",
                r.layer,
                if c3.is_empty() {
                    "none observed".to_string()
                } else {
                    marker_list(&c3, n)
                }
            ),
            &format!("qc/purity.tsv (layer '{}')", r.layer),
            "",
        )));
    }
    rows.push(fill(row(
        ch,
        "Western blot: antibodies (clone, dilution) and amounts loaded",
        NOT_AVAIL,
        String::new(),
        "",
        "fill in if Western blots were done",
    )));
    rows.push(fill(row(
        ch,
        "Electron microscopy: wide-field and close-up images",
        NOT_AVAIL,
        String::new(),
        "",
        "provide EM images",
    )));
    let data = "Study";
    rows.push(fill(row(
        data,
        "Number of preparations",
        REPORTED,
        format!("{}", sheet.len()),
        "sample sheet",
        "",
    )));
    rows.push(fill(match s.donor {
        Some(c) => row(
            data,
            "Biological replicates (donors)",
            REPORTED,
            format!("{} donors", levels(sheet, c).len()),
            &s.evidence(c),
            "",
        ),
        None => row(
            data,
            "Biological replicates (donors)",
            NOT_AVAIL,
            String::new(),
            "",
            "give the donors or independent cultures",
        ),
    }));
    rows.push(fill(row(
        data,
        "Omics analysis",
        REPORTED,
        run.experiment
            .layers()
            .values()
            .map(|l| {
                format!(
                    "{} ({}, {} features × {} preparations)",
                    l.name(),
                    l.kind().name(),
                    l.n_features(),
                    l.n_samples()
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        "ingest/",
        "",
    )));
    checklist("ev-track", "source", rows)
}

/// A setting as JSON, a plain string without its quotes.
fn plain_json<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// Describe a CV design in words.
fn cv_text(cv: &CvScheme) -> String {
    match cv {
        CvScheme::KFold { k, repeats, stratify } => format!(
            "k-fold on preparations: {k} folds × {repeats} repeat(s){}",
            if *stratify { ", stratified by class" } else { "" }
        ),
        CvScheme::GroupKFold { k, group, repeats, stratify } => format!(
            "group k-fold grouped by '{group}' (all preparations of one '{group}' in the same fold): {k} folds × {repeats} repeat(s){}",
            if *stratify { ", class counts balanced across folds" } else { "" }
        ),
        CvScheme::LeaveOneGroupOut { group } => format!("leave one group of '{group}' out"),
    }
}

/// `dome-<name>.tsv`.
fn dome(run: &RunFolder, name: &str, t: &TrainResult) -> String {
    let sheet = run.experiment.samples();
    let dir = train_dir(name);
    let cfg = &t.settings.config;
    let rep = &t.report;
    let mut rows: Vec<(String, String, String, String)> = Vec::new();
    let mut push = |section: &str, item: &str, value: String, evidence: String| {
        rows.push((section.into(), item.into(), value, evidence));
    };
    let res = format!("{dir}/result.json");
    // Data.
    let classes: Vec<String> = t
        .classes
        .iter()
        .map(|c| {
            let k = t
                .sample_ids
                .iter()
                .filter(|s| sheet.text(&t.target, s).as_deref() == Some(c.as_str()))
                .count();
            format!("{c} ({k})")
        })
        .collect();
    push(
        "data",
        "Provenance: samples",
        format!(
            "{} preparations used; {} excluded by rule; {} left out (missing target or layer)",
            t.sample_ids.len(),
            t.excluded.len(),
            t.dropped.len()
        ),
        format!("{res} (sample_ids, excluded, dropped)"),
    );
    push(
        "data",
        "Target",
        if classes.is_empty() {
            format!("numeric column '{}'", t.target)
        } else {
            format!("column '{}', classes: {}", t.target, classes.join(", "))
        },
        format!("{res} (target, classes)"),
    );
    let group = cfg.cv.group_column();
    let donor = find_column(sheet, "donor", group);
    if let Some(d) = donor {
        let n = t
            .sample_ids
            .iter()
            .filter_map(|s| sheet.text(d, s))
            .collect::<BTreeSet<_>>()
            .len();
        push(
            "data",
            "Donors",
            format!("{n} values of '{d}' among the preparations used"),
            format!("sample sheet, column '{d}'"),
        );
    }
    push(
        "data",
        "Features per layer",
        t.layers
            .iter()
            .map(|l| {
                format!(
                    "{}: {} features in, {} inputs of the final model",
                    l.layer, l.features, l.final_model_inputs
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        format!("{res} (layers)"),
    );
    let folds: BTreeSet<(usize, usize)> = rep.folds.iter().map(|f| (f.repeat, f.fold)).collect();
    let test_sizes: Vec<usize> = folds
        .iter()
        .map(|k| {
            rep.folds
                .iter()
                .filter(|f| (f.repeat, f.fold) == *k && f.split == Part::Test)
                .count()
        })
        .collect();
    push(
        "data",
        "Splits",
        format!(
            "{}; {} train/test splits, test preparations per split {}–{}",
            cv_text(&cfg.cv),
            folds.len(),
            test_sizes.iter().min().copied().unwrap_or(0),
            test_sizes.iter().max().copied().unwrap_or(0)
        ),
        format!("{dir}/folds.tsv"),
    );
    let independence = match donor {
        Some(d) => {
            let shared = folds
                .iter()
                .filter(|k| {
                    let side = |p: Part| -> BTreeSet<String> {
                        rep.folds
                            .iter()
                            .filter(|f| (f.repeat, f.fold) == **k && f.split == p)
                            .filter_map(|f| sheet.text(d, &f.sample_id))
                            .collect()
                    };
                    !side(Part::Train).is_disjoint(&side(Part::Test))
                })
                .count();
            if shared == 0 {
                format!("no value of '{d}' is in both the training and the test part of any split (checked on folds.tsv)")
            } else {
                format!("{shared} of {} splits have a value of '{d}' on both sides: preparations of one donor are not independent, so the estimate is optimistic", folds.len())
            }
        }
        None => "no donor column: independence of the test preparations cannot be checked".into(),
    };
    push(
        "data",
        "Redundancy between training and test (independence)",
        independence,
        format!("{dir}/folds.tsv"),
    );
    push(
        "data",
        "Availability",
        format!(
            "the experiment store ingest/ (Parquet); inputs: {}",
            run.inputs
                .iter()
                .map(|i| format!("{} (SHA-256 {})", i.path, i.sha256))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        "ingest/manifest.json".into(),
    );
    // Optimisation.
    let model_json = serde_json::to_string(&t.model.model_params).unwrap_or_default();
    push(
        "optimisation",
        "Algorithm",
        format!("{} with parameters {model_json}", cfg.model.name()),
        format!("{res} (model.model_params)"),
    );
    push(
        "optimisation",
        "Hyperparameters",
        match &cfg.tuning {
            Some(tu) => format!(
                "tuned by nested cross-validation over {} candidates; inner design: {}",
                tu.candidates.len(),
                cv_text(&tu.inner)
            ),
            None => "fixed in the configuration (no tuning)".into(),
        },
        format!("{res} (settings.config.tuning)"),
    );
    if let Some(c) = &t.comparison {
        push(
            "optimisation",
            "Model selection",
            format!(
                "{} models cross-validated on the same folds: {}; selected '{}' ({})",
                c.models.len(),
                c.models.join(", "),
                c.models[c.selected],
                c.selected_by
            ),
            format!("{dir}/model_comparison.tsv"),
        );
    }
    let pre: Vec<String> = cfg
        .preprocess
        .layers
        .iter()
        .map(|(l, c)| {
            let filters: Vec<&str> = c.filters.iter().map(|f| f.method()).collect();
            format!(
                "{l}: filters [{}], transform {}, normalization {}, imputation {}, batch correction {}",
                filters.join(", "),
                c.transform.method(),
                c.normalization.method(),
                c.imputation.method(),
                c.batch_correction.method()
            )
        })
        .collect();
    push(
        "optimisation",
        "Data encoding and preprocessing (fitted inside each training fold)",
        if pre.is_empty() {
            "none: layers used as stored".into()
        } else {
            pre.join("; ")
        },
        format!("{res} (settings.config.preprocess)"),
    );
    push(
        "optimisation",
        "Feature selection (inside each training fold)",
        plain_json(&cfg.preprocess.selection),
        format!("{res} (settings.config.preprocess.selection)"),
    );
    push(
        "optimisation",
        "Scaling (inside each training fold)",
        plain_json(&cfg.preprocess.scaling),
        format!("{res} (settings.config.preprocess.scaling)"),
    );
    let reg = match serde_json::to_value(&t.model.model_params) {
        Ok(v) => {
            let keys = [
                "alpha",
                "lambda",
                "c",
                "max_depth",
                "min_samples_leaf",
                "learning_rate",
                "n_components",
                "k",
            ];
            let found: Vec<String> = keys
                .iter()
                .filter_map(|k| v.get(k).map(|x| format!("{k} = {x}")))
                .collect();
            if found.is_empty() {
                "none among the model's parameters".to_string()
            } else {
                found.join(", ")
            }
        }
        Err(_) => String::new(),
    };
    push(
        "optimisation",
        "Regularisation",
        reg,
        format!("{res} (model.model_params)"),
    );
    push(
        "optimisation",
        "Meta-predictions",
        "no: the inputs are omics features only".into(),
        format!("{res} (model.features)"),
    );
    push(
        "optimisation",
        "Seed",
        format!("{}", cfg.seed),
        format!("{dir}/manifest.json (seeds)"),
    );
    let lc: Vec<String> = t
        .learning_curve
        .iter()
        .map(|p| {
            format!(
                "{} of training data → {}",
                pct(p.fraction),
                p.mean.map_or("NA".into(), num)
            )
        })
        .collect();
    push(
        "optimisation",
        "Fitting (over- and underfitting)",
        if lc.is_empty() {
            "no learning curve was computed".into()
        } else {
            format!("learning curve of the headline metric: {}", lc.join("; "))
        },
        format!("{dir}/learning_curve.tsv"),
    );
    push(
        "optimisation",
        "Configuration availability",
        format!("resolved settings in {res} (settings) and {dir}/manifest.json"),
        format!("{dir}/manifest.json"),
    );
    // Model.
    let interp = match cfg.model.name() {
        "elastic_net" | "linear_svm" | "pls" => "transparent: a linear model; coefficients in model.json, importance with selection frequencies in importance.tsv",
        "knn" => "instance-based (k nearest training preparations); no coefficients; permutation importance in importance.tsv if computed",
        _ => "black box (tree ensemble); importance in importance.tsv",
    };
    push(
        "model",
        "Interpretability",
        interp.into(),
        format!("{dir}/importance.tsv"),
    );
    push(
        "model",
        "Output",
        if t.classes.is_empty() {
            "regression: a number per preparation, with a conformal interval".into()
        } else {
            format!(
                "classification into {}; class probabilities and a conformal set at α = {}",
                t.classes.join(", "),
                num(cfg.conformal_alpha)
            )
        },
        format!("{dir}/predictions.tsv"),
    );
    let mut avail = format!(
        "{dir}/model.json (apply with `evomics predict`; {} input features)",
        t.model.features.len()
    );
    if t.panel.is_some() {
        avail.push_str(&format!("; release panel {dir}/panel-model.json"));
    }
    push("model", "Availability", avail, format!("{dir}/model.json"));
    push(
        "model",
        "Execution time",
        "not recorded by evomics".into(),
        String::new(),
    );
    // Evaluation.
    push("evaluation", "Evaluation method", format!("out-of-fold predictions of the cross-validation above ({}); no independent external test set", cv_text(&cfg.cv)), format!("{dir}/predictions.tsv"));
    for m in &rep.summary {
        push(
            "evaluation",
            &format!("Performance: {}", m.name),
            format!(
                "pooled out-of-fold {}; fold mean {} ± SD {} over {} splits",
                m.pooled.map_or("NA".into(), num),
                m.fold_mean.map_or("NA".into(), num),
                m.fold_sd.map_or("NA".into(), num),
                folds.len()
            ),
            format!("{dir}/metrics.json"),
        );
    }
    push(
        "evaluation",
        "Permutation test",
        match &t.permutation {
            Some(p) => format!(
                "{} = {} against {} label permutations: p = {}",
                p.metric,
                num(p.observed),
                p.null.len(),
                num(p.p_value)
            ),
            None => "not run".into(),
        },
        format!("{dir}/metrics.json"),
    );
    let baseline = if t.classes.is_empty() {
        "baseline: predicting the mean (R² = 0)".to_string()
    } else {
        let mut counts: Vec<usize> = t
            .classes
            .iter()
            .map(|c| {
                t.sample_ids
                    .iter()
                    .filter(|s| sheet.text(&t.target, s).as_deref() == Some(c.as_str()))
                    .count()
            })
            .collect();
        counts.sort_unstable();
        let n: usize = counts.iter().sum();
        format!(
            "baselines: chance ROC AUC 0.5; majority class {} of {n} ({})",
            counts.last().copied().unwrap_or(0),
            if n > 0 {
                pct(counts.last().copied().unwrap_or(0) as f64 / n as f64)
            } else {
                "NA".into()
            }
        )
    };
    let mut comparison = baseline;
    if let Some(p) = &t.panel {
        if let Some(c) = &p.comparison {
            comparison.push_str(&format!("; full model against the {}-feature release panel on {}: mean difference {}, corrected resampled t-test p = {}", p.spec.max_features, c.metric, c.mean_difference.map_or("NA".into(), num), c.p_value.map_or("NA".into(), num)));
        }
    }
    if let Some(sc) = &t.source_check {
        comparison.push_str(&format!(
            "; within-'{}' permutation p = {} (is the model more than a source classifier?)",
            sc.source_column,
            num(sc.within_source.p_value)
        ));
    }
    push(
        "evaluation",
        "Comparison and baselines",
        comparison,
        format!("{dir}/metrics.json"),
    );
    push("evaluation", "Confidence", format!("spread across splits above; out-of-fold conformal coverage {} (target {}), mean set size or width {}", pct(t.conformal.coverage), pct(1.0 - cfg.conformal_alpha), num(t.conformal.mean_size)), format!("{dir}/metrics.json"));
    push(
        "evaluation",
        "Calibration",
        if rep.calibration.is_empty() {
            "not computed (numeric target or too few predictions)".into()
        } else {
            format!(
                "{} bins of out-of-fold probability against observed frequency",
                rep.calibration.len()
            )
        },
        format!("{dir}/calibration.tsv"),
    );
    push(
        "evaluation",
        "Evaluation availability",
        "predictions, folds and metrics are in the model's folder".into(),
        format!("{dir}/predictions.tsv, {dir}/folds.tsv, {dir}/metrics.json"),
    );
    let mut table = Table::new(format!("dome-{name}"))
        .cols(["section", "item", "value", "evidence"], Kind::Text);
    for (s, i, v, e) in rows {
        let opt = |s: String| -> Cell {
            if s.is_empty() {
                Cell::Na
            } else {
                s.into()
            }
        };
        table.push(vec![s.into(), i.into(), opt(v), opt(e)]);
    }
    to_tsv(&table)
}

/// `sdrf.tsv`: the sheet as SDRF-Proteomics, with the run's compared columns as factor values.
fn sdrf(run: &RunFolder) -> String {
    let sheet = run.experiment.samples();
    let mut factors: Vec<String> = Vec::new();
    let mut add = |c: &str| {
        if sheet.column(c).is_some() && !factors.iter().any(|f| f == c) {
            factors.push(c.to_string());
        }
    };
    if let Some(g) = run.qc.as_ref().and_then(|q| q.config.group_by.as_deref()) {
        add(g);
    }
    if let Some(e) = &run.explore {
        for b in &e.config.by {
            add(b);
        }
    }
    for (_, t) in &run.train {
        add(&t.target);
    }
    let proteome_formats: Vec<String> = run.ingest_manifest.reports["layers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|l| {
                    l["layer"]
                        .as_str()
                        .and_then(|n| run.experiment.layer(n).ok())
                        .is_some_and(|x| *x.kind() == LayerKind::Proteome)
                })
                .filter_map(|l| l["read"]["format"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let has_proteome = run
        .experiment
        .layers()
        .values()
        .any(|l| *l.kind() == LayerKind::Proteome);
    // Formats whose readers take label-free quantities only; isobaric and generic tables say
    // nothing about labelling.
    let label_free = !proteome_formats.is_empty()
        && proteome_formats.iter().all(|f| {
            matches!(
                f.as_str(),
                "maxquant" | "fragpipe" | "diann" | "diann-report" | "spectronaut"
            )
        });
    write_sdrf(
        sheet,
        &SdrfExport {
            factors,
            technology_type: Some(if has_proteome {
                MS_TECHNOLOGY.to_string()
            } else {
                NOT_AVAILABLE.to_string()
            }),
            label: label_free.then(|| LABEL_FREE.to_string()),
        },
    )
}

/// Every standards file of a run, in a fixed order: `misev2023.tsv`, `ev-track.tsv`,
/// `dome-<model>.tsv` per trained model (in name order), `sdrf.tsv`.
pub fn standards_files(run: &RunFolder) -> Vec<StandardsFile> {
    let mut out = vec![
        StandardsFile {
            name: "misev2023.tsv".into(),
            text: misev(run),
        },
        StandardsFile {
            name: "ev-track.tsv".into(),
            text: ev_track(run),
        },
    ];
    for (name, t) in &run.train {
        out.push(StandardsFile {
            name: format!("dome-{name}.tsv"),
            text: dome(run, name, t),
        });
    }
    out.push(StandardsFile {
        name: "sdrf.tsv".into(),
        text: sdrf(run),
    });
    out
}

/// Write [`standards_files`] into the folder `out` (replaced atomically, with a manifest naming
/// the run folder); returns the file names. `out` must not be the run folder or inside one of
/// its stage folders.
pub fn write_standards(
    run: &RunFolder,
    run_dir: &Path,
    out: &Path,
    replace: Replace,
) -> Result<Vec<String>> {
    let stage_dirs: Vec<std::path::PathBuf> = evomics_io::atomic::RUN_ENTRIES
        .iter()
        .map(|e| run_dir.join(e))
        .filter(|p| p.exists())
        .collect();
    let mut inputs: Vec<&Path> = stage_dirs.iter().map(|p| p.as_path()).collect();
    inputs.push(run_dir);
    // The run folder itself may hold the standards folder beside its stages.
    let parent = out.parent().map(|p| {
        if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        }
    });
    let inputs: Vec<&Path> = if parent.is_some_and(|p| same(p, run_dir)) {
        inputs.into_iter().filter(|p| *p != run_dir).collect()
    } else {
        inputs
    };
    check_output(out, OutputKind::Folder, &inputs, replace)?;
    let files = standards_files(run);
    let mut m = evomics_io::Manifest::new("standards");
    m.settings = serde_json::json!({ "run": run_dir.display().to_string() });
    m.inputs = run.ingest_manifest.inputs.clone();
    replace_dir(out, replace, |tmp| {
        for f in &files {
            write_file_atomic(&tmp.join(&f.name), f.text.as_bytes())?;
        }
        write_file_atomic(&tmp.join("manifest.json"), m.to_json().as_bytes())
    })?;
    Ok(files.into_iter().map(|f| f.name).collect())
}

fn same(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}
