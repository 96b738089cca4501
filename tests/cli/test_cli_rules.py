"""``initreg explain`` and ``initreg init``: output, exit codes, reproducible checkpoints, atomic writes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from initreg import Parameter, ParameterDict, Rules
from initreg.checkpoints.files import read_specs, save
from initreg.cli import main
from cli_helpers import run, write_cli_files  # noqa: E402
from initreg.core.stream import Stream

RULES = """\
seed = 3
default = "ones"

[[rule]]
pattern = "*.bias"
init = "zeros"

[[rule]]
pattern = "*.weight"
init = "normal"
sigma = 0.02
"""

SPEC = [{"name": "enc.weight", "shape": [6, 4]}, {"name": "enc.bias", "shape": [6]},
        {"name": "ln.gamma", "shape": [6], "dtype": "float64"}]


@pytest.fixture
def files(tmp_path, monkeypatch):
    return write_cli_files(tmp_path, monkeypatch, RULES, SPEC)


# --- explain --------------------------------------------------------------------------------------------

def test_explain_prints_the_table(files, capsys):
    code, out, err = run(capsys, "explain", "rules.toml", "--params", "spec.json")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "seed: 3"
    assert lines[1].split() == ["name", "shape", "dtype", "state", "source", "initializer", "key"]
    assert lines[2].split()[:5] == ["enc.weight", "(6,", "4)", "float32", "declared"]
    assert "rule 2 (*.weight)" in lines[2] and "normal(sigma=0.02)" in lines[2] and Stream(3, "enc.weight").key in lines[2]
    assert "rule 1 (*.bias)" in lines[3] and lines[4].split()[2:5] == ["float64", "declared", "default"]


def test_explain_json_markdown_and_seed(files, capsys):
    code, out, _ = run(capsys, "explain", "rules.toml", "--params", "spec.json", "--json", "--seed", "9")
    doc = json.loads(out)
    assert code == 0 and doc["seed"] == 9 and [r["source"] for r in doc["rows"]] == ["rule", "rule", "default"]
    assert doc["rows"][0]["key"] == Stream(9, "enc.weight").key
    code, out, _ = run(capsys, "explain", "rules.toml", "--params", "spec.json", "--markdown")
    assert code == 0 and out.splitlines()[2] == "| name | shape | dtype | state | source | initializer | key |"


def test_explain_toml_spec_and_checkpoint_spec(files, capsys):
    (files / "spec.toml").write_text('[[param]]\nname = "a.bias"\nshape = [3]\n\n[[param]]\nname = "a.weight"\n'
                                     'shape = [3, 2]\ndtype = "float16"\n')
    code, out, _ = run(capsys, "explain", "rules.toml", "--params", "spec.toml", "--json")
    assert code == 0 and [(r["name"], r["shape"], r["dtype"]) for r in json.loads(out)["rows"]] == [
        ("a.bias", [3], "float32"), ("a.weight", [3, 2], "float16")]
    arrays = {"x.weight": np.zeros((5, 7), np.float32), "x.bias": np.zeros(5, np.float64)}
    for suffix in (".npz", ".safetensors"):
        save(f"ckpt{suffix}", arrays)
        code, out, _ = run(capsys, "explain", "rules.toml", "--params", f"ckpt{suffix}", "--json")
        rows = {r["name"]: (r["shape"], r["dtype"], r["rule"]) for r in json.loads(out)["rows"]}
        assert code == 0 and rows == {"x.weight": ([5, 7], "float32", 2), "x.bias": ([5], "float64", 1)}


def test_explain_strict_exit_codes(files, capsys):
    (files / "bad.toml").write_text(RULES + '\n[[rule]]\npattern = "*.gama"\ninit = "ones"\n'
                                    '\n[[rule]]\npattern = "enc.*"\ninit = "ones"\n')
    code, out, err = run(capsys, "explain", "bad.toml", "--params", "spec.json")
    assert code == 0 and "warning: rule 3 (*.gama) matches no parameter; closest names: 'ln.gamma'" in out
    assert "warning: rule 4 (enc.*) is shadowed" in out
    code, out, err = run(capsys, "explain", "bad.toml", "--params", "spec.json", "--strict")
    assert code == 1 and "2 rule problem(s)" in err and "enc.weight" in out
    assert run(capsys, "explain", "rules.toml", "--params", "spec.json", "--strict")[0] == 0


@pytest.mark.parametrize("argv, fragment", [
    (["explain", "missing.toml", "--params", "spec.json"], "does not exist"),
    (["explain", "rules.toml", "--params", "missing.json"], "does not exist"),
    (["explain", "rules.toml", "--params", "spec.yaml"], "unknown format"),
    (["explain", "rules.toml", "--params", "dup.json"], "entry 2: name 'a' already used by entry 1"),
    (["explain", "rules.toml", "--params", "badshape.json"], "entry 1"),
    (["init", "--params", "spec.json", "--rules", "rules.toml", "-o", "out.bin"], "must end in .safetensors or .npz"),
    (["init", "--params", "partial.json", "--rules", "rules.toml", "-o", "out.npz"], "unknown dimensions"),
    (["init", "--params", "spec.json", "--rules", "rules.toml", "--dtype", "complex64", "-o", "o.npz"], "dtype"),
])
def test_usage_errors_exit_2(files, capsys, argv, fragment):
    (files / "dup.json").write_text(json.dumps([{"name": "a", "shape": [1]}, {"name": "a", "shape": [2]}]))
    (files / "badshape.json").write_text(json.dumps([{"name": "a", "shape": [-1]}]))
    (files / "partial.json").write_text(json.dumps([{"name": "a", "shape": [None, 2]}]))
    code, out, err = run(capsys, *argv)
    assert code == 2 and fragment in err and err.startswith(f"initreg {argv[0]}: error:")


def test_argparse_usage_errors_exit_2(files, capsys):
    for argv in (["explain", "rules.toml"], ["init", "--params", "spec.json", "-o", "x.npz"],
                 ["explain", "rules.toml", "--params", "spec.json", "--json", "--markdown"],
                 ["explain", "rules.toml", "--params", "spec.json", "--seed", "-1"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2


# --- init -----------------------------------------------------------------------------------------------

def test_init_writes_what_initialize_draws(files, capsys):
    code, out, err = run(capsys, "init", "--params", "spec.json", "--rules", "rules.toml", "-o", "out.safetensors")
    assert code == 0 and out.startswith("wrote out.safetensors: 3 parameters, 36 values") and "seed 3" in out
    from safetensors.numpy import load_file

    got = load_file("out.safetensors")
    pd = ParameterDict([Parameter(e["name"], tuple(e["shape"]), e.get("dtype", "float32")) for e in SPEC])
    pd.initialize(Rules.load("rules.toml"))  # the library with the file's seed
    assert set(got) == set(pd.keys())
    for name, p in pd.items():
        assert got[name].dtype == p.dtype and np.array_equal(got[name], p.data())
    assert np.all(got["enc.bias"] == 0) and np.all(got["ln.gamma"] == 1)


def test_same_seed_same_bytes_and_seed_flag(files, capsys):
    args = ["init", "--params", "spec.json", "--rules", "rules.toml", "-q"]
    assert run(capsys, *args, "-o", "a.safetensors")[0] == 0
    assert run(capsys, *args, "-o", "b.safetensors")[0] == 0
    assert run(capsys, *args, "--seed", "3", "-o", "c.safetensors")[0] == 0
    assert run(capsys, *args, "--seed", "4", "-o", "d.safetensors")[0] == 0
    a, b, c, d = ((files / f"{x}.safetensors").read_bytes() for x in "abcd")
    assert a == b == c and a != d


def test_npz_output_and_dtype_flag(files, capsys):
    code, _, _ = run(capsys, "init", "--params", "spec.json", "--rules", "rules.toml", "--dtype", "float16",
                     "-o", "out.npz")
    with np.load("out.npz") as z:
        assert code == 0 and sorted(z.files) == sorted(e["name"] for e in SPEC)
        assert all(z[n].dtype == np.float16 for n in z.files) and z["enc.weight"].shape == (6, 4)


def test_no_seed_anywhere_prints_the_one_used(files, capsys):
    (files / "noseed.toml").write_text(RULES.replace("seed = 3\n", ""))
    code, _, err = run(capsys, "init", "--params", "spec.json", "--rules", "noseed.toml", "-q", "-o", "x.safetensors")
    seed = int(err.split("using seed ")[1].split()[0])
    assert code == 0
    assert run(capsys, "init", "--params", "spec.json", "--rules", "noseed.toml", "-q", "--seed", str(seed),
               "-o", "y.safetensors")[0] == 0
    assert (files / "x.safetensors").read_bytes() == (files / "y.safetensors").read_bytes()


def test_init_strict_writes_nothing(files, capsys):
    (files / "bad.toml").write_text(RULES + '\n[[rule]]\npattern = "*.gama"\ninit = "ones"\n')
    code, _, err = run(capsys, "init", "--params", "spec.json", "--rules", "bad.toml", "--strict", "-o", "o.npz")
    assert code == 1 and not (files / "o.npz").exists() and "rule 3 (*.gama) matches no parameter" in err
    code, _, err = run(capsys, "init", "--params", "spec.json", "--rules", "bad.toml", "-o", "o.npz")
    assert code == 0 and "warning: rule 3" in err and (files / "o.npz").exists()


def test_failed_init_leaves_existing_output_untouched(files, capsys):
    # Constant's 3-value array cannot fill a (6, 4) weight: the draw fails after other parameters were drawn.
    (files / "broken.toml").write_text('seed = 0\n\n[[rule]]\npattern = "enc.weight"\ninit = "constant"\n'
                                       'value = [1.0, 2.0, 3.0]\n')
    (files / "out.safetensors").write_bytes(b"old contents")
    code, _, err = run(capsys, "init", "--params", "spec.json", "--rules", "broken.toml", "-o", "out.safetensors")
    assert code == 2 and "enc.weight" in err
    assert (files / "out.safetensors").read_bytes() == b"old contents"
    assert sorted(p.name for p in files.iterdir() if p.name.startswith(".")) == []  # no temporary file left


def test_init_50m_values_reads_back_with_safetensors(files, capsys):
    """About 50 M float32 values: names, shapes and statistics survive safetensors.numpy.load_file."""
    spec = []
    for i in range(6):
        spec += [{"name": f"layers.{i}.weight", "shape": [2048, 4096]}, {"name": f"layers.{i}.bias", "shape": [2048]},
                 {"name": f"layers.{i}.gamma", "shape": [4096]}]
    (files / "big.json").write_text(json.dumps(spec))
    total = sum(math.prod(e["shape"]) for e in spec)
    assert 49_000_000 < total < 51_000_000
    code, out, err = run(capsys, "init", "--params", "big.json", "--rules", "rules.toml", "-o", "big.safetensors")
    assert code == 0 and f"{total:,} values" in out
    assert "100%" in err and "18/18 parameters" in err  # the plain progress bar (stderr is not a terminal here)
    assert {n: (tuple(s), d) for n, (s, d) in read_specs("big.safetensors").items()} == {
        e["name"]: (tuple(e["shape"]), "float32") for e in spec}
    from safetensors.numpy import load_file

    got = load_file("big.safetensors")
    assert set(got) == {e["name"] for e in spec}
    for e in spec:
        v = got[e["name"]]
        assert v.shape == tuple(e["shape"]) and v.dtype == np.float32
        if e["name"].endswith(".weight"):
            # 8.4 M draws of N(0, 0.02²): the mean's standard error is 7e-6 and the std's 5e-6, so these
            # bounds (>= 20 standard errors) hold for a correct draw and fail for any other scale.
            assert abs(float(v.mean(dtype=np.float64))) < 1.5e-4
            assert abs(float(v.std(dtype=np.float64)) - 0.02) < 1e-4
        elif e["name"].endswith(".bias"):
            assert not v.any()
        else:
            assert np.all(v == 1)


def test_progress_only_for_large_models_and_not_with_quiet(files, capsys, monkeypatch):
    args = ["init", "--params", "spec.json", "--rules", "rules.toml", "-o", "p.npz"]
    assert run(capsys, *args)[2] == ""  # 36 values: too small for a bar
    monkeypatch.setattr("initreg.cli.rules.PROGRESS_MIN_VALUES", 10)
    code, _, err = run(capsys, *args)
    assert code == 0 and err.splitlines()[-1] == "initreg init: [##########] 100%  3/3 parameters"
    assert run(capsys, *args, "--quiet") == (0, "", "")


def test_init_npz_output_is_identical_bit_for_bit(tmp_path):
    import time

    from initreg.checkpoints import files as checkpoint

    arrays = {"a.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "a.bias": np.zeros(2, np.float32)}
    first = checkpoint.save(tmp_path / "one.npz", arrays).read_bytes()
    time.sleep(2.1)  # zip timestamps have 2-second resolution
    second = checkpoint.save(tmp_path / "two.npz", arrays).read_bytes()
    assert first == second
