"""Terminal output shared by the commands: tables and progress bars (rich on a terminal when installed), the
``--json`` channel, and the one line an unexpected error becomes."""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import os
import signal
import sys
import threading
from typing import Any, Callable, Iterator, Sequence

_json_parts: list[str] | None = None  # while a --json command runs: the documents it emits


def emit_json(text: str) -> None:
    """Write a command's ``--json`` document to stdout, apart from anything plugins print meanwhile."""
    if _json_parts is None:
        print(text)
    else:
        _json_parts.append(text)


class _Recorder(io.TextIOBase):
    """A text stream that passes writes on to ``target`` and keeps a copy."""

    def __init__(self, target: Any):
        self.target, self.parts = target, []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return self.target.write(text)

    def flush(self) -> None:
        self.target.flush()


@contextlib.contextmanager
def json_stdout(enabled: bool) -> Iterator[Callable[[int], None]]:
    """While a ``--json`` command runs, everything else it (or a plugin) writes to stdout — through ``sys.stdout``
    or straight to file descriptor 1 — goes to stderr; the documents given to ``emit_json`` are written to the
    real stdout afterwards. Yields ``finish(status)``: with no document emitted and a failing status, the
    command's error lines become ``{"status": ..., "error": ...}``."""
    global _json_parts
    if not enabled:
        yield lambda status: None
        return
    real_out, real_err = sys.stdout, sys.stderr
    for stream in (real_out, real_err):
        stream.flush()
    saved = _redirect_fd1()
    errors = _Recorder(real_err)
    parts: list[str] = []
    status_box: list[int] = []
    _json_parts, sys.stdout, sys.stderr = parts, real_err, errors
    try:
        yield status_box.append
    finally:
        _json_parts, sys.stdout, sys.stderr = None, real_out, real_err
        real_err.flush()
        _restore_fd1(saved)
        if not parts and status_box and status_box[-1]:
            lines = [line for line in "".join(errors.parts).splitlines() if line.strip()]
            parts.append(json.dumps({"status": status_box[-1], "error": lines[-1] if lines else "failed"}))
        for text in parts:
            print(text, file=real_out)
        real_out.flush()


def _redirect_fd1() -> int | None:
    """Point file descriptor 1 at stderr's; the saved descriptor (None where there is none to redirect)."""
    try:
        saved = os.dup(1)
    except OSError:
        return None
    try:
        os.dup2(2, 1)
    except OSError:
        os.close(saved)
        return None
    return saved


def _restore_fd1(saved: int | None) -> None:
    if saved is not None:
        os.dup2(saved, 1)
        os.close(saved)


_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7f, 0xa0)]}
_CONTROL.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
_CONTROL.update({c: f"\\u{c:04x}" for c in [0x2028, 0x2029, *range(0x202a, 0x202f), *range(0x2066, 0x206a)]})


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\x1b``, ``\\n``, bidi overrides): text read from a file cannot
    move the cursor, set the window title, or fake a line of its own on the terminal."""
    return text.translate(_CONTROL)


def error_line(command: str, exc: BaseException) -> str:
    """The one line an unexpected exception becomes: a bug in initreg or a plugin, never a traceback."""
    text = " ".join(str(exc).split())
    text = text if len(text) <= 500 else text[:500] + "..."
    return (f"initreg {command}: internal error ({type(exc).__name__}: {text}); this is a bug in initreg or in a "
            f"plugin, please report it with the command that caused it")


def _rich_on(stream: Any) -> bool:
    """Whether rich may draw on ``stream``: a terminal, and rich (an optional extra) importable."""
    if not stream.isatty():
        return False  # pipes, files and CI logs get plain lines that never wrap
    try:
        import rich  # noqa: F401 - only whether it is installed
    except ImportError:
        return False
    return True


def print_table(header: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    """Print ``rows`` under ``header``: a rich table on a terminal, else aligned plain text."""
    if not _rich_on(sys.stdout):
        if title:
            print(title)
        widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
        for row in (header, *rows):
            print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, box=None, header_style="bold", pad_edge=False)
    for h in header:
        table.add_column(str(h), overflow="fold")
    for row in rows:
        table.add_row(*map(str, row))
    Console().print(table)


class Progress:
    """A progress bar on stderr: rich's on a terminal, else a plain line at each tenth of the work."""

    def __init__(self, label: str, total: int | None = None, enabled: bool = True):
        self.label, self.total, self.enabled = label, total, enabled
        self._bar: Any = None
        self._task: Any = None
        self._shown = -1

    def __enter__(self) -> "Progress":
        if self.enabled and _rich_on(sys.stderr):
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn

            self._bar = Bar(TextColumn(self.label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            TextColumn("{task.description}"), console=Console(stderr=True), transient=True)
            self._bar.start()
            self._task = self._bar.add_task("", total=self.total)
        return self

    def update(self, done: int, total: int | None = None, note: str = "") -> None:
        """Record that ``done`` of ``total`` units are finished (``note``: what is being worked on)."""
        if total is not None:
            self.total = total
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=self.total, description=note)
            return
        tenth = done * 10 // max(self.total or 1, 1)
        if tenth > self._shown:
            self._shown = tenth
            percent = 100 * done // max(self.total or 1, 1)
            print(f"{self.label}: [{'#' * tenth}{'.' * (10 - tenth)}] {percent:3d}%  {note}".rstrip(),
                  file=sys.stderr, flush=True)

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so every ``finally`` and cleanup runs."""


def interruptible(command: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Make a command's Ctrl-C or SIGTERM one line on stderr and exit status 130 or 143, never a traceback."""
    def wrap(func: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(func)
        def run(args: Any) -> int:
            main = threading.current_thread() is threading.main_thread()  # only there may handlers change

            def terminate(signum: int, frame: Any) -> None:
                raise Terminated()

            old = signal.signal(signal.SIGTERM, terminate) if main else None
            try:
                return func(args)
            except KeyboardInterrupt as exc:
                how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
                print(f"initreg {command}: {how}; nothing partial was left behind", file=sys.stderr)
                return 143 if isinstance(exc, Terminated) else 130
            finally:
                if main and old is not None:  # None: a handler installed outside Python, left as it was
                    signal.signal(signal.SIGTERM, old)
        return run
    return wrap


def int_at_least(what: str, minimum: int, kind: str) -> Callable[[str], int]:
    """An argparse type: an int of at least ``minimum``; errors say "WHAT must be KIND" or "at least"."""
    bound = "non-negative" if minimum == 0 else f"at least {minimum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a {kind} integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{what} must be {bound}, got {value}")
        return value
    return parse
