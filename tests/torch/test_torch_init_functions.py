"""initreg.torch.init: torch.nn.init-style in-place functions with PyTorch's own parameters (issue 26, items 10, 11).

Power: KS two-sample tests against PyTorch's own draws (fixed seeds, 40,000 values each) accept at p > 10⁻³; the
σ-unit reading of trunc_normal_'s bounds (std 0.88× too small) is rejected at p < 10⁻⁶.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from scipy import stats  # noqa: E402

import initreg  # noqa: E402
from initreg.errors import DTypeError, InitregError, ParameterValueError  # noqa: E402
from initreg.torch import init  # noqa: E402

SHAPE = (200, 200)


def theirs(fn, *args, **kwargs):
    torch.manual_seed(0)
    t = torch.empty(SHAPE)
    fn(t, *args, **kwargs)
    return t.numpy().ravel()


def ours(fn, *args, **kwargs):
    return fn(torch.empty(SHAPE), *args, name="w", seed=0, **kwargs).numpy().ravel()


@pytest.mark.parametrize("name, args", [
    ("trunc_normal_", dict(std=0.02)), ("trunc_normal_", dict(mean=1.0, std=0.5, a=0.0, b=3.0)),
    ("normal_", dict(std=0.02)), ("uniform_", dict(a=-0.3, b=0.1)),
    ("xavier_uniform_", dict(gain=2.0)), ("xavier_normal_", {}),
    ("kaiming_uniform_", dict(a=5 ** 0.5)), ("kaiming_normal_", dict(mode="fan_out", nonlinearity="relu")),
])
def test_each_function_follows_pytorchs_distribution_for_pytorchs_parameters(name, args):
    mine, torchs = ours(getattr(init, name), **args), theirs(getattr(torch.nn.init, name), **args)
    assert stats.ks_2samp(mine, torchs).pvalue > 1e-3


def test_trunc_normal_bounds_are_absolute_not_in_sigmas():
    torchs = theirs(torch.nn.init.trunc_normal_, std=0.02)
    assert np.abs(ours(init.trunc_normal_, std=0.02)).max() <= 2.0
    sigma_units = initreg.values(["truncated_normal", {"sigma": 0.02}], SHAPE, name="w", seed=0).ravel()
    assert stats.ks_2samp(sigma_units, torchs).pvalue < 1e-6  # the translation trap of issue 26, item 10


def test_orthogonal_has_gain_one_by_default():
    w = init.orthogonal_(torch.empty(6, 10), name="q", seed=1)
    np.testing.assert_allclose((w @ w.T).numpy(), np.eye(6), atol=1e-5)
    w = init.orthogonal_(torch.empty(6, 10), gain=2.0, name="q", seed=1)
    np.testing.assert_allclose((w @ w.T).numpy(), 4 * np.eye(6), atol=1e-4)


def test_values_are_initregs_for_the_name_and_seed_in_place():
    t = torch.empty(3, 5, dtype=torch.float64)
    ptr = t.data_ptr()
    out = init.normal_(t, std=0.5, name="enc.w", seed=7)
    assert out is t and t.data_ptr() == ptr
    np.testing.assert_array_equal(t.numpy(), initreg.values(["normal", {"sigma": 0.5}], (3, 5), name="enc.w", seed=7,
                                                            dtype="float64"))
    initreg.seed(7)
    try:
        assert torch.equal(init.normal_(torch.empty(3, 5, dtype=torch.float64), std=0.5, name="enc.w"), t)
    finally:
        initreg.seed(None)
    b = init.fill_(torch.empty(4, 4, dtype=torch.bfloat16), "xavier_uniform", name="b", seed=0)
    assert torch.equal(b, torch.from_numpy(initreg.values("xavier_uniform", (4, 4), name="b", seed=0)).bfloat16())


def test_bad_input_is_an_initreg_error_and_changes_nothing():
    t = torch.zeros(3)
    with pytest.raises(ParameterValueError, match="name"):
        init.normal_(t, name="", seed=0)
    with pytest.raises(InitregError, match="std"):
        init.trunc_normal_(t, std=0.0, name="t", seed=0)
    with pytest.raises(DTypeError, match="'t'"):
        init.normal_(torch.zeros(3, dtype=torch.int32), name="t", seed=0)
    with pytest.raises(ParameterValueError, match="share memory"):
        init.normal_(torch.zeros(1).expand(3), name="t", seed=0)
    with pytest.raises(InitregError, match="mode"):
        init.kaiming_normal_(torch.zeros(3, 3), mode="fan_avg", name="t", seed=0)
    assert not t.any()


def test_hostile_arguments_of_the_init_functions_are_initreg_errors():
    from initreg.errors import FillTypeError, InitializerArgumentError

    t = torch.zeros(3, 3)
    with pytest.raises(InitializerArgumentError, match="std must be a number, got '1'"):
        init.trunc_normal_(t, std="1", name="w")
    with pytest.raises(InitializerArgumentError, match="val must be a number, got 'a'"):
        init.constant_(t, "a", name="w")
    with pytest.raises(FillTypeError, match="fills a torch.Tensor in place, got a ndarray") as info:
        init.normal_(np.zeros(3), name="w")
    assert isinstance(info.value, TypeError) and torch.equal(t, torch.zeros(3, 3))
