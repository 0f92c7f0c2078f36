#!/usr/bin/env python3
"""Tables of a bench/e2e.sh run: evomics stages, end-to-end, the Python peer, ratios, targets.

Usage: python3 bench/report.py OUT/results.tsv [--run RUN] [--data DATADIR]

--run picks one run of the (appended) results file; default: the last run. --data lets the
dense matrix size be read from each cohort's gen_params.json (features, mirnas, samples).
Prints Markdown. Standard library only.
"""

import argparse
import csv
import json
import os
from collections import defaultdict

STAGES = ["ingest", "normalize", "diff_source", "diff_potency", "cluster", "train_enet", "train_rf"]
# stages timed beside the peer's pipeline but not part of it (not in the end-to-end sum)
EXTRA_STAGES = ["diff_block"]
SIZE_ORDER = {"S": 0, "M": 1, "L": 2}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("--run")
    ap.add_argument("--data")
    a = ap.parse_args()
    rows = list(csv.DictReader(open(a.results), delimiter="\t"))
    run = a.run or rows[-1]["run"]
    rows = [r for r in rows if r["run"] == run]
    by = defaultdict(dict)
    for r in rows:
        by[r["size"]][(r["tool"], r["stage"])] = r
    sizes = sorted(by, key=lambda s: (SIZE_ORDER.get(s, 9), s))

    def wall(size, tool, stage):
        r = by[size].get((tool, stage))
        if r is None or r["wall_s"] == "NA":
            return None
        return float(r["wall_s"])

    def rss(size, tool, stage):
        r = by[size].get((tool, stage))
        if r is None or r["max_rss_mib"] == "NA":
            return None
        return float(r["max_rss_mib"])

    def failed(size, tool, stage):
        r = by[size].get((tool, stage))
        return r is not None and r["exit"] != "0"

    f = lambda x, d=2: "–" if x is None else f"{x:.{d}f}"
    print(f"run {run}\n")
    print("Wall seconds per stage (peak RSS MiB in brackets); each evomics stage is one process.\n")
    print("| stage | " + " | ".join(sizes) + " |")
    print("|---|" + "---:|" * len(sizes))
    for st in STAGES:
        cells = []
        for s in sizes:
            w, m = wall(s, "evomics", st), rss(s, "evomics", st)
            cell = "not run" if w is None else f"{w:.2f} [{m:.0f}]"
            if failed(s, "evomics", st):
                cell += " (failed)"
            cells.append(cell)
        print(f"| evomics {st} | " + " | ".join(cells) + " |")
    for st in EXTRA_STAGES:
        if not any(wall(s, "evomics", st) is not None for s in sizes):
            continue
        cells = []
        for s in sizes:
            w, m = wall(s, "evomics", st), rss(s, "evomics", st)
            cell = "not run" if w is None else f"{w:.2f} [{m:.0f}]"
            if failed(s, "evomics", st):
                cell += " (failed)"
            cells.append(cell)
        print(f"| evomics {st} (not in the sum) | " + " | ".join(cells) + " |")
    totals, peaks = {}, {}
    for s in sizes:
        ws = [wall(s, "evomics", st) for st in STAGES]
        totals[s] = sum(ws) if all(w is not None for w in ws) else None
        ms = [rss(s, "evomics", st) for st in STAGES if rss(s, "evomics", st) is not None]
        peaks[s] = max(ms) if ms else None
    print("| **evomics end-to-end (sum)** | " + " | ".join(f(totals[s]) for s in sizes) + " |")
    print("| evomics peak RSS MiB (max over stages) | " + " | ".join(f(peaks[s], 0) for s in sizes) + " |")
    print("| **Python peer total** | " + " | ".join(
        (f"{wall(s, 'python', 'total'):.2f} [{rss(s, 'python', 'total'):.0f}]" if wall(s, "python", "total") is not None else "not run")
        for s in sizes) + " |")
    ratio = []
    for s in sizes:
        p, e = wall(s, "python", "total"), totals[s]
        ratio.append(f"{p / e:.1f}×" if p and e else "–")
    print("| **Python / evomics (wall)** | " + " | ".join(ratio) + " |")
    if any(wall(s, "evomics", "run") is not None for s in sizes):
        # bench/e2e.sh --run: the whole pipeline as one `evomics run` process
        cells, ratio = [], []
        for s in sizes:
            w, m = wall(s, "evomics", "run"), rss(s, "evomics", "run")
            cell = "not run" if w is None else f"{w:.2f} [{m:.0f}]"
            if failed(s, "evomics", "run"):
                cell += " (failed)"
            cells.append(cell)
            p = wall(s, "python", "total")
            ratio.append(f"{p / w:.1f}×" if p and w and not failed(s, "evomics", "run") else "–")
            peaks[s] = max(x for x in (peaks[s], m) if x is not None) if m is not None else peaks[s]
        print("| **evomics run (one process)** | " + " | ".join(cells) + " |")
        print("| **Python / evomics run (wall)** | " + " | ".join(ratio) + " |")
    steps = sorted({st for s in sizes for (t, st) in by[s] if t == "python" and st.startswith("step:")})
    if steps:
        print("\nPython peer's own step timings (seconds, from its JSON):\n")
        print("| step | " + " | ".join(sizes) + " |")
        print("|---|" + "---:|" * len(sizes))
        for st in steps:
            print(f"| {st[5:]} | " + " | ".join(f(wall(s, 'python', st)) for s in sizes) + " |")
    if a.data:
        print("\nMemory against the dense matrices (f64 values of both layers):\n")
        print("| size | proteins × samples + miRNAs | dense MB | evomics peak RSS MiB | ratio |")
        print("|---|---|---:|---:|---:|")
        for s in sizes:
            p = os.path.join(a.data, s, "gen_params.json")
            if not os.path.exists(p):
                continue
            g = json.load(open(p))
            dense = (g["features"] + g["mirnas"]) * g["samples"] * 8 / 1e6
            pk = peaks[s]
            print(f"| {s} | {g['features']} × {g['samples']} + {g['mirnas']} | {dense:.1f} | {f(pk, 0)} | "
                  + (f"{pk * 1.048576 / dense:.2f}×" if pk else "–") + " |")


if __name__ == "__main__":
    main()
