"""The initreg-structured plugin (plugins/initreg-structured), as installed: Sparse,
DeltaOrthogonal, Identity. (The entry-point path is tested with the registry.)"""

from __future__ import annotations


import numpy as np
import pytest

import initreg
from initreg.errors import InitializationError, InitializerArgumentError, ShapeError
from initreg.core.initializer import make_desc

# Installed by the README's test command (pip install ./plugins/initreg-structured), as a user would.
initreg_structured = pytest.importorskip("initreg_structured", reason="pip install ./plugins/initreg-structured")
from initreg_structured import DeltaOrthogonal, Identity, Sparse  # noqa: E402
from initreg_structured import plugin as structured_plugin  # noqa: E402
from initreg.validation.expected import Embedded, Exact, Orthogonal  # noqa: E402
from initreg.validation.expected import Sparse as SparseProperty  # noqa: E402


@pytest.fixture
def registered():
    """The plugin registered for one test (unless pip already installed it through its entry point)."""
    from initreg.plugins import registry

    installed = any(p.name == "structured" and p.status == "active" for p in registry.plugins())
    if not installed:
        initreg.register_plugin(structured_plugin, name="structured-checkout")
    yield
    if not installed:
        initreg.unregister_plugin("structured-checkout")


# --- Sparse ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, sparsity, zeros", [((10, 50), 0.3, 3), ((200, 40), 0.9, 180), ((8, 4, 3, 3), 0.25, 2),
                                                    ((5, 6), 0.5, 3), ((64, 2000), 0.1, 6)])
def test_sparse_exact_zeros_per_column(shape, sparsity, zeros):
    # round half up: 0.5·5 = 2.5 → 3; 0.1·64 = 6.4 → 6
    w = Sparse(sparsity, sigma=1.0)(shape, seed=0).reshape(shape[0], -1)
    assert np.all(np.count_nonzero(w == 0, axis=0) == zeros)


def test_sparse_nonzeros_are_normal_and_positions_uniform():
    w = Sparse(0.5, sigma=0.1)((100, 4000), "float64", seed=1)
    nz = w[w != 0]
    assert nz.std() == pytest.approx(0.1, rel=0.02)  # 200,000 values: se 0.16 %
    # each row is zero in about half its columns: Binomial(4000, 1/2), sd 31.6; 5 sd = 158
    per_row = np.count_nonzero(w == 0, axis=1)
    assert np.all(np.abs(per_row - 2000) < 158)


def test_sparse_edges_and_reproducibility():
    assert np.count_nonzero(Sparse(0.0, 1.0)((6, 7), seed=2) == 0) == 0
    assert np.all(Sparse(1.0)((6, 7), seed=2) == 0)
    assert np.array_equal(Sparse()((30, 30), seed=3), Sparse()((30, 30), seed=3))


def test_sparse_expected():
    exp = Sparse(0.3, 0.5).expected(make_desc("w", (10, 50)))
    assert isinstance(exp, SparseProperty) and exp.nonzeros == 7 and exp.axis == 0
    assert exp.dist.std() == pytest.approx(0.5)


# --- DeltaOrthogonal ------------------------------------------------------------------------------

def test_delta_orthogonal_centre_tall_and_zeros_elsewhere():
    w = DeltaOrthogonal(2.0)((16, 8, 3, 3), "float64", seed=4)
    centre = w[:, :, 1, 1].copy()
    assert np.allclose(centre.T @ centre, 4 * np.eye(8))  # out ≥ in: orthonormal columns, norms preserved
    w[:, :, 1, 1] = 0
    assert np.all(w == 0)


def test_delta_orthogonal_wide_even_kernel_and_io_layout():
    w = DeltaOrthogonal()((4, 8, 4, 2), seed=5)  # centre = (k // 2) = (2, 1)
    c = w[:, :, 2, 1].astype(np.float64)
    assert np.abs(c @ c.T - np.eye(4)).max() < 1e-5
    assert np.count_nonzero(w) == np.count_nonzero(c)
    w = DeltaOrthogonal()((3, 3, 8, 16), seed=6, layout="IO")  # (k, k, in, out)
    c = w[1, 1].astype(np.float64)  # (in, out) = (8, 16): orthonormal rows
    assert np.abs(c @ c.T - np.eye(8)).max() < 1e-5


