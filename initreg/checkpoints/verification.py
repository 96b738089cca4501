"""``initreg.verify(path)``: recompute a checkpoint's tensors from the provenance in its metadata alone and
compare the bits: every value, or ``sample`` random regions per tensor through the region API.

Status 0: identical; 1: some tensor differs (each named with its first differing index); 2: the input
cannot be checked (no provenance, another bit algorithm, an initializer whose plugin is not installed).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.shapes import row_slabs
from ..errors import CheckpointError, InitregError

PIECE_BYTES = 32 << 20
SAMPLE_VALUES = 4096  # at most this many values in one sampled region
SHOWN = 20  # notes, problems and mismatches printed of each kind (the result keeps them all)


@dataclass(frozen=True)
class Mismatch:
    """A tensor whose stored bits differ from the recomputed ones, at ``index`` first (C order of the checked part)."""

    file: str
    tensor: str
    index: tuple[int, ...] | None  # None: the tensor is missing or has another shape/dtype
    stored: Any = None
    expected: Any = None
    why: str = ""

    def __str__(self) -> str:
        if self.index is None:
            return f"{self.file}: tensor {self.tensor!r}: {self.why}"
        return (f"{self.file}: tensor {self.tensor!r} differs first at index {self.index}: the file holds "
                f"{self.stored!r}, the provenance gives {self.expected!r}")


@dataclass
class VerifyResult:
    """What verify() found: ``status`` 0 identical, 1 mismatch, 2 not checkable (``problems`` say why)."""

    path: str
    files: list[str] = field(default_factory=list)
    tensors: int = 0  # tensors checked
    values: int = 0  # values compared
    sample: int | None = None
    mismatches: list[Mismatch] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    tolerated: list[str] = field(default_factory=list)  # platform-dependent tensors that matched within tolerance
    notes: list[str] = field(default_factory=list)  # not failures: e.g. a plugin installed at another version

    @property
    def status(self) -> int:
        """The exit status of ``initreg verify``: 2 if it could not check, 1 on a mismatch, else 0."""
        return 2 if self.problems else 1 if self.mismatches else 0

    @property
    def ok(self) -> bool:
        """Whether every checked value is identical and nothing was left unchecked."""
        return self.status == 0

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def lines(self) -> list[str]:
        """The report: notes, problems and mismatches (the first SHOWN of each, then a count), then the verdict."""
        how = f"{self.sample} random region(s) per tensor" if self.sample else "every value"
        lines = (_first(f"note: {n}" for n in self.notes) + _first(f"cannot check: {p}" for p in self.problems)
                 + _first(f"mismatch: {m}" for m in self.mismatches))
        verdict = {0: "identical", 1: "DIFFERENT", 2: "NOT CHECKED"}[self.status]
        if self.status == 0 and self.tolerated:
            verdict += (f", {len(self.tolerated)} tensor(s) within tolerance (platform-dependent initializer: "
                        f"{', '.join(self.tolerated[:5])}{', ...' if len(self.tolerated) > 5 else ''})")
        lines.append(f"{self.path}: {verdict} ({self.tensors} tensor(s) in {len(self.files)} file(s), "
                     f"{self.values:,} values compared, {how})")
        return lines


def _first(lines: Any) -> list[str]:
    """The first SHOWN of ``lines``, then "... and K more": a crafted checkpoint must not flood the report."""
    lines = list(lines)
    if len(lines) <= SHOWN:
        return lines
    kind = lines[0].split(":", 1)[0]
    return lines[:SHOWN] + [f"{kind}: ... and {len(lines) - SHOWN:,} more"]


class _Unverifiable(Exception):
    """Input verify cannot check: ends the check of the file with status 2."""


def _initializer(spec: Any, plugin: str, tensor: str, where: str, directory: Path, own: Any) -> Any:
    """The initializer a provenance record names, every file it reads inside the checkpoint's ``directory`` and
    none of the checkpoint's ``own`` files (a provenance.OwnFiles, resolved once per verify)."""
    from ..errors import UnknownInitializerError
    from ..plugins.specs import create
    from .provenance import confine

    shown = _short(json.dumps(spec, default=str))
    try:
        init = create(spec)
    except UnknownInitializerError as exc:
        raise _Unverifiable(f"{where}: tensor {tensor!r} was drawn with {shown} from plugin {plugin!r}, "
                            f"which is not installed here ({exc}); install {plugin} to check it") from None
    except (InitregError, RecursionError) as exc:
        raise _Unverifiable(f"{where}: tensor {tensor!r}: its initializer {shown} cannot be rebuilt "
                            f"({_short(str(exc))})") from None
    try:
        return confine(init, directory, f"{where}: tensor {tensor!r}", own)
    except CheckpointError as exc:
        raise _Unverifiable(str(exc)) from None


