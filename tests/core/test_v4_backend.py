"""v4_backend: keys, dtypes, errors, the lazy kernel and its one-warning fallback, threads on disjoint ranges,
and the header and the reference agreeing on every constant and on Philox4x32-10's published answers."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from initreg.core import v4_backend, v4_reference

HEADER = Path(v4_reference.__file__).with_name("v4.h")
KEY = v4_backend.key_words(1, "layer.weight")


def test_import_is_light() -> None:
    code = ("import sys; import initreg.core.v4_backend as b; "
            "print(sorted(m for m in ('scipy', 'initreg.core._v4kernel', 'initreg.core.v4_reference', 'cupy') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_key_words_are_seedsequence_words_of_the_name_and_tag_hashes() -> None:
    from hashlib import blake2b

    def h(s: str) -> int:
        return int.from_bytes(blake2b(s.encode(), digest_size=8).digest(), "little")

    want = np.random.SeedSequence(5, spawn_key=(h("w"), h("a"), h("b"))).generate_state(4, np.uint32)
    assert v4_backend.key_words(5, "w", ("a", "b")) == tuple(int(x) for x in want)
    assert v4_backend.key_words(5, "w", ["a", "b"]) == v4_backend.key_words(5, "w", ("a", "b"))
    assert v4_backend.key_words(5, "w") != v4_backend.key_words(6, "w") != v4_backend.key_words(5, "v")
    with pytest.raises(ValueError):
        v4_backend.key_words(-1, "w")


# Random123's known answers for Philox4x32-10 (kat_vectors): (counter, key) -> words
PHILOX_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("ctr,key,want", PHILOX_KAT)
def test_philox_matches_random123(ctr: tuple, key: tuple, want: tuple) -> None:
    j = np.array([ctr[0] | (ctr[1] << 32)], dtype=np.uint64)
    words = v4_reference.philox(j, (key[0], key[1], ctr[2], ctr[3]))
    assert tuple(int(w[0]) for w in words) == want
    if v4_backend.backend() == "compiled":
        from initreg.core import _v4kernel

        for impl in _v4kernel.philox_impls():
            out = np.empty(4, np.uint32)
            _v4kernel.philox((key[0], key[1], ctr[2], ctr[3]), int(j[0]), out, impl)
            assert tuple(int(w) for w in out) == want, impl


def _header_constants() -> dict[str, float]:
    text = HEADER.read_text()
    return {m.group(1): float.fromhex(m.group(2))
            for m in re.finditer(r"#define V4_([A-Z0-9_]+) (-?0x[0-9a-f.]+p[-+]?\d+)\b", text)}


def test_header_and_reference_have_the_same_constants() -> None:
    h = _header_constants()
    r = v4_reference
    single = {"LN2_HI": r.LN2_HI, "LN2_LO": r.LN2_LO, "INVLN2": r.INVLN2, "SH": r.SH, "SL": r.SL, "K2": r.K2,
              "SQRT1_2": r.SQRT1_2, "LN_SQRT_2PI": r.LN_SQRT_2PI, "FOURPI": r.FOURPI, "ERX": r.ERX}
    for i in range(1, 8):
        single[f"LG{i}"] = getattr(r, f"LG{i}")
    for i in range(1, 6):
        single[f"EP{i}"] = getattr(r, f"EP{i}")
    for i in range(1, 7):
        single[f"T{i}"], single[f"U{i}"] = getattr(r, f"T{i}"), getattr(r, f"U{i}")
    lists = {"PP": (r.PP, 0), "QQ": (r.QQ, 1), "PA": (r.PA, 0), "QA": (r.QA, 1), "RA": (r.RA, 0), "SA": (r.SA, 1),
             "RB": (r.RB, 0), "SB": (r.SB, 1), "A": (r.AS_A, 0), "B": (r.AS_B, 0), "C": (r.AS_C, 0),
             "D": (r.AS_D, 0), "E": (r.AS_E, 0), "F": (r.AS_F, 0)}
    for prefix, (values, first) in lists.items():
        for i, v in enumerate(values):
            name = f"{prefix}{i + first}"
            if name in ("B0", "D0", "F0"):  # the denominators' constant 1
                continue
            single[name] = v
    assert set(single) <= set(h), sorted(set(single) - set(h))
    for name, value in single.items():
        assert h[name] == value, name
    assert set(h) - set(single) == set(), sorted(set(h) - set(single))


def test_philox_multipliers_and_weyl_constants() -> None:
    text = HEADER.read_text()
    for name, value in (("M0", v4_reference.PHILOX_M0), ("M1", v4_reference.PHILOX_M1),
                        ("W0", v4_reference.PHILOX_W0), ("W1", v4_reference.PHILOX_W1)):
        assert re.search(rf"#define V4_PHILOX_{name} 0x{value:08X}u", text), name


# --- fills ------------------------------------------------------------------------------------------------------------

def test_dtypes_and_errors() -> None:
    for dt in ("float64", "float32", "float16"):
        a = np.empty(10, dt)
        v4_backend.fill("normal", KEY, 0, a, 0.0, 1.0)
    bf = np.empty(10, np.uint16)
    v4_backend.fill("uniform", KEY, 0, bf, 0.0, 1.0, bfloat16=True)
    f32 = np.empty(10, np.float32)
    v4_backend.fill("uniform", KEY, 0, f32, 0.0, 1.0)
    assert np.array_equal(bf, v4_reference.f32_to_bf16(f32))
    with pytest.raises(TypeError):
        v4_backend.fill("normal", KEY, 0, np.empty(4, np.int32), 0.0, 1.0)
    with pytest.raises(TypeError):
        v4_backend.fill("integers", KEY, 0, np.empty(4, bool), 0, 2)
    with pytest.raises(ValueError):
        v4_backend.fill("normal", KEY, 0, np.empty((4, 4))[:, ::2], 0.0, 1.0)
    with pytest.raises(ValueError):
        v4_backend.fill("normal", KEY, -1, np.empty(4), 0.0, 1.0)
    with pytest.raises(ValueError):
        v4_backend.fill("truncated_normal", KEY, 0, np.empty(4), 0.0, 1.0, 2.0, 1.0)
    with pytest.raises(ValueError):
        v4_backend.fill("integers", KEY, 0, np.empty(4, np.int64), 3, 3)
    with pytest.raises(ValueError):
        v4_backend.fill("poisson", KEY, 0, np.empty(4), 1.0)
    assert v4_backend.fill("normal", KEY, 0, np.empty(0), 0.0, 1.0).size == 0


def test_ml_dtypes_bfloat16_if_installed() -> None:
    ml = pytest.importorskip("ml_dtypes")
    a = np.empty(100, dtype=ml.bfloat16)
    v4_backend.fill("normal", KEY, 5, a, 0.0, 1.0)
    b = np.empty(100, np.uint16)
    v4_backend.fill("normal", KEY, 5, b, 0.0, 1.0, bfloat16=True)
    assert a.view(np.uint16).tobytes() == b.tobytes()


def test_half_conversions_round_to_nearest_even_like_numpy() -> None:
    rng = np.random.default_rng(3)
    bits = np.concatenate([rng.integers(0, 1 << 32, 2_000_000, dtype=np.uint64).astype(np.uint32),
                           np.arange(0x33000000, 0x33000000 + (1 << 21), 64, dtype=np.uint32),   # f16 subnormal edge
                           np.arange(0x387FF000, 0x38801000, dtype=np.uint32),                   # f16 normal edge
                           np.arange(0x477FE000, 0x47800100, dtype=np.uint32)])                  # f16 overflow edge
    x = bits.view(np.float32)
    finite = np.isfinite(x)
    with np.errstate(over="ignore"):
        want = x.astype(np.float16).view(np.uint16)
    got = v4_reference.f32_to_f16(x)
    assert np.array_equal(got[finite], want[finite])
    if v4_backend.backend() == "compiled":
        from initreg.core import _v4kernel

        out = np.empty(x.size, np.uint16)
        _v4kernel.elementary("f32_to_f16", x, out)
        assert np.array_equal(out, got)
        _v4kernel.elementary("f32_to_bf16", x, out)
        assert np.array_equal(out, v4_reference.f32_to_bf16(x))
    # bfloat16: round to nearest even on the top 16 bits
    u = bits[finite].astype(np.uint64)
    lower = u & 0xFFFF
    top = u >> 16
    up = (lower > 0x8000) | ((lower == 0x8000) & ((top & 1) == 1))
    assert np.array_equal(v4_reference.f32_to_bf16(x[finite]).astype(np.uint64), top + up)


def test_uniform_never_reaches_high_in_any_dtype() -> None:
    for kind in ("float64", "float32", "float16", "bfloat16"):
        for low, high in ((0.0, 1.0), (-1.0, 1.0), (0.0, 0.001), (5.0, 5.5), (-3.0, -2.0)):
            v = v4_reference.fill("uniform", KEY, 0, 20000, kind, low, high)
            if kind in ("float16", "bfloat16"):
                v = v4_reference.half_to_f32(v.view(np.uint16), kind)
                top = v4_reference.half_to_f32(v4_reference.to_half(np.float32([high]), kind), kind)[0]
            else:
                top = np.dtype(kind).type(high)
            assert v.max() < top, (kind, low, high)
            # and the clamp target itself rounds below high, the same in the compiled kernel
            c = v4_reference.uniform_clamp(low, high, kind)
            if v4_backend.backend() == "compiled":
                from initreg.core import _v4kernel

                assert _v4kernel.uniform_clamp(low, high, v4_reference.KINDS[kind]) == c
            if kind in ("float16", "bfloat16"):
                cv = v4_reference.half_to_f32(v4_reference.to_half(np.float32([c]), kind), kind)[0]
                assert cv < top


def test_threads_filling_halves_equal_one_fill() -> None:
    n = 1_000_003
    whole = np.empty(n, np.float32)
    v4_backend.fill("normal", KEY, 11, whole, 0.0, 1.0)
    parts = np.empty(n, np.float32)
    bounds = [0, 250_001, 500_002, 777_777, n]
    threads = [threading.Thread(target=v4_backend.fill, args=("normal", KEY, 11 + a, parts[a:b], 0.0, 1.0))
               for a, b in zip(bounds, bounds[1:])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert parts.tobytes() == whole.tobytes()


@pytest.mark.skipif(not hasattr(__import__("mmap"), "MAP_ANONYMOUS"), reason="needs POSIX anonymous mappings")
@pytest.mark.parametrize("fresh", [True, False], ids=["untouched pages", "touched pages"])
def test_a_fill_of_part_of_a_mapping_writes_its_range_only(fresh: bool) -> None:
    import mmap

    # the kernel maps a large output's whole pages before filling (MADV_POPULATE_WRITE): the bytes around an
    # unaligned range, on the pages it shares, must keep what they held; untouched pages read as zeros
    buf = mmap.mmap(-1, 3 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    raw = np.frombuffer(buf, np.uint8)
    if not fresh:
        raw[:] = 0xA5
    lo, n = 4096 * 7 + 12, 600_001  # float32 values from byte 28,684: neither end on a page boundary
    out = raw[lo:lo + 4 * n].view(np.float32)
    for op, params in (("uniform", (0.0, 1.0)), ("normal", (0.0, 1.0))):
        v4_backend.fill(op, KEY, 5, out, *params)
        assert out.tobytes() == v4_reference.fill(op, KEY, 5, n, "float32", *params).tobytes(), op
    outside = np.concatenate([raw[:lo], raw[lo + 4 * n:]])
    assert (outside == (0 if fresh else 0xA5)).all()
    del out, raw, outside
    buf.close()


def test_reference_backend_by_environment_and_missing_kernel_warns_once() -> None:
    code = textwrap.dedent("""
        import sys, warnings
        import numpy as np
        sys.modules["initreg.core._v4kernel"] = None  # as if the extension had not been built
        from initreg.core import v4_backend, v4_reference
        key = v4_backend.key_words(1, "w")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            a = np.empty(1000, np.float32)
            v4_backend.fill("normal", key, 3, a, 0.0, 1.0)
            v4_backend.fill("normal", key, 3, a, 0.0, 1.0)
        assert v4_backend.backend() == "reference"
        kinds = [type(w.message).__name__ for w in caught]
        assert kinds == ["KernelUnavailableWarning"], kinds
        assert issubclass(v4_backend.KernelUnavailableWarning, RuntimeWarning)
        assert a.tobytes() == v4_reference.fill("normal", key, 3, 1000, "float32", 0.0, 1.0).tobytes()
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
    code2 = ("import warnings; warnings.simplefilter('error'); from initreg.core import v4_backend as b; "
             "import numpy as np; b.fill('uniform', (1, 2, 3, 4), 0, np.empty(5), 0.0, 1.0); print(b.backend())")
    env = {**__import__("os").environ, "INITREG_V4_BACKEND": "reference"}
    out2 = subprocess.run([sys.executable, "-c", code2], capture_output=True, text=True, env=env)
    assert out2.returncode == 0 and out2.stdout.strip() == "reference", out2.stderr[-2000:]


