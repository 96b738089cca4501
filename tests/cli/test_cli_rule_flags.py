"""--recipe, --var and --only on ``initreg explain``, ``init`` and ``check`` (issue 24), and the --var values recorded in
a checkpoint's provenance so that ``verify`` and ``check`` recompute it alone."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import initreg
from cli_helpers import run, write_cli_files

RULES = '''seed = 0

[[rule]]
pattern = "layers.{i}.w"
init = "normal"
sigma = { expr = "std / sqrt(i + 1)" }

[[rule]]
pattern = "*"
init = "zeros"
'''
SPEC = [{"name": "layers.0.w", "shape": [4, 4]}, {"name": "layers.1.w", "shape": [4, 4]},
        {"name": "head.b", "shape": [4]}]
LLAMA = [{"name": "tok_embeddings.weight", "shape": [32, 8]}, {"name": "layers.0.attention.wo.weight", "shape": [8, 8]},
         {"name": "layers.0.attention_norm.weight", "shape": [8]}, {"name": "norm.weight", "shape": [8]},
         {"name": "output.weight", "shape": [32, 8]}]


@pytest.fixture
def files(tmp_path, monkeypatch):
    return write_cli_files(tmp_path, monkeypatch, RULES, SPEC)


def load(path):
    from safetensors.numpy import load_file

    return load_file(str(path))


def test_explain_takes_vars_and_only(files, capsys):
    code, out, err = run(capsys, "explain", "rules.toml", "--params", "spec.json", "--var", "std=0.5",
                         "--only", "layers.*", "--json")
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(out)["rows"]}
    assert rows["layers.1.w"]["args"] == {"sigma": 0.5 / np.sqrt(2)} and rows["layers.1.w"]["variables"]["std"] == 0.5
    assert rows["head.b"]["source"] == "keep" and rows["head.b"]["key"] is None
    code, _, err = run(capsys, "explain", "rules.toml", "--params", "spec.json")  # std comes from nowhere
    assert code == 2 and "uses unknown variable(s) 'std'" in err and "rule 1 (layers.{i}.w)" in err


@pytest.mark.parametrize("flags, message", [
    (["--var", "std=abc"], "argument --var: 'std=abc': 'abc' is not a number; a variable is an integer or a float, "
                           "e.g. --var std=32 or --var std=0.02"),
    (["--var", "std"], "argument --var: 'std' is not NAME=VALUE; write e.g. --var n_layers=32"),
    (["--var", "std=inf"], "argument --var: 'std=inf': 'inf' is not a finite number"),
])
def test_a_var_that_is_not_a_number_is_a_usage_error_naming_flag_value_and_fix(files, capsys, flags, message):
    with pytest.raises(SystemExit) as exc:
        run(capsys, "explain", "rules.toml", "--params", "spec.json", *flags)
    assert exc.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--var", "std=1", "--var", "std=2"], "--var std is given twice (1 and 2); give each variable once"),
    (["--var", "fan_in=3"], "--var: 'fan_in' is computed from each parameter and cannot be set"),
    (["--only", "nothing.*"], "only=['nothing.*'] matches no parameter"),
    (["--recipe", "gpt2"], "--recipe gpt2 and RULES rules.toml both give the rules; give one of them"),
])
def test_bad_rule_flags_exit_2_with_the_reason(files, capsys, flags, message):
    code, out, err = run(capsys, "explain", "rules.toml", "--params", "spec.json", *flags)
    assert code == 2 and message in err and not out


def test_recipe_flag_and_rules_recipe_name_are_the_same_rules(tmp_path, monkeypatch, capsys):
    write_cli_files(tmp_path, monkeypatch, RULES, LLAMA)
    tables = []
    for how in (["--recipe", "torchtitan-llama3"], ["recipe:torchtitan-llama3"]):
        code, out, err = run(capsys, "explain", *how, "--params", "spec.json", "--var", "dim=8", "--seed", "1", "--json")
        assert code == 0, err
        tables.append(json.loads(out))
    assert tables[0] == tables[1]
    rows = {r["name"]: r for r in tables[0]["rows"]}
    assert rows["output.weight"]["args"]["sigma"] == 8 ** -0.5  # the recipe's dim ** -0.5 with --var dim=8
    code, _, err = run(capsys, "init", "--params", "spec.json", "--rules", "recipe:torchtitan-llama3", "--var", "dim=8",
                       "--seed", "1", "-o", "llama.safetensors", "-q")
    assert code == 0, err
    arrays = load(tmp_path / "llama.safetensors")
    row = initreg.explain([(e["name"], tuple(e["shape"])) for e in LLAMA], "recipe:torchtitan-llama3", seed=1,
                          vars={"dim": 8})["output.weight"]
    assert arrays["output.weight"].tobytes() == initreg.values(row.initializer, (32, 8), name="output.weight",
                                                               seed=1).tobytes()


def test_init_records_the_vars_so_verify_and_check_recompute_the_file_alone(files, capsys):
    code, out, err = run(capsys, "init", "--params", "spec.json", "--rules", "rules.toml", "--var", "std=0.5",
                         "-o", "a.safetensors")
    assert code == 0, err
    from safetensors import safe_open

    with safe_open(str(files / "a.safetensors"), "np") as f:
        assert json.loads(f.metadata()["initreg.rules"])["vars"] == {"std": 0.5}
    assert run(capsys, "verify", "a.safetensors")[0] == 0
    code, out, _ = run(capsys, "check", "a.safetensors")  # the recorded rules, their vars and seed: bits too
    assert code == 0 and "3 passed, 0 failed" in out
    code, out, _ = run(capsys, "check", "a.safetensors", "--var", "std=5")  # another std: other bits, caught
    assert code == 1 and "16 of 16 values differ" in out
    want = initreg.values(["normal", {"sigma": 0.5 / np.sqrt(2)}], (4, 4), name="layers.1.w", seed=0)
    assert load(files / "a.safetensors")["layers.1.w"].tobytes() == want.tobytes()


@pytest.mark.parametrize("out", ["part.safetensors", "part.npz"])
def test_init_only_writes_the_matching_tensors_with_the_whole_files_bits(files, capsys, out):
    assert run(capsys, "init", "--params", "spec.json", "--rules", "rules.toml", "--var", "std=0.5", "-q",
               "-o", "whole.safetensors")[0] == 0
    code, _, err = run(capsys, "init", "--params", "spec.json", "--rules", "rules.toml", "--var", "std=0.5", "-q",
                       "--only", "layers.1.*", "--only", "head.*", "-o", out)
    assert code == 0, err
    whole = load(files / "whole.safetensors")
    part = dict(np.load(files / out)) if out.endswith(".npz") else load(files / out)
    assert sorted(part) == ["head.b", "layers.1.w"]
    assert all(part[n].tobytes() == whole[n].tobytes() for n in part)
    if out.endswith(".safetensors"):
        assert run(capsys, "verify", out)[0] == 0
        code, text, _ = run(capsys, "check", out, "--only", "layers.*")
        assert code == 0 and "1 passed, 0 failed" in text


def test_init_torch_takes_the_rule_flags(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    (tmp_path / "fx_wiring_models.py").write_text(
        "import torch\n\ndef model():\n    return torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))\n")
    write_cli_files(tmp_path, monkeypatch, '[[rule]]\npattern = "{k}.weight"\ninit = "normal"\n'
                                           'sigma = { expr = "s * (k + 1)" }\n', [])
    monkeypatch.setattr(sys, "path", list(sys.path))
    code, _, err = run(capsys, "init", "--torch", "fx_wiring_models:model", "--rules", "rules.toml", "--var", "s=0.1",
                       "--only", "1.*", "--seed", "3", "-q", "-o", "head.safetensors")
    sys.modules.pop("fx_wiring_models", None)
    assert code == 0, err
    head = load(tmp_path / "head.safetensors")
    assert sorted(head) == ["1.bias", "1.weight"]
    assert head["1.weight"].tobytes() == initreg.values(["normal", {"sigma": 0.2}], (2, 4), name="1.weight",
                                                        seed=3).tobytes()
