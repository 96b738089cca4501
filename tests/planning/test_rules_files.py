"""Rule files (TOML and JSON): loading, canonical round trip, errors naming file and rule; a 300-parameter model."""

from __future__ import annotations

import json
import random
import warnings

import numpy as np
import pytest

import initreg
from initreg import Parameter, ParameterDict, Rules, explain
from initreg.errors import (InitializerArgumentError, InitializerTypeError, RuleError, UnknownInitializerError)
from initreg.std import Constant, Mixture, Normal, One, Orthogonal, Uniform, Xavier, Zero

ISSUE_EXAMPLE = """\
seed = 0
default = "uniform"
[[rule]]
pattern = "*.bias"
init = "zeros"
[[rule]]
pattern = "*.weight"
init = "xavier"
magnitude = 2.0
"""

# Written by hand: the canonical form of ISSUE_EXAMPLE (registered names, a blank line before each rule).
CANONICAL_TOML = """\
seed = 0
default = "uniform"

[[rule]]
pattern = "*.bias"
init = "zero"

[[rule]]
pattern = "*.weight"
init = "xavier"
magnitude = 2.0
"""

CANONICAL_JSON = """\
{
  "seed": 0,
  "default": "uniform",
  "rule": [
    {
      "pattern": "*.bias",
      "init": "zero"
    },
    {
      "pattern": "*.weight",
      "init": "xavier",
      "magnitude": 2.0
    }
  ]
}
"""

EXPECTED = Rules([("*.bias", Zero()), ("*.weight", Xavier(magnitude=2.0))], default=Uniform(), seed=0)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_issue_example_loads(tmp_path):
    rules = Rules.load(write(tmp_path, "rules.toml", ISSUE_EXAMPLE))
    assert rules == EXPECTED and rules.seed == 0 and rules.default == Uniform()
    assert [(r.number, r.pattern) for r in rules] == [(1, "*.bias"), (2, "*.weight")]


def test_json_form_loads_to_the_same_rules(tmp_path):
    assert Rules.load(write(tmp_path, "rules.json", CANONICAL_JSON)) == EXPECTED


def test_canonical_text_round_trips_exactly():
    assert EXPECTED.dumps() == CANONICAL_TOML
    assert EXPECTED.dumps("json") == CANONICAL_JSON
    assert Rules.loads(ISSUE_EXAMPLE).dumps() == CANONICAL_TOML
    for fmt, text in (("toml", CANONICAL_TOML), ("json", CANONICAL_JSON)):
        assert Rules.loads(text, fmt).dumps(fmt) == text
        assert Rules.loads(text, fmt) == EXPECTED


ROUND_TRIP = [
    Rules([]),
    Rules([("re:lstm\\.l\\d+\\.weight_hh", Orthogonal(scale=1.0)), ("it's a \\ name", One())]),
    Rules([("*.w", Constant([1.5, -2.0])), ("*.v", Constant(np.arange(4, dtype=np.float32).reshape(2, 2)))]),
    Rules([("*.m", Mixture([(0.25, Zero()), (0.75, Normal(sigma=0.1))]))], default=Normal(sigma=0.02, mean=1.0)),
    Rules([("naïve.*", Uniform(low=-1.0, high=2.5)), ("tab\tname", Normal(1e-05))], seed=2**64 + 3),
    Rules([("*.x", Uniform(low=None, high=None))]),  # None arguments equal to their defaults are left out of TOML
]


@pytest.mark.parametrize("rules", ROUND_TRIP, ids=range(len(ROUND_TRIP)))
@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_round_trip(rules, fmt):
    text = rules.dumps(fmt)
    again = Rules.loads(text, fmt)
    assert again == rules
    assert again.dumps(fmt) == text
    assert [r.init.config().keys() for r in again] == [r.init.config().keys() for r in rules]


def test_regex_written_as_a_toml_literal_string():
    text = ROUND_TRIP[1].dumps()
    assert "pattern = 're:lstm\\.l\\d+\\.weight_hh'" in text  # readable: no doubled backslashes
    assert 'pattern = "it\'s a \\\\ name"' in text  # a quote inside: a basic string with escapes


