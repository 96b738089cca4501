"""Checkpoint files under attack: crafted headers, broken archives, failing disks, killed and interrupted writers."""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from initreg.checkpoints import files as checkpoint
from initreg.errors import CheckpointError, CheckpointWriteError, InitregError


def safetensors_file(path: Path, header, data: bytes = b"") -> Path:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def entry(**changes):
    return {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], **changes}}


# --- safetensors headers ------------------------------------------------------------------------

@pytest.mark.parametrize("header,field", [
    (entry(dtype=5), "dtype 5"),
    (entry(dtype=None), "dtype None"),
    (entry(shape=[-1]), "shape [-1]"),
    (entry(shape=[1.9]), "shape [1.9]"),  # was read as 1
    (entry(shape=["2"]), "shape ['2']"),
    (entry(shape=[True, 2]), "shape [True, 2]"),
    (entry(shape=2), "shape 2"),
    (entry(data_offsets=[0, 800]), "data_offsets [0, 800]"),  # past the end of the data
    (entry(data_offsets=[8, 0]), "data_offsets [8, 0]"),
    (entry(data_offsets=[0, 4]), "needs 8 bytes"),  # too short for shape (2,) float32
    (entry(data_offsets="0-8"), "data_offsets '0-8'"),
    ({"w": [1, 2]}, "the value [1, 2]"),
], ids=lambda v: str(v)[:30])
def test_malformed_safetensors_fields_name_file_and_field(header, field, tmp_path):
    path = safetensors_file(tmp_path / "bad.safetensors", header, bytes(8))
    for read in (checkpoint.read_specs, checkpoint.load):
        with pytest.raises(CheckpointError) as info:
            read(path)
        msg = str(info.value)
        assert "bad.safetensors" in msg and "'w'" in msg and field in msg, msg
        assert isinstance(info.value, ValueError) and isinstance(info.value, InitregError)


@pytest.mark.parametrize("raw,word", [
    (b"[" * 100_000 + b"]" * 100_000, "RecursionError"),
    (b'{"w": ' * 50_000 + b"1" + b"}" * 50_000, "RecursionError"),
    (b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "w": {}}', "twice"),
    (b"\xff\xfe{}", "UnicodeDecodeError"),
    (b"[1, 2]", "not a JSON object"),
], ids=["deep-list", "deep-object", "duplicate-key", "not-utf8", "list"])
def test_unparseable_safetensors_headers(raw, word, tmp_path):
    path = safetensors_file(tmp_path / "deep.safetensors", raw, bytes(8))
    with pytest.raises(CheckpointError, match=word) as info:
        checkpoint.read_specs(path)
    assert "deep.safetensors" in str(info.value)


def test_header_length_beyond_the_file(tmp_path):
    path = tmp_path / "short.safetensors"
    path.write_bytes(struct.pack("<Q", 10_000) + b"{}")
    with pytest.raises(CheckpointError, match=r"header length 10000 runs past the end of the file \(10 bytes\)"):
        checkpoint.read_specs(path)



def test_a_header_longer_than_safetensors_allows_is_refused_as_safetensors_refuses_it(tmp_path):
    # the limit was 100 MiB (104,857,600): headers safetensors itself refuses ("header too large") were read
    path = tmp_path / "big.safetensors"
    path.write_bytes(struct.pack("<Q", 100_000_001) + b"{}")
    with pytest.raises(CheckpointError, match=r"header length 100000001 exceeds the format's limit of 100000000"):
        checkpoint.read_specs(path)

# --- npz archives -------------------------------------------------------------------------------

def npy_bytes(arr=np.ones(3)) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr)
    return buf.getvalue()


@pytest.mark.parametrize("mangle", [
    lambda raw: raw.replace(b"'shape': (3,), }", b"'shape': (3,       "),  # tokenize.TokenError: unclosed bracket
    lambda raw: raw.replace(b"'descr'", b"'de\"scr"),
    lambda raw: raw[:9],
    lambda raw: b"\x93NUMPY\x07\x00" + raw[8:],  # a .npy version numpy does not know
], ids=["token-error", "bad-literal", "truncated", "npy-version"])
def test_broken_npy_header_inside_npz(mangle, tmp_path):
    path = tmp_path / "b.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("w.npy", mangle(npy_bytes()))
    for read in (checkpoint.read_specs, checkpoint.load):
        with pytest.raises(CheckpointError, match="'.*b.npz' is not a readable .npz file"):
            read(path)


def test_unsupported_zip_version(tmp_path):
    path = tmp_path / "v.npz"
    np.savez(path, w=np.ones(3))
    raw = bytearray(path.read_bytes())
    for magic, at in ((b"PK\x01\x02", 6), (b"PK\x03\x04", 4)):  # "version needed to extract" in both headers
        i = raw.find(magic)
        raw[i + at:i + at + 2] = struct.pack("<H", 99)
    path.write_bytes(bytes(raw))
    for read in (checkpoint.read_specs, checkpoint.load):
        with pytest.raises(CheckpointError, match="zip file version"):
            read(path)


