"""Named arrays on disk (.npz and .safetensors): read shapes without values, load, save atomically."""

from __future__ import annotations

import json
import math
import os
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from .errors import CheckpointError, CheckpointKeyError, CheckpointNotFoundError, MissingDependencyError

FORMATS = (".npz", ".safetensors")

# safetensors dtype codes → NumPy dtype names (bfloat16 and float8 have no NumPy dtype: kept by name)
_ST_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
              "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2",
              "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8",
              "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool"}
_MAX_HEADER = 100 * 1024 * 1024  # the safetensors format's own limit


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise CheckpointError(f"{str(path)!r}: unsupported checkpoint format {suffix or '(no extension)'!r}; "
                              f"use a file ending in {' or '.join(FORMATS)}")
    return suffix


def _existing(path: Any) -> tuple[Path, str]:
    path = Path(os.fspath(path))
    fmt = _format(path)
    if not path.is_file():
        raise CheckpointNotFoundError(f"checkpoint file {str(path)!r} does not exist; check the path "
                                      f"(relative paths are read from {os.getcwd()!r})")
    return path, fmt


def _names_list(names: Iterable[str], limit: int = 10) -> str:
    names = list(names)
    shown = ", ".join(map(repr, names[:limit]))
    return (shown + f", ... ({len(names)} in all)") if len(names) > limit else (shown or "(none)")


# --- shapes and dtypes without values ----------------------------------------------------------

def read_specs(path: Any) -> dict[str, tuple[tuple[int, ...], str]]:
    """Name → (shape, dtype name) of every array in a checkpoint, without reading the values."""
    path, fmt = _existing(path)
    return _npz_specs(path) if fmt == ".npz" else _safetensors_specs(path)


def _npz_specs(path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    specs: dict[str, tuple[tuple[int, ...], str]] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for member in zf.namelist():
                if not member.endswith(".npy"):
                    continue
                with zf.open(member) as fh:
                    shape, dtype = _npy_header(fh)
                if dtype.hasobject:
                    raise CheckpointError(f"{str(path)!r}: array {member[:-4]!r} holds Python objects (pickled); "
                                          f"initreg never unpickles — re-save it as a numeric array")
                specs[member[:-4]] = (tuple(int(d) for d in shape), str(dtype))
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"{str(path)!r} is not a readable .npz file ({exc}); re-save it with numpy.savez "
                              f"or initreg.checkpoint.save") from exc
    return specs


def _npy_header(fh: Any) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from the header of one .npy stream (the values are not read)."""
    fmt = np.lib.format
    major, _ = fmt.read_magic(fh)
    read = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0  # 3.0 differs only in text encoding
    shape, _, dtype = read(fh, max_header_size=1 << 20)
    return shape, dtype


def _safetensors_header(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(8)
            if len(raw) < 8:
                raise ValueError("file shorter than the 8-byte header length")
            (n,) = struct.unpack("<Q", raw)
            if n > _MAX_HEADER:
                raise ValueError(f"header length {n} exceeds the format's limit")
            header = json.loads(fh.read(n).decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{str(path)!r} is not a readable .safetensors file ({exc}); re-save it with "
                              f"safetensors or initreg.checkpoint.save") from exc
    header.pop("__metadata__", None)
    return header


def _safetensors_specs(path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    specs: dict[str, tuple[tuple[int, ...], str]] = {}
    for name, info in _safetensors_header(path).items():
        try:
            shape = tuple(int(d) for d in info["shape"])
            code = info["dtype"]
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{str(path)!r}: entry {name!r} of the safetensors header is malformed "
                                  f"({exc!r}); re-save the file") from exc
        specs[name] = (shape, _ST_DTYPES.get(code, code.lower()))
    return specs


# --- values ----------------------------------------------------------------------------------------

def load(path: Any, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Name → array for every array in a checkpoint (or only ``names``); never unpickles."""
    path, fmt = _existing(path)
    wanted = None if names is None else list(dict.fromkeys(names))
    if fmt == ".npz":
        return _npz_load(path, wanted)
    return _safetensors_load(path, wanted)


