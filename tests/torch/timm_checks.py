"""timm's ResNet, ViT and ConvNeXt built on the meta device and initialized by initreg (issue 26).

Not collected by the main test run (no ``test_`` prefix): ``test_timm_models.py`` runs this file in a child
pytest whose ``sys.path`` starts with the torchvision stand-in in ``timm_shim/`` (timm imports torchvision at
import time; see timm_shim/README.md), so the main process never imports timm or the stand-in.

Power: each random parameter is compared with timm's own init of the same shape (fixed seeds) by a two-sample
KS test at p > 10⁻³. Pooling the ViT blocks' 98,304 Linear weights, timm's ``trunc_normal_(std=.02)`` bounds
misread as units of σ (cut at ±2σ, std 0.88σ) are rejected at p < 10⁻⁶; on an 18,432-value ResNet conv,
Kaiming's fan_in in place of timm's fan_out (std x1.41) is too.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torchvision
from scipy import stats

import initreg
import initreg.torch as it
from initreg.errors import RuleError, UnusedRuleWarning

timm = pytest.importorskip("timm")

#: the shipped recipe of each family and the test model's arguments as its vars
RECIPES = {"resnet": ("timm-resnet", {}), "resnet_bottleneck": ("timm-resnet", {"last_bn": 3}),
           "vit": ("timm-vit", {}), "convnext": ("timm-convnext", {"ls_init_value": 0.1, "head_init_scale": 0.5})}


def rules(family: str, **wrong: float) -> initreg.Rules:
    """The recipe that matches timm's own init for ``family``, with the test model's arguments as vars."""
    import initreg.recipes

    name, vars = RECIPES[family]
    return initreg.recipes.load(name).replace(vars={**vars, **wrong}) if vars or wrong else initreg.recipes.load(name)


BUILD = {  # timm's registered configs, shrunk to a few blocks and channels
    "resnet": lambda: timm.create_model("resnet18", layers=[1, 1, 1, 1], channels=(8, 16, 32, 64), num_classes=10),
    "resnet_bottleneck": lambda: timm.create_model("resnet50", layers=[1, 1, 1, 1], channels=(8, 16, 32, 64),
                                                   num_classes=10),
    "vit": lambda: timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, embed_dim=64, depth=2,
                                     num_heads=4, num_classes=10),
    "convnext": lambda: timm.create_model("convnext_tiny", depths=(1, 1, 1, 1), dims=(16, 32, 64, 128),
                                          num_classes=10, ls_init_value=0.1, head_init_scale=0.5),
}
#: the raw nn.Parameters of timm's own modules: no PyTorch module declares their init, so a rule must
RAW = {"resnet": set(), "resnet_bottleneck": set(), "vit": {"cls_token", "pos_embed"},
       "convnext": {f"stages.{i}.blocks.0.gamma" for i in range(4)}}
FAMILIES = sorted(BUILD)


def on_meta(family: str) -> torch.nn.Module:
    with torch.device("meta"):
        return BUILD[family]()


def timms_own(family: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return BUILD[family]()


def forward(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(torch.linspace(-1, 1, 2 * 3 * 32 * 32).reshape(2, 3, 32, 32))


def test_the_stand_in_is_what_timm_imported():
    assert torchvision.STAND_IN and timm.layers.create_norm.FrozenBatchNorm2d.__module__ == "torchvision.ops.misc"
    frozen = timm.layers.create_norm.FrozenBatchNorm2d(4)
    x = torch.randn(2, 4, 3, 3)
    reference = torch.nn.BatchNorm2d(4).eval()  # frozen statistics: eval-mode batch norm with the same buffers
    assert torch.allclose(frozen(x), reference(x), atol=1e-6)
    with pytest.raises(RuntimeError, match="stand-in for torchvision"):
        torchvision.transforms.ToTensor()


@pytest.mark.parametrize("family", FAMILIES)
def test_meta_model_materializes_with_timms_buffers_and_runs(family):
    eager = timms_own(family)
    model = on_meta(family)
    table = it.initialize(model, rules(family), seed=0)
    assert dict(eager.named_buffers()).keys() == dict(model.named_buffers()).keys()
    for name, b in eager.named_buffers():
        got = model.get_buffer(name)
        assert not got.is_meta and got.dtype == b.dtype and torch.equal(got, b), name
    for row in table:  # every parameter holds initreg's values for its name
        p = model.get_parameter(row.name)
        assert not p.is_meta and torch.equal(p.detach(), torch.from_numpy(
            initreg.values(row.initializer, row.shape, name=row.name, seed=0))), row.name
    out = forward(model)
    assert out.shape == (2, 10) and bool(torch.isfinite(out).all()) and float(out.std()) > 0


COMPUTING = {  # timm modules whose __init__ computes buffers: relative position indices, shifted-window masks, rotary bands
    "swin": lambda: timm.create_model("swin_tiny_patch4_window7_224", img_size=112, embed_dim=16, depths=(2, 2),
                                      num_heads=(1, 2), num_classes=10),
    "eva02": lambda: timm.create_model("eva02_tiny_patch14_224", img_size=28, embed_dim=32, depth=1, num_heads=2,
                                       num_classes=10),
    "levit": lambda: timm.create_model("levit_128s", img_size=64, embed_dim=(32, 48, 64), depth=(1, 1, 1),
                                       num_heads=(2, 2, 2), key_dim=8, num_classes=10),
}


@pytest.mark.parametrize("family", sorted(COMPUTING))
def test_timms_computed_buffers_on_meta_equal_the_eager_ones(family):
    # they stopped initialize ("buffer ... on the meta device"): timm's init_non_persistent_buffers now computes them
    # (Swin's shifted blocks register a new attn_mask: its values land in initreg's storage)
    torch.manual_seed(0)
    eager = COMPUTING[family]()
    with torch.device("meta"):
        model = COMPUTING[family]()
    it.initialize(model, {"*": "normal"}, seed=0)
    computed = [n for n, _ in eager.named_buffers(remove_duplicate=False) if "running_" not in n and "num_batches" not in n]
    assert len(computed) >= 3
    for name in computed:
        got = model.get_buffer(name)
        assert not got.is_meta and torch.equal(got, eager.get_buffer(name)), name
    assert all(not p.is_meta for p in model.parameters())


def test_a_recipe_on_a_variant_of_its_family_warns_of_no_rule():
    # recipe:timm-convnext's layer scale rule warned "matches no parameter" on every ConvNeXt V2 (GRN, no gamma)
    with torch.device("meta"):
        model = timm.create_model("convnextv2_atto", num_classes=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnusedRuleWarning)
        it.initialize(model, "recipe:timm-convnext", seed=0, vars={"ls_init_value": 1e-6, "head_init_scale": 1.0})


def test_a_timm_vits_uncovered_error_names_its_recipe():
    # it suggested cls_token N(0, 0.02), 20,000 times timm's 1e-6, and never named recipe:timm-vit
    with pytest.raises(RuleError, match=r"(?s)cls_token.*or use 'recipe:timm-vit' \(timm's own init\)"):
        it.initialize(on_meta("vit"), seed=0)


def test_a_timm_model_given_no_rules_is_told_its_recipe():
    # EfficientNet is standard modules only: it got PyTorch's defaults for every parameter without a word
    def build():
        with torch.device("meta"):
            return timm.create_model("efficientnet_b0", num_classes=10)

    with pytest.warns(initreg.InitregWarning, match=r"\d+ parameter\(s\) of this timm EfficientNet get PyTorch's "
                                                    r"declared defaults.*'recipe:timm-efficientnet'"):
        it.initialize(build(), seed=0)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        it.initialize(build(), {}, seed=0)  # rules of the user's own: no such warning
        it.initialize(build(), "recipe:timm-efficientnet", seed=0)
    assert not [w for w in seen if "not timm's own init" in str(w.message)]
    assert not [w for w in seen if isinstance(w.message, UnusedRuleWarning)]  # MobileNetV4's rules are optional


@pytest.mark.parametrize("family", FAMILIES)
def test_timms_own_init_leaves_no_trace_in_initregs_values(family):
    meta = on_meta(family)
    it.initialize(meta, rules(family), seed=0)
    eager = timms_own(family)  # timm's init has run on real tensors: initreg draws the same values over it
    it.initialize(eager, rules(family), seed=0)
    for name, p in meta.named_parameters():
        assert torch.equal(p, eager.get_parameter(name)), name


@pytest.mark.parametrize("family", FAMILIES)
def test_every_parameter_follows_timms_own_init(family):
    theirs = timms_own(family)
    model = on_meta(family)
    table = it.initialize(model, rules(family), seed=0)
    for name, t in theirs.named_parameters():
        ours, t = model.get_parameter(name).detach().numpy().ravel(), t.detach().numpy().ravel()
        if np.all(t == t[0]):  # timm sets a constant (zeros, ones, zero_init_last, layer scale): the same
            np.testing.assert_array_equal(ours, t, err_msg=name)
        else:
            assert not np.all(ours == ours[0]), f"{name}: {table[name].initializer_text}"
            assert stats.ks_2samp(ours, t).pvalue > 1e-3, f"{name}: {table[name].initializer_text}"


@pytest.mark.parametrize("family", FAMILIES)
def test_declared_defaults_cover_all_but_timms_raw_parameters(family):
    model = on_meta(family)
    if RAW[family]:
        with pytest.raises(RuleError) as err:
            it.initialize(model, seed=0)
        named = {n for n in RAW[family] if f"'{n}'" in str(err.value)}
        assert named == RAW[family] and f"{len(RAW[family])} parameter(s)" in str(err.value)
        assert all(p.is_meta for p in model.parameters())  # nothing changed
    table = it.initialize(model, seed=0, default=["normal", {"sigma": 0.02}])
    assert {r.name for r in table if r.decided_by == "default"} == RAW[family]
    assert {r.name for r in table if r.decided_by != "default"} == {r.name for r in table if r.source == "declared"}
    for row in table:
        if row.name.endswith(".weight") and len(row.shape) > 1:  # Conv2d, Linear: PyTorch's kaiming_uniform(a=√5)
            assert row.initializer_text == "inv_sqrt_uniform()", row.name
    out = forward(model)
    assert out.shape == (2, 10) and bool(torch.isfinite(out).all())


@pytest.mark.parametrize("family", FAMILIES)
def test_the_table_lists_every_name_and_every_rule_is_used(family):
    model = on_meta(family)
    table = it.plan(model, rules(family), seed=0, strict=True)  # each rule file fits its family exactly (plan never warns)
    listed = [n for row in table for n in (row.name, *row.aliases)]
    assert sorted(listed) == sorted(n for n, _ in model.named_parameters(remove_duplicate=False))
    assert len(listed) == len(set(listed)) and all(p.is_meta for p in model.parameters())
    assert all(str(table[n].name) == n for n in listed)


@pytest.mark.parametrize("family", FAMILIES)
def test_timms_own_init_entry_point_keeps_initregs_values(family):
    import io

    model = on_meta(family)
    it.initialize(model, rules(family), seed=0)
    if family == "convnext":  # its init runs in the constructor only: no entry point to keep
        assert not hasattr(model, "init_weights")
        return
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with pytest.warns(initreg.errors.ReinitializationWarning, match="init_weights"):
        model.init_weights()  # timm's own entry point: would redraw every weight from torch's generator
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    buffer = io.BytesIO()
    torch.save(model, buffer)  # the kept entry point pickles with the model
    buffer.seek(0)
    again = torch.load(buffer, weights_only=False)
    assert all(torch.equal(p, before[n]) for n, p in again.named_parameters())
    del model.init_weights  # timm's, on request
    model.init_weights()
    assert not all(torch.equal(p, before[n]) for n, p in model.named_parameters())


LINEARS = [f"blocks.{b}.{layer}.weight" for b in range(2) for layer in ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")]
SIGMA_UNITS = ["truncated_normal", {"sigma": 0.02, "a": -2.0, "b": 2.0}]  # timm's absolute bounds misread as σ units


def wrong_variant(family: str) -> tuple[initreg.Rules, set[str]]:
    """A subtly wrong copy of the family's recipe, and exactly the parameters it gets wrong."""
    blocks = [f"layer{i}.0" for i in range(1, 5)]
    if family == "resnet":  # zero_init_last read for Bottleneck: bn2 left at 1
        return rules(family, last_bn=3), {f"{b}.bn2.weight" for b in blocks}
    if family == "resnet_bottleneck":  # ... and for BasicBlock: bn2 zeroed, bn3 left at 1
        return rules(family, last_bn=2), {f"{b}.bn{k}.weight" for b in blocks for k in (2, 3)}
    if family == "convnext":  # layer scale twice timm's
        return rules(family, ls_init_value=0.2), set(RAW["convnext"])
    right = rules(family)
    misread = [(r"re:blocks\.\d+\.(attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)\.weight", SIGMA_UNITS)]
    return initreg.Rules(misread + list(right)), set(LINEARS)


