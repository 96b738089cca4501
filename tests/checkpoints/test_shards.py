"""Sharded .safetensors from ``initreg init -o DIR``: huggingface_hub's split, the library's header bytes,
values equal to initreg.values, ``--shard I/N`` byte-identical to the whole run, ``--index-only``, and bad
input that writes nothing."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest

pytest.importorskip("huggingface_hub")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

import initreg  # noqa: E402
from initreg.checkpoints.files import safetensors_header  # noqa: E402
from cli_helpers import run, write_cli_files  # noqa: E402
from initreg.checkpoints.shards import INDEX_NAME, ShardError, parse_size, plan_shards  # noqa: E402

RULES = """\
seed = 11

[[rule]]
pattern = "*.bias"
init = "zeros"

[[rule]]
pattern = "*.weight"
init = "xavier"

[[rule]]
pattern = "*.q"
init = "orthogonal"
"""

# 4-byte floats: embed 64 KB, each block ~33 KB, head 64 KB; 100KB shards give several files
SPEC = ([{"name": "embed.weight", "shape": [250, 64]}]
        + [e for i in range(3) for e in ({"name": f"blocks.{i}.weight", "shape": [128, 64]},
                                         {"name": f"blocks.{i}.bias", "shape": [128]},
                                         {"name": f"blocks.{i}.q", "shape": [8, 8], "dtype": "float64"})]
        + [{"name": "norm", "shape": []}, {"name": "head.weight", "shape": [250, 64]}])
INIT = ["init", "--params", "spec.json", "--rules", "rules.toml", "-q"]


@pytest.fixture
def files(tmp_path, monkeypatch):
    return write_cli_files(tmp_path, monkeypatch, RULES, SPEC)


def expected(name):
    entry = next(e for e in SPEC if e["name"] == name)
    row = initreg.plan([initreg.Entry(name, tuple(entry["shape"]), entry.get("dtype", "float32"))],
                       initreg.Rules.loads(RULES))[0]
    return initreg.values(row.initializer, tuple(entry["shape"]), name=name, seed=11, dtype=row.dtype)


def listing(path):
    return sorted((p.name, p.read_bytes()) for p in path.iterdir()) if path.exists() else None


# --- the plan -------------------------------------------------------------------------------------------------

def test_split_is_huggingface_hubs_own():
    """Tensors land in the files huggingface_hub's splitter assigns for arrays of the same sizes, in model order."""
    from huggingface_hub import split_state_dict_into_shards_factory

    rng = np.random.default_rng(0)
    specs = {f"t{i}": ((int(rng.integers(1, 300)), 8), str(rng.choice(["float32", "float64", "int8"])))
             for i in range(40)}
    arrays = {n: np.zeros(s, dtype=d) for n, (s, d) in specs.items()}
    for limit in (2_000, 10_000, 50_000, 10**9):
        theirs = split_state_dict_into_shards_factory(arrays, get_storage_size=lambda a: a.nbytes,
                                                      filename_pattern="model{suffix}.safetensors",
                                                      max_shard_size=limit)
        plan = plan_shards(specs, limit)
        assert {f.filename: list(f.names) for f in plan.files} == theirs.filename_to_tensors
        assert plan.index()["weight_map"] == theirs.tensor_to_filename
        assert plan.total_size == theirs.metadata["total_size"] == sum(a.nbytes for a in arrays.values())


def test_split_in_order_not_packed():
    """The documented rule: sizes [6, 6, 2, 6, 2, 2] at a limit of 10 go [6], [6, 2], [6, 2, 2]."""
    specs = {f"t{i}": ((n,), "uint8") for i, n in enumerate([6, 6, 2, 6, 2, 2])}
    plan = plan_shards(specs, 10)
    assert [list(f.names) for f in plan.files] == [["t0"], ["t1", "t2"], ["t3", "t4", "t5"]]
    assert [f.filename for f in plan.files] == [f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)]


@pytest.mark.parametrize("text, value", [("5GB", 5 * 10**9), ("500MB", 5 * 10**8), ("1.5kb", 1500), ("4096", 4096)])
def test_parse_size(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["5 GiB", "lots", "-3MB", "0", "MB"])
def test_parse_size_rejects(text):
    with pytest.raises(ShardError, match="--max-shard-size") as info:
        parse_size(text)
    assert isinstance(info.value, ValueError)


