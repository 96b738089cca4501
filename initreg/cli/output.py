"""Terminal output shared by the commands: tables and progress bars (rich on a terminal when installed)."""

from __future__ import annotations

import argparse
import functools
import signal
import sys
import threading
from typing import Any, Callable, Sequence


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
