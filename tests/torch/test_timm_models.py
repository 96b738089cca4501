"""timm's ResNet, ViT and ConvNeXt with initreg (issue 26), and the buffers timm computes, checked in a child process.

timm imports torchvision at import time, and no torchvision wheel on PyPI loads next to PyPI's CPU torch (and one
that is installed breaks transformers' model imports). So ``timm_checks.py`` runs in a child pytest whose
``sys.path`` starts with a stand-in torchvision (``timm_shim/``); this process never imports timm or the stand-in,
and each check of the child is one test here. The statistical power is stated in timm_checks.py.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
SHIM = HERE / "timm_shim"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("timm") is None or importlib.util.find_spec("torch") is None,
    reason="needs timm and torch (the README's test command installs timm with pip install --no-deps timm)")

FAMILIES = ("convnext", "resnet", "resnet_bottleneck", "vit")
PER_FAMILY = ("test_meta_model_materializes_with_timms_buffers_and_runs",
              "test_timms_own_init_leaves_no_trace_in_initregs_values", "test_every_parameter_follows_timms_own_init",
              "test_declared_defaults_cover_all_but_timms_raw_parameters",
              "test_the_table_lists_every_name_and_every_rule_is_used",
              "test_the_recipe_passes_check_on_timms_and_initregs_values_and_a_wrong_variant_fails",
              "test_timms_own_init_entry_point_keeps_initregs_values")
CHECKS = [f"{check}[{family}]" for check in PER_FAMILY for family in FAMILIES] + [
    "test_the_stand_in_is_what_timm_imported", "test_timms_absolute_truncation_bounds_matter",
    "test_resnet_convs_use_timms_fan_out", "test_a_timm_model_given_no_rules_is_told_its_recipe",
    "test_a_timm_vits_uncovered_error_names_its_recipe", "test_a_recipe_on_a_variant_of_its_family_warns_of_no_rule"] + [
    f"test_timms_computed_buffers_on_meta_equal_the_eager_ones[{family}]" for family in ("eva02", "levit", "swin")]


@pytest.fixture(scope="module")
def child(tmp_path_factory):
    """Each child test's outcome ("passed", "failed", "skipped") and failure text, by test id; and the output."""
    report = tmp_path_factory.mktemp("timm") / "report.xml"
    path = [str(SHIM), str(ROOT), os.environ.get("PYTHONPATH")]  # the stand-in first, then initreg as this process has it
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, path)))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                          str(HERE / "timm_checks.py")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    outcomes = {}
    if report.exists():
        for case in ET.parse(report).iter("testcase"):
            bad = next((e for e in case if e.tag in ("failure", "error", "skipped")), None)
            outcomes[case.get("name")] = ("passed" if bad is None else {"failure": "failed", "error": "failed"}.get(
                bad.tag, bad.tag), "" if bad is None else f"{bad.get('message')}\n{bad.text or ''}")
    return outcomes, run.stdout[-4000:] + run.stderr[-4000:]


def test_the_child_ran_every_check_and_nothing_else(child):
    outcomes, output = child
    assert sorted(outcomes) == sorted(CHECKS), output


@pytest.mark.parametrize("check", CHECKS)
def test_timm(child, check):
    outcomes, output = child
    outcome, text = outcomes.get(check, ("missing", output))
    assert outcome == "passed", f"{check}: {outcome}\n{text}"


def test_this_process_never_saw_timm_or_the_stand_in_and_transformers_still_imports(child):
    assert "timm" not in sys.modules
    vision = sys.modules.get("torchvision")
    assert vision is None or not getattr(vision, "STAND_IN", False)
    if importlib.util.find_spec("transformers") is not None:
        from transformers import BertConfig, BertModel

        assert BertModel(BertConfig(num_hidden_layers=1, hidden_size=16, intermediate_size=32, num_attention_heads=2,
                                    vocab_size=32)).config.hidden_size == 16
