"""Provenance records each plugin's version (verify notes a different installed one), a rule file's
``requires`` is checked at load, and the caller's vars, each tensor's expressions with their variables and its
name-map key are recorded, so verify recomputes every value, and every expression, from the files alone."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("safetensors")

import initreg  # noqa: E402
from initreg import Rules  # noqa: E402
from initreg.checkpoints.files import safetensors_layout  # noqa: E402
from initreg.checkpoints.writing import save_initial  # noqa: E402
from cli_helpers import run  # noqa: E402
from crafting import set_tensor_record  # noqa: E402

STRUCTURED = "initreg-structured"


def structured_version():
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(STRUCTURED)
    except PackageNotFoundError:
        pytest.skip("the initreg-structured plugin (plugins/initreg-structured) is not installed")


def meta_of(path):
    return safetensors_layout(path)[0]


def test_each_plugins_version_is_recorded_and_verify_notes_a_different_installed_one(tmp_path, monkeypatch, capsys):
    from initreg.plugins import registry

    have = structured_version()
    out = tmp_path / "m.safetensors"
    save_initial([("a.weight", (8, 8)), ("a.bias", (8,))], Rules([("*.weight", "identity"), ("*.bias", "zeros")]),
                 out, seed=0)
    plugins = json.loads(meta_of(out)["initreg.plugins"])
    assert plugins == {"initreg": registry.installed_version("initreg"), STRUCTURED: have}
    result = initreg.verify(out)
    assert result.ok and result.notes == []
    real = registry.installed_version
    monkeypatch.setattr(registry, "installed_version", lambda d: "9.9" if d == STRUCTURED else real(d))
    result = initreg.verify(out)
    assert result.status == 0  # a note, not a failure
    assert result.notes == [f"plugin {STRUCTURED!r} was {have} when the checkpoint was written and is 9.9 here; the "
                            f"values were recomputed with the installed one"]
    code, stdout, err = run(capsys, "verify", str(out))
    assert code == 0 and "identical" in stdout and f"initreg verify: note: plugin {STRUCTURED!r} was {have}" in err


def test_a_rule_files_requires_is_checked_at_load_naming_the_requirement_the_installed_version_and_the_fix():
    have = structured_version()
    ok = Rules.loads(f'requires = ["{STRUCTURED}>={have}"]\n\n[[rule]]\npattern = "*"\ninit = "identity"\n')
    assert ok.requires == (f"{STRUCTURED}>={have}",) and Rules.loads(ok.dumps()) == ok
    assert ok.dumps().startswith(f'requires = ["{STRUCTURED}>={have}"]\n')
    with pytest.raises(initreg.RuleError) as info:
        Rules.loads(f'requires = ["{STRUCTURED}>=99"]\n', source="model.toml")
    assert str(info.value) == (f"model.toml: requires '{STRUCTURED}>=99', but {STRUCTURED} {have} is installed; "
                               f"install a matching version: pip install '{STRUCTURED}>=99'")
    assert isinstance(info.value, ValueError)
    with pytest.raises(initreg.RuleError, match="'initreg-no-such-plugin' is not installed|initreg-no-such-plugin is "
                                                "not installed; install it: pip install 'initreg-no-such-plugin>=1'"):
        Rules.loads('requires = ["initreg-no-such-plugin>=1"]\n')
    with pytest.raises(initreg.RuleError, match="'requires' must be a list"):
        Rules.loads(f'requires = "{STRUCTURED}"\n')


def test_the_plain_parser_agrees_with_packaging_where_packaging_is_missing():
    from initreg.planning import requirements

    for spec, version in [("a>=0.2", "0.1.0"), ("a>=0.2,<1", "0.5"), ("a~=1.4.2", "1.4.9"), ("a~=1.4.2", "1.5"),
                          ("a==1.*", "1.9"), ("a!=1.0", "1.0.0"), ("a", "3"), ("a<2", "1.99.1"), ("a==1.0", "1")]:
        assert requirements._parse_plain(spec, "w")[1](version) == requirements._parse(spec, "w")[1](version), spec


def test_vars_expressions_and_name_map_keys_are_recorded_and_verify_recomputes_from_them(tmp_path):
    out = tmp_path / "g.safetensors"
    spec = [("transformer.h.0.attn.c_proj.weight", (16, 16)), ("transformer.h.0.ln_1.weight", (16,)),
            ("stage.h.0.mlp.c_fc.weight", (16, 32))]
    save_initial(spec, "recipe:gpt2", out, seed=1, vars={"n_layer": 3},
                 name_map=[(r"^stage\.", "transformer.")])
    meta = meta_of(out)
    assert json.loads(meta["initreg.vars"]) == {"n_layer": 3}
    assert json.loads(meta["initreg.rules"])["vars"] == {"n_layer": 12, "initializer_range": 0.02}  # the recipe's
    records = json.loads(meta["initreg.tensors"])
    proj = records["transformer.h.0.attn.c_proj.weight"]
    assert proj["exprs"] == {"sigma": "initializer_range / sqrt(2 * n_layer)"}
    assert proj["variables"] == {"initializer_range": 0.02, "n_layer": 3}
    assert proj["init"] == ["normal", {"sigma": 0.02 / 6 ** 0.5}]
    assert records["stage.h.0.mlp.c_fc.weight"]["key_name"] == "transformer.h.0.mlp.c_fc.weight"
    assert "key_name" not in proj and "exprs" not in records["transformer.h.0.ln_1.weight"]
    result = initreg.verify(out)
    assert result.ok and result.tensors == 3
    from safetensors.numpy import load_file

    whole = initreg.values(initreg.init.Normal(0.02), (16, 32), name="transformer.h.0.mlp.c_fc.weight", seed=1)
    assert (load_file(str(out))["stage.h.0.mlp.c_fc.weight"] == whole).all()  # drawn under the mapped name


def test_verify_refuses_a_record_whose_argument_is_not_what_its_expression_gives(tmp_path):
    out = tmp_path / "g.safetensors"
    save_initial([("transformer.h.0.attn.c_proj.weight", (16, 16))], "recipe:gpt2", out, seed=1, vars={"n_layer": 3})
    set_tensor_record(out, "transformer.h.0.attn.c_proj.weight",
                      variables={"initializer_range": 0.02, "n_layer": 4})  # says 4 layers, holds 3 layers' std
    result = initreg.verify(out)
    assert result.status == 2
    assert "the recorded expression 'initializer_range / sqrt(2 * n_layer)' gives 0.00707" in result.problems[0]


def test_a_name_mapped_tensor_holds_the_whole_models_values_and_a_wrong_key_name_is_refused(tmp_path):
    from safetensors.numpy import load_file

    out = tmp_path / "stage.safetensors"
    save_initial([("layers.0.w", (4, 6))], {"*": "normal"}, out, seed=2,
                 name_map=[(r"^layers\.(?P<i>\d+)\.", "layers.{i + 2}.")])
    assert (load_file(str(out))["layers.0.w"] == initreg.values("normal", (4, 6), name="layers.2.w", seed=2)).all()
    assert initreg.verify(out).ok
    set_tensor_record(out, "layers.0.w", key_name="layers.3.w")
    result = initreg.verify(out)
    assert result.status == 2 and "which is not that name's" in result.problems[0]
