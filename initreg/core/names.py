"""What a valid parameter name is, decided once: the one check every entry point calls.

A parameter name (also an array name in a checkpoint) is a ``str`` that

- is not empty and holds no NUL character (zip and C APIs end a name at NUL, merging two arrays);
- is encodable as UTF-8: no lone surrogates such as ``"w\\udcff"`` (safetensors headers, zip
  member names and JSON output are UTF-8);
- is not ``__metadata__`` (the safetensors header reserves that key);
- is safe as a zip member (an ``.npz`` stores ``name + ".npy"``): no backslash, not absolute
  (no leading ``/``, no drive such as ``C:/``), and when split at ``/`` no segment is empty, ``.``
  or ``..`` — so ``encoder/layer0/weight`` is fine, ``../../evil`` and ``/etc/evil`` are not;
- is at most 65,531 bytes in UTF-8 (a zip member name holds at most 65,535 bytes, ``.npy`` included).

Everything else (dots, spaces, ``:``, non-ASCII letters) is allowed. A name that breaks a rule raises
ParameterValueError (a ValueError) naming the value, the rule and the fix, before anything is changed
or written; checkpoint readers report such a name in a file as a CheckpointError.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ParameterValueError

RESERVED = ("__metadata__",)
MAX_BYTES = 65_535 - len(".npy")
_DRIVE = re.compile(r"[A-Za-z]:/")  # "C:/x"; "a:b" is an ordinary name


def name_problem(name: Any) -> str | None:
    """Why ``name`` is not a valid parameter name (a phrase with the fix), or None when it is valid."""
    if not isinstance(name, str):
        return f"a name must be a string, got {type(name).__name__}"
    if not name:
        return "a name must not be empty"
    if "\x00" in name:
        return "a name must not contain a NUL character ('\\x00'); remove it"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError as exc:
        return (f"a name must be encodable as UTF-8, but it holds the lone surrogate {name[exc.start]!r} at "
                f"position {exc.start}; decode the bytes it came from properly or drop that character")
    if name in RESERVED:
        return f"{name!r} is reserved by the safetensors format; choose another name"
    if size > MAX_BYTES:
        return f"a name must be at most {MAX_BYTES:,} bytes in UTF-8 (a zip member limit), got {size:,} bytes"
    if "\\" in name:
        return "a name must not contain a backslash; use '.' or '/' to separate its parts"
    if name.startswith("/") or _DRIVE.match(name):
        return "a name must not be an absolute path; drop the leading '/' or drive"
    segments = name.split("/")
    if "" in segments:
        return "a name must not start or end with '/' or hold '//'; write 'a/b'"
    if "." in segments or ".." in segments:
        return ("a name must not hold a '.' or '..' part between '/' (a zip member like '../../evil' escapes "
                "the folder it is extracted into); write 'a/b', not 'a/../b'")
    return None


def check_name(name: Any, what: str = "parameter name") -> str:
    """Return ``name`` if it is a valid parameter name, else raise ParameterValueError naming it and the fix."""
    problem = name_problem(name)
    if problem is not None:
        raise ParameterValueError(f"invalid {what} {_show(name)}: {problem}")
    return name


def _show(name: Any) -> str:
    """``repr(name)``, shortened for giant names."""
    text = repr(name)  # repr escapes NUL and lone surrogates, so the message itself stays printable
    return text if len(text) <= 80 else f"{text[:60]}...{text[-10:]} ({len(text):,} characters)"
