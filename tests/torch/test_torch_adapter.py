"""initreg.torch.initialize / explain: bits, ties, bf16, meta, lazy, atomicity, bad input."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import initreg  # noqa: E402
import initreg.torch as it  # noqa: E402
from initreg.errors import (DTypeError, InitializationError, InitializerTypeError, MissingDependencyError,  # noqa: E402
                            ParameterNotFoundError, ParameterValueError, RuleError, UnusedRuleWarning)


def zoo() -> nn.Module:
    """One of each standard module kind, small."""
    return nn.ModuleDict({
        "lin": nn.Linear(6, 5), "bil": nn.Bilinear(3, 4, 5), "conv": nn.Conv2d(2, 4, 3),
        "convt": nn.ConvTranspose1d(3, 4, 2, groups=1), "emb": nn.Embedding(7, 3, padding_idx=1),
        "lstm": nn.LSTM(3, 4), "cell": nn.GRUCell(3, 2), "mha": nn.MultiheadAttention(8, 2, add_bias_kv=True),
        "ln": nn.LayerNorm(5), "rms": nn.RMSNorm(4), "gn": nn.GroupNorm(2, 4), "bn": nn.BatchNorm1d(3),
        "prelu": nn.PReLU(3, init=0.1),
    })


def values_of(row, seed, dtype="float32"):
    return initreg.values(row.initializer, row.shape, name=row.name, seed=seed, dtype=dtype, layout="OI")


def test_every_parameter_holds_initreg_values_for_its_name():
    m = zoo()
    table = it.initialize(m, {"lin.weight": ["normal", {"sigma": 0.02}]}, seed=11)
    params = dict(m.named_parameters())
    assert [r.name for r in table] == list(params)
    for r in table:
        assert np.array_equal(params[r.name].detach().numpy(), values_of(r, 11)), r.name
    assert table["lin.weight"].source == "rule" and table["lin.bias"].source == "declared"
    assert not m["emb"].weight[1].any() and m["emb"].weight[0].abs().sum() > 0  # padding row zero


def test_bits_do_not_depend_on_order_threads_or_other_parameters():
    class A(nn.Module):
        def __init__(self, flip, extra):
            super().__init__()
            if flip:
                self.b, self.a = nn.Linear(300, 200), nn.Linear(4, 3)
            else:
                self.a, self.b = nn.Linear(4, 3), nn.Linear(300, 200)
            if extra:
                self.c = nn.Linear(2, 2)

    one, two = A(False, False), A(True, True)
    old = initreg.get_num_threads()
    try:
        initreg.set_num_threads(1)
        it.initialize(one, seed=5)
        initreg.set_num_threads(2)
        it.initialize(two, seed=5)
    finally:
        initreg.set_num_threads(old)
    for name, p in one.named_parameters():
        assert torch.equal(p, dict(two.named_parameters())[name]), name


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64])
def test_other_float_dtypes_are_written_in_place(dtype):
    m = nn.Linear(9, 7).to(dtype)
    storage = m.weight.data_ptr()
    table = it.initialize(m, seed=2)
    assert m.weight.data_ptr() == storage and table["weight"].dtype == str(dtype).split(".")[1]
    np.testing.assert_array_equal(m.weight.detach().numpy(), values_of(table["weight"], 2, str(dtype).split(".")[1]))


def test_bfloat16_is_float32_rounded_to_nearest_even(monkeypatch):
    from initreg.torch import placement

    monkeypatch.setattr(placement, "BAND", 50)  # several bands of rows: the staged path
    m = nn.Linear(16, 33).to(torch.bfloat16)
    table = it.initialize(m, {"weight": ["normal", {"sigma": 0.02}]}, seed=8)
    for r in table:
        want = torch.from_numpy(values_of(r, 8)).to(torch.bfloat16)
        assert torch.equal(dict(m.named_parameters())[r.name].detach(), want), r.name
    assert table["weight"].dtype == "bfloat16"


def test_non_contiguous_parameter_gets_the_same_values():
    m = nn.Linear(5, 4)
    m.weight = nn.Parameter(torch.empty(5, 4).t())
    table = it.initialize(m, seed=3)
    np.testing.assert_array_equal(m.weight.detach().numpy(), values_of(table["weight"], 3))


def test_the_suggested_rules_of_the_uncovered_error_initialize_the_model():
    # CLIP's logit_scale (0-D) and Mamba's D (1-D) once got xavier_uniform, which needs 2 dimensions
    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.logit_scale = nn.Parameter(torch.tensor(7.0))
            self.D = nn.Parameter(torch.full((8,), 7.0))
            self.probe = nn.Parameter(torch.full((1, 4, 8), 7.0))

    m = Custom()
    with pytest.raises(RuleError) as err:
        it.initialize(m, seed=0)
    text = str(err.value)
    suggested = ast.literal_eval(text[text.index("{\n"):text.index("\n}") + 2])
    assert set(suggested) == {"logit_scale", "D", "probe"}
    it.initialize(m, suggested, seed=0)
    assert all(bool(torch.isfinite(p).all()) and not bool((p == 7.0).any()) for p in m.parameters())


def test_the_suggested_rules_group_repeated_blocks_and_guess_layer_scales_and_position_tables():
    # a 12-block model listed 8 of 26 names one by one ("... (18 more)"), suggested 'ones' for DeiT III's layer
    # scale (timm: 1e-5 or 1e-6) and 'zeros' for Swin's relative_position_bias_table (timm: N(0, 0.02))
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.ls1 = nn.Module()
            self.ls1.gamma = nn.Parameter(torch.full((4,), 7.0))
            self.relative_position_bias_table = nn.Parameter(torch.full((5, 2), 7.0))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([Block() for _ in range(12)])
            self.mixed = nn.ModuleList([nn.Linear(2, 2), nn.Module()])
            self.mixed[1].weight = nn.Parameter(torch.full((2, 2), 7.0))  # mixed.*.weight would take mixed.0's too

    m = Model()
    with pytest.raises(RuleError) as err:
        it.initialize(m, seed=0)
    text = str(err.value)
    suggested = ast.literal_eval(text[text.index("{\n"):text.index("\n}") + 2])
    assert suggested == {"blocks.*.ls1.gamma": ["constant", {"value": 1e-5}],
                         "blocks.*.relative_position_bias_table": ["normal", {"sigma": 0.02}],
                         "mixed.1.weight": "xavier_uniform"}
    table = it.initialize(m, suggested, seed=0)
    assert table["mixed.0.weight"].source == "declared"
    assert all(bool((b.ls1.gamma == 1e-5).all()) for b in m.blocks)


def test_uncovered_raw_parameters_error_lists_all_with_suggestions_and_changes_nothing():
    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(3, 3)
            self.scale = nn.Parameter(torch.full((3,), 7.0))
            self.shift_bias = nn.Parameter(torch.full((3,), 7.0))

    m = Custom()
    before = {n: p.detach().clone() for n, p in m.named_parameters()}
    with pytest.raises(RuleError) as err:
        it.initialize(m, seed=0)
    assert "'scale'" in str(err.value) and "'shift_bias'" in str(err.value) and "'zeros'" in str(err.value)
    assert "proj.weight" not in str(err.value)
    for n, p in m.named_parameters():
        assert torch.equal(p, before[n])
    it.initialize(m, seed=0, default="zeros")
    assert not m.scale.any()
    table = it.initialize(m, seed=0, default="keep")  # keeps the raw ones, still fills the declared ones
    assert table["scale"].source == "keep" and not m.scale.any()


def test_default_and_plain_initializer_cannot_both_set_the_default():
    with pytest.raises(RuleError, match="default="):
        it.plan(nn.Linear(2, 2), "zeros", default="ones")


def test_tied_parameters_drawn_once_under_the_first_name_with_aliases():
    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(11, 4)
            self.head = nn.Linear(4, 11, bias=False)
            self.head.weight = self.wte.weight

    m = LM()
    table = it.initialize(m, seed=4)
    assert len(table) == 1 and table["wte.weight"].aliases == ("head.weight",)
    assert m.head.weight is m.wte.weight
    np.testing.assert_array_equal(m.wte.weight.detach().numpy(), values_of(table["wte.weight"], 4))
    table = it.initialize(m, {"head.weight": ["normal", {"sigma": 0.5}]}, seed=4)  # a rule on the alias wins
    assert table["wte.weight"].source == "rule" and table["wte.weight"].init == "normal"
    with pytest.raises(RuleError, match="'wte.weight' and 'head.weight'|'head.weight' and 'wte.weight'"):
        it.initialize(m, {"wte.*": "zeros", "head.*": "ones"}, seed=4)
    it.initialize(m, {"wte.*": "zeros", "head.*": "zeros"}, seed=4)  # agreeing rules are fine
    assert not m.wte.weight.any()


def test_meta_model_is_materialized_with_ties_buffers_and_requires_grad():
    with torch.device("meta"):
        m = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 10), nn.BatchNorm1d(10))
    m[1].weight = m[0].weight
    m[0].weight.requires_grad_(False)
    table = it.plan(m, seed=1)
    assert m[0].weight.is_meta  # explain allocates nothing
    filled = it.initialize(m, seed=1)
    assert [r.as_dict() for r in filled] == [r.as_dict() for r in table]
    assert m[1].weight is m[0].weight and not m[0].weight.is_meta and not m[0].weight.requires_grad
    assert m[1].bias.requires_grad
    for r in filled:
        np.testing.assert_array_equal(dict(m.named_parameters())[r.name].detach().numpy(), values_of(r, 1))
    assert torch.equal(m[2].running_var, torch.ones(10)) and torch.equal(m[2].running_mean, torch.zeros(10))
    assert m[2].num_batches_tracked.item() == 0 and m[2].num_batches_tracked.dtype == torch.int64
    assert {"2.running_mean", "2.running_var", "2.num_batches_tracked"} <= set(m.state_dict())


def test_buffer_defaults_name_the_standard_meta_buffers_and_their_values():
    with torch.device("meta"):
        m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    assert it.buffer_defaults(m) == {"1.running_mean": 0.0, "1.running_var": 1.0, "1.num_batches_tracked": 0}
    assert it.buffer_defaults(nn.BatchNorm1d(3)) == {}  # built on the CPU: PyTorch already set them


def test_meta_buffers_of_custom_modules_need_a_rule():
    class WithBuffer(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)
            self.register_buffer("mask", torch.empty(3, 3))

    with torch.device("meta"):
        m = WithBuffer()
    with pytest.raises(RuleError, match="'mask'"):
        it.initialize(m, seed=0)
    assert m.lin.weight.is_meta and m.mask.is_meta  # nothing changed
    it.initialize(m, {"mask": "ones"}, seed=0)
    assert torch.equal(m.mask, torch.ones(3, 3)) and "mask" in m.state_dict()


def test_keep_is_refused_on_meta():
    with torch.device("meta"):
        m = nn.Module()
        m.raw = nn.Parameter(torch.empty(3))
    with pytest.raises(ParameterValueError, match="'raw'.*meta"):
        it.initialize(m, default="keep")


class Boom(initreg.Initializer):
    """Fails on every fill."""

    def fill(self, desc, out, rng):
        raise RuntimeError("boom")


def test_a_failing_fill_leaves_every_parameter_as_it_was():
    m = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    before = {n: p.detach().clone() for n, p in m.named_parameters()}
    with pytest.raises(InitializationError, match="boom"):
        it.initialize(m, {"1.bias": Boom()}, seed=0)
    for n, p in m.named_parameters():
        assert torch.equal(p, before[n]), n
    with torch.device("meta"):
        meta = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    with pytest.raises(InitializationError):
        it.initialize(meta, {"1.bias": Boom()}, seed=0)
    assert all(p.is_meta for p in meta.parameters())


def test_requires_grad_is_unchanged():
    m = nn.Linear(3, 2)
    m.bias.requires_grad_(False)
    it.initialize(m, seed=0)
    assert m.weight.requires_grad and not m.bias.requires_grad and m.weight.grad is None


def test_lazy_modules_are_filled_after_the_forward_that_gives_the_shape():
    lazy = nn.Sequential(nn.LazyLinear(5), nn.ReLU(), nn.LazyLinear(3))
    table = it.initialize(lazy, {"2.weight": ["normal", {"sigma": 0.1}]}, seed=9)
    assert table["0.weight"].shape is None and table["0.weight"].state == "deferred"
    x = torch.randn(2, 7)
    y = lazy(x)
    plain = nn.Sequential(nn.Linear(7, 5), nn.ReLU(), nn.Linear(5, 3))
    it.initialize(plain, {"2.weight": ["normal", {"sigma": 0.1}]}, seed=9)
    for name, p in plain.named_parameters():
        assert torch.equal(dict(lazy.named_parameters())[name], p), name
    assert torch.equal(y, plain(x))  # the first forward already used initreg's values
    w = lazy[0].weight.detach().clone()
    lazy(x)
    assert torch.equal(lazy[0].weight, w)  # filled once


def test_explain_matches_initialize_and_seed_comes_from_a_rules_file_seed():
    m = nn.Linear(4, 3)
    rules = initreg.Rules({"bias": "zeros"}, seed=21)
    table = it.plan(m, rules)
    assert table.seed == 21
    filled = it.initialize(m, rules)
    assert filled.seed == 21 and [r.key for r in filled] == [r.key for r in table]


def test_bad_input():
    with pytest.raises(InitializerTypeError, match="nn.Module"):
        it.initialize({"w": torch.zeros(2)})
    m = nn.Linear(2, 2)
    with pytest.warns(UnusedRuleWarning):
        it.initialize(m, {"decoder.*": "zeros"}, seed=0)
    before = m.weight.detach().clone()
    with pytest.raises(RuleError):
        it.initialize(m, {"decoder.*": "zeros"}, seed=1, strict=True)
    assert torch.equal(m.weight, before)
    with pytest.raises(ParameterNotFoundError, match="'wieght'.*'weight'"):
        it.plan(m)["wieght"]
    ints = nn.Module()
    ints.steps = nn.Parameter(torch.zeros(3, dtype=torch.int64), requires_grad=False)
    with pytest.raises(DTypeError, match="'steps'"):
        it.initialize(ints, default="zeros")
    with pytest.raises(initreg.DeviceError, match="device="):
        it.initialize(m, device="nowhere")


def test_dtensor_parameters_without_the_dtensor_module_give_a_clear_error(monkeypatch):
    class DTensor(torch.Tensor):  # stands in for torch.distributed.tensor.DTensor (dispatched by class name)
        pass

    m = nn.Linear(2, 2)
    m.weight = nn.Parameter(torch.zeros(2, 2).as_subclass(DTensor))
    monkeypatch.setitem(sys.modules, "initreg.torch.dtensor", None)
    with pytest.raises(MissingDependencyError, match="DTensor"):
        it.initialize(m, seed=0)
    assert not m.weight.any()


def test_import_initreg_torch_does_not_import_torch():
    code = "import sys, initreg, initreg.torch; initreg.create('inv_sqrt_uniform'); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_parameters_get_the_cpu_bits(dtype):
    m = nn.Linear(300, 200).to("cuda", dtype)
    table = it.initialize(m, seed=6)
    for r in table:
        want = torch.from_numpy(values_of(r, 6)).to(dtype)
        assert torch.equal(dict(m.named_parameters())[r.name].detach().cpu(), want), r.name
    with torch.device("meta"):
        meta = nn.Linear(300, 200)
    it.initialize(meta, seed=6, device="cuda")
    assert meta.weight.device.type == "cuda"
    assert torch.equal(meta.weight.cpu(), torch.from_numpy(values_of(table["weight"], 6)))


def test_pytorch_init_never_runs_when_a_meta_model_is_materialized(monkeypatch):
    with torch.device("meta"):
        m = nn.Sequential(nn.Linear(4, 4), nn.Embedding(5, 4), nn.LayerNorm(4), nn.BatchNorm1d(4))

    def refuse(*args, **kwargs):
        raise AssertionError("PyTorch's init ran")

    for fn in ("kaiming_uniform_", "uniform_", "normal_", "ones_", "zeros_", "constant_"):
        monkeypatch.setattr(torch.nn.init, fn, refuse)
    monkeypatch.setattr(nn.BatchNorm1d, "reset_running_stats", refuse)
    table = it.initialize(m, seed=0)
    assert all(not p.is_meta for p in m.parameters()) and len(table) == 7


@pytest.mark.parametrize("padding_idx", [0, 1000, 2047, -1])
def test_padded_normal_regions_cross_stream_blocks_exactly(padding_idx):
    from initreg.core.stream import BLOCK

    shape = (2 * BLOCK // 96 + 3, 96)  # rows straddle block boundaries
    init = it.PaddedNormal(padding_idx=padding_idx % shape[0] if padding_idx >= 1000 else padding_idx)
    whole = initreg.values(init, shape, name="emb.weight", seed=3)
    assert not whole[init.padding_idx].any() and np.count_nonzero(whole == 0) == shape[1]
    for index in [(slice(0, 5),), (slice(init.padding_idx % shape[0] - 1 if init.padding_idx % shape[0] else 0, None),),
                  (slice(None), slice(10, 50)), (slice(None, None, -3),)]:
        np.testing.assert_array_equal(initreg.values(init, shape, name="emb.weight", seed=3, index=index), whole[index])


@pytest.mark.parametrize("wrap, start", [(torch.compile, "_orig_mod."), (nn.DataParallel, "module.")],
                         ids=["compile", "DataParallel"])
def test_a_wrapped_model_warns_that_its_names_differ_and_a_name_map_gives_the_unwrapped_values(wrap, start):
    # torch.compile's _orig_mod. prefix silently gave other values than the uncompiled model's
    rules = {"*.weight": ["normal", {"sigma": 0.02}], "*.bias": "zeros"}
    plain = nn.Sequential(nn.Linear(4, 3))
    it.initialize(plain, rules, seed=0)
    wrapped = wrap(nn.Sequential(nn.Linear(4, 3)))
    with pytest.warns(initreg.InitregWarning, match=f"names start with '{re.escape(start)}'.*name_map="):
        it.plan(wrapped, rules, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        it.initialize(wrapped, rules, seed=0, name_map=[(f"^{re.escape(start)}", "")])
    inner = wrapped._orig_mod if start == "_orig_mod." else wrapped.module
    assert torch.equal(inner[0].weight, plain[0].weight)


def test_a_convolutions_groups_is_a_variable_of_its_rules():
    # timm's goog init divides fan_out by groups; expressions saw only the weight's shape
    from initreg.planning.expressions import expr

    m = nn.Sequential(nn.Conv2d(8, 8, 3, groups=8), nn.Conv2d(8, 32, 3, groups=4), nn.Linear(4, 4))
    goog = ["variance_scaling", {"scale": expr("2 * groups"), "mode": "fan_out", "distribution": "untruncated_normal"}]
    table = it.plan(m, {"re:[01]\\.weight": goog}, seed=0)
    assert [table[f"{i}.weight"].initializer.scale for i in (0, 1)] == [16, 8]
    assert table["0.weight"].variables == {"groups": 8}
    with pytest.raises(RuleError, match=r"'2.weight'.*'groups' cannot be computed: '2.weight' is not a parameter "
                                        r"of a PyTorch convolution"):
        it.plan(m, {"*.weight": goog}, seed=0)
