"""The Initializer base class: construction-time validation, config, dumps, equality; Desc and fans."""

from __future__ import annotations

import json

import numpy as np
import pytest

import initreg
from initreg import Initializer, cpu, gpu
from initreg.errors import DeviceError, InitializationError, InitializerArgumentError, ShapeError
from initreg.core.fans import fans
from initreg.core.initializer import decode, encode, make_desc
from initreg.std import Constant, Normal, One, Uniform, Zero


@pytest.mark.parametrize("make", [lambda: Normal(sigma=-1), lambda: Normal(sigma=float("nan")),
                                  lambda: Normal(sigma="x"), lambda: Uniform(-1), lambda: Uniform(low=2, high=1),
                                  lambda: Uniform(low=1), lambda: Constant(float("inf")), lambda: Constant([1, np.nan])])
def test_bad_arguments_fail_at_construction(make):
    with pytest.raises(InitializerArgumentError) as info:
        make()
    assert isinstance(info.value, ValueError)


def test_config_and_dumps():
    n = Normal(sigma=0.01)
    assert n.dumps() == '["normal", {"sigma": 0.01}]'
    assert n.config() == {"sigma": 0.01, "mean": 0.0}
    assert Uniform(low=-1, high=2).dumps() == '["uniform", {"low": -1, "high": 2}]'
    assert Zero().dumps() == '["zero", {}]' and One().name == "one"
    c = Constant(np.arange(3.0))
    assert json.loads(c.dumps()) == ["constant", {"value": {"@array": [0.0, 1.0, 2.0], "dtype": "float64"}}]


def test_equality_and_hash():
    assert Normal(0.01) == Normal(sigma=0.01) == Normal()  # same full config
    assert Normal(0.02) != Normal(0.01)
    assert Uniform(0.07) != Normal(0.07)
    assert len({Normal(), Normal(sigma=0.01), Uniform()}) == 2
    assert Zero() != Constant(0.0)  # different types


def test_subclass_records_its_own_arguments():
    class Scaled(Normal):
        def __init__(self, k: float = 2.0, sigma: float = 1.0):
            super().__init__(sigma=sigma * k)
            self.k = k

    s = Scaled(3.0)
    assert s.name == "scaled" and s.config() == {"k": 3.0, "sigma": 1.0} and s.sigma == 3.0
    assert s.dumps() == '["scaled", {"k": 3.0}]'


def test_custom_initializer_with_no_arguments_and_explicit_name():
    class MyInit(Initializer):
        name = "mine"

        def fill(self, desc, out, rng):
            out[...] = desc.fan_in

    assert MyInit().config() == {} and MyInit().dumps() == '["mine", {}]'
    assert np.all(MyInit()((3, 7)) == 7)


def test_encode_decode_round_trip_with_nested_initializers():
    value = [(0.5, Uniform(low=1, high=2)), (0.5, Zero())]
    enc = encode(value)
    made = []

    def create(name, **kw):
        made.append(name)
        return {"uniform": Uniform, "zero": Zero}[name](**kw)

    assert decode(json.loads(json.dumps(enc)), create) == [[0.5, Uniform(low=1, high=2)], [0.5, Zero()]]
    assert made == ["uniform", "zero"]


def test_fill_must_be_implemented():
    class Nothing(Initializer):
        pass

    with pytest.raises(InitializationError, match="Nothing must implement fill"):  # checked like initialize()
        Nothing()((2,))


@pytest.mark.parametrize("shape,layout,expected", [
    ((64, 32, 3, 3), "OI", (32 * 9, 64 * 9)),
    ((3, 3, 32, 64), "HWIO", (32 * 9, 64 * 9)),
    ((10, 20), None, (20, 10)),
    ((20, 10), "IO", (20, 10)),
])
def test_fans(shape, layout, expected):
    assert fans(shape, layout) == expected
    d = make_desc("w", shape, layout=layout)
    assert (d.fan_in, d.fan_out) == expected


def test_fans_need_two_dims_and_known_layout():
    with pytest.raises(ShapeError, match="'b'"):
        fans((5,), name="b")
    with pytest.raises(ShapeError, match="layout"):
        fans((2, 2), "XY")
    assert make_desc("b", (5,)).fan_in is None


def test_devices():
    assert cpu() == cpu(0) != cpu(1) and repr(gpu(2)) == "gpu(2)"
    assert len({cpu(0), cpu(0), gpu(0)}) == 2
    assert cpu().xp is np
    with pytest.raises(DeviceError):
        initreg.Device("tpu")
    with pytest.raises(DeviceError):
        cpu(-1)
