"""Checkpoints from strangers (issue 25, findings 1-4, 6, 7): reading one never reaches outside its directory,
costs more than its size, or is called "identical" when it is not a valid checkpoint of one run."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

pytest.importorskip("huggingface_hub")
pytest.importorskip("safetensors")

import initreg  # noqa: E402
from initreg.checkpoints.files import load, read_specs, safetensors_layout  # noqa: E402
from initreg.checkpoints.shards import INDEX_NAME  # noqa: E402
from initreg.cli import main  # noqa: E402
from initreg.checkpoints.shards import ShardError  # noqa: E402
from initreg.errors import CheckpointError, InitializerArgumentError  # noqa: E402

from crafting import copy_tree, join, make_checkpoints, rewrite, set_tensor_record, split  # noqa: E402


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    return make_checkpoints(tmp_path_factory.mktemp("hostile"))


def verify_cli(capsys, *argv):
    code = main(["verify", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


# --- finding 1: paths ------------------------------------------------------------------------------------

def index_to(directory, entry_of):
    """A directory whose index maps every tensor of one.safetensors to ``entry_of(directory)``."""
    directory.mkdir()
    names = list(safetensors_layout(directory.parent / "one.safetensors")[1])
    entry = entry_of(directory)
    (directory / INDEX_NAME).write_text(json.dumps({"metadata": {}, "weight_map": {n: entry for n in names}}))
    return directory, entry


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_index_entries_outside_the_directory_are_refused(made, tmp_path, capsys, how):
    foreign = tmp_path / "one.safetensors"  # a valid initreg checkpoint of someone else, next to the directory
    foreign.write_bytes((made / "one.safetensors").read_bytes())

    def entry_of(d):
        if how == "dotdot":
            return "../one.safetensors"
        if how == "absolute":
            return str(foreign)
        os.symlink(foreign, d / "model-00001-of-00001.safetensors")
        return "model-00001-of-00001.safetensors"

    d, entry = index_to(tmp_path / "evil", entry_of)
    result = initreg.verify(d)
    assert result.status == 2 and not result.ok
    assert any(repr(entry) in p and "inside its own directory" in p for p in result.problems), result.problems
    code, out, err = verify_cli(capsys, d)
    assert code == 2 and "identical" not in out and repr(entry) in err
    code = main(["check", str(d)])
    err = capsys.readouterr().err
    assert code == 2 and repr(entry) in err and "Traceback" not in err


def test_provenance_load_outside_the_checkpoint_is_not_checked(made, tmp_path):
    secret = tmp_path / "secret.npz"
    d = tmp_path / "x"
    d.mkdir()
    f = d / "one.safetensors"
    f.write_bytes((made / "one.safetensors").read_bytes())
    np.savez(secret, **{"a.weight": load(f, ["a.weight"])["a.weight"]})  # the values the file holds
    set_tensor_record(f, "a.weight", init=["load", {"path": str(secret)}])
    result = initreg.verify(f)
    assert result.status == 2 and any(str(secret) in p and "not checked" in p for p in result.problems)
    set_tensor_record(f, "a.weight", init=["load", {"path": "../secret.npz"}])
    assert initreg.verify(f).status == 2
    # the same record naming a file inside the checkpoint is checked
    (d / "pre.npz").write_bytes(secret.read_bytes())
    set_tensor_record(f, "a.weight", init=["load", {"path": "pre.npz"}])
    assert initreg.verify(f).status == 0
    # a tensor cannot vouch for itself: loaded from the file that holds it (here tampered with), or its index
    set_tensor_record(f, "a.weight", init=["load", {"path": "one.safetensors"}])
    start = safetensors_layout(f)[1]["a.weight"][2]
    raw = bytearray(f.read_bytes())
    raw[start] ^= 0x40
    f.write_bytes(bytes(raw))
    result = initreg.verify(f)
    assert result.status == 2 and not result.mismatches
    assert [p for p in result.problems if "'a.weight'" in p and "compared with themselves" in p]
    # nested inside another initializer's arguments too
    set_tensor_record(f, "a.weight", init=["load", {"path": "missing.npz",
                                                   "default": {"@init": ["load", {"path": str(secret)}]}}])
    assert initreg.verify(f).status == 2


def test_recorded_load_rule_cannot_make_check_read_another_file(made, tmp_path, capsys):
    from initreg.std import Load

    secret = tmp_path / "secret.npz"
    np.savez(secret, **load(made / "one.safetensors"))
    d = tmp_path / "x"
    d.mkdir()
    f = d / "one.safetensors"
    f.write_bytes((made / "one.safetensors").read_bytes())
    doc = initreg.Rules([("*", Load(str(secret)))]).dumps("json")

    def change(header, data):
        header["__metadata__"]["initreg.rules"] = doc
        return header, data

    rewrite(f, change)
    code = main(["check", str(f)])
    err = capsys.readouterr().err
    assert code == 2 and str(secret) in err and "inside its own directory" in err
    doc = initreg.Rules([("*", Load("one.safetensors"))]).dumps("json")  # the checked file itself
    rewrite(f, change)
    code = main(["check", str(f)])
    assert code == 2 and "compared with themselves" in capsys.readouterr().err


@pytest.mark.parametrize("base_shapes, why", [("/etc/passwd", "an absolute path"), ("../x.bsh", "'..'")])
def test_recorded_base_shapes_cannot_make_check_read_another_file(made, tmp_path, capsys, base_shapes, why):
    d = tmp_path / "x"
    d.mkdir()
    f = d / "one.safetensors"
    f.write_bytes((made / "one.safetensors").read_bytes())
    (tmp_path / "x.bsh").write_text("a.weight: [2, null]\n")

    def change(header, data):
        header["__metadata__"]["initreg.rules"] = json.dumps({"base_shapes": base_shapes, "rule": []})
        return header, data

    rewrite(f, change)
    code = main(["check", str(f)])
    err = capsys.readouterr().err
    assert code == 2 and why in err and "root:" not in err  # refused by name: the file is never opened


@pytest.mark.parametrize("fmt", ["json", "toml"])
def test_recorded_rules_are_bounded_before_they_are_built(made, tmp_path, capsys, fmt):
    from initreg.checkpoints.provenance import MAX_RULES

    f = tmp_path / "one.safetensors"
    f.write_bytes((made / "one.safetensors").read_bytes())
    many = [{"pattern": f"x{i}", "init": "zeros"} for i in range(MAX_RULES + 1)]
    text = (json.dumps({"rule": many}) if fmt == "json" else
            "".join(f'[[rule]]\npattern = "x{i}"\ninit = "zeros"\n' for i in range(MAX_RULES + 1)))

    def change(header, data):
        header["__metadata__"]["initreg.rules"] = text
        return header, data

    rewrite(f, change)
    started = time.perf_counter()
    code = main(["check", str(f)])
    err = capsys.readouterr().err
    assert code == 2 and f"{MAX_RULES + 1:,} rules" in err and "--rules" in err
    assert time.perf_counter() - started < 5


# --- findings 2-4: sizes ----------------------------------------------------------------------------------

def test_string_dtype_array_spec_is_refused_before_allocating(made, tmp_path):
    spec = '["constant", {"value": {"@array": [1, 2], "dtype": "S1000000000"}}]'
    started = time.perf_counter()
    with pytest.raises(InitializerArgumentError, match="not a bool, integer or float dtype"):
        initreg.create(spec)
    f = tmp_path / "one.safetensors"
    f.write_bytes((made / "one.safetensors").read_bytes())
    set_tensor_record(f, "a.bias", init=json.loads(spec))
    result = initreg.verify(f)
    assert result.status == 2 and time.perf_counter() - started < 2


@pytest.mark.parametrize("code", ["float64", "f32", "c16", "F8_E8M1", "bf16"])
def test_dtype_codes_safetensors_does_not_define_are_refused(code, tmp_path, capsys):
    f = tmp_path / "crafted.safetensors"
    f.write_bytes(join({"w": {"dtype": code, "shape": [1 << 40, 1 << 20], "data_offsets": [0, 8]}}, bytes(8)))
    with pytest.raises(CheckpointError, match="safetensors codes"):
        read_specs(f)
    started = time.perf_counter()
    (tmp_path / "rules.toml").write_text('seed = 1\n[[rule]]\npattern = "*"\ninit = "zeros"\n')
    status = main(["init", "--params", str(f), "--rules", str(tmp_path / "rules.toml"), "-q",
                   "-o", str(tmp_path / "out.safetensors")])
    assert status == 2 and "safetensors codes" in capsys.readouterr().err
    assert not (tmp_path / "out.safetensors").exists() and time.perf_counter() - started < 2


def test_huge_dimensions_are_refused_and_empty_tensors_cost_nothing(made, tmp_path):
    f = tmp_path / "one.safetensors"
    f.write_bytes((made / "one.safetensors").read_bytes())

    def shape_of_e(shape):
        def change(header, data):
            header["e.weight"]["shape"] = shape
            return header, data
        return change

    rewrite(f, shape_of_e([2 ** 62, 0]))
    started = time.perf_counter()
    with pytest.raises(CheckpointError, match="shape"):
        read_specs(f)
    assert initreg.verify(f).status == 2 and time.perf_counter() - started < 2
    rewrite(f, shape_of_e([2 ** 40, 0]))  # within the limits: an empty tensor, nothing to compare
    started = time.perf_counter()
    result = initreg.verify(f)  # but not the shape it was written with
    assert result.status == 1 and "written as shape (0, 5)" in result.mismatches[0].why
    set_tensor_record(f, "e.weight", shape=[2 ** 40, 0])
    assert initreg.verify(f).status == 0 and initreg.verify(f, sample=2).status == 0
    assert time.perf_counter() - started < 2


def test_oversized_index_is_refused_before_it_is_parsed(made, tmp_path, monkeypatch):
    from initreg.checkpoints import checkpoint

    d = copy_tree(made / "ckpt", tmp_path / "c")
    monkeypatch.setattr(checkpoint, "MAX_INDEX_BYTES", 100)
    result = initreg.verify(d)
    assert result.status == 2 and "over initreg's limit of 100" in result.problems[0]


# --- finding 7: the data section tiled exactly, a non-empty weight map --------------------------------------

def tiling_cases():
    def overlap(header, data):  # a second zeros tensor on the bytes of the first
        header["c.bias"] = dict(header["a.bias"])
        tensors = json.loads(header["__metadata__"]["initreg.tensors"])
        tensors["c.bias"] = tensors["a.bias"]
        header["__metadata__"]["initreg.tensors"] = json.dumps(tensors)
        return header, data

    def gap(header, data):  # 8 unused bytes before the first tensor
        for name, entry in header.items():
            if name != "__metadata__":
                entry["data_offsets"] = [o + 8 for o in entry["data_offsets"]]
        return header, bytes(8) + data

    def trailing(header, data):
        return header, data + b"hidden payload"

    return {"overlap": overlap, "gap": gap, "trailing": trailing}


@pytest.mark.parametrize("case", list(tiling_cases()))
def test_overlapping_gapped_or_trailing_data_is_not_a_valid_checkpoint(made, tmp_path, capsys, case):
    f = tmp_path / "one.safetensors"
    f.write_bytes((made / "one.safetensors").read_bytes())
    rewrite(f, tiling_cases()[case])
    result = initreg.verify(f)
    assert result.status == 2 and "safetensors refuses such a file" in " ".join(result.problems)
    code, out, _ = verify_cli(capsys, f)
    assert code == 2 and "identical" not in out
    with pytest.raises(CheckpointError):
        load(f)


def test_empty_weight_map_is_not_a_valid_checkpoint(tmp_path, capsys):
    (tmp_path / INDEX_NAME).write_text(json.dumps({"metadata": {"total_size": 0}, "weight_map": {}}))
    result = initreg.verify(tmp_path)
    assert result.status == 2 and "weight_map is empty" in result.problems[0]
    assert verify_cli(capsys, tmp_path)[0] == 2


# --- finding 6: a sharded checkpoint is one set from one run -------------------------------------------------

def test_files_of_two_runs_mixed_in_one_directory_are_refused(made, tmp_path, capsys):
    other = tmp_path / "other"
    base = ["init", "--params", str(made / "spec.json"), "--rules", str(made / "rules.toml"), "-q"]
    assert main(base + ["--seed", "4", "-o", str(other), "--max-shard-size", "1KB"]) == 0
    d = copy_tree(made / "ckpt", tmp_path / "mixed")
    victim = sorted(d.glob("model-*.safetensors"))[1]
    victim.write_bytes((other / victim.name).read_bytes())  # each file alone is a faithful initreg file
    assert initreg.verify(victim).status == 0
    result = initreg.verify(d)
    assert result.status == 2 and any("do not come from one run" in p and "seed" in p for p in result.problems)
    assert main(["check", str(d)]) == 2 and "different runs" in capsys.readouterr().err


def test_every_file_of_one_run_records_the_same_run_id(made):
    runs = {safetensors_layout(f)[0]["initreg.run"] for f in (made / "ckpt").glob("model-*.safetensors")}
    assert len(runs) == 1 and len(next(iter(runs))) == 24
    assert safetensors_layout(made / "one.safetensors")[0]["initreg.run"] not in runs  # another layout, another run


def test_tensors_or_files_the_index_does_not_name_are_refused(made, tmp_path):
    d = copy_tree(made / "ckpt", tmp_path / "c")
    index = json.loads((d / INDEX_NAME).read_text())
    files = list(index["weight_map"].values())
    name = next(n for n, f in index["weight_map"].items() if files.count(f) > 1)
    index["weight_map"].pop(name)  # its file still holds it
    (d / INDEX_NAME).write_text(json.dumps(index))
    result = initreg.verify(d)
    assert result.status == 2 and any(repr(name) in p and "does not map" in p for p in result.problems)

    d = copy_tree(made / "ckpt", tmp_path / "d")
    (d / "model-00009-of-00009.safetensors").write_bytes((made / "one.safetensors").read_bytes())
    result = initreg.verify(d)
    assert result.status == 2 and any("model-00009-of-00009" in p for p in result.problems)

    d = copy_tree(made / "ckpt", tmp_path / "e")
    index = json.loads((d / INDEX_NAME).read_text())
    index["metadata"]["total_size"] += 4
    (d / INDEX_NAME).write_text(json.dumps(index))
    assert initreg.verify(d).status == 2


def test_shard_tasks_without_a_seed_are_refused(made, tmp_path, capsys):
    (tmp_path / "rules.toml").write_text('[[rule]]\npattern = "*"\ninit = "normal"\n')  # no seed in the rules
    base = ["init", "--params", str(made / "spec.json"), "--rules", str(tmp_path / "rules.toml"), "-q",
            "-o", str(tmp_path / "out"), "--max-shard-size", "1KB"]
    code = main(base + ["--shard", "1/3"])
    err = capsys.readouterr().err
    assert code == 2 and "--seed" in err and not (tmp_path / "out").exists()
    assert main(base + ["--shard", "1/3", "--seed", "5"]) == 0
    from initreg.checkpoints.writing import save_initial

    with pytest.raises(ShardError, match="seed"):
        save_initial({"w": (4, 4)}, initreg.Rules({"*": "normal"}), tmp_path / "api", max_shard_size="1KB",
                     shard=(1, 1))


def test_a_record_copied_to_another_tensor_or_a_tensor_dropped_is_not_identical(made, tmp_path):
    f = tmp_path / "one.safetensors"
    f.write_bytes((made / "one.safetensors").read_bytes())

    def alias(header, data):  # a second empty tensor, with the empty one's record
        header["f.weight"] = dict(header["e.weight"])
        tensors = json.loads(header["__metadata__"]["initreg.tensors"])
        tensors["f.weight"] = tensors["e.weight"]
        header["__metadata__"]["initreg.tensors"] = json.dumps(tensors)
        return header, data

    rewrite(f, alias)
    result = initreg.verify(f)
    assert result.status == 2 and "'f.weight'" in result.problems[0] and "stream key" in result.problems[0]

    f.write_bytes((made / "one.safetensors").read_bytes())
    rewrite(f, lambda header, data: ({k: v for k, v in header.items() if k != "e.weight"}, data))
    result = initreg.verify(f)
    assert result.status == 2 and "'e.weight'" in result.problems[0] and "does not hold" in result.problems[0]

    f.write_bytes((made / "one.safetensors").read_bytes())

    def dtype(header, data):  # an empty tensor of another dtype holds the same (no) values
        header["e.weight"]["dtype"] = "U8"
        return header, data

    rewrite(f, dtype)
    result = initreg.verify(f)
    assert result.status == 1 and result.mismatches[0].tensor == "e.weight" and "uint8" in result.mismatches[0].why


def test_two_runs_writing_one_directory_at_once_leave_one_runs_files(made, tmp_path, monkeypatch):
    """Renames slowed down so that, without the directory lock, the two runs' files interleave."""
    import threading

    from initreg.checkpoints import filewriter
    from initreg.checkpoints.writing import save_initial

    real = os.replace

    def slow_replace(src, dst):
        time.sleep(0.05)
        real(src, dst)

    monkeypatch.setattr(filewriter.os, "replace", slow_replace)
    params = {f"l{i}.weight": (16, 16) for i in range(6)}
    rules = initreg.Rules({"*": "normal"})
    errors = []

    def run(seed):
        try:
            save_initial(params, rules, tmp_path / "out", seed=seed, max_shard_size="1KB")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    result = initreg.verify(tmp_path / "out")
    assert result.status == 0, result.problems
    seeds = {safetensors_layout(f)[0]["initreg.seed"] for f in (tmp_path / "out").glob("model-*.safetensors")}
    assert len(seeds) == 1


def test_npz_member_claiming_more_than_its_compressed_bytes_is_refused_before_allocating(tmp_path):
    import io
    import struct
    import tracemalloc
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (1 << 28,)})
    body = header.getvalue() + bytes(1024)
    f = tmp_path / "bomb.npz"
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("w.npy", body)
    raw = bytearray(f.read_bytes())
    claimed = struct.pack("<I", len(header.getvalue()) + (1 << 30))  # what the header's shape needs: 1 GiB
    local, central = raw.find(b"PK\x03\x04"), raw.rfind(b"PK\x01\x02")
    raw[local + 22:local + 26], raw[central + 24:central + 28] = claimed, claimed
    f.write_bytes(bytes(raw))
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match="more than its compression can give"):
            load(f)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20


def test_an_index_that_is_a_fifo_is_refused_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "weights.index.json")
    result = initreg.verify(tmp_path)  # found by its name, but not a file: not opened
    assert result.status == 2 and "neither" in result.problems[0]
    result = initreg.verify(tmp_path / "weights.index.json")
    assert result.status == 2 and "not a regular file" in result.problems[0]
