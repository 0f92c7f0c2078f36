#!/usr/bin/env python3
"""Summarise one evomics run folder (one cohort × config) as a long table.

Columns: cohort, config, stage, item, metric, value — one row per number, so that runs with
different stages and layers stack into one table (scripts/merge.py).

Snakemake calls it through `script:` (the `snakemake` object gives params.run, params.ingest,
params.labels and output[0]); by hand:

    python3 summarize.py RUN_DIR --cohort NAME --config NAME [--ingest STORE] -o summary.tsv

where RUN_DIR holds the stage folders (qc/, normalize/, diff/<name>/, explore/, cluster/,
train/) or is itself a train output folder. Standard library only.
"""

import argparse
import csv
import json
import math
import os
import sys

COLUMNS = ["cohort", "config", "stage", "item", "metric", "value"]


def fmt(v):
    if v is None:
        return "NA"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "NA"
        return repr(v)
    return str(v)


def contrast_slug(name):
    """The stem evomics gives a contrast's files after `contrast_` (evomics_stats file_stem):
    letters, digits, `_` and `-` kept, anything else `_`."""
    return "".join(c if (c.isascii() and c.isalnum()) or c in "_-" else "_" for c in name)


def read_json(path):
    with open(path) as fh:
        return json.load(fh)


def read_tsv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def ingest_rows(store):
    m = read_json(os.path.join(store, "manifest.json"))
    for layer in m.get("reports", {}).get("layers", []):
        name = layer.get("layer")
        cells = layer.get("cells", {})
        total = sum(cells.get(k, 0) for k in ("observed", "missing", "imputed", "below_detection"))
        yield "ingest", name, "features", layer.get("features")
        yield "ingest", name, "samples", layer.get("matching", {}).get("samples_matched")
        if total:
            yield "ingest", name, "missing_fraction", cells.get("missing", 0) / total


def qc_rows(d):
    s = read_json(os.path.join(d, "summary.json"))
    for name, layer in sorted(s.get("layers", {}).items()):
        yield "qc", name, "outliers", len(layer.get("outliers", []))
        purity = layer.get("purity")
        if purity:
            for verdict in ("pass", "warn", "fail"):
                yield "qc", name, f"purity_{verdict}", purity.get(verdict)
    dose = s.get("dose")
    if dose:
        yield "qc", "dose", "flagged", len(dose.get("flagged", []))


def normalize_rows(d):
    m = read_json(os.path.join(d, "manifest.json"))
    for name, layer in sorted(m.get("reports", {}).get("layers", {}).items()):
        yield "normalize", name, "features_in", layer.get("features_in")
        yield "normalize", name, "features_out", layer.get("features_out")
        imputed = sum(
            sum(x.get("count", 0) for x in step.get("imputed_per_sample", []))
            for step in layer.get("steps", [])
        )
        if imputed:
            yield "normalize", name, "imputed_cells", imputed


def diff_rows(d, analysis):
    m = read_json(os.path.join(d, "manifest.json"))
    settings = m.get("settings", {}).get("config", {})
    alpha = settings.get("significance", 0.05)
    limma = m.get("reports", {}).get("limma", {})
    yield "diff", analysis, "samples", limma.get("n_samples")
    if limma.get("block_correlation") is not None:
        yield "diff", analysis, "block_correlation", limma.get("block_correlation")
    for name, _expr in limma.get("contrasts", []):
        path = os.path.join(d, f"contrast_{contrast_slug(name)}.tsv")
        if not os.path.exists(path):
            continue
        rows = read_tsv(path)
        adj = [num(r.get("adj.P.Val")) for r in rows]
        yield "diff", f"{analysis}/{name}", "features", len(rows)
        yield "diff", f"{analysis}/{name}", f"adj_p_below_{alpha:g}", sum(
            1 for a in adj if a is not None and a < alpha
        )


def explore_rows(d):
    path = os.path.join(d, "variance_partition_summary.tsv")
    if os.path.exists(path):
        for r in read_tsv(path):
            yield "explore", f"variance_partition/{r['component']}", "median_share", num(r.get("median"))
            yield "explore", f"variance_partition/{r['component']}", "largest_for", int(num(r.get("n_largest")) or 0)


def cluster_rows(d):
    path = os.path.join(d, "agreement.tsv")
    seen = set()
    for r in read_tsv(path):
        method = r["method"]
        if method not in seen:
            seen.add(method)
            yield "cluster", method, "k", int(r["k"])
        yield "cluster", method, f"ARI_{r['column']}", num(r["ARI"])


def train_rows(d, stage="train"):
    m = read_json(os.path.join(d, "metrics.json"))
    model = m.get("final_model", {}).get("model", {}).get("model")
    yield stage, "model", "name", model
    yield stage, "model", "samples", m.get("n_samples")
    for s in m.get("summary", []):
        for key in ("fold_mean", "fold_sd", "pooled"):
            if key in s:
                yield stage, "cv", f"{s['name']}_{key}", s[key]
    p = m.get("permutation_test")
    if p:
        yield stage, "permutation", "p_value", p.get("p_value")
        yield stage, "permutation", "permutations", len(p.get("null", []))


def summarize(run, ingest=None):
    rows = []
    if ingest and os.path.isdir(ingest):
        rows += ingest_rows(ingest)
    if os.path.exists(os.path.join(run, "metrics.json")):
        # a train output folder (a `models:` entry)
        rows += train_rows(run)
        return rows
    if os.path.isdir(os.path.join(run, "qc")):
        rows += qc_rows(os.path.join(run, "qc"))
    if os.path.isdir(os.path.join(run, "normalize")):
        rows += normalize_rows(os.path.join(run, "normalize"))
    diff = os.path.join(run, "diff")
    if os.path.isdir(diff):
        for analysis in sorted(os.listdir(diff)):
            rows += diff_rows(os.path.join(diff, analysis), analysis)
    if os.path.isdir(os.path.join(run, "explore")):
        rows += explore_rows(os.path.join(run, "explore"))
    if os.path.isdir(os.path.join(run, "cluster")):
        rows += cluster_rows(os.path.join(run, "cluster"))
    if os.path.isdir(os.path.join(run, "train")):
        rows += train_rows(os.path.join(run, "train"))
    return rows


def write(rows, labels, out):
    tmp = out + ".tmp"
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(COLUMNS)
        for stage, item, metric, value in rows:
            w.writerow([labels["cohort"], labels["config"], stage, item, metric, fmt(value)])
    os.replace(tmp, out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="run folder (stage subfolders) or a train output folder")
    ap.add_argument("--cohort", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--ingest", help="the cohort's ingested store (default RUN/ingest)")
    ap.add_argument("-o", "--out", required=True)
    a = ap.parse_args(argv)
    ingest = a.ingest or os.path.join(a.run, "ingest")
    write(summarize(a.run, ingest), {"cohort": a.cohort, "config": a.config}, a.out)


if "snakemake" in globals():
    sm = globals()["snakemake"]
    write(summarize(sm.params.run, sm.params.ingest), sm.params.labels, sm.output[0])
elif __name__ == "__main__":
    sys.exit(main())
