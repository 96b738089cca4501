"""Load: values by parameter name from .npz and .safetensors, defaults, and errors naming file, name and shapes."""

from __future__ import annotations

import numpy as np
import pytest

import initreg
from initreg.checkpoints import files as checkpoint
from initreg.errors import (CheckpointKeyError, CheckpointNotFoundError, DTypeError, InitializationError,
                            InitializerArgumentError, ShapeError)
from initreg.core.initializer import make_desc
from initreg.std import Load, Normal, Zero
from initreg.validation.expected import Exact

W = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
B = np.array([0.5, -1.5, 2.5], dtype=np.float64)


@pytest.fixture(params=["npz", "safetensors"])
def ckpt(request, tmp_path):
    if request.param == "safetensors":
        pytest.importorskip("safetensors")
    return str(checkpoint.save(tmp_path / f"model.{request.param}", {"0.weight": W, "0.bias": B}))


def test_values_by_parameter_name(ckpt):
    d = initreg.ParameterDict([initreg.Parameter("0.weight", shape=(3, 4)), initreg.Parameter("0.bias", shape=(3,))])
    d.initialize(Load(ckpt), seed=0)
    assert np.array_equal(d["0.weight"].data(), W)
    assert np.array_equal(d["0.bias"].data(), B.astype(np.float32))  # cast to the parameter's dtype


def test_deterministic_whatever_the_seed(ckpt):
    assert np.array_equal(Load(ckpt)((3, 4), seed=1, name="0.weight"), Load(ckpt)((3, 4), seed=9, name="0.weight"))
    assert Load(ckpt).deterministic and not Load(ckpt, default=Normal()).deterministic


def test_missing_name_falls_back_to_default(ckpt):
    w = Load(ckpt, default="ones")((2, 2), name="1.weight")
    assert np.array_equal(w, np.ones((2, 2)))
    n = Load(ckpt, default=Normal(1.0))((1000,), seed=3, name="1.weight")
    assert np.array_equal(n, Normal(1.0)((1000,), seed=3, name="1.weight"))  # the default's own stream


def test_missing_name_without_default_names_file_and_name(ckpt):
    with pytest.raises(CheckpointKeyError) as info:
        Load(ckpt)((2, 2), name="1.weight")
    msg = str(info.value)
    assert ckpt in msg and "'1.weight'" in msg and "'0.weight'" in msg and "default=" in msg


def test_shape_mismatch_names_both_shapes(ckpt):
    with pytest.raises(ShapeError, match=r"\(3, 4\).*\(4, 3\)"):
        Load(ckpt)((4, 3), name="0.weight")


def test_failure_through_a_parameter_leaves_it_unchanged(ckpt):
    p = initreg.Parameter("0.weight", shape=(4, 3))
    with pytest.raises(InitializationError, match="shape"):
        p.initialize(Load(ckpt))
    assert p.state != "initialized"


def test_unsafe_dtype_conversion_refused(tmp_path):
    path = checkpoint.save(tmp_path / "f.npz", {"w": np.ones(3)})
    with pytest.raises(DTypeError, match="float64.*int32"):
        Load(str(path))((3,), "int32", name="w")


def test_missing_file_named_at_fill(tmp_path):
    init = Load(str(tmp_path / "later.npz"))  # may be created after the initializer
    with pytest.raises(CheckpointNotFoundError, match="later.npz"):
        init((2,), name="w")


def test_expected_is_exact_file_values_or_the_default(ckpt):
    exp = Load(ckpt).expected(make_desc("0.weight", (3, 4)))
    assert isinstance(exp, Exact) and np.array_equal(exp.values, W)
    assert np.all(Load(ckpt, default="zeros").expected(make_desc("x", (2,))).values == 0)


def test_config_round_trip(ckpt):
    for init in (Load(ckpt), Load(ckpt, default="zeros"), Load(ckpt, default=Normal(0.5))):
        assert initreg.create(init.dumps()) == init
    assert Load(ckpt, default="zeros") == Load(ckpt, default=Zero())
    assert '"default"' not in Load(ckpt).dumps()


@pytest.mark.parametrize("kwargs, arg", [({"path": 3}, "path"), ({"path": ""}, "path"),
                                         ({"path": "weights.pt"}, "path")])
def test_bad_arguments(kwargs, arg):
    with pytest.raises(InitializerArgumentError, match=arg):
        Load(**kwargs)


def test_bad_default():
    with pytest.raises(TypeError, match="default"):
        Load("w.npz", default=3.0)
