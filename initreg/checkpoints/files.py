"""Named arrays on disk (.npz and .safetensors): read shapes without values, load, save atomically.

Each file format is one ``Format`` (suffix, read layout, load, write order, write): ``NPZ`` and
``SAFETENSORS``; the functions here pick it by the file's suffix. A new format is one subclass.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import struct
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Mapping

import numpy as np

from ..errors import (CheckpointError, CheckpointKeyError, CheckpointNotFoundError, CheckpointWriteError,
                     MissingDependencyError, clipped)

# safetensors dtype codes → NumPy dtype names (bfloat16 and float8 have no NumPy dtype: kept by name)
_ST_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
              "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2",
              "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8",
              "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool"}
_ST_WIDTHS = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I64": 8, "I32": 4, "I16": 2,
              "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}
_MAX_HEADER = 100_000_000  # the safetensors format's own limit (MAX_HEADER_SIZE in its Rust reader)
MAX_RANK = 32  # dimensions of one array read from a file (NumPy allows 64; no model uses more than a few)
MAX_DIM = 1 << 48  # one dimension read from a file: larger ones are refused even when the array is empty
_MAX_DEFLATE_RATIO = 1032  # DEFLATE's largest expansion: a member claiming more is refused before allocating


def format_of(path: Path) -> "Format":
    """The Format of ``path`` by its suffix; CheckpointError naming the supported ones."""
    suffix = path.suffix.lower()
    if suffix not in FORMAT_OF:
        raise CheckpointError(f"{str(path)!r}: unsupported checkpoint format {suffix or '(no extension)'!r}; "
                              f"use a file ending in {' or '.join(FORMATS)}")
    return FORMAT_OF[suffix]


def existing_file(path: Any) -> tuple[Path, "Format"]:
    """(path, Format) of an existing .npz/.safetensors file; CheckpointError or CheckpointNotFoundError if not."""
    path = Path(os.fspath(path))
    fmt = format_of(path)
    kind = file_kind(path, "checkpoint file")
    if kind == "directory":
        raise CheckpointError(f"checkpoint {str(path)!r} is a directory, not a file; name the file inside it")
    if kind is None:
        raise CheckpointNotFoundError(f"checkpoint file {str(path)!r} does not exist; check the path "
                                      f"(relative paths are read from {os.getcwd()!r})")
    if kind == "other":  # a FIFO would block the read, a device never end
        raise CheckpointError(f"checkpoint {str(path)!r} is not a regular file (a FIFO, socket or device); name "
                              f"the checkpoint file itself")
    return path, fmt


def file_kind(path: Any, what: str) -> str | None:
    """``"file"``, ``"directory"`` or ``"other"`` (FIFO, socket, device) for what ``path`` names (symlinks followed),
    None when nothing is there; CheckpointError naming ``what`` when it cannot be looked up (a name too long)."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as exc:  # ENAMETOOLONG, ELOOP, EACCES; ValueError: a NUL in the path
        raise CheckpointError(f"{what} {clipped(os.fspath(path))} cannot be looked up ({type(exc).__name__}: "
                              f"{getattr(exc, 'strerror', None) or exc}); check the path") from None
    return "file" if stat.S_ISREG(mode) else "directory" if stat.S_ISDIR(mode) else "other"


def check_target(path: Path) -> None:
    """CheckpointError when ``path``, about to be replaced by a save, exists and is not a regular file."""
    kind = file_kind(path, "output")
    if kind in ("directory", "other"):
        what = "a directory" if kind == "directory" else "not a regular file (a FIFO, socket or device)"
        raise CheckpointError(f"cannot save {str(path)!r}: it exists and is {what}, which a checkpoint file must not "
                              f"replace; remove it or write elsewhere. Nothing was written")


def _names_list(names: Iterable[str], limit: int = 10) -> str:
    names = list(names)
    shown = ", ".join(map(repr, names[:limit]))
    return (shown + f", ... ({len(names)} in all)") if len(names) > limit else (shown or "(none)")


# --- names and headers read from a file ---------------------------------------------------------

def _checked_name(path: Path, name: str, names: dict[str, Any]) -> str:
    """``name`` read from ``path`` if it is a valid, new array name, else a CheckpointError naming both."""
    from ..core.names import name_problem

    problem = name_problem(name)
    if problem is not None:
        raise CheckpointError(f"{str(path)!r} holds an array named {name!r}, which is not a valid parameter name "
                              f"({problem}); re-save the file with valid names")
    if name in names:
        raise CheckpointError(f"{str(path)!r} holds two arrays named {name!r}; re-save the file with unique names")
    return name


