#!/usr/bin/env bash
# End-to-end benchmark: evomics and the Python peer on the peers' S/M/L cohorts, in the same run.
#
# Usage: bash bench/e2e.sh [options] SIZE…        SIZE is S, M or L (or NAME=FEATURES:SAMPLES)
#   --evomics BIN     the evomics binary (default $CARGO_TARGET_DIR/release/evomics, else
#                     target/release/evomics); build it with `cargo build --release -p evomics-cli`
#   --data DIR        where cohorts are generated / reused (default /tmp/evomics-bench/data)
#   --out DIR         results (default /tmp/evomics-bench/results)
#   --no-peer         skip the Python peer
#   --stages LIST     evomics stages to run, comma-separated (default all:
#                     ingest,normalize,diff_source,diff_block,diff_potency,cluster,train_enet,train_rf)
#   --timeout SEC     per command (default 3600)
#   --run             time the pipeline as one `evomics run` (bench/configs/e2e.toml: one process,
#                     both models cross-validated on shared folds) instead of one process per
#                     stage; with --stages as well, those stages are timed too
#
# Cohorts: python3 shared/peers/gen_synthetic.py --seed 20240601 --features P --samples S
# (S = 500 × 48, M = 5,000 × 300, L = 10,000 × 2,000; miRNAs = P/2), generated once per DIR.
# The evomics pipeline is the peer's: ingest (proteins_lfq.tsv, where 0 = not quantified as in
# MaxQuant, read with zero=missing; mirna_counts.tsv) → normalize
# (valid-70 by source, log2, median, MinProb down-shift; miRNA TMM log-CPM) → limma
# (~ 0 + source with 5 contrasts, also with --block donor_id; ~ 0 + potency_class) → PCA +
# k-means (k = 6) → 5-fold
# donor-grouped CV of elastic-net logistic and of a 500-tree random forest (preprocessing in
# the folds). Each stage is one `evomics` process under /usr/bin/time -v (wall seconds, peak
# RSS); the end-to-end time is their sum. With --run, the whole pipeline is one `evomics run`
# process (stage `run`), copied beside the cohort as e2e.toml. The peer runs `py_pipeline.py --no-inmoose` under
# /usr/bin/time -v right after, on the same machine.
#
# Writes OUT/results.tsv (size, tool, stage, wall_s, max_rss_mib, exit) — appended, one block
# per run with a run id — OUT/machine.txt, per-command logs in OUT/SIZE/, and prints the
# table of bench/report.py.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PEERS="${EVOMICS_PEERS:-$ROOT/../shared/peers}"

EVOMICS=""
DATA=/tmp/evomics-bench/data
OUT=/tmp/evomics-bench/results
PEER=1
ALL_STAGES="ingest,normalize,diff_source,diff_block,diff_potency,cluster,train_enet,train_rf"
STAGES=""
ONE_RUN=0
TIMEOUT=3600
SIZES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --evomics) EVOMICS="$2"; shift 2 ;;
    --data) DATA="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --no-peer) PEER=0; shift ;;
    --stages) STAGES="$2"; shift 2 ;;
    --run) ONE_RUN=1; shift ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,33p' "$0" | cut -c3-; exit 0 ;;
    -*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    *) SIZES+=("$1"); shift ;;
  esac
done
[ ${#SIZES[@]} -gt 0 ] || { sed -n '2,33p' "$0" | cut -c3-; exit 2; }
if [ -z "$STAGES" ]; then
  if [ "$ONE_RUN" = 1 ]; then STAGES="none"; else STAGES="$ALL_STAGES"; fi
fi
if [ -z "$EVOMICS" ]; then
  for c in "${CARGO_TARGET_DIR:-}/release/evomics" "$ROOT/target/release/evomics"; do
    [ -x "$c" ] && { EVOMICS="$c"; break; }
  done
fi
[ -x "$EVOMICS" ] || { echo "no evomics release binary; build it (cargo build --release -p evomics-cli) or pass --evomics BIN" >&2; exit 2; }
[ -f "$PEERS/gen_synthetic.py" ] || { echo "peers not found at $PEERS (set EVOMICS_PEERS)" >&2; exit 2; }
PY="$(bash "$HERE/setup.sh")"
mkdir -p "$DATA" "$OUT"
RESULTS="$OUT/results.tsv"
[ -f "$RESULTS" ] || printf 'run\tsize\ttool\tstage\twall_s\tmax_rss_mib\texit\n' > "$RESULTS"
RUN="$(date -u +%Y%m%dT%H%M%SZ)"

{
  echo "run $RUN"
  echo "nproc $(nproc)"
  grep -m1 'model name' /proc/cpuinfo
  grep -m1 MemTotal /proc/meminfo
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "evomics $("$EVOMICS" --version) ($EVOMICS)"
  "$PY" -c "import sys,numpy,pandas,scipy,sklearn;print('python',sys.version.split()[0],'numpy',numpy.__version__,'pandas',pandas.__version__,'scipy',scipy.__version__,'scikit-learn',sklearn.__version__)"
} > "$OUT/machine-$RUN.txt"
cp "$OUT/machine-$RUN.txt" "$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

dims() {
  case "$1" in
    S) echo "500 48" ;;
    M) echo "5000 300" ;;
    L) echo "10000 2000" ;;
    *=*:*) local d="${1#*=}"; echo "${d%%:*} ${d##*:}" ;;
    *) echo "unknown size $1 (S, M, L or NAME=FEATURES:SAMPLES)" >&2; return 1 ;;
  esac
}
name_of() { case "$1" in *=*) echo "${1%%=*}" ;; *) echo "$1" ;; esac; }

