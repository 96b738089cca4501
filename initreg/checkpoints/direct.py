"""One file written front to back in large page-aligned blocks with ``O_DIRECT``: the bytes go from our buffers to
the disk without passing through the page cache.

A checkpoint is written once and not read back by this process, so caching it only costs: the kernel must find a
fresh page for every 4 KB written (on a VM, memory the guest has not touched in a while is slow to hand out) and
later flush them all. Values are drawn straight into two staging buffers that take turns: one is written on a
thread while the next values are drawn into the other. Each write covers whole 4 KB blocks; the bytes past the last
whole block go back to the start of the other buffer, and the file's final partial block is written through the
page cache. Where the file system refuses ``O_DIRECT`` (at open or at a write), the same bytes go through the page
cache instead: same file, no error.
"""

from __future__ import annotations

import errno
import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from ..core.shapes import aligned
from .files import write_at

ALIGN = 4096  # O_DIRECT offsets, lengths and buffer addresses: a multiple of every common logical block size


def aligned_buffer(nbytes: int) -> np.ndarray:
    """An uninitialized uint8 array of ``nbytes`` whose first byte sits on an ``ALIGN`` boundary."""
    return aligned((nbytes,), np.uint8, ALIGN)


def open_direct(path: str | os.PathLike) -> int | None:
    """A write descriptor of ``path`` opened with ``O_DIRECT``, or None where this OS or file system has none."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return None
    try:
        return os.open(path, os.O_WRONLY | flag)
    except OSError:
        return None


class StagedFile:
    """The bytes of a file from offset ``start`` on, staged in aligned buffers and written a block-aligned run at a
    time. The first and last blocks, when they are only partly this writer's, go through the page cache, so writers
    of adjacent runs (Dask tasks) never write one block both ways."""

    def __init__(self, path: str | os.PathLike, capacity: int, start: int = 0, direct: bool = True) -> None:
        self.lead = start % ALIGN  # the first block's bytes before ``start`` are not this writer's
        self.capacity = -(-(capacity + self.lead) // ALIGN) * ALIGN + ALIGN  # one staged run plus a carried tail
        self.buffers = [aligned_buffer(self.capacity), aligned_buffer(self.capacity)]
        self.plain = os.open(path, os.O_WRONLY)
        self.direct = open_direct(path) if direct else None
        self.used_direct = False
        self.base = start - self.lead  # the file offset of the current buffer's first byte (a multiple of ALIGN)
        self.fill = self.lead  # bytes of the current buffer in use
        self.current = 0
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="initreg-write")
        self.pending: Future | None = None

    @property
    def offset(self) -> int:
        """The file offset of the next byte staged."""
        return self.base + self.fill

    def reserve(self, nbytes: int, itemsize: int = 1) -> np.ndarray | None:
        """The next ``nbytes`` of the file as staging memory to draw into, or None when they do not fit whole or would
        not be aligned for items of ``itemsize`` bytes (then ``put`` them)."""
        if self.fill + nbytes > self.capacity:
            self._flush()
        if self.fill + nbytes > self.capacity or self.offset % itemsize:
            return None
        view = self.buffers[self.current][self.fill:self.fill + nbytes]
        self.fill += nbytes
        return view

    def put(self, data: Any) -> None:
        """Stage the bytes of ``data`` (a C-contiguous array or buffer) as the file's next bytes."""
        src = memoryview(data.reshape(-1).view(np.uint8) if isinstance(data, np.ndarray) else data).cast("B")
        while src.nbytes:
            if self.fill == self.capacity:
                self._flush()
            n = min(src.nbytes, self.capacity - self.fill)
            self.buffers[self.current][self.fill:self.fill + n] = np.frombuffer(src[:n], dtype=np.uint8)
            self.fill += n
            src = src[n:]

    def close(self) -> None:
        """Write everything staged (the final partial block through the page cache) and close the descriptors."""
        try:
            self._wait()
            whole = self.fill // ALIGN * ALIGN
            buf = self.buffers[self.current]
            if whole:
                self._write(buf[:whole], self.base, self.lead)
            done = whole or self.lead
            if self.fill > done:
                write_at(self.plain, self.base + done, buf[done:self.fill])
        finally:
            self.abort()

    def abort(self) -> None:
        """Stop without writing what is staged; close the descriptors (the caller discards the file)."""
        self.writer.shutdown(wait=True)
        for fd in (self.plain, self.direct):
            if fd is not None:
                os.close(fd)
        self.plain = self.direct = None  # type: ignore[assignment]

    def _wait(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()

    def _flush(self) -> None:
        """Write the current buffer's whole blocks on the writer thread; carry its tail to the other buffer."""
        whole = self.fill // ALIGN * ALIGN
        if not whole:
            return
        self._wait()  # the other buffer's write is done: it may take the tail and the next values
        buf, other = self.buffers[self.current], self.buffers[1 - self.current]
        tail = self.fill - whole
        other[:tail] = buf[whole:self.fill]
        self.pending = self.writer.submit(self._write, buf[:whole], self.base, self.lead)
        self.base += whole
        self.current, self.fill, self.lead = 1 - self.current, tail, 0

    def _write(self, data: np.ndarray, offset: int, lead: int = 0) -> None:
        """Write block-aligned ``data`` at ``offset`` but its first ``lead`` bytes: whole blocks directly, or through
        the page cache where that is refused; the first block through the page cache when it is only partly ours."""
        if lead:
            write_at(self.plain, offset + lead, data[lead:ALIGN])
            data, offset = data[ALIGN:], offset + ALIGN
        if not data.nbytes:
            return
        if self.direct is not None:
            try:
                write_at(self.direct, offset, data)
                self.used_direct = True
                return
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                fd, self.direct = self.direct, None  # this file system's blocks are larger, or it has no O_DIRECT
                os.close(fd)
        write_at(self.plain, offset, data)
