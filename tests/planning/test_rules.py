"""Rules: glob/regex semantics, first match wins, precedence, diagnostics, strict mode, explain."""

from __future__ import annotations

import fnmatch
import json
import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from initreg import Parameter, ParameterDict, Rules, explain
from initreg.errors import (ReinitializationWarning, RuleError, ShadowedRuleWarning,
                            UnknownInitializerError, UnusedRuleWarning)
from initreg.core.stream import Stream
from initreg.planning.rules import compile_pattern
from initreg.std import Constant, Normal, One, Zero


def first_rule(rules: Rules, name: str):
    r = rules.match(name)
    return None if r is None else r.number


def c(v: float) -> Constant:
    return Constant(v)


# --- glob and regex semantics ------------------------------------------------------------------------------

NAMES = ["fc.weight", "fc.bias", "features.3.weight", "features.3.bias", "features.12.bias", "layer1.weight",
         "layer10.weight", "lstm.l0.weight_hh", "lstm.l0.weight_ih", "encoder.layers.0.attn.weight", "bias",
         "Fc.weight", "fc.weights", "xfc.weight", "a[1].w"]


@pytest.mark.parametrize("pattern, expected", [
    ("*.bias", {"fc.bias", "features.3.bias", "features.12.bias"}),            # '*' crosses dots
    ("encoder.*.weight", {"encoder.layers.0.attn.weight"}),                    # several segments
    ("fc.weight", {"fc.weight"}),                                              # no wildcard: exactly one name
    ("layer?.weight", {"layer1.weight"}),                                      # '?' is exactly one character
    ("features.[0-9].*", {"features.3.weight", "features.3.bias"}),            # one digit, not 12
    ("features.[!3]*.bias", {"features.12.bias"}),
    ("lstm.*.weight_hh*", {"lstm.l0.weight_hh"}),
    ("*.Weight", set()),                                                       # case-sensitive
    ("a[[]1].w", {"a[1].w"}),                                                  # '[[]' is a literal '['
    ("re:features\\.\\d+\\.bias", {"features.3.bias", "features.12.bias"}),
    ("re:fc\\.weight", {"fc.weight"}),                                         # full match: not fc.weights
    ("re:.*\\.(weight|bias)", {n for n in NAMES if n.endswith((".weight", ".bias"))}),
    ("re:lstm\\.l\\d+\\.weight_(hh|ih)", {"lstm.l0.weight_hh", "lstm.l0.weight_ih"}),
    ("re:weight", set()),                                                      # a regex must match the whole name
])
def test_pattern_semantics(pattern, expected):
    match = compile_pattern(pattern)
    assert {n for n in NAMES if match(n)} == expected
    rules = Rules([(pattern, Zero())])
    assert {n for n in NAMES if rules.match(n) is not None} == expected


_GLOB_ALPHABET = st.sampled_from(list("ab.1*?[]!-"))
_NAME_ALPHABET = st.sampled_from(list("ab.1-"))


@settings(max_examples=200, deadline=None)
@given(patterns=st.lists(st.text(_GLOB_ALPHABET, min_size=1, max_size=6), min_size=1, max_size=6),
       names=st.lists(st.text(_NAME_ALPHABET, min_size=1, max_size=7), min_size=1, max_size=20))
def test_first_match_equals_a_plain_fnmatch_loop(patterns, names):
    """The prefix/suffix index picks the same rule as testing every rule in order with fnmatch.fnmatchcase."""
    valid = []
    for p in patterns:
        try:
            compile_pattern(p)
        except RuleError:
            continue
        valid.append(p)
    rules = Rules([(p, Zero()) for p in valid])
    for name in names:
        expected = next((i + 1 for i, p in enumerate(valid) if fnmatch.fnmatchcase(name, p)), None)
        assert first_rule(rules, name) == expected, (valid, name)