def _initializer_of(rec: Any, tensor: str, where: str, directory: Path, own: Any, built: dict[str, Any]) -> Any:
    """``_initializer`` of a record, built once per distinct recorded spec (a model's records repeat a few specs)."""
    try:
        key = json.dumps([rec.init, rec.plugin], sort_keys=True, default=str)
    except (ValueError, TypeError, RecursionError):
        key = None  # not cached: _initializer reports what is wrong with it
    if key is None or key not in built:
        init = _initializer(rec.init, rec.plugin, tensor, where, directory, own)
        if key is None:
            return init
        built[key] = init
    return built[key]


def _short(text: str, limit: int = 300) -> str:
    """``text`` cut to ``limit`` characters: crafted records must not flood the report."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _bits(a: np.ndarray) -> np.ndarray:
    """The values as unsigned integers of the same width: compared bit for bit (NaN, -0.0 included)."""
    return a.view(f"u{a.dtype.itemsize}") if a.dtype.itemsize in (1, 2, 4, 8) else a.view(np.uint8)


def _first_beyond(stored: np.ndarray, expected: np.ndarray, tol: float) -> int | None:
    """The first flat index where ``stored`` and ``expected`` differ by more than ``tol`` (0: in their bits)."""
    if not tol:
        return _first_difference(stored, expected)
    if stored.dtype == np.uint16:  # bfloat16 bits (a non-portable initializer never fills an integer tensor)
        from ..core.v4_reference import half_to_f32

        stored, expected = half_to_f32(stored, "bfloat16"), half_to_f32(expected, "bfloat16")
    with np.errstate(invalid="ignore", over="ignore"):
        off = ~(np.abs(stored.reshape(-1).astype(np.float64) - expected.reshape(-1).astype(np.float64)) <= tol)
    flat = np.flatnonzero(off)
    return int(flat[0]) if flat.size else None


def _first_difference(stored: np.ndarray, expected: np.ndarray) -> int | None:
    """The flat position of the first value whose bits differ, or None."""
    diff = _bits(np.ascontiguousarray(stored)).reshape(-1) != _bits(np.ascontiguousarray(expected)).reshape(-1)
    k = int(np.argmax(diff)) if diff.size else 0
    return k if diff.size and diff[k] else None


def _regions(shape: tuple[int, ...], k: int, rng: np.random.Generator) -> list[tuple[slice, ...]]:
    """``k`` random boxes inside ``shape`` of at most SAMPLE_VALUES values each."""
    out = []
    for _ in range(k):
        budget, box = SAMPLE_VALUES, []
        for d in reversed(shape):
            n = int(rng.integers(1, max(1, min(d, budget)) + 1))
            start = int(rng.integers(0, d - n + 1))
            box.append(slice(start, start + n))
            budget = max(1, budget // n)
        out.append(tuple(reversed(box)))
    return out


def _check_file(ckpt: Any, path: Path, result: VerifyResult, sample: int | None, rng: np.random.Generator,
                own: Any) -> tuple[Any, int]:
    """Compare every tensor of one file with its recomputation; returns the file's Provenance and its data bytes."""
    from .files import stored_dtype
    from .provenance import read
    from ..core.stream import ALGORITHM

    where = ckpt.entry(path)
    try:
        meta, layout = ckpt.layout(path)
        prov = read(meta, where)
    except CheckpointError as exc:
        raise _Unverifiable(str(exc)) from None
    if prov.algorithm != ALGORITHM:
        raise _Unverifiable(f"{where} was drawn with bit algorithm {_short(prov.algorithm)!r} (initreg "
                            f"{_short(prov.version)}); this initreg implements {ALGORITHM!r}: check it with initreg "
                            f"{_short(prov.version)}")
    _check_names(where, layout, ckpt.names(path), prov)
    for n in layout:
        _check_expressions(where, n, prov.tensors[n])
    built: dict[str, Any] = {}
    for name, (shape, dtype, start, end) in layout.items():
        try:
            dt = stored_dtype(dtype)  # bfloat16: its uint16 bits, compared with initreg's rounded float32 values
        except TypeError:
            raise _Unverifiable(f"{where}: tensor {name!r} has dtype {dtype}, which NumPy cannot hold") from None
        result.tensors += 1
        rec = prov.tensors[name]
        if rec.shape is not None and (list(rec.shape) != list(shape) or rec.dtype != dtype):
            result.mismatches.append(Mismatch(where, name, None, why=f"the file holds shape {tuple(shape)} of {dtype}, "
                                                                     f"but it was written as shape {tuple(rec.shape)} "
                                                                     f"of {rec.dtype}"))
            continue
        if math.prod(shape) == 0:
            continue  # no value to compare (its empty byte range was checked with the header)
        init = _initializer_of(rec, name, where, ckpt.directory, own, built)  # only for a tensor with values
        try:
            _check_tensor(path, where, name, (shape, dt, start), init, prov, sample, rng, result)
        except MemoryError:  # a whole-tensor initializer on a huge (perhaps sparse) tensor (AllocationError too)
            raise _Unverifiable(f"{where}: tensor {name!r} of shape {tuple(shape)} is too large to recompute in this "
                                f"process's memory; check it on a machine with more memory") from None
        except (InitregError, RecursionError) as exc:  # a provenance record initreg cannot recompute
            raise _Unverifiable(f"{where}: tensor {name!r} cannot be recomputed from its provenance "
                                f"({type(exc).__name__}: {_short(str(exc))})") from None
    return prov, sum(end - start for _, _, start, end in layout.values())


