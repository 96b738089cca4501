"""Partial re-initialization: "keep" rule targets and only=, on plain entries and on initreg.nn models."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import initreg
from initreg import ParameterDict, Parameter, Rules, nn


def model():
    net = nn.Sequential()
    net.add(nn.Dense(16, in_units=8), nn.BatchNorm(in_channels=16), nn.Dense(4, in_units=16))
    return net


def loaded(net):
    """Every parameter holds "loaded" values that no initializer draws."""
    rng = np.random.default_rng(123)
    net.initialize(seed=0)
    for p in net.collect_params().values():
        p.set_data(rng.standard_normal(p.shape).astype(p.dtype))
    return {n: p.data().copy() for n, p in net.collect_params().items()}


@pytest.mark.parametrize("only", ["2.*", ["2.weight", "2.bias"], "re:2\\.(weight|bias)"])
def test_reinitializing_a_new_head_leaves_every_other_parameter_bit_identical(only):
    net = model()
    before = loaded(net)
    rules = Rules([("*.bias", "zeros"), ("*.weight", initreg.init.Normal(0.02))])
    net.initialize(rules, seed=5, only=only, force_reinit=True)
    params = net.collect_params()
    for name in ("0.weight", "0.bias", "1.gamma", "1.beta", "1.running_mean", "1.running_var"):  # declared ones too
        assert params[name].data().tobytes() == before[name].tobytes(), name
        assert params[name].record["source"] == "set_data"
    head = initreg.explain(params, rules, seed=5, only=only)
    for name in ("2.weight", "2.bias"):
        row = head[name]
        assert row.source == "rule"
        assert np.array_equal(params[name].data(), initreg.values(row.initializer, row.shape, name=row.key_name, seed=5))
    assert not np.array_equal(params["2.weight"].data(), before["2.weight"])


def test_the_new_heads_values_do_not_depend_on_what_the_rest_holds():
    a, b = model(), model()
    loaded(a)
    b.initialize(seed=9)
    for net in (a, b):
        net.initialize(initreg.init.Normal(0.02), seed=1, only="2.*", force_reinit=True)
    assert np.array_equal(a[2].weight.data(), b[2].weight.data())
    assert not np.array_equal(a[0].weight.data(), b[0].weight.data())


def test_keep_as_a_rule_target_and_explain_marks_kept_rows():
    params = ParameterDict([Parameter("enc.weight", (3, 3)), Parameter("enc.bias", (3,)),
                            Parameter("head.weight", (2, 3))])
    params.initialize("ones", seed=0)
    before = {n: p.data().copy() for n, p in params.items()}
    rules = Rules([("enc.*", "keep"), ("*", "zeros")])
    table = initreg.explain(params, rules, seed=0)
    assert [(r.source, r.rule, r.initializer, r.key) for r in table][:2] == [("keep", 1, None, None)] * 2
    assert table["enc.bias"].decided_by == "keep (rule 1 (enc.*))" and table["enc.bias"].kept
    assert "keep (rule 1 (enc.*))  -" in str(table)
    params.initialize(rules, seed=0, force_reinit=True)
    assert np.array_equal(params["enc.weight"].data(), before["enc.weight"])
    assert np.array_equal(params["enc.bias"].data(), before["enc.bias"])
    assert not params["head.weight"].data().any()
    assert Rules.loads(rules.dumps()) == rules and 'init = "keep"' in rules.dumps()


def test_outside_only_is_kept_even_against_an_explicit_request_and_explain_says_so():
    params = ParameterDict([Parameter("a", (2,)), Parameter("b", (2,))])
    table = initreg.explain(params, "zeros", only="b")
    assert (table["a"].source, table["a"].decided_by, table["a"].initializer_text) == ("keep", "keep (outside only=)", "-")
    assert table["b"].source == "default"
    params.initialize("zeros", only="b")
    assert params["a"].state == "declared" and params["b"].state == "initialized"


def test_explicit_outranks_a_keep_rule():
    p = Parameter("enc.w", (2, None))
    p.initialize("ones", seed=0)  # deferred explicit request
    params = ParameterDict([p])
    assert initreg.explain(params, Rules([("enc.*", "keep")]))[0].source == "explicit"


@pytest.mark.parametrize("only, match", [
    ("hed.*", "matches no parameter.*nothing was changed"), ([], "non-empty list"), (3, "non-empty list"),
    ("[z-a]", "invalid"),
])
def test_a_bad_only_is_an_error_and_nothing_changes(only, match):
    net = model()
    before = loaded(net)
    with pytest.raises(initreg.RuleError, match=match):
        net.initialize("zeros", only=only, force_reinit=True)
    assert all(np.array_equal(p.data(), before[n]) for n, p in net.collect_params().items())


def test_init_keep_alone_is_refused_with_the_fix():
    with pytest.raises(initreg.RuleError, match="only="):
        initreg.explain([("a", (2,))], "keep")


def test_rule_diagnostics_still_cover_the_whole_model_under_only():
    rules = Rules([("enc.*", "ones"), ("*", "zeros")])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a whole-model recipe used for a head alone warns about nothing
        table = initreg.explain([("enc.w", (2,)), ("head.w", (2,))], rules, only="head.*")
    assert not table.diagnostics
