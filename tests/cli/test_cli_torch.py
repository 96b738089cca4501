"""``initreg init --torch PKG.MODULE:FACTORY`` seed checkpoints and ``initreg explain --torch``."""

from __future__ import annotations

import dataclasses
import json
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")
st_torch = pytest.importorskip("safetensors.torch")

import initreg  # noqa: E402
from initreg.cli import main  # noqa: E402
from cli_helpers import run  # noqa: E402
from initreg.cli import torch_source  # noqa: E402
from initreg.planning.explanation import Explanation  # noqa: E402

MODELS = '''
import torch


class TiedLM(torch.nn.Module):
    """A tiny language model whose output projection is its embedding (one tensor, two names)."""

    def __init__(self):
        super().__init__()
        self.wte = torch.nn.Embedding(11, 6)
        self.proj = torch.nn.Linear(6, 6)
        self.norm = torch.nn.LayerNorm(6)
        self.lm_head = torch.nn.Linear(6, 11, bias=False)
        self.lm_head.weight = self.wte.weight
        self.built_on = torch.empty(0).device.type  # where the factory's tensors went

    def forward(self, ids):
        return self.lm_head(self.norm(self.proj(self.wte(ids))))


def huge():
    return torch.nn.Linear(1_000_000, 1_000_000)  # 4 TB of float32: only a meta model can be planned


def eighth():
    return torch.nn.Linear(3, 2).to(torch.float8_e4m3fn)


def broken():
    raise RuntimeError("no such config")


def not_a_model():
    return [1, 2]
'''
RULES = '''
seed = 3
[[rule]]
pattern = "*.weight"
init = "normal"
sigma = 0.02
[[rule]]
pattern = "*.bias"
init = "zeros"
'''
SEED = 7


def stand_in_plan_module(module, rules, seed=None):
    """Stand-in for initreg.torch.plan_module (another branch): real names, ties as aliases, rules else default."""
    entries, first_of, aliases = [], {}, {}
    for name, p in module.named_parameters(remove_duplicate=False):
        first = first_of.setdefault(id(p), name)
        if first != name:
            aliases.setdefault(first, []).append(name)
            continue
        entries.append(initreg.Entry(name, tuple(p.shape), str(p.dtype).removeprefix("torch.")))
    table = initreg.plan(entries, rules, seed=seed)
    rows = [dataclasses.replace(r, aliases=tuple(aliases.get(r.name, ()))) for r in table]
    return Explanation(rows, table.seed, table.diagnostics)


@pytest.fixture
def models(tmp_path, monkeypatch):
    """A factory module ``fx_torch_models`` in the working directory, and the planner --torch uses."""
    (tmp_path / "fx_torch_models.py").write_text(MODELS)
    (tmp_path / "rules.toml").write_text(textwrap.dedent(RULES))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # load_factory adds the working directory
    monkeypatch.delitem(sys.modules, "fx_torch_models", raising=False)
    try:
        planner = torch_source.default_planner()
    except (ImportError, AttributeError):  # initreg.torch.plan_module lives in another branch until merged
        planner = stand_in_plan_module
        monkeypatch.setattr(torch_source, "default_planner", lambda: planner)
    yield planner
    sys.modules.pop("fx_torch_models", None)


def seed_checkpoint(capsys, *extra):
    code, out, err = run(capsys, "init", "--torch", "fx_torch_models:TiedLM", "--rules", "rules.toml",
                         "--seed", str(SEED), "-o", "seed.safetensors", *extra)
    assert code == 0, err
    return out


def plan_of(planner, target="fx_torch_models:TiedLM"):
    return planner(torch_source.build_meta(target), initreg.Rules.load("rules.toml"), seed=SEED)


def test_checkpoint_holds_initreg_values_of_each_tensor_once(models, capsys):
    out = seed_checkpoint(capsys)
    table = plan_of(models)
    loaded = st_torch.load_file("seed.safetensors")
    assert sorted(loaded) == sorted(r.name for r in table)  # the tie is one tensor, under its first name
    assert "lm_head.weight" not in loaded and table["wte.weight"].aliases == ("lm_head.weight",)
    for r in table:
        want = initreg.values(r.initializer, r.shape, name=r.name, seed=SEED, dtype=r.dtype, layout=r.layout)
        assert loaded[r.name].numpy().tobytes() == want.tobytes(), r.name
    assert f"seed {SEED}" in out and f"{len(table)} parameters" in out


def test_factory_runs_on_meta(models):
    assert torch_source.build_meta("fx_torch_models:TiedLM").built_on == "meta"


def test_load_state_dict_restores_values_and_keeps_the_tie(models, capsys):
    seed_checkpoint(capsys)
    loaded = st_torch.load_file("seed.safetensors")
    model = sys.modules["fx_torch_models"].TiedLM()
    result = model.load_state_dict(loaded, strict=False)
    assert result.missing_keys == ["lm_head.weight"] and result.unexpected_keys == []  # only the alias
    assert model.lm_head.weight is model.wte.weight
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded["wte.weight" if name == "lm_head.weight" else name]), name
    again = sys.modules["fx_torch_models"].TiedLM()
    missing, unexpected = st_torch.load_model(again, "seed.safetensors")  # strict, and knows about ties
    assert not missing and not unexpected
    assert torch.equal(again.lm_head.weight, loaded["wte.weight"])


def test_checkpoint_equals_what_initialize_fills(models, capsys):
    adapter = pytest.importorskip("initreg.torch")
    if not hasattr(adapter, "initialize"):
        pytest.skip("initreg.torch.initialize is not in this branch")
    seed_checkpoint(capsys)
    from_file = sys.modules["fx_torch_models"].TiedLM()
    from_file.load_state_dict(st_torch.load_file("seed.safetensors"), strict=False)
    direct = sys.modules["fx_torch_models"].TiedLM()
    adapter.initialize(direct, initreg.Rules.load("rules.toml"), seed=SEED)
    for (name, a), (_, b) in zip(from_file.state_dict().items(), direct.state_dict().items()):
        assert torch.equal(a, b), name


