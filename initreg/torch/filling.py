"""initialize(): plan a torch module, then fill every tensor the plan covers — all of them or none."""

from __future__ import annotations

from typing import Any

from ..errors import MissingDependencyError
from ..planning.explanation import Explanation, Row
from ..planning.precedence import seed_of
from ..core.stream import resolve_seed
from .lazy import defer
from .placement import empty_like, fill
from .planning import KEEP, plan_slots
from .walk import Slot, compute, is_dtensor, slots


def _fill_local() -> Any:
    """initreg.torch.dtensor.fill_local, or MissingDependencyError saying what is missing."""
    try:
        from .dtensor import fill_local
    except ImportError as exc:
        raise MissingDependencyError(f"a parameter is a DTensor (sharded), but initreg.torch.dtensor cannot be loaded "
                                     f"({exc}); install initreg with DTensor support (initreg[torch]) and "
                                     f"torch.distributed; nothing was changed") from exc
    return fill_local


def _device(device: Any) -> Any:
    import torch

    from ..errors import DeviceError

    try:
        return torch.device("cpu" if device is None else device)
    except (RuntimeError, TypeError) as exc:
        raise DeviceError(f"device={device!r} is not a torch device: {exc}; use 'cpu', 'cuda', 'cuda:1' or a "
                          f"torch.device") from None


def initialize(module: Any, init: Any = None, *, seed: int | None = None, device: Any = None, default: Any = None,
               strict: bool = False) -> Explanation:
    """Fill every parameter of ``module`` by rules, declared initializers and ``default``; the table of what each got."""
    import torch

    everything = slots(module)
    found = [s for s in everything if s.standard is None]
    standard = [s for s in everything if s.standard is not None]
    seed = resolve_seed(seed if seed is not None else seed_of(init))
    table = plan_slots(found, init, seed=seed, default=default, strict=strict)
    target = _device(device)
    work = [(s, r) for s, r in zip(found, table.rows) if r.source != KEEP]
    now = [(s, r) for s, r in work if not s.lazy]
    for s, r in now:
        compute(s)  # DTypeError for a tensor initreg cannot fill, before anything changes
    local = _fill_local() if any(is_dtensor(s.tensor) for s, _ in now) else None
    table.diagnostics.warn()
    backups: list[tuple[Any, Any]] = []
    fresh: list[tuple[Slot, Any]] = []
    try:
        with torch.no_grad():
            for s, r in now:
                if s.meta:  # new storage, installed only once every fill has succeeded
                    tensor = empty_like(s.tensor, target)
                    fresh.append((s, tensor))
                else:
                    tensor = s.tensor.detach()
                    backups.append((tensor, tensor.clone()))
                _fill_one(s, r, tensor, seed, local)
            for s in standard:  # meta buffers of standard modules (BatchNorm statistics) get PyTorch's values
                fresh.append((s, torch.full_like(s.tensor, s.standard, device=target)))
    except BaseException:
        with torch.no_grad():
            for tensor, old in backups:
                tensor.copy_(old)
        raise
    for s, tensor in fresh:
        _install(s, tensor)
    defer(module, [(s, r) for s, r in work if s.lazy], init, seed, default)
    return table


def _fill_one(slot: Slot, row: Row, tensor: Any, seed: int, local: Any) -> None:
    if local is not None and is_dtensor(tensor):
        local(tensor, row, seed)
    else:
        fill(tensor, row.initializer, slot.name, seed)


def _install(slot: Slot, tensor: Any) -> None:
    """Put materialized storage under every name of the slot (one object for all: ties survive)."""
    import torch

    old = slot.tensor
    if slot.buffer:
        value = tensor
    elif type(old) is torch.nn.Parameter or not isinstance(old, torch.nn.Parameter):
        value = torch.nn.Parameter(tensor, requires_grad=old.requires_grad)
    else:  # a Parameter subclass keeps its class
        value = type(old)(tensor, requires_grad=old.requires_grad)
    for owner, attr in slot.owners:
        setattr(owner, attr, value)
