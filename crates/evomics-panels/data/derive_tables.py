#!/usr/bin/env python3
"""Derive the compact tables embedded in evomics-panels from the shared reference data.

Run from the workspace root (stdlib only):
    python3 crates/evomics-panels/data/derive_tables.py ../shared/data/real

Writes data/mirbase_v22_hsa_mature.tsv, data/misev2018_categories.tsv and
data/misev_marker_uniprot.tsv next to this script. The osteogenic panel file
(osteogenic_panels.tsv) is curated by hand from the review and is not generated here.
"""
import csv
import gzip
import hashlib
import io
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def read_text(path):
    if path.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8-sig") as f:
            return f.read()
    with open(path, encoding="utf-8-sig") as f:
        return f.read()


def mirbase(real):
    src = os.path.join(real, "reference-mirbase-hsa-v22", "hsa_mature_miRBase_v22.tsv")
    rows = list(csv.DictReader(open(src), delimiter="\t"))
    out = os.path.join(HERE, "mirbase_v22_hsa_mature.tsv")
    with open(out, "w") as f:
        f.write("# miRBase release 22 (2018-03-05, GRCh38) human mature miRNAs: name, MIMAT accession, precursor(s).\n")
        f.write("# source: shared/data/real/reference-mirbase-hsa-v22/hsa_mature_miRBase_v22.tsv\n")
        f.write(f"# source sha256: {sha256(src)}\n")
        f.write("# that file was made from the unmodified miRBase v22 hsa mature FASTA and GFF3 shipped in Debian optimir 1.2-1.\n")
        f.write("# derivation: keep columns name, mimat, precursor_acc, precursor_name (';'-joined when several loci);\n")
        f.write("# drop sequence, n_genomic_loci, arm; sort by name. Script: data/derive_tables.py. miRBase data are freely available (mirbase.org).\n")
        f.write(f"# rows: {len(rows)}\n")
        f.write("name\tmimat\tprecursor_acc\tprecursor_name\n")
        for r in sorted(rows, key=lambda r: r["name"]):
            f.write(f"{r['name']}\t{r['mimat']}\t{r['precursor_acc']}\t{r['precursor_name']}\n")
    print("wrote", out, len(rows))


# Corrections applied to the EVqualityMS transcription of MISEV2018 Table 3.
GENE_FIX = {
    "HLA-F MHC": ("HLA-F", "symbol and family were merged in the source row"),
    "HLA-E MHC": ("HLA-E", "symbol and family were merged in the source row"),
    "THY7": ("THY1", "source writes THY7 (no such HGNC symbol); CD90 is THY1"),
    "TGA2B": ("ITGA2B", "source writes TGA2B; CD41 is ITGA2B"),
    "ABCC7": ("CFTR", "ABCC7 is a previous symbol of CFTR"),
}
FAMILY_FIX = {
    ("HLA-F", "class I"): "MHC class I",
    ("HLA-E", "class I"): "MHC class I",
    ("KRT18", "Alpha-actinin-4"): "Keratin 18",
}
EXPAND = {
    "IL1": (["IL1A", "IL1B"], "source writes IL1 (a family, not a symbol); expanded to IL1A and IL1B"),
}
# Classes that MISEV2018 names as a whole and the source lists by one member only.
ADDED = [
    ("H2AC*", "4", "4a", "Histones", "nucleus", "added: MISEV2018 names histones as a class; prefix rule"),
    ("H2BC*", "4", "4a", "Histones", "nucleus", "added: MISEV2018 names histones as a class; prefix rule"),
    ("H3C*", "4", "4a", "Histones", "nucleus", "added: MISEV2018 names histones as a class; prefix rule"),
    ("H4C*", "4", "4a", "Histones", "nucleus", "added: MISEV2018 names histones as a class; prefix rule"),
    ("H1-*", "4", "4a", "Histones", "nucleus", "added: MISEV2018 names histones as a class; prefix rule"),
    ("HIST1H*", "4", "4a", "Histones", "nucleus", "added: pre-2020 histone symbols; prefix rule"),
    ("HIST2H*", "4", "4a", "Histones", "nucleus", "added: pre-2020 histone symbols; prefix rule"),
]


def misev(real):
    src = os.path.join(real, "reference-ev-markers-misev", "misev2018_protein_categories.tsv")
    rows = list(csv.DictReader(open(src), delimiter="\t"))
    seen = {}
    out_rows = []
    notes = []
    for r in rows:
        cat = r["Cat"].strip()
        gene = r["GN"].strip()
        fam = r["Des"].strip()
        comp = r["CatDes"].strip()
        m = re.match(r"^cat(\d)([a-z])$", cat)
        if not m:
            notes.append(f"skipped row without category: {gene}")
            continue
        curation = "as in source"
        genes = [gene]
        if gene in GENE_FIX:
            gene, why = GENE_FIX[gene]
            genes = [gene]
            curation = "corrected: " + why
        if gene in EXPAND:
            genes, why = EXPAND[gene]
            curation = "corrected: " + why
        fam = FAMILY_FIX.get((gene, fam), fam)
        if fam.startswith("class I") or fam == "":
            fam = fam or "-"
        for g in genes:
            if g in seen:
                notes.append(f"duplicate {g}: kept cat{seen[g]}, dropped {cat}")
                continue
            seen[g] = m.group(1) + m.group(2)
            out_rows.append((g, m.group(1), m.group(1) + m.group(2), fam or "-", comp, curation))
    for a in ADDED:
        out_rows.append(a)
    out = os.path.join(HERE, "misev2018_categories.tsv")
    with open(out, "w") as f:
        f.write("# MISEV2018 protein categories (Thery et al. 2018, J Extracell Vesicles 7:1535750, Table 3), gene level.\n")
        f.write("# MISEV2023 (Welsh et al. 2024, J Extracell Vesicles 13:e12404) keeps this scheme for protein-content characterisation.\n")
        f.write("# source: shared/data/real/reference-ev-markers-misev/misev2018_protein_categories.tsv\n")
        f.write("#   (EVqualityMS data/DFanno.rda, github.com/ruma1974/EVqualityMS commit 59da719003c11b02c56ea4bdd73892584b4bbc2b, MIT)\n")
        f.write(f"# source sha256: {sha256(src)}\n")
        f.write("# derivation: data/derive_tables.py; category = digit of Cat, subcategory = Cat without 'cat';\n")
        f.write("# symbol fixes, expansions, dropped duplicates and added prefix rules are stated in column 'curation'.\n")
        for n in notes:
            f.write(f"# note: {n}\n")
        f.write("gene\tcategory\tsubcategory\tfamily\tcompartment\tcuration\n")
        for r in out_rows:
            f.write("\t".join(r) + "\n")
    print("wrote", out, len(out_rows), notes)
    return [r[0] for r in out_rows if not r[0].endswith("*")]


