"""``initreg check`` and ``initreg verify`` of bfloat16 and float16 safetensors files (issue 27, "low precision").

The files are what a PyTorch user writes: a model in bfloat16/float16 initialized by initreg.torch, saved with
``safetensors.torch.save_file`` and initreg's provenance as metadata. A round-toward-zero conversion of the
same float32 values is the bug: on 2¹⁹ N(0, 0.02²) values it moves the ``rounding`` row to z ≈ 20 (bfloat16)
and z ≈ 7 (float16), docs/validation.md; both far beyond the Holm threshold of these ~30 p-values.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
st = pytest.importorskip("safetensors.torch")
pytest.importorskip("ml_dtypes")

import initreg.torch as it  # noqa: E402
from initreg.checkpoints.provenance import metadata  # noqa: E402
from initreg.cli import main  # noqa: E402
from initreg.planning.rules import Rules  # noqa: E402

RULES = '''
[[rule]]
pattern = "*.weight"
init = "normal"
sigma = 0.02

[[rule]]
pattern = "*.bias"
init = "zeros"
'''
SEED = 7


def made(dtype):
    """A 1024 → 512 → 128 MLP in ``dtype``, initialized by initreg.torch, and its plan."""
    rules = Rules.loads(RULES)
    net = torch.nn.Sequential(torch.nn.Linear(1024, 512), torch.nn.Linear(512, 128)).to(dtype)
    it.initialize(net, rules, seed=SEED)
    return net, it.plan(net, rules, seed=SEED), rules


def toward_zero(x32: torch.Tensor, dtype) -> torch.Tensor:
    """float32 → ``dtype`` rounded toward zero (the bug): bfloat16 by dropping the low 16 bits."""
    if dtype is torch.bfloat16:
        return (x32.contiguous().view(torch.int32) >> 16).to(torch.int16).view(torch.bfloat16)
    near = x32.to(torch.float16)
    over = near.float().abs() > x32.abs()  # rounded away from zero: one step back toward it
    back = torch.nextafter(near, torch.zeros_like(near))
    return torch.where(over, back, near)


def write(tmp_path, dtype, truncate=False):
    net, table, rules = made(dtype)
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    if truncate:
        wide, _, _ = made(torch.float32)
        state = {k: toward_zero(v.detach(), dtype) for k, v in wide.state_dict().items()}
    path = tmp_path / f"{str(dtype).split('.')[-1]}{'-rtz' if truncate else ''}.safetensors"
    st.save_file(state, str(path), metadata=metadata(table.rows, SEED, rules))
    return path


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "f16"])
def test_check_and_verify_read_initreg_values_in_16_bits(tmp_path, capsys, dtype):
    path = write(tmp_path, dtype)
    assert main(["check", str(path)]) == 0, capsys.readouterr().out
    assert main(["verify", str(path)]) == 0
    assert main(["verify", str(path), "--sample", "3"]) == 0  # regions through values(index=), rounded alike
    assert main(["check", str(path), "--sample", "100000"]) == 0
    assert capsys.readouterr().out.count("identical") == 2


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "f16"])
def test_a_round_toward_zero_conversion_fails_check_and_verify(tmp_path, capsys, dtype):
    path = write(tmp_path, dtype, truncate=True)
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "0.weight" in out and "rounding" in out
    assert main(["verify", str(path)]) == 1


def test_the_truncation_really_rounds_toward_zero():
    x = torch.tensor([1.0 + 2.0 ** -8 + 2.0 ** -10, -(1.0 + 2.0 ** -8 + 2.0 ** -10)])
    assert toward_zero(x, torch.bfloat16).float().tolist() == [1.0, -1.0]
    assert np.all(np.abs(toward_zero(x * 3.3, torch.float16).float().numpy()) <= np.abs(x.numpy() * 3.3))
