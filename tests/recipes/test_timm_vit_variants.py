"""recipe:timm-vit on timm's ViT variants (timm 1.0.31): DeiT III and DINOv2 layer scale, DINOv2's register tokens,
SigLIP's attention pooling head (global_pool='map'), ParallelScalingBlock, as the other timm recipes are checked.

Each model is a registered config shrunk as tests/torch/timm_checks.py shrinks "vit". timm's own values must pass
``initreg.check`` against the recipe (with the model's ``init_values``), initreg's values (drawn on a meta-built model)
must pass it with their bits, and a plausible wrong variant must fail on exactly the checked tensors it changes:
layer scale at 1 instead of ``init_values`` on the ``ls1``/``ls2`` gammas; the old recipe's Linear names, which left
the attention pool's q/kv/proj to PyTorch's kaiming_uniform (std 1/sqrt(3·64) = 0.072 against 0.02, biases
U(±1/8) against 0), on those six tensors; the latent at std 0.02 instead of latent_dim^-0.5 = 0.125 on the latent;
the old names on ParallelScalingBlock's in_proj, attn_out_proj and mlp_out_proj (in_proj has no bias there). Inside a
wrapper module (names prefixed ``trunk.``) every parameter must get the initializer it gets unwrapped. An
AttentionPoolLatent(pos_embed='abs') (1,024 values, std 64^-0.5 = 0.125) fails at the pos_embed rule's std 0.02.

Power: check's KS tests (family alpha 10⁻³, Holm; arrays of 20 to 999 values with the exact small-sample law) reject
a std off by a factor 1.41 on every array of 256 values or more, and the 64-value latent's factor 6.25; constants
are compared exactly. Fixed seeds. timm imports torchvision, so the models are built in a child process with the
stand-in torchvision of tests/torch/timm_shim.
"""

from __future__ import annotations

import pytest

from timm_child import needs_timm, run_child

pytestmark = needs_timm

