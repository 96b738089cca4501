"""check() on arrays holding NaN or inf: a failing "finite" row, never a crash (audit finding 2)."""

from __future__ import annotations

import numpy as np
import pytest

import initreg
from initreg.std import Normal, Uniform
from cli_helpers import run


def weights(bad: float, dtype=np.float32) -> np.ndarray:
    x = (0.02 * np.random.default_rng(0).standard_normal((256, 128))).astype(dtype)
    x[3, 5] = bad
    x[7, 1] = bad
    return x


def finite_row(report):
    rows = [r for r in report.rows if r.test == "finite"]
    assert len(rows) == 1 and rows[0].verdict == "fail", [(r.test, r.verdict) for r in report.rows]
    return rows[0]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("promise", [Normal(0.02), Uniform(0.1)])
def test_non_finite_values_fail_a_finite_row_naming_count_and_first_index(bad, promise):
    report = initreg.check({"w": weights(bad)}, promise)
    assert not report.passed and report.targets[0].verdict == "fail"
    row = finite_row(report)
    assert "2 of 32768 values are NaN or inf" in row.detail and "(3, 5)" in row.detail


def test_the_sample_path_and_low_precision_and_torch_arrays_fail_the_same_way():
    finite_row(initreg.check({"w": weights(np.nan)}, Normal(0.02), sample=10_000))
    ml_dtypes = pytest.importorskip("ml_dtypes")
    finite_row(initreg.check({"w": weights(np.nan).astype(ml_dtypes.bfloat16)}, Normal(0.02)))
    finite_row(initreg.check({"w": weights(np.inf).astype(np.float16)}, Normal(0.02)))
    torch = pytest.importorskip("torch")
    finite_row(initreg.check({"w": torch.from_numpy(weights(np.nan))}, Normal(0.02)))


def test_a_finite_array_beside_a_diverged_one_is_still_tested():
    good = (0.02 * np.random.default_rng(1).standard_normal((256, 128))).astype(np.float32)
    report = initreg.check({"bad": weights(np.nan), "good": good}, Normal(0.02))
    verdicts = {t.label: t.verdict for t in report.targets}
    assert verdicts == {"bad": "fail", "good": "pass"}


def test_plots_of_a_diverged_array_are_drawn(tmp_path):
    pytest.importorskip("matplotlib")
    report = initreg.check({"w": weights(np.nan)}, Normal(0.02))
    report.plot(tmp_path)  # no figure data for it, and no range error either


def test_cli_check_of_a_checkpoint_holding_nan_exits_failed(tmp_path, capsys):
    np.savez(tmp_path / "nan.npz", w=weights(np.nan))
    (tmp_path / "rules.toml").write_text('[[rule]]\npattern = "*"\ninit = {name = "normal", sigma = 0.02}\n')
    code, out, err = run(capsys, "check", str(tmp_path / "nan.npz"), "--rules", str(tmp_path / "rules.toml"))
    assert code == 1, out + err
    assert "NaN or inf" in out and "not finite" not in err


def test_a_meta_tensor_is_a_validation_error_naming_it():
    torch = pytest.importorskip("torch")
    from initreg.errors import ValidationError

    with pytest.raises(ValidationError, match="'w' is on the meta device and holds no values"):
        initreg.check({"w": torch.empty(64, 64, device="meta")}, "normal")