def _unreadable(path: Path, suffix: str, exc: BaseException) -> CheckpointError:
    return CheckpointError(f"{str(path)!r} is not a readable {suffix} file ({type(exc).__name__}: {exc}); re-save it "
                           f"with {FORMAT_OF[suffix].writer} or initreg.checkpoints.files.save")


# --- shapes and dtypes without values ----------------------------------------------------------

def read_specs(path: Any) -> dict[str, tuple[tuple[int, ...], str]]:
    """Name → (shape, dtype name) of every array in a checkpoint, without reading the values."""
    path, fmt = existing_file(path)
    return fmt.layout(path)


def _npz_specs(path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    specs: dict[str, tuple[tuple[int, ...], str]] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for name, info in _npz_members(path, zf).items():
                with zf.open(info) as fh:
                    shape, _, dtype = _npy_header(path, name, fh, info)
                specs[name] = (shape, str(dtype))
    except CheckpointError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # a crafted archive fails in zipfile, numpy or tokenize with many exception types
        raise _unreadable(path, ".npz", exc) from exc
    return specs


def _npz_members(path: Path, zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """Array name → zip member of every ``.npy`` in the archive, names checked (other members are not arrays)."""
    members: dict[str, zipfile.ZipInfo] = {}
    for info in zf.infolist():
        if info.filename.endswith(".npy"):
            members[_checked_name(path, info.filename[:-4], members)] = info
    return members


def _npy_header(path: Path, name: str, fh: Any, info: zipfile.ZipInfo) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Shape, Fortran order and dtype of one .npy member, checked against the bytes the member holds."""
    stored = info.compress_size
    most = stored if info.compress_type == zipfile.ZIP_STORED else (stored + 64) * _MAX_DEFLATE_RATIO
    if stored > path.stat().st_size or info.file_size > most:
        raise CheckpointError(f"{str(path)!r}: array {name!r} claims {info.file_size:,} bytes from {stored:,} stored "
                              f"bytes, more than its compression can give; the file is damaged or crafted — re-save it")
    fmt = np.lib.format
    major, _ = fmt.read_magic(fh)
    read = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0  # 3.0 differs only in text encoding
    shape, fortran, dtype = read(fh, max_header_size=1 << 20)
    if dtype.hasobject:
        raise CheckpointError(f"{str(path)!r}: array {name!r} holds Python objects (pickled); initreg never "
                              f"unpickles — re-save it as a numeric array")
    shape = tuple(int(d) for d in shape)
    if len(shape) > MAX_RANK or not all(0 <= d <= MAX_DIM for d in shape):
        raise CheckpointError(f"{str(path)!r}: array {name!r} claims shape {shape}; at most {MAX_RANK} dimensions of "
                              f"0 to {MAX_DIM} are read — the file is damaged or crafted; re-save it")
    need, have = math.prod(shape) * dtype.itemsize, info.file_size - fh.tell()
    if need != have:
        raise CheckpointError(f"{str(path)!r}: array {name!r} claims shape {shape} of {dtype} ({need} bytes), but its "
                              f"member holds {have} bytes of data; the file is damaged — re-save it")
    return shape, bool(fortran), dtype


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object hook that refuses a key given twice (ValueError): a crafted file cannot say two things."""
    out = dict(pairs)
    if len(out) != len(pairs):  # rare: only then find which key
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise ValueError(f"the key {k[:200]!r} appears twice")
            seen.add(k)
    return out


def safetensors_layout(path: Any) -> tuple[dict[str, str] | None, dict[str, tuple[tuple[int, ...], str, int, int]]]:
    """(``__metadata__`` or None, name → (shape, dtype name, start byte, end byte) in file order) of a .safetensors file."""
    path, _ = existing_file(path)
    found: dict[str, Any] = {}
    entries = _safetensors_header(path, found)
    metadata = found.get("__metadata__")
    if metadata is not None and not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        raise CheckpointError(f"{str(path)!r}: the __metadata__ of the safetensors header is not a table of strings; "
                              f"the file is damaged or was not written by safetensors; re-save it")
    start = 8 + found["length"]
    return metadata, {name: (shape, dtype, start + b, start + e) for name, (shape, dtype, (b, e)) in entries.items()}


#: the last headers parsed, with their bytes: loading parameter by parameter reads a (large) header each time but
#: parses and checks it once, while it is byte for byte the same
_HEADERS: dict[tuple[str, int], tuple[bytes, dict[str, Any], dict[str, Any]]] = {}
_HEADERS_KEPT = 2


def _safetensors_header(path: Path, found: dict[str, Any] | None = None,
                        ) -> dict[str, tuple[tuple[int, ...], str, tuple[int, int]]]:
    """Name → (shape, dtype name, data offsets) from a safetensors header, every field checked.

    ``found``, when given, receives the ``__metadata__`` (if any) and the header's ``length``.
    """
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            raw = fh.read(8)
            if len(raw) < 8:
                raise ValueError("file shorter than the 8-byte header length")
            (n,) = struct.unpack("<Q", raw)
            if n > _MAX_HEADER:
                raise ValueError(f"header length {n} exceeds the format's limit of {_MAX_HEADER} bytes")
            if 8 + n > size:
                raise ValueError(f"header length {n} runs past the end of the file ({size} bytes)")
            text = fh.read(n)
            if len(text) < n:
                raise ValueError("the file was cut short while it was read")
    except (ValueError, OSError) as exc:
        raise _unreadable(path, ".safetensors", exc) from exc
    key = (os.fspath(path), size)
    cached = _HEADERS.get(key)
    if cached is None or cached[0] != text:
        cached = _HEADERS[key] = (text, *_parsed_header(path, text, size))
        for old in list(_HEADERS)[:-_HEADERS_KEPT]:  # one snapshot, pop with a default: safe beside other threads
            _HEADERS.pop(old, None)
    if found is not None:  # copies: a caller may change what it gets
        found.update({k: dict(v) if isinstance(v, dict) else v for k, v in cached[2].items()})
    return dict(cached[1])


def _parsed_header(path: Path, text: bytes, size: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(entries, {"length", "__metadata__"}) of the header ``text`` of a safetensors file of ``size`` bytes."""
    n = len(text)
    try:
        header = json.loads(text.decode("utf-8"), object_pairs_hook=unique_keys)
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise _unreadable(path, ".safetensors", exc) from exc
    metadata = header.pop("__metadata__", None)
    found = {"length": n} if metadata is None else {"length": n, "__metadata__": metadata}
    data_size = size - 8 - n
    entries: dict[str, tuple[tuple[int, ...], str, tuple[int, int]]] = {}
    for name, info in header.items():
        _checked_name(path, name, entries)
        entries[name] = _safetensors_entry(path, name, info, data_size)
    _check_tiling(path, entries, data_size)
    return entries, found


def _check_tiling(path: Path, entries: Mapping[str, tuple[Any, str, tuple[int, int]]], data_size: int) -> None:
    """The arrays' byte ranges cover the data section exactly: no overlap, no gap, no trailing byte (as safetensors)."""
    end, last = 0, None
    for name, (_, _, (b, e)) in sorted(entries.items(), key=lambda item: item[1][2]):
        if b != end:
            what = (f"overlaps {last!r} (which ends at byte {end})" if b < end else
                    f"leaves bytes {end}..{b} of the data section unused")
            raise CheckpointError(f"{str(path)!r}: the safetensors header entry {name!r} starts at data byte {b} and "
                                  f"{what}; safetensors refuses such a file — it is damaged or crafted; re-save it")
        end, last = e, name
    if end != data_size:
        raise CheckpointError(f"{str(path)!r}: the arrays end at data byte {end} but the data section holds {data_size} "
                              f"bytes ({data_size - end} trailing); safetensors refuses such a file — it is damaged or "
                              f"crafted; re-save it")


def _safetensors_entry(path: Path, name: str, info: Any, data_size: int) -> tuple[tuple[int, ...], str, tuple[int, int]]:
    def bad(field: str, value: Any, want: str) -> CheckpointError:
        return CheckpointError(f"{str(path)!r}: the safetensors header entry {name!r} has {field} {value!r}; "
                               f"{want} — the file is damaged or was not written by safetensors; re-save it")

    if not isinstance(info, dict):
        raise bad("the value", info, "expected a table with dtype, shape and data_offsets")
    code, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not isinstance(code, str) or code not in _ST_WIDTHS:
        raise bad("dtype", code, f"expected one of the safetensors codes {', '.join(_ST_WIDTHS)}")

    def natural(v: Any, limit: int) -> bool:
        return type(v) is int and 0 <= v <= limit  # bool, float and text dimensions are refused, not rounded

    if not isinstance(shape, list) or len(shape) > MAX_RANK or not all(natural(d, MAX_DIM) for d in shape):
        raise bad("shape", shape, f"expected a list of at most {MAX_RANK} integers from 0 to {MAX_DIM}")
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(natural(o, data_size) for o in offsets)
            or offsets[0] > offsets[1]):
        raise bad("data_offsets", offsets, f"expected [begin, end] with 0 <= begin <= end <= {data_size} "
                                           f"(the size of the data section)")
    dtype = _ST_DTYPES[code]
    width = _ST_WIDTHS[code]
    if offsets[1] - offsets[0] != math.prod(shape) * width:
        raise bad("data_offsets", offsets, f"a {code} array of shape {tuple(shape)} needs "
                                           f"{math.prod(shape) * width} bytes")
    return tuple(shape), dtype, (offsets[0], offsets[1])


# --- values ----------------------------------------------------------------------------------------

def load(path: Any, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Name → array for every array in a checkpoint (or only ``names``); never unpickles."""
    path, fmt = existing_file(path)
    return fmt.load(path, None if names is None else list(dict.fromkeys(names)))


def _missing(path: Path, missing: list[str], available: Iterable[str]) -> CheckpointKeyError:
    return CheckpointKeyError(f"{str(path)!r} holds no array named {_names_list(missing)}; it holds "
                              f"{_names_list(sorted(available))}")


def _npz_load(path: Path, wanted: list[str] | None) -> dict[str, np.ndarray]:
    try:
        with zipfile.ZipFile(path) as zf:
            members = _npz_members(path, zf)
            names = list(members) if wanted is None else wanted
            missing = [n for n in names if n not in members]
            if missing:
                raise _missing(path, missing, members)
            return {n: _npy_read(path, n, zf, members[n]) for n in names}
    except CheckpointError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # zipfile, numpy and tokenize raise many types for a crafted archive
        raise _unreadable(path, ".npz", exc) from exc


def _npy_read(path: Path, name: str, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """One member's array, its size checked against the header before anything is allocated."""
    with zf.open(info) as fh:
        shape, fortran, dtype = _npy_header(path, name, fh, info)
        flat = np.empty(math.prod(shape), dtype=dtype)
        view, done = memoryview(flat.view(np.uint8)), 0
        while done < len(view):
            got = fh.readinto(view[done:])
            if not got:
                raise CheckpointError(f"{str(path)!r}: array {name!r} ends after {done} of {len(view)} bytes; "
                                      f"the file is truncated — re-save it")
            done += got
    return flat.reshape(shape[::-1]).transpose() if fortran else flat.reshape(shape)


def _safetensors() -> Any:
    try:
        from safetensors import numpy as st_numpy
    except ImportError as exc:
        raise MissingDependencyError("reading or writing .safetensors files needs the safetensors package; "
                                     "install it with: pip install 'initreg[safetensors]'") from exc
    return st_numpy


def numpy_dtype(name: str) -> np.dtype:
    """The NumPy dtype of a dtype name read from a file; bfloat16 through ml_dtypes (which makes NumPy know it)."""
    if name == "bfloat16":
        try:
            import ml_dtypes
        except ImportError:
            raise MissingDependencyError("a bfloat16 tensor needs the ml_dtypes package to be read into NumPy; "
                                         "install it with: pip install ml_dtypes (JAX brings it)") from None
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def _safetensors_load(path: Path, wanted: list[str] | None) -> dict[str, np.ndarray]:
    _safetensors()
    from safetensors import safe_open

    header = _safetensors_header(path)  # validates the file and gives the names in file order
    names = list(header) if wanted is None else wanted
    missing = [n for n in names if n not in header]
    if missing:
        raise _missing(path, missing, header)
    if any(header[n][1] == "bfloat16" for n in names):
        numpy_dtype("bfloat16")  # safetensors' NumPy reader asks NumPy for "bfloat16": ml_dtypes registers it
    try:
        with safe_open(str(path), framework="numpy") as fh:
            return {n: fh.get_tensor(n) for n in names}
    except Exception as exc:  # safetensors raises its own SafetensorError (not an OSError/ValueError)
        raise CheckpointError(f"{str(path)!r} could not be read as .safetensors ({exc}); re-save the file "
                              f"(dtypes without a NumPy equivalent, such as bfloat16, need a conversion)") from exc


# --- writing ----------------------------------------------------------------------------------------

# the safetensors dtype classes, narrowest first (the library writes the widest first)
_ST_ORDER = ["BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"]
_ST_CODES = {np.dtype(_ST_DTYPES[code]): code for code in _ST_ORDER if code != "BF16"}
#: a planned checkpoint's dtype without a NumPy dtype: written as its uint16 bits under the code BF16
BFLOAT16 = "bfloat16"


def is_bfloat16(dtype: Any) -> bool:
    """Whether ``dtype`` is bfloat16 (the name, or ml_dtypes' NumPy dtype): stored as uint16 bits."""
    return str(getattr(dtype, "name", dtype)) == BFLOAT16


def stored_dtype(dtype: Any) -> np.dtype:
    """The NumPy dtype whose bytes a planned tensor of ``dtype`` is written as (uint16 for bfloat16)."""
    return np.dtype(np.uint16) if is_bfloat16(dtype) else np.dtype(dtype)


def _st_code(dtype: Any) -> str | None:
    if is_bfloat16(dtype):
        return "BF16"
    try:
        return _ST_CODES.get(np.dtype(dtype).newbyteorder("="))
    except (TypeError, ValueError):  # float8 without ml_dtypes, a structured dtype's text: no code either way
        return None


def _checked_specs(path: Path, fmt: "Format", specs: Mapping[str, Any]) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    from ..core.names import name_problem

    out: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    for name, (shape, dtype) in specs.items():
        problem = name_problem(name)
        if problem is not None:
            shown = repr(name) if len(repr(name)) <= 80 else f"{repr(name)[:60]}... ({len(name):,} characters)"
            raise CheckpointError(f"cannot save to {str(path)!r}: invalid array name {shown}: {problem}; "
                                  f"nothing was written")
        try:
            dt = np.dtype(dtype)
        except TypeError as exc:
            raise CheckpointError(f"cannot save {name!r} to {str(path)!r}: {dtype!r} is not a dtype ({exc})") from None
        if dt.hasobject or dt.kind not in "fiub":
            raise CheckpointError(f"cannot save {name!r} to {str(path)!r}: dtype {dt} is not numeric; "
                                  f"convert it to a float, integer or bool array")
        problem = fmt.dtype_problem(dt)
        if problem:
            raise CheckpointError(f"cannot save {name!r} to {str(path)!r}: {problem}")
        dims = tuple(shape) if isinstance(shape, (tuple, list)) else None
        if dims is None or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0
                                   for d in dims):
            raise CheckpointError(f"cannot save {name!r} to {str(path)!r}: shape {shape!r} is not a tuple of "
                                  f"non-negative integers")
        out[name] = (tuple(int(d) for d in dims), dt.newbyteorder("<") if dt.itemsize > 1 else dt)
    return out


def _as_host(value: Any) -> np.ndarray:
    arr = np.asarray(value.get() if hasattr(value, "get") and not isinstance(value, np.ndarray) else value)
    return arr if arr.flags.c_contiguous else arr.copy(order="C")  # ascontiguousarray would make 0-d arrays 1-d


def write_order(path: Any, specs: Mapping[str, tuple[Any, Any]]) -> list[str]:
    """The names in the order ``save_streamed(path, specs, ...)`` writes them (and so calls ``produce``)."""
    path = Path(os.fspath(path))
    fmt = format_of(path)
    return fmt.order(_checked_specs(path, fmt, specs))


class _Ahead:
    """``produce`` for names asked in ``order``: the next array is made on a thread while this one is written."""

    def __init__(self, order: list[str], produce: Callable[[str], np.ndarray]):
        from concurrent.futures import ThreadPoolExecutor

        self.order, self.produce = order, produce
        self.after = {name: order[i + 1] for i, name in enumerate(order[:-1])}
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="initreg-save")
        self.pending: dict[str, Any] = {}

    def __call__(self, name: str) -> np.ndarray:
        future = self.pending.pop(name, None) or self.pool.submit(self.produce, name)
        nxt = self.after.get(name)
        if nxt is not None and nxt not in self.pending:  # at most two arrays alive: this one and the next
            self.pending[nxt] = self.pool.submit(self.produce, nxt)
        return future.result()

    def close(self) -> None:
        for future in self.pending.values():
            future.cancel()
        self.pool.shutdown(wait=True)  # a draw still running finishes before the temporary file goes


class _Sink:
    """The file a ZipFile writes into; once abandoned it drops every write, so a failed archive is never finished."""

    def __init__(self, fh: Any):
        self.fh, self.live = fh, True

    def write(self, data: Any) -> int:
        return self.fh.write(data) if self.live else len(memoryview(data))

    def tell(self) -> int:
        return self.fh.tell() if self.live else 0

    def seek(self, *args: Any) -> int:
        return self.fh.seek(*args) if self.live else 0

    def flush(self) -> None:
        if self.live:
            self.fh.flush()


def _write_npz(fh: Any, names: list[str], produce: Callable[[str], np.ndarray]) -> None:
    """An uncompressed .npz, as numpy.savez writes it (any array name allowed, no pickling)."""
    sink = _Sink(fh)
    zf = zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True)  # type: ignore[arg-type]
    member = None
    try:
        for name in names:
            # a fixed timestamp: the same arrays give the same file, bit for bit
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            member = zf.open(info, mode="w", force_zip64=True)
            np.lib.format.write_array(member, produce(name), allow_pickle=False)
            member.close()
    except BaseException:
        sink.live = False  # the temporary file is deleted: finish nothing, and never write into it later
        for part in (member, zf):
            try:
                if part is not None:
                    part.close()
            except Exception:  # closing into a dropped sink; the original error is what matters
                pass
        raise
    zf.close()