def test_name_over_the_zip_limit_is_refused_before_writing(tmp_path):
    # used to be struct.error from deep inside zipfile, after the temporary file was half written
    with pytest.raises(CheckpointError, match="at most 65,531 bytes"):
        checkpoint.save(tmp_path / "long.npz", {"x" * 70_000: np.ones(2)})
    assert os.listdir(tmp_path) == []


# --- writing ------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_directory_as_output_path(fmt, tmp_path):
    target = tmp_path / f"out.{fmt}"
    target.mkdir()
    with pytest.raises(CheckpointError, match="is a directory"):
        checkpoint.save(target, {"w": np.ones(2)})
    assert os.listdir(tmp_path) == [f"out.{fmt}"] and os.listdir(target) == []
    with pytest.raises(CheckpointError, match="is a directory"):
        checkpoint.load(target)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_full_disk_names_the_path_and_keeps_the_old_file(fmt, tmp_path, monkeypatch):
    path = checkpoint.save(tmp_path / f"ck.{fmt}", {"w": np.ones(2)})
    before = path.read_bytes()
    real_fdopen = os.fdopen

    def onto_full_device(fd, mode="r", *args, **kwargs):  # the temporary file's writes hit a real ENOSPC
        os.close(fd)
        return real_fdopen(os.open("/dev/full", os.O_WRONLY), mode, *args, **kwargs)
    monkeypatch.setattr(os, "fdopen", onto_full_device)
    with pytest.raises(CheckpointWriteError) as info:
        checkpoint.save(path, {"w": np.zeros(1 << 20)})
    monkeypatch.undo()
    msg = str(info.value)
    assert str(path) in msg and "No space left on device" in msg and "free some space" in msg
    assert isinstance(info.value, OSError) and info.value.__cause__.errno == errno.ENOSPC
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [path.name]