def test_header_is_the_librarys():
    """The same header bytes as safetensors.numpy.save: exactly with one metadata key; with several (the library
    emits them in hash-map order) the same JSON, length and data."""
    rng = np.random.default_rng(1)
    arrays = {"b": rng.random((3, 5)).astype(np.float32), "a": rng.random(7), "c": np.arange(5, dtype=np.int8),
              "é.x": np.full((), 2.5, np.float32)}
    specs = {n: (a.shape, a.dtype) for n, a in arrays.items()}
    for meta in (None, {"format": "pt"}):
        head, ranges = safetensors_header(specs, meta)
        data = b"".join(arrays[n].tobytes() for n in ranges)
        assert head + data == safetensors_numpy.save(arrays, metadata=meta)
    meta = {"format": "pt", "initreg.seed": "3", "initreg.rules": json.dumps({"rule": [{"pattern": "*", "init": "ü\"\n"}]})}
    head, ranges = safetensors_header(specs, meta)
    theirs = safetensors_numpy.save(arrays, metadata=meta)
    n = struct.unpack("<Q", theirs[:8])[0]
    assert len(head) == 8 + n and json.loads(head[8:]) == json.loads(theirs[8:8 + n])
    assert b"".join(arrays[k].tobytes() for k in ranges) == theirs[8 + n:]


# --- initreg init -o DIR ---------------------------------------------------------------------------------------

def test_sharded_init_matches_plan_and_loads_back(files, capsys):
    code, out, err = run(capsys, *INIT[:-1], "-o", "ckpt", "--max-shard-size", "100KB")
    assert code == 0, err
    assert "and the index" in out
    index = json.loads((files / "ckpt" / INDEX_NAME).read_text())
    specs = {e["name"]: (tuple(e["shape"]), e.get("dtype", "float32")) for e in SPEC}
    assert index == plan_shards(specs, 100_000).index()
    names = set(index["weight_map"].values())
    assert len(names) > 2 and {p.name for p in (files / "ckpt").iterdir()} == names | {INDEX_NAME}
    assert index["metadata"]["total_size"] == sum(math.prod(s) * np.dtype(d).itemsize for s, d in specs.values())
    seen = {}
    for name in names:
        seen.update(safetensors_numpy.load_file(str(files / "ckpt" / name)))
    assert set(seen) == set(specs)
    for name, value in seen.items():
        assert value.dtype == np.dtype(specs[name][1]) and value.shape == specs[name][0]
        assert np.array_equal(value.view(f"u{value.itemsize}"), expected(name).view(f"u{value.itemsize}")), name
    # the provenance of each file covers its tensors
    from safetensors import safe_open

    for name in names:
        with safe_open(str(files / "ckpt" / name), "np") as fh:
            meta = fh.metadata()
            assert set(json.loads(meta["initreg.tensors"])) == set(fh.keys())
            assert meta["format"] == "pt" and meta["initreg.seed"] == "11"
            assert json.loads(meta["initreg.rules"]) == initreg.Rules.loads(RULES).to_document()


def test_single_file_output_carries_provenance(files, capsys):
    assert run(capsys, *INIT, "-o", "one.safetensors")[0] == 0
    from safetensors import safe_open

    with safe_open("one.safetensors", "np") as fh:
        tensors = json.loads(fh.metadata()["initreg.tensors"])
        assert tensors["blocks.1.q"]["init"] == ["orthogonal", {}] and tensors["blocks.1.q"]["rule"] == 3
        assert tensors["norm"]["source"] == "global default"
        assert tensors["embed.weight"]["key"] == initreg.Stream(11, "embed.weight").key
        assert np.array_equal(fh.get_tensor("blocks.2.weight"), expected("blocks.2.weight"))


def test_small_model_in_a_directory_is_one_file(files, capsys):
    """Under the limit the directory holds model.safetensors and no index, as huggingface_hub saves it."""
    assert run(capsys, *INIT, "-o", "small")[0] == 0
    assert [p.name for p in (files / "small").iterdir()] == ["model.safetensors"]
    assert run(capsys, *INIT, "-o", "one.safetensors")[0] == 0
    assert (files / "small" / "model.safetensors").read_bytes() != b""
    code, _, err = run(capsys, *INIT, "-o", "small", "--index-only")
    assert code == 2 and "single file" in err