def safetensors_header(specs: Mapping[str, tuple[Any, Any]], metadata: Mapping[str, str] | None = None,
                       ) -> tuple[bytes, dict[str, tuple[int, int]]]:
    """The bytes before the data of a .safetensors file, and each array's (start, end) in the file, in file order."""
    codes = {}
    for name, (_, dtype) in specs.items():
        code = _st_code(dtype)
        if code is None:
            raise CheckpointError(f"cannot save {name!r} as .safetensors: no code for dtype {dtype}; cast it "
                                  f"to one of {', '.join(sorted(map(str, _ST_CODES)))}")
        codes[name] = code
    order = sorted(specs, key=lambda n: (-_ST_ORDER.index(codes[n]), n.encode()))  # as SAFETENSORS.order() writes them
    # the library writes __metadata__ first; its keys come out of a hash map (any order): ours are sorted
    header: dict[str, Any] = {"__metadata__": dict(sorted(metadata.items()))} if metadata else {}
    offset = 0
    for name in order:
        shape, dtype = specs[name]
        end = offset + math.prod(shape) * stored_dtype(dtype).itemsize
        header[name] = {"dtype": codes[name], "shape": [int(d) for d in shape], "data_offsets": [offset, end]}
        offset = end
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    start = 8 + len(text)
    ranges = {name: (start + header[name]["data_offsets"][0], start + header[name]["data_offsets"][1])
              for name in order}
    return struct.pack("<Q", len(text)) + text, ranges


