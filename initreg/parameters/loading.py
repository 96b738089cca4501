"""save_parameters / load_parameters: a network's values to and from a .npz or .safetensors file, all or nothing."""

from __future__ import annotations

import os
from typing import Any, Mapping

from ..errors import CheckpointKeyError, ShapeError, UninitializedError, format_shape


def _listed(names: list[str], limit: int = 10) -> str:
    return ", ".join(map(repr, names[:limit])) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def save_parameters(params: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write every parameter's values under its name (format by extension); the file is replaced atomically."""
    from ..checkpoints.files import save

    waiting = [name for name, p in params.items() if p.state != "initialized"]
    if waiting:
        raise UninitializedError(f"cannot save {os.fspath(path)!r}: parameter(s) {_listed(waiting)} hold no values "
                                 f"yet; initialize the network and run one forward pass (net(x)) first")
    save(path, {name: p.data() for name, p in params.items()})


def load_parameters(params: Mapping[str, Any], path: str | os.PathLike[str], *, device: Any = None,
                    allow_missing: bool = False, ignore_extra: bool = False) -> None:
    """Set every parameter to the file's array of its name; open shapes are completed from the file."""
    from ..checkpoints.checkpoint import Checkpoint
    from ..std.load import Load

    loader = Load(path)  # checks the path and its extension
    checkpoint = Checkpoint.open(loader.path)
    specs = checkpoint.specs()
    missing = [name for name in params if name not in specs]
    if missing and not allow_missing:
        raise CheckpointKeyError(f"load_parameters: {loader.path!r} has no array for parameter(s) {_listed(missing)} "
                                 f"(it holds {_listed(sorted(specs)) or 'nothing'}); pass allow_missing=True to leave "
                                 f"them as they are")
    extra = sorted(name for name in specs if name not in params)
    if extra and not ignore_extra:
        raise CheckpointKeyError(f"load_parameters: {loader.path!r} holds array(s) {_listed(extra)} that no parameter "
                                 f"is named; pass ignore_extra=True to skip them")
    targets = {name: p for name, p in params.items() if name in specs}
    for name, p in targets.items():
        stored = tuple(specs[name][0])
        shape = p.shape
        if shape is not None and (len(shape) != len(stored) or any(d is not None and d != s for d, s in zip(shape, stored))):
            raise ShapeError(f"load_parameters: array {name!r} in {loader.path!r} has shape {stored}, but the "
                             f"parameter has shape {format_shape(shape)}; load into a network built like the saved one")
    arrays = checkpoint.arrays(list(targets))  # one pass over the file, not a header parse per parameter
    undo = [p.snapshot() for p in targets.values()]
    try:
        with loader.serving(specs, arrays):
            for name, p in targets.items():
                p.initialize(loader, device=device, force_reinit=True)  # explicit: nothing outranks the file here
                if p.state != "initialized":  # open dimensions: the file's shape completes them, and the values load
                    p.shape = tuple(specs[name][0])
                if p.state == "initialized":
                    arrays.pop(name)  # loaded: its copy in the parameter is the one kept
    except BaseException:
        for u in reversed(undo):  # all or nothing
            u()
        raise
