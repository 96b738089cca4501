"""Crafted-checkpoint fuzzing (issue 25): 600 mutations of real small initreg checkpoints — headers, offsets,
dtypes, shapes, index entries, paths, provenance and recorded rules — each read by ``verify`` and by ``check``
in-process, with an audit hook logging every file opened. For every case:

- no file outside the checkpoint's directory is opened (Python's own imports and installed libraries aside);
- each run takes under 2 s and allocates under 256 MiB (tracemalloc's peak, NumPy's buffers included, on every
  third case; the process's peak resident memory over all of them);
- nothing but an InitregError or OSError escapes;
- "identical" (status 0) only when the safetensors library itself loads the mutated checkpoint and finds the
  very tensors, bit for bit, of the original (the mutation changed nothing that matters).

The safetensors library reads through Rust, unseen by the hook; initreg's own header read of the same path
comes first, so a path outside is still caught. Fixed seed, bounded run: a few seconds here.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import struct
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("huggingface_hub")
pytest.importorskip("safetensors")

import initreg  # noqa: E402
from initreg.checkpoints.checkpoint import Checkpoint, own_files  # noqa: E402
from initreg.checkpoints.shards import INDEX_NAME  # noqa: E402
from initreg.errors import InitregError  # noqa: E402
from initreg.validation.arrays import check, provenance_rules, read_checkpoint  # noqa: E402

from crafting import join, make_checkpoints, split  # noqa: E402

CASES = 600
SEED = 25
MAX_SECONDS = 2.0
MAX_BYTES = 256 << 20
MEMORY_EVERY = 3  # tracemalloc triples a case's time: every third case is measured

_opened: list[str] | None = None  # while a case runs: every path opened


def _audit(event: str, args: tuple) -> None:
    if _opened is not None and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        _opened.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)  # hooks cannot be removed: it records only while _opened is a list


def _library_dirs(cases: Path) -> list[str]:
    """Where Python and installed packages live (files opened there are imports and library data), none above
    ``cases``, where the checkpoints and the files outside them are."""
    import initreg as pkg

    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.dirname(pkg.__file__))}
    dirs |= {p for p in sys.path if p and os.path.isdir(p)}
    real = {os.path.realpath(d) for d in dirs}
    return sorted(d for d in real if not os.path.realpath(cases).startswith(d + os.sep))


# --- mutations ------------------------------------------------------------------------------------------------

HUGE = [2 ** 62, 2 ** 64, 2 ** 48 + 1, 10 ** 30]
BAD_DTYPES = ["float64", "f32", "c16", "F8_E8M1", "", "BF16", "I64", "U8", "BOOL", 5, None, ["F32"]]
BAD_SHAPES = [[2 ** 62, 0], [0, 2 ** 62], [-1], [1.5], [], [1] * 40, [True], ["4"], None, [2 ** 31, 2 ** 31],
              [3], [0], [1, 0, 7]]


class Context:
    """What mutations may point at: files outside the case's directory."""

    def __init__(self, root: Path):
        self.foreign = root / "foreign.safetensors"
        self.secret = root / "secret.npz"


def _tensors(header: dict) -> list[str]:
    return [k for k in header if k != "__metadata__"]


def _records(header: dict) -> dict:
    try:
        records = json.loads(header["__metadata__"]["initreg.tensors"])
    except Exception:
        return {}
    return {k: v for k, v in records.items() if isinstance(v, dict)} if isinstance(records, dict) else {}


def _meta(header: dict) -> dict:
    if not isinstance(header.get("__metadata__"), dict):
        header["__metadata__"] = {}
    return header["__metadata__"]


def _set_records(header: dict, records: dict) -> None:
    _meta(header)["initreg.tensors"] = json.dumps(records)


def m_dtype(rng, header, data, ctx):
    name = rng.choice(_tensors(header))
    header[name]["dtype"] = rng.choice(BAD_DTYPES)
    return header, data


def m_shape(rng, header, data, ctx):
    name = rng.choice(_tensors(header))
    header[name]["shape"] = rng.choice(BAD_SHAPES)
    return header, data


def m_offsets(rng, header, data, ctx):
    name = rng.choice(_tensors(header))
    b, e = header[name]["data_offsets"]
    header[name]["data_offsets"] = rng.choice([[b + 4, e + 4], [b, e + 4], [0, e - b], [b - 4, e - 4], [e, b],
                                               [b, rng.choice(HUGE)], [-1, e], [b, e, 0], "0-8", [b, float(e)]])
    return header, data


