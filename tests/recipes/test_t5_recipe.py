"""recipe:t5 held to transformers' own T5PreTrainedModel._init_weights through ``initreg.check``.

transformers builds each model itself (seed 0, a tiny config whose n_heads * d_kv = 32 differs from d_model = 64,
and d_ff = 128, so each of T5's scalings is told apart). For each: ``initreg.check`` of the library's values against
the recipe passes, so do initreg's own values (``initreg.torch.initialize``, seed 0), and a subtly wrong variant fails
on exactly the parameters it changes. Fixed seeds: each outcome is the same on every run. Power: every wrong variant
changes a std by a factor of √2 or more on 1,024 values or more per tensor (``check`` tests none under 1,000: hence
256 relative-attention buckets, 16 labels, and a QA model of d_model 512 for its 2 × 512 qa_outputs), where the
Kolmogorov–Smirnov tests behind ``check`` (family alpha 1e-3, Holm) have power ≈ 1.
"""

from __future__ import annotations

import pytest

import initreg.recipes
from test_library_recipes import failed, initialized_by_initreg, params_of, recipe, with_rule

torch = pytest.importorskip("torch")

D_MODEL, D_FF, D_KV, HEADS, LAYERS = 64, 128, 8, 4, 2


def t5_model(model_class, **config):
    """(config, build): a tiny T5 built by transformers itself (its own ``_init_weights`` draws the values, seed 0);
    skipped unless transformers is the version recipe:t5 names."""
    transformers = pytest.importorskip("transformers")
    if transformers.__version__ != initreg.recipes.about("t5")["version"]:
        pytest.skip(f"the t5 recipe was read from transformers {initreg.recipes.about('t5')['version']}")
    # 256 buckets: relative_attention_bias holds 1,024 values, enough for check's tests (1,000)
    config = transformers.T5Config(**{"d_model": D_MODEL, "d_ff": D_FF, "d_kv": D_KV, "num_heads": HEADS,
                                      "num_layers": LAYERS, "vocab_size": 256, "relative_attention_num_buckets": 256,
                                      **config})

    def build():
        torch.manual_seed(0)
        return getattr(transformers, model_class)(config)

    return config, build


def t5_recipe(config, **override):
    """recipe:t5 with the model's config as its vars."""
    names = ("initializer_factor", "d_model", "d_ff", "d_kv", "num_heads")
    return recipe("t5", **{**{n: getattr(config, n) for n in names}, **override})


def test_t5_recipe_matches_transformers_and_initregs_values_and_wrong_scalings_fail():
    config, build = t5_model("T5ForConditionalGeneration", tie_word_embeddings=False)
    model = build()
    # 5.25.0 ties lm_head to shared whatever the config says: one tensor, one rule
    assert config.tie_word_embeddings and model.lm_head.weight is model.shared.weight
    theirs = params_of(model)
    rules = t5_recipe(config)
    assert failed(theirs, rules) == set()
    assert failed(initialized_by_initreg(build, rules), rules, seed=0) == set()
    blocks = [f"{stack}.block.{i}" for stack in ("encoder", "decoder") for i in range(LAYERS)]
    attention = [f"{b}.layer.0.SelfAttention" for b in blocks] + [
        f"decoder.block.{i}.layer.1.EncDecAttention" for i in range(LAYERS)]
    wo = {f"{b}.layer.{2 if b.startswith('decoder') else 1}.DenseReluDense.wo.weight" for b in blocks}
    # three wrong scalings at once (each tensor meets one): wo by d_model instead of d_ff (std √2 too large), q
    # without T5's 1 / sqrt(d_kv) as k and v have it (√8 too large), o by d_model instead of num_heads * d_kv
    # (√2 too small); each must fail, and nothing else
    wrong = rules
    for pattern in ("*.DenseReluDense.wo.weight", "*.q.weight", "*.o.weight"):
        wrong = with_rule(wrong, pattern, ("normal", {"sigma": D_MODEL ** -0.5}), before=1)
    assert failed(theirs, wrong) == wo | {f"{a}.{m}.weight" for a in attention for m in ("q", "o")}


def test_t5_recipe_matches_a_gated_encoder_and_its_initializer_factor():
    # T5 v1.1 / Flan-T5: wi_0 and wi_1; a factor of 0.5 scales every std and the layer norms' constant
    config, build = t5_model("T5EncoderModel", feed_forward_proj="gated-gelu", initializer_factor=0.5)
    model = build()
    theirs = params_of(model)
    assert "encoder.block.0.layer.1.DenseReluDense.wi_1.weight" in theirs
    assert bool((theirs["encoder.final_layer_norm.weight"] == 0.5).all())
    rules = t5_recipe(config)
    assert failed(theirs, rules) == set()
    assert failed(initialized_by_initreg(build, rules), rules, seed=0) == set()
    # the recipe's default factor 1: every tensor off by 2 (the norms by a constant)
    assert failed(theirs, t5_recipe(config, initializer_factor=1.0)) == set(theirs)


@pytest.mark.parametrize("model_class, head, scaled, config", [
    ("T5ForSequenceClassification", "classification_head.dense", True, {"num_labels": 16}),
    ("T5ForSequenceClassification", "classification_head.out_proj", True, {"num_labels": 16}),
    ("T5ForQuestionAnswering", "qa_outputs", True, {"d_model": 512}),  # 2 labels (start, end): 1,024 values
    ("T5ForTokenClassification", "classifier", False, {"num_labels": 16})])
def test_t5_recipe_matches_transformers_task_heads_and_a_swapped_head_std_fails(model_class, head, scaled, config):
    config, build = t5_model(model_class, **config)
    theirs = {n: v for n, v in params_of(build()).items() if n.startswith(head + ".")}  # the backbone is tested above
    assert set(theirs) == {head + ".weight", head + ".bias"} and theirs[head + ".weight"].numel() >= 1000
    rules = t5_recipe(config)
    assert failed(theirs, rules) == set()
    # a d_model-scaled head drawn as the N(0, factor) default, or the other way round: std off by sqrt(d_model)
    swapped = ("normal", {"sigma": 1.0 if scaled else config.d_model ** -0.5})
    assert failed(theirs, with_rule(rules, head + ".weight", swapped, before=1)) == {head + ".weight"}
