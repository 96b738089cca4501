"""Integer and bool arrays are checked against exact promises (zeros, ones, constants); other promises skip them.

Before, every integer array was "unchecked (dtype not checked)", so a rule `*.num_batches_tracked: zeros` could never
pass, and a count that was not zero was never caught. Exact: no p-values.
"""

from __future__ import annotations

import numpy as np

import initreg


def test_integer_and_bool_arrays_are_held_to_exact_promises():
    arrays = {"bn.num_batches_tracked": np.zeros((), np.int64), "mask": np.ones(5, bool),
              "steps": np.array([0, 0, 3], np.int32), "ids": np.arange(4)}
    report = initreg.check(arrays, {"*.num_batches_tracked": "zeros", "mask": "ones", "steps": "zeros",
                                    "ids": "normal"})
    verdicts = {t.label: t.verdict for t in report.targets}
    assert verdicts == {"bn.num_batches_tracked": "pass", "mask": "pass", "steps": "fail", "ids": "unchecked"}
    assert "1 of 3 values differ" in report.failures()[0].detail
    assert "integer and bool arrays only against exact values" in str(report)


def test_a_torch_batchnorm_state_dict_counter_passes_its_zeros_rule():
    import pytest

    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.BatchNorm1d(64))
    report = initreg.check(net.state_dict(), {"*.num_batches_tracked": "zeros"}, model=net)
    assert [t.verdict for t in report.targets if t.label == "1.num_batches_tracked"] == ["pass"]
