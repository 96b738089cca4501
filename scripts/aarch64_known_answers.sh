#!/usr/bin/env bash
# The v4 known-answer test on aarch64 under qemu-user: the same hashes as on x86-64.
#
#   scripts/aarch64_known_answers.sh            (from anywhere; Debian/Ubuntu host, x86-64 or any non-arm64)
#
# Installs (apt, when run as root and a tool is missing): qemu-user-static, gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross, debootstrap. Prepares, under .cache/aarch64/ of the repository (AARCH64_CACHE to move it):
#   root/   an arm64 Debian root (debootstrap --foreign, then the downloaded .debs unpacked with dpkg -x):
#           python3.11 and its headers, libstdc++; no second stage, no binfmt_misc: qemu-aarch64-static -L root
#   site/   aarch64 wheels from PyPI (numpy, scipy, google-re2, pluggy, pytest), pip install --target
#   pkg/    a copy of initreg/ with the compiled kernel (initreg.core._v4kernel) cross-built for aarch64
# and checks, every one against the frozen files in tests/core/data/:
#   a. every kernel-level known-answer case (tests/core/test_v4_known_answers.py, v4_known_answers.json) in the
#      NumPy reference (v4_reference) on aarch64 NumPy, and through the cross-built Python extension
#   b. the kernel's C source as a standalone static program (cross-compiled, -O3 -ffp-contract=off) for
#      -march=armv8-a and -mcpu=neoverse-n1, run under qemu-aarch64-static -cpu max: every known-answer case;
#      and a control: built with -ffp-contract=fast (fmadd), the harness must NOT give the frozen bits
#   c. tests/core/catalog_bits.py (the whole catalog, catalog_bits_v4.json) with INITREG_V4_BACKEND=reference,
#      and with the cross-built extension
# Prints one PASS/FAIL line per check, a summary and the elapsed time; exits 1 on any mismatch or failed step.
# Re-runnable: a second run reuses root/ and site/ (the warm cache) and rebuilds pkg/ and the harness.
# Settings: AARCH64_CACHE, PYTHON (host Python with pip; default .venv/bin/python, else python3),
# AARCH64_STEP_TIMEOUT (seconds per step, default 1800), DEBIAN_MIRROR, DEBIAN_SUITE (default bookworm),
# AARCH64_PINS (the wheels; default the versions below).
set -euo pipefail