def _check_names(where: str, layout: Any, listed: Any, prov: Any) -> None:
    """The file holds exactly the tensors its index entry lists (when there is one) and its provenance records,
    each record written for its tensor; else _Unverifiable."""
    def named(names: list[str]) -> str:
        return ", ".join(map(repr, names[:5])) + (f" ({len(names)} in all)" if len(names) > 5 else "")

    if listed is not None:
        listed_set = set(listed)
        extra = [n for n in layout if n not in listed_set]
        if extra:
            raise _Unverifiable(f"{where} holds tensor(s) {named(extra)} that the index does not map to it; the "
                                f"checkpoint is not valid (its index and files disagree)")
        missing = [n for n in listed if n not in layout]
        if missing:
            raise _Unverifiable(f"{where} lacks tensor(s) {named(missing)} that the index maps to it; the checkpoint "
                                f"is not valid (its index and files disagree)")
    unknown = [n for n in layout if n not in prov.tensors]
    if unknown:
        raise _Unverifiable(f"{where}: tensor(s) {named(unknown)} have no provenance record")
    absent = [n for n in prov.tensors if n not in layout]
    if absent:
        raise _Unverifiable(f"{where}: its provenance records tensor(s) {named(absent)} that the file does not hold; "
                            f"the file is not what was written")
    for name in layout:
        _check_record(where, name, prov.tensors[name])