def test_delta_orthogonal_expected_and_shape_error():
    exp = DeltaOrthogonal(1.5).expected(make_desc("w", (8, 8, 3, 3)))
    assert isinstance(exp, Embedded) and exp.index[2:] == (1, 1) and exp.inner == Orthogonal(1.5) and exp.rest == 0
    with pytest.raises(ShapeError, match="'fc.weight'"):
        DeltaOrthogonal()((8, 8), name="fc.weight")


# --- Identity -------------------------------------------------------------------------------------

def test_identity_2d_rectangular_eye():
    assert np.array_equal(Identity()((3, 5)), np.eye(3, 5, dtype=np.float32))
    assert np.array_equal(Identity(0.5)((4, 2), "float64"), 0.5 * np.eye(4, 2))


def conv2d_same(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """A plain 'same' cross-correlation (N=1): x (C_in, H, W), w (C_out, C_in, k, k) with odd k."""
    k = w.shape[-1]
    p = k // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p)))
    out = np.zeros((w.shape[0],) + x.shape[1:])
    for i in range(k):
        for j in range(k):
            out += np.einsum("oc,chw->ohw", w[:, :, i, j], xp[:, i:i + x.shape[1], j:j + x.shape[2]])
    return out


def test_identity_dirac_convolution_is_the_identity_map():
    x = np.random.default_rng(0).standard_normal((4, 6, 7))
    w = Identity()((4, 4, 3, 3), "float64")
    assert np.allclose(conv2d_same(x, w), x)
    w = Identity(2.0)((6, 4, 5, 5), "float64")  # more outputs: the extra channels are 0
    y = conv2d_same(x, w)
    assert np.allclose(y[:4], 2 * x) and np.all(y[4:] == 0)


def test_identity_io_layout_and_expected():
    w = Identity()((3, 3, 4, 4), layout="IO")
    assert np.array_equal(w[1, 1], np.eye(4)) and np.count_nonzero(w) == 4
    exp = Identity(3.0).expected(make_desc("w", (2, 3)))
    assert isinstance(exp, Exact) and np.array_equal(exp.values, 3 * np.eye(2, 3))
    with pytest.raises(ShapeError, match="'b'"):
        Identity()((5,), name="b")


@pytest.mark.parametrize("scale, dtype, message", [(0.5, "int8", "non-integer values for dtype int8"),  # once all 0
                                                   (300, "int8", "300.*outside the range of int8"),
                                                   (1e5, "float16", "too large for float16")])
def test_identity_scale_the_dtype_cannot_hold_is_refused(scale, dtype, message):
    with pytest.raises(InitializationError, match=f"Identity scale got .*{message}"):
        initreg.values(Identity(scale), (4, 4), name="w", seed=0, dtype=dtype)


# --- shared: arguments, config, registry ------------------------------------------------------------

@pytest.mark.parametrize("make, arg", [
    (lambda: Sparse(1.5), "sparsity"), (lambda: Sparse(-0.1), "sparsity"), (lambda: Sparse(0.1, 0), "sigma"),
    (lambda: DeltaOrthogonal(0), "scale"), (lambda: DeltaOrthogonal("1"), "scale"),
    (lambda: Identity(float("nan")), "scale"),
])
def test_bad_arguments_rejected(make, arg):
    with pytest.raises(InitializerArgumentError, match=arg):
        make()


@pytest.mark.parametrize("cls", [Sparse, DeltaOrthogonal, Identity])
def test_docstrings_state_formulas(cls):
    assert "Formula" in cls.__doc__


@pytest.mark.parametrize("init", [Sparse(), Sparse(0.9, 0.5), DeltaOrthogonal(), DeltaOrthogonal(2.0),
                                  Identity(), Identity(0.5)], ids=repr)
def test_config_round_trip_through_the_registry(init, registered):
    assert type(init)(**init.config()) == init
    assert initreg.create(init.dumps()) == init


def test_names_and_aliases_through_the_registry(registered):
    assert initreg.create("sparse", sparsity=0.9) == Sparse(0.9)
    assert isinstance(initreg.create("delta_orthogonal"), DeltaOrthogonal)
    assert isinstance(initreg.create("dirac"), Identity) and isinstance(initreg.create("eye"), Identity)


def test_hookimpl_uses_the_initreg_project_marker():
    impl = structured_plugin.initreg_register_initializers
    assert hasattr(impl, "initreg_impl")
    assert initreg_structured.__all__ == ["DeltaOrthogonal", "Identity", "Sparse"]
