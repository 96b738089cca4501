"""verify's work is bounded by its input: linear in the files and tensors of a checkpoint (no per-tensor pass over
every file), nothing built for empty tensors, and a report of many problems printed short."""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("huggingface_hub")
pytest.importorskip("safetensors")

import initreg  # noqa: E402
from initreg.cli import main  # noqa: E402


def sharded(d, n, init="normal"):
    """A checkpoint of ``n`` one-tensor shards under ``d``."""
    d.mkdir()
    (d / "spec.json").write_text(json.dumps([{"name": f"w{i}", "shape": [2]} for i in range(n)]))
    (d / "r.toml").write_text(f'seed = 1\n[[rule]]\npattern = "*"\ninit = "{init}"\n')
    assert main(["init", "--params", str(d / "spec.json"), "--rules", str(d / "r.toml"), "-q", "-o", str(d / "c"),
                 "--max-shard-size", "1"]) == 0
    return d / "c"


def realpath_calls(monkeypatch, path):
    calls = []
    real = os.path.realpath

    def counting(p, *args, **kwargs):
        calls.append(p)
        return real(p, *args, **kwargs)

    monkeypatch.setattr(os.path, "realpath", counting)
    result = initreg.verify(path)
    monkeypatch.setattr(os.path, "realpath", real)
    assert result.status == 0, str(result)
    return len(calls)


def test_verify_resolves_paths_linearly_in_the_files(tmp_path, monkeypatch):
    small = realpath_calls(monkeypatch, sharded(tmp_path / "small", 20))
    large = realpath_calls(monkeypatch, sharded(tmp_path / "large", 200))
    assert large <= 4 * 200 + 10  # each index entry is confined once; a per-tensor pass over all files was 40,000
    assert large <= 12 * small


def test_initializers_are_built_once_per_spec_and_never_for_empty_tensors(tmp_path, monkeypatch):
    from initreg.plugins import specs

    (tmp_path / "spec.json").write_text(json.dumps([{"name": f"e{i}", "shape": [0, 4]} for i in range(300)]
                                                   + [{"name": f"w{i}", "shape": [3]} for i in range(3)]))
    (tmp_path / "r.toml").write_text('seed = 1\n[[rule]]\npattern = "e*"\ninit = "ones"\n'
                                     '[[rule]]\npattern = "*"\ninit = "normal"\n')
    out = tmp_path / "m.safetensors"
    assert main(["init", "--params", str(tmp_path / "spec.json"), "--rules", str(tmp_path / "r.toml"), "-q",
                 "-o", str(out)]) == 0
    built = []
    real = specs.create
    monkeypatch.setattr(specs, "create", lambda spec, *a, **k: built.append(spec) or real(spec, *a, **k))
    result = initreg.verify(out)
    assert result.status == 0 and result.tensors == 303
    assert built == [["normal", {}]]  # the 300 empty tensors build nothing; the three normal ones share one


@pytest.mark.parametrize("kwargs, named", [({"sample": -1}, "sample"), ({"sample": 0}, "sample"),
                                           ({"sample": 2.5}, "sample"), ({"sample": "3"}, "sample"),
                                           ({"sample": True}, "sample"), ({"sample_seed": -1}, "sample_seed"),
                                           ({"sample_seed": 1.0}, "sample_seed"), ({"sample_seed": None}, "sample_seed")])
def test_bad_sample_arguments_are_refused(tmp_path, kwargs, named):
    path = sharded(tmp_path / "d", 2)
    with pytest.raises(initreg.VerifyArgumentError, match=f"{named} must be") as info:
        initreg.verify(path, **kwargs)
    assert isinstance(info.value, ValueError) and isinstance(info.value, initreg.InitregError)


def test_a_negative_sample_seed_is_a_usage_error_in_the_cli(tmp_path, capsys):
    path = sharded(tmp_path / "d", 2)
    with pytest.raises(SystemExit) as info:
        main(["verify", str(path), "--sample", "2", "--sample-seed", "-1"])
    assert info.value.code == 2 and "--sample-seed must be non-negative" in capsys.readouterr().err
