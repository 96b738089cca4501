#!/usr/bin/env bash
# Issue 23's GPU checks in one run, on a machine with a CUDA GPU, CuPy, torch and JAX (and no network): build the
# CPU kernel, install initreg without its dependencies (for its entry points), run every `-m gpu` test with JAX
# allowed onto the GPU, then time v4's GPU fills and models (benchmarks/v4_gpu.py). Logs go to $OUT (or
# /tmp/gpu_check). Exit status: pytest's.
#
# Packages the machine may lack travel as wheels in .whl/ (ignored by git). Prepare them here, once:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl "google-re2==1.1.20251105"
# then run this script there with .whl carried (the device tool: carry=[".whl"], about 6 minutes).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/gpu_check}
mkdir -p "$out"
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
{
  nvidia-smi -L
  if ls .whl/*.whl >/dev/null 2>&1; then
    $py -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  fi
  $py setup.py -q build_ext --inplace || echo "the CPU kernel did not build: the NumPy reference gives the CPU's bits"
  $py -m pip install -q --no-index --no-deps --no-build-isolation -e . || echo "pip install -e . failed"
  $py -c "import cupy, torch, jax, initreg.core.v4_backend as b; print('cupy', cupy.__version__, 'torch', torch.__version__, 'jax', jax.__version__, 'kernel', b.backend())"
} 2>&1 | tee "$out/setup.log"
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
mapfile -t files < <(grep -rl "mark.gpu" tests --include="test_*.py" | sort)
JAX_PLATFORMS=cuda,cpu timeout 420 $py -m pytest -m gpu -q -rs -p no:cacheprovider "${files[@]}" 2>&1 | tee "$out/pytest_gpu.log"
rc=${PIPESTATUS[0]}
timeout 120 $py benchmarks/v4_gpu.py 2>&1 | tee "$out/v4_gpu.md"
exit "$rc"