@settings(max_examples=100, deadline=None)
@given(names=st.lists(st.from_regex(r"[a-c]{1,3}(\.[0-9]{1,2})?\.(w|b)", fullmatch=True), min_size=1, max_size=20))
def test_regex_rules_match_like_re_fullmatch(names):
    pats = [r"a+\.\d\.w", r"b.*", r"[ac]{2}(\.\d+)?\.b", r"c|cc\.1\.w"]
    rules = Rules([("re:" + p, Zero()) for p in pats])
    for name in names:
        expected = next((i + 1 for i, p in enumerate(pats) if re.fullmatch(p, name)), None)
        assert first_rule(rules, name) == expected


def test_first_match_wins():
    rules = Rules([("*.weight", c(1)), ("encoder.*.weight", c(2)), ("encoder.*", c(3))])
    assert rules.match("encoder.0.weight").number == 1
    assert rules.match("encoder.0.bias").number == 3
    assert rules.match("decoder.bias") is None
    assert [r.number if r else None for r in rules.first_matches(["a.weight", "encoder.x", "y"])] == [1, 3, None]


def test_mapping_keeps_order():
    rules = Rules({"*.bias": "zeros", "fc.*": One()})
    assert [r.pattern for r in rules] == ["*.bias", "fc.*"]
    assert rules.match("fc.bias").init == Zero()
    assert rules.match("fc.weight").init == One()


@pytest.mark.parametrize("pattern, fragment", [
    ("", "non-empty string"),
    (None, "non-empty string"),
    (3, "non-empty string"),
    ("re:(", "invalid regular expression"),
    ("re:", "empty"),
    ("layers.[0-9.weight", "never closed"),
    ("layers.[z-a].weight", "empty (reversed)"),
])
def test_bad_patterns_name_the_rule(pattern, fragment):
    with pytest.raises(RuleError) as info:
        Rules([("*.bias", Zero()), (pattern, One())])
    msg = str(info.value)
    assert "rule 2" in msg and fragment in msg
    assert isinstance(info.value, ValueError)


def test_bad_rule_items():
    with pytest.raises(RuleError, match="rule 1: expected a \\(pattern, initializer\\) pair"):
        Rules(["*.bias"])
    with pytest.raises(RuleError, match="string"):
        Rules("*.bias")
    with pytest.raises(UnknownInitializerError, match="rule 1 \\('\\*.bias'\\)"):
        Rules([("*.bias", "no-such-initializer")])
    with pytest.raises(TypeError, match="rule 1"):
        Rules([("*.bias", 3.5)])


def test_patterns_compile_once_per_string():
    """compile_pattern caches by pattern text: a second Rules with the same patterns compiles nothing new."""
    from initreg.planning.patterns import compile_cached as _compile

    Rules([("cache.check.*", Zero())])
    before = _compile.cache_info()
    Rules([("cache.check.*", Zero())]).match("cache.check.x")
    after = _compile.cache_info()
    assert after.misses == before.misses


# --- precedence --------------------------------------------------------------------------------------------

def values(p):
    return p.data().ravel().tolist()


def test_rule_beats_declared_beats_default_beats_global():
    pd = ParameterDict([
        Parameter("r.bias", (2,), init=c(9)),   # rule > declared
        Parameter("d.bias", (2,), init=c(7)),   # declared > default (no rule matches "d.*")
        Parameter("x.w", (2,)),                 # default
    ])
    pd.initialize(Rules([("r.*", c(1))], default=c(5)), seed=0)
    assert values(pd["r.bias"]) == [1, 1] and pd["r.bias"].record["source"] == "rule 1 (r.*)"
    assert values(pd["d.bias"]) == [7, 7] and pd["d.bias"].record["source"] == "declared"
    assert values(pd["x.w"]) == [5, 5] and pd["x.w"].record["source"] == "default"


def test_global_default_is_uniform_007():
    pd = ParameterDict([Parameter("w", (1000,))])
    pd.initialize(seed=0)
    rec = pd["w"].record
    assert rec["source"] == "global default" and rec["initializer"] == "uniform"
    v = pd["w"].data()
    assert v.min() >= -0.07 and v.max() <= 0.07
    # With 1000 draws from U(-0.07, 0.07), P(max < 0.06) = (13/14)^1000 ≈ 1e-32: values spread to the bounds.
    assert v.max() > 0.06 and v.min() < -0.06


