"""``initreg verify`` / ``initreg.verify``: an untouched checkpoint passes; one flipped float in any file fails
naming the tensor and index; files it cannot check (no provenance, another algorithm, a missing plugin) exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("huggingface_hub")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

import initreg  # noqa: E402
from initreg.checkpoints.files import safetensors_layout  # noqa: E402
from initreg.cli import main  # noqa: E402
from cli_helpers import run  # noqa: E402
from initreg.checkpoints.shards import INDEX_NAME  # noqa: E402

RULES = 'seed = 2\n[[rule]]\npattern = "*.weight"\ninit = "xavier"\n[[rule]]\npattern = "*.q"\ninit = "orthogonal"\n'
SPEC = [{"name": f"l{i}.weight", "shape": [96, 64]} for i in range(4)] + [
    {"name": "a.q", "shape": [16, 16]}, {"name": "bias", "shape": [64], "dtype": "float64"}, {"name": "s", "shape": []}]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    d = tmp_path_factory.mktemp("verify")
    (d / "rules.toml").write_text(RULES)
    (d / "spec.json").write_text(json.dumps(SPEC))
    assert main(["init", "--params", str(d / "spec.json"), "--rules", str(d / "rules.toml"), "-q",
                 "-o", str(d / "ckpt"), "--max-shard-size", "50KB"]) == 0
    assert main(["init", "--params", str(d / "spec.json"), "--rules", str(d / "rules.toml"), "-q",
                 "-o", str(d / "one.safetensors")]) == 0
    return d


def copy(src, dst):
    dst.mkdir()
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


@pytest.mark.parametrize("target", ["ckpt", "ckpt/" + INDEX_NAME, "one.safetensors"])
@pytest.mark.parametrize("sample", [None, 3])
def test_untouched_checkpoint_is_identical(checkpoint, capsys, target, sample):
    code, out, err = run(capsys, "verify", str(checkpoint / target), *(["--sample", str(sample)] if sample else []))
    assert code == 0 and "identical" in out and err == ""
    result = initreg.verify(checkpoint / target, sample=sample)
    assert result.ok and result.tensors == len(SPEC)
    total = sum(int(np.prod(e["shape"])) for e in SPEC)
    assert (result.values == total) if sample is None else (0 < result.values < total)


def test_a_flipped_float_in_any_file_is_found(checkpoint, tmp_path, capsys):
    rng = np.random.default_rng(5)
    files = sorted((checkpoint / "ckpt").glob("model-*.safetensors"))
    assert len(files) >= 3
    for k, victim in enumerate(files):
        d = copy(checkpoint / "ckpt", tmp_path / f"c{k}")
        _, layout = safetensors_layout(d / victim.name)
        name = sorted(layout)[int(rng.integers(len(layout)))]
        shape, dtype, start, end = layout[name]
        itemsize = np.dtype(dtype).itemsize
        flat = int(rng.integers((end - start) // itemsize))
        raw = bytearray((d / victim.name).read_bytes())
        raw[start + flat * itemsize] ^= 0x01  # the lowest mantissa bit: a one-ulp change
        (d / victim.name).write_bytes(bytes(raw))
        index = tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()
        code, out, err = run(capsys, "verify", str(d))
        assert code == 1 and "DIFFERENT" in out
        assert f"tensor {name!r} differs first at index {index}" in err and victim.name in err
        result = initreg.verify(d)
        assert result.status == 1 and [(m.file, m.tensor, m.index) for m in result.mismatches] == [
            (victim.name, name, index)]


def test_file_without_provenance_exits_2(tmp_path, capsys):
    safetensors_numpy.save_file({"w": np.zeros((2, 2), np.float32)}, str(tmp_path / "plain.safetensors"))
    code, out, err = run(capsys, "verify", str(tmp_path / "plain.safetensors"))
    assert code == 2 and "no initreg provenance" in err and "NOT CHECKED" in out
    code, _, err = run(capsys, "verify", str(tmp_path / "missing"))
    assert code == 2 and "does not exist" in err
    np.savez(tmp_path / "x.npz", w=np.zeros(2))
    assert run(capsys, "verify", str(tmp_path / "x.npz"))[0] == 2


def rewrite_metadata(path, change):
    """The same file with its metadata changed by ``change(dict)`` (the header rebuilt by the library)."""
    from safetensors import safe_open

    with safe_open(str(path), "np") as fh:
        meta, arrays = fh.metadata(), {k: fh.get_tensor(k) for k in fh.keys()}
    change(meta)
    safetensors_numpy.save_file(arrays, str(path), metadata=meta)


def test_another_algorithm_exits_2(checkpoint, tmp_path, capsys):
    f = tmp_path / "one.safetensors"
    f.write_bytes((checkpoint / "one.safetensors").read_bytes())
    rewrite_metadata(f, lambda m: m.update({"initreg.algorithm": "initreg-philox-v9"}))
    code, _, err = run(capsys, "verify", str(f))
    assert code == 2 and "initreg-philox-v9" in err


def test_plugin_not_installed_exits_2_naming_it(checkpoint, tmp_path, capsys):
    f = tmp_path / "one.safetensors"
    f.write_bytes((checkpoint / "one.safetensors").read_bytes())

    def change(meta):
        tensors = json.loads(meta["initreg.tensors"])
        tensors["l1.weight"].update(init=["fancy_init", {"k": 3}], plugin="initreg-fancy")
        meta["initreg.tensors"] = json.dumps(tensors)

    rewrite_metadata(f, change)
    code, _, err = run(capsys, "verify", str(f))
    assert code == 2 and "'l1.weight'" in err and "initreg-fancy" in err and "not installed" in err


def test_rebuilt_header_still_verifies(checkpoint, tmp_path):
    """Values are what is checked: the library re-saving the file (its metadata order) changes nothing."""
    f = tmp_path / "one.safetensors"
    f.write_bytes((checkpoint / "one.safetensors").read_bytes())
    rewrite_metadata(f, lambda m: None)
    assert initreg.verify(f).ok


def test_missing_shard_is_not_checkable(checkpoint, tmp_path):
    d = copy(checkpoint / "ckpt", tmp_path / "c")
    victim = sorted(d.glob("model-*.safetensors"))[1]
    victim.unlink()
    result = initreg.verify(d)
    assert result.status == 2 and any(victim.name in p for p in result.problems)
