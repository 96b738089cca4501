"""Sparse, Embedded and Exact promises; unchecked and broken initializers; what a run validates."""

from __future__ import annotations

import types

import numpy as np
import pytest
from scipy import stats

import initreg
from initreg.errors import ValidationError
from initreg.validation import Case, assert_valid
from initreg.validation.expected import Embedded, Exact, Orthogonal, Sparse
from initreg.validation.runner import _resolve

SMALL = [Case("m", (256, 64))]


class RowSparse(initreg.Initializer):
    """``k`` N(0, sigma²) values per row at random columns (or, with ``first``, always the first k columns)."""

    name = "rowsparse"

    def __init__(self, k: int = 8, sigma: float = 1.0, first: bool = False, promise_k: int | None = None):
        self.k, self.sigma, self.first, self.promise_k = k, sigma, first, promise_k

    def fill(self, desc, out, rng):
        rows, cols = desc.shape
        out.fill(0)
        gen = rng.generator(0)
        for i in range(rows):
            idx = np.arange(self.k) if self.first else gen.choice(cols, self.k, replace=False)
            out[i, idx] = gen.normal(0, self.sigma, self.k)

    def expected(self, desc):
        return Sparse(self.promise_k or self.k, stats.norm(0, 1.0), axis=1)


def sparse_failures(init):
    return {r.test for r in initreg.validate([init], cases=SMALL).failures()}


def test_a_correct_sparse_initializer_passes_and_each_kind_of_wrong_one_fails_its_own_test():
    assert sparse_failures(RowSparse()) == set()
    assert sparse_failures(RowSparse(first=True)) == {"positions"}          # zeros not at random places
    assert "nonzeros" in sparse_failures(RowSparse(promise_k=9))             # wrong count per row
    assert "variance" in sparse_failures(RowSparse(sigma=1.1))               # non-zero values too wide


class Delta(initreg.Initializer):
    """An orthogonal matrix at the centre tap, zeros elsewhere; ``leak`` adds noise off the centre."""

    name = "delta"

    def __init__(self, leak: float = 0.0):
        self.leak = leak

    def fill(self, desc, out, rng):
        rng.normal(0.0, self.leak or 1.0, out=out)
        if not self.leak:
            out.fill(0)
        centre = np.empty(desc.shape[:2], desc.dtype)
        initreg.std.Orthogonal(1.0).fill(initreg.core.initializer.make_desc("c", centre.shape, desc.dtype), centre, rng)
        out[:, :, 1, 1] = centre

    def expected(self, desc):
        return Embedded((slice(None), slice(None), 1, 1), Orthogonal(1.0))


def test_embedded_checks_the_block_and_everything_around_it():
    cases = [Case("conv", (64, 32, 3, 3))]
    assert initreg.validate([Delta()], cases=cases).passed
    failed = initreg.validate([Delta(leak=1e-6)], cases=cases).failures()
    assert [r.test for r in failed] == ["rest"]
    assert "outside the embedded block" in failed[0].detail


class Thirds(initreg.Initializer):
    """Writes 1/3 computed in float32 while promising the float64 1/3 (not representable: 1 ulp allowed)."""

    name = "thirds"

    def fill(self, desc, out, rng):
        out[...] = np.float32(1.0) / np.float32(3.0)

    def expected(self, desc):
        return Exact(1.0 / 3.0)


def test_exact_values_may_round_to_the_dtype_but_no_further():
    assert initreg.validate([Thirds()], cases=[(64, 64)]).passed
    report = initreg.validate([initreg.std.Constant([1.0, 2.0])], cases=[(64, 2)])
    assert report.passed


class Promises(initreg.Initializer):
    """Normal values with whatever ``expected`` returns (or raises)."""

    name = "promises"

    def __init__(self, what=None, boom: bool = False):
        self.what, self.boom = what, boom

    def fill(self, desc, out, rng):
        rng.normal(0.0, 1.0, out=out)

    def expected(self, desc):
        if self.boom:
            raise RuntimeError("no idea")
        return self.what


def test_no_expected_is_unchecked_never_passed():
    report = initreg.validate([Promises()], cases=[(64, 64)])
    assert report.unchecked and not report.passed and not report.failures()
    assert report.targets[0].verdict == "unchecked"
    assert "NOTHING CHECKED" in report.summary()
    with pytest.raises(AssertionError, match="checked nothing"):
        assert_valid(Promises(), cases=[(64, 64)])


