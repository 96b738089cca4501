"""Parameter lifecycle: every state transition, every error (type, message, nothing changed)."""

from __future__ import annotations


import numpy as np
import pytest

import initreg
from initreg import Parameter, ParameterDict, cpu, gpu
from initreg.errors import (DeferredInitializationError, DeviceError, DeviceUnavailableError, DTypeError,
                            GradientError, InitializationError, InitregError, ParameterNotFoundError,
                            ParameterValueError, ReinitializationWarning, ShapeError, UninitializedError)
from initreg.parameters.parameter import complete_shapes
from initreg.core.shapes import all_finite as _all_finite
from initreg.std import Constant, Normal, One, Uniform, Zero


def snapshot(p: Parameter):
    """Everything observable about a parameter, deep-copied."""
    data = None if p._data is None else {d: a.copy() for d, a in p._data.items()}
    return (p.state, p.shape, p.dtype, p.list_devices(), p.record, data, p.grad_req)


def same(a, b) -> bool:
    if a[:5] != b[:5] or a[6] != b[6]:
        return False
    if (a[5] is None) != (b[5] is None):
        return False
    return a[5] is None or all(np.array_equal(a[5][d], b[5][d]) for d in a[5])


class Boom(initreg.Initializer):
    """Raises while filling."""

    def fill(self, desc, out, rng):
        out[...] = 3.0
        raise RuntimeError("boom")


class WritesNaN(initreg.Initializer):
    def fill(self, desc, out, rng):
        out[...] = 1.0
        out.reshape(-1)[-1] = np.nan


# --- states ---------------------------------------------------------------------------------------------

def test_declared_to_deferred_to_initialized():
    w = Parameter("weight", shape=(256, None))
    assert w.state == "declared" and w.role == "weight" and w.shape == (256, None)
    w.initialize(Normal(sigma=0.01), device=[cpu(0), cpu(1)], seed=7)
    assert w.state == "deferred"
    assert w.list_devices() == [cpu(0), cpu(1)]
    w.shape = (256, 20)
    assert w.state == "initialized" and w.shape == (256, 20)
    a, b = w.data(cpu(0)), w.data(cpu(1))
    assert a.shape == (256, 20) and a.dtype == np.float32
    assert np.array_equal(a, b) and a is not b  # identical copies, separate buffers
    assert 0.008 < a.std() < 0.012
    rec = w.record
    assert rec["seed"] == 7 and rec["initializer"] == "normal" and rec["config"]["sigma"] == 0.01
    assert rec["stream"]["name"] == "weight" and rec["initreg"] == initreg.__version__
    assert rec["source"] == "explicit"


def test_full_shape_goes_straight_to_initialized():
    p = Parameter("bias", shape=(5,))
    p.initialize(Constant(2.5))
    assert p.state == "initialized"
    assert np.all(p.data() == 2.5)


def test_shape_unknown_rank_completed_later():
    p = Parameter("x")
    p.initialize(One())
    assert p.state == "deferred"
    p.shape = (2, 3)
    assert p.state == "initialized" and np.all(p.data() == 1)


def test_shape_setter_fills_only_unknown_dims_without_init():
    p = Parameter("w", shape=(3, None, None))
    p.shape = (None, 4, None)
    assert p.shape == (3, 4, None) and p.state == "declared"
    p.shape = (3, 4, 5)
    assert p.shape == (3, 4, 5) and p.state == "declared"  # no initialize(): nothing drawn


def test_reinitialize_warns_and_changes_nothing():
    p = Parameter("w", shape=(4, 4))
    p.initialize(Uniform(), seed=1)
    before = snapshot(p)
    with pytest.warns(ReinitializationWarning, match="'w'.*force_reinit=True"):
        p.initialize(Constant(9), seed=2)
    assert same(before, snapshot(p))


def test_force_reinit_draws_again_and_same_seed_same_values():
    p = Parameter("w", shape=(4, 4))
    p.initialize(Uniform(), seed=1)
    first = p.data().copy()
    p.initialize(Constant(9), force_reinit=True)
    assert np.all(p.data() == 9)
    p.initialize(Uniform(), force_reinit=True, seed=1)
    assert np.array_equal(p.data(), first)


def test_deferred_initialize_again_replaces_the_request():
    p = Parameter("w", shape=(None, 2))
    p.initialize(Zero())
    p.initialize(One())
    p.shape = (3, 2)
    assert np.all(p.data() == 1)


