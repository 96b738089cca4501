"""The error contract on generated input, over every public entry point (issue 16).

Each example either succeeds, or raises an InitregError that is also a builtin exception, whose
message names the thing it is about, and changes nothing (parameters, files). Anything else — a raw
exception, a hang, a partly changed parameter — fails the test. The profile in conftest.py fixes the
seed (derandomize=True), so CI runs the same examples every time.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import math
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import initreg
from initreg import Parameter, Rules
from initreg.checkpoints import files as checkpoint
from initreg.errors import InitregError
from initreg.plugins.registry import available

BUILTIN_ERRORS = (ValueError, TypeError, KeyError, IndexError, RuntimeError, OSError, ImportError, LookupError)


def contract(call: Callable[[], Any], *names: str, state: Callable[[], Any] | None = None) -> Any:
    """Run ``call``: its result, or None after checking the InitregError it raised (builtin, names, no change)."""
    before = state() if state else None
    try:
        return call()
    except InitregError as exc:
        assert isinstance(exc, BUILTIN_ERRORS), f"{type(exc).__name__} is not also a builtin error"
        msg = str(exc)
        assert msg.strip(), f"{type(exc).__name__} has an empty message"
        if names:
            assert any(n in msg for n in names), f"message names none of {names}: {msg[:300]}"
        if state:
            assert _same(before, state()), f"state changed by a failed call: {msg[:200]}"
        return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and np.array_equal(a, b, equal_nan=True))
    return a == b


def held(p: Parameter) -> tuple:
    """Everything a parameter holds, comparable."""
    data = tuple(np.array(d, copy=True) for d in p.list_data()) if p.state == "initialized" else ()
    return p.state, p.shape, p.dtype, data, p.record, p.grad_req


# --- strategies ---------------------------------------------------------------------------------------------

floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -0.0, 1e-320, 1e200, -1e308, 0.07])
ints = st.integers(-5, 5) | st.integers() | st.sampled_from([10**400, -(2**63), 2**64])
scalars = st.none() | st.booleans() | ints | floats | st.text(max_size=6) | st.sampled_from(
    ["uniform", "avg", "in", "out", "gaussian", "fan_in", "fan_avg", "normal", "truncated_normal", "zeros", "x.npz"])
small_arrays = hnp.arrays(st.sampled_from(["float32", "float64", "int8", "int64", "bool", "complex64", "U2"]),
                          hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
values = st.recursive(scalars | small_arrays | st.builds(np.float16, st.floats(-1e3, 1e3)),
                      lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
                      | st.dictionaries(st.sampled_from(["@init", "@array", "dtype", "name", "sigma"]), inner, max_size=2),
                      max_leaves=6)
dtypes = st.sampled_from(["float32", "float64", "float16", "int8", "int32", "uint8", "int64"])
shapes = st.lists(st.integers(0, 4), min_size=0, max_size=4).map(tuple)
names = st.sampled_from(["w", "fc.weight", "0.bias", "lstm.weight_hh_l0", "enc.rnn.bias", "bn.gamma"]) | st.text(
    min_size=1, max_size=8)
CLASSES = {info.name: info.cls for info in available()}


@st.composite
def constructor_calls(draw: Any) -> tuple[str, dict[str, Any]]:
    """A registered name and keyword arguments: the constructor's own parameter names, plus now and then a stray one."""
    name = draw(st.sampled_from(sorted(CLASSES)))
    params = [p for p in inspect.signature(CLASSES[name]).parameters.values()
              if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    chosen = draw(st.lists(st.sampled_from(params), unique=True, max_size=len(params))) if params else []
    kwargs = {p.name: draw(values) for p in chosen}
    if draw(st.integers(0, 9)) == 0:
        kwargs[draw(st.sampled_from(["spec", "bogus", "name"]))] = draw(values)
    return name, kwargs


# --- initializers -------------------------------------------------------------------------------------------

@settings(max_examples=300)
@given(constructor_calls(), shapes, dtypes)
def test_constructors_then_values_keep_the_contract(call, shape, dtype):
    name, kwargs = call
    init = contract(lambda: initreg.create(name, **kwargs), CLASSES[name].__name__, name, *kwargs)
    if init is None:
        return
    out = contract(lambda: initreg.values(init, shape, name="w", seed=0, dtype=dtype), "'w'")
    if out is not None:
        assert out.shape == shape and out.dtype == np.dtype(dtype)
        assert out.dtype.kind != "f" or np.isfinite(out).all()
    text = contract(init.dumps, type(init).__name__)
    if text is not None:
        again = contract(lambda: initreg.create(text))
        assert again is None or again == init


@given(constructor_calls(), shapes, dtypes, st.integers(0, 2**70))
def test_calling_an_initializer_is_checked_like_a_parameter(call, shape, dtype, seed):
    init = contract(lambda: initreg.create(call[0], **call[1]))
    assume(init is not None)
    p = Parameter("p", shape, dtype=dtype)
    direct = contract(lambda: init(shape, dtype, seed=seed, name="p"))
    drawn = contract(lambda: p.initialize(init, seed=seed), "'p'", state=lambda: held(p))
    if direct is not None and p.state == "initialized":  # the same values both ways
        assert np.array_equal(direct, p.data())


# --- Parameter, set_data, cast ------------------------------------------------------------------------------

@given(names | st.just("") | st.none() | st.integers(), st.none() | shapes | values, dtypes | values,
       st.sampled_from(["write", "add", "null"]) | values, values)
def test_parameter_constructor_keeps_the_contract(name, shape, dtype, grad_req, layout):
    contract(lambda: Parameter(name, shape, dtype=dtype, grad_req=grad_req, layout=layout), "parameter", "layout",
             "grad_req", "dtype", "shape", "name")


set_data_inputs = (values | hnp.arrays(st.sampled_from(["float64", "float32", "int64", "uint8", "complex128",
                                                         "timedelta64[s]", "U3", "bool", "float16"]),
                                        st.sampled_from([(2, 3), (3, 2), (6,), (2, 3, 1)]),
                                        elements=None)
                   | st.lists(st.lists(floats | ints, min_size=2, max_size=4), min_size=2, max_size=3))


@given(dtypes, set_data_inputs)
def test_set_data_keeps_the_contract(dtype, array):
    p = Parameter("sd.weight", (2, 3), dtype=dtype)
    p.initialize("zeros")
    if contract(lambda: p.set_data(array), "'sd.weight'", state=lambda: held(p)) is None and _changed(p):
        src = np.asarray(array)
        assert src.dtype.kind in "biuf" and src.shape == (2, 3)
        if p.dtype.kind in "iu":  # every value kept exactly: nothing wrapped or truncated
            assert np.array_equal(p.data(), src)
        else:  # rounded to the nearest float as NumPy does, never overflowed to inf
            assert np.array_equal(p.data(), src.astype(p.dtype)) and np.isfinite(p.data()).all()


def _changed(p: Parameter) -> bool:
    return p.record is not None and p.record.get("source") == "set_data"


@given(dtypes, dtypes, hnp.arrays("float64", (3,), elements=st.floats(-1e6, 1e6) | st.sampled_from([1e5, 7e4, 300.0, 2.5])),
       st.booleans())
def test_cast_keeps_the_contract(start, target, data, with_grad):
    p = Parameter("c.w", (3,), dtype="float64")
    p.initialize("zeros")
    p.set_data(np.rint(data) if np.dtype(start).kind in "iu" else data)
    contract(lambda: p.cast(start), "'c.w'", state=lambda: held(p))
    if with_grad:
        p.grad()
    before = p.data().copy()
    if contract(lambda: p.cast(target), "'c.w'", state=lambda: held(p)) is None and p.dtype == np.dtype(target):
        assert np.array_equal(p.data(), before.astype(target))  # what NumPy's cast gives: nothing wrapped or inf


# --- rules, rule files --------------------------------------------------------------------------------------

patterns = st.text(alphabet="ab.*?[]!-^\\(){}+|0123456789:re", max_size=10) | st.sampled_from(
    ["*.bias", "re:(a+)+b", "re:.*\\.weight", "re:(?=a)", "[", "[z-a]", "re:", "", "fc.weight", "re:" + "(" * 300])
specs = st.sampled_from(["zeros", "ones", "normal", "nope", "xavier", '["normal", {"sigma": 0.1}]', '["normal", 1]',
                         "{", "orthogonal"]) | values


@given(st.lists(st.tuples(patterns, specs), max_size=4), specs | st.none(), st.none() | ints,
       st.lists(st.text(alphabet="ab.c", min_size=1, max_size=40), max_size=4, unique=True))
def test_rules_and_plans_keep_the_contract(pairs, default, seed, param_names):
    rules = contract(lambda: Rules(pairs, default=default, seed=seed), "rule", "pattern", "seed", "default")
    if rules is None:
        return
    entries = [initreg.Entry(n, (2, 3)) for n in param_names]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = contract(lambda: initreg.plan(entries, rules, seed=0))
    if plan is not None:
        assert [row.name for row in plan.rows] == param_names


rule_docs = st.fixed_dictionaries({}, optional={
    "seed": ints | values,
    "default": specs | st.dictionaries(st.sampled_from(["init", "sigma", "scale"]), specs | values, max_size=2),
    "rule": st.lists(st.dictionaries(st.sampled_from(["pattern", "init", "sigma", "scale", "spec", "value"]),
                                     patterns | specs | values, max_size=4), max_size=3) | values,
    "extra": values,
})


def _jsonable(doc: Any) -> str | None:
    try:
        return json.dumps(doc, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    except (TypeError, ValueError):
        return None


@settings(max_examples=150)
@given(rule_docs)
def test_json_rule_files_keep_the_contract(doc):
    text = _jsonable(doc)
    assume(text is not None)
    rules = contract(lambda: Rules.loads(text, format="json", source="gen.json"), "gen.json")
    if rules is not None:
        for fmt in ("json", "toml"):
            dumped = contract(lambda: rules.dumps(format=fmt))
            if dumped is not None:
                assert Rules.loads(dumped, format=fmt) == rules


toml_lines = st.sampled_from(['seed = 1', 'seed = -1', 'seed = "x"', f'seed = {"9" * 500}', 'default = "zeros"',
                              'default = { init = "normal", sigma = 1e400 }', '[[rule]]', 'pattern = "*.bias"',
                              'pattern = "re:(a+)+b"', 'pattern = 3', 'init = "zeros"', 'init = "normal"',
                              'sigma = -1.0', 'sigma = nan', 'spec = 1', 'value = [300.0, [1]]', 'x = [[[[[[]]]]]]',
                              'init = { "@init" = ["normal", {}] }', 'sigma = { "@init" = "x" }', "[rule]", '"'])


@given(st.lists(toml_lines, max_size=8))
def test_toml_rule_files_keep_the_contract(lines):
    contract(lambda: Rules.loads("\n".join(lines), format="toml", source="gen.toml"), "gen.toml")


# --- checkpoint readers (a light fuzz: the files issue covers them in depth) -----------------------------------

def _valid_npz(path: Path) -> bytes:
    checkpoint.save(path, {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(2, np.int8)})
    return path.read_bytes()


def _valid_safetensors(path: Path) -> bytes:
    checkpoint.save(path, {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(2, np.int8)})
    return path.read_bytes()


@settings(max_examples=120)
@given(st.sampled_from([".npz", ".safetensors"]), st.data())
def test_checkpoint_readers_keep_the_contract(tmp_path, suffix, data):
    path = tmp_path / f"fuzz{suffix}"
    good = (_valid_npz if suffix == ".npz" else _valid_safetensors)(tmp_path / f"good{suffix}")
    how = data.draw(st.sampled_from(["flip", "truncate", "random", "header"]))
    blob = bytearray(good)
    if how == "flip":
        for i in data.draw(st.lists(st.integers(0, len(blob) - 1), min_size=1, max_size=4)):
            blob[i] = data.draw(st.integers(0, 255))
    elif how == "truncate":
        blob = blob[:data.draw(st.integers(0, len(blob)))]
    elif how == "random":
        blob = bytearray(data.draw(st.binary(max_size=200)))
    else:  # a safetensors-style header of generated JSON
        header = _jsonable(data.draw(st.dictionaries(st.sampled_from(["a", "__metadata__", "b"]), values, max_size=3)))
        assume(header is not None)
        raw = header.encode()
        blob = bytearray(len(raw).to_bytes(8, "little") + raw + bytes(data.draw(st.integers(0, 64))))
    path.write_bytes(bytes(blob))
    specs = contract(lambda: checkpoint.read_specs(path), str(path), "fuzz")
    arrays = contract(lambda: checkpoint.load(path), str(path), "fuzz")
    if specs is not None and arrays is not None:
        assert {k: tuple(v.shape) for k, v in arrays.items()} == {k: tuple(s) for k, (s, _) in specs.items()}
    assert path.read_bytes() == bytes(blob)  # readers never write


tensor_entries = st.fixed_dictionaries({}, optional={
    "dtype": st.sampled_from(["F32", "F16", "I8", "U8", "BOOL", "F64", "X9", "", 5]) | values,
    "shape": st.lists(st.integers(-2, 4) | st.sampled_from([1.9, "2", None, 2**70]), max_size=3) | values,
    "data_offsets": st.lists(st.integers(-1, 80), min_size=0, max_size=3) | values,
})


@settings(max_examples=120)
@given(st.dictionaries(st.sampled_from(["a", "b", "__metadata__"]), tensor_entries, min_size=1, max_size=2),
       st.integers(0, 96))
def test_safetensors_headers_keep_the_contract(tmp_path, header, padding):
    text = _jsonable(header)
    assume(text is not None)
    raw = text.encode()
    path = tmp_path / "h.safetensors"
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + bytes(padding))
    try:
        specs = contract(lambda: checkpoint.read_specs(path), str(path))
        arrays = contract(lambda: checkpoint.load(path), str(path))
    except Exception as exc:  # a raw exception breaks the contract
        raise AssertionError(f"{type(exc).__name__}: {exc}") from exc
    if specs is not None:
        assert all(isinstance(d, int) and d >= 0 for s, _ in specs.values() for d in s), specs
        if arrays is not None:
            assert {k: tuple(v.shape) for k, v in arrays.items()} == {k: tuple(s) for k, (s, _) in specs.items()}


# --- the command line ---------------------------------------------------------------------------------------

@pytest.fixture
def cli_dir(tmp_path, monkeypatch):
    """A working directory holding small inputs the generated command lines may name."""
    (tmp_path / "p.json").write_text('[{"name": "fc.weight", "shape": [3, 2]}, {"name": "fc.bias", "shape": [3]}]')
    (tmp_path / "r.json").write_text('{"seed": 1, "rule": [{"pattern": "*.bias", "init": "zeros"}]}')
    (tmp_path / "r.toml").write_text('default = "normal"\n[[rule]]\npattern = "re:(a+)+b"\ninit = "ones"\n')
    (tmp_path / "bad.json").write_text('{"rule": ' + "[" * 5000 + "]" * 5000 + "}")
    checkpoint.save(tmp_path / "c.npz", {"fc.weight": np.ones((3, 2), np.float32)})
    monkeypatch.chdir(tmp_path)
    return tmp_path


tokens = st.sampled_from(["explain", "init", "show", "plugins", "--params", "p.json", "r.json", "r.toml", "bad.json",
                          "c.npz", "-o", "out.npz", "out.safetensors", "--seed", "7", "-1", "--json", "--markdown",
                          "--strict", "--check", "normal", "zeros", "nope", "--help", "--version", "x.toml", "", "--"])


@settings(max_examples=80)
@given(st.lists(tokens | st.text(max_size=5), max_size=7))
def test_cli_argument_parsing_keeps_the_contract(cli_dir, argv):
    from initreg.cli import main

    assume(not argv or argv[0] != "validate")  # statistical validation runs for seconds: tests/test_cli_* cover it
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: --help/--version exit 0, a usage error exits 2
            code = exc.code
    assert code in (0, 1, 2), (argv, code, err.getvalue()[-300:])
    assert "Traceback" not in err.getvalue() + out.getvalue(), (argv, err.getvalue()[-500:])
    if code != 0:
        assert err.getvalue().strip() or out.getvalue().strip(), f"{argv} failed silently"
