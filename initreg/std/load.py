"""Load: values by parameter name from a .npz or .safetensors checkpoint."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointKeyError, DTypeError, InitializerArgumentError, InitializerTypeError, ShapeError
from ..initializer import Desc, Initializer
from ..specs import as_initializer


class Load(Initializer):
    """Values of the array named like the parameter in a .npz or .safetensors file; ``default`` for missing names.

    Formula: w = file[desc.name] (same shape; cast to the parameter's dtype within its kind),
    else default's values. Files are read without pickling, one array at a time.
    """

    aliases = ("load_file",)
    deterministic = True

    def __init__(self, path: str | os.PathLike[str], default: Any = None):
        from ..checkpoint import FORMATS

        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise InitializerArgumentError(f"Load: path must be a file path (str), got {path!r}")
        self.path = os.fspath(path)
        if Path(self.path).suffix.lower() not in FORMATS:
            raise InitializerArgumentError(f"Load: path {self.path!r} must end in {' or '.join(FORMATS)}")
        try:
            self.default = None if default is None else as_initializer(default)
        except InitializerTypeError as exc:
            raise InitializerTypeError(f"Load: default: {exc}") from None
        self.deterministic = self.default is None or self.default.deterministic

    # Record the normalized default, so a spec and an instance compare equal.
    def explicit_config(self) -> dict[str, Any]:
        """The constructor arguments as passed, default normalized to an initializer."""
        config = {"path": self.path}
        if "default" in getattr(self, "_explicit", {}):
            config["default"] = self.default
        return config

    def config(self) -> dict[str, Any]:
        """Every constructor argument."""
        return {"path": self.path, "default": self.default}

    def _read(self, desc: Desc) -> np.ndarray | None:
        """The array for ``desc`` (checked), or None when the file lacks it and a default is set."""
        from ..checkpoint import load, read_specs

        specs = read_specs(self.path)
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
        arr = load(self.path, [desc.name])[desc.name]
        if not np.can_cast(arr.dtype, desc.dtype, casting="same_kind"):
            raise DTypeError(f"Load: array {desc.name!r} in {self.path!r} has dtype {arr.dtype}, which does not convert "
                             f"safely to the parameter's {desc.dtype}; save it as {desc.dtype}")
        return arr

    def fill(self, desc: Desc, out: Any, rng: Any) -> None:
        arr = self._read(desc)
        if arr is None:
            self.default.fill(desc, out, rng)  # type: ignore[union-attr]
        else:
            out[...] = desc.xp.asarray(arr.astype(desc.dtype, copy=False))

    def expected(self, desc: Desc) -> Any:
        from ..validation.expected import Exact

        arr = self._read(desc)
        if arr is None:
            return self.default.expected(desc)  # type: ignore[union-attr]
        return Exact(arr.astype(desc.dtype, copy=False))
