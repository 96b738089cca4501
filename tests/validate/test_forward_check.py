"""``initreg.check_forward`` and ``initreg check --forward``: the network-level check (docs/validation.md).

Statistics and power, all with fixed seeds. The promise test's p-values are checked against simulation here
(2000 draws per case, Gaussian and uniform rows, correlated inputs, 4 and 64 output units). The two MLPs are the
documented ones (depth 50, width 256, batch 64, seed 0). Measured once with benchmarks/forward_figure.py --seeds 20
(the figures in docs/validation.md): He + ReLU passed for all 20 seeds and Xavier-uniform + ReLU failed for all 20
(5 to 10 failing layers each); the transformer block passed 19 of 20 (seed 2: its v projection at p = 1.2e-4, a
false alarm). Over 300 seeds of the block, the 1800 promise p-values had 0.94 % below 0.01 and 4.7 % below 0.05, and
1 run in 300 failed (alpha = 10⁻³ per run, Holm over the layers). The gain flag's null is "within ×√2", which a
correct He segment meets by several standard errors at this width, so it adds no false alarms of its own.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("scipy")

import initreg  # noqa: E402
from initreg.validation.forward import ForwardReport, promise_test  # noqa: E402
from cli_helpers import importable, run  # noqa: E402

HE = {"*.weight": initreg.std.VarianceScaling(2.0, "fan_in", "untruncated_normal"), "*.bias": "zeros"}
XAVIER = {"*.weight": "xavier_uniform", "*.bias": "zeros"}


def mlp(depth: int = 50, width: int = 256, classes: int = 10) -> torch.nn.Sequential:
    layers: list = []
    for _ in range(depth):
        layers += [torch.nn.Linear(width, width), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers, torch.nn.Linear(width, classes))


def checked(model: torch.nn.Module, rules: dict | None, **kwargs) -> ForwardReport:
    table = initreg.torch.initialize(model, rules, seed=0)
    return initreg.check_forward(model, rules=table, seed=0, **kwargs)


@pytest.fixture(scope="module")
def he() -> ForwardReport:
    # the head (rule first: the first matching rule wins) is small and claims no gain: it may change scale
    return checked(mlp(), {"100.weight": initreg.std.Normal(0.01), **HE})


@pytest.fixture(scope="module")
def xavier() -> ForwardReport:
    return checked(mlp(), XAVIER)


def test_he_with_relu_at_depth_50_passes(he):
    assert he.passed, str(he)
    assert len(he.rows) == 51 and all(r.verdict == "pass" for r in he.rows)
    body = [r for r in he.rows if r.claimed_gain2 is not None and r.act_gain2 is not None]
    assert len(body) == 49  # layers 1..49 follow a ReLU of the layer before and claim He's gain² 2
    assert all(r.claimed_gain2 == 2.0 and 0.75 < r.gain_ratio < 1.33 for r in body)
    assert abs(he.trend) < 0.1  # second moment flat across depth (reported, not failed)
    head = he.rows[-1]
    assert head.name == "100" and head.claimed_gain2 is None and head.out_rms < 0.2 * he.rows[-2].out_rms


def test_xavier_uniform_with_relu_at_depth_50_fails_and_names_layers(xavier):
    assert not xavier.passed
    failing = xavier.failures()
    assert len(failing) >= 5
    assert all("gain² 1" in r.detail and r.gain_ratio < 0.75 for r in failing)
    assert all(r.ratio is not None and r.adjusted > 1e-3 for r in xavier.rows)  # each layer keeps its own promise
    text = str(xavier)
    assert text.startswith("FAILED") and f"FAIL {failing[0].name} ({failing[0].param})" in text
    assert -1.15 < xavier.trend < -0.85  # the second moment halves per layer


def test_transformer_block_passes_with_every_projection_measured(capsys):
    block = torch.nn.TransformerEncoderLayer(64, 4, 256, batch_first=True, norm_first=True)
    report = checked(block, None, batch=8)
    print(report.table())
    assert report.passed, str(report)
    names = [r.name for r in report.rows]
    assert names == ["self_attn[q]", "self_attn[k]", "self_attn[v]", "self_attn.out_proj", "linear1", "linear2"]
    assert all(r.verdict == "pass" and r.p_value is not None for r in report.rows)
    assert report.rows[0].promise == "xavier_uniform" and report.rows[0].param == "self_attn.in_proj_weight"
    assert report.rows[5].prev == 4 and report.rows[5].claimed_gain2 is None  # PyTorch's default claims no gain
    assert block.training  # the check ran in eval mode and gave the model back as it was
    assert all(p.grad is None for p in block.parameters())  # gradients were computed without touching .grad
    assert "self_attn.out_proj" in capsys.readouterr().out


def test_a_wrong_scale_fails_the_promise_test():
    model = torch.nn.Sequential(torch.nn.Linear(128, 128), torch.nn.Tanh(), torch.nn.Linear(128, 128))
    initreg.torch.initialize(model, {"*.weight": "lecun_normal", "*.bias": "zeros"}, seed=0)
    with torch.no_grad():
        model[2].weight.mul_(1.3)  # what a rule promising lecun_normal did not make
    report = initreg.check_forward(model, rules={"*.weight": "lecun_normal", "*.bias": "zeros"}, seed=0)
    assert [r.name for r in report.failures()] == ["2"]
    assert report.rows[1].ratio == pytest.approx(1.69, rel=0.1) and "promise" in report.rows[1].detail


@pytest.mark.parametrize("n_out", [4, 64])
@pytest.mark.parametrize("kind", ["normal", "uniform"])
def test_promise_p_values_are_calibrated_and_have_power(kind, n_out):
    rng = np.random.default_rng(7)
    n, fan_in, reps = 32, 48, 2000
    x = rng.standard_normal((n, fan_in)) @ rng.standard_normal((fan_in, fan_in))  # correlated inputs
    x[:, :4] *= 5.0  # and uneven feature scales
    a = x.T @ x
    tr_a, tr_a2, diag_a2 = float(np.trace(a)), float((a * a).sum()), float((np.diag(a) ** 2).sum())
    kappa = 0.0 if kind == "normal" else -1.2
    draw = rng.standard_normal if kind == "normal" else (lambda s: rng.uniform(-math.sqrt(3), math.sqrt(3), s))

    def ps(scale: float) -> np.ndarray:
        w = draw((reps, n_out, fan_in)) * scale
        y_sq = (np.einsum("rof,nf->ron", w, x) ** 2).sum(axis=(1, 2))
        return np.array([promise_test(v, n_out, 1.0, kappa, tr_a, tr_a2, diag_a2)[1] for v in y_sq])

    null = ps(1.0)
    for level in (0.01, 0.05, 0.2):  # binomial 4-sigma band around the level
        assert abs((null < level).mean() - level) < 4 * math.sqrt(level * (1 - level) / reps) + 0.004, level
    assert (ps(1.25 if n_out == 64 else 2.0) < 1e-3).mean() > 0.5  # a 25 % (or 2×) too large σ is seen


def test_report_exports(he, tmp_path):
    data = he.as_dict()
    assert data["passed"] is True and len(data["layers"]) == 51 and data["layers"][1]["prev"] == 0
    assert '"gain_ratio"' in he.to_json(tmp_path / "r.json") and (tmp_path / "r.json").is_file()
    pytest.importorskip("matplotlib")
    path = he.plot(tmp_path / "fig" / "forward.png")
    assert path.is_file() and path.read_bytes()[:4] == b"\x89PNG"


def test_bad_inputs_raise_validation_errors():
    model = torch.nn.Sequential(torch.nn.Linear(8, 8))
    before = model[0].weight.detach().clone()
    with pytest.raises(initreg.ValidationError, match="torch.nn.Module"):
        initreg.check_forward([1, 2])
    with pytest.raises(ValueError, match="batch must be an int"):
        initreg.check_forward(model, batch=1)
    with pytest.raises(initreg.ValidationError, match="alpha"):
        initreg.check_forward(model, alpha=2)
    with pytest.raises(initreg.ValidationError, match="tolerance"):
        initreg.check_forward(model, tolerance=0.5)
    with pytest.raises(initreg.ValidationError, match=r"shape \[\(4, 3\)\]"):
        initreg.check_forward(model, torch.zeros(4, 3))
    with pytest.raises(initreg.ValidationError, match="inputs must be"):
        initreg.check_forward(model, "abc")
    with pytest.raises(initreg.ValidationError, match="pass inputs="):
        initreg.check_forward(torch.nn.Sequential(torch.nn.ReLU()))
    assert torch.equal(model[0].weight, before) and model.training


MODELS = '''
import torch


def xavier_mlp():
    layers = []
    for _ in range(12):
        layers += [torch.nn.Linear(256, 256), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers)


def block():
    return torch.nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
'''


def test_cli_forward(tmp_path, monkeypatch, capsys):
    importable(tmp_path, monkeypatch, "fwd_models", MODELS)
    (tmp_path / "xavier.toml").write_text('[[rule]]\npattern = "*.weight"\ninit = "xavier_uniform"\n')
    code, out, err = run(capsys, "check", "--forward", "--torch", "fwd_models:xavier_mlp", "--rules",
                         str(tmp_path / "xavier.toml"), "--json", str(tmp_path / "r.json"))
    assert code == 1, err
    assert "FAILED" in out and "FAIL 2 (2.weight)" in out and (tmp_path / "r.json").is_file()
    code, out, err = run(capsys, "check", "--forward", "--torch", "fwd_models:block", "--batch", "4", "--seed", "3")
    assert code == 0, out + err
    assert "self_attn[v]" in out and "PASSED" in out and "seed=3, batch=4" in out
    code, out, err = run(capsys, "check", "--forward")
    assert code == 2 and "--torch PKG.MODULE:FACTORY" in err
    code, out, err = run(capsys, "check", "--forward", "--torch", "fwd_models:block", "--batch", "1")
    assert code == 2 and "--batch" in err
    code, out, err = run(capsys, "check")
    assert code == 2 and "PATH" in err


def test_a_convolutional_network_links_conv_to_conv_but_not_across_a_flatten():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Conv2d(32, 32, 3, stride=2), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(32 * 15 * 15, 10))
    report = checked(model, HE, batch=8)
    assert report.passed, str(report)
    assert [r.kind for r in report.rows] == ["conv", "conv", "conv", "linear"]
    assert [r.prev for r in report.rows] == [None, 0, 1, None]  # the flatten changes the shape: no gain test there
    assert all(0.75 < r.gain_ratio < 1.33 for r in report.rows[1:3])
    assert report.rows[0].fan_in == 27 and report.rows[1].fan_in == 288
    xavier = checked(model, XAVIER, batch=8)
    assert [r.name for r in xavier.failures()][:1] == ["2"]  # 32 channels of N(0, 1) images: s ≈ 0.004
    assert xavier.rows[2].gain_ratio < 0.75  # deeper, channels with a common offset leave s ≈ 0.17: maybe not seen


class Wrapped(torch.nn.Module):
    """A model whose output is a mapping (as Hugging Face models return), or no tensor at all."""

    def __init__(self, what: str):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64))
        self.what = what

    def forward(self, x):
        y = self.body(x)
        return {"loss": None, "logits": y} if self.what == "mapping" else [int(y.shape[0])]


def test_outputs_that_are_mappings_are_read_and_non_tensors_refused():
    model = Wrapped("mapping")
    report = checked(model, HE)
    assert report.passed and all(r.grad_out_rms for r in report.rows) and report.rows[1].prev == 0
    with pytest.raises(initreg.ValidationError, match="not a floating tensor"):
        initreg.check_forward(Wrapped("int"))


def test_a_promise_with_a_mean_is_skipped_with_the_reason():
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64))
    rules = {"0.weight": initreg.std.Normal(0.1, mean=0.5), **HE}
    report = checked(model, rules)
    assert [r.verdict for r in report.rows] == ["skipped", "pass"] and "mean 0.5" in report.rows[0].detail
    assert report.passed  # the other layer was checked and passed


def test_a_gpt2_block_with_the_gpt2_recipe_passes_with_its_conv1d_layers_measured():
    pytest.importorskip("transformers")
    from transformers import GPT2Config
    from transformers.models.gpt2.modeling_gpt2 import GPT2Block

    config = GPT2Config(n_embd=64, n_head=4, n_layer=2, n_positions=32, resid_pdrop=0.0, attn_pdrop=0.0,
                        embd_pdrop=0.0)
    block = GPT2Block(config, layer_idx=0)
    table = initreg.torch.initialize(block, "recipe:gpt2", seed=0)
    x = torch.randn(8, 16, 64, generator=torch.Generator().manual_seed(0))
    report = initreg.check_forward(block, x, rules=table, seed=0)
    assert report.passed, str(report)
    assert [r.name for r in report.rows] == ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"]
    assert [r.n_out for r in report.rows] == [192, 64, 256, 64]  # Conv1D's weight is (in, out)
    assert all(r.promise == "normal" for r in report.rows)
    with torch.no_grad():
        block.mlp.c_fc.weight.mul_(1.2)  # no longer what the recipe's normal(0.02) promises
    assert [r.name for r in initreg.check_forward(block, x, rules=table, seed=0).failures()] == ["mlp.c_fc"]
