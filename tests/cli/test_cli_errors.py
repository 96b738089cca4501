"""Every command ends in a status and a line, never a traceback (issue 25, findings 12-16): an unexpected
exception is status 2 with one line (``--json``: a JSON object on stdout), plugin output stays off the JSON,
``verify --sample`` handles empty tensors, full disks name the path, a lone surrogate in a pattern is an error."""

from __future__ import annotations

import errno
import json
import os

import pytest

from initreg.cli import main

RULES = 'seed = 1\n[[rule]]\npattern = "*.weight"\ninit = "xavier"\n'
SPEC = [{"name": "a.weight", "shape": [8, 4]}, {"name": "a.bias", "shape": [8]}, {"name": "e.weight", "shape": [0, 5]}]


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules.toml").write_text(RULES)
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    assert main(["init", "--rules", "rules.toml", "--params", "spec.json", "-q", "-o", "x.safetensors"]) == 0
    return tmp_path


def boom(*args, **kwargs):
    raise RuntimeError("something\nunexpected")


# (argv, module, attribute) : each command with one of the functions it calls replaced by one that fails
CASES = {
    "verify": (["verify", "x.safetensors"], "initreg.checkpoints.verification", "verify"),
    "explain": (["explain", "rules.toml", "--params", "spec.json"], "initreg.plugins.registry", "load_plugins"),
    "init": (["init", "--rules", "rules.toml", "--params", "spec.json", "-o", "o.npz"], "initreg.plugins.registry",
             "load_plugins"),
    "show": (["show", "normal"], "initreg.plugins.registry", "load_plugins"),
    "plugins": (["plugins"], "initreg.plugins.registry", "plugins"),
    "check": (["check", "x.safetensors"], "initreg.validation.arrays", "read_checkpoint"),
    "validate": (["validate", "normal"], "initreg.validation", "validate"),
}


@pytest.mark.parametrize("command", list(CASES))
def test_an_unexpected_exception_is_one_line_and_status_2(files, capsys, monkeypatch, command):
    import importlib

    argv, module, attr = CASES[command]
    monkeypatch.setattr(importlib.import_module(module), attr, boom)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "internal error (RuntimeError: something unexpected)" in lines[0], err
    assert lines[0].startswith(f"initreg {command}:") and "Traceback" not in err


@pytest.mark.parametrize("argv,module,attr", [CASES["verify"], CASES["explain"], CASES["plugins"]])
def test_json_commands_print_a_json_error_object(files, capsys, monkeypatch, argv, module, attr):
    import importlib

    monkeypatch.setattr(importlib.import_module(module), attr, boom)
    code = main(argv + ["--json"])
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert code == 2 and doc["status"] == 2 and "something unexpected" in doc["error"] and "Traceback" not in err


def test_json_explain_of_a_bad_rule_file_prints_a_json_error_object(files, capsys):
    (files / "bad.toml").write_text("[[rule]]\npattern = 3\n")
    code = main(["explain", "bad.toml", "--params", "spec.json", "--json"])
    out, err = capsys.readouterr()
    assert code == 2 and json.loads(out)["status"] == 2 and "pattern" in json.loads(out)["error"]


def test_plugin_output_to_fd_1_stays_off_the_json(files, capfd, monkeypatch):
    from initreg.plugins import registry

    real = registry.plugins

    def noisy(*args, **kwargs):
        os.write(1, b"a plugin writes to fd 1\n")
        print("and to sys.stdout")
        return real(*args, **kwargs)

    monkeypatch.setattr(registry, "plugins", noisy)
    assert main(["plugins", "--json"]) == 0
    out, err = capfd.readouterr()
    assert isinstance(json.loads(out), list)
    assert "a plugin writes to fd 1" in err and "and to sys.stdout" in err


