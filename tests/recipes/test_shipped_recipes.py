"""Shipped recipes: each matches the library it was read from, distribution by distribution, and a wrong variant does not."""

from __future__ import annotations

import math

import numpy as np
import pytest

import initreg
import initreg.recipes
from initreg import ParameterDict, Parameter

P_MIN = 1e-4  # fixed seeds: each p-value below is the same on every run


def fits(values, row):
    """Whether ``values`` follow what ``row`` (an explain row) promises: exact constants, else a KS test."""
    from scipy import stats

    values = np.asarray(values, dtype=np.float64).ravel()
    if row.init in ("one", "zero"):
        return bool(np.all(values == (1.0 if row.init == "one" else 0.0)))
    dist = row.initializer.expected(None)
    return stats.kstest(values, dist.cdf).pvalue > P_MIN


def gpt2_model(n_layer=4):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(n_layer=n_layer, n_embd=64, n_head=4, vocab_size=512, n_positions=64)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config)  # the library's own _init_weights runs here
    return config, {n: p.detach().numpy().copy() for n, p in model.named_parameters()}


def test_every_recipe_names_the_library_and_version_it_was_read_from():
    assert set(initreg.recipes.names()) >= {"gpt2", "torchtitan-llama3", "llama", "bert", "olmo-llama-depth", "megatron",
                                            "mup"}
    for name in initreg.recipes.names():
        about = initreg.recipes.about(name)
        assert about["library"] and about["version"] and about["source"], name
    assert initreg.recipes.about("gpt2")["version"] == "5.25.0"


def test_gpt2_recipe_matches_transformers_own_init_and_initregs_values_match_the_recipe():
    transformers = pytest.importorskip("transformers")
    if transformers.__version__ != initreg.recipes.about("gpt2")["version"]:
        pytest.skip(f"the recipe was read from transformers {initreg.recipes.about('gpt2')['version']}")
    config, params = gpt2_model()
    spec = [(n, v.shape) for n, v in params.items()]
    vars = {"n_layer": config.n_layer, "initializer_range": config.initializer_range}
    table = initreg.explain(spec, "recipe:gpt2", seed=0, vars=vars, strict=True)
    assert table["transformer.h.2.attn.c_proj.weight"].args["sigma"] == pytest.approx(0.02 / math.sqrt(8))
    assert table["transformer.h.2.mlp.c_proj.bias"].init == "zero"
    assert table["transformer.ln_f.weight"].init == "one"
    for row in table:
        assert fits(params[row.name], row), f"transformers' {row.name} does not follow {row.initializer_text}"
        ours = initreg.values(row.initializer, row.shape, name=row.key_name, seed=0)
        assert fits(ours, row), f"initreg's {row.name} does not follow {row.initializer_text}"


def test_a_subtly_wrong_gpt2_recipe_fails_against_transformers():
    pytest.importorskip("transformers")
    config, params = gpt2_model()
    wrong = initreg.explain([(n, v.shape) for n, v in params.items()], "recipe:gpt2", seed=0,
                            vars={"n_layer": 2 * config.n_layer, "initializer_range": 0.02})  # c_proj std off by √2
    failed = {r.name for r in wrong if not fits(params[r.name], r)}
    assert failed == {f"transformer.h.{i}.{m}.c_proj.weight" for i in range(4) for m in ("attn", "mlp")}


def llama_spec(n_layers=4, dim=256, hidden=512, vocab=300):
    spec = [("tok_embeddings.weight", (vocab, dim))]
    for i in range(n_layers):
        p = f"layers.{i}."
        spec += [(p + "attention.wq.weight", (dim, dim)), (p + "attention.wk.weight", (dim // 2, dim)),
                 (p + "attention.wv.weight", (dim // 2, dim)), (p + "attention.wo.weight", (dim, dim)),
                 (p + "feed_forward.w1.weight", (hidden, dim)), (p + "feed_forward.w2.weight", (dim, hidden)),
                 (p + "feed_forward.w3.weight", (hidden, dim)),
                 (p + "attention_norm.weight", (dim,)), (p + "ffn_norm.weight", (dim,))]
    return spec + [("norm.weight", (dim,)), ("output.weight", (vocab, dim))]


def test_torchtitan_llama3_recipe_states_the_sources_stds_and_initregs_values_follow_it():
    table = initreg.explain(llama_spec(), "recipe:torchtitan-llama3", seed=1, vars={"dim": 256}, strict=True)
    for i in range(4):
        depth = 0.02 / (2 * (i + 1)) ** 0.5  # TransformerBlock.weight_init_std with depth_init=True
        for m in ("attention.wo", "feed_forward.w2", "feed_forward.w3"):
            row = table[f"layers.{i}.{m}.weight"]
            assert row.args["sigma"] == pytest.approx(depth)
            assert row.args["a"] * row.args["sigma"] == pytest.approx(-2.0)  # torch's a=-2 is absolute
        for m in ("attention.wq", "attention.wk", "attention.wv", "feed_forward.w1"):
            assert table[f"layers.{i}.{m}.weight"].args == {"sigma": 0.02, "a": -100.0, "b": 100.0}
    out = table["output.weight"]
    assert out.args == {"sigma": pytest.approx(256 ** -0.5), "a": -3.0, "b": 3.0}
    assert table["tok_embeddings.weight"].args == {"sigma": 1.0}
    for row in table:
        assert fits(initreg.values(row.initializer, row.shape, name=row.key_name, seed=1), row), row.name


def test_recipes_work_through_parameter_dicts_and_vars():
    params = ParameterDict([Parameter(n, s) for n, s in llama_spec(n_layers=2, dim=8, hidden=16, vocab=10)])
    params.initialize("recipe:torchtitan-llama3", seed=0, vars={"dim": 8})
    assert params["output.weight"].record["config"]["sigma"] == pytest.approx(8 ** -0.5)
    assert params["layers.1.attention.wo.weight"].record["source"].startswith("rule 1 (re:layers")


def test_an_unknown_recipe_names_the_shipped_ones():
    with pytest.raises(initreg.RuleError, match="no recipe named 'gtp2'.*did you mean 'gpt2'"):
        initreg.explain([("a", (2,))], "recipe:gtp2")
    with pytest.raises(initreg.RuleError, match="no recipe named '../gpt2'"):
        initreg.explain([("a", (2,))], "recipe:../gpt2")


def test_initreg_check_takes_a_recipe_by_name_and_its_vars():
    _, theirs = gpt2_model(n_layer=4)
    assert initreg.check(theirs, "recipe:gpt2", vars={"n_layer": 4}).passed
    report = initreg.check(theirs, "recipe:gpt2")  # the recipe's own n_layer = 12: c_proj's std off by √3
    assert {r.initializer for r in report.failures()} == {f"transformer.h.{i}.{p}.c_proj.weight"
                                                          for i in range(4) for p in ("attn", "mlp")}
    with pytest.raises(initreg.errors.ValidationError, match="has no rules"):
        initreg.check(theirs, "normal", vars={"n_layer": 4})