def test_same_seed_same_file(models, capsys):
    seed_checkpoint(capsys)
    first = open("seed.safetensors", "rb").read()
    seed_checkpoint(capsys)
    assert open("seed.safetensors", "rb").read() == first


def test_rules_file_seed_and_fresh_seed(models, capsys):
    code, _, err = run(capsys, "init", "--torch", "fx_torch_models:TiedLM", "--rules", "rules.toml", "-q",
                       "-o", "a.safetensors")
    assert code == 0, err
    table = models(torch_source.build_meta("fx_torch_models:TiedLM"), initreg.Rules.load("rules.toml"), seed=3)
    loaded = st_torch.load_file("a.safetensors")
    r = table["proj.weight"]
    assert loaded[r.name].numpy().tobytes() == initreg.values(r.initializer, r.shape, name=r.name, seed=3).tobytes()
    code, _, err = run(capsys, "init", "--torch", "fx_torch_models:TiedLM", "-q", "-o", "b.safetensors")
    assert code == 0 and "no seed given; using seed" in err


def test_explain_torch_prints_the_plan(models, capsys):
    code, out, err = run(capsys, "explain", "--torch", "fx_torch_models:TiedLM", "--seed", str(SEED), "--json")
    assert code == 0, err
    doc = json.loads(out)
    rows = {r["name"]: r for r in doc["rows"]}
    table = plan_of(models)
    assert list(rows) == [r.name for r in table] and doc["seed"] == SEED
    assert rows["wte.weight"]["aliases"] == ["lm_head.weight"]
    code, out, _ = run(capsys, "explain", "rules.toml", "--torch", "fx_torch_models:TiedLM", "--seed", "1")
    assert code == 0 and "rule 1 (*.weight)" in out and "proj.bias" in out


def test_explain_torch_allocates_nothing(models, capsys):
    code, out, err = run(capsys, "explain", "--torch", "fx_torch_models:huge", "--seed", "1")
    assert code == 0, err
    assert "(1000000, 1000000)" in out


@pytest.mark.parametrize("target, fragment", [
    ("fx_torch_models", "expected PKG.MODULE:FACTORY"),
    ("fx_no_such_module:f", "cannot import 'fx_no_such_module'"),
    ("fx_torch_models:nope", "has no attribute 'nope'"),
    ("fx_torch_models:broken", "calling the factory failed: RuntimeError: no such config"),
    ("fx_torch_models:not_a_model", "returned a list, not a torch.nn.Module"),
    ("fx_torch_models:eighth", "weight (float8_e4m3fn)"),  # bfloat16 is written: tests/cli/test_init_bfloat16.py
])
def test_bad_factories_exit_2_and_write_nothing(models, capsys, tmp_path, target, fragment):
    code, _, err = run(capsys, "init", "--torch", target, "--seed", "1", "-o", "x.safetensors")
    assert code == 2 and err.startswith("initreg init: error:") and fragment in err, err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "__pycache__") == ["fx_torch_models.py",
                                                                                       "rules.toml"]


def test_factory_errors_are_initreg_errors(models):
    with pytest.raises(initreg.FactoryError) as info:
        torch_source.load_factory("no colon")
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("argv, fragment", [
    (["init", "--torch", "fx_torch_models:TiedLM", "--dtype", "float16", "-o", "x.safetensors"],
     "--dtype applies to --params"),
    (["init", "--torch", "m:f", "--params", "spec.json", "-o", "x.safetensors"], "not allowed with argument"),
    (["explain", "--params", "spec.json"], "RULES is required with --params"),
])
def test_usage_errors(models, capsys, argv, fragment):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and fragment in capsys.readouterr().err


def test_loaded_model_runs(models, capsys):
    seed_checkpoint(capsys)
    model = sys.modules["fx_torch_models"].TiedLM()
    model.load_state_dict(st_torch.load_file("seed.safetensors"), strict=False)
    logits = model(torch.tensor([[1, 2, 3]]))
    assert logits.shape == (1, 3, 11) and bool(torch.isfinite(logits).all())
    assert not bool((model.norm.weight == 1).all())  # the rule's normal(0.02), not LayerNorm's own ones


def test_meta_build_skips_pytorch_init_but_keeps_every_shape(models):
    import initreg.cli.torch_source as ts

    with torch.device("meta"), ts.skip_meta_init():
        skipped = torch.nn.ModuleDict({"emb": torch.nn.Embedding(5, 3, padding_idx=0), "lstm": torch.nn.LSTM(3, 4),
                                       "mha": torch.nn.MultiheadAttention(4, 2), "bn": torch.nn.BatchNorm1d(3)})
    with torch.device("meta"):
        plain = torch.nn.ModuleDict({"emb": torch.nn.Embedding(5, 3, padding_idx=0), "lstm": torch.nn.LSTM(3, 4),
                                     "mha": torch.nn.MultiheadAttention(4, 2), "bn": torch.nn.BatchNorm1d(3)})
    shapes = {n: (t.shape, t.dtype, t.device.type) for n, t in skipped.state_dict().items()}
    assert shapes == {n: (t.shape, t.dtype, t.device.type) for n, t in plain.state_dict().items()}
    cpu = torch.zeros(3)
    with ts.skip_meta_init():  # tensors that are not on meta are filled as usual
        torch.nn.init.ones_(cpu)
    assert bool((cpu == 1).all())