def pairs_from_real(real):
    """(accession, entry_name, gene, file) for human proteins in the shared proteomics tables."""
    found = []
    p = os.path.join(real, "msc-sources-osteogenic-secretome-proteome", "secretome_fragpipe_combined_protein.tsv.gz")
    for r in csv.DictReader(io.StringIO(read_text(p)), delimiter="\t"):
        if r["Protein"].startswith("contam_") or not r["Entry Name"].endswith("_HUMAN"):
            continue
        found.append((r["Protein ID"], r["Entry Name"], r["Gene"], p))
    p = os.path.join(real, "format-fixtures-alphapeptstats", "fragpipe_combined_protein.tsv")
    for r in csv.DictReader(io.StringIO(read_text(p)), delimiter="\t"):
        if r["Entry Name"].endswith("_HUMAN") and ";" not in r["Gene Names"]:
            found.append((r["Protein ID"], r["Entry Name"], r["Gene Names"], p))
    p = os.path.join(real, "cardiac-msc-ev-hypoxia-proteomics", "pd_multiconsensus_human_CPC_MSC.csv.gz")
    for r in csv.DictReader(io.StringIO(read_text(p))):
        d = r["Description"]
        g = re.search(r" GN=(\S+)", d)
        if "OS=Homo sapiens" in d and g:
            found.append((r["Accession"], "", g.group(1), p))
    p = os.path.join(real, "format-fixtures-alphapeptstats", "maxquant_proteinGroups.txt.gz")
    for r in csv.DictReader(io.StringIO(read_text(p)), delimiter="\t"):
        for h in r["Fasta headers"].split(";"):
            m = re.match(r"^>?(?:sp|tr)\|([A-Z0-9-]+)\|(\S+_HUMAN) .* GN=(\S+)", h)
            if m:
                found.append((m.group(1), m.group(2), m.group(3), p))
    return found


def uniprot(real, genes):
    want = set(genes)
    found = pairs_from_real(real)
    best = {}
    for acc, entry, gene, path in found:
        if gene not in want or "-" in acc and not acc.startswith("HLA"):
            continue
        if re.match(r"^[A-Z0-9]+-\d+$", acc):
            continue  # isoform accession; the canonical entry is enough
        key = (gene, acc)
        cur = best.get(key)
        if cur is None:
            best[key] = [entry, {os.path.relpath(path, real)}]
        else:
            cur[0] = cur[0] or entry
            cur[1].add(os.path.relpath(path, real))
    # Only Swiss-Prot-style 6-character accessions of reviewed entries are kept: the entry name
    # tells reviewed (mnemonic) from unreviewed (accession_HUMAN); the PD table has no entry names.
    rows = []
    for (gene, acc), (entry, files) in sorted(best.items()):
        if entry and entry.startswith(acc + "_"):
            continue  # TrEMBL entry named by its accession
        if not entry:
            continue  # only Proteome Discoverer saw it: reviewed or not cannot be told
        rows.append((gene, acc, entry or "-", ",".join(sorted(files))))
    out = os.path.join(HERE, "misev_marker_uniprot.tsv")
    with open(out, "w") as f:
        f.write("# UniProt accession and entry name of MISEV marker genes, for tables without a gene column.\n")
        f.write("# derivation: data/derive_tables.py collects the (accession, entry name, gene) triples that human\n")
        f.write("# protein tables in shared/data/real report together (FragPipe Protein ID/Entry Name/Gene, MaxQuant\n")
        f.write("# Fasta headers GN=, Proteome Discoverer Description GN=), keeps MISEV marker genes, drops isoform and\n")
        f.write("# unreviewed (accession-named) entries and pairs without an entry name. Column seen_in names the tables.\n")
        f.write("# Markers never seen in these tables have no row: they are matched by gene symbol or entry-name mnemonic only.\n")
        f.write("gene\taccession\tentry_name\tseen_in\n")
        for r in rows:
            f.write("\t".join(r) + "\n")
    print("wrote", out, len(rows), "genes covered:", len({r[0] for r in rows}), "of", len(want))


if __name__ == "__main__":
    real = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/real"
    mirbase(real)
    genes = misev(real)
    uniprot(real, genes)
