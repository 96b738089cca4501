"""The declared initializers state PyTorch's real defaults: PyTorch's own init passes initreg's validator against them.

Each case builds a standard module with PyTorch's default init (fixed ``torch.manual_seed``), takes one
parameter's values and runs ``initreg.validation.checks.check`` against ``expected()`` of the initializer
initreg.torch declares for it: support, Kolmogorov–Smirnov, Anderson–Darling, mean and variance
(exact checks for constants). A case passes when no p-value is below ALPHA / (number of tests in the
run) (Bonferroni). Power: every random case has at least 2048 values (the Transformer's 64-value linear1.bias
gets only the exact small-sample KS, as check gives arrays of 20 to 999 values); at n = 2048 a 5 % error in the
bound or scale shifts the variance by ≥ 10 %, a z of ≥ 4.9 against the variance test's sampling sd
(√(0.8 / n) for a uniform), detected at 1e-4 with probability > 0.9; larger cases (most have ≥ 16k
values) detect 2 % errors. ``test_a_wrong_scale_is_detected`` checks that power on PyTorch's own values.
If PyTorch changes a default, these tests fail.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import initreg  # noqa: E402
import initreg.torch as it  # noqa: E402
from initreg.errors import InitializationError  # noqa: E402
from initreg.core.initializer import make_desc  # noqa: E402
from initreg.validation.checks import check  # noqa: E402

ALPHA = 1e-3

CASES = {
    "Linear": (lambda: nn.Linear(256, 2048), ["weight", "bias"]),
    "Conv2d": (lambda: nn.Conv2d(16, 2048, 3), ["weight", "bias"]),
    "ConvTranspose1d (fan-in from dim 1)": (lambda: nn.ConvTranspose1d(8, 2048, 3), ["weight", "bias"]),
    "Conv1d groups": (lambda: nn.Conv1d(32, 2048, 2, groups=4), ["weight", "bias"]),
    "Bilinear": (lambda: nn.Bilinear(16, 8, 2048), ["weight", "bias"]),
    "Embedding": (lambda: nn.Embedding(4000, 8), ["weight"]),
    "Embedding padding_idx": (lambda: nn.Embedding(500, 16, padding_idx=3), ["weight"]),
    "EmbeddingBag": (lambda: nn.EmbeddingBag(500, 8), ["weight"]),
    "LSTM": (lambda: nn.LSTM(16, 64, num_layers=2), ["weight_ih_l0", "weight_hh_l1"]),
    "LSTM bias": (lambda: nn.LSTM(4, 512), ["bias_hh_l0", "bias_ih_l0"]),
    "GRU": (lambda: nn.GRU(8, 64), ["weight_hh_l0"]),
    "RNN proj": (lambda: nn.LSTM(8, 128, proj_size=32), ["weight_hr_l0", "weight_hh_l0"]),
    "LSTMCell": (lambda: nn.LSTMCell(8, 512), ["weight_ih", "bias_ih"]),
    "GRUCell": (lambda: nn.GRUCell(8, 128), ["weight_ih"]),
    "RNNCell": (lambda: nn.RNNCell(32, 64), ["weight_ih", "weight_hh"]),
    "MultiheadAttention": (lambda: nn.MultiheadAttention(64, 4, add_bias_kv=True),
                           ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]),
    "MultiheadAttention kdim/vdim": (lambda: nn.MultiheadAttention(64, 4, kdim=32, vdim=48),
                                     ["q_proj_weight", "k_proj_weight", "v_proj_weight"]),
    "LayerNorm": (lambda: nn.LayerNorm(64), ["weight", "bias"]),
    "RMSNorm": (lambda: nn.RMSNorm(64), ["weight"]),
    "GroupNorm": (lambda: nn.GroupNorm(4, 64), ["weight", "bias"]),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(64), ["weight", "bias"]),
    "InstanceNorm1d affine": (lambda: nn.InstanceNorm1d(8, affine=True), ["weight", "bias"]),
    "PReLU": (lambda: nn.PReLU(16, init=0.1), ["weight"]),
    "Transformer (xavier on ≥2-D)": (lambda: nn.Transformer(64, 2, 1, 1, 64, batch_first=True), ["encoder.layers.0.linear1.weight",
                                                                              "decoder.layers.0.self_attn.out_proj.weight",
                                                                              "encoder.layers.0.linear1.bias"]),
}

PAIRS = [(case, name) for case, (_, names) in CASES.items() for name in names]


def outcomes(module, name, initializer=None):
    p = dict(module.named_parameters())[name]
    x = p.detach().numpy()
    init = initializer or it.plan(module, seed=0)[name].initializer
    return check(init.expected(make_desc(name, x.shape, x.dtype)), x, name)


@pytest.mark.parametrize("case,name", PAIRS, ids=[f"{c}:{n}" for c, n in PAIRS])
def test_pytorch_default_init_matches_the_declared_initializer(case, name):
    torch.manual_seed(1234)
    module = CASES[case][0]()
    results = outcomes(module, name)
    assert results, "nothing was checked"
    for o in results:
        assert o.passed is not False, f"{case}:{name}: {o.test} failed: {o.detail}"
        if o.p_value is not None:
            assert o.p_value > ALPHA / (len(PAIRS) * 4), f"{case}:{name}: {o.test} p={o.p_value:.3g}: {o.detail}"
    size = dict(module.named_parameters())[name].numel()
    asymptotic = any(o.p_value is not None and o.test != "ks" for o in results)
    assert not asymptotic or size >= 2048  # the power stated above; under 1,000 values only the exact KS runs


def test_multihead_attention_bias_k_and_bias_v_are_xavier_normal():
    torch.manual_seed(99)
    modules = [nn.MultiheadAttention(64, 4, add_bias_kv=True) for _ in range(24)]  # 64 values each: pool 24 modules
    for name in ("bias_k", "bias_v"):
        x = torch.cat([getattr(m, name).detach().reshape(-1) for m in modules]).numpy()  # 1536 values
        init = it.plan(modules[0], seed=0)[name].initializer
        assert init.name == "xavier_normal"
        results = check(init.expected(make_desc(name, (1, 1, 64), x.dtype)), x, name)
        assert any(o.p_value is not None for o in results)
        for o in results:
            assert o.passed is not False and (o.p_value is None or o.p_value > ALPHA / (len(PAIRS) * 4)), (name, o)


@pytest.mark.parametrize("case,name", [("Linear", "weight"), ("LSTM", "weight_hh_l1"), ("Embedding", "weight")])
def test_a_wrong_scale_is_detected(case, name):
    torch.manual_seed(1234)
    module = CASES[case][0]()
    p = dict(module.named_parameters())[name]
    with torch.no_grad():
        p.mul_(1.05)  # 5 % too wide: what a wrong default would look like
    worst = min(o.p_value for o in outcomes(module, name) if o.p_value is not None)
    assert worst < ALPHA / (len(PAIRS) * 4)


def test_initreg_draws_of_the_declared_initializers_pass_the_same_checks():
    torch.manual_seed(0)
    module = nn.ModuleDict({"lin": nn.Linear(128, 2048), "emb": nn.Embedding(300, 16, padding_idx=-1),
                            "mha": nn.MultiheadAttention(64, 4, add_bias_kv=True)})
    it.initialize(module, seed=3)
    for name in ("lin.weight", "lin.bias", "emb.weight", "mha.in_proj_weight", "mha.out_proj.bias"):
        for o in outcomes(module, name):
            assert o.passed is not False and (o.p_value is None or o.p_value > ALPHA), (name, o)
    assert not module["emb"].weight[-1].any()
    assert math.isclose(float(module["lin"].weight.detach().abs().max()), 1 / math.sqrt(128), rel_tol=1e-3)
    assert np.all(module["lin"].bias.detach().numpy() ** 2 <= 1 / 128)


@pytest.mark.parametrize("spec", ["inv_sqrt_uniform", ["inv_sqrt_uniform", {"n": 7}], "padded_normal",
                                  ["padded_normal", {"padding_idx": 1}], "xavier_normal", "xavier_uniform"])
def test_the_registered_declared_initializers_pass_initreg_validation(spec):
    from initreg.validation import assert_valid

    assert_valid(spec)  # initreg's own draws against expected(), the default cases, Holm at 1e-3


def test_an_inv_sqrt_uniform_narrower_than_the_dtype_resolves_is_refused():
    # n = 2**61 in float16: every value was -6e-8, below the bound -1/sqrt(n), silently
    from initreg.torch import InvSqrtUniform

    with pytest.raises(InitializationError, match="narrower than float16 resolves there"):
        initreg.values(InvSqrtUniform(n=2**61), (8,), name="b", seed=0, dtype="float16")
    b = initreg.values(InvSqrtUniform(n=2**40), (64,), name="b", seed=0, dtype="float16")
    assert np.all(np.abs(b.astype(np.float64)) <= 2.0**-20 * (1 + 2**-10))
