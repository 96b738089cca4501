"""``initreg.check`` and ``initreg check``: arrays you already have, tested against the rules that should have made them."""

from __future__ import annotations

import json

import numpy as np
import pytest

import initreg
from initreg.checkpoints import files as checkpoint
from initreg.cli import main
from initreg.std import Normal, One, Zero

RULES = {"*.bias": Zero(), "*norm.weight": One(), "*": Normal(0.02)}
RULE_FILE = '''
[[rule]]
pattern = "*.bias"
init = "zeros"

[[rule]]
pattern = "*norm.weight"
init = "ones"

[[rule]]
pattern = "*.weight"
init = "normal"
sigma = 0.02
'''


def arrays(seed=0, wrong=None):
    """A small model's parameters made as the rules say (NumPy's generator, not initreg's), ``wrong`` left uniform."""
    rng = np.random.default_rng(seed)
    out = {}
    for layer in ("enc", "dec"):
        out[f"{layer}.fc.weight"] = (rng.standard_normal((128, 64)) * 0.02).astype(np.float32)
        out[f"{layer}.fc.bias"] = np.zeros(128, np.float32)
        out[f"{layer}.norm.weight"] = np.ones(128, np.float32)
    if wrong:
        bound = 1 / np.sqrt(64)
        out[f"{wrong}.fc.weight"] = rng.uniform(-bound, bound, (128, 64)).astype(np.float32)
    return out


def test_arrays_made_as_the_rules_say_pass():
    report = initreg.check(arrays(), RULES)
    assert report.passed, report.failure_text()
    assert {t.label for t in report.targets} == set(arrays())
    assert report.seed is None and "seed=unknown" in report.summary()


def test_one_array_made_otherwise_fails_by_its_name():
    report = initreg.check(arrays(wrong="dec"), RULES)
    assert not report.passed
    assert {r.initializer for r in report.failures()} == {"dec.fc.weight"}
    assert report.verdict("enc.fc.weight") == "pass"


def test_an_array_no_rule_matches_is_reported_not_skipped_silently():
    data = {**arrays(), "extra.scale": np.ones(4, np.float32)}
    report = initreg.check(data, {"*.bias": Zero(), "*norm.weight": One(), "*.weight": Normal(0.02)})
    assert report.verdict("extra.scale") == "unchecked"
    assert report.passed and not report.ok(strict=True)
    assert "promise nothing or were not checked: extra.scale" in report.summary()
    (row,) = [r for r in report.rows if r.initializer == "extra.scale"]
    assert "no rule matches" in row.detail


def test_with_the_seed_the_bits_are_checked_too():
    from initreg import Parameter

    made = {}
    for name, shape in (("a.weight", (64, 32)), ("a.bias", (64,))):
        p = Parameter(name, shape=shape)
        p.initialize(RULES["*.bias"] if name.endswith("bias") else RULES["*"], seed=5)
        made[name] = p.data().copy()
    assert initreg.check(made, RULES, seed=5).passed
    other = initreg.check(made, RULES, seed=6)
    assert [r.initializer for r in other.failures()] == ["a.weight"]
    assert [r.test for r in other.failures()] == ["bits"]


def test_the_cli_checks_a_safetensors_file_and_a_sharded_directory(tmp_path, capsys):
    rules = tmp_path / "rules.toml"
    rules.write_text(RULE_FILE)
    single = tmp_path / "model.safetensors"
    checkpoint.save(single, arrays())
    assert main(["check", str(single), "--rules", str(rules), "--json", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["passed"] is True
    shards = tmp_path / "sharded"
    shards.mkdir()
    data = arrays(wrong="enc")
    names = list(data)
    weight_map = {}
    for k, part in enumerate((names[:3], names[3:])):
        file = f"model-{k + 1:05d}-of-00002.safetensors"
        checkpoint.save(shards / file, {n: data[n] for n in part})
        weight_map.update({n: file for n in part})
    (shards / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    capsys.readouterr()
    assert main(["check", str(shards), "--rules", str(rules)]) == 1
    out = capsys.readouterr().out
    assert "enc.fc.weight" in out and "FAIL" in out.upper()


def test_the_cli_without_rules_or_provenance_is_a_usage_error(tmp_path, capsys):
    path = tmp_path / "model.npz"
    checkpoint.save(path, arrays())
    assert main(["check", str(path)]) == 2
    assert "records no rules" in capsys.readouterr().err


def test_the_cli_uses_rules_recorded_in_the_index_metadata(tmp_path):
    shards = tmp_path / "sharded"
    shards.mkdir()
    checkpoint.save(shards / "model-00001-of-00001.safetensors", arrays())
    (shards / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"initreg.rules": RULE_FILE}, "weight_map": {n: "model-00001-of-00001.safetensors" for n in arrays()}}))
    assert main(["check", str(shards)]) == 0


# --- the PyTorch use case ---------------------------------------------------------------------------

def gpt2_like(default_layer=None):
    """A two-block GPT-2-style model: N(0, 0.02²) weights, zero biases, unit LayerNorm; ``default_layer`` keeps torch's init."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)

    class Block(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    class GPT(nn.Module):
        def __init__(self, vocab=512, ctx=64, d=64, layers=2):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(ctx, d)
            self.h = nn.ModuleList(Block(d) for _ in range(layers))
            self.ln_f = nn.LayerNorm(d)

    model = GPT()
    for name, module in model.named_modules():
        if name == default_layer:
            continue
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, 0.0, 0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
    return model


GPT2_RULES = {"*.ln_?.weight": One(), "ln_f.weight": One(), "*.bias": Zero(), "*.weight": Normal(0.02)}


def test_a_gpt2_style_torch_model_passes_against_its_rules():
    model = gpt2_like()
    report = initreg.check(model.state_dict(), GPT2_RULES)
    assert report.passed, report.failure_text()
    assert len(report.targets) == len(model.state_dict()) and not report.unchecked


def test_one_layer_left_at_torchs_default_init_fails_naming_its_tensors():
    report = initreg.check(gpt2_like(default_layer="h.1.c_fc").state_dict(), GPT2_RULES)
    assert not report.passed
    assert {r.initializer for r in report.failures()} == {"h.1.c_fc.weight", "h.1.c_fc.bias"}
