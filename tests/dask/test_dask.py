"""initreg.dask: arrays whose chunks equal initreg.values for any chunking; ``initreg init --dask`` with a
2-worker LocalCluster on the loopback address writes byte-identical files, also when a worker dies mid-task;
an address nobody answers at, or a task that keeps failing, writes nothing."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
pytest.importorskip("huggingface_hub")
pytest.importorskip("safetensors")

import initreg  # noqa: E402
from initreg.cli import main  # noqa: E402
from cli_helpers import write_cli_files  # noqa: E402
from initreg.std.basic import Normal  # noqa: E402

TIMEOUT = 120  # seconds any one cluster operation may take on a loaded 2-core machine

RULES = 'seed = 9\n[[rule]]\npattern = "*.weight"\ninit = "xavier"\n[[rule]]\npattern = "*.q"\ninit = "orthogonal"\n'
SPEC = [{"name": f"l{i}.weight", "shape": [300, 64]} for i in range(3)] + [
    {"name": "a.q", "shape": [24, 24]}, {"name": "bias", "shape": [64], "dtype": "float64"}]


# --- arrays ------------------------------------------------------------------------------------------------------

def random_chunks(rng, shape):
    out = []
    for n in shape:
        cuts = sorted(set(int(c) for c in rng.integers(1, n, size=int(rng.integers(0, 4))))) if n > 1 else []
        out.append(tuple(np.diff([0, *cuts, n]).tolist()))
    return tuple(out)


def test_arrays_equal_values_for_random_chunkings():
    rules = initreg.Rules({"*.weight": "xavier", "*.bias": "zeros", "*.q": "orthogonal"}, default="normal")
    params = {"enc.weight": (37, 29), "enc.bias": (37,), "x.q": (12, 12), "t": (5, 7, 11), "s": ()}
    rng = np.random.default_rng(3)
    table = initreg.plan(initreg.planning.explanation.entries_of(params), rules, seed=4)
    for trial in range(4):
        chunks = {n: random_chunks(rng, s) for n, s in params.items()}
        for name, shape in params.items():
            arr = initreg.dask.arrays({name: shape}, rules, seed=4, chunks=chunks[name])[name]
            assert arr.chunks == (chunks[name] if shape else ())
            got = arr.compute(scheduler="synchronous")
            want = initreg.values(table[name].initializer, shape, name=name, seed=4)
            assert got.dtype == want.dtype and np.array_equal(got.view(np.uint32), want.view(np.uint32)), (name, trial)
    auto = initreg.dask.arrays(params, rules, seed=4)
    assert set(auto) == set(params) and np.array_equal(auto["t"].compute(scheduler="synchronous"),
                                                       initreg.values("normal", (5, 7, 11), name="t", seed=4))


def test_arrays_of_a_million_blocks_are_built_lazily():
    arr = initreg.dask.arrays({"w": (1000, 1000)}, "normal", seed=0, chunks=1)["w"]  # 5.9 s and 476 MB when eager
    assert arr.numblocks == (1000, 1000) and not arr.dask.layers[arr.name].is_materialized()
    np.testing.assert_array_equal(arr[3:5, 997:].compute(scheduler="synchronous"),
                                  initreg.values("normal", (1000, 1000), name="w", seed=0)[3:5, 997:])


def test_arrays_without_seed_share_one():
    arrs = initreg.dask.arrays({"w": (64, 64)}, "uniform", chunks=(16, 16))
    a = arrs["w"].compute(scheduler="synchronous")
    assert len(np.unique(a[:16, :16])) == 256 and not np.array_equal(a[:16, :16], a[16:32, :16])
    # the same graph computes the same values again (one seed fixed at the call, not per chunk)
    assert np.array_equal(a, arrs["w"].compute(scheduler="synchronous"))


# --- writing with a cluster ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, timeout=TIMEOUT) as c:
        yield c


@pytest.fixture
def client(cluster):
    with distributed.Client(cluster, set_as_default=False, timeout=TIMEOUT) as c:
        yield c


@pytest.fixture
def files(tmp_path, monkeypatch):
    return write_cli_files(tmp_path, monkeypatch, RULES, SPEC)


INIT = ["init", "--params", "spec.json", "--rules", "rules.toml", "-q"]


def listing(path):
    return sorted((p.name, p.read_bytes()) for p in path.iterdir())


def test_cli_dask_is_byte_identical(files, cluster):
    assert main([*INIT, "-o", "single", "--max-shard-size", "60KB"]) == 0
    assert main([*INIT, "-o", "viadask", "--max-shard-size", "60KB", "--dask", cluster.scheduler_address]) == 0
    assert len(listing(files / "single")) > 3 and listing(files / "viadask") == listing(files / "single")
    assert main([*INIT, "-o", "one.safetensors"]) == 0
    assert main([*INIT, "-o", "one_dask.safetensors", "--dask", cluster.scheduler_address]) == 0
    assert (files / "one.safetensors").read_bytes() == (files / "one_dask.safetensors").read_bytes()


class Dying(Normal):
    """Normal, except that the first fill anywhere kills its process (a worker dying mid-task)."""

    def __init__(self, marker, sigma=0.02):
        super().__init__(sigma)
        self.marker = marker

    def fill(self, desc, out, rng):
        if not os.path.exists(self.marker):
            Path(self.marker).write_text("died once")
            os._exit(1)
        super().fill(desc, out, rng)


def test_worker_killed_mid_task_gives_identical_files(tmp_path, client):
    params = {f"l{i}.weight": (256, 64) for i in range(4)}
    rules = initreg.Rules({"l2.*": Dying(str(tmp_path / "died"))}, default="xavier")
    before = set(client.scheduler_info()["workers"])
    from initreg.checkpoints.writing import save_initial

    written = save_initial(params, rules, tmp_path / "dask", seed=1, max_shard_size="70KB", client=client,
                           timeout=TIMEOUT)
    assert (tmp_path / "died").exists() and written.tasks >= 4
    client.wait_for_workers(2, timeout=TIMEOUT)
    assert set(client.scheduler_info()["workers"]) != before  # the nanny replaced the dead worker
    save_initial(params, rules, tmp_path / "here", seed=1, max_shard_size="70KB")  # the marker exists: no death
    assert listing(tmp_path / "dask") == listing(tmp_path / "here") and len(listing(tmp_path / "here")) == 5
    assert initreg.verify(tmp_path / "here").status == 2  # Dying is registered nowhere: not checkable, and says so


class Failing(Normal):
    def fill(self, desc, out, rng):
        raise RuntimeError("disk on fire")


def test_task_that_keeps_failing_writes_nothing(tmp_path, client):
    from initreg.errors import CheckpointError
    from initreg.checkpoints.writing import save_initial

    params = {f"l{i}.weight": (256, 64) for i in range(3)}
    out = tmp_path / "ckpt"
    with pytest.raises(CheckpointError, match="disk on fire"):
        save_initial(params, initreg.Rules({"l1.*": Failing()}, default="xavier"), out, seed=1,
                     max_shard_size="70KB", client=client, timeout=TIMEOUT)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_address_nobody_answers_at(files, capsys):
    with socket.socket() as s:  # a loopback port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = main([*INIT, "-o", "ckpt", "--dask", f"tcp://127.0.0.1:{port}", "--dask-timeout", "1"])
    err = capsys.readouterr().err
    assert code == 2 and f"127.0.0.1:{port}" in err and "no Dask scheduler answered" in err
    assert not (files / "ckpt").exists()
    with pytest.raises(initreg.dask.SchedulerUnreachableError) as info:
        with initreg.dask.client(f"tcp://127.0.0.1:{port}", timeout=0.5):
            pass
    assert isinstance(info.value, ConnectionError) and isinstance(info.value, initreg.CheckpointError)
