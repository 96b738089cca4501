"""Load: values by parameter name from a .npz or .safetensors checkpoint."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from ..errors import (CheckpointKeyError, DTypeError, InitializerArgumentError, InitializerTypeError, ShapeError,
                      format_shape)
from ..core.initializer import Desc, Initializer
from ..core.shapes import check_values
from ..plugins.specs import create


class Load(Initializer):
    """Values of the array named like the parameter in a .npz or .safetensors file; ``default`` for missing names.

    Formula: w = file[desc.name] (same shape; cast to the parameter's dtype within its kind),
    else default's values. Files are read without pickling, one array at a time.

    Given to ``initialize()`` (as the default, or a Rules' default) it is a data source, not a distribution:
    every parameter the file holds is loaded, outranking declared initializers (a Dense bias's "zeros"); only
    explicit ``param.initialize(...)`` requests and matching rules come first. It is strict: a parameter the file
    lacks, an array no parameter takes, and a shape that cannot fit are errors naming them, raised before anything
    is drawn. ``allow_missing=True`` lets parameters the file lacks keep their usual choice (declared, else
    ``default``, else the global default); ``ignore_extra=True`` lets the file hold arrays nothing takes.
    """

    aliases = ("load_file",)
    deterministic = True
    #: it reads the file at ``self.path``: a checkpoint's provenance may only point it inside the checkpoint
    reads_file = True
    #: a data source: the names it holds outrank declared initializers when it is initialize()'s default
    outranks_declared = True

    def __init__(self, path: str | os.PathLike[str], default: Any = None, allow_missing: bool = False,
                 ignore_extra: bool = False):
        from ..checkpoints.files import FORMATS

        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise InitializerArgumentError(f"Load: path must be a file path (str), got {path!r}")
        self.path = os.fspath(path)
        if Path(self.path).suffix.lower() not in FORMATS:
            raise InitializerArgumentError(f"Load: path {self.path!r} must end in {' or '.join(FORMATS)}")
        try:
            self.default = None if default is None else create(default)
        except InitializerTypeError as exc:
            raise InitializerTypeError(f"Load: default: {exc}") from None
        for arg, value in (("allow_missing", allow_missing), ("ignore_extra", ignore_extra)):
            if not isinstance(value, bool):
                raise InitializerArgumentError(f"Load: {arg} must be True or False, got {value!r}")
        self.allow_missing, self.ignore_extra = allow_missing, ignore_extra
        self.deterministic = self.default is None or self.default.deterministic

    # Record the normalized default, so a spec and an instance compare equal.
    def explicit_config(self) -> dict[str, Any]:
        """The constructor arguments as passed, default normalized to an initializer."""
        config: dict[str, Any] = {"path": self.path}
        explicit = getattr(self, "_explicit", {})
        for arg in ("default", "allow_missing", "ignore_extra"):
            if arg in explicit:
                config[arg] = getattr(self, arg)
        return config

    def config(self) -> dict[str, Any]:
        """Every constructor argument."""
        return {"path": self.path, "default": self.default, "allow_missing": self.allow_missing,
                "ignore_extra": self.ignore_extra}

    # -- as initialize()'s data source ---------------------------------------------------------------

    def _checkpoint(self) -> Any:
        """The file, opened through the one checkpoint reader (its header checked and bounded)."""
        from ..checkpoints.checkpoint import Checkpoint

        return Checkpoint.open(self.path)

    def _specs(self) -> dict[str, tuple[tuple[int, ...], str]]:
        """Name → (shape, dtype) of the file's arrays: those ``serving`` read, else read from the file now."""
        served = getattr(self, "_served", None)
        return served[0] if served is not None else self._checkpoint().specs()

    @contextlib.contextmanager
    def serving(self, specs: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Iterator[None]:
        """Within the block, the file's ``specs`` and ``arrays`` (read once by the caller, in one pass) are what this
        Load reads: loading many parameters parses the file's header once, not once per parameter."""
        self._served = (specs, arrays)
        try:
            yield
        finally:
            self._served = None

    def names(self) -> frozenset[str]:
        """The names of the arrays the file holds (read now: the file must exist)."""
        return frozenset(self._specs())

    def check_request(self, entries: Sequence[Any], choices: Sequence[Any]) -> None:
        """Refuse, before anything is drawn, names the file lacks or holds in excess and shapes that cannot fit."""
        specs = self._specs()
        wanted = [e for e, c in zip(entries, choices) if c.source not in ("explicit", "rule")]
        missing = [e.name for e in wanted if e.name not in specs]
        if missing and not (self.allow_missing or self.default is not None):
            raise CheckpointKeyError(f"Load: {self.path!r} has no array for parameter(s) {_listed(missing)} (it holds "
                                     f"{_listed(sorted(specs)) or 'nothing'}); save them too, or pass "
                                     f"Load(..., allow_missing=True) to give them their usual initializers")
        taken = {e.name for e in entries}
        extra = sorted(n for n in specs if n not in taken)
        if extra and not self.ignore_extra:
            raise CheckpointKeyError(f"Load: {self.path!r} holds array(s) {_listed(extra)} that no parameter here is "
                                     f"named; check the names (a network's names are paths such as '0.weight'), or "
                                     f"pass Load(..., ignore_extra=True) to skip them")
        for e, c in zip(entries, choices):
            if c.init is self and e.name in specs and not _fits(e.shape, specs[e.name][0]):
                raise ShapeError(f"Load: array {e.name!r} in {self.path!r} has shape {tuple(specs[e.name][0])}, but "
                                 f"parameter {e.name!r} has shape {format_shape(e.shape)}; save an array of the "
                                 f"parameter's shape (or build the layer for it)")

    # -- filling -------------------------------------------------------------------------------------

    def _read(self, desc: Desc) -> np.ndarray | None:
        """The array for ``desc`` (checked), or None when the file lacks it and a default is set."""
        specs = self._specs()
        if desc.name not in specs:
            if self.default is not None:
                return None
            held = ", ".join(map(repr, sorted(specs)[:10])) + (", ..." if len(specs) > 10 else "")
            raise CheckpointKeyError(f"Load: {self.path!r} has no array named {desc.name!r} (it holds {held or 'nothing'}); "
                                     f"rename the array, or pass default= (e.g. Load({self.path!r}, default='zeros'))")
        shape, dtype = specs[desc.name]
        if tuple(shape) != tuple(desc.shape):
            raise ShapeError(f"Load: array {desc.name!r} in {self.path!r} has shape {tuple(shape)}, but the parameter "
                             f"has shape {tuple(desc.shape)}; save an array of the parameter's shape")
        served = getattr(self, "_served", None)
        if served is not None and desc.name in served[1]:
            arr = served[1][desc.name]
        else:
            arr = self._checkpoint().arrays([desc.name])[desc.name]
        if not np.can_cast(arr.dtype, desc.dtype, casting="same_kind"):
            raise DTypeError(f"Load: array {desc.name!r} in {self.path!r} has dtype {arr.dtype}, which does not convert "
                             f"safely to the parameter's {desc.dtype}; save it as {desc.dtype}")
        return arr

    def fill(self, desc: Desc, out: Any, rng: Any) -> None:
        arr = self._read(desc)
        if arr is None:
            self.default.fill(desc, out, rng)  # type: ignore[union-attr]
        else:
            out[...] = desc.xp.asarray(check_values(arr, desc.dtype, desc.name, f"Load from {self.path!r}"))

    def expected(self, desc: Desc) -> Any:
        from ..core.expected import Exact

        arr = self._read(desc)
        if arr is None:
            return self.default.expected(desc)  # type: ignore[union-attr]
        return Exact(arr.astype(desc.dtype, copy=False))


def _listed(names: Sequence[str], limit: int = 10) -> str:
    return ", ".join(map(repr, names[:limit])) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _fits(shape: Any, stored: Sequence[int]) -> bool:
    """Whether a parameter shape (None for unknown dimensions) can be the stored shape."""
    if shape is None:
        return True
    return len(shape) == len(stored) and all(d is None or d == s for d, s in zip(shape, stored))
