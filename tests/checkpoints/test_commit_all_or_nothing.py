"""A failed write of several files changes none of them: targets that are not regular files are refused before
anything is written, and a rename that fails at the end puts back every file already replaced."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("huggingface_hub")
pytest.importorskip("safetensors")

from cli_helpers import run, write_cli_files  # noqa: E402

RULES = 'seed = 1\n[[rule]]\npattern = "*"\ninit = "normal"\n'
SPEC = [{"name": f"w{i}", "shape": [100]} for i in range(6)]
INIT = ["init", "--params", "spec.json", "--rules", "rules.toml", "-q", "-o", "ckpt", "--max-shard-size", "1KB"]


@pytest.fixture
def files(tmp_path, monkeypatch):
    return write_cli_files(tmp_path, monkeypatch, RULES, SPEC)


def contents(d):
    return {p.name: (p.read_bytes() if p.is_file() else "dir") for p in d.iterdir()}


def test_a_shard_path_that_is_a_directory_is_refused_before_writing(files, capsys):
    assert run(capsys, *INIT)[0] == 0
    last = sorted((files / "ckpt").glob("model-*"))[-1]
    last.unlink()
    last.mkdir()
    (last / "keep").write_text("x")
    before = contents(files / "ckpt")
    code, _, err = run(capsys, *INIT, "--seed", "2")
    assert code == 2
    assert last.name in err and "a directory" in err and "Nothing was written" in err
    assert contents(files / "ckpt") == before and (last / "keep").read_text() == "x"


def test_a_fifo_at_the_output_path_is_refused(files, capsys):
    os.mkfifo(files / "one.safetensors")
    code, _, err = run(capsys, "init", "--params", "spec.json", "--rules", "rules.toml", "-q", "-o", "one.safetensors")
    assert code == 2 and "not a regular file" in err
    assert not (files / "one.safetensors").is_file()


def test_a_failing_rename_puts_back_every_file_already_replaced(files, capsys, monkeypatch):
    from initreg.checkpoints import filewriter

    assert run(capsys, *INIT)[0] == 0
    before = contents(files / "ckpt")
    shards = sorted(n for n in before if n.startswith("model-"))
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if str(dst).endswith(shards[-1]) and ".tmp" in str(src):  # the last shard's new file cannot be renamed
            raise OSError(5, "Input/output error")
        return real(src, dst)

    monkeypatch.setattr(filewriter.os, "replace", replace)
    code, _, err = run(capsys, *INIT, "--seed", "2")
    assert code == 2 and "Input/output error" in err
    assert f"the {len(shards) - 1} other file(s) already replaced were put back" in err
    assert len(calls) > len(shards)  # the earlier shards were replaced, then put back
    assert contents(files / "ckpt") == before  # byte for byte, and no backup or temporary file left


def test_a_failing_rename_of_a_new_file_removes_the_ones_already_renamed(files, capsys, monkeypatch):
    from initreg.checkpoints import filewriter

    real = os.replace
    renamed = []

    def replace(src, dst):
        if len(renamed) == 2:
            raise OSError(5, "Input/output error")
        renamed.append(dst)
        return real(src, dst)

    monkeypatch.setattr(filewriter.os, "replace", replace)
    code, _, err = run(capsys, *INIT)
    assert code == 2 and "put back" in err
    assert not (files / "ckpt").exists()  # the directory it created is empty again, and removed


@pytest.mark.parametrize("fails_on, error", [("last shard", KeyboardInterrupt), ("index", OSError)])
def test_an_interrupt_or_a_failing_index_between_renames_changes_no_file(files, capsys, monkeypatch, fails_on, error):
    from initreg.checkpoints import filewriter

    assert run(capsys, *INIT)[0] == 0
    before = contents(files / "ckpt")
    last = sorted(n for n in before if n.startswith("model-"))[-1]
    target = last if fails_on == "last shard" else "model.safetensors.index.json"  # the index commits with the shards
    real = os.replace

    def replace(src, dst):
        if str(dst).endswith(target) and ".tmp" in str(src):
            raise error(5, "Input/output error") if error is OSError else error()
        return real(src, dst)

    monkeypatch.setattr(filewriter.os, "replace", replace)
    assert run(capsys, *INIT, "--seed", "2")[0] == (130 if error is KeyboardInterrupt else 2)  # Ctrl-C: status 130
    monkeypatch.setattr(filewriter.os, "replace", real)
    assert contents(files / "ckpt") == before  # no shard of the second run, no temporary or backup file left
