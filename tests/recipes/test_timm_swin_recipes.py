"""recipe:timm-swin and recipe:timm-swinv2 against timm's own init (timm 1.0.31), as the other timm recipes are.

The models here are built on the CPU (timm's own init runs, initreg draws over it); a meta-built Swin's computed
buffers are checked in tests/torch/timm_checks.py. timm's own values must pass
``initreg.check`` against the recipe, initreg's must pass it with their bits, and a plausible wrong variant must fail
on exactly the checked tensors it changes: for Swin, recipe:timm-vit's rules plus the bias tables (its Linear names
miss the patch merging ``downsample.reduction`` and ``head.fc``, left to PyTorch's kaiming_uniform: std 1/sqrt(3·fan_in)
against 0.02); for Swin V2, its blocks' post-norms left at LayerNorm's weight 1 (timm zeroes them).

Power: check's KS tests (family alpha 10⁻³, Holm; arrays of 1,000 values and more sampled to 10,000, those of 20 to
999 with the exact small-sample law) reject a std off by a factor 1.41 on every array of 256 values or more; constants
are compared exactly. Fixed seeds. timm imports torchvision, so the models are built in a child process with the
stand-in torchvision of tests/torch/timm_shim.
"""

from __future__ import annotations

import pytest

from timm_child import needs_timm, run_child

pytestmark = needs_timm

CHILD = r"""
import json, warnings
import torch, timm
import initreg, initreg.recipes, initreg.torch as it
from initreg.planning.patterns import compile_pattern

warnings.simplefilter("ignore")  # a wrong variant leaves rules unused

def checked(report):  # what a report tested: arrays under 20 values get no statistical test
    return {t.label for t in report.targets if t.verdict != "unchecked"}

SMALL = dict(embed_dim=32, depths=(1, 1, 1, 1), num_heads=(1, 2, 4, 8), num_classes=10)
BIAS_TABLE = [(r"re:(.*\.)?attn\.relative_position_bias_table",
               ["truncated_normal", {"sigma": 0.02, "a": -100.0, "b": 100.0}])]
vit = initreg.recipes.load("timm-vit")
WRONG = {  # the variant, and the pattern of the names it changes
    "timm-swin": (initreg.Rules(BIAS_TABLE + [(r.pattern, r.template or r.init) for r in vit]),
                  r"re:(.*\.)?(downsample\.reduction|head\.fc)\.weight"),  # head.fc.bias: 10 zeros fit U(±1/16)
    "timm-swinv2": (initreg.Rules([(r.pattern, r.template or r.init) for r in initreg.recipes.load("timm-swinv2")][1:]),
                    r"re:(.*\.)?blocks\.\d+\.norm[12]\.weight"),
}
out = {}
for name, recipe in [("swin_tiny_patch4_window7_224", "timm-swin"), ("swinv2_tiny_window8_256", "timm-swinv2")]:
    rules = initreg.recipes.load(recipe)
    torch.manual_seed(0)
    theirs = timm.create_model(name, **SMALL)
    torch.manual_seed(1)
    model = timm.create_model(name, **SMALL)
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    table = it.initialize(model, rules, seed=0)
    r = out[name] = {"sources": sorted({row.source for row in table if not row.source.startswith("rule")}),
                     "rules": sorted({row.rule for row in table if row.rule}),
                     "buffers": all(torch.equal(b, model.get_buffer(n)) for n, b in buffers.items())}
    with torch.no_grad():
        r["finite"] = bool(torch.isfinite(model.eval()(torch.ones(1, 3, *model.default_cfg["input_size"][1:]))).all())
    report = initreg.check(theirs, rules, sample=10000)
    r["theirs"] = "passed" if report.passed else sorted({f.initializer for f in report.failures()})
    r["ours"] = initreg.check(model, rules, seed=0, sample=10000).passed
    wrong, pattern = WRONG[recipe]
    bad = initreg.check(theirs, wrong, sample=10000)
    both = checked(report) & checked(bad)
    match = compile_pattern(pattern)
    r["wrong"] = [sorted({f.initializer for f in bad.failures()}),
                  sorted(n for n, _ in theirs.named_parameters() if match(n) and n in both)]
print("RESULT" + json.dumps(out))
"""
MODELS = {"swin_tiny_patch4_window7_224": 3, "swinv2_tiny_window8_256": 5}  # model: its recipe's number of rules


@pytest.fixture(scope="module")
def results():
    return run_child(CHILD)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_rule_decides_and_the_rest_is_declared_and_timms_buffers_stay(results, model):
    got = results[model]
    assert got["sources"] == ["declared"] and got["finite"] and got["buffers"], got
    assert got["rules"] == list(range(1, MODELS[model] + 1)), got


@pytest.mark.parametrize("model", sorted(MODELS))
def test_timms_own_init_passes_check_and_initregs_values_pass_with_their_bits(results, model):
    assert results[model]["theirs"] == "passed" and results[model]["ours"], results[model]


@pytest.mark.parametrize("model", sorted(MODELS))
def test_the_wrong_variant_fails_on_exactly_the_checked_tensors_it_changes(results, model):
    failures, changed = results[model]["wrong"]
    assert changed and failures == changed, (failures, changed)