def m_swap_offsets(rng, header, data, ctx):
    names = _tensors(header)
    if len(names) > 1:
        a, b = rng.sample(names, 2)
        header[a]["data_offsets"], header[b]["data_offsets"] = header[b]["data_offsets"], header[a]["data_offsets"]
    return header, data


def m_alias(rng, header, data, ctx):  # a second tensor on the bytes of another: overlap
    name = rng.choice(_tensors(header))
    header["alias.weight"] = dict(header[name])
    records = _records(header)
    if name in records:
        records["alias.weight"] = records[name]
        _set_records(header, records)
    return header, data


def m_data(rng, header, data, ctx):
    choice = rng.randrange(4)
    if choice == 0 and data:
        k = rng.randrange(len(data))
        return header, data[:k] + bytes([data[k] ^ (1 << rng.randrange(8))]) + data[k + 1:]
    if choice == 1:
        return header, data + os.urandom(rng.choice([1, 8, 100]))
    if choice == 2 and data:
        return header, data[:rng.randrange(len(data))]
    return header, bytes(8) + data


def m_metadata(rng, header, data, ctx):
    meta = _meta(header)
    key = rng.choice(["initreg.seed", "initreg.algorithm", "initreg.rules", "initreg.tensors", "initreg.run",
                      "initreg.version", "format"])
    meta[key] = rng.choice(["", "null", "abc", "-1", "9" * 60, "{", "[]", "{}", '{"rule": 5}', json.dumps([1] * 50),
                            "[" * 5000 + "]" * 5000, 7])
    if rng.random() < 0.3:
        meta.pop(key, None)
    if rng.random() < 0.1:
        header["__metadata__"] = rng.choice([[], "x", {"a": 1}, None])
    return header, data


def m_record(rng, header, data, ctx):
    records = _records(header)
    if not records:
        return header, data
    name = rng.choice(list(records))
    records[name]["init"] = rng.choice([
        ["load", {"path": str(ctx.secret)}], ["load", {"path": "../secret.npz"}],
        ["load", {"path": "missing.npz", "default": {"@init": ["load", {"path": str(ctx.secret)}]}}],
        ["load", {"path": "model.safetensors"}], ["load", {"path": "model-00001-of-00003.safetensors"}],
        ["constant", {"value": {"@array": [1, 2], "dtype": "S1000000000"}}],
        ["constant", {"value": {"@array": [[1] * 3] * 2, "dtype": "V1000000000"}}],
        ["fancy", {}], "normal", 5, None, ["normal", {"sigma": -1}], ["normal", {"sigma": "x"}],
        ["mixture", {"components": [["load", {"path": str(ctx.secret)}]], "weights": [1.0]}],
        ["zeros", {}], ["orthogonal", {"gain": 1e308}], ["uniform", {"scale": float("inf")}]])
    if rng.random() < 0.2:
        records[name] = rng.choice([None, 5, {}, {"init": "zeros", "layout": 5}])
    _set_records(header, records)
    return header, data


def m_rules(rng, header, data, ctx):
    meta = _meta(header)
    doc = rng.choice([
        {"rule": [{"pattern": "*", "init": "load", "path": str(ctx.secret)}]},
        {"rule": [{"pattern": "*", "init": "load", "path": "../secret.npz"}]},
        {"rule": [{"pattern": "*", "init": "load", "path": "model.safetensors"}]},
        {"default": ["load", {"path": str(ctx.secret)}], "rule": []},
        {"rule": [{"pattern": "*", "init": "constant", "value": {"@array": [1], "dtype": "S1000000000"}}]},
        {"rule": [{"pattern": "\ud800*", "init": "zeros"}]},
        {"rule": [{"pattern": f"x{i}", "init": "zeros"} for i in range(20_000)]},
        {"rule": [{"pattern": "re:(a+)+$", "init": "zeros"}]},
        {"seed": -4, "rule": []}, {"rule": "x"}, [1, 2]])
    meta["initreg.rules"] = json.dumps(doc)
    return header, data


def m_name(rng, header, data, ctx):
    name = rng.choice(_tensors(header))
    new = rng.choice(["../escape", "/abs", "a\x00b", "__metadata__", "", "x" * 70_000, "a//b", "\\win", "é.w"])
    header[new] = header.pop(name)
    return header, data