def test_verify_json_is_one_document_for_a_crafted_file(files, capsys):
    (files / "x.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"w\": 5}        ")
    code = main(["verify", "x.safetensors", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 2 and doc["status"] == 2 and doc["problems"]


def test_verify_sample_on_a_checkpoint_with_an_empty_tensor(files, capsys):
    assert main(["init", "--rules", "rules.toml", "--params", "spec.json", "-q", "-o", "m.safetensors"]) == 0
    assert main(["verify", "m.safetensors", "--sample", "3"]) == 0
    assert "identical (3 tensor(s)" in capsys.readouterr().out


@pytest.mark.parametrize("output,extra", [("m.safetensors", []), ("sharded", ["--max-shard-size", "100"])])
def test_full_disk_names_the_path(files, capsys, monkeypatch, output, extra):
    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    code = main(["init", "--rules", "rules.toml", "--params", "spec.json", "-q", "-o", output, *extra])
    err = capsys.readouterr().err
    assert code == 2 and "No space left on device" in err and "free some space" in err
    assert str(files / output) in err or repr(output) in err or f"'{output}/model-" in err, err
    assert sorted(p.name for p in files.iterdir()) == ["rules.toml", "spec.json", "x.safetensors"]


@pytest.mark.parametrize("command", ["explain", "init"])
def test_lone_surrogate_in_a_pattern_is_a_clean_error(files, capsys, command):
    (files / "r.json").write_text('{"rule": [{"pattern": "\\ud800*", "init": "zeros"}]}')
    argv = (["explain", "r.json"] if command == "explain" else ["init", "--rules", "r.json", "-o", "o.safetensors"])
    code = main(argv + ["--params", "spec.json"])
    err = capsys.readouterr().err
    assert code == 2 and "surrogates not allowed" in err and "Traceback" not in err
    assert not (files / "o.safetensors").exists()


def _f8_safetensors(path):
    import struct

    text = json.dumps({"w": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}}).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + bytes(4))


@pytest.mark.parametrize("name, content, message", [
    ("bad.json", b'[{"name":"w","shape":[2]}]\xff', "is not UTF-8 text"),
    ("deep.json", b"[" * 100000 + b"]" * 100000, "nested too deeply"),
    ("deep.toml", b"a = " + b"[" * 100000 + b"]" * 100000, "nested too deeply"),
    ("bigint.json", b'[{"name":"w","shape":[' + b"9" * 5000 + b"]}]", "4300 digits"),
    ("huge.json", json.dumps([{"name": "w", "shape": [2 ** 62, 2 ** 62]}]).encode(), "more than a file can"),
    ("huge2.json", json.dumps([{"name": "w", "shape": [3037000499, 3037000499]}]).encode(), "more than a file can"),
    ("f8.safetensors", None, "float8_e4m3fn"),  # with ml_dtypes imported: 'not a floating or integer type'
    ("structured.npz", None, "pass --dtype float32"),
])
@pytest.mark.parametrize("command", ["init", "explain"])
def test_a_bad_parameter_spec_is_a_clear_error_naming_it(files, capsys, name, content, message, command):
    import numpy as np

    if name == "f8.safetensors":
        _f8_safetensors(files / name)
    elif name == "structured.npz":
        np.savez(files / name, w=np.zeros(3, dtype=[("a", "<f4"), ("b", "<i4")]))
    else:
        (files / name).write_bytes(content)
    if command == "explain" and name.startswith("huge"):
        pytest.skip("explain writes no file")
    argv = (["init", "--params", name, "--rules", "rules.toml", "-q", "-o", "o.safetensors"] if command == "init"
            else ["explain", "rules.toml", "--params", name])
    before = sorted(p.name for p in files.iterdir())
    code = main(argv)
    err = capsys.readouterr().err
    named = "'o.safetensors'" if name.startswith("huge") else name  # too large: the output file is named
    assert code == 2 and "internal error" not in err and message in err and named in err, err
    assert sorted(p.name for p in files.iterdir()) == before  # no file and no temporary file left


def test_a_float8_checkpoint_spec_is_written_with_dtype(files, capsys):
    _f8_safetensors(files / "f8.safetensors")
    assert main(["init", "--params", "f8.safetensors", "--rules", "rules.toml", "-q", "-o", "o.safetensors",
                 "--dtype", "float32"]) == 0