def write_at(fd: int, offset: int, data: Any) -> None:
    """Write all bytes of ``data`` (a C-contiguous array or buffer) to file descriptor ``fd`` at byte ``offset``."""
    view = memoryview(data.reshape(-1).view(np.uint8) if isinstance(data, np.ndarray) else data).cast("B")
    while view.nbytes:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


def _write_safetensors(fh: Any, specs: Mapping[str, tuple[tuple[int, ...], np.dtype]],
                       produce: Callable[[str], np.ndarray]) -> None:
    """A .safetensors file byte for byte as the safetensors library writes it, one array in memory at a time."""
    head, ranges = safetensors_header(specs)  # in file order, which is SAFETENSORS.order()'s
    fh.write(head)
    for name in ranges:
        fh.write(produce(name).reshape(-1).view(np.uint8).data)


# --- the formats --------------------------------------------------------------------------------------

Specs = Mapping[str, tuple[tuple[int, ...], np.dtype]]


class Format:
    """One checkpoint file format: its suffix, how its layout and values are read, and how it is written."""

    suffix = ""
    writer = ""  # what re-saves a damaged file of this format (named in errors)

    def layout(self, path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
        """Name → (shape, dtype name) of every array, every field checked, without reading values."""
        raise NotImplementedError

    def load(self, path: Path, names: list[str] | None) -> dict[str, np.ndarray]:
        """Name → array of ``names`` (None: all), sizes checked before anything is allocated; never unpickles."""
        raise NotImplementedError

    def dtype_problem(self, dtype: np.dtype) -> str | None:
        """Why arrays of ``dtype`` cannot be written in this format (with the fix), or None."""
        return None

    def order(self, specs: Specs) -> list[str]:
        """The names in the order ``write`` writes them (and so asks ``produce`` for them)."""
        return list(specs)

    def write(self, fh: Any, specs: Specs, produce: Callable[[str], np.ndarray]) -> None:
        """Write the arrays ``produce(name)`` gives, in ``order(specs)``, into the binary file ``fh``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"Format({self.suffix!r})"


class _Npz(Format):
    suffix, writer = ".npz", "numpy.savez"

    def layout(self, path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
        return _npz_specs(path)

    def load(self, path: Path, names: list[str] | None) -> dict[str, np.ndarray]:
        return _npz_load(path, names)

    def write(self, fh: Any, specs: Specs, produce: Callable[[str], np.ndarray]) -> None:
        _write_npz(fh, self.order(specs), produce)


class _Safetensors(Format):
    suffix, writer = ".safetensors", "safetensors"

    def layout(self, path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
        return {name: (shape, dtype) for name, (shape, dtype, _) in _safetensors_header(path).items()}

    def load(self, path: Path, names: list[str] | None) -> dict[str, np.ndarray]:
        return _safetensors_load(path, names)

    def dtype_problem(self, dtype: np.dtype) -> str | None:
        if dtype.newbyteorder("=") in _ST_CODES:
            return None
        return (f"safetensors has no code for dtype {dtype}; cast it to one of "
                f"{', '.join(sorted(map(str, _ST_CODES)))}, or save as .npz")

    def order(self, specs: Specs) -> list[str]:
        # the safetensors library writes tensors by dtype, widest alignment class first, then by name
        return sorted(specs, key=lambda n: (-_ST_ORDER.index(_ST_CODES[specs[n][1].newbyteorder("=")]), n.encode()))

    def write(self, fh: Any, specs: Specs, produce: Callable[[str], np.ndarray]) -> None:
        _write_safetensors(fh, specs, produce)


NPZ, SAFETENSORS = _Npz(), _Safetensors()
FORMAT_OF = {f.suffix: f for f in (NPZ, SAFETENSORS)}  # a new format: one subclass, one entry here
FORMATS = tuple(FORMAT_OF)


def _file_mode(path: Path) -> int:
    """The permissions a plain ``open(path, "w")`` would give: the old file's, else 0666 less the umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


# --- atomic replacement ------------------------------------------------------------------------------
# A file is written as ".NAME.initreg-PID-XXXXXXXX.tmp" next to its target, locked (flock) for as long as its
# writer lives, then renamed over the target. A writer killed with SIGKILL leaves its temporary file behind;
# the next save into that directory removes every such file whose lock is free and whose writer is gone.

_TEMP = re.compile(r"\..*\.initreg-(\d+)-[A-Za-z0-9_]{8}\.tmp", re.S)
STALE_AFTER_S = 60.0  # a lock-free temporary file this old is stale even if its pid now names another process


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's live process
        return True
    return True


def remove_stale_temps(directory: Any) -> list[str]:
    """Delete the temporary files of initreg writers in ``directory`` that died (SIGKILL); returns their names."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no flock, so no safe way to tell a dead writer from a live one
        return []
    try:
        entries = os.listdir(directory)
    except OSError:
        return []
    removed = []
    for entry in entries:
        m = _TEMP.fullmatch(entry)
        if m is None or int(m.group(1)) == os.getpid():
            continue
        full = os.path.join(directory, entry)
        try:
            fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a live writer holds this lock: then this raises
            if _alive(int(m.group(1))) and time.time() - os.fstat(fd).st_mtime < STALE_AFTER_S:
                continue  # its writer may be between creating and locking it
            os.unlink(full)
            removed.append(entry)
        except OSError:
            continue
        finally:
            os.close(fd)
    return removed


def temp_file(path: Path) -> tuple[int, str]:
    """(fd, name) of a new temporary file beside ``path`` (to be renamed onto it), locked while ``fd`` is open.

    atomic_file writes through one too; remove_stale_temps clears such a file after its writer died;
    keep ``fd`` open until the file is renamed or removed.
    """
    directory = path.parent if str(path.parent) else Path(".")
    remove_stale_temps(directory)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:100]}.initreg-{os.getpid()}-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise write_error(path, exc, f"creating a temporary file in {str(directory)!r}") from exc
    try:
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - Windows
            pass
        os.chmod(tmp, _file_mode(path))  # mkstemp makes the file private (0600); the result should not be
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    return fd, tmp


def write_error(path: Path, exc: OSError, doing: str, outcome: str | None = None) -> CheckpointWriteError:
    """The CheckpointWriteError for an OSError while writing ``path``: the path, what failed, errno, a fix and
    ``outcome`` (what the files hold now; by default: the file at ``path`` is unchanged)."""
    fix = {errno.ENOSPC: "free some space or write to another disk", errno.EDQUOT: "free some of your quota",
           errno.EACCES: "check the directory's permissions", errno.EPERM: "check the directory's permissions",
           errno.EROFS: "write to a writable file system",
           errno.EFBIG: "make the parameters smaller or split them into shards (-o DIR --max-shard-size)"}.get(exc.errno or 0, "check the path and the disk")
    what = exc.strerror or str(exc) or type(exc).__name__
    outcome = outcome or "Nothing was written: an earlier file at that path is unchanged"
    return CheckpointWriteError(f"cannot save {str(path)!r}: {doing} failed: {what} (errno {exc.errno}); {fix}. "
                                f"{outcome}")


@contextlib.contextmanager
def atomic_file(path: Any) -> Iterator[BinaryIO]:
    """A binary file that replaces ``path`` whole when the block succeeds, and leaves no trace when it fails."""
    path = Path(os.fspath(path))
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = temp_file(path)  # locked until closed: tells cleaners this writer lives
    fh = os.fdopen(fd, "wb")
    try:
        try:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
            os.replace(tmp, path)  # before closing: the lock is held until the name is gone
        except OSError as exc:
            if isinstance(exc, CheckpointWriteError):
                raise
            raise write_error(path, exc, "writing") from exc
    except BaseException:
        try:
            fh.close()  # a full disk fails again here, flushing what is buffered
        except OSError:
            pass
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fh.close()
    fsync_directory(directory)


def fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX); a file system that cannot fsync a directory is left as it is."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save(path: Any, arrays: Mapping[str, Any]) -> Path:
    """Write named arrays to ``path`` (.npz or .safetensors) atomically: a temporary file, then a rename."""
    data = {name: _as_host(value) for name, value in arrays.items()}
    return save_streamed(path, {name: (arr.shape, arr.dtype) for name, arr in data.items()}, data.__getitem__)


def save_streamed(path: Any, specs: Mapping[str, tuple[Any, Any]], produce: Callable[[str], Any], *,
                  prefetch: bool = False) -> Path:
    """Write arrays that ``produce(name)`` makes one at a time, shapes and dtypes given up front, atomically.

    With ``prefetch=True`` the next array is produced on a thread while the current one is written
    (``produce`` must then be callable from another thread); at most two arrays are alive at once.
    """
    path = Path(os.fspath(path))
    fmt = format_of(path)
    checked = _checked_specs(path, fmt, specs)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise CheckpointNotFoundError(f"cannot save {str(path)!r}: directory {str(directory)!r} does not exist; "
                                      f"create it first")
    if path.is_dir():
        raise CheckpointError(f"cannot save {str(path)!r}: it is a directory; give a file name such as "
                              f"{str(path / ('model' + fmt.suffix))!r}")
    check_target(path)

    def produced(name: str) -> np.ndarray:
        shape, dt = checked[name]
        arr = _as_host(produce(name))
        if arr.shape != shape or arr.dtype.newbyteorder("=") != dt.newbyteorder("="):
            raise CheckpointError(f"cannot save {name!r} to {str(path)!r}: announced as shape {shape}, dtype {dt}, "
                                  f"but got shape {arr.shape}, dtype {arr.dtype}; announce what will be written")
        return arr.astype(dt, copy=False)  # little-endian on disk

    order = fmt.order(checked)
    source = _Ahead(order, produced) if prefetch and len(order) > 1 else produced
    try:
        with atomic_file(path) as fh:
            fmt.write(fh, checked, source)
    finally:
        if isinstance(source, _Ahead):
            source.close()  # before an error propagates: no draw outlives the call
    return path
