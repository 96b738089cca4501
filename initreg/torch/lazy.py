"""Deferred initialization for lazy modules: the request is recorded; the values land when the first forward gives the shape."""

from __future__ import annotations

import warnings
from typing import Any

from ..planning.explanation import Row
from .placement import fill
from .planning import plan_slots
from .walk import Slot, slots


def defer(root: Any, pending: list[tuple[Slot, Row]], init: Any, seed: int, default: Any, prefix: str = "",
          options: dict[str, Any] | None = None) -> list[Any]:
    """Register, on each lazy module holding a pending slot, a hook that fills it right after its shape is inferred;
    the hooks' handles (``handle.remove()`` takes one back).

    ``options``: the call's vars=, only= and name_map=, applied again when the hook plans the module."""
    prefixes = {id(m): ".".join(filter(None, (prefix, p))) for p, m in root.named_modules(remove_duplicate=False)}
    owners: dict[int, Any] = {}
    for slot, _ in pending:
        owner = slot.owners[0][0]
        owners[id(owner)] = owner
    return [_register(owner, prefixes[id(owner)], init, seed, default, options or {}) for owner in owners.values()]


def _register(owner: Any, prefix: str, init: Any, seed: int, default: Any, options: dict[str, Any]) -> Any:
    handle = None

    def hook(module: Any, args: Any) -> None:
        import torch

        # runs after LazyModuleMixin's own pre-hook (registered in the module's __init__) materialized the shapes
        if any(s.lazy for s in slots(module)):
            return
        found = [_prefixed(s, prefix) for s in slots(module) if not s.buffer]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the rules were checked against every name when initialize ran
            table = plan_slots(found, init, seed=seed, default=default, **options)
        backups = []
        try:
            with torch.no_grad():
                for s, r in zip(found, table.rows):
                    if r.initializer is not None:
                        backups.append((s.tensor, s.tensor.detach().clone()))
                        fill(s.tensor, r.initializer, r.key_name, seed)
        except BaseException:
            with torch.no_grad():  # the module keeps what PyTorch's own materialization gave it
                for tensor, old in reversed(backups):
                    tensor.copy_(old)
            raise
        handle.remove()

    handle = owner.register_forward_pre_hook(hook)
    return handle


def _prefixed(slot: Slot, prefix: str) -> Slot:
    """The slot under its names in the whole model (a lazy module's own walk names them locally)."""
    dot = prefix + "." if prefix else ""
    return Slot(dot + slot.name, slot.tensor, [dot + a for a in slot.aliases], slot.owners, slot.declared)
