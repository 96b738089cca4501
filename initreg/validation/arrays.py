"""``initreg.check``: test arrays you already have against the distributions their rules promise."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..checkpoints.provenance import RULES_KEY, SEED_KEY  # noqa: F401 - public here too
from ..errors import CheckpointError, ValidationError
from ..core.initializer import Initializer, make_desc
from .checks import Outcome, check as check_values, finite_check, is_random, lag1_check
from .regiontruth import region_check
from .report import CaseResult, Report, Row, Target
from .runner import adjust, as_row, judge, promise_failed

#: the smallest sample= (the statistical tests need thousands of values each)
MIN_SAMPLE = 10_000


def check(arrays: Any, init: Any = None, *, seed: int | None = None, alpha: float = 1e-3,
          layout: str = "OI", ties: Any = (), model: Any = None, sample: int | None = None,
          vars: Mapping[str, Any] | None = None) -> Report:
    """Test each named array against what the initializer its rule assigns promises; the same Report as validate.

    ``arrays``: name → array (NumPy, anything with ``__array__`` or DLPack, e.g. a PyTorch ``state_dict()``), or a
    ``torch.nn.Module`` (its parameters, planned as ``model`` below). ``init``: Rules, {pattern: initializer}, or
    one initializer for every name. ``model``: a ``torch.nn.Module`` (may be on the meta device) whose modules'
    declared defaults cover the names the rules leave, as ``initreg.torch.initialize`` would (explicit > rule >
    declared > default); its tied parameters are ``ties``. ``seed``: when given (as recorded in a checkpoint's
    provenance), each array must also equal, bit for bit, what initreg makes from it. ``ties``: pairs of names
    that should hold the same values (tied weights); every other pair of randomly initialized arrays must not
    (the ``copies`` test). ``sample``: arrays of more than this many values are tested on a fixed random subset
    of that many values plus one-pass tests of every value (docs/validation.md, "Sampling"); None tests all.
    ``vars``: variables for the rules' expressions, over their own ``[vars]`` (as ``initreg.plan`` takes them).
    """
    from ..core.stream import check_seed
    from .model import is_torch_module, module_arrays

    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValidationError(f"alpha must be a number in (0, 1), got {alpha!r}; the default is 1e-3")
    if sample is not None and (isinstance(sample, bool) or not isinstance(sample, int) or sample < MIN_SAMPLE):
        raise ValidationError(f"sample must be an integer of at least {MIN_SAMPLE} (values per array), got "
                              f"{sample!r}; None (the default) tests every value")
    if vars is not None:
        from ..planning.precedence import applied_rules

        ruled = applied_rules(init, vars)
        if ruled is None:
            raise ValidationError(f"vars={dict(vars)!r} given, but init={init!r} has no rules for them to fill in; "
                                  f"pass rules (a rule file, {{pattern: initializer}} or 'recipe:NAME')")
        init = ruled
    if model is not None and not is_torch_module(model):
        raise ValidationError(f"model must be a torch.nn.Module (its declared defaults plan the names the rules "
                              f"leave), got {type(model).__name__}")
    if is_torch_module(arrays):
        model = arrays if model is None else model
        arrays = module_arrays(arrays)
    if not isinstance(arrays, Mapping):
        raise ValidationError(f"arrays must be a mapping name → array (e.g. model.state_dict()) or a torch.nn.Module, "
                              f"got {type(arrays).__name__}")
    seed = None if seed is None else check_seed(seed)  # a rule file's own seed is no proof the arrays came from it
    held = {str(name): as_numpy(value, str(name)) for name, value in arrays.items()}
    started = time.perf_counter()
    chosen, tied, owned = {}, [], set()
    if model is not None:
        from .model import module_plan

        planned, tied, owned = module_plan(model, init)
        chosen = {name: i for name, i in planned.items() if name in held}
    chosen.update(_choices({n: x for n, x in held.items() if n not in owned}, init, layout))  # buffers, other arrays
    rows: list[Row] = []
    targets: list[tuple[Target, Any, tuple[str, str]]] = []
    results: list[CaseResult] = []
    copies = _copies(held, chosen, layout, ties, tied)
    for name, x in held.items():
        case = "x".join(str(d) for d in x.shape) or "scalar"
        picked = chosen.get(name)
        if picked is None:
            why = "no rule matches this name" if init is not None else "no rules were given"
            why += " and its module declares no default" if model is not None else ""
            targets.append((Target(name, "–", "–", None), None, ("unchecked", why)))
            rows.append(Row(name, case, "rule", None, None, None, "unchecked", why))
            continue
        target = _target(name, picked)
        targets.append((target, picked, ("", "")))
        result = CaseResult(name, case, x.shape, str(x.dtype))
        outcomes = _outcomes(picked, name, x, layout, seed, result.plot, sample)
        outcomes += copies.get(name, [])
        if result.plot:
            results.append(result)
        rows += [as_row(name, case, o) for o in outcomes]
    adjust(rows, alpha)
    judge(targets, rows)
    return Report(rows=rows, targets=[t for t, _, _ in targets], cases=results, seed=seed,
                  alpha=float(alpha), seconds=time.perf_counter() - started)


def _copies(held: Mapping[str, np.ndarray], chosen: Mapping[str, Initializer], layout: str, ties: Any,
            tied: list[tuple[str, str]]) -> dict:
    """The ``copies`` outcome of each array whose rule promises random values (exact ones may well repeat)."""
    from .crosscheck import copies_check, displaced_check

    try:
        pairs = [tuple(map(str, t)) for t in ties]
    except TypeError:
        raise ValidationError(f"ties must be pairs of names, e.g. [('lm_head.weight', 'wte.weight')], got "
                              f"{ties!r}") from None
    if any(len(t) != 2 for t in pairs):
        raise ValidationError(f"ties must be pairs of names, e.g. [('lm_head.weight', 'wte.weight')], got {ties!r}")
    pairs += tied
    random, atoms = {}, {}
    for name, init in chosen.items():
        x = held[name]
        try:
            promise = init.expected(make_desc(name, x.shape, np.float32, layout=layout))
            if promise is not None and is_random(promise):
                atoms[name] = _atom_values(promise)
                random[name] = x
        except Exception:  # the array's own row reports a broken expected()
            continue
    found: dict[str, list] = {}
    for check_ in (copies_check(random, pairs), displaced_check(random, atoms, pairs)):
        for name, outcome in check_.items():
            found.setdefault(name, []).append(outcome)
    return found


def _atom_values(promise: Any) -> list[float]:
    """The values a random promise puts probability on (its atoms, an Embedded's rest): they repeat by design."""
    from ..core.expected import Embedded, Sparse
    from .dists import is_distribution, parts

    if isinstance(promise, Embedded):
        return np.unique(np.asarray(promise.rest, dtype=np.float64)).tolist() + _atom_values(promise.inner)
    if isinstance(promise, Sparse):
        return _atom_values(promise.dist)
    return [v for _, v in parts(promise).atoms] if is_distribution(promise) else []


def _choices(held: Mapping[str, np.ndarray], init: Any, layout: str) -> dict[str, Initializer]:
    """What the one precedence path (``initreg.plan``) assigns each array; names only the global default takes are left out."""
    if init is None:
        return {}
    from ..planning.explanation import plan
    from ..planning.precedence import Entry

    entries = [Entry(name, x.shape, str(x.dtype), layout) for name, x in held.items()]
    return {row.name: row.initializer for row in plan(entries, init) if row.source != "global default"}


def _target(name: str, init: Initializer) -> Target:
    from ..plugins import registry

    try:
        spec = init.dumps()
    except Exception:  # a config that is not JSON: the name still identifies the row
        spec = None
    return Target(name, init.name, registry.plugin_of(init), spec)


def as_numpy(value: Any, name: str) -> np.ndarray:
    """A host NumPy view or copy of an array-like (DLPack first: PyTorch, JAX, CuPy; then ``__array__``)."""
    if isinstance(value, np.ndarray):
        return np.ascontiguousarray(value)
    if hasattr(value, "detach"):  # a PyTorch tensor: off the autograd graph and onto the host
        if getattr(value, "is_meta", False):
            raise ValidationError(f"array {name!r} is on the meta device and holds no values; initialize the model "
                                  f"(initreg.torch.initialize) or check a model built off the meta device")
        value = value.detach().cpu()
        if str(getattr(value, "dtype", "")) == "torch.bfloat16":  # neither DLPack nor __array__ knows bfloat16
            return _torch_bfloat16(value, name)
    if hasattr(value, "__dlpack__"):
        try:
            return np.ascontiguousarray(np.from_dlpack(value))
        except (TypeError, RuntimeError, BufferError, ValueError):
            pass  # e.g. a dtype NumPy's DLPack import does not know (bfloat16): try __array__
    try:
        return np.ascontiguousarray(np.asarray(value))
    except Exception as exc:
        raise ValidationError(f"array {name!r}: cannot read a {type(value).__name__} as an array ({exc}); pass a "
                              f"NumPy array or anything with __array__ or __dlpack__") from None


def _torch_bfloat16(value: Any, name: str) -> np.ndarray:
    """A PyTorch bfloat16 tensor as an ml_dtypes bfloat16 array (the type JAX hands over), bits unchanged."""
    try:
        import ml_dtypes
    except ImportError:
        raise ValidationError(f"array {name!r} is a bfloat16 tensor; reading it needs the ml_dtypes package "
                              f"(pip install ml_dtypes, or install JAX, which brings it)") from None
    import torch

    return np.ascontiguousarray(value.contiguous().view(torch.int16).numpy().view(ml_dtypes.bfloat16))


def _outcomes(init: Initializer, name: str, x: np.ndarray, layout: str, seed: int | None,
              plot: dict, sample: int | None = None) -> list[Outcome]:
    """The distribution tests of ``x`` (and its bits against a regeneration when the seed is known)."""
    from . import lowprec

    low = lowprec.is_low(x.dtype)
    if x.dtype not in (np.float32, np.float64) and not low:
        exact = _exact_promise(init, name, x, layout) if x.dtype.kind in "iub" else None
        if exact is not None:  # a count such as BatchNorm's num_batches_tracked: zeros are zeros in any dtype
            return check_values(exact, x, f"{init.name}.expected()", plot)
        return [Outcome("dtype", detail=f"skipped: dtype {x.dtype} is not checked (float64, float32, float16 and "
                                        f"bfloat16 are; integer and bool arrays only against exact values)")]
    bad = finite_check(x)
    if bad is not None:  # a diverged array fails here, before any test that needs finite values
        return [bad] + ([] if seed is None else _seeded(init, name, x, layout, seed))
    sampled = _sampled(init, name, x, layout, plot, sample) if sample is not None and x.size > sample else None
    if sampled is not None:
        return sampled + ([] if seed is None or low else _seeded(init, name, x, layout, seed))
    if low:
        return _low_outcomes(init, name, x, layout, plot)
    desc = make_desc(name, x.shape, x.dtype, layout=layout)
    out: list[Outcome] = []
    try:
        expected = init.expected(desc)
    except Exception as exc:
        return [Outcome("expected", passed=False, detail=f"expected() raised {type(exc).__name__}: {exc}")]
    if expected is None:
        out.append(Outcome("expected", detail=f"{init.name} declares no expected distribution for {name!r}"))
    else:
        try:
            out += check_values(expected, x, f"{init.name}.expected()", plot)
        except Exception as exc:  # a malformed promise fails this array's row; the others are still checked
            return [promise_failed(exc)]
        if is_random(expected) and not _is_orthogonal(expected):
            out += lag1_check(x)
    return out + ([] if seed is None else _seeded(init, name, x, layout, seed))


def _exact_promise(init: Initializer, name: str, x: np.ndarray, layout: str) -> Any:
    """The ``Exact`` promise for an integer or bool array (asked as float64), or None for any other or a failure."""
    from ..core.expected import Exact

    try:
        promise = init.expected(make_desc(name, x.shape, np.float64, layout=layout))
    except Exception:  # the skipped row says the dtype is not checked
        return None
    return promise if isinstance(promise, Exact) else None


def _seeded(init: Initializer, name: str, x: np.ndarray, layout: str, seed: int) -> list[Outcome]:
    """The bits row and, when the bits are initreg's, the region row (regions recomputed must equal them there)."""
    bits = _bits(init, name, x, layout, seed)
    if bits.passed is False:
        return [bits, Outcome("regions", detail="skipped: the array is not initreg's values for this seed (bits row)")]
    return [bits, *region_check(init, x, name, seed, layout)]


def _sampled(init: Initializer, name: str, x: np.ndarray, layout: str, plot: dict, n: int) -> list[Outcome] | None:
    """A distribution promise on a fixed random subset of ``n`` values plus one-pass tests of every value; None
    for other promises (exact and structural ones are checked whole)."""
    from . import lowprec, sampling
    from .dists import is_distribution, parts

    low = lowprec.is_low(x.dtype)
    try:
        expected = init.expected(make_desc(name, x.shape, np.float32 if low else x.dtype, layout=layout))
        promised = parts(expected, f"{init.name}.expected()") if is_distribution(expected) else None
    except Exception:  # the whole path reports a broken expected()
        return None
    if promised is None:
        return None
    sub = sampling.subset(x, n)
    if low:
        out = _low_outcomes(init, name, sub, layout, plot, shape=x.shape)
    else:
        try:
            out = check_values(expected, sub, f"{init.name}.expected()", plot) + lag1_check(sub)
        except Exception as exc:  # a malformed promise fails this array's row
            return [promise_failed(exc)]
    for o in out:
        o.detail = f"sample of {n} of {x.size} values: {o.detail}"
    return out + sampling.whole_checks(promised, x)


def _low_outcomes(init: Initializer, name: str, x: np.ndarray, layout: str, plot: dict,
                  shape: tuple | None = None) -> list[Outcome]:
    """float16/bfloat16: distributions on a dither of each value's rounding cell plus the rounding test; exact
    promises against their values rounded to the format; other promises on the float32 values. ``shape``: the
    parameter's, when ``x`` is a sample of it."""
    from ..core.expected import Exact
    from . import lowprec
    from .dists import Continuous, is_distribution, parts

    desc = make_desc(name, x.shape if shape is None else shape, np.float32, layout=layout)
    try:
        expected = init.expected(desc)
    except Exception as exc:
        return [Outcome("expected", passed=False, detail=f"expected() raised {type(exc).__name__}: {exc}")]
    if expected is None:
        return [Outcome("expected", detail=f"{init.name} declares no expected distribution for {name!r}")]
    try:
        if isinstance(expected, Exact):
            rounded = np.asarray(expected.values, dtype=np.float64).astype(x.dtype).astype(np.float64)
            return check_values(Exact(rounded), x.astype(np.float32), f"{init.name}.expected()", plot)
        if not is_distribution(expected):  # structural promises know the 16-bit formats (tolerances, cells)
            out = check_values(expected, x, f"{init.name}.expected()", plot)
            return out + (lag1_check(x.astype(np.float32)) if is_random(expected) and not _is_orthogonal(expected)
                          else [])
        promised = parts(expected, f"{init.name}.expected()")
        cont = Continuous(promised.continuous) if promised.continuous else None
        out = check_values(expected, lowprec.spread(x, promised), f"{init.name}.expected()", plot)
        if cont is not None:
            weight = sum(w for w, _ in promised.continuous)
            atoms = tuple(v for _, v in promised.atoms)
            bounds = tuple(b for span in cont.intervals() for b in span if np.isfinite(b))
            out += lowprec.rounding_check(x, lambda v: weight * np.asarray(cont.cdf(v)) + sum(
                w * (np.asarray(v) >= a) for w, a in promised.atoms), atoms, bounds)
        return out + lag1_check(x.astype(np.float32))
    except Exception as exc:  # a malformed promise fails this array's row
        return [promise_failed(exc)]


def _is_orthogonal(expected: Any) -> bool:
    from ..core.expected import Embedded, Orthogonal

    return isinstance(expected, Orthogonal) or (isinstance(expected, Embedded) and _is_orthogonal(expected.inner))


def _bits(init: Initializer, name: str, x: np.ndarray, layout: str, seed: int) -> Outcome:
    """Whether ``x`` is, bit for bit, what initreg makes for this name, shape, dtype and seed."""
    from ..core.device import to_numpy
    from ..parameters.parameter import Parameter

    try:
        param = Parameter(name, shape=x.shape, dtype=x.dtype, layout=layout)
        param.initialize(init, seed=seed)
        want = np.ascontiguousarray(to_numpy(param.data()))
    except Exception as exc:
        return Outcome("bits", passed=False, detail=f"regenerating it raised {type(exc).__name__}: {exc}")
    kind = np.dtype(f"u{x.dtype.itemsize}")
    differ = int(np.count_nonzero(want.reshape(-1).view(kind) != x.reshape(-1).view(kind)))
    return Outcome("bits", statistic=float(differ), passed=not differ,
                   detail=f"identical to initreg's values for seed {seed}" if not differ else
                   f"{differ} of {x.size} values differ from initreg's values for seed {seed}")


# --- checkpoints ----------------------------------------------------------------------------------

def read_checkpoint(path: Any) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(name → array, provenance metadata) of a .safetensors/.npz file or a sharded safetensors directory.

    ``path`` may be an open ``Checkpoint``. The files of a sharded checkpoint must record one run (one seed,
    one rules record); the index's own ``metadata`` is added to that record.
    """
    from ..checkpoints.checkpoint import Checkpoint
    from ..checkpoints.provenance import RUN_KEY

    ckpt = path if isinstance(path, Checkpoint) else Checkpoint.open(path)
    arrays = ckpt.arrays()
    metas = {f.name: ckpt.metadata(f) for f in ckpt.files}
    keys = (RULES_KEY, SEED_KEY, RUN_KEY)
    if len({tuple(m.get(k) for k in keys) for m in metas.values()}) > 1:
        raise CheckpointError(f"{str(ckpt.path)!r}: its files record different runs (seeds "
                              f"{sorted({str(m.get(SEED_KEY)) for m in metas.values()})[:4]}, or other rules); a "
                              f"checkpoint's files must come from one initreg init run — pass --rules and --seed to "
                              f"check them anyway")
    meta = next(iter(metas.values()), {})
    if ckpt.index is not None:
        meta = {**meta, **{str(k): str(v) for k, v in ckpt.index.metadata.items()}}
    return arrays, meta


def provenance_rules(meta: Mapping[str, str], directory: Any = ".", own: Any = ()) -> tuple[Any, int | None]:
    """(Rules, seed) recorded in a checkpoint's metadata, or (None, None) when it records none.

    A rule that reads a file (``load``) may only read one inside ``directory``, the checkpoint's, and none of
    its ``own`` files (the arrays being checked).
    """
    from ..checkpoints.provenance import recorded_rules

    return recorded_rules(meta, "checkpoint metadata", Path(directory), own)


__all__ = ["check", "read_checkpoint", "provenance_rules", "as_numpy", "RULES_KEY", "SEED_KEY"]
