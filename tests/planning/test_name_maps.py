"""Name maps: a pipeline stage's local names draw the whole model's values; collisions and bad maps are errors."""

from __future__ import annotations

import numpy as np
import pytest

import initreg
from initreg import ParameterDict, Parameter, Rules
from initreg.planning.expressions import expr
from initreg.planning.name_maps import map_names

N_LAYERS = 8
RULES = Rules([("layers.{i}.mlp.weight", ("normal", {"sigma": expr("0.02 / sqrt(2 * (i + 1))")})),
               ("*.bias", "zeros"), ("*.weight", initreg.init.Normal(0.02))])


def whole_spec():
    spec = [("tok.weight", (32, 8))]
    for i in range(N_LAYERS):
        spec += [(f"layers.{i}.attn.weight", (8, 8)), (f"layers.{i}.mlp.weight", (8, 8)), (f"layers.{i}.mlp.bias", (8,))]
    return spec + [("out.weight", (32, 8))]


def stage_specs(n_stages):
    """The whole model cut the way torchtitan's splitter cuts it: each stage's layers re-indexed from 0."""
    bounds = np.linspace(0, N_LAYERS, n_stages + 1).astype(int)
    stages = []
    for s in range(n_stages):
        start, stop = int(bounds[s]), int(bounds[s + 1])
        spec = [("tok.weight", (32, 8))] if s == 0 else []
        for local, i in enumerate(range(start, stop)):
            spec += [(f"layers.{local}.attn.weight", (8, 8)), (f"layers.{local}.mlp.weight", (8, 8)),
                     (f"layers.{local}.mlp.bias", (8,))]
        if s == n_stages - 1:
            spec.append(("out.weight", (32, 8)))
        stages.append((start, spec))
    return stages


def drawn(table, seed):
    return {r.name: initreg.values(r.initializer, r.shape, name=r.key_name, seed=seed) for r in table}


@pytest.mark.parametrize("n_stages", [2, 3, 4])
def test_each_pipeline_stage_draws_exactly_the_whole_models_values(n_stages):
    whole = drawn(initreg.explain(whole_spec(), RULES, seed=11), 11)
    covered = set()
    for start, spec in stage_specs(n_stages):
        name_map = [(r"^layers\.(?P<i>\d+)\.", f"layers.{{i + {start}}}.")]
        table = initreg.explain(spec, RULES, seed=11, name_map=name_map)
        for row in table:
            assert row.key == initreg.Stream(11, row.key_name).key
            assert row.name in dict(spec)  # the row keeps the stage's own name
        for name, values in drawn(table, 11).items():
            key = table[name].key_name
            assert np.array_equal(values, whole[key]), (name, key)
            covered.add(key)
        if start > 0:  # the depth-scaled std follows the global index, not the local one
            assert table["layers.0.mlp.weight"].args["sigma"] == pytest.approx(0.02 / np.sqrt(2 * (start + 1)))
    assert covered == set(whole)


def test_a_stage_as_a_parameter_dict_gets_the_whole_models_values():
    whole = ParameterDict([Parameter(n, s) for n, s in whole_spec()])
    whole.initialize(RULES, seed=4)
    start, spec = stage_specs(2)[1]
    stage = ParameterDict([Parameter(n, s) for n, s in spec])
    stage.initialize(RULES, seed=4, name_map=[(r"^layers\.(?P<i>\d+)\.", f"layers.{{i + {start}}}.")])
    for name, p in stage.items():
        glob = name if not name.startswith("layers.") else f"layers.{int(name.split('.')[1]) + start}." + name.split(".", 2)[2]
        assert np.array_equal(p.data(), whole[glob].data()), name
        assert p.record["stream"] == whole[glob].record["stream"]


def test_a_deferred_parameter_keeps_its_mapped_key_until_drawn():
    whole = ParameterDict([Parameter("layers.5.w", (3, 4))])
    whole.initialize("normal", seed=2)
    stage = ParameterDict([Parameter("layers.0.w", (3, None))])
    stage.initialize("normal", seed=2, name_map=[(r"layers\.(?P<i>\d+)", "layers.{i + 5}")])
    stage["layers.0.w"].shape = (3, 4)
    assert np.array_equal(stage["layers.0.w"].data(), whole["layers.5.w"].data())


def test_a_callable_strips_wrapper_prefixes():
    names = ["_orig_mod.module.fc.weight", "_orig_mod.module.fc.bias"]
    table = initreg.explain([(n, (2, 2)) for n in names], "normal", seed=0,
                            name_map=lambda n: n.removeprefix("_orig_mod.").removeprefix("module."))
    assert [r.key_name for r in table] == ["fc.weight", "fc.bias"]
    plain = initreg.explain([("fc.weight", (2, 2))], "normal", seed=0)
    assert table[0].key == plain[0].key


def test_two_names_mapping_to_one_is_an_error_and_nothing_changes():
    params = ParameterDict([Parameter("layers.0.w", (2,)), Parameter("layers.1.w", (2,))])
    params.initialize("ones", seed=0)
    with pytest.raises(initreg.RuleError) as err:
        params.initialize("zeros", seed=0, force_reinit=True, name_map=[(r"layers\.\d+", "layers.0")])
    assert isinstance(err.value, ValueError)
    assert "'layers.0.w' and 'layers.1.w' to 'layers.0.w'" in str(err.value) and "nothing was changed" in str(err.value)
    assert all(np.array_equal(p.data(), np.ones(2)) for p in params.values())


@pytest.mark.parametrize("pairs, expected", [
    ([(r"layers\.(\d+)\.", "blocks.{1}.")], "blocks.3.w"),
    ([(r"layers\.(?P<i>\d+)", "layers.{i * 2 + 1}")], "layers.7.w"),
    ([(r"layers\.(?P<i>\d+)", "layers.{i // 2}"), (r"^", "model.")], "model.layers.1.w"),
    ([(r"(?P<k>[a-z]+)s\.", "{{{k}}}.")], "{layer}.3.w"),
    ([(r"\.(?P<i>\d+)\.", ".{i + off}.")], "layers.13.w"),
])
def test_replacement_syntax(pairs, expected):
    assert map_names(["layers.3.w"], pairs, {"off": 10}) == [expected]


@pytest.mark.parametrize("pairs, match", [
    ([(r"layers\.(?P<i>\d+)", "layers.{i / 2}")], "not a whole number"),
    ([(r"layers\.(\d+)", "layers.{2}")], "refers to group 2"),
    ([(r"layers", "x{")], "single '{'"),
    ([(r"layers\.(?P<i>\d+)", "layers.{j}")], "unknown variable"),
    ([(r"(", "x")], "invalid"),
    ([("", "x")], "empty"),
    ([("a", "b", "c")], "pair"),
    ("layers", "callable or a list"),
    ([(r"layers\.(?P<i>\d+)", "layers.{__import__('os')}")], "not allowed"),
])
def test_bad_name_maps_are_rule_errors(pairs, match):
    with pytest.raises(initreg.RuleError, match=match):
        map_names(["layers.3.w"], pairs)


def test_a_callable_that_fails_or_returns_a_non_string_names_the_parameter():
    with pytest.raises(initreg.RuleError, match="name_map failed on 'a'"):
        map_names(["a"], lambda n: 1 / 0)
    with pytest.raises(initreg.RuleError, match="must return a string"):
        map_names(["a"], lambda n: None)