def test_nested_and_array_arguments_in_toml():
    text = ROUND_TRIP[3].dumps()
    assert 'default = { init = "normal", sigma = 0.02, mean = 1.0 }' in text
    assert 'components = [[0.25, { "@init" = ["zero", {}] }], [0.75, { "@init" = ["normal", { sigma = 0.1 }] }]]' in text


class Odd(initreg.Initializer):
    """An argument whose default is not None."""

    def __init__(self, x=1.0, init=None):
        self.x = x

    def fill(self, desc, out, rng):
        out[...] = 0


def test_toml_cannot_write_null():
    with pytest.raises(RuleError, match="TOML has no null.*format='json'"):
        Rules([("a", Odd(x=None))]).dumps()
    assert json.loads(Rules([("a", Odd(x=None))]).dumps("json"))["rule"][0]["x"] is None


def test_argument_named_like_a_rule_key_is_written_as_a_spec():
    doc = Rules([("a", Odd(init=2.0))]).to_document()
    assert doc["rule"][0] == {"pattern": "a", "init": '["odd", {"init": 2.0}]'}


def test_default_as_a_table(tmp_path):
    text = 'default = { init = "normal", sigma = 0.5 }\n'
    assert Rules.load(write(tmp_path, "r.toml", text)).default == Normal(sigma=0.5)
    assert Rules.loads('{"default": {"init": "normal", "sigma": 0.5}}', "json").default == Normal(sigma=0.5)


# --- errors name the file and the rule ---------------------------------------------------------------------

def rule_file(*rules: str) -> str:
    return "seed = 1\n" + "".join(f"\n[[rule]]\n{r}\n" for r in rules)


@pytest.mark.parametrize("rules, error, fragments", [
    (['pattern = "*.b"\ninit = "zeros"', 'pattern = "*.w"'], RuleError, ["rule 2", "missing 'init'"]),
    (['init = "zeros"'], RuleError, ["rule 1", "missing 'pattern'"]),
    (['pattern = "*.b"\ninit = "zeros"', 'pattern = "*.c"\ninit = "ones"', 'pattern = "*.w"\ninit = "xavierr"'],
     UnknownInitializerError, ["rule 3 ('*.w')", "xavierr"]),
    (['pattern = "*.w"\ninit = "normal"\nsigmaa = 0.1'], InitializerTypeError, ["rule 1 ('*.w')", "sigma"]),
    (['pattern = "*.w"\ninit = "normal"\nsigma = -1.0'], InitializerArgumentError, ["rule 1", "sigma", "-1.0"]),
    (['pattern = "*.b"\ninit = "zeros"', 'pattern = "re:("\ninit = "zeros"'], RuleError, ["rule 2", "'re:('"]),
    (['pattern = "x.[z-a]"\ninit = "zeros"'], RuleError, ["rule 1", "reversed"]),
    (['pattern = 3\ninit = "zeros"'], RuleError, ["rule 1", "non-empty string"]),
])
def test_rule_errors_name_file_and_rule(tmp_path, rules, error, fragments):
    path = write(tmp_path, "model-rules.toml", rule_file(*rules))
    with pytest.raises(error) as info:
        Rules.load(path)
    msg = str(info.value)
    assert str(path) in msg
    for fragment in fragments:
        assert fragment in msg


def test_json_rule_errors_name_file_and_rule(tmp_path):
    path = write(tmp_path, "r.json", json.dumps({"rule": [{"pattern": "*.b", "init": "zeros"}, {"init": "ones"}]}))
    with pytest.raises(RuleError, match=f"{path}: rule 2: missing 'pattern'"):
        Rules.load(path)