def test_declared_init_used_when_no_init_given():
    p = Parameter("b", shape=(3,), init=One())
    p.initialize()
    assert np.all(p.data() == 1) and p.record["source"] == "declared"


def test_global_default_is_uniform_007():
    p = Parameter("w", shape=(200, 200))
    p.initialize(seed=3)
    v = p.data()
    assert p.record["source"] == "global default" and p.record["config"] == {"scale": 0.07, "low": None, "high": None}
    assert -0.07 <= v.min() and v.max() <= 0.07 and v.max() > 0.069


def test_no_seed_records_fresh_entropy_and_replays():
    initreg.seed(None)
    p = Parameter("w", shape=(64,))
    p.initialize(Normal(1.0))
    seed = p.record["seed"]
    assert isinstance(seed, int) and seed > 2**32  # fresh 128-bit entropy
    q = Parameter("w", shape=(64,))
    q.initialize(Normal(1.0), seed=seed)
    assert np.array_equal(p.data(), q.data())


def test_global_seed():
    try:
        initreg.seed(11)
        a = Parameter("w", shape=(8,)); a.initialize(Normal(1.0))
        b = Parameter("w", shape=(8,)); b.initialize(Normal(1.0))
        assert a.record["seed"] == 11 and np.array_equal(a.data(), b.data())
    finally:
        initreg.seed(None)


# --- errors: type, message names the parameter, nothing changed ----------------------------------------

def check_error(p, exc_type, builtin, fn, *match):
    before = snapshot(p)
    with pytest.raises(exc_type) as info:
        fn()
    assert isinstance(info.value, InitregError) and isinstance(info.value, builtin)
    msg = str(info.value)
    assert repr(p.name) in msg or p.name in msg
    for m in match:
        assert m in msg, msg
    assert same(before, snapshot(p))
    return msg


def test_data_while_declared():
    p = Parameter("enc.weight", shape=(2, 2))
    check_error(p, UninitializedError, RuntimeError, p.data, "initialize()")
    check_error(p, UninitializedError, RuntimeError, p.list_data)


def test_data_while_deferred():
    p = Parameter("weight", shape=(256, None))
    p.initialize(Normal())
    msg = check_error(p, DeferredInitializationError, RuntimeError, p.data, "forward pass")
    assert "[1]" in msg  # names the unknown dimension


def test_data_on_other_device_lists_devices():
    p = Parameter("w", shape=(2,))
    p.initialize(Zero(), device=[cpu(0), cpu(2)])
    check_error(p, DeviceError, ValueError, lambda: p.data(cpu(1)), "cpu(0), cpu(2)")


def test_no_deferral_allowed():
    p = Parameter("w", shape=(3, None), allow_deferred_init=False)
    check_error(p, ShapeError, ValueError, lambda: p.initialize(Zero()), "allow_deferred_init=False")


@pytest.mark.parametrize("new", [(3, 5), (4,), (4, 5, 6)])
def test_conflicting_shape(new):
    p = Parameter("w", shape=(4, None))
    p.initialize(Zero())
    check_error(p, ShapeError, ValueError, lambda: setattr(p, "shape", new), "never changes")


def test_shape_of_initialized_parameter_cannot_change():
    p = Parameter("w", shape=(2, 2))
    p.initialize(Zero())
    check_error(p, ShapeError, ValueError, lambda: setattr(p, "shape", (2, 3)))


def test_grad_with_null():
    p = Parameter("w", shape=(2,), grad_req="null")
    p.initialize(Zero())
    check_error(p, GradientError, RuntimeError, p.grad, "grad_req")


@pytest.mark.parametrize("kwargs,exc,builtin", [
    ({"grad_req": "sometimes"}, ParameterValueError, ValueError),
    ({"dtype": "str"}, DTypeError, TypeError),
    ({"dtype": "nonsense"}, DTypeError, TypeError),
    ({"shape": (2, -1)}, ShapeError, ValueError),
    ({"shape": (2, 1.5)}, ShapeError, ValueError),
    ({"shape": "ab"}, ShapeError, ValueError),
])
def test_invalid_constructor_arguments(kwargs, exc, builtin):
    with pytest.raises(exc) as info:
        Parameter("w7", **kwargs)
    assert isinstance(info.value, builtin) and "'w7'" in str(info.value)


def test_invalid_grad_req_assignment_changes_nothing():
    p = Parameter("w", shape=(2,))
    check_error(p, ParameterValueError, ValueError, lambda: setattr(p, "grad_req", "bogus"))


