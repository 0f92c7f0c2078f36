#!/usr/bin/env python3
"""Stack per-cohort summary tables (scripts/summarize.py) into one table.

Snakemake calls it through `script:` (inputs → output[0]); by hand:

    python3 merge.py OUT.tsv SUMMARY.tsv [SUMMARY.tsv …]

Rows keep the input order (Snakemake passes cohorts in table order, configs in config order);
every input must have the same header. Standard library only.
"""

import os
import sys


def merge(inputs, out):
    header = None
    lines = []
    for path in inputs:
        with open(path) as fh:
            head = fh.readline()
            if header is None:
                header = head
            elif head != header:
                raise SystemExit(f"{path}: header {head.strip()!r} differs from {header.strip()!r}")
            lines.extend(l if l.endswith("\n") else l + "\n" for l in fh if l.strip())
    tmp = out + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(header or "cohort\tconfig\tstage\titem\tmetric\tvalue\n")
        fh.writelines(lines)
    os.replace(tmp, out)


if "snakemake" in globals():
    sm = globals()["snakemake"]
    merge(list(sm.input), sm.output[0])
elif __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    merge(sys.argv[2:], sys.argv[1])
