"""Devices: cpu(i) and gpu(i), the array module of each, transfers between them."""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Iterable

import numpy as _numpy
from numpy import ndarray as _ndarray

from ..errors import DeviceError, DeviceUnavailableError

_KINDS = ("cpu", "gpu")
GPU_HINT = "install CuPy for your CUDA version (pip install 'initreg[gpu]' or cupy-cuda12x) on a machine with an NVIDIA GPU"


class Device:
    """A place where arrays live: ``cpu(i)`` (NumPy) or ``gpu(i)`` (CuPy)."""

    __slots__ = ("kind", "index")

    def __init__(self, kind: str = "cpu", index: int = 0):
        if kind not in _KINDS:
            raise DeviceError(f"unknown device kind {kind!r}; use cpu(i) or gpu(i)")
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise DeviceError(f"device index must be a non-negative int, got {index!r}")
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "index", index)

    def __setattr__(self, name, value):
        raise AttributeError("Device is immutable")

    def __repr__(self) -> str:
        return f"{self.kind}({self.index})"

    def __eq__(self, other: object) -> bool:
        return other is self or (isinstance(other, Device) and self.kind == other.kind and self.index == other.index)

    def __hash__(self) -> int:
        return hash((self.kind, self.index))

    def __reduce__(self):
        return (Device, (self.kind, self.index))

    @property
    def xp(self) -> Any:
        """The array module of this device: numpy, or cupy for a GPU."""
        if self.kind == "cpu":
            return _numpy
        return _cupy_for(self.index)

    def check(self) -> "Device":
        """Raise DeviceUnavailableError unless arrays can be placed here; return self."""
        self.xp
        return self

    def put(self, array: Any) -> Any:
        """A copy of ``array`` (from any device) on this device."""
        if self.kind == "cpu":
            import numpy

            return numpy.array(to_numpy(array), copy=True)
        with on_device(self):
            return self.xp.array(array, copy=True)


def cpu(index: int = 0) -> Device:
    """The CPU device ``index`` (all CPU devices share host memory; copies stay separate)."""
    return _CPU0 if index == 0 and type(index) is int else Device("cpu", index)


_CPU0 = Device("cpu", 0)  # Devices are immutable: the common one is shared
MAX_DEVICES = 1024  # devices one parameter may be given (a list longer than this is a mistake)


def gpu(index: int = 0) -> Device:
    """The CUDA GPU ``index``; using it needs CuPy (the ``gpu`` extra)."""
    return Device("gpu", index)


@functools.lru_cache(maxsize=None)
def _cupy_for(index: int) -> Any:
    try:
        import cupy
    except Exception as exc:  # ImportError, or a CUDA library error while importing
        raise DeviceUnavailableError(f"gpu({index}) is unavailable: CuPy cannot be imported ({exc}); {GPU_HINT}") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        raise DeviceUnavailableError(f"gpu({index}) is unavailable: CUDA reports no usable device ({exc}); {GPU_HINT}") from None
    if index >= count:
        raise DeviceUnavailableError(f"gpu({index}) is unavailable: this machine has {count} GPU(s), gpu(0)..gpu({count - 1})")
    return cupy


_NO_CONTEXT = contextlib.nullcontext()


def on_device(device: Device) -> Any:
    """A context making ``device`` current (CuPy allocates and launches on the current GPU; nothing on the CPU)."""
    if device.kind == "gpu":
        return _cupy_for(device.index).cuda.Device(device.index)
    return _NO_CONTEXT


def gpu_available(index: int = 0) -> bool:
    """Whether gpu(index) can be used here."""
    try:
        _cupy_for(index)
    except DeviceUnavailableError:
        return False
    return True


def as_devices(device: "Device | Iterable[Device] | None", default: "list[Device] | None" = None) -> list[Device]:
    """Normalize None / one device / a list of devices to a non-empty list without duplicates."""
    if device is None:
        return list(default) if default else [cpu(0)]
    if isinstance(device, Device):
        items = [device]
    elif isinstance(device, (str, bytes)) or not hasattr(device, "__iter__"):  # "cuda", 0, a torch.device: not ours
        raise DeviceError(f"{device!r} is not a Device; use initreg.cpu(i) or initreg.gpu(i), or a list of them")
    else:
        items = device
    out: dict[Device, None] = {}
    for count, d in enumerate(items, 1):  # checked as read: an endless or huge iterable stops early
        if not isinstance(d, Device):
            raise DeviceError(f"{d!r} is not a Device; use initreg.cpu(i) or initreg.gpu(i)")
        if count > MAX_DEVICES:
            raise DeviceError(f"more than {MAX_DEVICES:,} devices were given; a parameter lives on a few")
        out[d] = None
    if not out:
        raise DeviceError("an empty device list was given; pass a device such as cpu(0) or a list of them")
    return list(out)


def device_of(array: Any) -> Device:
    """The device an array lives on (cpu(0) for NumPy arrays)."""
    if type(array) is _ndarray:
        return _CPU0
    dev = getattr(array, "device", None)
    if type(array).__module__.startswith("cupy") and dev is not None:
        return gpu(int(dev.id))
    return cpu(0)


def to_numpy(array: Any) -> Any:
    """A NumPy view or copy of an array from any device."""
    if type(array).__module__.startswith("cupy"):
        return array.get()
    import numpy

    return numpy.asarray(array)
