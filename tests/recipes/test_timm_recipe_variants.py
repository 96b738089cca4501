"""The shipped timm recipes on the family members beyond the plain configs of tests/torch/timm_checks.py: ResNet-D's
deep stem (conv1.0/3/6 were left to PyTorch's declared init: std 0.034 where timm draws 0.084), DeiT's distilled token
and head (dist_token was an error, head_dist PyTorch's init), ConvNeXt V2's GlobalResponseNorm (an error).

timm imports torchvision, so the models are built in a child process with the stand-in torchvision of
tests/torch/timm_shim (see its README). Power: each parameter is compared with timm's own init (fixed seeds) by a
two-sample KS test at p > 10⁻³; PyTorch's declared init of the stem's conv1.3 (the old outcome) is rejected at
p < 10⁻⁶ by the same test on its 2,304 values.
"""

from __future__ import annotations

import pytest

from timm_child import needs_timm, run_child

pytestmark = needs_timm

CHILD = r"""
import json, warnings
import numpy as np, torch, timm
from scipy import stats
import initreg, initreg.recipes, initreg.torch as it

def recipe(name, **vars):
    rules = initreg.recipes.load(name)
    return rules.replace(vars=vars) if vars else rules

avg_down = [(r"re:(.*\.)?downsample\.1\.weight", ["variance_scaling", {"scale": 2.0, "mode": "fan_out",
                                                                       "distribution": "untruncated_normal"}])]
MODELS = {  # timm's registered configs, shrunk; the recipe as its header says to use it
    "resnet50d": (dict(layers=[1, 1, 1, 1], channels=(8, 16, 32, 64)),
                  initreg.Rules(avg_down + [(r.pattern, r.template or r.init) for r in recipe("timm-resnet", last_bn=3)],
                                vars={"last_bn": 3})),
    "deit_tiny_distilled_patch16_224": (dict(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4),
                                        recipe("timm-vit")),
    "convnextv2_atto": (dict(depths=(1, 1, 1, 1), dims=(16, 32, 64, 128)), recipe("timm-convnext")),
}
out = {}
for name, (kw, rules) in MODELS.items():
    torch.manual_seed(0)
    theirs = timm.create_model(name, num_classes=10, **kw)
    with torch.device("meta"):
        model = timm.create_model(name, num_classes=10, **kw)
    try:
        table = it.initialize(model, rules, seed=0)
    except Exception as exc:
        out[name] = {"error": f"{type(exc).__name__}: {exc}"}
        continue
    bad = []
    for n, t in theirs.named_parameters():
        ours, t = model.get_parameter(n).detach().numpy().ravel(), t.detach().numpy().ravel()
        same = np.array_equal(ours, t) if np.all(t == t[0]) else stats.ks_2samp(ours, t).pvalue > 1e-3
        if not same:
            bad.append(f"{n}: {table[n].initializer_text}")
    with torch.no_grad():
        finite = bool(torch.isfinite(model.eval()(torch.ones(2, 3, 32, 32))).all())
    out[name] = {"bad": bad, "finite": finite, "sources": sorted({r.source for r in table})}
torch.manual_seed(0)
stem = timm.create_model("resnet50d", num_classes=10, layers=[1, 1, 1, 1], channels=(8, 16, 32, 64)).conv1[3].weight
declared = initreg.values("inv_sqrt_uniform", tuple(stem.shape), name="conv1.3.weight", seed=0)
out["declared_stem_p"] = float(stats.ks_2samp(declared.ravel(), stem.detach().numpy().ravel()).pvalue)
print("RESULT" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def results():
    return run_child(CHILD)


@pytest.mark.parametrize("model", ["resnet50d", "deit_tiny_distilled_patch16_224", "convnextv2_atto"])
def test_every_parameter_follows_timms_own_init(results, model):
    got = results[model]
    assert "error" not in got, got
    assert got["bad"] == [] and got["finite"], got
    assert "global default" not in got["sources"]


def test_the_declared_init_the_deep_stem_had_is_rejected_by_the_same_comparison(results):
    assert results["declared_stem_p"] < 1e-6
