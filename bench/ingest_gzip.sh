#!/usr/bin/env bash
# Peak memory of `evomics ingest` on a gzip table of about 400 MB decompressed, against the
# matrices it fills (8-byte value + 1-byte flag per cell).
#
# The table is the peers' L proteome (10,000 proteins × 2,000 samples, 153 MB) with its rows
# written 2.6 times under new ids (26,000 × 2,000, ≈ 400 MB), gzip level 1. Needs the L cohort
# (bash bench/e2e.sh --no-peer --stages ingest L, or --data DIR holding proteins_lfq.tsv and
# samples.tsv). Prints the peak RSS (kernel high-water mark, via /usr/bin/time), the matrices'
# size and the difference; exits 1 when the difference exceeds 64 MiB.
#
# usage: bash bench/ingest_gzip.sh [--evomics BIN] [--data DIR] [--work DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
evomics="$here/../target/release/evomics"
data=/tmp/evomics-bench/data/L
work=/tmp/evomics-bench/ingest-gzip
while [ $# -gt 0 ]; do
  case "$1" in
    --evomics) evomics="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[ -x "$evomics" ] || { echo "no evomics binary at $evomics (cargo build --release -p evomics-cli, or --evomics BIN)" >&2; exit 2; }
[ -f "$data/proteins_lfq.tsv" ] || { echo "no $data/proteins_lfq.tsv: generate the L cohort first (bash bench/e2e.sh --no-peer --stages ingest L)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (Debian package 'time')" >&2; exit 2; }
mkdir -p "$work"
table="$work/proteins_400mb.tsv.gz"
if [ ! -f "$table" ]; then
  # copies 0 and 1 of every row, and copy 2 of the first 6,000: 26,000 rows
  awk 'NR == 1 { print; next } { row[NR] = $0 }
       END { for (c = 0; c < 3; c++) for (i = 2; i <= NR; i++) {
               if (c == 2 && i > 6001) break
               line = row[i]; sub(/\t/, "_c" c "\t", line); print line } }' \
    "$data/proteins_lfq.tsv" | gzip -1 > "$table.tmp"
  mv "$table.tmp" "$table"
fi
read -r rows cols decompressed < <(gzip -dc "$table" |
  LC_ALL=C awk -F'\t' 'NR == 1 { nf = NF } { b += length($0) + 1 } END { print NR - 1, nf - 1, b }')
rm -rf "$work/out"
/usr/bin/time -f "%M" -o "$work/rss_kib" "$evomics" ingest -s "$data/samples.tsv" \
  --layer "proteome=$table,scale=linear,zero=missing" -o "$work/out" --quiet
peak_kib=$(tail -1 "$work/rss_kib")
awk -v peak="$peak_kib" -v rows="$rows" -v cols="$cols" -v bytes="$decompressed" 'BEGIN {
  m = rows * cols * 9 / 1048576; p = peak / 1024
  printf "table: %d × %d, %.0f MB decompressed\n", rows, cols, bytes / 1e6
  printf "peak RSS %.1f MiB, matrices %.1f MiB, difference %.1f MiB (bound 64)\n", p, m, p - m
  exit (p - m > 64) ? 1 : 0 }'
