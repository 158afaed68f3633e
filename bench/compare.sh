#!/usr/bin/env bash
# nn beside PyTorch (and, for W, the notebook's numpy style) on one standard workload: runs each
# system's benchmark in turns and prints the median epoch time, samples/s, inference samples/s and
# peak memory of each, and nn's ratios against PyTorch. The workloads are defined in
# docs/PERFORMANCE.md.
#
#   bench/compare.sh [--workload mlp|cnn|resnet] [--rounds N] [--epochs N] [--threads N]
#                    [--samples N] [--data-dir DIR | --synthetic]
#
#   --workload   mlp (W, the default; synthetic data), cnn (C) or resnet (R; real MNIST)
#   --rounds     runs of each system, taken in turns (default 3)
#   --epochs     timed epochs per run, after one warm-up epoch (default 5 for mlp, 2 otherwise)
#   --threads    threads of every system (default 2)
#   --samples    training samples per epoch (default 50000)
#   --data-dir   MNIST's four IDX files (default for cnn and resnet: $MNIST_DIR, else nn's
#                download cache data/MNIST); --synthetic uses random images instead
#
# Needs the Python environment of bench/setup.sh ($NN_BENCH_VENV, default ~/.cache/nn-bench/venv).
# Run it on an otherwise idle machine: a busy core slows PyTorch's threads far more than nn's.
set -euo pipefail
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$self")/.."
here=bench
venv=${NN_BENCH_VENV:-$HOME/.cache/nn-bench/venv}
workload=mlp rounds=3 epochs= threads=2 samples=50000 data_dir= synthetic=
while [ $# -gt 0 ]; do
  case $1 in
    --workload) workload=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --epochs) epochs=$2; shift ;;
    --threads) threads=$2; shift ;;
    --samples) samples=$2; shift ;;
    --data-dir) data_dir=$2; shift ;;
    --synthetic) synthetic=1 ;;
    -h | --help) sed -n '2,19p' "$self" | cut -c3-; exit 0 ;;
    *) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

case $workload in
  mlp) bench=bench_mlp; twins="torch_mlp numpy_mlp"; epochs=${epochs:-5} ;;
  cnn) bench=bench_cnn; twins="torch_cnn"; epochs=${epochs:-2} ;;
  resnet) bench=bench_resnet; twins="torch_resnet"; epochs=${epochs:-2} ;;
  *) echo "error: unknown workload '$workload': expected mlp, cnn or resnet" >&2; exit 2 ;;
esac
if [ ! -x "$venv/bin/python" ]; then
  echo "error: no Python environment at $venv; create it with bench/setup.sh" >&2
  exit 2
fi

# W runs on synthetic data unless a directory is given; C and R on real MNIST unless told not to.
if [ -z "$data_dir" ] && [ -z "$synthetic" ] && [ "$workload" != mlp ]; then
  data_dir=${MNIST_DIR:-data/MNIST}
fi
data_args=()
if [ -n "$data_dir" ]; then
  if ! ls "$data_dir"/train-images-idx3-ubyte* >/dev/null 2>&1; then
    echo "error: no MNIST in '$data_dir' (train-images-idx3-ubyte[.gz] and the three other IDX files)." >&2
    echo "Pass --data-dir DIR, set MNIST_DIR, let any example download MNIST into data/MNIST," >&2
    echo "or time random images with --synthetic." >&2
    exit 2
  fi
  data_args=(--data-dir "$data_dir")
fi

# The example's path from cargo itself, so that CARGO_TARGET_DIR and build.target-dir are honoured.
executable=$(cargo build --release --example "$bench" --message-format=json-render-diagnostics |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == sys.argv[1]:
        print(m["executable"])' "$bench")
[ -x "$executable" ] || { echo "error: cargo built no executable for example $bench" >&2; exit 1; }

export OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
flags=(--epochs "$epochs" --threads "$threads" --samples "$samples" "${data_args[@]}")
out=$(mktemp -d)
echo "workload $workload, ${data_dir:-synthetic data}, $rounds rounds of $epochs epochs, $threads threads;" \
  "$(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$rounds"); do
  for system in nn $twins; do
    if [ "$system" = nn ]; then cmd=("$executable"); else cmd=("$venv/bin/python" "$here/$system.py"); fi
    if ! /usr/bin/time -v -o "$out/$system.$round.time" "${cmd[@]}" "${flags[@]}" \
      >"$out/$system.$round.out" 2>"$out/$system.$round.err"; then
      echo "error: $system failed in round $round; see $out/$system.$round.err" >&2
      exit 1
    fi
  done
done

python3 - "$out" "$rounds" "$samples" nn $twins <<'PY'
import re, statistics, sys

out, rounds, samples, systems = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
rows = {}
for system in systems:
    epoch, infer, peak = [], [], []
    for r in range(1, rounds + 1):
        lines = [l for l in open(f"{out}/{system}.{r}.out") if l.startswith("median_epoch_s=")]
        if not lines:
            sys.exit(f"error: {system} printed no 'median_epoch_s=' line; see {out}/{system}.{r}.out")
        values = dict(kv.split("=") for kv in lines[-1].split())
        epoch.append(float(values["median_epoch_s"]))
        infer.append(float(values["infer_samples_per_s"]))
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(f"{out}/{system}.{r}.time").read())
        peak.append(int(rss.group(1)) / 1024)
    e = statistics.median(epoch)
    rows[system.split("_")[0]] = (e, samples / e, statistics.median(infer), max(peak))
print(f"{'system':8} {'epoch_s':>8} {'samples/s':>10} {'infer/s':>10} {'peak_MB':>8}")
for name, (e, s, i, m) in rows.items():
    print(f"{name:8} {e:8.3f} {s:10.0f} {i:10.0f} {m:8.1f}")
n, t = rows["nn"], rows["torch"]
print(f"ratio nn/torch: train_speed={n[1] / t[1]:.2f}x infer_speed={n[2] / t[2]:.2f}x peak_memory={n[3] / t[3]:.2f}x")
PY
echo "raw output: $out"
