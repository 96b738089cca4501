"""Front-to-back file writes through aligned staging buffers with O_DIRECT (initreg/checkpoints/direct.py): the
same bytes as the piece-at-its-offset writer, whether the file system takes O_DIRECT, refuses it at open, or
refuses it in the middle of a file."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

import initreg
from initreg.checkpoints import direct, filewriter
from initreg.checkpoints.direct import ALIGN, StagedFile, aligned_buffer, open_direct
from initreg.cli import main
from cli_helpers import write_cli_files

pytest.importorskip("huggingface_hub")


def has_o_direct(path):
    """Whether the file system holding ``path`` (an existing file) takes O_DIRECT opens."""
    fd = open_direct(path)
    if fd is None:
        return False
    os.close(fd)
    return True


def staged_ops(rng, total):
    """A random run of reserve/put calls of sizes 0 to a few staging buffers: (kind, bytes, itemsize)."""
    ops, n = [], 0
    while n < total:
        size = int(rng.choice([0, 1, 3, 8, 100, ALIGN - 1, ALIGN, ALIGN + 5, 20_000, 70_000]))
        ops.append(("reserve" if rng.random() < 0.6 else "put", rng.integers(0, 256, size, dtype=np.uint8),
                    int(rng.choice([1, 2, 4, 8]))))
        n += size
    return ops


@pytest.mark.parametrize("use_direct", [True, False])
@pytest.mark.parametrize("seed,start", [(0, 0), (1, 1), (2, ALIGN + 17)])
def test_staged_file_holds_every_byte_in_order(tmp_path, use_direct, seed, start):
    rng = np.random.default_rng(seed)
    ops = staged_ops(rng, 300_000)
    path = tmp_path / "f.bin"
    before = (bytes(range(256)) * 20)[:start]  # another writer's bytes (a header, an earlier Dask task's run)
    expected = before + b"".join(data.tobytes() for _, data, _ in ops)
    path.write_bytes(before + b"\xff" * (len(expected) - start))  # pre-sized, as the checkpoint files are
    staged = StagedFile(path, 16_384, start, direct=use_direct)
    refused = 0
    for kind, data, itemsize in ops:
        view = staged.reserve(data.nbytes, itemsize) if kind == "reserve" else None
        if view is None:
            refused += kind == "reserve"
            staged.put(data)
        else:
            assert view.nbytes == data.nbytes and (staged.offset - data.nbytes) % itemsize == 0
            view[:] = data
    staged.close()
    assert path.read_bytes() == expected
    assert refused  # the run met reservations too large for a buffer, or misaligned for their items
    assert staged.used_direct == (use_direct and has_o_direct(path))


def test_aligned_buffer_is_aligned():
    for n in (1, ALIGN, 5 * ALIGN + 3):
        buf = aligned_buffer(n)
        assert buf.nbytes == n and buf.ctypes.data % ALIGN == 0


def test_o_direct_refused_in_the_middle_goes_through_the_page_cache(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    data = np.random.default_rng(5).integers(0, 256, 200_000, dtype=np.uint8)
    path.write_bytes(bytes(data.nbytes))
    staged = StagedFile(path, 16_384)
    if staged.direct is None:
        staged.abort()
        pytest.skip("this file system has no O_DIRECT")
    direct_fd, real, writes = staged.direct, os.pwrite, []

    def refuse_after_two(fd, buf, offset):
        if fd == direct_fd:
            writes.append(offset)
            if len(writes) > 2:
                raise OSError(errno.EINVAL, "Invalid argument")
        return real(fd, buf, offset)

    monkeypatch.setattr(os, "pwrite", refuse_after_two)
    staged.put(data)
    staged.close()
    assert path.read_bytes() == data.tobytes()
    assert len(writes) == 3 and staged.used_direct  # two direct writes, then the page cache for the rest


def test_other_write_errors_are_raised(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(100_000))
    staged = StagedFile(path, 16_384)

    def full(fd, buf, offset):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    with pytest.raises(OSError) as info:
        staged.put(bytes(100_000))
        staged.close()
    assert info.value.errno == errno.ENOSPC
    staged.abort()  # idempotent after close's own


SPEC = [("embed.weight", (300, 70), "float32"), ("odd.weight", (7, 3), "float16"), ("half.weight", (33, 5), "bfloat16"),
        ("q.weight", (40, 24), "float64"), ("scale", (), "float32"), ("empty.weight", (0, 4), "float32"),
        ("head.weight", (301, 70), "float32")]
RULES = {"*.weight": "xavier", "q.weight": "orthogonal", "scale": "ones", "half.weight": "normal"}


def expected_data(file, rows, seed):
    """A file's bytes after its header: each tensor's whole values in file order, computed apart (bfloat16 as bits)."""
    from initreg.core.v4_reference import f32_to_bf16

    out = []
    for name in file.ranges:
        row = rows[name]
        if row.dtype == "bfloat16":
            v = f32_to_bf16(initreg.values(row.initializer, row.shape, name=name, seed=seed, dtype="float32"))
        else:
            v = initreg.values(row.initializer, row.shape, name=name, seed=seed, dtype=row.dtype)
        out.append(np.ascontiguousarray(v).tobytes())
    return b"".join(out)


@pytest.mark.parametrize("piece_bytes", [1_000, 5_000, 32 << 20])
def test_checkpoint_files_hold_each_tensors_values(tmp_path, piece_bytes):
    """write_plan's files: the planned header, then every tensor's values, whatever the piece size."""
    from initreg.checkpoints.writing import drawn_rows, plan_output, targets_of

    table = initreg.plan([initreg.Entry(n, s, d) for n, s, d in SPEC], initreg.Rules(RULES), seed=3)
    rows = {r.name: r for r in drawn_rows(table)}
    plan = plan_output(table, RULES, tmp_path, directory=True, max_shard_size=20_000)
    assert len(plan.files) > 1
    filewriter.write_plan(plan, targets_of(plan, tmp_path, directory=True), rows, 3, piece_bytes=piece_bytes)
    for file in plan.files:
        assert (tmp_path / file.filename).read_bytes() == file.header + expected_data(file, rows, 3)


@pytest.mark.parametrize("task_bytes", [1, 3_000, 10_000])
def test_consecutive_runs_written_apart_make_the_same_file(tmp_path, task_bytes):
    """Pieces grouped as Dask tasks, each run written by its own writer after the header: the same bytes."""
    from initreg.checkpoints.dask_writer import tasks
    from initreg.checkpoints.writing import drawn_rows, plan_output

    table = initreg.plan([initreg.Entry(n, s, d) for n, s, d in SPEC], initreg.Rules(RULES), seed=3)
    rows = {r.name: r for r in drawn_rows(table)}
    plan = plan_output(table, RULES, tmp_path / "m.safetensors", directory=False)
    file = plan.files[0]
    temp = filewriter.prepare(tmp_path / "m.safetensors", file)
    groups = tasks(filewriter.plan_pieces(plan, rows, piece_bytes=700), task_bytes)
    assert len(groups) > 3 and any(g[0].offset % ALIGN for g in groups)
    for group in reversed(groups):  # in any order
        filewriter.write_pieces(temp.path, group, rows, 3)
    data = open(temp.path, "rb").read()
    filewriter.discard([temp])
    assert data == file.header + expected_data(file, rows, 3)


def test_write_pieces_refuses_pieces_out_of_order(tmp_path):
    from initreg.checkpoints.writing import drawn_rows, plan_output

    table = initreg.plan([initreg.Entry(n, s, d) for n, s, d in SPEC], initreg.Rules(RULES), seed=3)
    rows = {r.name: r for r in drawn_rows(table)}
    plan = plan_output(table, RULES, tmp_path / "m.safetensors", directory=False)
    todo = filewriter.plan_pieces(plan, rows, piece_bytes=700)
    with pytest.raises(ValueError, match="consecutive"):
        filewriter.write_pieces(tmp_path / "m.safetensors", [todo[1], todo[0]], rows, 3)


def test_init_uses_o_direct_where_the_file_system_has_it(tmp_path, monkeypatch):
    (tmp_path / "probe").write_bytes(b"")
    if not has_o_direct(tmp_path / "probe"):
        pytest.skip("this file system has no O_DIRECT")
    used = []
    real = direct.StagedFile.close

    def close(self):
        real(self)
        used.append(self.used_direct)

    monkeypatch.setattr(direct.StagedFile, "close", close)
    write_cli_files(tmp_path, monkeypatch, 'seed = 1\n[[rule]]\npattern = "*"\ninit = "normal"\n',
                    [{"name": "w", "shape": [600, 64]}])
    assert main(["init", "--params", "spec.json", "--rules", "rules.toml", "-q", "-o", "m.safetensors"]) == 0
    assert used == [True]