def _check_record(where: str, name: str, rec: Any) -> None:
    """A tensor's record was written for that tensor: its stream key is the name's (a copied record is not)."""
    from ..core.stream import Stream

    from ..core.names import name_problem

    drawn_as = name if rec.key_name is None else rec.key_name  # under name_map: the mapped name
    problem = name_problem(drawn_as)
    if problem is not None:  # a lone surrogate cannot be hashed into a stream key
        raise _Unverifiable(f"{where}: the provenance record of tensor {name!r} names {_short(repr(drawn_as), 80)} "
                            f"as the name its values were drawn under, which is not a valid name ({problem})")
    if rec.key is not None and rec.key != Stream(0, drawn_as).key:  # the key depends on the name alone, not the seed
        raise _Unverifiable(f"{where}: the provenance record of tensor {name!r} carries stream key "
                            f"{_short(str(rec.key), 60)!r}, which is not that name's; the record was not written for "
                            f"this tensor")
    if rec.shape is not None and not (isinstance(rec.shape, tuple) and all(type(d) is int for d in rec.shape)
                                      and isinstance(rec.dtype, str)):
        raise _Unverifiable(f"{where}: the provenance record of tensor {name!r} has a malformed shape or dtype")


def _check_expressions(where: str, name: str, rec: Any) -> None:
    """Each recorded expression, computed again from the recorded variables, gives the recorded argument."""
    if not rec.exprs:
        return
    from ..planning.expressions import parse

    spec = rec.init
    args = spec[1] if isinstance(spec, list) and len(spec) == 2 and isinstance(spec[1], dict) else None
    if not isinstance(rec.exprs, dict) or not isinstance(rec.variables, dict) or args is None:
        raise _Unverifiable(f"{where}: the provenance record of tensor {name!r} has malformed expressions")
    for arg, text in rec.exprs.items():
        here = f"{where}: tensor {name!r}, argument {arg!r}"
        try:
            value = parse(text, here).evaluate(rec.variables, here)
        except (InitregError, TypeError, ValueError, RecursionError) as exc:
            raise _Unverifiable(f"{here}: its recorded expression cannot be computed ({_short(str(exc))})") from None
        if arg not in args or not _same_value(args[arg], value):
            raise _Unverifiable(f"{here}: the recorded expression {_short(str(text), 80)!r} gives {value!r} from the "
                                f"recorded variables {_short(json.dumps(rec.variables), 120)}, but the record holds "
                                f"{_short(repr(args.get(arg)), 40)}; the provenance is not what was written")


def _same_value(recorded: Any, computed: Any) -> bool:
    """Whether a recorded argument is an expression's value (numbers by value: a constructor may make 2 into 2.0)."""
    numbers = (int, float)
    if isinstance(recorded, numbers) and isinstance(computed, numbers) and not isinstance(recorded, bool):
        return float(recorded) == float(computed)
    return json.dumps(recorded, default=str) == json.dumps(computed, default=str)


def _plugin_notes(provenances: dict[str, Any], result: VerifyResult) -> None:
    """A note (not a failure) for each plugin whose installed version is not the one the files were written with."""
    from ..plugins.registry import installed_version

    recorded: dict[str, Any] = {}
    for prov in provenances.values():
        for dist, version in prov.plugins.items():
            recorded.setdefault(str(dist), version)
    for dist, version in sorted(recorded.items()):
        now = installed_version(dist)
        if version is not None and now != version:
            result.notes.append(f"plugin {_short(dist, 80)!r} was {_short(str(version), 40)} when the checkpoint was "
                                f"written and is {now if now is not None else 'not installed'} here; the values were "
                                f"recomputed with the installed one")


