#!/usr/bin/env bash
# Are evomics' outputs independent of the thread count? Runs the same pipeline twice, with one
# and with two threads, and compares every output file byte for byte.
#
# Usage: bash bench/threads.sh [--evomics BIN] [--config RUN.toml] [--keep DIR]
#   --evomics BIN    the binary (default $CARGO_TARGET_DIR/release/evomics, else debug, else
#                    target/{release,debug}/evomics)
#   --config FILE    the `evomics run` config (default workflows/demo.toml: ingest, qc,
#                    normalize, three limma analyses with blocking and voom-free counts, explore,
#                    cluster, report on test-data/sim-small)
#   --keep DIR       keep the two output trees in DIR (default: a temporary folder, removed)
#
# Threads are set three ways, as a user would: RAYON_NUM_THREADS (lmFit and the other rayon
# loops), `evomics train --threads` (permutation tests) and the random forest's `n_threads`
# (trees). After the run config, two models are trained on the ingested store: a random forest
# (50 trees, 19 permutations) and an elastic net (19 permutations).
#
# What is compared: every file under the two output folders, except the `run` entry of each
# manifest.json (command line and finishing time), and the `n_threads` value that the forest
# config itself sets (written into metrics.json, model.json and the manifest) with the hash of
# that config file in the manifest's inputs and the content hash of model.json (it covers the
# config). Both trees are written from different working directories with the same relative
# paths, so stored paths agree. Exit 0 when identical; 1 with the differing files listed otherwise.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
EVOMICS=""
CONFIG="$ROOT/workflows/demo.toml"
KEEP=""
while [ $# -gt 0 ]; do
  case "$1" in
    --evomics) EVOMICS="$2"; shift 2 ;;
    --config) CONFIG="$2"; shift 2 ;;
    --keep) KEEP="$2"; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0" | cut -c3-; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$EVOMICS" ]; then
  for c in "${CARGO_TARGET_DIR:-/nonexistent}/release/evomics" "${CARGO_TARGET_DIR:-/nonexistent}/debug/evomics" \
           "$ROOT/target/release/evomics" "$ROOT/target/debug/evomics"; do
    [ -x "$c" ] && { EVOMICS="$c"; break; }
  done
fi
[ -x "$EVOMICS" ] || { echo "no evomics binary found; pass --evomics BIN" >&2; exit 2; }
EVOMICS="$(cd "$(dirname "$EVOMICS")" && pwd)/$(basename "$EVOMICS")"
CONFIG="$(cd "$(dirname "$CONFIG")" && pwd)/$(basename "$CONFIG")"
if [ -n "$KEEP" ]; then WORK="$KEEP"; mkdir -p "$WORK"; else WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT; fi

forest() { # forest config with N threads
  cat <<EOF
target = "potency_class"
classes = ["low", "high"]
layers = ["proteome", "mirna"]
seed = 11
permutations = 19
learning_curve = [0.5, 1.0]
[preprocess.proteome]
filters = [{ method = "valid_values", column = "source", min_fraction = 0.7 }]
transform = { method = "log2" }
normalization = { method = "median" }
imputation = { method = "down_shift", width = 0.3, shift = 1.8, seed = 7 }
[preprocess.mirna]
transform = { method = "log_cpm", prior_count = 2.0, norm_factors = { method = "tmm" } }
[model]
model = "random_forest"
n_trees = 50
seed = 3
n_threads = $1
[cv]
scheme = "group_k_fold"
k = 5
group = "donor_id"
EOF
}

for n in 1 2; do
  d="$WORK/threads-$n"
  rm -rf "$d"; mkdir -p "$d"
  forest "$n" > "$d/forest.toml"
  sed -e 's/^model = "random_forest"/model = "elastic_net"/' -e '/^n_trees\|^seed = 3\|^n_threads/d' "$d/forest.toml" > "$d/enet.toml"
  start=$(date +%s.%N)
  (
    cd "$d"
    export RAYON_NUM_THREADS=$n
    "$EVOMICS" --quiet run "$CONFIG" -o out
    "$EVOMICS" --quiet train out/ingest --config forest.toml --threads "$n" -o out/train-rf
    "$EVOMICS" --quiet train out/ingest --config enet.toml --threads "$n" -o out/train-enet
  )
  echo "threads=$n: $(echo "$(date +%s.%N) - $start" | bc) s" >&2
done

python3 - "$WORK/threads-1/out" "$WORK/threads-2/out" <<'PY'
import json, os, re, sys

def files(root):
    out = {}
    for d, _, fs in os.walk(root):
        for f in fs:
            p = os.path.join(d, f)
            rel = os.path.relpath(p, root)
            b = open(p, "rb").read()
            if f == "manifest.json":
                m = json.loads(b)
                m.pop("run", None)
                # the forest configs differ in their n_threads line, so do their hashes
                for i in m.get("inputs", []):
                    if i.get("role") == "config":
                        i.pop("sha256", None)
                b = json.dumps(m, sort_keys=True).encode()
            masked = re.sub(rb'"n_threads":\s*\d+', b'"n_threads":N', b)
            if masked != b:
                # a model file's content hash covers its config, n_threads included
                masked = re.sub(rb'"content_sha256":\s*"[0-9a-f]*"', b'"content_sha256":H', masked)
            b = re.sub(rb'n_threads = \d+', b'n_threads = N', masked)
            out[rel] = b
    return out

a, b = files(sys.argv[1]), files(sys.argv[2])
diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
print(f"{len(a)} files with 1 thread, {len(b)} with 2; {len(diff)} differ")
for k in diff:
    why = "only with 1 thread" if k not in b else "only with 2 threads" if k not in a else "content differs"
    print(f"  {k}: {why}")
sys.exit(1 if diff else 0)
PY
