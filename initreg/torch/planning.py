"""The plan of a torch module: ``initreg.plan`` on its real names, declared initializers and ties; no values touched."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..errors import ParameterValueError, RuleError
from ..planning.explanation import Explanation, Row, plan
from ..planning.leaves import KEEP, adapter_seed, is_keep, uncovered_error, with_default
from ..planning.precedence import SOURCES, Entry
from ..core.stream import Stream
from .placement import compute_dtype
from .walk import OFF_META, Slot, prefixed, root_prefix, slots, warn_wrapped


#: timm's model modules whose own init a shipped recipe follows
TIMM_RECIPES = {"efficientnet": "timm-efficientnet", "mobilenetv3": "timm-efficientnet", "regnet": "timm-regnet",
                "resnet": "timm-resnet", "vision_transformer": "timm-vit", "deit": "timm-vit",
                "convnext": "timm-convnext", "swin_transformer": "timm-swin", "swin_transformer_v2": "timm-swinv2"}


def timm_recipe(modules: Any) -> str | None:
    """The shipped recipe following timm's own init of the first of ``modules`` a timm model file defines."""
    for m in modules:
        home = type(m).__module__
        if home.startswith("timm.models."):
            return TIMM_RECIPES.get(home.rpartition(".")[2])
    return None


def conv_groups(module: Any) -> int | None:
    """A PyTorch convolution's ``groups`` (what timm divides fan_out by), else None."""
    import torch.nn as nn

    convs = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
    return int(module.groups) if isinstance(module, convs) else None


def slot_entries(found: list[Slot]) -> list[Entry]:
    """One precedence Entry per name of each slot (a tied tensor's names in order), with its declared initializer."""
    entries = []
    for s in found:
        dtype = compute_dtype(s.dtype, default="float32")  # checked when filled: "keep" may leave other dtypes alone
        state = "deferred" if s.lazy else "declared"
        for k, name in enumerate(s.names):
            groups = conv_groups(s.owners[k][0])
            entries.append(Entry(name, s.shape, dtype, "OI", declared=s.declared[k] if not s.buffer else None,
                                 state=state, groups=groups))
    return entries


def plan_slots(found: list[Slot], init: Any = None, *, seed: int | None = None, default: Any = None,
               strict: bool = False, vars: Any = None, only: Any = None, name_map: Any = None) -> Explanation:
    """One Row per slot (aliases merged) by initreg.plan; RuleError / ParameterValueError for what cannot be filled.

    ``vars``, ``only`` and ``name_map`` are initreg.plan's; a tied tensor is drawn under its first name's mapped name.
    """
    seed = adapter_seed(seed, init, fresh=False)
    planned = plan(slot_entries(found), with_default(init, default), seed=seed, strict=strict, vars=vars, only=only,
                   name_map=name_map)
    rows, at = [], 0
    for s in found:
        rows.append(_merge(s, planned.rows[at:at + len(s.names)], seed))
        at += len(s.names)
    keep = is_keep(default)
    rows = [_keep(s, r) if keep and r.source == "global default" else r for s, r in zip(found, rows)]
    _check(found, rows, keep)
    return ModuleExplanation(rows, seed, planned.diagnostics)


class ModuleExplanation(Explanation):
    """The table of a torch module: one row per tensor, and every tied name too (looked up, and listed when printed)."""

    def __getitem__(self, key: int | str) -> Row:
        if isinstance(key, str) and key not in self._by_name:
            for row in self.rows:  # a tied tensor's other name gives its row
                if key in row.aliases:
                    return row
        return super().__getitem__(key)

    def __str__(self) -> str:
        ties = [f"tied: {', '.join(map(repr, r.aliases))} {'is' if len(r.aliases) == 1 else 'are'} {r.name!r} "
                f"(one tensor, drawn once under {r.name!r})" for r in self.rows if r.aliases]
        return "\n".join([super().__str__(), *ties])


def _merge(slot: Slot, rows: list[Row], seed: int | None) -> Row:
    """The row of a tied tensor: the strongest choice among its names (explicit > rule > declared > default); a name
    outside ``only=`` (kept by no rule) gives way to one inside it."""
    inside = [r for r in rows if not (r.source == KEEP and r.rule is None)] or rows
    best = min(inside, key=lambda r: SOURCES.index(r.source))
    if best.source in ("explicit", "rule"):
        for r in rows:
            if r.source in ("explicit", "rule") and r.initializer != best.initializer:
                raise RuleError(f"parameters {best.name!r} and {r.name!r} are one tied tensor, but {best.decided_by} "
                                f"chooses {best.initializer_text} and {r.decided_by} chooses {r.initializer_text}; "
                                f"make the rules agree, or add one rule for both names before them")
    key_name = rows[0].key_name  # the slot's first name, mapped: what its values are drawn under
    key = Stream(seed, key_name).key if seed is not None and best.source != KEEP else None
    return replace(best, name=slot.name, dtype=slot.dtype, key=key, aliases=tuple(slot.aliases), key_name=key_name)


def _keep(slot: Slot, row: Row) -> Row:
    if slot.meta or slot.lazy:
        what = "on the meta device" if slot.meta else "lazy (uninitialized)"
        raise ParameterValueError(f"default='keep' cannot keep parameter {slot.name!r}: it is {what} and holds no "
                                  f"values; give a rule for it or an initializer as default=")
    return replace(row, source=KEEP, init=KEEP, config={}, args={}, initializer=None)


def _check(found: list[Slot], rows: list[Row], keep: bool) -> None:
    """RuleError naming every parameter nothing covers and every meta buffer no rule covers."""
    uncovered = [r for s, r in zip(found, rows) if not s.buffer and r.source == "global default"]
    if uncovered:
        recipe = timm_recipe(o for s in found for o, _ in s.owners)
        raise uncovered_error(uncovered, "they are not parameters of PyTorch's standard modules",
                              f", or use 'recipe:{recipe}' (timm's own init)" if recipe else "",
                              names=[r.name for r in rows])
    buffers = [s.name for s, r in zip(found, rows)
               if s.buffer and s.standard is None and r.source not in ("rule", "explicit", KEEP)]  # kept: left on meta
    if buffers:
        raise RuleError(f"buffer(s) {', '.join(map(repr, buffers))} are on the meta device and hold no values. initreg "
                        f"knows the values of standard modules' buffers (BatchNorm statistics) and computes those of "
                        f"transformers models with the library's own code; these a module computes in its __init__ "
                        f"(rotary frequencies, position ids) cannot be drawn: {OFF_META}, or, only for a buffer that really "
                        f"is a constant or a random draw, give it a rule; nothing was changed")


def plan_module(module: Any, init: Any = None, *, seed: int | None = None, default: Any = None,
                strict: bool = False, prefix: str | None = None, vars: Any = None, only: Any = None,
                name_map: Any = None) -> Explanation:
    """The table initreg.torch.initialize would follow for ``module``, with aliases for tied parameters."""
    warn_wrapped(module, prefix, name_map)
    found = [s for s in prefixed(slots(module), root_prefix(module, prefix)) if s.standard is None and s.computed is None]  # standard buffers get PyTorch's values, unplanned
    return plan_slots(found, init, seed=seed, default=default, strict=strict, vars=vars, only=only, name_map=name_map)
