"""recipe:timm-efficientnet and recipe:timm-regnet against timm's own init (timm 1.0.31), as the other timm recipes are.

Without them a meta-built EfficientNet, MobileNet or RegNet materializes with no error and PyTorch's declared
defaults: 113 of efficientnet_b0's 213 parameters and 109 of regnety_002's 186 are then drawn otherwise than timm
draws them. On one small model of each kind (FULL), timm's own values must pass ``initreg.check`` against the
recipe, initreg's must pass it with their bits, and plausible wrong variants must fail on exactly the checked
tensors they change (tested on the tensors the variant's rule matches: the others keep the recipe's initializer, which
they pass): timm's fix_group_fanout=False (k·k·out for depthwise and grouped convs: std smaller by the
square root of the channels per group), PyTorch's fan_in bound for the classifier, the other zero_init_last. On the
others (KS), each parameter is compared with timm's own draw of it (two-sample KS, Bonferroni at family alpha 10⁻³
over the model's random parameters; constants exactly).

Power: check's KS tests (family alpha 10⁻³, Holm; arrays of 1,000 values and more sampled to 10,000, those of 20 to
999 with the exact small-sample law) reject a std off by a factor 1.41 on every array of 256 values or more. The
per-parameter KS at 10⁻³/400 rejects a std off by 1.41 on 2,000 values with power 0.95, a depthwise conv's std off
by sqrt(16) = 4 (fix_group_fanout=False) on 144 values with power 0.9 (simulated, 200 draws). Fixed seeds. timm
imports torchvision, so the models are built in a child process with the stand-in torchvision of tests/torch/timm_shim (docs/torch.md, "timm models").
"""

from __future__ import annotations

import pytest

from timm_child import needs_timm, run_child

pytestmark = needs_timm

