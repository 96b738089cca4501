"""Paths that files name: whether one stays inside its directory, and reading a small text file with a bound."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any


NAME_MAX, PATH_MAX = 255, 4096  # bytes in one part of a path, and in all of it (Linux's limits)


def escape_reason(directory: Path, entry: Any) -> str | None:
    """Why ``directory / entry`` is not a file inside ``directory`` (None when it is).

    Refused: a non-text or empty entry, an absolute path, a ``..`` part, a NUL, a part or path longer than the
    OS allows, and a path that a symlink (anywhere on the way) takes out of the directory.
    """
    if not isinstance(entry, str) or not entry:
        return "which is not a file name"
    if "\x00" in entry or os.path.isabs(entry) or entry.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", entry):
        return "an absolute path"
    parts = re.split(r"[/\\]", entry)
    if ".." in parts:
        return "which climbs out with '..'"
    longest = max(len(os.fsencode(part)) for part in parts)
    if longest > NAME_MAX or len(os.fsencode(str(directory / entry))) > PATH_MAX:
        return (f"which is too long for a path ({longest:,} bytes in one part; at most {NAME_MAX} per part and "
                f"{PATH_MAX:,} in all)")
    home = os.path.realpath(directory)
    try:
        real = os.path.realpath(directory / entry)
    except (OSError, ValueError) as exc:
        return f"which cannot be resolved ({exc})"
    if real == home or os.path.commonpath([home, real]) != home:
        return f"which resolves to {real!r} through a symlink"
    return None


def read_text_bounded(path: Path, limit: int) -> str:
    """The UTF-8 text of the regular file ``path``, at most ``limit`` bytes; else OSError, ValueError or
    UnicodeDecodeError saying why (a FIFO or device is refused without blocking)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("it is not a regular file")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"it is larger than initreg's limit of {limit:,} bytes")
    return data.decode("utf-8")
