"""Each reproducer of issue 16 (items 3 and 5, and the raw exceptions): an InitregError that is also the builtin."""

from __future__ import annotations

import time

import numpy as np
import pytest

import initreg
from initreg import Parameter, Rules
from initreg.checkpoints import files as checkpoint
from initreg.errors import (DTypeError, InitializationError, InitializerArgumentError, InitializerTypeError,
                            InitregError, ParameterValueError, RuleError)
from initreg.planning.patterns import checked_pattern
from initreg.std import Constant, Load, MSRAPrelu, Normal, Uniform


def _held(p: Parameter) -> tuple:
    return p.state, p.dtype, p.shape, p.data().copy(), p.record


def _same(a: tuple, b: tuple) -> bool:
    return a[:3] == b[:3] and np.array_equal(a[3], b[3]) and a[3].dtype == b[3].dtype and a[4] == b[4]


# --- item 3: values that would wrap, round, overflow or are not numbers --------------------------------------

def test_constant_array_that_would_wrap_in_int8_is_refused():
    p = Parameter("w", (2,), dtype="int8")
    with pytest.raises(InitializationError, match=r"'w'.*300.*int8.*-128\.\.127"):
        p.initialize(Constant([300.0, -200.0]))
    assert p.state == "declared"


def test_constant_scalar_that_is_not_a_whole_number_is_refused_for_ints():
    with pytest.raises(InitializationError, match="non-integer"):
        initreg.values(Constant(2.5), (3,), name="w", seed=0, dtype="int32")
    assert np.array_equal(initreg.values(Constant(-3.0), (2,), name="w", seed=0, dtype="int8"), [-3, -3])


@pytest.mark.parametrize("fmt", [".npz", ".safetensors"])
def test_load_of_an_int64_that_does_not_fit_int8_is_refused(tmp_path, fmt):
    path = checkpoint.save(tmp_path / f"c{fmt}", {"w": np.array([1, 1000], np.int64)})
    p = Parameter("w", (2,), dtype="int8")
    with pytest.raises(InitializationError, match=r"1000.*int8"):
        p.initialize(Load(path))
    assert p.state == "declared"
    ok = checkpoint.save(tmp_path / f"d{fmt}", {"w": np.array([1, -100], np.int64)})
    p.initialize(Load(ok))
    assert np.array_equal(p.data(), np.array([1, -100], np.int8))


BAD_DATA = [
    (np.array([np.nan, 1.0]), ParameterValueError, "NaN"),
    (np.array([np.inf, 1.0]), ParameterValueError, "inf"),
    (None, DTypeError, "None"),
    ([1 + 2j, 1], DTypeError, "complex"),
    ("2.5", DTypeError, "'2.5'"),
    (b"1", DTypeError, "b'1'"),
    (np.array([1, 2], "timedelta64[s]"), DTypeError, "timedelta"),
    (["a", "b"], DTypeError, "strings"),
    ([[1.0], [1.0, 2.0]], ParameterValueError, "rectangular"),
    ([1.0, None], DTypeError, "objects"),
]


@pytest.mark.parametrize("array,error,words", BAD_DATA)
def test_set_data_refuses_what_initialize_refuses_and_changes_nothing(array, error, words):
    p = Parameter("w", (2,))
    p.initialize("normal", seed=1)
    before = _held(p)
    with pytest.raises(error, match=words) as info:
        p.set_data(array)
    assert "'w'" in str(info.value) and isinstance(info.value, InitregError)
    assert _same(before, _held(p))


@pytest.mark.parametrize("array,words", [(np.array([np.nan, 1.0]), "NaN"), (np.array([1.5, 2.0]), "non-integer"),
                                          (np.array([2.0**31, 0.0]), "outside the range of int32"),
                                          (np.array([-1, 2]), "outside the range of uint8")])
def test_set_data_into_ints_refuses_values_that_do_not_fit(array, words):
    dtype = "uint8" if array.dtype.kind == "i" else "int32"
    p = Parameter("q", (2,), dtype=dtype)
    p.initialize("zeros")
    before = _held(p)
    with pytest.raises(ParameterValueError, match=words):
        p.set_data(array)
    assert _same(before, _held(p))