@pytest.mark.parametrize("name, text, fragment", [
    ("r.toml", "seed = \n", "invalid TOML"),
    ("r.json", "{", "invalid JSON"),
    ("r.toml", "[[rules]]\npattern = 'a'\ninit = 'zeros'\n", "unknown key(s) 'rules'"),
    ("r.toml", "seed = -1\n", "seed must be non-negative"),
    ("r.toml", "seed = 1.5\n", "seed must be a non-negative integer"),
    ("r.toml", "default = { sigma = 1.0 }\n", "default is a table without 'init'"),
    ("r.toml", "default = 'nope'\n", "default"),
    ("r.json", "[1, 2]", "got list"),
    ("r.json", '{"rule": {"pattern": "a"}}', "'rule' must be a list"),
    ("r.yaml", "seed: 1", "name it *.toml or *.json"),
])
def test_file_errors_name_the_file(tmp_path, name, text, fragment):
    path = write(tmp_path, name, text)
    with pytest.raises(initreg.InitregError) as info:
        Rules.load(path)
    assert str(path) in str(info.value) and fragment in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(RuleError, match="does not exist"):
        Rules.load(tmp_path / "nope.toml")


def test_seed_and_rules_from_a_file_drive_initialize(tmp_path):
    path = write(tmp_path, "r.toml", 'seed = 5\n\n[[rule]]\npattern = "*.w"\ninit = "normal"\nsigma = 3.0\n')
    a = ParameterDict([Parameter("x.w", (20,))])
    a.initialize(Rules.load(path))
    assert np.array_equal(a["x.w"].data(), Normal(sigma=3.0)((20,), seed=5, name="x.w"))


# --- a 300-parameter model ----------------------------------------------------------------------------------

MODEL_RULES = """\
seed = 7
default = { init = "uniform", scale = 0.1 }

[[rule]]
pattern = "*.bias"
init = "zeros"

[[rule]]
pattern = 're:blocks\\.\\d+\\.ln\\d\\.gamma'
init = "ones"

[[rule]]
pattern = "*.beta"
init = "constant"
value = 0.25

[[rule]]
pattern = "*.attn.*.weight"
init = "normal"
sigma = 0.02

[[rule]]
pattern = "*.rnn.weight_hh"
init = "orthogonal"
scale = 1.0
"""

LAYER = [("attn.qkv.weight", (24, 8)), ("attn.qkv.bias", (24,)), ("attn.proj.weight", (8, 8)), ("attn.proj.bias", (8,)),
         ("ln1.gamma", (8,)), ("ln1.beta", (8,)), ("mlp.fc1.weight", (32, 8)), ("mlp.fc1.bias", (32,)),
         ("mlp.fc2.weight", (8, 32)), ("rnn.weight_hh", (8, 8))]


def model(order_seed=None, extra=0) -> ParameterDict:
    """30 blocks × 10 parameters; fc2 weights declare Xavier (no rule matches them), fc1 weights fall to the default."""
    params = [Parameter(f"blocks.{i}.{n}", s, init=Xavier() if n == "mlp.fc2.weight" else None)
              for i in range(30) for n, s in LAYER]
    params += [Parameter(f"extra.{k}.weight", (5, 5)) for k in range(extra)]
    if order_seed is not None:
        random.Random(order_seed).shuffle(params)
    return ParameterDict(params)


def check_values(row, v):
    """An independent check that values look drawn by the initializer ``row`` names (fixed seed)."""
    if row.init == "zero":
        assert np.all(v == 0)
    elif row.init == "one":
        assert np.all(v == 1)
    elif row.init == "constant":
        assert np.all(v == np.float32(0.25))
    elif row.init == "normal":
        # n >= 64 draws of N(0, 0.02²): the sample std lies within ±35% of 0.02 except with probability < 1e-4,
        # while U(-0.1, 0.1) (std 0.058) or a constant would land far outside.
        assert 0.65 * 0.02 < v.std() < 1.35 * 0.02 and abs(v.mean()) < 0.02
    elif row.init == "orthogonal":
        gram = v @ v.T  # rows orthonormal: W·Wᵀ = I for a square matrix with scale 1
        assert np.allclose(gram, np.eye(len(v)), atol=1e-5)
    elif row.init == "uniform":
        # 256 draws of U(-0.1, 0.1): P(max |x| < 0.08) = 0.8^256 ≈ 1e-25, so the bound is reached but not passed
        assert np.abs(v).max() <= 0.1 and np.abs(v).max() > 0.08
    elif row.init == "xavier":
        bound = np.sqrt(3.0 / ((8 + 32) / 2))  # magnitude 3, factor avg: U(-sqrt(3/avg fan), +)
        assert np.abs(v).max() <= bound * (1 + 1e-6) and np.abs(v).max() > 0.8 * bound
    else:  # pragma: no cover - the rule file names no other initializer
        raise AssertionError(row.init)