@pytest.mark.parametrize("family", FAMILIES)
def test_the_recipe_passes_check_on_timms_and_initregs_values_and_a_wrong_variant_fails(family):
    theirs = timms_own(family)
    report = initreg.check(theirs, rules(family))
    assert report.passed, str(report)
    assert all("too" in t.reason or "needs" in t.reason for t in report.unchecked), str(report)  # only tiny arrays
    ours = on_meta(family)
    it.initialize(ours, rules(family), seed=0)
    assert initreg.check(ours, rules(family), seed=0).passed  # with the bits row: initreg's own values
    wrong, broken = wrong_variant(family)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedRuleWarning)
        report = initreg.check(theirs, wrong)
    assert {r.initializer for r in report.failures()} == broken, str(report)


def test_timms_absolute_truncation_bounds_matter():
    names = LINEARS
    theirs = timms_own("vit")
    model = on_meta("vit")
    table = it.initialize(model, rules("vit"), seed=0)
    pooled = {k: np.concatenate([v(n).ravel() for n in names]) for k, v in {
        "theirs": lambda n: theirs.get_parameter(n).detach().numpy(),
        "ours": lambda n: model.get_parameter(n).detach().numpy(),
        "misread": lambda n: initreg.values(SIGMA_UNITS, table[n].shape, name=n, seed=0)}.items()}
    assert stats.ks_2samp(pooled["ours"], pooled["theirs"]).pvalue > 1e-3
    assert stats.ks_2samp(pooled["misread"], pooled["theirs"]).pvalue < 1e-6


def test_resnet_convs_use_timms_fan_out():
    name = "layer4.0.conv1.weight"
    theirs = timms_own("resnet").get_parameter(name).detach().numpy().ravel()
    model = on_meta("resnet")
    table = it.initialize(model, rules("resnet"), seed=0)
    kaiming_fan_in = ["variance_scaling", {"scale": 2.0, "mode": "fan_in", "distribution": "untruncated_normal"}]
    fan_in = initreg.values(kaiming_fan_in, table[name].shape, name=name, seed=0, layout="OI").ravel()
    assert stats.ks_2samp(model.get_parameter(name).detach().numpy().ravel(), theirs).pvalue > 1e-3
    assert stats.ks_2samp(fan_in, theirs).pvalue < 1e-6