def _check_tensor(path: Path, where: str, name: str, spec: tuple, init: Any, prov: Any, sample: int | None,
                  rng: np.random.Generator, result: VerifyResult) -> None:
    """Compare one non-empty tensor (every value, or ``sample`` regions) with what its provenance gives."""
    from ..planning.regions import region_mode, values
    from .files import is_bfloat16

    shape, dt, start = spec
    rec = prov.tensors[name]
    args = dict(name=rec.key_name or name, seed=prov.seed, dtype=dt, layout=rec.layout)
    if is_bfloat16(prov.tensors[name].dtype):  # computed in float32, rounded to nearest even, as it was written
        values = _bfloat16_bits(values)
        args["dtype"] = np.dtype(np.float32)
    full = values(init, shape, **args) if region_mode(init) == "whole" or not shape else None
    tol = 0.0
    if not init.portable:  # a LAPACK/BLAS result: this machine's rounding, compared within the promised tolerance
        full = values(init, shape, **args) if full is None else full
        if full.dtype == np.uint16:  # bfloat16 bits: the float32 tolerance plus one bfloat16 unit (2**-8 relative)
            from ..core.v4_reference import half_to_f32

            wide = half_to_f32(full, "bfloat16")
            tol = float(init.tolerance(None, wide)) + float(np.max(np.abs(wide), initial=0.0)) * 2.0 ** -8
        else:
            tol = float(init.tolerance(None, full))
    before = len(result.mismatches)
    if sample and shape:
        _compare_sampled(path, where, name, spec, sample, rng, result,
                         lambda box: full[box] if full is not None else values(init, shape, index=box, **args), tol)
    else:
        _compare_rows(path, where, name, spec, result, full, lambda box: values(init, shape, index=box, **args), tol)
    if tol and len(result.mismatches) == before:
        result.tolerated.append(name)


def _bfloat16_bits(values: Any) -> Any:
    """``values`` whose result is rounded to bfloat16 and returned as its uint16 bits."""
    from ..core.v4_reference import f32_to_bf16

    return lambda *args, **kwargs: f32_to_bf16(values(*args, **kwargs))


def _compare_rows(path: Path, where: str, name: str, spec: tuple, result: VerifyResult, full: Any, region: Any,
                  tol: float) -> None:
    """Compare every value, a slab of whole rows at a time; record the first differing index."""
    shape, dt, start = spec
    rows, row = (shape[0], math.prod(shape[1:])) if shape else (1, 1)
    for r0, r1 in row_slabs(rows, row * dt.itemsize, PIECE_BYTES):
        exp = full.reshape(rows, row)[r0:r1] if full is not None else region((slice(r0, r1),))
        got = np.fromfile(path, dtype=dt.newbyteorder("<"), count=(r1 - r0) * row, offset=start + r0 * row * dt.itemsize)
        result.values += got.size
        k = _first_beyond(got, exp, tol)
        if k is not None:
            index = tuple(int(i) for i in np.unravel_index(r0 * row + k, shape))
            result.mismatches.append(Mismatch(where, name, index, got[k].item(),
                                              np.ascontiguousarray(exp).reshape(-1)[k].item()))
            return


def _compare_sampled(path: Path, where: str, name: str, layout: tuple, sample: int, rng: np.random.Generator,
                     result: VerifyResult, expected: Any, tol: float = 0.0) -> None:
    """Compare ``sample`` random boxes of one tensor; record the first differing index."""
    shape, dt, start = layout
    mm = np.memmap(path, dtype=dt.newbyteorder("<"), mode="r", offset=start, shape=shape)
    for box in _regions(shape, sample, rng):
        exp = np.ascontiguousarray(expected(box))
        got = np.ascontiguousarray(mm[box])
        result.values += exp.size
        k = _first_beyond(got, exp, tol)
        if k is not None:
            local = np.unravel_index(k, exp.shape)
            index = tuple(int(b.start + i) for b, i in zip(box, local))
            result.mismatches.append(Mismatch(where, name, index, got[local].item(), exp[local].item()))
            return