CHILD = r"""
import json, warnings
from pathlib import Path
import torch, timm
import initreg, initreg.recipes, initreg.torch as it
from initreg.planning.patterns import compile_pattern

def checked(report):  # what a report tested: arrays under 20 values get no statistical test
    return {t.label for t in report.targets if t.verdict != "unchecked"}

SMALL = dict(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4, num_classes=10)
TEXT = (Path(initreg.recipes.__file__).parent / "timm-vit.toml").read_text()
recipe = initreg.recipes.load("timm-vit")
OLD_LINEARS = initreg.Rules.loads(TEXT.replace(r"attn_pool\.(q|kv|proj)|", ""), format="toml")
NO_PARALLEL = initreg.Rules.loads(TEXT.replace("(in|attn_out|mlp_out|out)_proj|", ""), format="toml").replace(
    vars={"init_values": 1e-5})
LATENT_002 = initreg.Rules.loads(TEXT.replace('{ expr = "shape[2] ** -0.5" }', "0.02"), format="toml")
LS = r"re:(.*\.)?ls[12]\.gamma"
LS_AT_1 = recipe.replace(vars={"init_values": 1.0})
MODELS = {  # model: its init_values (None: no layer scale), the wrong variants with the names they change, arguments
    "deit3_small_patch16_224": (1e-6, [(LS_AT_1, LS)], {}),
    "vit_small_patch14_dinov2": (1e-5, [(LS_AT_1, LS)], {}),
    "vit_small_patch14_reg4_dinov2": (1e-5, [(LS_AT_1, LS)], {}),
    "vit_base_patch16_siglip_224": (None, [(OLD_LINEARS, r"re:attn_pool\.(q|kv|proj)\.(weight|bias)"),
                                           (LATENT_002, "attn_pool.latent")], {}),
    "vit_pwee_patch16_reg1_gap_256": (1e-5, [(LS_AT_1, r"re:blocks\.\d+\.ls\.gamma"),
                                             (NO_PARALLEL, r"re:blocks\.\d+\.(in|attn_out|mlp_out)_proj\.\w+")],
                                      {"qkv_bias": False}),  # ParallelScalingBlock, with its mlp_bias
}
out = {}
for name, (init_values, wrongs, args) in MODELS.items():
    rules = recipe.replace(vars={"init_values": init_values}) if init_values else recipe
    torch.manual_seed(0)
    theirs = timm.create_model(name, **SMALL, **args)
    with torch.device("meta"):
        model = timm.create_model(name, **SMALL, **args)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unused non-optional rule would warn
        table = it.initialize(model, rules, seed=0)
    r = out[name] = {"sources": sorted({row.source for row in table if not row.source.startswith("rule")}),
                     "rules": sorted({row.rule for row in table if row.rule})}
    with torch.no_grad():
        r["finite"] = bool(torch.isfinite(model.eval()(torch.ones(1, 3, 32, 32))).all())
    report = initreg.check(theirs, rules, sample=10000)
    r["theirs"] = "passed" if report.passed else sorted({f.initializer for f in report.failures()})
    r["ours"] = initreg.check(model, rules, seed=0, sample=10000).passed
    r["wrong"] = []
    for wrong, pattern in wrongs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a wrong variant may leave rules unused
            bad = initreg.check(theirs, wrong, sample=10000)
        both, match = checked(report) & checked(bad), compile_pattern(pattern)
        r["wrong"].append([sorted({f.initializer for f in bad.failures()}),
                           sorted(n for n, _ in theirs.named_parameters() if match(n) and n in both)])
    wrapper = torch.nn.Module()  # the same model inside a wrapper (open_clip's visual.trunk): the same choices
    with torch.device("meta"):
        wrapper.trunk = timm.create_model(name, **SMALL, **args)
    try:
        wrapped = {row.name[len("trunk."):]: row.initializer_text for row in it.plan(wrapper, rules)}
        r["wrapped"] = wrapped == {row.name: row.initializer_text for row in table}
    except initreg.RuleError as exc:  # a rule that takes no prefix: no rule for the parameters it names
        r["wrapped"] = str(exc)
    if init_values:  # no value for layer scale: an error naming the variable, and nothing changed
        before = {n: p.clone() for n, p in theirs.named_parameters()}
        try:
            it.initialize(theirs, recipe, seed=0)
            r["no_vars"] = "no error"
        except initreg.RuleError as exc:
            r["no_vars"] = [str(exc), all(torch.equal(p, before[n]) for n, p in theirs.named_parameters())]
torch.manual_seed(0)  # AttentionPoolLatent(pos_embed='abs'), which no registered model builds
pool = torch.nn.Module()
pool.attn_pool = timm.layers.AttentionPoolLatent(64, num_heads=4, feat_size=16, pos_embed="abs",
                                                 norm_layer=torch.nn.LayerNorm)
timm.models._manipulate.named_apply(timm.models.vision_transformer.init_weights_vit_timm, pool)  # as a ViT would
report = initreg.check(pool, recipe, sample=10000)
without = initreg.Rules(list(recipe)[1:])
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    bad = initreg.check(pool, without, sample=10000)
out["abs_pool"] = {"theirs": report.passed, "rule": it.plan(pool, recipe)["attn_pool.pos_embed"].rule,
                   "without": sorted({f.initializer for f in bad.failures()})}
print("RESULT" + json.dumps(out))
"""
MODELS = {"deit3_small_patch16_224": [2, 3, 4, 5, 6], "vit_small_patch14_dinov2": [2, 3, 4, 5, 6],  # model: rules used
          "vit_small_patch14_reg4_dinov2": [2, 3, 4, 5, 6], "vit_base_patch16_siglip_224": [2, 4, 5, 7],
          "vit_pwee_patch16_reg1_gap_256": [2, 3, 4, 5, 6]}


@pytest.fixture(scope="module")
def results():
    return run_child(CHILD)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_the_variants_rules_decide_and_the_rest_is_declared(results, model):
    got = results[model]
    assert got["sources"] == ["declared"] and got["finite"], got
    assert got["rules"] == MODELS[model], got


@pytest.mark.parametrize("model", sorted(MODELS))
def test_timms_own_init_passes_check_and_initregs_values_pass_with_their_bits(results, model):
    assert results[model]["theirs"] == "passed" and results[model]["ours"], results[model]


@pytest.mark.parametrize("model", sorted(MODELS))
def test_each_wrong_variant_fails_on_exactly_the_checked_tensors_it_changes(results, model):
    for failures, changed in results[model]["wrong"]:
        assert changed and failures == changed, (failures, changed)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_inside_a_wrapper_every_parameter_gets_the_same_initializer(results, model):
    assert results[model]["wrapped"] is True, results[model]["wrapped"]


@pytest.mark.parametrize("model", sorted(m for m in MODELS if "siglip" not in m))
def test_layer_scale_without_init_values_is_an_error_that_changes_nothing(results, model):
    message, unchanged = results[model]["no_vars"]
    assert "'init_values'" in message and ".gamma'" in message and unchanged, message


def test_an_abs_attention_pools_pos_embed_gets_its_own_rule_not_pos_embeds(results):
    got = results["abs_pool"]
    assert got["theirs"] and got["rule"] == 1 and got["without"] == ["attn_pool.pos_embed"], got