def test_300_parameters_get_what_explain_says_and_do_not_depend_on_the_rest(tmp_path):
    rules = Rules.load(write(tmp_path, "model.toml", MODEL_RULES))
    pd = model()
    assert len(pd) == 300
    table = explain(pd, rules)
    assert not table.diagnostics and table.seed == 7
    pd.initialize(rules)
    sources = {}
    for row in table:
        p = pd[row.name]
        rec = p.record
        assert (rec["initializer"], rec["config"], rec["source"], rec["seed"]) == (row.init, row.config, row.decided_by, 7)
        check_values(row, p.data())
        sources.setdefault(row.decided_by, set()).add(row.name.split(".", 2)[2])
    assert sources == {"rule 1 (*.bias)": {"attn.qkv.bias", "attn.proj.bias", "mlp.fc1.bias"},
                       "rule 2 (re:blocks\\.\\d+\\.ln\\d\\.gamma)": {"ln1.gamma"}, "rule 3 (*.beta)": {"ln1.beta"},
                       "rule 4 (*.attn.*.weight)": {"attn.qkv.weight", "attn.proj.weight"},
                       "rule 5 (*.rnn.weight_hh)": {"rnn.weight_hh"}, "declared": {"mlp.fc2.weight"},
                       "default": {"mlp.fc1.weight"}}

    # Reordered, with unrelated parameters added, loaded from the JSON form: the same values, name by name.
    json_rules = Rules.load(write(tmp_path, "model.json", rules.dumps("json")))
    other = model(order_seed=3, extra=40)
    other.initialize(json_rules)
    assert list(other.keys()) != list(pd.keys())
    for name, p in pd.items():
        assert np.array_equal(other[name].data(), p.data()), name


def test_an_optional_rule_may_match_nothing_and_keeps_its_flag():
    # a family's rule file has rules some members never use (Llama's attention_bias): they warned on every model
    text = '[[rule]]\npattern = "*.weight"\ninit = "xavier"\n\n[[rule]]\npattern = "*.bias"\noptional = true\ninit = "zeros"\n'
    rules = Rules.loads(text, format="toml")
    assert [r.optional for r in rules] == [False, True]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = initreg.explain({"w.weight": (4, 4)}, rules, strict=True)
    assert table["w.weight"].source.startswith("rule")
    again = Rules.loads(rules.dumps("toml"), format="toml")
    assert [r.optional for r in again] == [False, True]
    assert [r.optional for r in Rules.loads(rules.dumps("json"), format="json")] == [False, True]
    assert [r.optional for r in rules.replace(vars={"x": 1})] == [False, True]


def test_an_optional_rule_still_warns_when_shadowed_and_takes_only_a_boolean():
    text = '[[rule]]\npattern = "*"\ninit = "xavier"\n\n[[rule]]\npattern = "*.bias"\noptional = true\ninit = "zeros"\n'
    with pytest.warns(initreg.ShadowedRuleWarning, match=r"rule 2 \(\*\.bias\) is shadowed"):
        initreg.explain({"w.bias": (4,)}, Rules.loads(text, format="toml")).diagnostics.warn()
    with pytest.raises(initreg.RuleError, match=r"rule 1: optional must be true or false.*got 'yes'"):
        Rules.loads('[[rule]]\npattern = "*"\noptional = "yes"\ninit = "zeros"\n', format="toml")
