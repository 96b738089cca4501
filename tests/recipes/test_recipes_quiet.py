"""A shipped recipe on the model it was read from says nothing about its rules: the family's variant rules are optional.

recipe:llama warned that '*.bias' matched nothing on every Llama (attention_bias is off by default), recipe:t5 about
its classification head on every T5, recipe:vit about mask_token on a ViT classifier.
"""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import initreg.torch as it  # noqa: E402
from initreg.errors import RuleError, ShadowedRuleWarning, UnusedRuleWarning  # noqa: E402

T = transformers
SMALL = dict(num_hidden_layers=1, hidden_size=32, intermediate_size=64, num_attention_heads=2)
MODELS = {
    "llama": lambda: T.LlamaForCausalLM(T.LlamaConfig(**SMALL, num_key_value_heads=2, vocab_size=64)),
    "gemma": lambda: T.GemmaForCausalLM(T.GemmaConfig(**SMALL, num_key_value_heads=2, head_dim=16, vocab_size=64)),
    "t5": lambda: T.T5ForConditionalGeneration(T.T5Config(num_layers=1, d_model=32, d_ff=64, d_kv=8, num_heads=2,
                                                          vocab_size=64)),
    "vit": lambda: T.ViTForImageClassification(T.ViTConfig(**SMALL, image_size=16, patch_size=8)),
    "bert": lambda: T.BertForMaskedLM(T.BertConfig(**SMALL, vocab_size=64)),
}


@pytest.mark.parametrize("recipe", sorted(MODELS))
def test_the_recipe_on_its_own_model_warns_of_no_rule(recipe):
    with torch.device("meta"):
        model = MODELS[recipe]()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnusedRuleWarning)
        warnings.simplefilter("error", ShadowedRuleWarning)
        it.initialize(model, f"recipe:{recipe}", seed=0)


def test_a_recipe_on_another_family_still_says_so():
    # optional marks a variant's rules, not every rule: recipe:t5 on a Llama finds no T5 names
    with torch.device("meta"):
        model = MODELS["llama"]()
    with pytest.raises(RuleError, match="matches no parameter"):
        it.plan(model, "recipe:t5", seed=0, strict=True)