@pytest.mark.parametrize("init, words", [(Promises("a string"), "scipy frozen distribution"),
                                         (Promises(boom=True), "expected() raised RuntimeError: no idea"),
                                         (Promises(Exact(np.zeros(3))), "do not broadcast")])
def test_a_broken_promise_is_a_failure_naming_the_problem(init, words):
    (row,) = initreg.validate([init], cases=[(64, 64)]).failures()
    assert words in row.detail


def test_assert_valid_returns_the_report_or_raises_with_the_failing_rows():
    report = assert_valid(initreg.std.Normal(0.5), cases=[(64, 64)])
    assert report.passed
    with pytest.raises(AssertionError, match=r"variance") as info:
        assert_valid(Promises(stats.norm(0, 2.0)), cases=[(64, 64)])
    assert "FAIL promises" in str(info.value)
    assert "variance" in {r.test for r in info.value.report.failures()}


def test_bad_arguments_are_errors_that_say_how_to_fix_them():
    with pytest.raises(ValidationError, match="alpha must be a number in"):
        initreg.validate(["normal"], alpha=1.5)
    with pytest.raises(ValidationError, match="write it like 64,32,3,3"):
        initreg.validate(["normal"], cases=["64,x"])
    with pytest.raises(ValidationError, match="float32, float64"):
        initreg.validate(["normal"], cases=[Case("h", (8, 8), "float16")])
    with pytest.raises(KeyError, match="no initializer named 'nosuch'"):
        initreg.validate(["nosuch"])


def test_a_run_without_names_includes_third_party_initializers_and_reports_those_it_cannot_build(tmp_path):
    class NeedsArgs(initreg.Initializer):
        name = "needsargs"

        def __init__(self, width):
            self.width = width

    mod = types.ModuleType("nb_validation")

    @initreg.hookimpl
    def initreg_register_initializers(register):
        register(RowSparse)
        register(NeedsArgs)

    mod.initreg_register_initializers = initreg_register_initializers
    initreg.register_plugin(mod)
    try:
        targets = {t.label: (t, init, reason) for t, init, reason in _resolve(None, tuple(SMALL), tmp_path, 0)}
        assert isinstance(targets["rowsparse"][1], RowSparse) and targets["rowsparse"][0].plugin == "nb_validation"
        target, init, (verdict, reason) = targets["needsargs"]
        assert init is None and verdict == "unchecked" and "needs constructor arguments" in reason
        assert {"normal", "xavier", "orthogonal"} <= set(targets)
    finally:
        initreg.unregister_plugin(mod)


def test_the_structured_plugin_declares_and_passes_its_promises():
    pytest.importorskip("initreg_structured")
    report = initreg.validate(["sparse", "deltaorthogonal", "identity"],
                              cases=[Case("w", (128, 96)), Case("conv", (64, 32, 3, 3))])
    assert report.passed, report.failure_text()
    tests = {(r.initializer, r.test) for r in report.rows if r.verdict == "pass"}
    assert {("sparse", "nonzeros"), ("sparse", "positions"), ("deltaorthogonal", "rest"),
            ("deltaorthogonal", "orthogonal"), ("identity", "exact")} <= tests


class VectorOnly(initreg.Initializer):
    """Fills 1-D parameters only (a bias initializer)."""

    name = "vectoronly"

    def fill(self, desc, out, rng):
        if desc.ndim != 1:
            raise initreg.ShapeError(f"VectorOnly: {desc.name!r} must be 1-D")
        rng.uniform(-1.0, 1.0, out=out)

    def expected(self, desc):
        return stats.uniform(-1.0, 2.0)


def test_an_initializer_that_takes_no_default_case_is_tried_on_a_vector():
    report = initreg.validate([VectorOnly()])
    assert report.passed
    assert [c.case for c in report.cases] == ["vector"]
    assert sum(r.verdict == "skipped" for r in report.rows) == 4


class Flaky(initreg.Initializer):
    """Works once, then raises: a second fill of the same parameter is no replay."""

    name = "flaky"

    def __init__(self):
        self.calls = 0

    def fill(self, desc, out, rng):
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("out of values")
        rng.normal(0.0, 1.0, out=out)

    def expected(self, desc):
        return stats.norm(0.0, 1.0)


def test_an_initializer_that_raises_fails_its_rows_and_the_run_goes_on():
    report = initreg.validate([Flaky(), "zero"], cases=[(64, 64)])
    (row,) = report.failures()
    assert (row.initializer, row.test) == ("flaky", "reproducible")
    assert "RuntimeError: out of values" in row.detail
    assert report.verdict("zero") == "pass"