def test_set_data_wrong_shape():
    p = Parameter("w", shape=(2, 3))
    p.initialize(Zero())
    check_error(p, ShapeError, ValueError, lambda: p.set_data(np.ones((3, 2))), "(3, 2)")


def test_gpu_without_cupy_is_unavailable_before_any_change():
    if initreg.gpu_available(0):
        pytest.skip("a GPU is present")
    p = Parameter("w", shape=(2,))
    p.initialize(One())
    msg = check_error(p, DeviceUnavailableError, RuntimeError, lambda: p.reset_devices([gpu(0)]), "gpu(0)")
    assert "pip install" in msg
    q = Parameter("w2", shape=(2,))
    check_error(q, DeviceUnavailableError, RuntimeError, lambda: q.initialize(One(), device=gpu(0)), "cupy")


# --- atomic initialization ----------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [Boom(), WritesNaN()])
@pytest.mark.parametrize("start", ["declared", "initialized", "deferred"])
def test_failed_initializer_changes_nothing(bad, start):
    p = Parameter("layer.weight", shape=(3, 4) if start != "deferred" else (3, None))
    if start == "initialized":
        p.initialize(Constant(1.5), device=[cpu(0), cpu(1)])
    elif start == "deferred":
        p.initialize(bad)
    if start == "deferred":
        before = snapshot(p)
        with pytest.raises(InitializationError) as info:
            p.shape = (3, 4)
        assert same(before, snapshot(p)) and p.shape == (3, None)
    else:
        before = snapshot(p)
        with pytest.raises(InitializationError) as info:
            p.initialize(bad, force_reinit=True)
        assert same(before, snapshot(p))
    msg = str(info.value)
    assert "'layer.weight'" in msg and type(bad).__name__ in msg and "unchanged" in msg
    assert isinstance(info.value, RuntimeError)


def test_parameterdict_initialize_is_all_or_nothing():
    a = Parameter("a", shape=(2,))
    b = Parameter("b", shape=(2,), init=Boom())
    a.initialize(Constant(1.0))
    d = ParameterDict([a, b])
    before = (snapshot(a), snapshot(b))
    with pytest.raises(InitializationError, match="'b'"):
        d.initialize(Constant(7.0), force_reinit=True)
    assert same(before[0], snapshot(a)) and same(before[1], snapshot(b))


def test_complete_shapes_is_all_or_nothing():
    a = Parameter("a", shape=(None, 2)); a.initialize(One())
    b = Parameter("b", shape=(None,)); b.initialize(Boom())
    with pytest.raises(InitializationError):
        complete_shapes({a: (3, 2), b: (3,)})
    assert a.state == b.state == "deferred" and a.shape == (None, 2) and b.shape == (None,)


# --- values, gradients, devices, dtype --------------------------------------------------------------------

def test_set_data_copies_to_every_device_and_casts():
    p = Parameter("w", shape=(2, 2))
    p.initialize(Zero(), device=[cpu(0), cpu(1)])
    src = np.arange(4, dtype=np.float64).reshape(2, 2)
    p.set_data(src)
    src[0, 0] = 99  # later edits to the source do not leak in
    for arr in p.list_data():
        assert arr.dtype == np.float32 and arr.tolist() == [[0, 1], [2, 3]]
    assert p.list_data()[0] is not p.list_data()[1]


def test_set_data_completes_a_deferred_parameter():
    p = Parameter("w", shape=(None, 3))
    p.initialize(Normal(), device=cpu(0))
    p.set_data(np.ones((2, 3)))
    assert p.state == "initialized" and p.shape == (2, 3) and p.record["source"] == "set_data"


def test_set_data_on_declared_parameter_raises():
    p = Parameter("w", shape=(2,))
    check_error(p, UninitializedError, RuntimeError, lambda: p.set_data(np.ones(2)))


def test_grad_lifecycle():
    p = Parameter("w", shape=(2, 3))
    check_error(p, UninitializedError, RuntimeError, p.grad)
    p.initialize(One(), device=[cpu(0), cpu(1)])
    g = p.grad()
    assert g.shape == (2, 3) and not g.any() and len(p.list_grad()) == 2
    g += 5
    p.zero_grad()
    assert not p.grad().any()
    p.grad_req = "null"
    with pytest.raises(GradientError):
        p.list_grad()


