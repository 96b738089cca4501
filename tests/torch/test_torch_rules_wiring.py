"""vars=, only= and name_map= through initreg.torch (issue 24): a new head on a loaded model, pipeline stages drawing
the whole model's values, expressions over variables and captures, and errors that change nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import initreg  # noqa: E402
import initreg.torch as it  # noqa: E402
from initreg import Rules  # noqa: E402
from initreg.planning.expressions import expr  # noqa: E402


def state(module):
    """Every tensor (parameters and buffers) as bytes, by name."""
    return {n: t.detach().cpu().numpy().tobytes() for n, t in module.state_dict().items()}


# --- a new head on a loaded model ------------------------------------------------------------------------

class _CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)
        self.body = nn.Linear(8, 16)
        self.head = nn.Linear(16, 5)


def load_arbitrary(module, seed):
    """Every parameter and floating buffer (BatchNorm statistics too) holds values no initializer draws."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            if t.dtype.is_floating_point:
                t.copy_(torch.randn(t.shape, generator=g) + 3.0)
            else:
                t.fill_(seed + 7)  # num_batches_tracked
    return state(module)


@pytest.mark.parametrize("init", [None, Rules([("*.bias", "zeros"), ("*.weight", initreg.init.Normal(0.02))])])
def test_a_new_head_is_redrawn_and_every_other_tensor_stays_bit_identical(init):
    a, b = _CNN(), _CNN()
    before_a, before_b = load_arbitrary(a, 1), load_arbitrary(b, 2)
    tables = [it.initialize(m, init, seed=11, only="head.*") for m in (a, b)]
    for m, before in ((a, before_a), (b, before_b)):
        now = state(m)
        assert [n for n in now if now[n] != before[n]] == ["head.weight", "head.bias"]  # buffers included
    for name in ("head.weight", "head.bias"):
        assert torch.equal(a.get_parameter(name), b.get_parameter(name))  # whatever the rest held
        row = tables[0][name]
        assert np.array_equal(a.get_parameter(name).detach().numpy(),
                              initreg.values(row.initializer, row.shape, name=name, seed=11))
    assert [r.source for r in tables[0]][:4] == ["keep"] * 4 and tables[0]["bn.weight"].key is None
    assert it.plan(a, init, seed=11, only="head.*")["head.weight"].key == tables[0]["head.weight"].key


def test_only_leaves_a_meta_tensor_on_meta_and_fills_the_head():
    with torch.device("meta"):
        m = _CNN()
    it.initialize(m, "normal", seed=0, only=["head.weight", "head.bias"])
    assert m.conv.weight.is_meta and m.bn.running_mean.is_meta  # outside only=: nothing drawn, nothing allocated
    assert not m.head.weight.is_meta and torch.isfinite(m.head.weight).all()


def test_a_meta_buffer_nothing_can_compute_is_no_error_outside_only():
    with torch.device("meta"):
        m = _CNN()
        m.register_buffer("freqs", torch.empty(4))  # what a module computes in __init__: initreg cannot draw it
    with pytest.raises(initreg.RuleError, match="buffer\\(s\\) 'freqs' are on the meta device"):
        it.initialize(m, "normal", seed=0)
    it.initialize(m, "normal", seed=0, only="head.*")
    assert m.freqs.is_meta and not m.head.weight.is_meta


def test_a_keep_rule_leaves_the_tensor_untouched():
    m = _CNN()
    before = load_arbitrary(m, 3)
    table = it.initialize(m, Rules([("conv.*", "keep"), ("*", "zeros")]), seed=0)
    now = state(m)
    assert now["conv.weight"] == before["conv.weight"] and now["conv.bias"] == before["conv.bias"]
    assert not m.head.weight.any() and table["conv.weight"].decided_by == "keep (rule 1 (conv.*))"


# --- pipeline stages: torchtitan-style, layers re-indexed from 0 in each stage --------------------------

DIM, LAYERS = 8, 6


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = nn.Module()
        self.attention.wq = nn.Linear(DIM, DIM, bias=False)
        self.attention.wo = nn.Linear(DIM, DIM, bias=False)
        self.feed_forward = nn.Module()
        self.feed_forward.w1 = nn.Linear(DIM, 2 * DIM, bias=False)
        self.feed_forward.w2 = nn.Linear(2 * DIM, DIM, bias=False)
        self.attention_norm = nn.RMSNorm(DIM)
        self.ffn_norm = nn.RMSNorm(DIM)


