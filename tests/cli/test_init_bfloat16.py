"""``initreg init`` writes bfloat16 .safetensors (float32 values rounded to nearest even, as the adapters do),
``initreg verify`` recomputes them bit for bit, and .npz (which cannot hold bfloat16) is refused up front."""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pytest

from cli_helpers import run

torch = pytest.importorskip("torch")
st_torch = pytest.importorskip("safetensors.torch")

MODEL = '''
import torch


def small():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(40, 30), torch.nn.LayerNorm(30), torch.nn.Linear(30, 7)).to(torch.bfloat16)
'''


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "fx_bf16_model.py").write_text(textwrap.dedent(MODEL))
    (tmp_path / "rules.toml").write_text('seed = 3\n\n[[rule]]\npattern = "*"\ninit = "normal"\nsigma = 0.5\n')
    (tmp_path / "spec.json").write_text(json.dumps([{"name": "w", "shape": [70, 50]}, {"name": "b", "shape": [50]}]))
    yield tmp_path
    sys.modules.pop("fx_bf16_model", None)


def bits(t):
    return t.contiguous().view(torch.int16).numpy()


def test_init_torch_writes_bfloat16_equal_to_the_torch_adapter_bit_for_bit_and_verify_agrees(here, capsys):
    import initreg.torch

    code, out, err = run(capsys, "init", "--torch", "fx_bf16_model:small", "--seed", "5", "-o", "m.safetensors")
    assert code == 0, err
    assert "(bfloat16)" in out
    stored = st_torch.load_file("m.safetensors")
    model = sys.modules["fx_bf16_model"].small()
    initreg.torch.initialize(model, seed=5)
    mine = dict(model.named_parameters())
    assert set(stored) == set(mine) and all(t.dtype == torch.bfloat16 for t in stored.values())
    for name, t in stored.items():
        assert np.array_equal(bits(t), bits(mine[name].detach())), name
    code, out, _ = run(capsys, "verify", "m.safetensors")
    assert code == 0 and "identical" in out and "1,507 values compared" in out


def test_params_dtype_bfloat16_is_float32_rounded_to_nearest_even_and_a_flipped_bit_is_found(here, capsys):
    import initreg

    code, _, err = run(capsys, "init", "--params", "spec.json", "--rules", "rules.toml", "--dtype", "bfloat16",
                       "-o", "p.safetensors")
    assert code == 0, err
    stored = st_torch.load_file("p.safetensors")
    wide = initreg.values(initreg.init.Normal(0.5), (70, 50), name="w", seed=3, dtype="float32")
    assert np.array_equal(bits(stored["w"]), bits(torch.from_numpy(wide).to(torch.bfloat16)))  # torch's own rounding
    assert run(capsys, "verify", "p.safetensors")[0] == 0
    assert run(capsys, "verify", "p.safetensors", "--sample", "3")[0] == 0
    data = bytearray(open("p.safetensors", "rb").read())
    data[-2] ^= 0x01  # the last value's lowest mantissa bit (little-endian: its first byte)
    open("p.safetensors", "wb").write(bytes(data))
    code, out, _ = run(capsys, "verify", "p.safetensors")
    assert code == 1 and "DIFFERENT" in out


def test_sharded_bfloat16_checkpoint_verifies(here, capsys):
    code, _, err = run(capsys, "init", "--params", "spec.json", "--rules", "rules.toml", "--dtype", "bf16",
                       "-o", "shards", "--max-shard-size", "5KB")
    assert code == 0, err
    index = json.loads((here / "shards" / "model.safetensors.index.json").read_text())
    assert index["metadata"]["total_size"] == (70 * 50 + 50) * 2  # two bytes a value
    assert run(capsys, "verify", "shards")[0] == 0


def test_bfloat16_to_npz_is_refused_naming_dtype_and_the_fix(here, capsys):
    code, _, err = run(capsys, "init", "--params", "spec.json", "--rules", "rules.toml", "--dtype", "bfloat16",
                       "-o", "p.npz")
    assert code == 2
    assert "bfloat16" in err and ".npz cannot hold" in err and "--dtype float32" in err and ".safetensors" in err
    assert not (here / "p.npz").exists()


def test_a_platform_dependent_bfloat16_tensor_is_compared_within_tolerance_in_value_not_in_bits(here, capsys):
    import initreg
    from initreg.checkpoints.files import safetensors_layout

    (here / "ortho.toml").write_text('seed = 3\n\n[[rule]]\npattern = "*"\ninit = "orthogonal"\n')
    code, _, err = run(capsys, "init", "--params", "spec.json", "--rules", "ortho.toml", "--dtype", "bfloat16",
                       "-o", "o.safetensors")
    assert code == 0, err
    result = initreg.verify("o.safetensors")
    assert result.ok and sorted(result.tolerated) == ["b", "w"]
    _, layout = safetensors_layout("o.safetensors")
    start = layout["w"][2]
    raw = bytearray((here / "o.safetensors").read_bytes())
    raw[start + 1] ^= 0x04  # an exponent bit of element (0, 0): its value changes by a factor of 2 or more
    (here / "o.safetensors").write_bytes(bytes(raw))
    result = initreg.verify("o.safetensors")
    assert result.status == 1 and result.mismatches[0].tensor == "w" and result.mismatches[0].index == (0, 0)
