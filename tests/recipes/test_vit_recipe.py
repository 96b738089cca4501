"""recipe:vit held to transformers' own ViT init through ``initreg.check``.

transformers builds ViTModel (with its mask token), ViTForImageClassification and ViTForMaskedImageModeling from a
tiny config (hidden 64, 2 layers, 4 heads, image 32, patch 8; torch seed 0) and its ``_init_weights`` draws the
values. For each: ``initreg.check`` of the library's values against the recipe passes, and so do initreg's own values
from a meta-built model (``initreg.torch.initialize(model, "recipe:vit", seed=0, vars=...)``; with the seed the check
also compares the bits). ``check`` gives an array of under 1,000 values only the exact small-sample tests (KS from 20
values; a normal's mean and variance), so cls_token (hidden_size values) is checked on a ViT of hidden size 1,024.

Wrong variants fail on exactly the parameter they change, on the library's values. Fixed seeds throughout: each
outcome is the same on every run. Power: position_embeddings at twice the std (1,088 values) was rejected by
``check`` (Kolmogorov–Smirnov, family alpha 1e-3, Holm) for 200 of 200 library seeds, at √2 times the std also
200 of 200, and the right recipe for 0 of 200; timm's cls_token N(0, 1e-6) is 20,000 times too narrow. A plain
normal in place of the truncated one is no variant: transformers cuts at ±2 absolute, ±100σ, which no sample reaches.
"""

from __future__ import annotations

import warnings

import pytest

import initreg
import initreg.recipes
from initreg import Rules

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

pytestmark = pytest.mark.skipif(transformers.__version__ != initreg.recipes.about("vit")["version"],
                                reason="the vit recipe was read from transformers "
                                       f"{initreg.recipes.about('vit')['version']}")

TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, image_size=32,
            patch_size=8, encoder_stride=8)


def build(model_class, meta=False, **kwargs):
    """A ViT of the tiny config (or ``config=``) drawn by transformers at torch seed 0, or built on the meta device."""
    config = kwargs.pop("config", None) or transformers.ViTConfig(**TINY)
    torch.manual_seed(0)
    with torch.device("meta") if meta else torch.device("cpu"):
        return getattr(transformers, model_class)(config, **kwargs)


def params_of(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def recipe(model):
    """recipe:vit with the model's initializer_range (what ``vars=`` does)."""
    return initreg.recipes.load("vit").replace(vars={"initializer_range": model.config.initializer_range})


def failed(arrays, rules, seed=None):
    """The names ``initreg.check`` fails (the check must have run on something)."""
    report = initreg.check(arrays, rules, seed=seed)
    assert report.checked, report.summary()
    return {t.label for t in report.targets if t.verdict == "fail"}


def with_rule(rules, pattern, init):
    """``rules`` with one more rule in front (a subtly wrong variant)."""
    return Rules([(pattern, init)] + [(r.pattern, r.target) for r in rules], vars=rules.vars, about=rules.about)


@pytest.mark.parametrize("model_class, kwargs", [("ViTModel", {"use_mask_token": True}),
                                                 ("ViTForImageClassification", {}),
                                                 ("ViTForMaskedImageModeling", {})])
def test_vit_recipe_matches_transformers_values_and_initregs_from_a_meta_built_model(model_class, kwargs):
    import initreg.torch

    model = build(model_class, **kwargs)
    theirs = params_of(model)
    rules = recipe(model)
    assert failed(theirs, rules) == set()
    meta = build(model_class, meta=True, **kwargs)
    with warnings.catch_warnings():  # ViTForImageClassification has no mask_token
        warnings.simplefilter("ignore", initreg.UnusedRuleWarning)
        initreg.torch.initialize(meta, "recipe:vit", seed=0, vars={"initializer_range": model.config.initializer_range})
    ours = params_of(meta)
    assert ours.keys() == theirs.keys() and {p.device.type for p in ours.values()} == {"cpu"}
    assert failed(ours, rules, seed=0) == set()
    masks = [n for n in ours if n.endswith("embeddings.mask_token")]
    assert len(masks) == (model_class != "ViTForImageClassification")
    assert all(not ours[n].any() and not theirs[n].any() for n in masks)  # 0, as transformers has it


def test_position_embeddings_at_twice_the_std_fail_on_transformers_values():
    model = build("ViTForImageClassification")
    rules = recipe(model)
    doubled = with_rule(rules, "re:(.*\\.)?embeddings\\.position_embeddings",
                        ("truncated_normal", {"sigma": 0.04, "a": -50.0, "b": 50.0}))
    assert failed(params_of(model), doubled) == {"vit.embeddings.position_embeddings"}


def test_cls_token_on_a_wide_vit_matches_and_timms_cls_token_std_fails():
    config = transformers.ViTConfig(**{**TINY, "hidden_size": 1024, "intermediate_size": 64, "num_hidden_layers": 1})
    model = build("ViTForImageClassification", config=config)
    # the embeddings only: checking the 4M attention values would take seconds and is done above
    theirs = {n: p for n, p in params_of(model).items() if n.startswith("vit.embeddings.")}
    assert theirs["vit.embeddings.cls_token"].numel() >= 1000  # check's floor for a continuous array
    rules = recipe(model)
    report = initreg.check(theirs, rules)
    assert report.ok(strict=True) and {t.label for t in report.targets if t.verdict == "pass"} == set(theirs), report.summary()
    # timm's VisionTransformer draws cls_token N(0, 1e-6) (recipe:timm-vit's rule), on transformers' names
    timm_cls = with_rule(rules, "re:(.*\\.)?embeddings\\.cls_token", ("normal", {"sigma": 1e-6}))
    assert failed(theirs, timm_cls) == {"vit.embeddings.cls_token"}