class Llama(nn.Module):
    """A torchtitan-like Llama; a stage holds layers[start:stop] re-indexed from 0, the embeddings first, the head last."""

    def __init__(self, start=0, stop=LAYERS):
        super().__init__()
        if start == 0:
            self.tok_embeddings = nn.Embedding(32, DIM)
        self.layers = nn.ModuleList(Block() for _ in range(start, stop))
        if stop == LAYERS:
            self.norm = nn.RMSNorm(DIM)
            self.output = nn.Linear(DIM, 32, bias=False)


DEPTH = Rules([
    ("re:layers\\.(?P<layer>\\d+)\\.(attention\\.wo|feed_forward\\.w2)\\.weight",
     ("truncated_normal", {"sigma": expr("init_std / sqrt(2 * (layer + 1))"), "a": -3.0, "b": 3.0})),
    ("*norm.weight", "ones"),
    ("tok_embeddings.weight", ("normal", {"sigma": 1.0})),
    ("output.weight", ("truncated_normal", {"sigma": expr("dim ** -0.5"), "a": -3.0, "b": 3.0})),
    ("*.weight", ("truncated_normal", {"sigma": expr("init_std"), "a": -3.0, "b": 3.0})),
], vars={"init_std": 0.02, "dim": DIM})

STAGE_MAP = [(r"^layers\.(?P<i>\d+)\.", "layers.{i + offset}.")]


def bounds(stages):
    """torchtitan's even split of LAYERS layers into ``stages`` stages."""
    cuts = np.linspace(0, LAYERS, stages + 1).round().astype(int)
    return list(zip(cuts[:-1], cuts[1:]))


@pytest.mark.filterwarnings("ignore::initreg.UnusedRuleWarning")  # a stage lacks the embeddings or the output
@pytest.mark.parametrize("stages", [2, 3, 4])
def test_each_pipeline_stage_draws_the_whole_models_values_for_its_global_names(stages):
    whole = Llama()
    it.initialize(whole, DEPTH, seed=4)
    reference = {n: p.detach().clone() for n, p in whole.named_parameters()}
    covered = set()
    for start, stop in bounds(stages):
        stage = Llama(start, stop)
        table = it.initialize(stage, DEPTH, seed=4, name_map=STAGE_MAP, vars={"offset": int(start)})
        for name, p in stage.named_parameters():
            key = table[name].key_name
            assert torch.equal(p, reference[key]), (stages, name, key)  # bit for bit
            covered.add(key)
        assert table["layers.0.attention.wo.weight"].key_name == f"layers.{start}.attention.wo.weight"
    assert covered == set(reference)  # the stages together are the whole model
    if stages == 2:  # without the map, stage 2's first layer would draw layer 0's values
        stage = Llama(3, 6)
        it.initialize(stage, DEPTH, seed=4)
        assert not torch.equal(stage.layers[0].attention.wq.weight, reference["layers.3.attention.wq.weight"])


def test_a_name_map_sending_two_names_to_one_changes_nothing():
    stage = Llama(2, 4)
    before = load_arbitrary(stage, 5)
    with pytest.raises(initreg.RuleError, match="name_map maps both 'layers.0.attention.wq.weight' and "
                                                "'layers.1.attention.wq.weight' to 'layers.9.attention.wq.weight'"):
        it.initialize(stage, DEPTH, seed=4, name_map=[(r"^layers\.\d+\.", "layers.9.")])
    assert state(stage) == before


def test_plan_and_lazy_modules_follow_the_name_map():
    stage = nn.Sequential(nn.LazyLinear(4), nn.Linear(4, 4))
    mapping = [(r"^(?P<i>\d+)\.", "{i + 10}.")]
    table = it.initialize(stage, {"*": "normal"}, seed=2, name_map=mapping)
    assert table["0.weight"].key_name == "10.weight"
    stage(torch.ones(1, 3))  # the lazy layer is filled now, under its mapped name
    expected = initreg.values("normal", (4, 3), name="10.weight", seed=2)
    assert np.array_equal(stage[0].weight.detach().numpy(), expected)
    assert np.array_equal(stage[1].weight.detach().numpy(), initreg.values("normal", (4, 4), name="11.weight", seed=2))


# --- vars= and expression errors -----------------------------------------------------------------------

