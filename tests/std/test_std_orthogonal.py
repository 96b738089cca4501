"""Orthogonal: W·Wᵀ = scale²·I (wide) or Wᵀ·W = scale²·I (tall), trailing dims flattened, in the parameter's dtype."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import initreg
from initreg.errors import AllocationError, InitializerArgumentError, ShapeError
from initreg.core.initializer import make_desc
from initreg.core.stream import Stream
from initreg.std import Orthogonal
from initreg.std.orthogonal import orthogonalize
from initreg.validation.expected import Orthogonal as OrthogonalProperty


def gram(w: np.ndarray) -> np.ndarray:
    m = w.reshape(w.shape[0], -1).astype(np.float64)
    return m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m


@pytest.mark.parametrize("rand_type", ["uniform", "normal"])
@pytest.mark.parametrize("shape", [(4, 6), (6, 4), (5, 5), (8, 3, 3, 3), (64, 2, 2, 2), (7,)])
def test_gram_is_scale_squared_identity(shape, rand_type):
    w = Orthogonal(rand_type=rand_type)(shape, seed=0)
    assert w.dtype == np.float32 and w.shape == shape
    k = min(shape[0], int(np.prod(shape[1:])))
    assert np.abs(gram(w) - 1.414 ** 2 * np.eye(k)).max() < 1e-5


def test_float64_is_exact_to_double_precision():
    w = Orthogonal(scale=0.5)((30, 50), "float64", seed=1)
    assert w.dtype == np.float64
    assert np.abs(gram(w) - 0.25 * np.eye(30)).max() < 1e-13


def test_float16_is_computed_in_float32_then_rounded():
    w = Orthogonal(scale=1.0)((8, 16), "float16", seed=2)
    assert w.dtype == np.float16
    assert np.abs(gram(w) - np.eye(8)).max() < 5e-3  # float16 has 11 significant bits


def test_sign_correction_makes_normal_draws_haar():
    # Without fixing signs (diag R > 0) QR's Q is biased; Haar first entries have mean 0 and var 1/n.
    firsts = np.array([Orthogonal(1.0, "normal")((4, 4), "float64", seed=s)[0, 0] for s in range(400)])
    assert abs(firsts.mean()) < 4 * 0.5 / np.sqrt(400)  # var 1/4 → se 0.025
    assert firsts.var() == pytest.approx(0.25, rel=0.3)


def test_reproducible_and_name_dependent():
    a = Orthogonal()((16, 32), seed=3, name="a")
    assert np.array_equal(a, Orthogonal()((16, 32), seed=3, name="a"))
    assert not np.allclose(a, Orthogonal()((16, 32), seed=3, name="b"))


def test_orthogonalize_works_in_place():
    m = np.random.default_rng(0).standard_normal((10, 40)).astype(np.float32)
    assert orthogonalize(m, 2.0) is m
    assert np.abs(m.astype(np.float64) @ m.T.astype(np.float64) - 4 * np.eye(10)).max() < 1e-5


def test_no_full_size_float64_temporaries():
    out = np.empty((2048, 512), np.float32)  # 4 MiB
    desc = make_desc("w", out.shape, "float32")
    Orthogonal().fill(desc, out, Stream(0, "w"))  # warm up LAPACK and scipy imports
    tracemalloc.start()
    try:
        Orthogonal().fill(desc, out, Stream(0, "w"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < out.nbytes / 2, f"peak {peak} bytes for a {out.nbytes}-byte parameter"


def test_parameter_path_and_expected():
    p = initreg.Parameter("lin.weight", shape=(3, 9))
    p.initialize(Orthogonal(2.0), seed=0)
    assert np.abs(gram(p.data()) - 4 * np.eye(3)).max() < 1e-5
    assert Orthogonal(2.0).expected(make_desc("w", (3, 9))) == OrthogonalProperty(2.0)


def test_errors():
    with pytest.raises(InitializerArgumentError, match="scale"):
        Orthogonal(scale=0)
    with pytest.raises(InitializerArgumentError, match="rand_type"):
        Orthogonal(rand_type="gaussian")
    with pytest.raises(ShapeError, match="'s'"):
        Orthogonal()((), name="s")


def test_a_region_of_an_orthogonal_too_large_for_memory_does_not_advise_regions():
    # orthogonal computes any region from the whole: the advice to compute by regions was what had just failed
    with pytest.raises(AllocationError, match="no region or shard fits either") as err:
        initreg.values("orthogonal", (2**20, 2**20), name="w", seed=0, dtype="float16", index=(0, slice(0, 8)))
    assert "values(..., index=)" not in str(err.value)


@pytest.mark.skipif(np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps, reason="longdouble is float64 here")
def test_longdouble_is_orthogonal_to_float64_precision():
    # it ran the QR in float32: W·Wᵀ off the diagonal by 3.6e-7 where float64 gives 1e-15
    w = initreg.values(Orthogonal(), (64, 64), name="w", seed=0, dtype=np.longdouble).astype(np.float64)
    gram = w @ w.T
    assert np.abs(gram - np.diag(np.diag(gram))).max() < 1e-13
    assert Orthogonal().tolerance(None, w.astype(np.longdouble)) < 1e-12