# timed SIZE TOOL STAGE CMD… : run under /usr/bin/time -v, append a results row
timed() {
  local size="$1" tool="$2" stage="$3"; shift 3
  local log="$OUT/$size/$tool.$stage"
  echo "== $size $tool $stage" >&2
  /usr/bin/time -v -o "$log.time" timeout "$TIMEOUT" "$@" > "$log.out" 2> "$log.err"
  local rc=$?
  local wall rss
  wall="$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; printf "%.2f", s}' "$log.time")"
  rss="$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$log.time")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$RUN" "$size" "$tool" "$stage" "${wall:-NA}" "${rss:-NA}" "$rc" >> "$RESULTS"
  echo "   ${wall:-NA} s, ${rss:-NA} MiB, exit $rc" >&2
  return $rc
}

want() { [[ ",$STAGES," == *",$1,"* ]]; }

for spec in "${SIZES[@]}"; do
  read -r NF NS < <(dims "$spec") || exit 2
  size="$(name_of "$spec")"
  D="$DATA/$size"
  W="$OUT/$size/work"
  mkdir -p "$OUT/$size"
  if [ ! -f "$D/gen_params.json" ]; then
    echo "== generating $size ($NF proteins × $NS samples) into $D" >&2
    "$PY" "$PEERS/gen_synthetic.py" --seed 20240601 --features "$NF" --samples "$NS" --out "$D" > "$OUT/$size/gen.log" || exit 1
  fi
  rm -rf "$W"; mkdir -p "$W/diff"
  E="$EVOMICS"
  want ingest && timed "$size" evomics ingest "$E" ingest -s "$D/samples.tsv" \
    --layer "proteome=$D/proteins_lfq.tsv,scale=linear,zero=missing" --layer "mirna=$D/mirna_counts.tsv,scale=counts" -o "$W/ingest"
  want normalize && timed "$size" evomics normalize "$E" normalize "$W/ingest" --config "$HERE/configs/normalize.toml" -o "$W/normalize"
  want diff_source && timed "$size" evomics diff_source "$E" diff "$W/normalize" --layer proteome --design "~ 0 + source" \
    --contrast "ADSC - BM_MSC" --contrast "UC_MSC - BM_MSC" --contrast "iMSC - BM_MSC" \
    --contrast "DPSC - BM_MSC" --contrast "SYN_MSC - BM_MSC" -o "$W/diff/source"
  want diff_block && timed "$size" evomics diff_block "$E" diff "$W/normalize" --layer proteome --design "~ 0 + source" \
    --contrast "ADSC - BM_MSC" --contrast "UC_MSC - BM_MSC" --contrast "iMSC - BM_MSC" \
    --contrast "DPSC - BM_MSC" --contrast "SYN_MSC - BM_MSC" --block donor_id -o "$W/diff/block"
  want diff_potency && timed "$size" evomics diff_potency "$E" diff "$W/normalize" --layer proteome \
    --design "~ 0 + potency_class" --contrast "high - low" -o "$W/diff/potency"
  want cluster && timed "$size" evomics cluster "$E" cluster "$W/normalize" --layer proteome --scale \
    --method kmeans --k 6 --gap-references 0 --by source,batch -o "$W/cluster"
  want train_enet && timed "$size" evomics train_enet "$E" train "$W/ingest" --config "$HERE/configs/train-enet.toml" --threads 2 -o "$W/train-enet"
  want train_rf && timed "$size" evomics train_rf "$E" train "$W/ingest" --config "$HERE/configs/train-rf.toml" --threads 2 -o "$W/train-rf"
  if [ "$ONE_RUN" = 1 ]; then
    cp "$HERE/configs/e2e.toml" "$D/e2e.toml"
    timed "$size" evomics run "$E" run "$D/e2e.toml" -o "$W/run" --threads 2
  fi
  if [ "$PEER" = 1 ]; then
    timed "$size" python total "$PY" "$PEERS/py_pipeline.py" --data "$D" --no-inmoose --json "$OUT/$size/py_results.json"
    # the peer's own per-step seconds, for the stage columns
    if [ -f "$OUT/$size/py_results.json" ]; then
      "$PY" - "$OUT/$size/py_results.json" "$RUN" "$size" >> "$RESULTS" <<'PYEOF'
import json, sys
t = json.load(open(sys.argv[1]))["timings"]
for k, v in t.items():
    if k != "total":
        print(f"{sys.argv[2]}\t{sys.argv[3]}\tpython\tstep:{k}\t{v:.2f}\tNA\t0")
PYEOF
    fi
  fi
done
"$PY" "$HERE/report.py" "$RESULTS" --run "$RUN" --data "$DATA"
