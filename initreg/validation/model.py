"""What ``initreg.check`` tests a PyTorch model against: the torch adapter's plan (rules, then declared defaults)."""

from __future__ import annotations

import sys
from typing import Any

from ..core.initializer import Initializer
from ..errors import ValidationError


def is_torch_module(obj: Any) -> bool:
    """Whether ``obj`` is a ``torch.nn.Module`` (without importing torch: a module exists only once torch is loaded)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def planned_slots(module: Any) -> list[Any]:
    """The module's slots that a plan covers: parameters under all their names, and meta buffers no standard
    module or library computes (as ``initreg.torch.plan`` sees them)."""
    from ..torch.walk import slots

    return [s for s in slots(module) if s.standard is None and s.computed is None]


def module_arrays(module: Any) -> dict[str, Any]:
    """name → tensor of each planned slot (a tied tensor under its first name only), uncopied."""
    found = planned_slots(module)
    empty = [s.name for s in found if s.meta or s.lazy]
    if empty:
        raise ValidationError(f"parameter(s) {', '.join(map(repr, empty[:5]))} hold no values (meta device or lazy); "
                              f"check a materialized model, or check its checkpoint with model= (or --torch)")
    return {s.name: s.tensor for s in found}


def module_plan(module: Any, init: Any) -> tuple[dict[str, Initializer], list[tuple[str, str]], set[str]]:
    """(name → initializer, tied pairs, every parameter name) of the module by the one precedence path, as
    ``initreg.torch.initialize`` plans it: explicit > rule > declared > default. Names nothing covers (not even a
    declared default) are left out of the first (unchecked, never an error: a check changes nothing); every name of
    a tied tensor is mapped. Planned with the module, rules see what only it knows (a convolution's ``groups``)."""
    from ..planning.explanation import plan
    from ..torch.planning import slot_entries

    found = planned_slots(module)
    table = plan(slot_entries(found), init)
    chosen = {row.name: row.initializer for row in table.rows
              if row.initializer is not None and row.source != "global default"}
    ties = [(s.name, alias) for s in found for alias in s.aliases]
    return chosen, ties, {n for s in found for n in s.names}


__all__ = ["is_torch_module", "module_arrays", "module_plan"]