def test_vars_reach_expressions_over_a_capture():
    m = Llama(0, 2)
    rules = Rules([("layers.{i}.attention.wo.weight", ("normal", {"sigma": expr("init_std / sqrt(2 * (i + 1))")})),
                   ("*", "zeros")])
    table = it.initialize(m, rules, seed=1, vars={"init_std": 0.5})
    row = table["layers.1.attention.wo.weight"]
    assert row.args["sigma"] == 0.5 / np.sqrt(4) and row.variables == {"init_std": 0.5, "i": 1}
    assert np.array_equal(m.layers[1].attention.wo.weight.detach().numpy(),
                          initreg.values(["normal", {"sigma": 0.25}], (DIM, DIM), name=row.name, seed=1))
    assert it.plan(m, rules, seed=1, vars={"init_std": 0.5})["layers.1.attention.wo.weight"].args == row.args


@pytest.mark.parametrize("rules, message", [
    ({"*.wo.weight": ("normal", {"sigma": expr("sqrt(")}), "*": "zeros"},
     r"rule 1 \('\*.wo.weight'\), argument 'sigma': expression 'sqrt\(' is not valid"),
    ({"layers.{i}.attention.wo.weight": ("normal", {"sigma": expr("1 / i")}), "*": "zeros"},
     r"rule 1 \(layers.\{i\}.attention.wo.weight\), parameter 'layers.0.attention.wo.weight': expression '1 / i' "
     r"cannot be computed"),
    ({"*.wo.weight": ("normal", {"sigma": expr("0.02 / sqrt(2 * n_layers)")}), "*": "zeros"},
     r"rule 1 \(\*.wo.weight\), parameter 'layers.0.attention.wo.weight': expression '0.02 / sqrt\(2 \* n_layers\)' "
     r"uses unknown variable\(s\) 'n_layers'"),
])
def test_a_bad_expression_or_an_unknown_variable_is_a_rule_error_and_changes_nothing(rules, message):
    m = Llama(0, 2)
    before = load_arbitrary(m, 6)
    with pytest.raises(initreg.RuleError, match=message):
        it.initialize(m, rules, seed=0)
    assert state(m) == before


def test_a_variable_no_rule_reads_is_a_rule_error_and_changes_nothing():
    m = Llama(0, 2)
    before = load_arbitrary(m, 6)
    rules = {"*.wo.weight": ("normal", {"sigma": expr("init_std / sqrt(2 * n_layers)")}), "*": "zeros"}
    with pytest.raises(initreg.RuleError, match="'n_layer' is not a variable of these rules.*did you mean 'n_layers'"):
        it.initialize(m, rules, seed=0, vars={"init_std": 0.02, "n_layer": 2})
    assert state(m) == before


def test_default_keeps_the_rules_vars_base_shapes_and_about():
    rules = Rules([("0.weight", ("normal", {"sigma": expr("s * base_fan_in / fan_in")}))], vars={"s": 0.5},
                  base_shapes={"0.weight": [2, 1]}, about={"library": "here"})
    m = nn.Sequential(nn.Linear(2, 2))
    m.register_parameter("scale", nn.Parameter(torch.ones(3)))  # no module declares it: the default's
    table = it.initialize(m, rules, seed=0, default="zeros")
    assert table["0.weight"].args == {"sigma": 0.25} and table["scale"].source == "default"
    assert not m.scale.any()
    from initreg.planning.leaves import with_default

    kept = with_default(rules, "zeros")
    assert (kept.vars, kept.base_shapes, kept.about) == (rules.vars, rules.base_shapes, rules.about)


DTENSOR = '''
import numpy as np, torch, torch.distributed as dist
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.tensor import Shard, distribute_tensor
import initreg, initreg.torch as it
dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
try:
    m = torch.nn.Module()
    m.w = torch.nn.Parameter(distribute_tensor(torch.zeros(6, 4), DeviceMesh("cpu", [0]), [Shard(0)]))
    it.initialize(m, {"*": "normal"}, seed=3, name_map=[("^w$", "layers.7.w")])
    got = m.w.detach().full_tensor().numpy()
    print(np.array_equal(got, initreg.values("normal", (6, 4), name="layers.7.w", seed=3)),
          np.array_equal(got, initreg.values("normal", (6, 4), name="w", seed=3)))
finally:
    dist.destroy_process_group()
import os, sys  # leave without interpreter teardown, which gloo's worker thread can abort (docs/torch-distributed.md)
sys.stdout.flush()
os._exit(0)
'''


def test_a_dtensor_shard_is_drawn_under_the_mapped_name():
    pytest.importorskip("torch.distributed.tensor")
    root = str(Path(__file__).resolve().parents[2])  # a fresh process: its process group never outlives the test
    done = subprocess.run([sys.executable, "-c", DTENSOR], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["True", "False"]
