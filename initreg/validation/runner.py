"""validate(): fill real parameters with each initializer, test them, correct for multiplicity, report."""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from ..core.device import to_numpy
from ..errors import ShapeError, ValidationError
from ..core.initializer import Initializer, make_desc
from ..plugins.specs import create
from ..parameters.parameter import Parameter
from ..core.stream import choose_seed, seed_source
from . import stats as st
from .cases import FALLBACK_CASES, Case, as_cases
from .checks import MIN_VALUES, Outcome, check, is_random, lag1_check, stream_checks
from .examples import examples, label_of
from .keychecks import BIRTHDAY_NAMES, birthday_check, confusable_check
from .regiontruth import region_check
from .report import CaseResult, Report, Row, Target
from .values import pooled_kurtosis

Progress = Callable[[int, int, str], None]
#: rows about the stream (same bits again, other names and seeds, regions), not about the promised distribution
STREAM_TESTS = ("reproducible", "other-name", "other-seed", "confusable-names", "key-collisions", "regions")
#: the birthday test runs on cases of at least this many values (the default cases; not the small calibration runs)
BIRTHDAY_CASE_MIN = 1 << 16


def validate(names: Any = None, cases: Any = None, seed: int | None = 0, alpha: float = 1e-3, *,
             dtype: str | None = None, progress: Progress | None = None) -> Report:
    """Validate initializers against the distributions they promise; the Report says what passed.

    ``names``: None (every installed initializer), or registered names, specs, Initializer instances or
    classes. ``cases``: None (the defaults) or shapes / Case objects. ``seed=None`` draws a fresh seed
    (reported). ``alpha``: the family-wise error rate of the whole run (Holm).
    """
    return validate_each([names], cases, seed, alpha, dtype=dtype, progress=progress)[0]