def _missing(path: Path, missing: list[str], available: Iterable[str]) -> CheckpointKeyError:
    return CheckpointKeyError(f"{str(path)!r} holds no array named {_names_list(missing)}; it holds "
                              f"{_names_list(sorted(available))}")


def _npz_load(path: Path, wanted: list[str] | None) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            files = list(npz.files)
            names = files if wanted is None else wanted
            missing = [n for n in names if n not in files]
            if missing:
                raise _missing(path, missing, files)
            return {n: npz[n] for n in names}
    except CheckpointError:
        raise
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise CheckpointError(f"{str(path)!r} holds Python objects (pickled arrays); initreg never unpickles — "
                                  f"re-save the arrays as numeric data") from exc
        raise CheckpointError(f"{str(path)!r} is not a readable .npz file ({exc}); re-save it with numpy.savez "
                              f"or initreg.checkpoint.save") from exc
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise CheckpointError(f"{str(path)!r} is not a readable .npz file ({exc}); re-save it with numpy.savez "
                              f"or initreg.checkpoint.save") from exc


def _safetensors() -> Any:
    try:
        from safetensors import numpy as st_numpy
    except ImportError as exc:
        raise MissingDependencyError("reading or writing .safetensors files needs the safetensors package; "
                                     "install it with: pip install 'initreg[safetensors]'") from exc
    return st_numpy


def _safetensors_load(path: Path, wanted: list[str] | None) -> dict[str, np.ndarray]:
    _safetensors()
    from safetensors import safe_open

    header = _safetensors_header(path)  # validates the file and gives the names in file order
    names = list(header) if wanted is None else wanted
    missing = [n for n in names if n not in header]
    if missing:
        raise _missing(path, missing, header)
    try:
        with safe_open(str(path), framework="numpy") as fh:
            return {n: fh.get_tensor(n) for n in names}
    except Exception as exc:  # safetensors raises its own SafetensorError (not an OSError/ValueError)
        raise CheckpointError(f"{str(path)!r} could not be read as .safetensors ({exc}); re-save the file "
                              f"(dtypes without a NumPy equivalent, such as bfloat16, need a conversion)") from exc


# --- writing ----------------------------------------------------------------------------------------

# the safetensors dtype classes, narrowest first (the library writes the widest first)
_ST_ORDER = ["BOOL", "U8", "I8", "I16", "U16", "F16", "I32", "U32", "F32", "F64", "I64", "U64"]
_ST_CODES = {np.dtype(_ST_DTYPES[code]): code for code in _ST_ORDER}


def _checked_specs(path: Path, fmt: str, specs: Mapping[str, Any]) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    out: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    for name, (shape, dtype) in specs.items():
        if not isinstance(name, str) or not name:
            raise CheckpointError(f"cannot save to {str(path)!r}: array names must be non-empty strings, got {name!r}")
        dt = np.dtype(dtype)
        if dt.hasobject or dt.kind not in "fiub":
            raise CheckpointError(f"cannot save {name!r} to {str(path)!r}: dtype {dt} is not numeric; "
                                  f"convert it to a float, integer or bool array")
        if fmt == ".safetensors" and dt.newbyteorder("=") not in _ST_CODES:
            raise CheckpointError(f"cannot save {name!r} to {str(path)!r}: safetensors has no code for dtype {dt}; "
                                  f"cast it to one of {', '.join(sorted(map(str, _ST_CODES)))}, or save as .npz")
        out[name] = (tuple(int(d) for d in shape), dt.newbyteorder("<") if dt.itemsize > 1 else dt)
    return out


def _as_host(value: Any) -> np.ndarray:
    arr = np.asarray(value.get() if hasattr(value, "get") and not isinstance(value, np.ndarray) else value)
    return arr if arr.flags.c_contiguous else arr.copy(order="C")  # ascontiguousarray would make 0-d arrays 1-d