def m_raw(rng, header, data, ctx):  # the file's bytes themselves: the length field, the JSON text
    text = json.dumps(header).encode()
    choice = rng.randrange(5)
    if choice == 0:
        return struct.pack("<Q", rng.choice([0, 1, len(text) + 1, len(text) - 1, 2 ** 63, 100 * 2 ** 20 + 1])) + \
            text + data, None
    if choice == 1:
        k = rng.randrange(len(text))
        return struct.pack("<Q", len(text)) + text[:k] + bytes([rng.randrange(256)]) + text[k + 1:] + data, None
    if choice == 2:
        return text[:rng.randrange(16)], None
    if choice == 3:
        dup = text[:-1] + b"," + text[1:]  # every key twice
        return struct.pack("<Q", len(dup)) + dup + data, None
    return struct.pack("<Q", len(text) + 4) + text + b"    " + data, None  # padded header: still valid


FILE_MUTATIONS = [m_dtype, m_shape, m_offsets, m_swap_offsets, m_alias, m_data, m_metadata, m_record, m_rules,
                  m_name, m_raw]


def mutate_file(rng: random.Random, path: Path, ctx: Context) -> None:
    header, data = split(path.read_bytes())
    raw = None
    for mutation in rng.sample(FILE_MUTATIONS, rng.choice([1, 1, 2, 3])):
        if raw is not None:
            break
        out = mutation(rng, header, data, ctx)
        if out[1] is None:
            raw = out[0]
        else:
            header, data = out
    path.write_bytes(raw if raw is not None else join(header, data))


def mutate_index(rng: random.Random, d: Path, ctx: Context) -> None:
    index_path = d / INDEX_NAME
    index = json.loads(index_path.read_text())
    wm = index["weight_map"]
    name = rng.choice(list(wm))
    choice = rng.randrange(11)
    if choice == 0:
        wm[name] = "../foreign.safetensors"
    elif choice == 1:
        wm[name] = str(ctx.foreign)
    elif choice == 2:
        target = d / wm[name]
        target.unlink()
        os.symlink(ctx.foreign if rng.random() < 0.7 else d / sorted(set(wm.values()))[0], target)
    elif choice == 3:
        index["weight_map"] = {}
    elif choice == 4:
        wm[name] = rng.choice([5, None, "", "x.npz", "sub/../../foreign.safetensors", "/dev/zero.safetensors"])
    elif choice == 5:
        wm.pop(name)
    elif choice == 6:
        wm["ghost.weight"] = wm[name]
    elif choice == 7:
        index["metadata"] = rng.choice([{"total_size": -1}, {"total_size": 2 ** 70}, [], {"total_size": "x"}])
    elif choice == 8:
        index_path.write_bytes(rng.choice([b"", b"{", b"[]", b'{"weight_map": 5}', b"\xff\xfe",
                                           b'{"weight_map": {"a": "b.safetensors", "a": "c.safetensors"}}']))
        return
    elif choice == 9:
        shutil.copy(ctx.foreign, d / sorted(set(wm.values()))[-1])  # one file of another run
    else:
        (d / "model-00099-of-00099.safetensors").write_bytes(ctx.foreign.read_bytes())  # a stray file
    index_path.write_text(json.dumps(index))