def test_shard_i_of_n_is_the_whole_runs_file_i(files, capsys):
    assert run(capsys, *INIT, "-o", "whole", "--max-shard-size", "100KB")[0] == 0
    whole = dict(listing(files / "whole"))
    n = len(whole) - 1
    for i in range(n, 0, -1):  # any order: tasks of a batch system finish as they do
        assert run(capsys, *INIT, "-o", "parts", "--max-shard-size", "100KB", "--shard", f"{i}/{n}")[0] == 0
        assert INDEX_NAME not in {p.name for p in (files / "parts").iterdir()}
    assert run(capsys, *INIT, "-o", "parts", "--max-shard-size", "100KB", "--index-only")[0] == 0
    assert dict(listing(files / "parts")) == whole


@pytest.mark.parametrize("extra, message", [
    (["--shard", "4/3"], "1 <= I <= N"),
    (["--shard", "two/3"], "I/N"),
    (["--shard", "1/7"], "planned as"),
    (["--max-shard-size", "5 GiB"], "cannot read '5 GiB'"),
    (["--max-shard-size", "0"], "positive"),
    (["--shard", "1/2", "--index-only"], "exclude"),
])
def test_bad_options_write_nothing(files, capsys, extra, message):
    code, out, err = run(capsys, *INIT, "-o", "ckpt", *(["--max-shard-size", "100KB"] if "--max-shard-size" not in extra
                                                        else []), *extra)
    assert code == 2 and message in err and out == ""
    assert not (files / "ckpt").exists()


def test_file_output_refuses_shard_options(files, capsys):
    code, _, err = run(capsys, *INIT, "-o", "one.safetensors", "--shard", "1/2")
    assert code == 2 and "directory output" in err and not (files / "one.safetensors").exists()


def test_directory_holding_another_model_is_refused(files, capsys):
    other = files / "ckpt"
    other.mkdir()
    (other / "model-00001-of-00002.safetensors").write_bytes(b"someone else's")
    (other / "model-00002-of-00002.safetensors").write_bytes(b"weights")
    before = listing(other)
    code, out, err = run(capsys, *INIT, "-o", "ckpt", "--max-shard-size", "100KB")
    assert code == 2 and "already holds another model" in err and "model-00002-of-00002" in err
    assert listing(other) == before
    # an index that maps other tensors, even with our file names
    assert run(capsys, *INIT, "-o", "mine", "--max-shard-size", "100KB")[0] == 0
    index = json.loads((files / "mine" / INDEX_NAME).read_text())
    index["weight_map"]["extra.weight"] = "model-00001-of-00005.safetensors"
    (files / "mine" / INDEX_NAME).write_text(json.dumps(index))
    before = listing(files / "mine")
    code, _, err = run(capsys, *INIT, "-o", "mine", "--max-shard-size", "100KB")
    assert code == 2 and "another model" in err and listing(files / "mine") == before


def test_rerun_into_the_same_directory_replaces_it(files, capsys):
    assert run(capsys, *INIT, "-o", "ckpt", "--max-shard-size", "100KB")[0] == 0
    first = listing(files / "ckpt")
    assert run(capsys, *INIT, "-o", "ckpt", "--max-shard-size", "100KB")[0] == 0
    assert listing(files / "ckpt") == first


def test_failed_write_leaves_no_file(files, capsys, monkeypatch):
    """A failure in the middle of the second file: no file of the plan, and no temporary file, remains."""
    from initreg.checkpoints import filewriter

    calls = []
    real = filewriter.piece_values

    def failing(piece, row, seed, buffer=None):
        calls.append(piece.file)
        if piece.file == 2:
            raise OSError(28, "No space left on device")
        return real(piece, row, seed, buffer)

    monkeypatch.setattr(filewriter, "piece_values", failing)
    code, _, err = run(capsys, *INIT, "-o", "ckpt", "--max-shard-size", "100KB")
    assert code == 2 and "No space left" in err and 1 in calls
    assert not (files / "ckpt").exists()