def validate_each(groups: list[Any], cases: Any = None, seed: int | None = 0, alpha: float = 1e-3, *,
                  dtype: str | None = None, progress: Progress | None = None) -> list[Report]:
    """One Report per group of names (each as ``validate`` takes them), all in one Holm family of size ``alpha``.

    The pytest plugin's items use this: a session of many items then fails at random no more often than
    ``alpha``, as one CLI run does.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValidationError(f"alpha must be a number in (0, 1), got {alpha!r}; the default is 1e-3")
    fresh = seed_source(seed, use_global=False) == "fresh"
    seed = choose_seed(seed, use_global=False)
    explicit = cases is not None
    case_list = as_cases(cases, dtype)
    parts: list[tuple[list[Row], list, list[CaseResult], float]] = []
    with tempfile.TemporaryDirectory(prefix="initreg-validate-") as tmp:
        resolved = [_resolve(names, case_list, Path(tmp), seed) for names in groups]
        total = sum(len(case_list) for targets in resolved for _, init, _ in targets if init is not None)
        done = 0
        for targets in resolved:
            started = time.perf_counter()
            rows: list[Row] = []
            results: list[CaseResult] = []
            for target, init, reason in targets:
                if init is None:
                    rows.append(Row(target.label, "–", "expected", None, None, None, reason[0], reason[1]))
                    continue

                def tick(case: Case, target: Target = target) -> None:
                    nonlocal done, total
                    done += 1
                    total = max(total, done)  # a fallback case adds one step beyond the plan
                    if progress is not None:
                        progress(done, total, f"{target.label} [{case.label}]")
                rows += _run_target(target, init, case_list, explicit, seed, results, tick)
            parts.append((rows, targets, results, time.perf_counter() - started))
    everything = [r for rows, _, _, _ in parts for r in rows]
    adjust(everything, alpha)
    family = sum(1 for r in everything if r.p_value is not None)
    reports = []
    for rows, targets, results, seconds in parts:
        judge(targets, rows)
        reports.append(Report(rows=rows, targets=[t for t, _, _ in targets], cases=results, seed=seed,
                              alpha=float(alpha), fresh_seed=fresh, seconds=seconds,
                              family=family if len(parts) > 1 else None))
    return reports


# --- what to validate -----------------------------------------------------------------------------

def _resolve(names: Any, cases: tuple[Case, ...], directory: Path,
             seed: int) -> list[tuple[Target, Initializer | None, tuple[str, str]]]:
    """(Target, instance or None, (verdict, reason) when None) for every configuration to validate."""
    from ..plugins import registry

    out: list[tuple[Target, Initializer | None, tuple[str, str]]] = []
    infos = registry.available()
    claims: dict[str, int] = {}
    for info in infos:
        claims[info.name] = claims.get(info.name, 0) + 1
    if names is None:  # every registration, each through its own distribution: a shared name never aborts the run
        items: Iterable[Any] = infos
    elif isinstance(names, (str, Initializer, type)):
        items = [names]
    else:
        items = list(names)
    for item in items:
        info = item if isinstance(item, registry.InitializerInfo) else (
            registry.lookup(item) if isinstance(item, str) and _is_registered(item) else None)
        if info is not None:
            label = f"{info.distribution}:{info.name}" if claims.get(info.name, 0) > 1 else info.name
            try:
                found = examples(info, create, cases, directory, seed, label)
            except Exception as exc:  # the standard catalog's own examples (a tutorial mixture, a .npz to load)
                found = [(label, None, ("fail", f"building it raised {type(exc).__name__}: {exc}"))]
            for text, init, reason in found:
                target = _target(text, init) if init is not None else Target(text, info.name, info.distribution, None)
                out.append((target, init, reason))
        else:
            init = create(item)
            out.append((_target(label_of(init.name, init.explicit_config()), init), init, ("", "")))
    seen: dict[str, int] = {}
    for target, _, _ in out:  # one label per configuration, even when a name is given twice
        seen[target.label] = seen.get(target.label, 0) + 1
        if seen[target.label] > 1:
            target.label = f"{target.label}#{seen[target.label]}"
    return out


def _is_registered(spec: str) -> bool:
    from ..plugins import registry
    from ..errors import UnknownInitializerError

    if spec.lstrip().startswith(("[", "{")):
        return False
    try:
        registry.lookup(spec)
    except UnknownInitializerError:
        return False
    return True


def _target(label: str, init: Initializer) -> Target:
    from ..plugins import registry

    try:
        spec = init.dumps()
    except Exception:  # a config that is not JSON (an open file, a lambda): the label still names it
        spec = None
    return Target(label, init.name, registry.plugin_of(init), spec)


# --- running ------------------------------------------------------------------------------------

def _run_target(target: Target, init: Initializer, cases: tuple[Case, ...], explicit: bool, seed: int,
                results: list[CaseResult], tick: Callable[[Case], None]) -> list[Row]:
    rows: list[Row] = []
    applicable = 0
    pending = list(cases)
    seen: list[Outcome] = []
    while pending:
        case = pending.pop(0)
        result = CaseResult(target.label, case.label, case.shape, case.dtype)
        # stream contracts are properties of the name, not the shape: checked on the first case that applies
        outcomes, status = _run_case(init, target.label, case, seed, result.plot, streams=applicable == 0)
        seen += outcomes
        tick(case)
        if status == "n/a" and not explicit:
            rows.append(Row(target.label, case.label, "applicable", None, None, None, "skipped", outcomes[0].detail))
        else:
            applicable += 1
            if result.plot:
                results.append(result)
            rows += [as_row(target.label, case.label, o) for o in outcomes]
        if not pending and applicable == 0 and not explicit and case not in FALLBACK_CASES:
            pending = list(FALLBACK_CASES)
    rows += [as_row(target.label, "all", o) for o in pooled_kurtosis(seen)]
    return rows


def _run_case(init: Initializer, label: str, case: Case, seed: int, plot: dict,
              streams: bool) -> tuple[list[Outcome], str]:
    """The outcomes of one case and a status: "ok", "n/a" (the shape does not apply), "unchecked"."""
    desc = make_desc(case.name, case.shape, case.dtype, layout=case.layout)
    try:
        x = _fill(init, case, case.name, seed)
    except Exception as exc:  # a broken third-party initializer fails its row; the run goes on
        if isinstance(exc.__cause__, ShapeError):
            return [Outcome("applicable", detail=str(exc.__cause__))], "n/a"
        return [Outcome("fill", passed=False, detail=f"{type(exc).__name__}: {exc}")], "ok"
    try:
        expected = init.expected(desc)
    except ShapeError as exc:
        return [Outcome("applicable", detail=str(exc))], "n/a"
    except Exception as exc:
        return [Outcome("expected", passed=False, detail=f"expected() raised {type(exc).__name__}: {exc}")], "ok"
    if expected is None:
        return [Outcome("expected", detail=f"{label} declares no expected distribution for this case")], "unchecked"
    try:
        outcomes = check(expected, x, f"{label}.expected()", plot)
    except Exception as exc:  # a malformed promise fails this initializer's case; the run goes on
        return [promise_failed(exc)], "ok"
    outcomes += region_check(init, x, case.name, seed, case.layout)
    random = is_random(expected)
    if random:
        outcomes += lag1_check(x) if not _orthogonal(expected) else [Outcome(
            "lag-1", detail="skipped: orthogonal rows or columns make neighbours' products sum to 0 (see haar)")]
    if streams:
        others: dict[str, dict[str, np.ndarray]] = {"other-name": {}, "other-seed": {}}
        try:
            again = _fill(init, case, case.name, seed)
            if random:
                for name in name_variants(case.name):
                    others["other-name"][repr(name)] = _fill(init, case, name, seed)
                for other in seed_variants(seed):
                    others["other-seed"][f"seed {other}"] = _fill(init, case, case.name, other)
        except Exception as exc:
            return outcomes + [Outcome("reproducible", passed=False, detail=f"filling again raised "
                                                                            f"{type(exc).__name__}: {exc}")], "ok"
        outcomes += stream_checks(x, again, others)
        if random:
            try:
                outcomes += confusable_check(lambda name: _fill(init, case, name, seed), case.name)
            except Exception as exc:
                outcomes.append(Outcome("confusable-names", passed=False, detail=f"filling a confusable name raised "
                                                                                 f"{type(exc).__name__}: {exc}"))
            outcomes += _birthday(init, case, seed, expected)
    return outcomes, "ok"


def promise_failed(exc: Exception) -> Outcome:
    """The failing "expected" outcome of a promise that could not be checked: what raised, and why."""
    if isinstance(exc, ValidationError):
        return Outcome("expected", passed=False, detail=str(exc))
    return Outcome("expected", passed=False, detail=f"checking the promise raised {type(exc).__name__}: {exc} (a "
                                                    f"malformed expected() result)")


def _birthday(init: Initializer, case: Case, seed: int, expected: Any) -> list[Outcome]:
    """The birthday test on BIRTHDAY_NAMES small parameters of the case's rank (4 per axis, 16 for a vector)."""
    from ..core.stream import Stream
    from ..planning.regions import draw
    from .dists import is_distribution, parts

    if math.prod(case.shape) < BIRTHDAY_CASE_MIN:  # ~1000 small fills: worth it on full-size runs only
        return [Outcome("key-collisions", detail=f"skipped: cases under {BIRTHDAY_CASE_MIN} values skip the birthday "
                                                 f"test (it costs {BIRTHDAY_NAMES} small fills whatever the case)")]
    small = tuple(min(d, 4) for d in case.shape) if len(case.shape) > 1 else (min(case.shape[0], 16),)
    leaf = case.name.rsplit(".", 1)[-1]
    names = [f"birthday.{i}.{leaf}" for i in range(BIRTHDAY_NAMES)]

    def one(name: str) -> np.ndarray:
        desc = make_desc(name, small, case.dtype, layout=case.layout)
        return to_numpy(draw(init, desc, Stream(seed, name)))
    per_value = 0.0
    if is_distribution(expected):  # promised atoms coincide with probability Σw² per value
        per_value = sum(w * w for w, _ in parts(expected, "expected()").atoms)
    try:
        return birthday_check(one, names, per_value)
    except Exception as exc:  # e.g. a shape of 4 per axis that the initializer rejects
        return [Outcome("key-collisions", detail=f"skipped: a {small} parameter raised {type(exc).__name__}: {exc}")]


