"""--json and --plots paths that cannot be written are usage errors before the run (audit finding 9)."""

from __future__ import annotations

import numpy as np
import pytest

from cli_helpers import run


@pytest.fixture
def npz(tmp_path):
    path = tmp_path / "ok.npz"
    np.savez(path, w=(0.02 * np.random.default_rng(0).standard_normal((64, 64))).astype(np.float32))
    (tmp_path / "rules.toml").write_text('[[rule]]\npattern = "*"\ninit = {name = "normal", sigma = 0.02}\n')
    return path


@pytest.mark.parametrize("flag, where, words", [
    ("--json", "missing/r.json", "cannot write into"),
    ("--json", ".", "is a folder"),
    ("--plots", "ok.npz", "is not a folder"),
])
def test_validate_refuses_an_unwritable_output_before_the_run(tmp_path, npz, capsys, flag, where, words):
    code, out, err = run(capsys, "validate", "normal", "--shape", "32,32", flag, str(tmp_path / where))
    assert code == 2 and words in err and "internal error" not in err
    assert "PASSED" not in out  # refused before validating


@pytest.mark.parametrize("flag, where, words", [("--json", "missing/r.json", "cannot write into"),
                                                ("--plots", "ok.npz", "is not a folder")])
def test_check_refuses_an_unwritable_output_before_the_run(tmp_path, npz, capsys, flag, where, words):
    if flag == "--plots":
        pytest.importorskip("matplotlib")
    code, out, err = run(capsys, "check", str(npz), "--rules", str(tmp_path / "rules.toml"), flag,
                         str(tmp_path / where))
    assert code == 2 and words in err and "internal error" not in err


def test_a_writable_json_path_still_works(tmp_path, npz, capsys):
    code, out, err = run(capsys, "check", str(npz), "--rules", str(tmp_path / "rules.toml"), "--json",
                         str(tmp_path / "new.json"))
    assert code == 0, out + err
    assert (tmp_path / "new.json").is_file()