def test_plain_initializer_and_name_are_the_default():
    pd = ParameterDict([Parameter("a", (2,), init="ones"), Parameter("b", (2,))])
    pd.initialize("zeros", seed=0)
    assert values(pd["a"]) == [1, 1] and values(pd["b"]) == [0, 0]
    assert pd["b"].record["source"] == "default"


def test_mapping_as_init_and_rules_default():
    pd = ParameterDict([Parameter("a.bias", (2,)), Parameter("a.weight", (2,))])
    pd.initialize({"*.bias": c(3)}, seed=0)
    assert values(pd["a.bias"]) == [3, 3] and pd["a.weight"].record["source"] == "global default"


def test_explicit_on_deferred_parameter_beats_rules():
    w = Parameter("enc.weight", (None, 2))
    w.initialize(c(4), seed=0)  # explicit, deferred until the shape is known
    pd = ParameterDict([w, Parameter("enc.bias", (2,))])
    pd.initialize(Rules([("enc.*", c(1))]), seed=0)
    assert w.state == "deferred"
    assert explain(pd, Rules([("enc.*", c(1))]))["enc.weight"].source == "explicit"
    w.shape = (3, 2)
    assert values(w) == [4] * 6 and w.record["source"] == "explicit"
    assert values(pd["enc.bias"]) == [1, 1]


def test_force_reinit_replaces_an_explicit_request_and_values():
    # The latest network-wide call with force_reinit wins, as in MXNet, PyTorch and Keras.
    w = Parameter("w", (3,))
    w.initialize(Normal(sigma=2.0), seed=1)
    d = Parameter("d", (None,))
    d.initialize(c(4), seed=1)
    pd = ParameterDict([w, d])
    pd.initialize(Rules([("w", c(1)), ("d", c(2))]), force_reinit=True, seed=2)
    assert values(w) == [1, 1, 1] and w.record["source"] == "rule 1 (w)"
    d.shape = (2,)
    assert values(d) == [2, 2] and d.record["source"] == "rule 2 (d)"


def test_explicit_values_are_kept_without_force_reinit():
    w = Parameter("w", (2,))
    w.initialize(c(8), seed=0)
    pd = ParameterDict([w])
    with pytest.warns(ReinitializationWarning):
        pd.initialize(Rules([("w", c(1))]), seed=0)
    assert values(w) == [8, 8] and w.record["source"] == "explicit"


def test_rules_seed_is_used_when_no_seed_is_given():
    a = ParameterDict([Parameter("w", (50,))])
    a.initialize(Rules([("w", Normal(1.0))], seed=11))
    b = ParameterDict([Parameter("w", (50,))])
    b.initialize(Rules([("w", Normal(1.0))]), seed=11)
    c_ = ParameterDict([Parameter("w", (50,))])
    c_.initialize(Rules([("w", Normal(1.0))], seed=11), seed=12)  # an explicit seed wins
    assert a["w"].record["seed"] == 11 and np.array_equal(a["w"].data(), b["w"].data())
    assert c_["w"].record["seed"] == 12 and not np.array_equal(a["w"].data(), c_["w"].data())


# --- diagnostics ------------------------------------------------------------------------------------------

def make_dict():
    return ParameterDict([Parameter("enc.0.weight", (2, 2)), Parameter("enc.0.bias", (2,)),
                          Parameter("dec.gamma", (2,)), Parameter("dec.beta", (2,))])


def test_unused_rule_warns_with_closest_names():
    pd = make_dict()
    with pytest.warns(UnusedRuleWarning) as rec:
        pd.initialize(Rules([("*.bias", Zero()), ("*.gama", One())]), seed=0)
    msg = str(rec[0].message)
    assert "rule 2 (*.gama) matches no parameter" in msg and "'dec.gamma'" in msg
    assert rec[0].filename == __file__  # the warning points at the caller, not into initreg
    assert pd["dec.gamma"].state == "initialized"  # a warning changes nothing else