def make_case(rng: random.Random, k: int, made: Path, root: Path, ctx: Context) -> Path:
    case = root / f"case{k:04d}"
    kind = rng.choices(["file", "shards", "npz"], [6, 4, 1])[0]
    if kind == "npz":
        case.mkdir()
        raw = bytearray((made / "one.npz").read_bytes())
        for _ in range(rng.randint(1, 4)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        (case / "one.npz").write_bytes(bytes(raw))
        return case / "one.npz"
    if kind == "file":
        case.mkdir()
        shutil.copy(made / "one.safetensors", case / "model.safetensors")
        mutate_file(rng, case / "model.safetensors", ctx)
        return case / "model.safetensors" if rng.random() < 0.8 else case
    shutil.copytree(made / "ckpt", case)
    if rng.random() < 0.5:
        mutate_index(rng, case, ctx)
    if rng.random() < 0.6:
        files = sorted(p for p in case.glob("model-*.safetensors") if not p.is_symlink())
        if files:
            mutate_file(rng, rng.choice(files), ctx)
    return case if rng.random() < 0.8 else case / INDEX_NAME


# --- the oracle: what the safetensors library itself reads ---------------------------------------------------

def snapshot(path: Path):
    """Name → (dtype, shape, bytes) and the index's map, as the safetensors library reads the checkpoint; None if it
    cannot (then the checkpoint is not valid)."""
    from safetensors import safe_open

    try:
        if path.is_dir() or path.name.endswith(".index.json"):
            index_path = path / INDEX_NAME if path.is_dir() else path
            if not index_path.exists():
                files, wm = [path / "model.safetensors"], None
            else:
                wm = json.loads(index_path.read_text())["weight_map"]
                files = [index_path.parent / f for f in sorted(set(wm.values()))]
        else:
            files, wm = [path], None
        tensors = {}
        for f in files:
            with safe_open(str(f), "np") as fh:
                held = list(fh.keys())
                if wm is not None and sorted(held) != sorted(n for n, v in wm.items() if index_path.parent / v == f):
                    return None
                for n in held:
                    t = fh.get_tensor(n)
                    tensors[n] = (str(t.dtype), t.shape, t.tobytes())
        return tensors, wm
    except Exception:
        return None


def outside(opened: list[str], home: str, library: list[str]) -> list[str]:
    """The files in ``opened`` outside ``home`` (symlinks resolved), library files aside."""
    real = {p: os.path.realpath(p) for p in opened}
    return sorted({p for p, r in real.items() if not r.startswith(home + os.sep)
                   and not any(r.startswith(d + os.sep) for d in library)})


# --- the run --------------------------------------------------------------------------------------------------

def run_case(path: Path):
    """verify and check on ``path``: (verify's status or None, the exception that escaped or None)."""
    status, escaped = None, None
    try:
        status = initreg.verify(path).status
    except BaseException as exc:  # noqa: BLE001 - what escapes is the finding
        escaped = exc
    try:
        ckpt = Checkpoint.open(path)
        arrays, meta = read_checkpoint(ckpt)
        rules, seed = provenance_rules(meta, ckpt.directory, own_files(ckpt))
        if rules is not None:
            check(arrays, rules, seed=seed)
    except (InitregError, OSError):
        pass
    except BaseException as exc:  # noqa: BLE001
        escaped = escaped or exc
    return status, escaped


@pytest.mark.slow  # 600 cases: about 10 s
def test_crafted_checkpoints(tmp_path):
    global _opened
    made = make_checkpoints(tmp_path / "made")
    root = tmp_path / "cases"
    root.mkdir()
    ctx = Context(tmp_path)
    base = ["init", "--params", str(made / "spec.json"), "--rules", str(made / "rules.toml"), "-q", "--seed", "77"]
    assert initreg.cli.main(base + ["-o", str(ctx.foreign)]) == 0  # a faithful initreg file of another run
    np.savez(ctx.secret, **initreg.checkpoints.files.load(made / "one.safetensors"))
    original = {"file": snapshot(made / "one.safetensors"), "shards": snapshot(made / "ckpt")}
    library = _library_dirs(tmp_path)
    _opened = []
    ctx.secret.read_bytes()  # the detector itself: an open outside is seen and flagged
    assert outside(_opened, str(root / "case"), library) == [str(ctx.secret)]
    _opened = None
    rng = random.Random(SEED)
    findings, statuses = [], {0: 0, 1: 0, 2: 0, None: 0}
    run_case(made / "one.safetensors")  # warm: imports and plugin loading are not a case's cost
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    try:
        for k in range(CASES):
            path = make_case(rng, k, made, root, ctx)
            home = os.path.realpath(path if path.is_dir() else path.parent)
            traced = k % MEMORY_EVERY == 0
            if traced:
                tracemalloc.start()
            _opened = []
            started = time.perf_counter()
            try:
                status, escaped = run_case(path)
            finally:
                seconds, opened, _opened = time.perf_counter() - started, _opened, None
                peak = tracemalloc.get_traced_memory()[1] if traced else 0
                tracemalloc.stop()
            statuses[status] += 1
            problems = []
            if outside(opened, home, library):
                problems.append(f"opened outside its directory: {outside(opened, home, library)}")
            if seconds > MAX_SECONDS * (3 if traced else 1):
                problems.append(f"took {seconds:.2f} s")
            if peak > MAX_BYTES:
                problems.append(f"allocated {peak / 2 ** 20:.0f} MiB")
            if escaped is not None:
                problems.append(f"raised {type(escaped).__name__}: {str(escaped)[:200]}")
            if status == 0:
                kind = "file" if not (path.is_dir() and (path / INDEX_NAME).exists()) and \
                    not path.name.endswith(".index.json") else "shards"
                if snapshot(path) != original[kind]:
                    problems.append("called identical, but it is not the original checkpoint")
            if problems:
                findings.append(f"case {k} ({path.relative_to(root)}): {'; '.join(problems)}")
    finally:
        _opened = None
    assert not findings, f"{len(findings)} of {CASES} crafted checkpoints misread:\n" + "\n".join(findings[:20])
    # every case, traced or not: none raised the process's peak memory by MAX_BYTES
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - baseline < MAX_BYTES
    assert statuses[2] > CASES // 2 and statuses[None] == 0, statuses  # most mutations make a checkpoint invalid