def test_interrupted_npz_is_never_finished_into_a_closed_file(tmp_path, recwarn):
    # Ctrl-C in the middle of an archive: no "seek of closed file" later from ZipFile.__del__
    import gc

    calls = []

    def produce(name):
        calls.append(name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return np.ones(4)
    unraisable = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    try:
        with pytest.raises(KeyboardInterrupt):
            checkpoint.save_streamed(tmp_path / "x.npz", {"a": ((4,), "float64"), "b": ((4,), "float64")}, produce)
        gc.collect()
    finally:
        sys.unraisablehook = old_hook
    assert unraisable == [] and os.listdir(tmp_path) == []


# --- killed writers -----------------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys, time, numpy as np
    from initreg.checkpoints import files as checkpoint

    def produce(name):
        print("writing", flush=True)
        time.sleep(60)  # killed here, the temporary file half written
        return np.ones(4)
    checkpoint.save_streamed(sys.argv[1], {"w": ((4,), "float64")}, produce)
""")


def start_writer(target: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "writing\n"
    return proc


def temps(directory: Path) -> list[str]:
    return sorted(n for n in os.listdir(directory) if n.endswith(".tmp"))


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and flock are POSIX")
def test_sigkilled_writer_leaves_a_temp_file_that_the_next_save_removes(tmp_path):
    old = checkpoint.save(tmp_path / "model.safetensors", {"w": np.ones(4)})
    before = old.read_bytes()
    dead = start_writer(old)
    live = start_writer(tmp_path / "other.npz")
    try:
        dead.kill()
        dead.wait(10)
        assert len(temps(tmp_path)) == 2  # the killed writer's and the live writer's
        assert old.read_bytes() == before  # the target was never touched
        checkpoint.save(tmp_path / "small.npz", {"x": np.zeros(1)})  # any later save into the directory
        left = temps(tmp_path)
        assert len(left) == 1 and f"-{live.pid}-" in left[0]  # the live writer's file is not touched
    finally:
        live.kill()
        live.wait(10)
    assert old.read_bytes() == before
    checkpoint.save(tmp_path / "small.npz", {"x": np.zeros(1)})
    assert temps(tmp_path) == []


def test_stale_temp_of_a_recycled_pid_is_removed_only_when_old(tmp_path):
    # a lock-free temp file whose pid now names a live process (ours cannot be used: pid 1 is always alive)
    stray = tmp_path / ".m.npz.initreg-1-abcdefgh.tmp"
    stray.write_bytes(b"half")
    assert checkpoint.remove_stale_temps(tmp_path) == []  # young: may be a writer between creating and locking
    past = time.time() - checkpoint.STALE_AFTER_S - 5
    os.utime(stray, (past, past))
    assert checkpoint.remove_stale_temps(tmp_path) == [stray.name]
    unrelated = tmp_path / ".m.npz.tmp"
    unrelated.write_bytes(b"someone else's")
    os.utime(unrelated, (past, past))
    assert checkpoint.remove_stale_temps(tmp_path) == [] and unrelated.exists()


# --- the command: Ctrl-C and SIGTERM --------------------------------------------------------------

HARD = Path(__file__).parents[1] / "fixtures" / "plugin_hard"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("sig,code,word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_init_interrupted_prints_one_line_and_leaves_nothing(sig, code, word, tmp_path):
    import shutil

    site = tmp_path / "site"  # only the fixture plugin 'fxslow', whose fill waits a minute
    site.mkdir()
    for item in HARD.glob("initreg_fx_slow*"):
        (shutil.copytree if item.is_dir() else shutil.copy)(item, site / item.name)
    (tmp_path / "spec.json").write_text(json.dumps([{"name": "w", "shape": [4, 4]}]))
    (tmp_path / "rules.toml").write_text('seed = 1\ndefault = "fxslow"\n')
    out = checkpoint.save(tmp_path / "out.safetensors", {"old": np.ones(3)})
    before = out.read_bytes()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "initreg", "init", "--params", "spec.json", "--rules", "rules.toml",
                             "-o", "out.safetensors", "-q"], cwd=tmp_path, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while not temps(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None and temps(tmp_path), "the writer should be waiting in fxslow's fill"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert err.strip().splitlines() == [f"initreg init: {word}" + ("" if sig == signal.SIGINT else " (SIGTERM)")
                                        + "; nothing partial was left behind"]
    assert temps(tmp_path) == [] and out.read_bytes() == before


# --- sizes checked before allocating; fuzzing the readers ---------------------------------------------

def test_npz_header_claiming_more_than_the_member_holds(tmp_path):
    # a crafted header asking for 8 TB used to reach numpy's allocator (MemoryError) before anything was checked
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    raw = buf.getvalue() + bytes(24)
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("w.npy", raw)
    for read in (checkpoint.read_specs, checkpoint.load):
        with pytest.raises(CheckpointError, match=r"claims shape \(1000000000000,\) of float64 \(8000000000000 bytes\), "
                                                  r"but its member holds 24 bytes"):
            read(path)


def test_npz_arrays_of_every_layout_load_as_numpy_saved_them(tmp_path):
    arrays = {"f": np.asfortranarray(np.arange(12.0).reshape(3, 4)), "big": np.arange(5, dtype=">i4"),
              "scalar": np.array(2.5), "empty": np.zeros((0, 3), np.int8), "bools": np.array([True, False])}
    np.savez(tmp_path / "np.npz", **arrays)
    got = checkpoint.load(tmp_path / "np.npz")
    for name, arr in arrays.items():
        assert got[name].dtype == arr.dtype and got[name].shape == arr.shape and np.array_equal(got[name], arr)
        assert got[name].flags.writeable
    assert got["f"].flags.f_contiguous


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FUZZ = settings(max_examples=300, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _read_both(path: Path) -> None:
    """read_specs and load either succeed or raise CheckpointError; nothing else escapes."""
    for read in (checkpoint.read_specs, checkpoint.load):
        try:
            read(path)
        except CheckpointError as exc:
            assert str(path) in str(exc)


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("valid")
    arrays = {"0.weight": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.array([1, 2], np.int64)}
    out = {".npz": checkpoint.save(d / "v.npz", arrays).read_bytes()}
    if __import__("importlib").util.find_spec("safetensors"):
        out[".safetensors"] = checkpoint.save(d / "v.safetensors", arrays).read_bytes()
    return out


@FUZZ
@given(data=st.data())
def test_mutated_checkpoints_give_values_or_a_checkpoint_error(data, valid_files, tmp_path):
    fmt = data.draw(st.sampled_from(sorted(valid_files)))
    raw = bytearray(valid_files[fmt])
    rnd = data.draw(st.randoms(use_true_random=True))  # uniform positions (drawn integers favour the edges); seeded
    for _ in range(rnd.randint(1, 3)):  # flip, overwrite or cut bytes anywhere, headers included
        at, how = rnd.randrange(len(raw)), rnd.choice(["flip", "flip", "set", "cut"])
        if how == "cut":
            del raw[max(at, 1):]
        elif how == "flip":
            raw[at] ^= 1 << rnd.randrange(8)
        else:
            raw[at] = rnd.randrange(256)
    path = tmp_path / f"m{fmt}"
    path.write_bytes(bytes(raw))
    _read_both(path)


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 2**65) | st.floats(allow_nan=True) | st.text(max_size=4),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                     max_leaves=8)


@FUZZ
@given(dtype=st.one_of(st.sampled_from(["F32", "I8", "BF16", "X9", ""]), _JSON),
       shape=st.one_of(st.lists(st.integers(-2, 5), max_size=3), _JSON),
       offsets=st.one_of(st.lists(st.integers(-2, 200), min_size=2, max_size=2), _JSON),
       name=st.text(max_size=6), extra=st.binary(max_size=64))
def test_any_safetensors_header_gives_specs_or_a_checkpoint_error(dtype, shape, offsets, name, extra, tmp_path):
    header = json.dumps({name: {"dtype": dtype, "shape": shape, "data_offsets": offsets}}).encode()
    path = tmp_path / "h.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + extra)
    try:
        specs = checkpoint.read_specs(path)
    except CheckpointError as exc:
        assert str(path) in str(exc)
        return
    [(got_shape, _)] = specs.values()  # accepted: then every field was what the format says
    assert got_shape == tuple(shape) and all(type(d) is int and d >= 0 for d in got_shape)
