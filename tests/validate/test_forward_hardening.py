"""check_forward / check_widths on non-finite models and inputs, and their argument checks (audit findings 1, 7, 8)."""

from __future__ import annotations


import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("scipy")

import initreg  # noqa: E402
from cli_helpers import importable, run  # noqa: E402

RULES = {"*.weight": "he_normal", "*.bias": "zeros"}


def mlp(width: int = 64) -> torch.nn.Sequential:
    return torch.nn.Sequential(torch.nn.Linear(64, width), torch.nn.ReLU(), torch.nn.Linear(width, 10))


def initialized(width: int = 64):
    model = mlp(width)
    return model, initreg.torch.initialize(model, RULES, seed=0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_weight_fails_its_layer_and_those_after(bad):
    model, table = initialized()
    with torch.no_grad():
        model[0].weight[0, 0] = bad
    report = initreg.check_forward(model, rules=table)
    assert not report.passed and "FAILED" in report.summary()
    assert [r.verdict for r in report.rows] == ["fail", "fail"]
    assert all("non-finite activations/weights" in r.detail for r in report.rows)


def test_a_healthy_model_still_passes():
    model, table = initialized()
    assert initreg.check_forward(model, rules=table).passed


@pytest.mark.parametrize("inputs", [torch.full((8, 64), float("nan")), torch.full((8, 64), float("inf")),
                                    torch.zeros(0, 64)])
def test_non_finite_or_empty_inputs_are_refused(inputs):
    model, table = initialized()
    with pytest.raises(initreg.ValidationError, match=r"inputs\[0\]") as info:
        initreg.check_forward(model, inputs, rules=table)
    assert isinstance(info.value, ValueError)


def test_check_widths_fails_when_one_width_has_a_nan_weight():
    models, tables = {}, {}
    for w in (64, 128):
        models[w], tables[w] = initialized(w)
    with torch.no_grad():
        models[128][2].weight[0, 0] = float("nan")
    report = initreg.check_widths(models, rules=tables, exempt=())
    assert not report.passed
    assert any(r.verdict == "fail" and "non-finite" in r.detail for r in report.rows)


@pytest.mark.parametrize("alpha", ["x", None, 1.5, 3, -1, 0])
def test_check_widths_refuses_a_bad_alpha(alpha):
    models = {64: mlp(64), 128: mlp(128)}
    with pytest.raises(initreg.ValidationError, match=r"alpha must be a number in \(0, 1\), got " + repr(alpha)):
        initreg.check_widths(models, alpha=alpha)


def test_check_widths_refuses_exempt_none_and_a_partial_width_mapping():
    models = {64: mlp(64), 128: mlp(128)}
    with pytest.raises(initreg.ValidationError, match="exempt must be a list of glob patterns, got None"):
        initreg.check_widths(models, exempt=None)
    with pytest.raises(initreg.ValidationError, match=r"missing \[128\]"):
        initreg.check_widths(models, rules={64: RULES})


def test_seeds_beyond_64_bits_work_and_differ():
    model, table = initialized()
    big = initreg.check_forward(model, rules=table, seed=2 ** 70)
    other = initreg.check_forward(model, rules=table, seed=2 ** 70 + 1)
    assert big.passed and big.seed == 2 ** 70
    assert big.rows[0].out_rms != other.rows[0].out_rms


def test_a_huge_batch_is_refused_before_allocating():
    with pytest.raises(initreg.ValidationError, match="batch=100000000000"):
        initreg.check_forward(mlp(), batch=10 ** 11)


MODELS = '''
import torch


def nanmlp():
    torch.manual_seed(0)
    inner = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    with torch.no_grad():
        inner[0].weight[0, 0] = float("nan")
    return inner
'''


def test_cli_forward_on_a_nan_model_exits_failed(tmp_path, monkeypatch, capsys):
    importable(tmp_path, monkeypatch, "nan_models", MODELS)
    (tmp_path / "keep.toml").write_text('[[rule]]\npattern = "*"\ninit = "keep"\n')
    code, out, err = run(capsys, "check", "--forward", "--torch", "nan_models:nanmlp", "--rules",
                         str(tmp_path / "keep.toml"))
    assert code == 1, out + err
    assert "FAILED" in out and "non-finite" in out
    code, out, err = run(capsys, "check", "--forward", "--torch", "nan_models:nanmlp", "--batch", "100000000000")
    assert code == 2 and "batch=100000000000" in err and "internal error" not in err