def test_set_data_of_fitting_values_converts_them():
    p = Parameter("q", (2,), dtype="int16")
    p.initialize("zeros")
    p.set_data(np.array([3.0, -7.0]))
    assert p.data().dtype == np.int16 and np.array_equal(p.data(), [3, -7])


def test_cast_to_float16_that_would_overflow_to_inf_is_refused_and_changes_nothing():
    p = Parameter("r", (2,))
    p.initialize(Constant(1e5))
    before = _held(p)
    with pytest.raises(ParameterValueError, match=r"'r'.*cast\('float16'\).*65504"):
        p.cast("float16")
    assert _same(before, _held(p))
    p.cast("float64")
    assert p.dtype == np.float64 and np.array_equal(p.data(), [1e5, 1e5])


def test_cast_to_int8_that_would_wrap_is_refused():
    p = Parameter("r", (2,))
    p.initialize(Constant(200.0))
    with pytest.raises(ParameterValueError, match="int8"):
        p.cast("int8")
    assert p.dtype == np.float32


# --- raw exceptions that must be InitregErrors ------------------------------------------------------------

@pytest.mark.parametrize("make,words", [
    (lambda: Normal(sigma=10**400), "sigma must be finite"),
    (lambda: MSRAPrelu(slope=1e200), "slope=1e\\+200 is too large"),
    (lambda: MSRAPrelu(slope=10**400), "slope must be finite"),
    (lambda: Uniform(scale=np.array([1.0, 2.0])), "scale must be a number"),
    (lambda: Uniform(scale=np.array([1.0, 2.0]), low=0.0, high=1.0), "scale must be a number"),
])
def test_constructor_arguments_out_of_float_range_or_arrays_are_argument_errors(make, words):
    with pytest.raises(InitializerArgumentError, match=words):
        make()


def test_create_with_a_spec_keyword_names_it():
    with pytest.raises(InitializerTypeError, match="'spec'"):
        initreg.create("normal", spec=1)


def test_dumps_of_a_longdouble_argument_round_trips():
    init = Normal(sigma=np.longdouble(0.5))
    assert init.dumps() == '["normal", {"sigma": 0.5}]'
    assert initreg.create(init.dumps()) == Normal(sigma=0.5)


@pytest.mark.parametrize("kwargs", [{"context": None}, {"bogus": 1}])  # ctx= and verbose= are accepted (issue 17)
def test_initialize_with_an_unknown_keyword_names_it(kwargs):
    net = initreg.nn.Dense(3, in_units=2)
    with pytest.raises(InitializerTypeError, match=repr(next(iter(kwargs)))) as info:
        net.initialize(**kwargs)
    assert isinstance(info.value, TypeError)
    assert all(p.state == "declared" for p in net.collect_params().values())


# --- rule files (the loading side) ----------------------------------------------------------------------

RULE_FILES = [
    ('{"rule": [{"pattern": "*", "init": "normal", "spec": 1}]}', "'spec'"),
    ('{"rule": [{"pattern": "*", "init": "normal", "sigma": {"@init": "x"}}]}', "nested initializer"),
    ('{"rule": [{"pattern": "*", "init": "normal", "sigma": {"@init": [1, 2]}}]}', "nested initializer"),
    ('{"rule": [{"pattern": "*", "init": "normal", "sigma": ' + "1" * 400 + '}]}', "sigma must be finite"),
    ('{"rule": [{"pattern": "*", "init": "normal", "sigma": ' + "1" * 5001 + '}]}', "invalid JSON.*digits"),
    ('{"seed": ' + "1" * 5001 + '}', "invalid JSON.*digits"),
    ('{"rule": ' + "[" * 100_000 + "]" * 100_000 + '}', "nested too deeply"),
    ('{"rule": [{"pattern": "*", "init": "constant", "value": {"@array": [1], "dtype": "nonsense"}}]}', "nonsense"),
    ('{"rule": [{"pattern": "re:(a)\\\\1", "init": "zeros"}]}', "RE2"),
]


@pytest.mark.parametrize("text,words", RULE_FILES)
def test_bad_json_rule_files_are_rule_errors(text, words):
    with pytest.raises(InitregError, match=words) as info:
        Rules.loads(text, format="json", source="r.json")
    assert isinstance(info.value, ValueError | TypeError | KeyError) and "r.json" in str(info.value)