def name_variants(name: str) -> list[str]:
    """One name per dotted part with that part's last character changed (same length): keys must use every part."""
    parts = name.split(".")
    out = []
    for i, part in enumerate(parts):
        last = part[-1:] or "x"
        swapped = part[:-1] + ("y" if last != "y" else "z")
        out.append(".".join(parts[:i] + [swapped] + parts[i + 1:]))
    return out + ["twin." + name]


def seed_variants(seed: int) -> list[int]:
    """Seeds that differ from ``seed`` in the lowest bit, above 32 bits and above 64 bits: keys must use all of it."""
    return [seed ^ 1, seed + (1 << 32), seed + (1 << 64)]


def _orthogonal(expected: Any) -> bool:
    from ..core.expected import Embedded, Orthogonal

    return isinstance(expected, Orthogonal) or (isinstance(expected, Embedded) and _orthogonal(expected.inner))


def _fill(init: Initializer, case: Case, name: str, seed: int) -> np.ndarray:
    """Values through the normal path: a Parameter of the case's shape, initialized with ``init``."""
    param = Parameter(name, shape=case.shape, dtype=case.dtype, layout=case.layout)
    param.initialize(init, seed=seed)
    return np.ascontiguousarray(to_numpy(param.data()))


def as_row(label: str, case: str, o: Outcome) -> Row:
    """The report row of one outcome (statistical ones stay pending until adjust())."""
    if o.p_value is not None:
        verdict = "pending"
    elif o.test == "expected" and o.passed is None:
        verdict = "unchecked"
    else:
        verdict = {True: "pass", False: "fail", None: "skipped"}[o.passed]
    return Row(label, case, o.test, _f(o.statistic), _f(o.p_value), None, verdict, o.detail)


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