CHILD = r"""
import json, re, warnings
import numpy as np, torch, timm
from scipy import stats
import initreg, initreg.recipes, initreg.torch as it
from initreg.planning.patterns import compile_pattern

warnings.simplefilter("ignore")  # one model uses part of its family's recipe; a wrong variant shadows a rule

def changed(rules, pattern, init):
    # the recipe with a rule for these names above its own
    return initreg.Rules([(pattern, init)] + [(r.pattern, r.template or r.init) for r in rules], vars=rules.vars)

def failed(model, rules, names):
    # the arrays a variant's first rule matches: every other one keeps the recipe's initializer, checked above
    arrays = {n: model.get_parameter(n).detach().numpy() for n in names}
    return sorted({f.initializer for f in initreg.check(arrays, rules, sample=10000).failures()})

KAIMING_FAN_OUT = ["variance_scaling", {"scale": 2.0, "mode": "fan_out", "distribution": "untruncated_normal"}]
DW = r"re:(.*\.)?(conv_dw(\.\d+)?|dw_(start|mid|end)\.conv)\.weight"
GROUPED = r"re:s\d+\.b\d+\.conv2(\.conv)?\.weight"
LAST_BN = r"re:s\d+\.b\d+\.conv3\.bn\.weight"
FULL = ["test_efficientnet", "mobilenetv3_small_050", "regnetx_002"]
KS = {"mobilenetv4_conv_small_035": {}, "mobilenetv4_hybrid_medium_075": {}, "mixnet_s": {},
      "regnetz_005": {"zero_init_last": 0}}
out = {}
for name in FULL + list(KS):
    rules = initreg.recipes.load("timm-regnet" if name.startswith("regnet") else "timm-efficientnet")
    rules = rules.replace(vars=KS[name]) if KS.get(name) else rules
    torch.manual_seed(0)
    theirs = timm.create_model(name, num_classes=10)
    with torch.device("meta"):
        model = timm.create_model(name, num_classes=10)
    table = it.initialize(model, rules, seed=0)
    r = out[name] = {"sources": sorted({row.source for row in table if not row.source.startswith("rule")}),
                     "rules": sorted({row.rule for row in table if row.rule}),
                     "buffers": all(torch.equal(b, model.get_buffer(n)) for n, b in theirs.named_buffers())}
    with torch.no_grad():
        r["finite"] = bool(torch.isfinite(model.eval()(torch.ones(1, 3, 32, 32))).all())
    if name in KS:
        bad, pvalues = [], {}
        for n, p in theirs.named_parameters():
            a, b = model.get_parameter(n).detach().numpy().ravel(), p.detach().numpy().ravel()
            if np.all(b == b[0]):  # a constant of timm's: the same
                bad += [] if np.array_equal(a, b) else [f"{n}: {table[n].initializer_text}"]
            else:
                pvalues[n] = stats.ks_2samp(a, b).pvalue
        r["ks"] = bad + [f"{n}: {table[n].initializer_text}, p = {pv:.2g}" for n, pv in pvalues.items()
                         if pv <= 1e-3 / len(pvalues)]  # Bonferroni: family alpha 1e-3
        continue
    report = initreg.check(theirs, rules, sample=10000)
    r["theirs"] = sorted({f.initializer for f in report.failures()}) if report.passed is False else "passed"
    r["ours"] = initreg.check(model, rules, seed=0, sample=10000).passed
    checked = {t.label for t in report.targets if t.verdict != "unchecked"}
    def matched(pattern):
        match = compile_pattern(pattern)
        return [n for n, _ in theirs.named_parameters() if match(n) and n in checked]
    shapes = {n: tuple(p.shape) for n, p in theirs.named_parameters()}
    if name.startswith("regnet"):  # fix_group_fanout=False changes conv2 only where out != in / groups
        grouped = matched(GROUPED)
        r["group_fanout"] = [failed(theirs, changed(rules, GROUPED, KAIMING_FAN_OUT), grouped),
                             sorted(n for n in grouped if shapes[n][0] != shapes[n][1])]
        r["zero_init_last"] = [failed(theirs, rules.replace(vars={"zero_init_last": 0}), matched(LAST_BN)),
                               sorted(matched(LAST_BN))]
    else:
        r["group_fanout"] = [failed(theirs, changed(rules, DW, KAIMING_FAN_OUT), matched(DW)), sorted(matched(DW))]
        r["linear_fan_in"] = [failed(theirs, changed(rules, "classifier.weight", "inv_sqrt_uniform"),
                                     ["classifier.weight"]), ["classifier.weight"]]
print("RESULT" + json.dumps(out))
"""
FULL = ["test_efficientnet", "mobilenetv3_small_050", "regnetx_002"]
KS = ["mobilenetv4_conv_small_035", "mobilenetv4_hybrid_medium_075", "mixnet_s", "regnetz_005"]


@pytest.fixture(scope="module")
def results():
    return run_child(CHILD)


@pytest.mark.parametrize("model", FULL + KS)
def test_the_meta_model_materializes_from_rules_and_declared_defaults_and_runs(results, model):
    got = results[model]
    assert got["sources"] == ["declared"] and got["finite"] and got["buffers"], got  # nothing left to a default


@pytest.mark.parametrize("model", FULL)
def test_timms_own_init_passes_check_and_initregs_values_pass_with_their_bits(results, model):
    assert results[model]["theirs"] == "passed" and results[model]["ours"], results[model]


@pytest.mark.parametrize("model", FULL)
def test_each_wrong_variant_fails_on_exactly_the_checked_tensors_it_changes(results, model):
    got = results[model]
    variants = [k for k in ("group_fanout", "linear_fan_in", "zero_init_last") if k in got]
    assert len(variants) == 2, got
    for key in variants:
        failures, changed = got[key]
        assert changed and failures == changed, (key, failures, changed)


@pytest.mark.parametrize("model", KS)
def test_every_parameter_follows_timms_own_draw(results, model):
    assert results[model]["ks"] == [], results[model]["ks"]


@pytest.mark.parametrize("prefix, n_rules", [("timm-efficientnet", 6), ("timm-regnet", 5)])
def test_every_rule_of_the_recipe_decides_some_parameter(results, prefix, n_rules):
    family = [m for m in results if m.startswith("regnet") == (prefix == "timm-regnet")]
    assert sorted({r for m in family for r in results[m]["rules"]}) == list(range(1, n_rules + 1))
