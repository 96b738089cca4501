"""save_streamed(prefetch=True): the next array is drawn while one is written; same bytes, same atomicity."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from initreg.checkpoints.files import save_streamed, write_order

ARRAYS = {"b.w": np.arange(12, dtype=np.float32).reshape(3, 4), "a.w": np.linspace(0, 1, 5),
          "c": np.ones((2, 2), np.float16), "z": np.arange(3, dtype=np.int64), "m": np.array(2.5, dtype=np.float32)}
SPECS = {n: (a.shape, a.dtype) for n, a in ARRAYS.items()}


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_same_bytes_and_calls_in_write_order(tmp_path, suffix):
    pytest.importorskip("safetensors")
    calls, threads = [], set()

    def produce(name):
        calls.append(name)
        threads.add(threading.get_ident())
        return ARRAYS[name]

    plain = save_streamed(tmp_path / f"plain{suffix}", SPECS, ARRAYS.__getitem__).read_bytes()
    ahead = save_streamed(tmp_path / f"ahead{suffix}", SPECS, produce, prefetch=True).read_bytes()
    assert ahead == plain
    assert calls == write_order(tmp_path / f"x{suffix}", SPECS)  # each array once, in the order written
    assert threading.get_ident() not in threads  # drawn off the writing thread


def test_write_order_is_the_safetensors_library_order(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    st.save_file(dict(ARRAYS), str(tmp_path / "lib.safetensors"))
    with open(tmp_path / "lib.safetensors", "rb") as fh:
        import json
        import struct

        header = json.loads(fh.read(struct.unpack("<Q", fh.read(8))[0]))
    by_offset = sorted(ARRAYS, key=lambda n: header[n]["data_offsets"][0])
    assert write_order(tmp_path / "x.safetensors", SPECS) == by_offset


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_failure_while_prefetching_leaves_the_old_file(tmp_path, suffix):
    pytest.importorskip("safetensors")
    target = tmp_path / f"out{suffix}"
    target.write_bytes(b"old")
    bad = write_order(target, SPECS)[2]

    def produce(name):
        if name == bad:
            raise RuntimeError(f"cannot draw {name}")
        return ARRAYS[name]

    with pytest.raises(RuntimeError, match=f"cannot draw {bad}"):
        save_streamed(target, SPECS, produce, prefetch=True)
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == [target.name]