START=$(date +%s)
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${AARCH64_CACHE:-$REPO/.cache/aarch64}
STEP_TIMEOUT=${AARCH64_STEP_TIMEOUT:-1800}
SUITE=${DEBIAN_SUITE:-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PYVER=3.11
PINS=${AARCH64_PINS:-numpy==2.4.6 scipy==1.17.1 google-re2==1.1.20251105 pluggy==1.7.0 pytest==9.2.0}
HELPER=$REPO/scripts/aarch64_known_answers.py
if [[ -z ${PYTHON:-} ]]; then
    if [[ -x $REPO/.venv/bin/python ]]; then PYTHON=$REPO/.venv/bin/python; else PYTHON=python3; fi
fi

log() { printf '[aarch64 %4ds] %s\n' $(( $(date +%s) - START )) "$*" >&2; }
die() { log "FAIL: $*"; printf 'aarch64 known answers: FAIL (%s) in %ds\n' "$*" $(( $(date +%s) - START )); exit 1; }

# --- 1. host tools ------------------------------------------------------------------------------------------------
need=()
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v debootstrap >/dev/null || need+=(debootstrap)
if (( ${#need[@]} )); then
    [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null || die "missing ${need[*]} (install them, or run as root on Debian/Ubuntu)"
    log "apt-get install ${need[*]}"
    timeout "$STEP_TIMEOUT" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout "$STEP_TIMEOUT" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
"$PYTHON" -m pip --version >/dev/null 2>&1 || die "$PYTHON has no pip (set PYTHON to a Python with pip)"
mkdir -p "$CACHE"
ROOTFS=$CACHE/root
QEMU=(qemu-aarch64-static -cpu max)

# --- 2. the arm64 root ----------------------------------------------------------------------------------------------
if [[ ! -f $ROOTFS/.initreg-ready ]]; then
    log "debootstrap --foreign --arch=arm64 $SUITE (first run only)"
    rm -rf "$CACHE/root.tmp" "$ROOTFS"
    timeout "$STEP_TIMEOUT" debootstrap --arch=arm64 --foreign --variant=minbase \
        --include=python${PYVER}-minimal,libpython${PYVER}-stdlib,libpython${PYVER}-dev,libstdc++6,libgcc-s1 \
        "$SUITE" "$CACHE/root.tmp" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 || die "debootstrap (see $CACHE/debootstrap.log)"
    # the second stage would need binfmt_misc; unpacking the packages is all a python3 needs
    for deb in "$CACHE"/root.tmp/var/cache/apt/archives/*.deb; do dpkg -x "$deb" "$CACHE/root.tmp"; done
    rm -f "$CACHE"/root.tmp/var/cache/apt/archives/*.deb
    mv "$CACHE/root.tmp" "$ROOTFS"
    touch "$ROOTFS/.initreg-ready"
fi
PY=("${QEMU[@]}" -L "$ROOTFS" "$ROOTFS/usr/bin/python$PYVER")
[[ $("${PY[@]}" -c 'import platform; print(platform.machine())') == aarch64 ]] || die "the arm64 python does not run"

# --- 3. aarch64 wheels ----------------------------------------------------------------------------------------------
SITE=$CACHE/site
if [[ ! -f $SITE/.initreg-ready || $(cat "$SITE/.initreg-ready") != "$PINS" ]]; then
    log "pip download + install --target (aarch64 wheels: $PINS)"
    plat=(--platform manylinux2014_aarch64)
    for m in $(seq 17 36); do plat+=(--platform "manylinux_2_${m}_aarch64"); done
    tags=(--only-binary=:all: "${plat[@]}" --python-version "$PYVER" --implementation cp --abi "cp${PYVER/./}")
    rm -rf "$CACHE/wheels" "$SITE"
    # shellcheck disable=SC2086
    timeout "$STEP_TIMEOUT" "$PYTHON" -m pip download -q "${tags[@]}" -d "$CACHE/wheels" $PINS 2>"$CACHE/pip.log" \
        || die "pip download (see $CACHE/pip.log)"
    timeout "$STEP_TIMEOUT" "$PYTHON" -m pip install -q --no-deps "${tags[@]}" --target "$SITE" "$CACHE"/wheels/*.whl \
        2>>"$CACHE/pip.log" || die "pip install --target (see $CACHE/pip.log)"
    printf '%s' "$PINS" >"$SITE/.initreg-ready"
fi

# --- 4. initreg on aarch64: entry points by hand, the extension cross-built into a copy -----------------------------
META=$CACHE/meta PKG=$CACHE/pkg
rm -rf "$META" "$PKG"
mkdir -p "$META/initreg-0.0.0.dist-info" "$META/initreg_structured-0.0.0.dist-info" "$PKG"
printf 'Metadata-Version: 2.1\nName: initreg\nVersion: 0.0.0\n' >"$META/initreg-0.0.0.dist-info/METADATA"
printf '[initreg]\nstd = initreg.std.plugin\ntorch = initreg.torch.plugin\n' >"$META/initreg-0.0.0.dist-info/entry_points.txt"
printf 'Metadata-Version: 2.1\nName: initreg-structured\nVersion: 0.0.0\n' >"$META/initreg_structured-0.0.0.dist-info/METADATA"
printf '[initreg]\nstructured = initreg_structured.plugin\n' >"$META/initreg_structured-0.0.0.dist-info/entry_points.txt"
tar -C "$REPO" --exclude=__pycache__ --exclude='*.so' -cf - initreg | tar -C "$PKG" -xf -
CFLAGS=(-O3 -ffp-contract=off -fno-fast-math -fno-unsafe-math-optimizations -fno-math-errno)  # as setup.py
log "cross-build initreg.core._v4kernel for aarch64"
aarch64-linux-gnu-gcc "${CFLAGS[@]}" -fPIC -shared -I"$ROOTFS/usr/include/python$PYVER" \
    -idirafter "$ROOTFS/usr/include" "$REPO/initreg/core/_v4kernel.c" \
    -o "$PKG/initreg/core/_v4kernel.cpython-${PYVER/./}-aarch64-linux-gnu.so" || die "cross-build of the extension"
PATH_SRC=$META:$REPO:$REPO/plugins/initreg-structured:$SITE   # initreg from the source tree, NumPy reference
PATH_PKG=$META:$PKG:$REPO/plugins/initreg-structured:$SITE    # initreg with the aarch64 extension
export PYTHONNOUSERSITE=1 PYTHONDONTWRITEBYTECODE=1 OPENBLAS_NUM_THREADS=1
unset PYTHONHOME

# --- 5. the checks ---------------------------------------------------------------------------------------------------
RESULTS=()
FAILED=0
record() {  # record NAME RC OUTPUT
    local line; line=$(printf '%s\n' "$3" | grep '^{' | tail -1 || true)
    if [[ $2 == 0 ]]; then RESULTS+=("PASS  $1  $line"); else RESULTS+=("FAIL  $1 (exit $2)  ${line:-$(printf '%s' "$3" | tail -5)}"); FAILED=1; fi
    log "${RESULTS[-1]:0:220}"
}
run_py() {  # run_py NAME PYTHONPATH [ENV=VAL...] -- ARGS...
    local name=$1 pp=$2; shift 2; local envs=()
    while [[ $1 != -- ]]; do envs+=("$1"); shift; done; shift
    local out rc=0
    out=$(env "${envs[@]}" PYTHONPATH="$pp" timeout "$STEP_TIMEOUT" "${PY[@]}" "$HELPER" "$@" 2>&1) || rc=$?
    record "$name" "$rc" "$out"
}

log "a. kernel-level known answers, NumPy reference on aarch64 NumPy"
run_py "a  kernel cases, v4_reference (aarch64 NumPy)" "$PATH_SRC" INITREG_V4_BACKEND=reference -- kernel-cases reference
log "a. kernel-level known answers, the cross-built extension"
run_py "a' kernel cases, _v4kernel extension (aarch64)" "$PATH_PKG" INITREG_V4_BACKEND= -- kernel-cases compiled

BUILD=$CACHE/harness
rm -rf "$BUILD"; mkdir -p "$BUILD"
PYTHONPATH=$PATH_SRC INITREG_V4_BACKEND=reference timeout "$STEP_TIMEOUT" "${PY[@]}" "$HELPER" harness-source \
    "$BUILD/harness.c" || die "harness source"
# -O3 autovectorizes with Advanced SIMD (NEON) in both; -march=armv8.2-a+sve is not among them: Debian 12's
# GCC 12.2 stops with an internal compiler error (expand_insn, optabs.cc:8029) on v4_sel at -O2 and -O3
for variant in "-march=armv8-a" "-mcpu=neoverse-n1"; do
    log "b. standalone C harness, $variant, under qemu"
    exe=$BUILD/harness${variant//[^a-z0-9.]/_}
    rc=0
    out=$(aarch64-linux-gnu-gcc "${CFLAGS[@]}" -static "$variant" -I"$REPO/initreg/core" "$BUILD/harness.c" \
          -o "$exe" 2>&1) || rc=$?
    if [[ $rc == 0 ]]; then
        mkdir -p "$BUILD/out"; rm -f "$BUILD"/out/*.bin
        out=$(timeout "$STEP_TIMEOUT" "${QEMU[@]}" "$exe" "$BUILD/out" 2>&1) || rc=$?
    fi
    if [[ $rc == 0 ]]; then
        out=$("$PYTHON" "$HELPER" check-harness "$BUILD/out" "$BUILD/harness.cases.json" "$variant" 2>&1) || rc=$?
    fi
    record "b  C harness $variant (static, -O3 -ffp-contract=off)" "$rc" "$out"
    rm -f "$BUILD"/out/*.bin
done

# control: the same harness with GCC's default for GNU C on aarch64 (-ffp-contract=fast: a*b+c fused into fmadd)
# must give other bits, or this check could not tell a difference (when written: 67 of the 619 cases differed)
log "b. control: the harness with -ffp-contract=fast must differ"
rc=0
out=$(aarch64-linux-gnu-gcc -O3 -ffp-contract=fast -fno-math-errno -static -march=armv8-a -I"$REPO/initreg/core" \
      "$BUILD/harness.c" -o "$BUILD/harness-fma" 2>&1) || rc=$?
if [[ $rc == 0 ]]; then
    mkdir -p "$BUILD/out"; rm -f "$BUILD"/out/*.bin
    out=$(timeout "$STEP_TIMEOUT" "${QEMU[@]}" "$BUILD/harness-fma" "$BUILD/out" 2>&1) || rc=$?
fi
if [[ $rc == 0 ]]; then
    if out=$("$PYTHON" "$HELPER" check-harness "$BUILD/out" "$BUILD/harness.cases.json" "fma-control" 2>&1); then
        rc=1; out="the fused build gave the frozen bits: the check cannot see an FMA $out"
    fi
fi
record "b  control: -ffp-contract=fast gives other bits (expected)" "$rc" "$out"
rm -f "$BUILD"/out/*.bin

log "c. whole-catalog hashes (tests/core/catalog_bits.py)"
run_py "c  catalog, INITREG_V4_BACKEND=reference" "$PATH_SRC" INITREG_V4_BACKEND=reference -- catalog
run_py "c' catalog, _v4kernel extension (aarch64)" "$PATH_PKG" INITREG_V4_BACKEND= -- catalog

# --- 6. summary -------------------------------------------------------------------------------------------------------
ELAPSED=$(( $(date +%s) - START ))
echo "aarch64 known answers (qemu-user, $(qemu-aarch64-static --version | head -1)):"
printf '  %s\n' "${RESULTS[@]}"
if (( FAILED )); then
    printf 'aarch64 known answers: FAIL in %ds\n' "$ELAPSED"; exit 1
fi
printf 'aarch64 known answers: PASS (%d checks) in %ds\n' "${#RESULTS[@]}" "$ELAPSED"