@pytest.mark.parametrize("text,words", [("a = " + "[" * 100_000 + "]" * 100_000, "nested too deeply"),
                                         ("seed = " + "1" * 5001, "digits"),
                                         ('[[rule]]\npattern = "*"\ninit = "normal"\nspec = 1', "'spec'")])
def test_bad_toml_rule_files_are_rule_errors(text, words):
    with pytest.raises(InitregError, match=words):
        Rules.loads(text, format="toml", source="r.toml")


def test_explain_reports_a_deep_rule_file_as_a_usage_error(tmp_path, capsys):
    from initreg.cli import main

    (tmp_path / "r.json").write_text('{"rule": ' + "[" * 50_000 + "]" * 50_000 + "}")
    (tmp_path / "p.json").write_text('[{"name": "w", "shape": [2, 2]}]')
    code = main(["explain", "--params", str(tmp_path / "p.json"), str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert code != 0 and "nested too deeply" in err and "Traceback" not in err


# --- item 5: patterns in linear time ------------------------------------------------------------------------

def test_a_catastrophic_regex_matches_in_linear_time():
    match = checked_pattern("re:(a+)+b").match
    t0 = time.perf_counter()
    assert not match("a" * 40 + "c") and not match("a" * 100_000 + "c")  # Python's re: hours for the first
    assert match("a" * 1000 + "b")
    assert time.perf_counter() - t0 < 5  # generous for a shared machine; backtracking would never finish


@pytest.mark.parametrize("pattern", [r"re:(a)\1", r"re:a(?=b)", r"re:(?<=a)b", r"re:(?P<x>a)(?P=x)", "re:a++"])
def test_backtracking_constructs_are_refused_saying_why(pattern):
    with pytest.raises(RuleError, match="RE2.*backreferences.*lookahead"):
        checked_pattern(pattern, "rule 1")


def test_a_pattern_nested_too_deeply_is_a_rule_error():
    with pytest.raises(RuleError, match="nested too deeply") as info:
        checked_pattern("re:" + "(" * 10_000)
    assert len(str(info.value)) < 1000


@pytest.mark.parametrize("pattern,name,hit", [("re:layers\\.\\d+\\.weight", "layers.12.weight", True),
                                               ("re:layers\\.\\d+\\.weight", "layers.x.weight", False),
                                               ("re:(?i)FC\\..*", "fc.bias", True),
                                               ("re:w.", "w\udcff", True)])
def test_regex_semantics_are_pythons_full_match(pattern, name, hit):
    assert checked_pattern(pattern).match(name) is hit


# --- the ninth session's attack round: raw exceptions from hostile arguments ----------------------------------

@pytest.mark.parametrize("device, shown", [(0, "0 is not a Device"), ("tpu", "'tpu' is not a Device"),
                                           ([0], "0 is not a Device")])
def test_a_device_that_is_not_a_device_is_a_device_error_naming_it(device, shown):
    with pytest.raises(initreg.DeviceError, match=shown):
        initreg.values("normal", (2,), name="w", seed=0, device=device)


@pytest.mark.parametrize("spec, match", [
    (["normal", {1: 2}], "argument names are strings, got 1"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('["normal", {"sigma": ' + "1" * 5000 + "}]", "is not valid JSON"),
])
def test_hostile_specs_are_initializer_type_errors(spec, match):
    with pytest.raises(InitializerTypeError, match=match) as info:
        initreg.create(spec)
    assert len(str(info.value)) < 800


def test_a_mixture_nested_thousands_deep_is_an_initializer_type_error():
    spec = "normal"
    for _ in range(3000):
        spec = ["mixture", {"components": [spec]}]
    with pytest.raises(InitializerTypeError, match="nested too deeply"):
        initreg.create(spec)


def test_padding_a_scalar_is_a_clear_error():
    with pytest.raises(InitializationError, match="padding_idx=0 zeroes a row, but parameter 'w' is a scalar"):
        initreg.values(["padded_normal", {"padding_idx": 0}], (), name="w", seed=0)
