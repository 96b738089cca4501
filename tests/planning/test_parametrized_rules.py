"""Rules with captures, expression arguments and variables: the depth-scaled Llama init as one short rule file."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

import initreg
from initreg import ParameterDict, Parameter, Rules
from initreg.planning.expressions import expr

LLAMA_DEPTH = '''\
seed = 0

[vars]
init_std = 0.02
dim = 64

[[rule]]
pattern = "layers.{layer}.attention.wo.weight"
init = "truncated_normal"
sigma = { expr = "init_std / sqrt(2 * (layer + 1))" }
a = -3.0
b = 3.0

[[rule]]
pattern = 're:layers\\.(?P<layer>\\d+)\\.feed_forward\\.w[23]\\.weight'
init = "truncated_normal"
sigma = { expr = "init_std / sqrt(2 * (layer + 1))" }
a = -3.0
b = 3.0

[[rule]]
pattern = "*_norm.weight"
init = "ones"

[[rule]]
pattern = "norm.weight"
init = "ones"

[[rule]]
pattern = "tok_embeddings.weight"
init = "normal"
sigma = 1.0

[[rule]]
pattern = "output.weight"
init = "truncated_normal"
sigma = { expr = "dim ** -0.5" }
a = -3.0
b = 3.0

[[rule]]
pattern = "*.weight"
init = "truncated_normal"
sigma = { expr = "init_std" }
a = -3.0
b = 3.0
'''


def llama_spec(n_layers=32, dim=64, hidden=96, vocab=100):
    spec = [("tok_embeddings.weight", (vocab, dim))]
    for i in range(n_layers):
        p = f"layers.{i}."
        spec += [(p + "attention.wq.weight", (dim, dim)), (p + "attention.wk.weight", (dim, dim)),
                 (p + "attention.wv.weight", (dim, dim)), (p + "attention.wo.weight", (dim, dim)),
                 (p + "feed_forward.w1.weight", (hidden, dim)), (p + "feed_forward.w2.weight", (dim, hidden)),
                 (p + "feed_forward.w3.weight", (hidden, dim)),
                 (p + "attention_norm.weight", (dim,)), (p + "ffn_norm.weight", (dim,))]
    return spec + [("norm.weight", (dim,)), ("output.weight", (vocab, dim))]


def test_a_32_layer_depth_scaled_init_is_one_file_of_at_most_8_rules_and_explain_shows_each_layers_std():
    rules = Rules.loads(LLAMA_DEPTH)
    assert len(rules) <= 8
    table = initreg.explain(llama_spec(), rules, strict=True)  # strict: no unused or shadowed rule
    text = str(table)
    for layer in range(32):
        std = 0.02 / math.sqrt(2 * (layer + 1))
        for name in (f"layers.{layer}.attention.wo.weight", f"layers.{layer}.feed_forward.w2.weight",
                     f"layers.{layer}.feed_forward.w3.weight"):
            row = table[name]
            assert row.args["sigma"] == pytest.approx(std, rel=1e-15) and row.config["sigma"] == row.args["sigma"]
            assert row.exprs == {"sigma": "init_std / sqrt(2 * (layer + 1))"}
            assert row.variables == {"init_std": 0.02, "layer": layer}
            assert row.initializer.sigma == row.args["sigma"]
        line = next(line for line in text.splitlines() if line.startswith(f"layers.{layer}.attention.wo.weight "))
        assert f"sigma=init_std / sqrt(2 * (layer + 1)) = {std:.6g}" in line
    assert table["layers.0.feed_forward.w1.weight"].args["sigma"] == 0.02
    assert table["output.weight"].args["sigma"] == 64 ** -0.5
    assert table["layers.3.ffn_norm.weight"].init == "one"
    doc = table.to_dict()["rows"]
    wo = next(r for r in doc if r["name"] == "layers.5.attention.wo.weight")
    assert wo["exprs"] == {"sigma": "init_std / sqrt(2 * (layer + 1))"} and wo["variables"]["layer"] == 5


def test_depth_scaled_values_have_the_computed_std():
    rules = Rules.loads(LLAMA_DEPTH)
    spec = [(f"layers.{i}.attention.wo.weight", (512, 512)) for i in (0, 31)]
    table = initreg.explain(spec, rules, seed=3)
    for row, layer in zip(table, (0, 31)):
        values = initreg.values(row.initializer, row.shape, name=row.key_name, seed=3)
        sigma = 0.02 / math.sqrt(2 * (layer + 1))
        # truncated at 3 sigma, the std is 0.9866 sigma; 262,144 draws put the sample std within 1%
        assert np.std(values) == pytest.approx(0.98658 * sigma, rel=0.01)


def test_caller_vars_override_the_files():
    rules = Rules.loads(LLAMA_DEPTH)
    table = initreg.explain([("layers.1.attention.wo.weight", (4, 4))], rules, vars={"init_std": 0.5})
    assert table[0].args["sigma"] == pytest.approx(0.25)
    assert table[0].variables == {"init_std": 0.5, "layer": 1}


def test_captures_glob_and_regex_forms():
    rules = Rules([
        ("blocks.{i}.{kind}.weight", ("normal", {"sigma": expr("0.1 * (i + 1)")})),
        (r"re:head\.(?P<k>\d+)\.bias", {"name": "constant", "value": expr("k * 10")}),
    ])
    table = initreg.explain([("blocks.2.mlp.weight", (3, 3)), ("blocks.10.attn.weight", (3, 3)),
                             ("blocks.1.x.y.weight", (3, 3)), ("head.7.bias", (2,))], rules)
    assert table["blocks.2.mlp.weight"].args == {"sigma": pytest.approx(0.3)}
    assert table["blocks.2.mlp.weight"].variables == {"i": 2}  # only what the expression reads
    assert table["blocks.10.attn.weight"].args == {"sigma": pytest.approx(1.1)}
    assert table["blocks.1.x.y.weight"].source == "global default"  # {name} is one dotted part: no match
    assert table["head.7.bias"].args == {"value": 70}


def test_parameter_shape_and_fans_in_expressions():
    rules = Rules([("*.weight", ("normal", {"sigma": expr("1 / sqrt(fan_in)")})),
                   ("*.bias", ("constant", {"value": expr("shape[0] + fan_out")}))])
    with pytest.raises(initreg.RuleError, match="'fan_out' cannot be computed: fan_out needs at least 2 dimensions"):
        initreg.explain([("fc.weight", (10, 16)), ("fc.bias", (10,))], rules)
    rules = Rules([("*.weight", ("normal", {"sigma": expr("1 / sqrt(fan_in)")}))])
    assert initreg.explain([("c.weight", (8, 4, 3, 3))], rules)[0].args["sigma"] == pytest.approx(1 / 6)


def test_a_deferred_shape_with_a_fan_expression_is_a_clear_error_and_nothing_changes():
    params = ParameterDict([Parameter("fc.weight", (4, None)), Parameter("fc.bias", (4,))])
    rules = Rules([("*.weight", ("normal", {"sigma": expr("1 / sqrt(fan_in)")}))])
    with pytest.raises(initreg.RuleError, match="its shape is not known yet"):
        params.initialize(rules, seed=0)
    assert [p.state for p in params.values()] == ["declared", "declared"]


def test_an_unknown_variable_in_a_file_with_vars_is_refused_at_load_naming_rule_expression_and_name(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('[vars]\ninit_std = 0.02\n\n[[rule]]\npattern = "*.wo.weight"\ninit = "normal"\n'
                    'sigma = { expr = "init_std / sqrt(2 * n_layers)" }\n')
    with pytest.raises(initreg.RuleError) as err:
        Rules.load(path)
    msg = str(err.value)
    assert "rule 1" in msg and "'init_std / sqrt(2 * n_layers)'" in msg and "'n_layers'" in msg and "[vars]" in msg


def test_an_unknown_variable_without_vars_is_refused_before_anything_is_drawn():
    rules = Rules([("*.weight", ("normal", {"sigma": expr("init_std / sqrt(2 * n_layers)")}))])
    params = ParameterDict([Parameter("a.bias", (3,)), Parameter("a.weight", (3, 3))])
    params.initialize("ones", seed=0)
    before = {n: p.data().copy() for n, p in params.items()}
    with pytest.raises(initreg.RuleError, match=r"rule 1 \(\*\.weight\), parameter 'a.weight': expression .* 'n_layers'"):
        params.initialize(rules, seed=0, force_reinit=True, vars={"init_std": 0.02})
    assert all(np.array_equal(p.data(), before[n]) for n, p in params.items())
    params.initialize(rules, seed=0, force_reinit=True, vars={"init_std": 0.02, "n_layers": 2})
    assert params["a.weight"].record["config"]["sigma"] == pytest.approx(0.01)


@pytest.mark.parametrize("body, match", [
    ('sigma = { expr = "0.02 / (" }', "rule 1 .*argument 'sigma'.*not valid"),
    ('sigma = { expr = "os.getcwd()" }', "call of 'os.getcwd'"),
    ('sigm = { expr = "0.02" }', "takes no argument 'sigm'.*did you mean 'sigma'"),
])
def test_bad_expressions_in_files_are_load_errors_naming_file_and_rule(body, match):
    with pytest.raises(initreg.RuleError, match=match) as err:
        Rules.loads(f'[[rule]]\npattern = "*.weight"\ninit = "normal"\n{body}\n', source="my.toml")
    assert str(err.value).startswith("my.toml: rule 1")


@pytest.mark.parametrize("variables, match", [
    ({"fan_in": 3}, "computed from each parameter"), ({"n layers": 3}, "not an identifier"),
    ({"n": "3"}, "must be a number"), ({"n": True}, "must be a number"), ([1], "must be a mapping"),
])
def test_bad_variables_are_rule_errors(variables, match):
    with pytest.raises(initreg.RuleError, match=match):
        initreg.explain([("a.weight", (2, 2))], Rules([("*", "zeros")]), vars=variables)


def test_a_capture_may_not_shadow_a_parameter_variable():
    with pytest.raises(initreg.RuleError, match="capture {shape}"):
        Rules([("layers.{shape}.w", ("normal", {"sigma": expr("shape[0]")}))])


def test_expressions_and_vars_round_trip_through_documents_toml_and_json():
    rules = Rules.loads(LLAMA_DEPTH)
    doc = rules.to_document()
    assert doc["vars"] == {"init_std": 0.02, "dim": 64}
    assert doc["rule"][0]["sigma"] == {"expr": "init_std / sqrt(2 * (layer + 1))"}
    assert Rules.loads(json.dumps(doc), format="json") == rules
    text = rules.dumps()
    assert Rules.loads(text) == rules and Rules.loads(text).dumps() == text
    assert Rules.loads(rules.dumps(format="json"), format="json") == rules
    assert Rules.loads(text.replace("0.02", "0.03")) != rules


def test_the_expression_rule_record_and_values_match_explain():
    rules = Rules.loads(LLAMA_DEPTH)
    params = ParameterDict([Parameter("layers.4.attention.wo.weight", (16, 16))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the other rules match nothing in this one-parameter dict
        params.initialize(rules)
    p = params["layers.4.attention.wo.weight"]
    row = initreg.explain(params, rules)[0]
    assert p.record["config"] == row.config and p.record["source"] == "rule 1 (layers.{layer}.attention.wo.weight)"
    assert np.array_equal(p.data(), initreg.values(row.initializer, (16, 16), name=row.key_name, seed=0))


def test_applied_rules_carry_the_callers_vars_for_provenance():
    from initreg.planning.precedence import applied_rules

    assert applied_rules("normal") is None
    doc = applied_rules("recipe:gpt2", {"n_layer": 48}).to_document()
    assert doc["vars"] == {"n_layer": 48, "initializer_range": 0.02} and doc["about"]["library"] == "transformers"
    again = Rules.loads(json.dumps(doc), format="json")
    row = initreg.explain([("h.0.attn.c_proj.weight", (4, 4))], again)[0]
    assert row.args["sigma"] == pytest.approx(0.02 / math.sqrt(96))
    assert applied_rules(Rules.loads(LLAMA_DEPTH)) == Rules.loads(LLAMA_DEPTH)


@pytest.mark.parametrize("pattern, name, hit", [
    ("a.{x}.b", "a.7.b", True), ("a.{x}.b", "a.7.8.b", False), ("a.{x}.b", "a..b", False),
    ("a{b", "a{b", True), ("a.{1x}.b", "a.{1x}.b", True), ("a.[{]x}.b", "a.{x}.b", True),
    ("*.{x}", "p.q.r", True), ("{x}?[0-9]", "ab7", True), ("{x}[!0-9]", "a7", False),
])
def test_glob_captures_match_one_dotted_part_and_other_braces_stay_literal(pattern, name, hit):
    from initreg.planning.patterns import compile_pattern

    assert compile_pattern(pattern)(name) is hit


def test_rules_made_in_python_with_vars_check_names_when_made_and_replace_keeps_everything():
    with pytest.raises(initreg.RuleError, match="'n_layers'"):
        Rules([("*.w", ("normal", {"sigma": expr("0.02 / n_layers")}))], vars={"n_layer": 2})
    rules = Rules([("*.w", ("normal", {"sigma": expr("0.02 / n")}))], vars={"n": 2}, seed=3, about={"from": "here"})
    again = rules.replace(default="zeros")
    assert (again.vars, again.seed, again.about, again.default.name, list(again)) == (
        {"n": 2}, 3, {"from": "here"}, "zero", list(rules))