def write_order(path: Any, specs: Mapping[str, tuple[Any, Any]]) -> list[str]:
    """The names in the order ``save_streamed(path, specs, ...)`` writes them (and so calls ``produce``)."""
    path = Path(os.fspath(path))
    fmt = _format(path)
    return _order(fmt, _checked_specs(path, fmt, specs))


def _order(fmt: str, specs: Mapping[str, tuple[tuple[int, ...], np.dtype]]) -> list[str]:
    if fmt == ".npz":
        return list(specs)
    # the safetensors library writes tensors by dtype, widest alignment class first, then by name
    return sorted(specs, key=lambda n: (-_ST_ORDER.index(_ST_CODES[specs[n][1].newbyteorder("=")]), n.encode()))


def _write_npz(fh: Any, names: list[str], produce: Callable[[str], np.ndarray]) -> None:
    """An uncompressed .npz, as numpy.savez writes it (any array name allowed, no pickling)."""
    with zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name in names:
            # a fixed timestamp: the same arrays give the same file, bit for bit
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, produce(name), allow_pickle=False)


def _write_safetensors(fh: Any, specs: Mapping[str, tuple[tuple[int, ...], np.dtype]], order: list[str],
                       produce: Callable[[str], np.ndarray]) -> None:
    """A .safetensors file byte for byte as the safetensors library writes it, one array in memory at a time."""
    codes = {name: _ST_CODES[dt.newbyteorder("=")] for name, (_, dt) in specs.items()}
    header, offset = {}, 0
    for name in order:
        shape, dt = specs[name]
        end = offset + math.prod(shape) * dt.itemsize
        header[name] = {"dtype": codes[name], "shape": list(shape), "data_offsets": [offset, end]}
        offset = end
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    fh.write(struct.pack("<Q", len(text)) + text)
    for name in order:
        fh.write(produce(name).reshape(-1).view(np.uint8).data)


def _file_mode(path: Path) -> int:
    """The permissions a plain ``open(path, "w")`` would give: the old file's, else 0666 less the umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def save(path: Any, arrays: Mapping[str, Any]) -> Path:
    """Write named arrays to ``path`` (.npz or .safetensors) atomically: a temporary file, then a rename."""
    data = {name: _as_host(value) for name, value in arrays.items()}
    return save_streamed(path, {name: (arr.shape, arr.dtype) for name, arr in data.items()}, data.__getitem__)


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


def save_streamed(path: Any, specs: Mapping[str, tuple[Any, Any]], produce: Callable[[str], Any], *,
                  prefetch: bool = False) -> Path:
    """Write arrays that ``produce(name)`` makes one at a time, shapes and dtypes given up front, atomically.

    With ``prefetch=True`` the next array is produced on a thread while the current one is written
    (``produce`` must then be callable from another thread); at most two arrays are alive at once.
    """
    path = Path(os.fspath(path))
    fmt = _format(path)
    checked = _checked_specs(path, fmt, specs)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise CheckpointNotFoundError(f"cannot save {str(path)!r}: directory {str(directory)!r} does not exist; "
                                      f"create it first")

    def produced(name: str) -> np.ndarray:
        shape, dt = checked[name]
        arr = _as_host(produce(name))
        if arr.shape != shape or arr.dtype.newbyteorder("=") != dt.newbyteorder("="):
            raise CheckpointError(f"cannot save {name!r} to {str(path)!r}: announced as shape {shape}, dtype {dt}, "
                                  f"but got shape {arr.shape}, dtype {arr.dtype}; announce what will be written")
        return arr.astype(dt, copy=False)  # little-endian on disk

    order = _order(fmt, checked)
    source = _Ahead(order, produced) if prefetch and len(order) > 1 else produced
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.chmod(tmp, _file_mode(path))  # mkstemp makes the file private (0600); the result should not be
        with os.fdopen(fd, "wb") as fh:
            if fmt == ".npz":
                _write_npz(fh, order, source)
            else:
                _write_safetensors(fh, checked, order, source)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if isinstance(source, _Ahead):
            source.close()
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if isinstance(source, _Ahead):
        source.close()
    return path
