#!/usr/bin/env bash
# One fresh run of every benchmark, in a row, on a quiet machine; each one's output in $OUT_DIR/<name>.txt.
#   . .venv/bin/activate && pip install -e ".[bench]" && bash benchmarks/run_all.sh [OUT_DIR]
# (~40 min on 2 cores; docs/performance.md is written from one such run)
set -u
cd "$(dirname "$0")/.."
OUT_DIR=${1:-/tmp/bench-$(date +%s)}
mkdir -p "$OUT_DIR"
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
{
  uname -a; echo "nproc $(nproc)"; python --version
  python -c "import numpy, scipy, torch, jax; print('numpy', numpy.__version__, 'scipy', scipy.__version__, 'torch', torch.__version__, 'jax', jax.__version__)"
  grep -m1 'model name' /proc/cpuinfo; env | grep -E '^(OPENBLAS|OMP|MKL|INITREG)_' || true
} > "$OUT_DIR/machine.txt" 2>&1
run() {  # run NAME ARGS...: time one benchmark, keep its output
  local name=$1; shift
  local t0=$(date +%s)
  echo "$(date -u +%H:%M:%S) $name: $*"
  python "$@" > "$OUT_DIR/$name.txt" 2>&1
  local rc=$?
  echo "$(date -u +%H:%M:%S) $name: exit $rc, $(( $(date +%s) - t0 )) s"
}
run import_time benchmarks/import_time.py
run rules benchmarks/rules.py
run regions benchmarks/regions.py --repeats 7
run fill benchmarks/fill.py --repeats 7
run second_round benchmarks/second_round.py --repeats 5 --runs 5
run compare benchmarks/compare.py
run generator benchmarks/generator.py --draws 1e8
run deferred benchmarks/deferred.py
run forward_undo benchmarks/forward_undo.py
run validate benchmarks/validate.py --repeats 3
run torch_init benchmarks/torch_init.py --repeats 2
run torch_seed_checkpoint benchmarks/torch_seed_checkpoint.py
run jax_init benchmarks/jax_init.py
run init_checkpoint benchmarks/init_checkpoint.py
mkdir -p "$SCRATCH/ckpt" && run checkpoint_scale benchmarks/checkpoint_scale.py --dir "$SCRATCH/ckpt"
rm -rf "$SCRATCH/ckpt"
run kill_init benchmarks/kill_init.py --runs 10 --dir "$SCRATCH"
echo "outputs in $OUT_DIR"