def test_reset_devices_and_cast():
    p = Parameter("w", shape=(3,))
    p.initialize(Uniform(), seed=4)
    v = p.data().copy()
    p.reset_devices([cpu(1), cpu(2)])
    assert p.list_devices() == [cpu(1), cpu(2)] and np.array_equal(p.data(cpu(2)), v)
    with pytest.raises(DeviceError):
        p.data(cpu(0))
    p.cast("float64")
    assert p.dtype == np.float64 and p.data().dtype == np.float64 and np.allclose(p.data(), v)
    check_error(p, DTypeError, TypeError, lambda: p.cast("object"))


def test_reset_devices_before_initialization_moves_the_request():
    p = Parameter("w", shape=(None,))
    p.initialize(One())
    p.reset_devices(cpu(3))
    p.shape = (2,)
    assert p.list_devices() == [cpu(3)] and p.data(cpu(3)).tolist() == [1, 1]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_dtypes(dtype):
    p = Parameter("w", shape=(1000,), dtype=dtype)
    p.initialize(Normal(1.0), seed=0)
    assert p.data().dtype == np.dtype(dtype) and 0.9 < p.data().std() < 1.1


def test_role_from_name():
    assert [Parameter(n).role for n in ("0.weight", "bn.gamma", "x.beta", "running_mean", "bn.running_var",
                                         "foo", "conv1_bias")] == ["weight", "gamma", "beta", "running_mean",
                                                                   "running_var", None, "bias"]
    assert Parameter("foo", role="bias").role == "bias"


def test_repr_shows_unknown_dims_as_none():
    p = Parameter("w", shape=(256, None))
    assert repr(p) == "Parameter w (shape=(256, None), dtype=float32, state=declared)"


# --- ParameterDict -----------------------------------------------------------------------------------------

def make_dict():
    return ParameterDict([Parameter("0.weight", shape=(4, 3)), Parameter("0.bias", shape=(4,), init=Zero()),
                          Parameter("1.weight", shape=(2, None)), Parameter("1.bias", shape=(2,), init=Zero())])


def test_parameterdict_select_glob_and_regex():
    d = make_dict()
    assert list(d.select("*.bias")) == ["0.bias", "1.bias"]
    assert list(d.select("1.*")) == ["1.weight", "1.bias"]
    assert list(d.select("re:[01]\\.weight")) == ["0.weight", "1.weight"]
    with pytest.warns(initreg.EmptySelectionWarning):
        assert list(d.select("re:weight")) == []  # a regex must match the whole name
    with pytest.warns(initreg.EmptySelectionWarning):
        assert list(d.select("0.Weight")) == []  # case-sensitive


def test_parameterdict_initialize_default_below_declared():
    d = make_dict()
    d.initialize(One(), seed=0)
    assert np.all(d["0.weight"].data() == 1) and np.all(d["0.bias"].data() == 0)
    assert d["1.weight"].state == "deferred"
    assert d["0.weight"].record["source"] == "default" and d["0.bias"].record["source"] == "declared"
    d["1.weight"].shape = (2, 4)
    assert np.all(d["1.weight"].data() == 1)


def test_parameterdict_repr_and_lookup_error():
    d = make_dict()
    text = repr(d)
    assert "1.weight (shape=(2, None), dtype=float32, state=declared)" in text
    with pytest.raises(ParameterNotFoundError, match="0.weight") as info:
        d["0.weigth"]
    assert isinstance(info.value, KeyError)


def test_parameterdict_zero_grad_and_reset_devices():
    d = make_dict()
    d.initialize(One())
    d["0.weight"].grad()[...] = 1
    d.zero_grad()
    assert not d["0.weight"].grad().any()
    d.reset_devices([cpu(1)])
    assert d["0.bias"].list_devices() == [cpu(1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("size", [7, 1 << 16, (1 << 16) + 1, (1 << 20) + 5])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, None])
def test_finite_check_across_its_size_paths(dtype, size, bad):
    big = np.finfo(dtype).max / 2  # finite, but its square overflows the one-pass sum of squares
    arr = np.full(size, big, dtype=dtype)
    arr[::3] = 0.5
    if bad is not None:
        arr[size - 1 if size % 2 else size // 2] = bad
    assert _all_finite(np, arr) is (bad is None)


def test_an_unknown_keyword_of_initialize_is_an_initreg_error_and_nothing_changes():
    from initreg.errors import InitializerTypeError

    p = Parameter("w", shape=(2, 3))
    with pytest.raises(InitializerTypeError, match="unknown keyword argument.*'bogus'") as info:
        p.initialize("normal", seed=0, bogus=1)
    assert isinstance(info.value, TypeError) and p.state == "declared"