def test_integers_cover_the_range_and_bernoulli_the_probability() -> None:
    v = np.empty(200_000, np.int64)
    v4_backend.fill("integers", KEY, 0, v, -3, 4)
    assert v.min() == -3 and v.max() == 3
    counts = np.bincount(v + 3)
    assert np.all(np.abs(counts - v.size / 7) < 5 * np.sqrt(v.size / 7))
    big = np.empty(1000, np.uint64)
    v4_backend.fill("integers", KEY, 0, big, 0, 1 << 64)
    assert big.max() > 1 << 62
    b = np.empty(200_000, bool)
    v4_backend.fill("bernoulli", KEY, 0, b, 0.25)
    assert abs(b.mean() - 0.25) < 5 * np.sqrt(0.25 * 0.75 / b.size)
    same = np.empty(10)
    v4_backend.fill("uniform", KEY, 0, same, 2.5, 2.5)  # a degenerate interval: no clamp below high
    assert (same == 2.5).all()
    for p, want in ((0.0, 0), (1.0, 1), (-1.0, 0), (2.0, 1)):
        c = np.empty(1000, np.int8)
        v4_backend.fill("bernoulli", KEY, 0, c, p)
        assert (c == want).all()


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_the_kernels_finite_scan_matches_numpy(dtype):
    # all_finite's small-array path: the kernel's scan of the exponent bits, once a fill has loaded the kernel
    from initreg.core.shapes import all_finite

    if v4_backend.backend() != "compiled":
        pytest.skip("the compiled kernel is not built here")
    scan = v4_backend.finite_scan()
    info = np.finfo(dtype)
    edge = np.array([0.0, -0.0, info.max, -info.max, info.tiny, info.smallest_subnormal, 1.0], dtype=dtype)
    for bad in (None, np.nan, np.inf, -np.inf):
        for where in (0, 3, 1000, 4095):
            arr = np.resize(edge, 4096)
            if bad is not None:
                arr[where] = bad
            assert scan(arr) is (bad is None) is bool(np.isfinite(arr).all())
            assert all_finite(np, arr) is (bad is None)
            strided = arr[::2]  # not contiguous: NumPy's path, same answer
            assert all_finite(np, strided) is bool(np.isfinite(strided).all())
    with pytest.raises(ValueError, match="float16, float32 or float64"):
        scan(np.zeros(4, np.int8))