# --- multiplicity and verdicts --------------------------------------------------------------------

def adjust(rows: list[Row], alpha: float) -> None:
    """Holm over every p-value of the run: the chance that any correct initializer fails is ≤ alpha."""
    tested = [r for r in rows if r.p_value is not None]
    for r in tested:
        if math.isnan(r.p_value):  # an undefined statistic is a failure, never a pass
            r.p_value = 0.0
            r.detail += " (statistic undefined: NaN)"
    adjusted = st.holm([r.p_value for r in tested])
    for r, a in zip(tested, adjusted):
        r.adjusted = a
        r.verdict = "fail" if a <= alpha else "pass"


def judge(targets: list[tuple[Target, Any, tuple[str, str]]], rows: list[Row]) -> None:
    """Each target's verdict from its rows: fail, pass, or unchecked (with the reason)."""
    for target, init, (verdict, reason) in targets:
        mine = [r for r in rows if r.initializer == target.label]
        if init is None:
            target.verdict, target.reason = verdict, reason
        elif any(r.verdict == "fail" for r in mine):
            target.verdict = "fail"
            target.reason = "; ".join(sorted({f"{r.case}: {r.test}" for r in mine if r.verdict == "fail"}))
        elif any(r.verdict == "pass" and r.test not in STREAM_TESTS for r in mine):
            target.verdict = "pass"
            target.reason = ""
        elif any(r.verdict == "pass" for r in mine):  # only the stream contracts ran: the promise is untested
            skipped = sorted({f"{r.test} {r.detail}" for r in mine if r.verdict == "skipped" and r.test == "ks"})
            target.verdict = "unchecked"
            target.reason = ("insufficient: no test of its promise ran, only the stream contracts (cases too small; "
                             + ("; ".join(skipped) or f"the tests need {MIN_VALUES} values") + ")")
        else:
            unchecked = [r.detail for r in mine if r.verdict == "unchecked"]
            target.verdict = "unchecked"
            target.reason = unchecked[0] if unchecked else "no case applies: " + "; ".join(
                sorted({r.detail for r in mine if r.verdict == "skipped"}))[:300]