def _check_set(ckpt: Any, provenances: dict[str, Any], held: int, result: VerifyResult) -> None:
    """The files of one checkpoint come from one run (one algorithm, seed, rules record and run id), all of them
    listed in the index (no stray file of the pattern), and they hold the index's total size."""
    from .shards import SHARD_NAME

    if ckpt.index is not None:
        listed = {f.name for f in ckpt.files}
        stray = sorted(p.name for p in ckpt.directory.iterdir() if SHARD_NAME.match(p.name) and p.name not in listed)
        if stray:
            result.problems.append(f"{', '.join(stray[:3])} in {str(ckpt.directory)!r} look like files of this "
                                   f"checkpoint but its index does not list them (left from another run?); remove "
                                   f"them or write the checkpoint again")
    identities = [p.identity() for p in provenances.values()]  # each once: a rules record may be large
    if len(set(identities)) > 1:
        fields = ("algorithm", "seed", "rules", "run id")
        differ = [f for k, f in enumerate(fields) if len({i[k] for i in identities}) > 1]
        shown = "; ".join(f"{file}: seed {p.seed}, run {p.run}" for file, p in list(provenances.items())[:4])
        result.problems.append(f"the files do not come from one run: their {', '.join(differ)} differ ({shown}); a "
                               f"checkpoint's files must all be written by one initreg init run (or its --shard tasks)")
    total = ckpt.index.metadata.get("total_size") if ckpt.index is not None else None
    if total is not None and not result.problems and total != held:
            result.problems.append(f"the index's metadata.total_size is {_short(repr(total))}, but its files hold "
                                   f"{held:,} bytes of tensor data; the index and the files disagree")


def _check_arguments(sample: Any, sample_seed: Any) -> None:
    """VerifyArgumentError unless ``sample`` is None or an int >= 1 and ``sample_seed`` an int >= 0."""
    from ..errors import VerifyArgumentError

    def integer(v: Any) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))

    if sample is not None and not (integer(sample) and sample >= 1):  # sample=-1 would compare no region at all
        raise VerifyArgumentError(f"verify: sample must be None (every value) or a positive integer (regions per "
                                  f"tensor), got {sample!r}; pass e.g. sample=4")
    if not (integer(sample_seed) and sample_seed >= 0):
        raise VerifyArgumentError(f"verify: sample_seed must be a non-negative integer, got {sample_seed!r}; pass "
                                  f"e.g. sample_seed=0")


def verify(path: str | os.PathLike, *, sample: int | None = None, sample_seed: int = 0) -> VerifyResult:
    """Recompute the checkpoint at ``path`` (a file, an index, or a directory) from its provenance and compare bits.

    A sharded checkpoint is checked as a set: every file its index names and no other tensor, all from one
    run. Nothing outside the checkpoint's directory is read (see docs/checkpoints.md for the limits).
    """
    from .checkpoint import Checkpoint, own_files
    from .files import SAFETENSORS, file_kind
    from .provenance import OwnFiles

    _check_arguments(sample, sample_seed)
    path = Path(os.fspath(path))
    result = VerifyResult(str(path), sample=sample)
    rng = np.random.default_rng(sample_seed)
    try:
        if file_kind(path, "checkpoint") is None:
            result.problems.append(f"{str(path)!r} does not exist")
            return result
        ckpt = Checkpoint.open(path)
    except CheckpointError as exc:
        result.problems.append(str(exc))
        return result
    if ckpt.format is not SAFETENSORS:
        result.problems.append(f"{str(path)!r} is not a .safetensors file, an index or a directory with one; only "
                               f".safetensors files carry provenance")
        return result
    provenances, held = {}, 0
    own = OwnFiles(own_files(ckpt))  # their real paths: resolved once, and only if a record reads a file
    for f in ckpt.files:
        entry = ckpt.entry(f)  # as the index names it: 'sub/x.safetensors', not only 'x.safetensors'
        result.files.append(entry)
        try:
            kind = file_kind(f, f"{entry!r}, listed in the index,")
            if kind != "file":
                result.problems.append(f"{entry!r}, listed in the index, "
                                       f"{'does not exist' if kind is None else 'is not a regular file'}")
                continue
            provenances[entry], size = _check_file(ckpt, f, result, sample, rng, own)
            held += size
        except (_Unverifiable, CheckpointError) as exc:
            result.problems.append(str(exc))
    _check_set(ckpt, provenances, held, result)
    _plugin_notes(provenances, result)
    return result
