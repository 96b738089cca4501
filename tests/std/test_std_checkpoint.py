"""initreg.checkpoints.files: shapes without values, loading without pickle, atomic saves, errors naming file and fix."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest

from initreg.checkpoints import files as checkpoint
from initreg.errors import (CheckpointError, CheckpointKeyError, CheckpointNotFoundError, InitregError,
                            MissingDependencyError)

ARRAYS = {"0.weight": np.arange(24, dtype=np.float32).reshape(2, 3, 4), "0.bias": np.array([1.5, -2.0]),
          "file": np.ones(3, dtype=np.int8), "steps": np.array(7, dtype=np.int64)}
FORMATS = ["npz", "safetensors"]


@pytest.fixture(params=FORMATS)
def saved(request, tmp_path):
    if request.param == "safetensors":
        pytest.importorskip("safetensors")
    return checkpoint.save(tmp_path / f"ck.{request.param}", ARRAYS)


def test_round_trip_keeps_names_shapes_dtypes_values(saved):
    got = checkpoint.load(saved)
    assert set(got) == set(ARRAYS)
    for name, arr in ARRAYS.items():
        assert got[name].dtype == arr.dtype and got[name].shape == arr.shape
        assert np.array_equal(got[name], arr)


def test_read_specs_matches_without_values(saved):
    assert checkpoint.read_specs(saved) == {n: (a.shape, str(a.dtype)) for n, a in ARRAYS.items()}


def test_load_selected_names_only(saved):
    got = checkpoint.load(saved, ["0.bias"])
    assert list(got) == ["0.bias"] and np.array_equal(got["0.bias"], ARRAYS["0.bias"])


def test_missing_name_names_file_and_what_it_holds(saved):
    with pytest.raises(CheckpointKeyError) as info:
        checkpoint.load(saved, ["0.weight", "nope"])
    msg = str(info.value)
    assert str(saved) in msg and "'nope'" in msg and "'0.weight'" in msg
    assert isinstance(info.value, KeyError) and isinstance(info.value, InitregError)


def test_npz_specs_read_only_headers(tmp_path):
    # corrupt a byte deep in the array data: reading the values fails its CRC, reading the header does not
    path = tmp_path / "big.npz"
    np.savez(path, a=np.zeros((300, 200), np.float16), b=np.zeros(5, np.uint8))
    raw = bytearray(path.read_bytes())
    raw[60_000] ^= 0xFF  # inside a's 120,000 data bytes, which start after a ~200-byte header
    path.write_bytes(bytes(raw))
    assert checkpoint.read_specs(path) == {"a": ((300, 200), "float16"), "b": ((5,), "uint8")}
    with pytest.raises(CheckpointError, match="big.npz"):
        checkpoint.load(path, ["a"])


def test_safetensors_specs_from_header_bytes(tmp_path):
    # a hand-written header (no safetensors library involved): 8-byte length, JSON, then data
    import json
    import struct

    header = json.dumps({"__metadata__": {"x": "y"}, "w": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]},
                         "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}).encode()
    path = tmp_path / "hand.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(16))
    assert checkpoint.read_specs(path) == {"w": ((2, 2), "bfloat16"), "b": ((2,), "float32")}


def test_pickled_npz_is_refused_never_unpickled(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(CheckpointError, match="never unpickles"):
        checkpoint.load(path)
    with pytest.raises(CheckpointError, match="obj.npz"):
        checkpoint.read_specs(path)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="does not exist") as info:
        checkpoint.load(tmp_path / "none.npz")
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(CheckpointError, match=r"\.npz or \.safetensors"):
        checkpoint.load(tmp_path / "weights.pt")
    with pytest.raises(CheckpointError, match=r"\.npz or \.safetensors"):
        checkpoint.save(tmp_path / "weights.pt", ARRAYS)


def test_corrupt_files_name_the_file(tmp_path):
    for ext in FORMATS:
        path = tmp_path / f"bad.{ext}"
        path.write_bytes(b"\x01\x02garbage")
        with pytest.raises(CheckpointError, match=f"bad.{ext}"):
            checkpoint.read_specs(path)


def test_save_rejects_non_numeric_and_keeps_old_file(tmp_path):
    path = checkpoint.save(tmp_path / "ck.npz", {"a": np.ones(2)})
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match="'s'"):
        checkpoint.save(path, {"a": np.zeros(2), "s": np.array(["text"])})
    assert path.read_bytes() == before


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = checkpoint.save(tmp_path / "ck.npz", {"a": np.ones(2)})
    before = path.read_bytes()

    def broken(fh, *args):
        fh.write(b"half")
        raise OSError("disk full")
    monkeypatch.setattr(checkpoint, "_write_npz", broken)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(path, {"a": np.zeros(1000)})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ck.npz"]  # no temporary file left behind


def test_npz_written_is_a_plain_numpy_archive(tmp_path):
    path = checkpoint.save(tmp_path / "ck.npz", ARRAYS)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == sorted(n + ".npy" for n in ARRAYS)
    with np.load(path, allow_pickle=False) as npz:
        assert np.array_equal(npz["file"], ARRAYS["file"])


def test_safetensors_without_the_package_writes_but_reading_names_the_extra(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_safetensors(name, *args, **kwargs):
        if name == "safetensors" or name.startswith("safetensors."):
            raise ImportError("No module named 'safetensors'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_safetensors)
    path = checkpoint.save(tmp_path / "x.safetensors", {"a": np.ones(2)})  # initreg writes the format itself
    assert checkpoint.read_specs(path) == {"a": ((2,), "float64")}  # the header is read without the package too
    with pytest.raises(MissingDependencyError, match=r"initreg\[safetensors\]") as info:
        checkpoint.load(path)
    assert isinstance(info.value, ImportError)


ALL_DTYPES = ["bool", "uint8", "int8", "int16", "uint16", "float16", "int32", "uint32", "float32", "float64", "int64",
              "uint64"]


@pytest.mark.parametrize("arrays", [
    {f"t{i}.{d}": (np.arange(6) % 3).astype(d).reshape(2, 3)[:, : i % 3 + 1] for i, d in enumerate(ALL_DTYPES)},
    {"ü.weight": np.ones((2, 2), np.float32), "empty": np.zeros((0, 3), np.float16), "step": np.array(5, np.int64),
     "B": np.arange(7, dtype=np.uint8)},
    {"big.endian": np.arange(6, dtype=">f4").reshape(2, 3)},
], ids=["every-dtype", "names-0d-empty", "big-endian"])
def test_safetensors_bytes_are_the_librarys(arrays, tmp_path):
    st_numpy = pytest.importorskip("safetensors.numpy")
    ours = checkpoint.save(tmp_path / "ours.safetensors", arrays).read_bytes()
    little = {k: v.astype(v.dtype.newbyteorder("<")) for k, v in arrays.items()}
    assert ours == st_numpy.save(little)
    back = st_numpy.load_file(str(tmp_path / "ours.safetensors"))
    assert all(back[k].shape == v.shape and np.array_equal(back[k], v) for k, v in arrays.items())


@pytest.mark.parametrize("fmt", FORMATS)
def test_save_streamed_holds_one_array_at_a_time(fmt, tmp_path):
    import gc
    import weakref

    specs = {f"w{i}": ((64, 32), "float32") for i in range(4)}
    alive = []

    def produce(name):
        gc.collect()
        assert not any(r() is not None for r in alive), "an earlier array is still held"
        arr = np.full((64, 32), float(name[1:]), np.float32)
        alive.append(weakref.ref(arr))
        return arr
    path = checkpoint.save_streamed(tmp_path / f"s.{fmt}", specs, produce)
    if fmt == "safetensors":
        pytest.importorskip("safetensors")
    got = checkpoint.load(path)
    assert sorted(got) == sorted(specs) and all(np.all(got[n] == float(n[1:])) for n in specs)


@pytest.mark.parametrize("fmt", FORMATS)
def test_save_streamed_refuses_an_array_other_than_announced(fmt, tmp_path):
    path = checkpoint.save(tmp_path / f"ck.{fmt}", {"a": np.ones(2, np.float32)})
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=r"'a'.*announced as shape \(3,\)"):
        checkpoint.save_streamed(path, {"a": ((3,), "float32")}, lambda name: np.zeros(2, np.float32))
    assert path.read_bytes() == before and os.listdir(tmp_path) == [path.name]


def test_safetensors_refuses_a_dtype_it_has_no_code_for(tmp_path):
    with pytest.raises(CheckpointError, match="no code for dtype.*save as .npz"):
        checkpoint.save(tmp_path / "x.safetensors", {"x": np.ones(2, np.longdouble)})
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_saved_file_gets_ordinary_permissions(fmt, tmp_path):
    old = os.umask(0o022)
    try:
        path = checkpoint.save(tmp_path / f"new.{fmt}", {"a": np.ones(2, np.float32)})
        assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's private 0600
        path.chmod(0o640)
        checkpoint.save(path, {"a": np.zeros(2, np.float32)})
        assert path.stat().st_mode & 0o777 == 0o640  # an existing file keeps its permissions
    finally:
        os.umask(old)


@pytest.mark.parametrize("count", [4, 40])
def test_load_parameters_reads_the_file_once_not_once_per_parameter(tmp_path, monkeypatch, count):
    """The header is parsed and the file opened a fixed number of times, whatever the number of parameters."""
    pytest.importorskip("safetensors")
    import safetensors

    from initreg.parameters.loading import load_parameters
    from initreg.parameters.parameter import Parameter

    arrays = {f"l{i}.weight": np.full((3, 2), i, dtype=np.float32) for i in range(count)}
    path = checkpoint.save(tmp_path / "m.safetensors", arrays)
    params = {name: Parameter(name, (3, 2)) for name in arrays}
    parses, opens = [], []
    real_parse, real_open = checkpoint._safetensors_header, safetensors.safe_open
    monkeypatch.setattr(checkpoint, "_safetensors_header", lambda *a, **k: parses.append(1) or real_parse(*a, **k))
    monkeypatch.setattr(safetensors, "safe_open", lambda *a, **k: opens.append(1) or real_open(*a, **k))
    load_parameters(params, path)
    assert all(np.array_equal(params[n].data(), a) for n, a in arrays.items())
    assert len(parses) <= 2 and len(opens) == 1


def test_a_header_is_parsed_once_while_its_bytes_stay_the_same(tmp_path, monkeypatch):
    pytest.importorskip("safetensors")
    import initreg
    from initreg import nn

    path = tmp_path / "w.safetensors"
    checkpoint.save(path, {f"{i}.weight": np.full((2, 2), i, np.float32) for i in range(6)}
                    | {f"{i}.bias": np.ones(2, np.float32) for i in range(6)})
    parses = []
    real = checkpoint._parsed_header
    monkeypatch.setattr(checkpoint, "_parsed_header", lambda *a: parses.append(1) or real(*a))
    net = nn.Sequential()
    for _ in range(6):
        net.add(nn.Dense(2, in_units=2))
    net.initialize(initreg.Rules([("*", ["load", {"path": str(path)}])]), seed=0)  # twelve parameters, one parse
    assert len(parses) == 1 and net[4].weight.data()[0, 0] == 4
    raw = bytearray(path.read_bytes())
    at = raw.index(b'"0.bias"')
    raw[at + 1:at + 7] = b"x.bias"  # same size, same file, other header bytes: read again, never the stale one
    path.write_bytes(bytes(raw))
    assert "x.bias" in checkpoint.read_specs(path) and len(parses) == 2
