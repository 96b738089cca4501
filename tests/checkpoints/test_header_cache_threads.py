"""The safetensors header cache under threads: readers of different files never see another reader's eviction."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

from initreg.checkpoints import files


@pytest.fixture
def fast_switching():
    """Hand the GIL over every microsecond, so an unguarded read-modify-write of the cache interleaves often."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def test_threads_reading_more_files_than_the_cache_keeps_all_get_their_layouts(tmp_path, fast_switching):
    paths = []
    for i in range(6):  # three times what the cache keeps: every call inserts and evicts
        path = tmp_path / f"m{i}.safetensors"
        files.save(path, {f"a{j}": np.full((2, i + 1), i, np.float32) for j in range(20)})
        paths.append(path)
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def reader(t: int) -> None:
        start.wait(timeout=30)
        for r in range(1000):
            path = paths[(t + r) % 6]
            try:
                _, layout = files.safetensors_layout(path)
                assert layout["a0"][0] == (2, int(path.stem[1:]) + 1)
            except BaseException as exc:  # noqa: BLE001 - any failure of a read is the bug
                errors.append(exc)

    threads = [threading.Thread(target=reader, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not any(th.is_alive() for th in threads)
    # before: "dictionary changed size during iteration" from the eviction, in 30 of 30 runs (6,000 reads each)
    assert errors == []
    assert len(files._HEADERS) <= files._HEADERS_KEPT