def test_shadowed_rule_warns_naming_the_earlier_rules():
    pd = make_dict()
    with pytest.warns(ShadowedRuleWarning) as rec:
        pd.initialize(Rules([("*.weight", One()), ("*.bias", Zero()), ("enc.*", c(3))]), seed=0)
    msg = str(rec[0].message)
    assert "rule 3 (enc.*) is shadowed" in msg and "rule 1 (*.weight)" in msg and "rule 2 (*.bias)" in msg


def test_no_warning_when_every_rule_is_used():
    pd = make_dict()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pd.initialize(Rules([("*.weight", One()), ("enc.*", c(3)), ("dec.*", Zero())]), seed=0)


def test_strict_raises_before_anything_is_drawn():
    pd = make_dict()
    pd.initialize(c(2), seed=0)
    before = {n: (p.data().copy(), p.record) for n, p in pd.items()}
    with pytest.raises(RuleError) as info:
        pd.initialize(Rules([("*.weight", One()), ("enc.0.weight", Zero()), ("*.gama", One())]),
                      force_reinit=True, seed=1, strict=True)
    msg = str(info.value)
    assert "rule 2 (enc.0.weight) is shadowed" in msg and "rule 3 (*.gama) matches no parameter" in msg
    for n, p in pd.items():
        assert np.array_equal(p.data(), before[n][0]) and p.record == before[n][1]
    fresh = make_dict()
    with pytest.raises(RuleError):
        fresh.initialize({"*.gama": One()}, strict=True)
    assert all(p.state == "declared" for p in fresh.values())


def test_check_reports_without_warning():
    d = Rules([("*.w", One()), ("a.w", Zero()), ("zzz", Zero())]).check(["a.w", "b.w"])
    assert [r.number for r, _ in d.unused] == [3] and [(r.number, [b.number for b in by]) for r, by in d.shadowed] == [(2, [1])]


# --- explain ------------------------------------------------------------------------------------------------

RULES = Rules([("*.bias", Zero()), ("re:.*\\.weight", Normal(sigma=0.02)), ("*.gama", One())], default=c(0.5))


def test_explain_rows():
    pd = ParameterDict([Parameter("fc.weight", (4, 3)), Parameter("fc.bias", (4,), init="ones"),
                        Parameter("ln.gamma", (None,), init=One()), Parameter("ln.beta", (4,))])
    t = explain(pd, RULES, seed=5)
    assert [r.name for r in t] == list(pd.keys()) and len(t) == 4
    w, b, g, beta = t.rows
    assert (w.source, w.rule, w.pattern, w.init, w.args) == ("rule", 2, "re:.*\\.weight", "normal", {"sigma": 0.02})
    assert w.config == {"sigma": 0.02, "mean": 0.0} and w.shape == (4, 3) and w.dtype == "float32"
    assert (b.source, b.rule, b.init) == ("rule", 1, "zero")  # a rule beats the declared "ones"
    assert (g.source, g.init, g.shape) == ("declared", "one", (None,))
    assert (beta.source, beta.init, beta.args) == ("default", "constant", {"value": 0.5})
    assert all(r.seed == 5 and r.key == Stream(5, r.name).key for r in t)
    assert [r.number for r, _ in t.diagnostics.unused] == [3]
    assert t["fc.bias"] is b and t[0] is w


def test_explain_matches_what_initialize_does():
    pd = ParameterDict([Parameter(f"l{i}.{k}", (3, 2)) for i in range(3) for k in ("weight", "bias", "beta")])
    t = explain(pd, RULES, seed=3)
    with pytest.warns(UnusedRuleWarning):
        pd.initialize(RULES, seed=3)
    for row in t:
        rec = pd[row.name].record
        assert (rec["initializer"], rec["config"], rec["source"]) == (row.init, row.config, row.decided_by)
        assert rec["stream"]["key"] == row.key and rec["seed"] == row.seed


def test_explain_without_seed_has_no_key():
    t = explain([("a.bias", (2,))], RULES)
    assert t.seed is None and t["a.bias"].key is None and "seed: none" in str(t)


