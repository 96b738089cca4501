"""``check(..., sample=N)`` / ``initreg check --sample N`` on a small GPT-2 made by transformers itself.

No timing here (benchmarks/check_speed.py). The mutants are the two of docs/validation.md: one output unit of a
c_attn weight at 2× std (128 of 49,152 values here: its slice's χ²(128) sum sits at z ≈ 3/√(2/128) ≈ 24, far
beyond the Bonferroni bound) and a copied tensor (r = 1 in the ``copies`` row). The clean model passes at the
fixed torch seed.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import initreg  # noqa: E402
from initreg.cli import main  # noqa: E402
from initreg.planning.recipe_files import load_recipe  # noqa: E402

SAMPLE = 20_000


def gpt2(seed=0):
    torch.manual_seed(seed)
    config = transformers.GPT2Config(n_layer=2, n_embd=128, n_head=2, vocab_size=1000, n_positions=128)
    net = transformers.GPT2LMHeadModel(config)
    return {k: v.detach().clone() for k, v in net.state_dict().items() if k != "lm_head.weight"}


RULES = load_recipe("gpt2").replace(vars={"n_layer": 2, "initializer_range": 0.02})
C_ATTN = "transformer.h.0.attn.c_attn.weight"


def test_the_clean_model_passes_and_large_arrays_are_sampled():
    report = initreg.check(gpt2(), RULES, sample=SAMPLE)
    assert report.passed, report.failure_text()
    wte = [r for r in report.rows if r.initializer == "transformer.wte.weight"]
    assert any(r.test == "whole-slice-spread" for r in wte)
    assert all(r.detail.startswith(f"sample of {SAMPLE} of 128000 values") for r in wte if r.test == "ks")
    small = [r for r in report.rows if r.initializer == "transformer.wpe.weight"]  # 16,384 values: not sampled
    assert not any(r.test.startswith("whole-") or "sample of" in r.detail for r in small)


def test_one_unit_at_twice_the_std_fails_by_name():
    state = gpt2()
    state[C_ATTN][:, 7] *= 2  # Conv1D: (in, out), so a column is one output unit
    report = initreg.check(state, RULES, sample=SAMPLE)
    assert {r.initializer for r in report.failures()} == {C_ATTN}
    assert "whole-slice-spread" in {r.test for r in report.failures()}
    assert "slice 7 of 384" in str(report)


def test_a_copied_tensor_fails_in_the_copies_row():
    state = gpt2()
    state["transformer.h.1.mlp.c_fc.weight"] = state["transformer.h.0.mlp.c_fc.weight"].clone()
    report = initreg.check(state, RULES, sample=SAMPLE)
    assert {r.initializer for r in report.failures()} == {"transformer.h.0.mlp.c_fc.weight",
                                                          "transformer.h.1.mlp.c_fc.weight"}
    assert {r.test for r in report.failures()} == {"copies", "displaced-copies"}  # aligned: both see it


@pytest.mark.parametrize("bad", [0, 9_999, 1.5, True, "100000"])
def test_a_sample_too_small_or_not_an_integer_is_refused(bad):
    with pytest.raises(initreg.ValidationError, match="sample must be an integer"):
        initreg.check(gpt2(), RULES, sample=bad)


def test_cli_sample(tmp_path, capsys):
    safetensors = pytest.importorskip("safetensors.torch")
    state = gpt2()
    state[C_ATTN][:, 7] *= 2
    safetensors.save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "m.safetensors"))
    (tmp_path / "gpt2.toml").write_text(RULES.dumps("toml"), encoding="utf-8")
    rules = str(tmp_path / "gpt2.toml")
    assert main(["check", str(tmp_path / "m.safetensors"), "--rules", rules, "--sample", str(SAMPLE)]) == 1
    assert C_ATTN in capsys.readouterr().out
    assert main(["check", str(tmp_path / "m.safetensors"), "--rules", rules, "--sample", "many"]) == 2
    assert "--sample must be an integer" in capsys.readouterr().err
