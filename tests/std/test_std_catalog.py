"""Whole-catalog checks: every class in initreg.std.__all__ round-trips its config, rejects bad arguments,
documents its formula, declares what it promises, and fills a real Parameter."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

import initreg
import initreg.std as std
from initreg.errors import InitregError
from initreg.core.initializer import Initializer, make_desc

EXAMPLES = {  # at least one non-default configuration of every class
    "Zero": [std.Zero()], "One": [std.One()],
    "Constant": [std.Constant(0.3), std.Constant([1.0, -1.0])],
    "Uniform": [std.Uniform(), std.Uniform(0.2), std.Uniform(low=-1, high=3)],
    "Normal": [std.Normal(), std.Normal(2.0, mean=1.0)],
    "TruncatedNormal": [std.TruncatedNormal(), std.TruncatedNormal(1.0, 0.5, -1.0, 3.0)],
    "Xavier": [std.Xavier(), std.Xavier("gaussian", "in", 2.0)],
    "MSRAPrelu": [std.MSRAPrelu(), std.MSRAPrelu("out", 0.1)],
    "VarianceScaling": [std.VarianceScaling(), std.VarianceScaling(2.0, "fan_avg", "uniform")],
    "GlorotUniform": [std.GlorotUniform()], "GlorotNormal": [std.GlorotNormal()],
    "HeUniform": [std.HeUniform()], "HeNormal": [std.HeNormal()],
    "LecunUniform": [std.LecunUniform()], "LecunNormal": [std.LecunNormal()],
    "Orthogonal": [std.Orthogonal(), std.Orthogonal(1.0, "normal")],
    "Bilinear": [std.Bilinear()],
    "LSTMBias": [std.LSTMBias(), std.LSTMBias(2.0)],
    "Mixture": [std.Mixture([(0.25, std.Uniform(low=5, high=10)), (0.5, std.Zero()),
                             (0.25, std.Uniform(low=-10, high=-5))])],
    "Load": [std.Load("weights.npz"), std.Load("weights.safetensors", default="xavier")],
}

BAD = {  # at least one rejected constructor call per class (classes without arguments reject any)
    "Zero": lambda: std.Zero(1.0), "One": lambda: std.One(2.0),
    "Constant": lambda: std.Constant(float("nan")), "Uniform": lambda: std.Uniform(-0.1),
    "Normal": lambda: std.Normal(-1.0), "TruncatedNormal": lambda: std.TruncatedNormal(a=1.0, b=-1.0),
    "Xavier": lambda: std.Xavier(magnitude=-3), "MSRAPrelu": lambda: std.MSRAPrelu(slope=float("inf")),
    "VarianceScaling": lambda: std.VarianceScaling(mode="avg"),
    "GlorotUniform": lambda: std.GlorotUniform(scale=2), "GlorotNormal": lambda: std.GlorotNormal(1),
    "HeUniform": lambda: std.HeUniform(1), "HeNormal": lambda: std.HeNormal(1),
    "LecunUniform": lambda: std.LecunUniform(1), "LecunNormal": lambda: std.LecunNormal(1),
    "Orthogonal": lambda: std.Orthogonal(-1.0), "Bilinear": lambda: std.Bilinear(2),
    "LSTMBias": lambda: std.LSTMBias(None), "Mixture": lambda: std.Mixture([(0.7, std.Zero())]),
    "Load": lambda: std.Load("weights.pkl"),
}

ALL = [x for name in std.__all__ for x in EXAMPLES[name]]


def shape_for(init: Initializer) -> tuple[int, ...]:
    return {std.LSTMBias: (64,), std.Bilinear: (4, 1, 4, 4)}.get(type(init), (48, 16, 3, 2))


def test_tables_cover_every_class_and_all_lists_every_initializer():
    classes = {n for n in dir(std) if isinstance(getattr(std, n), type) and issubclass(getattr(std, n), Initializer)}
    assert classes == set(std.__all__)
    assert set(EXAMPLES) == set(BAD) == set(std.__all__)


@pytest.mark.parametrize("init", ALL, ids=repr)
def test_config_round_trip(init):
    assert type(init)(**init.config()) == init
    assert initreg.create(init.dumps()) == init


@pytest.mark.parametrize("name", std.__all__)
def test_every_name_and_alias_creates_its_class(name):
    cls = getattr(std, name)
    for key in (cls.name, cls.__name__, *vars(cls)["aliases"]):
        if cls in (std.Mixture, std.Load):  # no defaults for the required argument
            with pytest.raises(TypeError, match="components|path"):
                initreg.create(key)
        else:
            assert type(initreg.create(key)) is cls, key


@pytest.mark.parametrize("name", std.__all__)
def test_bad_constructor_arguments_rejected(name):
    with pytest.raises((InitregError, TypeError)) as info:
        BAD[name]()
    assert isinstance(info.value, (ValueError, TypeError))


@pytest.mark.parametrize("name", std.__all__)
def test_docstring_states_the_formula_and_aliases_are_own(name):
    cls = getattr(std, name)
    assert "Formula" in (cls.__doc__ or ""), f"{name} docstring lacks its formula"
    assert "aliases" in vars(cls), f"{name} must declare its own aliases (inherited ones would clash)"


@pytest.mark.parametrize("init", [x for x in ALL if not isinstance(x, std.Load)], ids=repr)
def test_fills_a_parameter_and_declares_what_it_promises(init):
    shape = shape_for(init)
    p = initreg.Parameter("block.weight", shape=shape)
    p.initialize(init, seed=11)
    values = p.data()
    assert values.shape == shape and values.dtype == np.float32
    assert init.expected(make_desc("block.weight", shape)) is not None


@pytest.mark.parametrize("init", [x for x in ALL if isinstance(x, (std.Uniform, std.Normal, std.TruncatedNormal,
                                                                   std.Xavier, std.VarianceScaling))], ids=repr)
def test_continuous_values_fit_the_expected_distribution(init):
    # KS on 110,592 values at one fixed seed, alpha 1e-4: a 5 % scale error moves the CDF by
    # 0.05·φ(1) ≈ 0.012, nearly twice the KS critical value at alpha 1e-4 (0.0067): see the next test
    shape = (48, 16, 12, 12)
    values = init(shape, "float64", seed=12, name="block.weight").ravel()
    dist = init.expected(make_desc("block.weight", shape, "float64"))
    assert stats.kstest(values, dist.cdf).pvalue > 1e-4


def test_ks_check_has_power_against_a_five_percent_scale_error():
    shape = (48, 16, 12, 12)
    values = std.Normal(1.05)(shape, "float64", seed=12).ravel()
    assert stats.kstest(values, std.Normal(1.0).expected(make_desc("w", shape)).cdf).pvalue < 1e-4


def test_importing_the_catalog_stays_light():
    code = "import sys, initreg.std; print(any(m == 'scipy' or m.startswith('scipy.') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