def test_explain_takes_specs_blocks_and_names():
    spec = [{"name": "a.weight", "shape": [3, 4], "dtype": "float16"}, ("a.bias", (3,)), "free"]
    t = explain(spec, RULES, seed=0)
    assert [(r.name, r.shape, r.dtype, r.state) for r in t] == [
        ("a.weight", (3, 4), "float16", "declared"), ("a.bias", (3,), "float32", "declared"),
        ("free", None, "float32", "declared")]
    assert explain({"x.bias": (2,)}, RULES)["x.bias"].rule == 1

    class FakeBlock:
        def collect_params(self):
            return ParameterDict([Parameter("0.bias", (2,))])

    assert explain(FakeBlock(), RULES)["0.bias"].init == "zero"
    with pytest.raises(RuleError, match="appears twice"):
        explain([("a", (1,)), ("a", (2,))], RULES)


def test_explain_strict():
    with pytest.raises(RuleError, match="rule 3"):
        explain([("a.bias", (2,))], RULES, strict=True)


def test_explain_text_is_aligned():
    t = explain([("model.encoder.weight", (64, 32)), ("b.bias", (3,))], RULES, seed=0)
    lines = str(t).splitlines()
    assert lines[0] == "seed: 0"
    header, rows = lines[1], lines[2:4]
    for col in ("shape", "dtype", "state", "source", "initializer", "key"):
        start = header.index(col)
        for row in rows:  # each column starts at the header's column, after a two-space gap
            assert row[start - 2:start] == "  " and row[start] != " "
    assert "rule 2 (re:.*\\.weight)" in rows[0] and "normal(sigma=0.02)" in rows[0] and Stream(0, "b.bias").key in rows[1]
    assert lines[-1].startswith("warning: rule 3 (*.gama) matches no parameter")


def test_explain_json_and_markdown():
    t = explain([("w|x.weight", (2,)), ("b.bias", (3,))], RULES, seed=1)
    doc = json.loads(t.to_json())
    assert doc["seed"] == 1 and [r["name"] for r in doc["rows"]] == ["w|x.weight", "b.bias"]
    assert doc["rows"][1] == {"name": "b.bias", "shape": [3], "dtype": "float32", "state": "declared",
                              "source": "rule", "rule": 1, "pattern": "*.bias", "init": "zero", "config": {},
                              "args": {}, "seed": 1, "key": Stream(1, "b.bias").key}
    assert doc["unused"] == [{"rule": 3, "pattern": "*.gama", "closest": []}] and doc["shadowed"] == []
    md = t.to_markdown().splitlines()
    table = [line for line in md if line.startswith("|")]
    assert len(table) == 4 and table[1] == "|---|---|---|---|---|---|---|"
    assert all(len(re.findall(r"(?<!\\)\|", line)) == 8 for line in table)  # a '|' in a name is escaped
    assert any(line.startswith("- warning: rule 3") for line in md)


def test_mapping_with_a_name_key_is_an_initializer_spec():
    pd = ParameterDict([Parameter("w", (3,))])
    pd.initialize({"name": "constant", "value": 1.5}, seed=0)
    assert values(pd["w"]) == [1.5] * 3 and pd["w"].record["source"] == "default"


def test_blocks_deferred_shapes_and_declared_bias():
    from initreg import nn

    net = nn.Sequential()
    net.add(nn.Dense(4, in_units=3), nn.Dense(2))
    rules = Rules([("*.weight", c(2)), ("1.*", c(3))])
    t = explain(net, rules)
    assert [(r.name, r.state, r.decided_by) for r in t] == [
        ("0.weight", "declared", "rule 1 (*.weight)"), ("0.bias", "declared", "declared"),
        ("1.weight", "declared", "rule 1 (*.weight)"), ("1.bias", "declared", "rule 2 (1.*)")]
    net.initialize(rules, seed=0)
    assert [r.state for r in explain(net, rules)] == ["initialized", "initialized", "deferred", "initialized"]
    net(np.ones((5, 3), dtype=np.float32))
    params = net.collect_params()
    assert values(params["1.weight"]) == [2] * 8 and values(params["1.bias"]) == [3, 3]
    assert values(params["0.bias"]) == [0] * 4  # Dense declares zeros; no rule names it
