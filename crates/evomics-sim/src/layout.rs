//! Simulated layers written in the layouts of the tools they stand in for, so that readers can
//! be exercised on simulated data.

/// The proteome in MaxQuant `proteinGroups.txt` layout (0 = not quantified), with two reverse
/// hits and two contaminants added so readers' drop rules have something to drop.
pub fn maxquant_text(p: &evomics_core::Assay) -> String {
    use std::fmt::Write as _;
    let mut out = String::from(
        "Protein IDs\tMajority protein IDs\tGene names\tReverse\tPotential contaminant\tOnly identified by site",
    );
    for s in p.samples() {
        let _ = write!(out, "\tIntensity {s}");
    }
    for s in p.samples() {
        let _ = write!(out, "\tLFQ intensity {s}");
    }
    out.push('\n');
    let genes = p.features().annotation("gene");
    let row =
        |out: &mut String, id: &str, gene: &str, rev: &str, con: &str, i: usize, factor: f64| {
            let _ = write!(out, "{id}\t{id}\t{gene}\t{rev}\t{con}\t\t");
            let cells: Vec<String> = (0..p.n_samples())
                .map(|j| {
                    p.get(i, j)
                        .map(|v| format!("{}", v * factor))
                        .unwrap_or_else(|| "0".into())
                })
                .collect();
            let _ = writeln!(out, "{}\t{}", cells.join("\t"), cells.join("\t"));
        };
    for (i, id) in p.features().ids().iter().enumerate() {
        let gene = genes.and_then(|g| g[i].clone()).unwrap_or_default();
        row(&mut out, id, &gene, "", "", i, 1.0);
    }
    if p.n_features() >= 2 {
        row(&mut out, "REV__SIM0001", "", "+", "", 0, 0.01);
        row(&mut out, "REV__SIM0002", "", "+", "", 1, 0.01);
        row(&mut out, "CON__P02769", "ALB", "", "+", 0, 0.5);
        row(&mut out, "CON__P04264", "KRT1", "", "+", 1, 0.5);
    }
    out
}
