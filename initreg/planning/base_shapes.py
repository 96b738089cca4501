"""muP base shapes: name → the base model's shape (None for a dimension that does not scale with width).

From a mapping (an initreg spec: name → shape) or from the ``.bsh`` file ``mup.save_base_shapes`` writes (YAML:
``name:`` then one ``- N`` or ``- null`` line per dimension). Expressions read ``base_fan_in``, ``base_fan_out``
``width_mult`` and ``ninf`` from them (see :func:`mup_variables`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

from ..errors import RuleError
from ..core.fans import try_fans
from ..core.paths import read_text_bounded

_QUOTED_KEY = re.compile(r"(?P<key>'(?:[^']|'')*'|\"(?:[^\"\\]|\\.)*\")\s*:(?P<rest>.*)\Z")
MAX_FILE_BYTES = 16 << 20  # mup's .bsh for a model of 10,000 parameters is about 1 MB
_ITEM = re.compile(r"^\s*-\s*(?P<v>\S+)\s*$")


def check_base_shapes(shapes: Any, where: str) -> dict[str, tuple]:
    """name → base shape (ints, None for a finite dimension), from a mapping or a .bsh path; RuleError if malformed."""
    if isinstance(shapes, (str, os.PathLike)):
        return load_bsh(shapes)
    if not isinstance(shapes, Mapping):
        raise RuleError(f"{where}: base_shapes must be a mapping name → shape or the path of a .bsh file, got {shapes!r}")
    out = {}
    for name, shape in shapes.items():
        if not isinstance(name, str) or not isinstance(shape, (list, tuple)) or not all(
                d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in shape):
            raise RuleError(f"{where}: base shape of {name!r} must be a list of positive ints (None for a dimension "
                            f"that does not scale), got {shape!r}")
        out[name] = tuple(shape)
    return out


def load_bsh(path: str | os.PathLike) -> dict[str, tuple]:
    """Read the base-shape file mup.save_base_shapes writes; RuleError naming the file and line when malformed."""
    path = Path(os.fspath(path))
    try:
        text = read_text_bounded(path, MAX_FILE_BYTES)
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise RuleError(f"base-shape file {str(path)!r} cannot be read: {exc}") from None
    return parse_bsh(text, str(path))


def parse_bsh(text: str, source: str = "<string>") -> dict[str, tuple]:
    """name → base shape from .bsh text (block lists ``- 256`` / ``- null``, or flow lists ``[256, null]``)."""
    out: dict[str, list] = {}
    current: list | None = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.split("#", 1)[0].rstrip() if not line.lstrip().startswith(("'", '"')) else line.rstrip()
        if not stripped.strip():
            continue
        item = _ITEM.match(stripped)
        if item and current is not None:
            current.append(_dim(item.group("v"), source, number))
            continue
        key = _split_key(stripped) if not stripped[0].isspace() else None
        if key is None:
            raise RuleError(f"{source}: line {number}: {_clip(line.strip())} is not 'name:' or '- N' / '- null'; "
                            f"a .bsh file is what mup.save_base_shapes writes")
        name, rest = _unquote(key[0], source, number), key[1]
        current = out[name] = []
        if rest in ("[]", ""):
            continue
        if not (rest.startswith("[") and rest.endswith("]")):
            raise RuleError(f"{source}: line {number}: the shape of {_clip(name)} must be a list, got {_clip(rest)}")
        current.extend(_dim(v.strip(), source, number) for v in rest[1:-1].split(",") if v.strip())
        current = None
    return {k: tuple(v) for k, v in out.items()}


def _split_key(line: str) -> tuple[str, str] | None:
    """(key as written, the rest stripped) of a 'key: rest' line, else None; linear in the line's length."""
    if line[0] in "'\"":
        m = _QUOTED_KEY.match(line)
        return (m.group("key"), m.group("rest").strip()) if m else None
    key, colon, rest = line.partition(":")
    return (key, rest.strip()) if colon and key.strip() else None


def _unquote(key: str, source: str, number: int) -> str:
    if key[:1] == "'":
        return key[1:-1].replace("''", "'")
    if key[:1] == '"':
        import json

        try:
            return json.loads(key)
        except ValueError:  # a bad escape such as "\x"
            raise RuleError(f"{source}: line {number}: {_clip(key)} is not a valid double-quoted name") from None
    return key.strip()


def _dim(v: str, source: str, number: int) -> int | None:
    if v in ("null", "~", "None"):
        return None
    if v.isascii() and v.isdigit() and len(v) <= 18 and int(v) > 0:
        return int(v)
    raise RuleError(f"{source}: line {number}: a dimension is a positive integer or null, got {_clip(v)}")


def _clip(text: str, limit: int = 80) -> str:
    """``repr(text)``, cut to about ``limit`` characters (a file's line is not repeated whole in a message)."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[:limit] + "...'"


def mup_variables(shape: tuple, base: tuple, layout: str) -> dict[str, Any]:
    """``base_fan_in``, ``base_fan_out``, ``width_mult`` and ``ninf`` of a parameter from its base shape.

    A base dimension None (a .bsh ``null``) or equal to the model's does not scale with width. ``width_mult`` is
    the model's over the base's size of the fan-in dimension where that one scales, else of the last dimension
    that scales, else 1 — mup's ``InfShape.width_mult()`` for PyTorch (OI) layouts. ``ninf`` is how many
    dimensions scale (mup's ``InfShape.ninf()``: 2 for hidden weights, 1 for input weights and vectors).
    """
    if len(base) != len(shape):
        raise RuleError(f"base shape {base} has {len(base)} dimensions, the parameter's shape {shape} has {len(shape)}; "
                        f"the base model must have the same parameters, only narrower")
    full = tuple(s if b is None else b for s, b in zip(shape, base))
    out: dict[str, Any] = {}
    fan_in, fan_out = try_fans(full, layout)
    if fan_in is not None:
        out["base_fan_in"], out["base_fan_out"] = fan_in, fan_out
    scales = [i for i, (s, b) in enumerate(zip(shape, full)) if s != b]
    in_dim = (1 if layout == "OI" else len(shape) - 2) if len(shape) >= 2 else None
    main = in_dim if in_dim in scales else (scales[-1] if scales else None)
    out["width_mult"] = 1 if main is None else shape[main] / full[main]
    out["ninf"] = len(scales)
    return out
