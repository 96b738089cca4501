"""One definition of a valid parameter name (initreg.core.names), checked wherever names enter: Parameter, save, readers."""

from __future__ import annotations

import json
import os
import struct
import zipfile

import numpy as np
import pytest

from initreg import Parameter
from initreg.checkpoints import files as checkpoint
from initreg.errors import CheckpointError, InitregError, ParameterValueError
from initreg.core.names import MAX_BYTES, check_name, name_problem

# (name, a word the message must contain)
INVALID = [
    ("w\x00y", "NUL"),
    ("__metadata__", "reserved"),
    ("../../evil", "'..'"),
    ("a/../b", "'..'"),
    ("a/./b", "'.'"),
    ("/etc/evil", "absolute"),
    ("C:/evil", "absolute"),
    ("a\\b", "backslash"),
    ("a//b", "'//'"),
    ("a/", "end with '/'"),
    ("w\udcff", "surrogate"),
    ("x" * (MAX_BYTES + 1), "65,531 bytes"),
    ("ä" * (MAX_BYTES // 2 + 1), "65,531 bytes"),  # counted in UTF-8 bytes, not characters
    ("", "empty"),
]
VALID = ["w", "0.weight", "encoder/layer0/weight", "gewicht_ä", "a:b", "conv 1.bias", "...", "..a", "x" * MAX_BYTES]


@pytest.mark.parametrize("name,word", INVALID, ids=lambda v: ascii(v)[:20])
def test_check_name_refuses_with_value_and_fix(name, word):
    with pytest.raises(ParameterValueError) as info:
        check_name(name)
    assert isinstance(info.value, ValueError) and isinstance(info.value, InitregError)
    msg = str(info.value)
    assert word in msg
    assert repr(name)[:40] in msg  # the value itself, escaped so the message stays printable
    msg.encode("utf-8")  # the message about a lone surrogate must itself be writable


@pytest.mark.parametrize("name", VALID, ids=lambda v: ascii(v)[:20])
def test_valid_names_pass(name):
    assert check_name(name) is name and name_problem(name) is None


@pytest.mark.parametrize("bad", [None, 3, b"w", ["w"]])
def test_non_strings_are_refused(bad):
    assert "string" in name_problem(bad)
    with pytest.raises(ParameterValueError):
        check_name(bad)


@pytest.mark.parametrize("name,word", INVALID[:-1], ids=lambda v: ascii(v)[:20])
def test_parameter_refuses_invalid_names(name, word):
    with pytest.raises(ParameterValueError, match="invalid parameter name"):
        Parameter(name, (2,))


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
@pytest.mark.parametrize("name,word", INVALID, ids=lambda v: ascii(v)[:20])
def test_save_refuses_invalid_names_and_writes_nothing(name, word, fmt, tmp_path):
    target = tmp_path / f"ck.{fmt}"
    with pytest.raises(CheckpointError) as info:
        checkpoint.save(target, {"ok": np.ones(2), name: np.zeros(2)})
    assert word in str(info.value) and str(target) in str(info.value)
    assert os.listdir(tmp_path) == []  # neither the target nor a temporary file


def test_nul_no_longer_merges_two_npz_arrays(tmp_path):
    # the reproducer: {"w", "w\x00y"} used to load back as one "w"
    with pytest.raises(CheckpointError, match="NUL"):
        checkpoint.save(tmp_path / "x.npz", {"w": np.ones(2), "w\x00y": np.zeros(2)})
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_tricky_valid_names_round_trip(fmt, tmp_path):
    if fmt == "safetensors":
        pytest.importorskip("safetensors")
    arrays = {n: np.full(2, i, np.float32) for i, n in enumerate(["encoder/layer0/weight", "gewicht_ä", "a:b", "..a"])}
    path = checkpoint.save(tmp_path / f"ck.{fmt}", arrays)
    got = checkpoint.load(path)
    assert set(got) == set(arrays) and all(np.array_equal(got[n], a) for n, a in arrays.items())
    assert set(checkpoint.read_specs(path)) == set(arrays)


@pytest.mark.parametrize("member", ["../evil.npy", "/abs.npy", "a\\b.npy", "a//b.npy"], ids=ascii)
def test_npz_reader_refuses_invalid_member_names(member, tmp_path):
    import io

    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ones(2))
    path = tmp_path / "foreign.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, buf.getvalue())
    for read in (checkpoint.read_specs, checkpoint.load):
        with pytest.raises(CheckpointError, match="foreign.npz"):
            read(path)


def test_npz_reader_refuses_duplicate_members(tmp_path):
    import io
    import warnings

    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ones(2))
    path = tmp_path / "dup.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate it is told to write
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("w.npy", buf.getvalue())
            zf.writestr("w.npy", buf.getvalue())
    for read in (checkpoint.read_specs, checkpoint.load):
        with pytest.raises(CheckpointError, match="two arrays named 'w'"):
            read(path)


@pytest.mark.parametrize("name", ["__metadata__x", "../evil", "w\\u0000y"])
def test_safetensors_reader_checks_names(name, tmp_path):
    header = '{"%s": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}' % name
    path = tmp_path / "n.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header.encode() + bytes(8))
    if name == "__metadata__x":  # only the exact key is reserved
        assert checkpoint.read_specs(path) == {name: ((2,), "float32")}
        return
    with pytest.raises(CheckpointError, match="not a valid parameter name"):
        checkpoint.read_specs(path)
    json.loads(header)  # the header itself is valid JSON: the name is what is refused


@pytest.mark.parametrize("name", ["w\\u0000y", "w\\udcff", "__metadata__", "../../evil"])
def test_init_command_refuses_invalid_names_in_the_spec(name, tmp_path, capsys, monkeypatch):
    from initreg.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.json").write_text('{"w": [2], "%s": [2]}' % name)  # JSON escapes: NUL, a lone surrogate
    (tmp_path / "rules.toml").write_text('seed = 1\ndefault = "normal"\n')
    for argv in (["init", "--params", "spec.json", "--rules", "rules.toml", "-o", "x.npz"],
                 ["explain", "rules.toml", "--params", "spec.json"]):
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert "spec.json: entry 2: invalid parameter name" in err and out == ""
    assert sorted(os.listdir(tmp_path)) == ["rules.toml", "spec.json"]  # nothing written


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# names from the characters that matter (separators, NUL, backslash, a surrogate, non-ASCII) and any others
_CHARS = st.one_of(st.sampled_from(list("/.\\\x00\udcff:ä _")), st.characters(blacklist_categories=()))


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.one_of(st.text(_CHARS, max_size=8), st.sampled_from(["__metadata__", "..", "."])))
def test_every_name_is_valid_or_refused_the_same_everywhere(name, tmp_path):
    problem = name_problem(name)
    try:
        Parameter(name, (1,))
        accepted = True
    except ParameterValueError as exc:
        accepted = False
        str(exc).encode("utf-8")  # the message is printable even for a lone surrogate
    assert accepted == (problem is None)
    path = tmp_path / "n.npz"
    path.unlink(missing_ok=True)  # tmp_path is shared by the examples
    try:
        checkpoint.save(path, {name: np.ones(1)})
    except CheckpointError:
        assert problem is not None and not path.exists()
        return
    assert problem is None
    assert list(checkpoint.load(path)) == [name] == list(checkpoint.read_specs(path))  # the exact name comes back
