"""Crafted checkpoints that used to escape verify as raw exceptions (a lone surrogate, deep nesting, a name too
long, an allocation too large) are answered with status 2 naming the file; a shard that is a FIFO or a directory is
"not a regular file", named as its index entry says."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("huggingface_hub")
pytest.importorskip("safetensors")

import initreg  # noqa: E402
from initreg.cli import main  # noqa: E402

from crafting import make_checkpoints, rewrite, set_tensor_record, split  # noqa: E402


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    return make_checkpoints(tmp_path_factory.mktemp("unverifiable"))


def fresh(made, tmp_path):
    p = tmp_path / "model.safetensors"
    shutil.copy(made / "one.safetensors", p)
    return p


def sharded(made, tmp_path):
    d = tmp_path / "ckpt"
    shutil.copytree(made / "ckpt", d)
    return d


def test_a_lone_surrogate_as_key_name_is_not_checkable(made, tmp_path, capsys):
    p = set_tensor_record(fresh(made, tmp_path), "s", key_name="\ud800")
    result = initreg.verify(p)
    assert result.status == 2 and "'s'" in result.problems[0] and "surrogate" in result.problems[0]
    assert main(["verify", str(p)]) == 2 and "internal error" not in capsys.readouterr().err


def test_rules_nested_near_the_recursion_limit_are_malformed_provenance(made, tmp_path):
    p = fresh(made, tmp_path)
    original = p.read_bytes()
    for depth in range(sys.getrecursionlimit() - 160, sys.getrecursionlimit() + 10, 3):
        def nest(h, d, depth=depth):
            h["__metadata__"]["initreg.rules"] = "[" * depth + "]" * depth
            return h, d
        p.write_bytes(original)
        rewrite(p, nest)
        result = initreg.verify(p)  # raised RecursionError for some depths (json.dumps in the set check)
        assert result.status in (0, 2), depth
        assert result.status == 0 or "malformed initreg provenance" in result.problems[0]


@pytest.mark.parametrize("entry", ["a" * 300 + ".safetensors", "/".join(["b" * 200] * 25) + ".safetensors"])
def test_an_index_entry_too_long_for_a_path_is_refused(made, tmp_path, entry):
    d = sharded(made, tmp_path)
    index = d / "model.safetensors.index.json"
    doc = json.loads(index.read_text())
    doc["weight_map"]["a.bias"] = entry
    index.write_text(json.dumps(doc))
    result = initreg.verify(d)
    assert result.status == 2 and "too long" in result.problems[0]


def test_a_user_path_too_long_is_an_error_not_a_crash(tmp_path, capsys):
    long = tmp_path / ("a" * 300 + ".safetensors")
    result = initreg.verify(long)
    assert result.status == 2 and "cannot be looked up" in result.problems[0]
    assert main(["verify", str(long)]) == 2
    (tmp_path / "spec.json").write_text('[{"name": "w", "shape": [2]}]')
    (tmp_path / "r.toml").write_text('[[rule]]\npattern = "*"\ninit = "zeros"\n')
    code = main(["init", "--params", str(tmp_path / "spec.json"), "--rules", str(tmp_path / "r.toml"), "-q",
                 "-o", str(long)])
    err = capsys.readouterr().err
    assert code == 2 and "internal error" not in err and "cannot be looked up" in err


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_shard_that_is_not_a_regular_file_is_named_so(made, tmp_path, kind):
    d = sharded(made, tmp_path)
    shard = sorted(d.glob("model-*"))[0]
    shard.unlink()
    os.mkfifo(shard) if kind == "fifo" else shard.mkdir()
    result = initreg.verify(d)
    assert result.status == 2
    assert f"{shard.name!r}, listed in the index, is not a regular file" in result.problems


def test_messages_show_the_index_entry_not_its_last_part(made, tmp_path):
    d = sharded(made, tmp_path)
    index = d / "model.safetensors.index.json"
    doc = json.loads(index.read_text())
    doc["weight_map"]["a.bias"] = "sub/.safetensors"
    index.write_text(json.dumps(doc))
    result = initreg.verify(d)
    assert "'sub/.safetensors', listed in the index, does not exist" in result.problems
    assert "sub/.safetensors" in result.files


def test_a_whole_tensor_too_large_for_memory_is_not_checkable(made, tmp_path):
    """An orthogonal tensor of 2 x 2**28 float32 in a sparse file: recomputing it needs 4 GiB; under a 2 GiB
    address-space limit verify says so instead of raising MemoryError."""
    pytest.importorskip("resource")
    n = 2 ** 28
    p = tmp_path / "big.safetensors"
    meta = split((made / "one.safetensors").read_bytes())[0]["__metadata__"]
    meta["initreg.tensors"] = json.dumps({"w": {"init": ["orthogonal", {}], "layout": "OI", "shape": [2, n],
                                                "dtype": "float32"}})
    text = json.dumps({"__metadata__": meta, "w": {"dtype": "F32", "shape": [2, n], "data_offsets": [0, 8 * n]}})
    text = text.encode() + b" " * (-len(text) % 8)
    with open(p, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        f.truncate(8 + len(text) + 8 * n)
    script = textwrap.dedent(f"""
        import resource, initreg
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        r = initreg.verify({str(p)!r})
        print(r.status, r.problems)
    """)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(initreg.__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("2 ") and "too large to recompute" in done.stdout


def test_control_characters_from_the_checkpoint_are_escaped_on_the_terminal(made, tmp_path, capsys):
    p = fresh(made, tmp_path)

    def change(h, d):
        h["__metadata__"].update({"initreg.algorithm": "x", "initreg.version": "0.1\nfake: identical\x1b[2K\x1b]0;t\x07"})
        return h, d

    rewrite(p, change)
    assert main(["verify", str(p)]) == 2
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "\x1b" not in text and "\x07" not in text and "\\x1b[2K" in text
    assert not any(line.startswith("fake") for line in text.splitlines())  # no line of its own
    assert "0.1\\nfake: identical" in text


def test_a_report_of_many_problems_is_printed_short(made, tmp_path, capsys):
    d = sharded(made, tmp_path)
    index = d / "model.safetensors.index.json"
    doc = json.loads(index.read_text())
    doc["weight_map"].update({f"x{i}": f"missing-{i}.safetensors" for i in range(100)})
    index.write_text(json.dumps(doc))
    assert main(["verify", str(d)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) <= 22 and err[-1].endswith("cannot check: ... and 80 more")
    assert len(initreg.verify(d).problems) == 100  # the result keeps every one


@pytest.mark.parametrize("seed", [" 3 ", "+3", "0003", "3\n", "\u0663", "1_000", "3.0", "", "9" * 5000])
def test_a_seed_not_written_as_initreg_writes_it_is_malformed(made, tmp_path, seed):
    p = fresh(made, tmp_path)
    assert initreg.verify(p).status == 0

    def change(h, d):
        h["__metadata__"]["initreg.seed"] = seed
        return h, d

    rewrite(p, change)
    result = initreg.verify(p)
    assert result.status == 2 and "malformed initreg provenance" in result.problems[0]


def test_check_refuses_a_seed_of_other_digits(made, tmp_path, capsys):
    p = fresh(made, tmp_path)

    def change(h, d):
        h["__metadata__"]["initreg.seed"] = "\u00b2"  # '²'.isdigit() is true, int('²') raises
        return h, d

    rewrite(p, change)
    code = main(["check", str(p)])
    err = capsys.readouterr().err
    assert code == 2 and "internal error" not in err and "malformed initreg provenance" in err
