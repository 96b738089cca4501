"""``--dask`` failures (issue 25): the write gives up, writing nothing, once no worker has been alive for
``--dask-timeout`` seconds (finding 5: before, a run whose workers were all gone waited forever), and a full
disk under Dask names the output (finding 14)."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("distributed")
pytest.importorskip("huggingface_hub")

import initreg  # noqa: E402
from initreg.cli import main  # noqa: E402
from initreg.errors import NoWorkersError  # noqa: E402

pytestmark = pytest.mark.slow  # a scheduler and a wait of --dask-timeout per test: seconds each


@pytest.fixture
def no_workers():
    """The address of a Dask scheduler that has no worker (as after every worker died)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, protocol="tcp", host="127.0.0.1",
                      dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def test_api_gives_up_without_workers(no_workers, tmp_path):
    from distributed import Client
    from initreg.checkpoints.writing import save_initial

    with Client(no_workers, set_as_default=False, timeout=60) as client:
        started = time.monotonic()
        with pytest.raises(NoWorkersError, match="no Dask worker has been alive for 1 s"):
            save_initial({"w": (64, 64)}, initreg.Rules({"*": "normal"}), tmp_path / "w.safetensors", seed=1,
                         client=client, worker_timeout=1)
        assert time.monotonic() - started < 30
    assert list(tmp_path.iterdir()) == []


def test_cli_gives_up_after_dask_timeout(no_workers, tmp_path, capsys):
    (tmp_path / "rules.toml").write_text('seed = 1\n[[rule]]\npattern = "*"\ninit = "normal"\n')
    (tmp_path / "spec.json").write_text(json.dumps([{"name": "w", "shape": [64, 64]}]))
    started = time.monotonic()
    code = main(["init", "--params", str(tmp_path / "spec.json"), "--rules", str(tmp_path / "rules.toml"), "-q",
                 "-o", str(tmp_path / "out"), "--max-shard-size", "8KB", "--dask", no_workers, "--dask-timeout", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "no Dask worker has been alive for 1 s" in err and "Traceback" not in err
    assert time.monotonic() - started < 60
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rules.toml", "spec.json"]


def test_full_disk_under_dask_names_the_output(tmp_path, capsys, monkeypatch):
    import errno
    import os

    from distributed import LocalCluster

    real = os.pwrite

    def full(fd, data, offset):  # the header (at 0, written by the client) fits; the tasks' values do not
        if offset == 0:
            return real(fd, data, offset)
        raise OSError(errno.ENOSPC, "No space left on device")

    (tmp_path / "rules.toml").write_text('seed = 1\n[[rule]]\npattern = "*"\ninit = "normal"\n')
    (tmp_path / "spec.json").write_text(json.dumps([{"name": "w", "shape": [64, 64]}]))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
                      dashboard_address=None) as cluster:
        monkeypatch.setattr(os, "pwrite", full)  # the in-process worker writes through it too
        code = main(["init", "--params", str(tmp_path / "spec.json"), "--rules", str(tmp_path / "rules.toml"), "-q",
                     "-o", str(tmp_path / "out.safetensors"), "--dask", cluster.scheduler_address])
    err = capsys.readouterr().err
    assert code == 2 and "No space left on device" in err and str(tmp_path / "out.safetensors") in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rules.toml", "spec.json"]
