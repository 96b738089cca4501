"""initialize(): plan a torch module, then fill every tensor the plan covers — all of them or none."""

from __future__ import annotations

import functools
import itertools
import warnings
from dataclasses import replace
from typing import Any

from ..errors import AllocationError, MissingDependencyError, ParameterValueError, ReinitializationWarning, clipped
from ..planning.explanation import Explanation, Row
from ..planning.leaves import adapter_seed
from ..planning.precedence import only_mask
from .lazy import defer
from .placement import empty_like, fill
from .storage import check_overlaps
from .planning import KEEP, plan_slots, timm_recipe
from .walk import OFF_META, Slot, compute, is_dtensor, prefixed, root_prefix, slots, warn_wrapped


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


def initialize(module: Any, init: Any = None, *, seed: int | None = None, strict: bool = False, default: Any = None,
               device: Any = None, prefix: str | None = None, vars: Any = None, only: Any = None,
               name_map: Any = None) -> Explanation:
    """Fill every parameter of ``module`` by rules, declared initializers and ``default``; the table of what each got.

    ``prefix``: ``module``'s dotted path in the root model, so a submodule is keyed by its full names; found by
    itself inside ``root.apply(fn)``, else "" (with a warning when a caller holds a model containing ``module``).
    ``vars``, ``only`` and ``name_map`` are initreg.plan's: a tensor outside ``only`` (buffers included) is left
    exactly as it is, and values are drawn under the mapped names.
    """
    import torch

    warn_wrapped(module, prefix, name_map)
    prefix = root_prefix(module, prefix)
    everything = prefixed(slots(module), prefix)
    found = [s for s in everything if s.standard is None and s.computed is None]
    seed = adapter_seed(seed, init)  # one concrete seed for the fills and any deferred (lazy) fill
    table = plan_slots(found, init, seed=seed, default=default, strict=strict, vars=vars, only=only,
                       name_map=name_map)
    flat = only_mask([n for s in everything for n in s.names], only)  # a tied tensor is inside by any of its names
    at = list(itertools.accumulate([0, *(len(s.names) for s in everything)]))
    inside = [any(flat[at[k]:at[k + 1]]) for k in range(len(everything))] if flat is not None else [True] * len(everything)
    standard = [s for s, i in zip(everything, inside) if i and s.standard is not None]  # meta buffers outside only= stay
    computed = [s for s, i in zip(everything, inside) if i and s.computed is not None]
    target = _device(device)
    work = [(s, r) for s, r in zip(found, table.rows) if r.source != KEEP]
    now = [(s, r) for s, r in work if not s.lazy]
    for s, r in now:
        compute(s)  # DTypeError for a tensor initreg cannot fill, before anything changes
    check_overlaps([(s.name, s.tensor) for s in everything if not s.lazy and not is_dtensor(s.tensor)])
    local = _fill_local() if any(is_dtensor(s.tensor) for s, _ in now) else None
    # every meta tensor's new storage and object is built before anything is touched: a failure here changes nothing
    try:
        fresh = {id(s): _materialized(s, None if is_dtensor(s.tensor) else empty_like(s.tensor, target), target)
                 for s, _ in now if s.meta}
        fresh.update({id(s): _materialized(s, torch.full_like(s.tensor, s.standard, device=target)) for s in standard})
        fresh.update({id(s): _materialized(s, _unwritten(s.tensor, target)) for s in computed})
    except (MemoryError, RuntimeError) as exc:  # torch's "can't allocate memory" is a RuntimeError
        if isinstance(exc, RuntimeError) and "alloc" not in str(exc).lower() and "out of memory" not in str(exc):
            raise
        need = sum(s.tensor.numel() * s.tensor.element_size() for s in everything if s.meta)
        raise AllocationError(f"the meta model's tensors need {need / 2**30:,.1f} GiB on {target}, more memory than it "
                              f"gives ({type(exc).__name__}); write a seed checkpoint with `initreg init --torch` or "
                              f"shard the model (DTensor/FSDP2). Nothing was changed") from None
    table.diagnostics.warn()
    _warn_frozen(module, now)
    if init is None and default is None:
        _warn_timm_defaults(module, now)
    backups: list[tuple[Any, Any]] = []
    undo: list[tuple[Any, str, Any, bool]] = []
    marks: list[tuple[Any, str, bool, Any]] = []
    hooks: list[Any] = []
    try:
        for s in everything:
            if id(s) in fresh:
                _install(s, fresh[id(s)], undo)
        with torch.no_grad():
            for s, r in now:
                if id(s) in fresh:
                    tensor = fresh[id(s)].detach()
                else:
                    tensor = s.tensor.detach()
                    backups.append((tensor, tensor.clone()))
                _fill_one(s, r, tensor, seed, local)
        _compute_buffers(computed, {id(s): fresh[id(s)] for s in computed})
        hooks = defer(module, [(s, r) for s, r in work if s.lazy], init, seed, default, prefix,
                      dict(vars=vars, only=only, name_map=name_map))
        _mark_library_initialized(module, marks)
        _keep_timm_values(module, marks)
    except BaseException:
        for handle in hooks:
            handle.remove()
        for obj, attr, had, old in reversed(marks):
            object.__setattr__(obj, attr, old) if had else object.__delattr__(obj, attr)
        with torch.no_grad():
            for tensor, old in reversed(backups):
                tensor.copy_(old)
        for owner, attr, old, buffer in reversed(undo):
            _assign(owner, attr, old, buffer)
        raise
    return table


def _warn_frozen(module: Any, work: list[tuple[Slot, Row]]) -> None:
    """Warn when a transformers model's frozen parameters get a default no rule chose: the library computes such
    tensors in its own init (Whisper's, Marian's, Pegasus' sinusoidal position tables), and they never train."""
    from .walk import pretrained_class

    library = pretrained_class()
    frozen = [(s, r) for s, r in work if r.source in ("declared", "default") and not s.buffer
              and not getattr(s.tensor, "requires_grad", True)]
    if not frozen or library is None or not any(isinstance(m, library) for m in module.modules()):
        return
    from ..errors import InitregWarning, user_stacklevel

    shown = ", ".join(f"{s.name!r} ({r.initializer_text})" for s, r in frozen[:4])
    more = f" and {len(frozen) - 4} more" if len(frozen) > 4 else ""
    warnings.warn(InitregWarning(
        f"{len(frozen)} frozen parameter(s) (requires_grad=False) of this transformers model get a default no rule "
        f"chose: {shown}{more}. They never train, and transformers computes such tensors in its own init (sinusoidal "
        f"position tables); give them a rule ('keep' keeps a built model's values), or see 'Frozen tensors' in "
        f"docs/torch.md"), stacklevel=user_stacklevel())


def _warn_timm_defaults(module: Any, work: list[tuple[Slot, Row]]) -> None:
    """Warn when a timm model given no rules gets PyTorch's declared defaults: timm's own init (run in its
    constructor, on meta tensors for nothing) draws most of its tensors otherwise (113 of efficientnet_b0's 213)."""
    home = type(module).__module__
    declared = sum(1 for _, r in work if r.source == "declared")
    if not home.startswith("timm.models.") or not declared:
        return
    from ..errors import InitregWarning, user_stacklevel

    recipe = timm_recipe([module])
    fix = (f"initialize(model, 'recipe:{recipe}', ...) follows timm's init" if recipe else
           f"no recipe ships for {home}: write rules from its init (docs/recipes.md)")
    warnings.warn(InitregWarning(
        f"{declared} parameter(s) of this timm {type(module).__name__} get PyTorch's declared defaults, not timm's own "
        f"init (no rules were given); {fix}; rules of your own, {{}} included, keep PyTorch's without this warning"),
        stacklevel=user_stacklevel())


def _unwritten(tensor: Any, device: Any) -> Any:
    """New storage like ``tensor`` holding a marker no computed buffer holds (NaN, the integer minimum, or for bool
    the byte 2, which no True or False the library writes leaves)."""
    import torch

    if tensor.dtype == torch.bool:
        value = torch.empty_like(tensor, device=device)
        value.view(torch.uint8).fill_(2)
        return value
    marker = complex("nan+nanj") if tensor.dtype.is_complex else float("nan") if tensor.dtype.is_floating_point \
        else torch.iinfo(tensor.dtype).min
    return torch.full_like(tensor, marker, device=device)


def _is_unwritten(value: Any) -> bool:
    """Whether ``value`` (made by :func:`_unwritten`) still holds its marker anywhere."""
    import torch

    if value.dtype == torch.bool:
        return bool((value.view(torch.uint8) == 2).any())
    if value.dtype.is_floating_point or value.dtype.is_complex:
        return bool(value.isnan().any())
    return bool((value == torch.iinfo(value.dtype).min).any())


def _compute_buffers(computed: list[Slot], tensors: dict[int, Any]) -> None:
    """Let the library compute the meta buffers of its modules (transformers' ``_init_weights``, timm's
    ``init_non_persistent_buffers``).

    The buffers' storage is in place (holding a marker); only modules owning such a buffer are passed, every other
    tensor under them is a meta stand-in meanwhile (initreg's values stay, though CLIP's re-initializes the owner's
    children, and no embedding table is copied or drawn), and a buffer the library left unwritten is an error.
    """
    import torch

    asked = {id(tensors[id(s)]) for s in computed}
    done: set[int] = set()
    gpus = sorted({t.device.index or 0 for t in tensors.values() if t.device.type == "cuda"})
    for s in computed:
        owner = s.owners[0][0]
        if id(owner) in done:
            continue
        done.add(id(owner))
        hidden = _hide(owner, asked) if s.computed.hides else []
        try:  # what the library draws (a temporary, a stand-in) comes from torch's generators: they stay as they were
            with torch.no_grad(), torch.random.fork_rng(devices=gpus):
                s.computed.run(owner)
        except Exception as exc:
            raise ParameterValueError(
                f"buffer {s.name!r} is on the meta device and {s.computed.label} (the library's "
                f"own code for it) failed computing it ({type(exc).__name__}: {clipped(str(exc))}); {OFF_META}; "
                f"nothing was changed") from exc
        finally:
            for table, key, tensor in reversed(hidden):
                table[key] = tensor
        _reinstall(owner, computed, tensors)
    for s in computed:
        if _is_unwritten(tensors[id(s)]):
            raise ParameterValueError(
                f"buffer {s.name!r} is on the meta device and {s.computed.label} (the "
                f"library's own code for it) did not compute it; {OFF_META}; nothing was changed")


def _reinstall(owner: Any, computed: list[Slot], tensors: dict[int, Any]) -> None:
    """A buffer the library registered anew (timm's Swin ``attn_mask``): its values into initreg's storage, which
    goes back in its place (so a later error still undoes everything)."""
    for s in computed:
        mine = tensors[id(s)]
        for module, local in s.owners:
            now = module._buffers.get(local) if module is owner else mine
            if now is mine:
                continue
            if now is not None and not now.is_meta and tuple(now.shape) == tuple(mine.shape):
                mine.copy_(now)
            module._buffers[local] = mine


def _hide(owner: Any, asked: set[int]) -> list[tuple[dict, str, Any]]:
    """Put a meta stand-in for each real tensor under ``owner`` but the ``asked`` buffers; each (table, key, tensor)."""
    import torch

    hidden = []
    for sub in owner.modules():
        for table in (sub._parameters, sub._buffers):
            for key, tensor in list(table.items()):
                if tensor is None or id(tensor) in asked or tensor.device.type == "meta":
                    continue
                stand_in = torch.empty(tensor.shape, dtype=tensor.dtype, device="meta")
                if isinstance(tensor, torch.nn.Parameter):
                    stand_in = torch.nn.Parameter(stand_in, requires_grad=tensor.requires_grad)
                hidden.append((table, key, tensor))
                table[key] = stand_in
    return hidden


def _mark_library_initialized(module: Any, marks: list[tuple[Any, str, bool, Any]]) -> None:
    """Set transformers' ``_is_hf_initialized`` on every module, parameter and buffer that holds values, so its own
    init leaves them (one still on meta, outside ``only=``, and the modules holding one are left for it)."""
    from .walk import pretrained_class

    library = pretrained_class()
    if library is None or not any(isinstance(m, library) for m in module.modules()):
        return
    def tensors(m: Any) -> list[Any]:
        return [*m.parameters(), *(b for b in m.buffers() if b is not None)]
    done = [m for m in module.modules() if not any(t.is_meta for t in tensors(m))]
    for obj in [*done, *(t for t in tensors(module) if not t.is_meta)]:
        _mark(obj, "_is_hf_initialized", True, marks)


def _mark(obj: Any, attr: str, value: Any, marks: list[tuple[Any, str, bool, Any]]) -> None:
    """``obj.attr = value``, logged in ``marks`` so an error can take it back; an object refusing it is an error."""
    own = getattr(obj, "__dict__", {})
    had, old = attr in own, own.get(attr)
    try:
        setattr(obj, attr, value)
    except Exception as exc:
        raise ParameterValueError(f"{type(obj).__name__} refuses the attribute {attr!r}, which keeps its library's own "
                                  f"init from redrawing initreg's values ({type(exc).__name__}: {exc}); nothing was "
                                  f"changed") from None
    marks.append((obj, attr, had, old))


def _keep_timm_values(module: Any, marks: list[tuple[Any, str, bool, Any]]) -> None:
    """timm keeps no "initialized" mark (transformers' ``_is_hf_initialized``): on a model initreg filled, its
    modules' own ``init_weights()`` warns and keeps initreg's values instead of redrawing them from torch's generator."""
    for m in module.modules():
        cls = type(m)
        if cls.__module__.startswith("timm.") and callable(getattr(cls, "init_weights", None)):
            _mark(m, "init_weights", functools.partial(_timm_init_weights_kept, cls.__name__), marks)  # picklable


def _timm_init_weights_kept(owner: str, *args: Any, **kwargs: Any) -> None:
    warnings.warn(ReinitializationWarning(
        f"{owner}.init_weights(): initreg.torch.initialize gave this model its values, and timm's init would redraw "
        f"them from torch's generator; they were kept (del model.init_weights, or call type(model).init_weights"
        f"(model), to run timm's anyway)"), stacklevel=2)


def _fill_one(slot: Slot, row: Row, tensor: Any, seed: int, local: Any) -> None:
    if local is not None and is_dtensor(tensor):
        local(tensor, row if row.key_name == row.name else replace(row, name=row.key_name), seed)  # drawn by row.name
    else:
        fill(tensor, row.initializer, row.key_name, seed)


def _materialized(slot: Slot, tensor: Any, device: Any = None) -> Any:
    """The object to put under the slot's names: the buffer itself, or a Parameter of the slot's class around it."""
    import torch

    old = slot.tensor
    if slot.buffer:
        return tensor
    if is_dtensor(old):
        return _materialized_dtensor(slot, device)
    if not issubclass(type(old), torch.nn.Parameter) or type(old) is torch.nn.Parameter:
        return torch.nn.Parameter(tensor, requires_grad=old.requires_grad)
    try:  # a Parameter subclass keeps its class
        value = type(old)(tensor, requires_grad=old.requires_grad)
    except Exception as exc:
        raise ParameterValueError(
            f"parameter {slot.name!r} is a {type(old).__name__} on the meta device, and {type(old).__name__}(tensor, "
            f"requires_grad=...) fails ({type(exc).__name__}: {exc}); materialize it yourself "
            f"(module.to_empty(device=...)), then initialize; nothing was changed") from exc
    if value.data_ptr() != tensor.data_ptr() and tensor.numel():
        raise ParameterValueError(
            f"parameter {slot.name!r}: {type(old).__name__}(tensor) does not keep the given storage, so initreg cannot "
            f"fill it in place; materialize it yourself (module.to_empty(device=...)), then initialize; nothing was "
            f"changed")
    return value


def _materialized_dtensor(slot: Slot, device: Any) -> Any:
    """A Parameter around a DTensor with the meta DTensor's mesh, placements and shape, its local shard on ``device``.

    FSDP2 (``fully_shard`` on the meta device) picks the new parameter up itself (``reset_sharded_param`` at its lazy
    init, as after ``to_empty``), so the first forward gathers initreg's shards.
    """
    import torch
    from torch.distributed.tensor import DTensor

    old = slot.tensor
    try:
        local = torch.empty_like(old.to_local(), device=device)
        value = DTensor.from_local(local, old.device_mesh, old.placements, run_check=False, shape=old.shape,
                                   stride=old.stride())
    except Exception as exc:
        raise ParameterValueError(
            f"parameter {slot.name!r} is a DTensor on the meta device and its local shard cannot be built on "
            f"{device} ({type(exc).__name__}: {exc}); pass the device of its mesh as device=, or materialize it "
            f"yourself (module.to_empty(device=...)), then initialize; nothing was changed") from exc
    return torch.nn.Parameter(value, requires_grad=old.requires_grad)


def _assign(owner: Any, attr: str, value: Any, buffer: bool) -> None:
    """``owner.attr = value``; a name with a dot (which setattr refuses) goes into the module's own table."""
    if "." in attr:
        getattr(owner, "_buffers" if buffer else "_parameters")[attr] = value
    else:
        setattr(owner, attr, value)


def _install(slot: Slot, value: Any, undo: list) -> None:
    """Put materialized storage under every name of the slot (one object for all: ties survive), recording the undo."""
    for owner, attr in slot.owners:
        try:
            _assign(owner, attr, value, slot.buffer)
        except Exception as exc:
            raise ParameterValueError(
                f"parameter {slot.name!r}: setting {attr!r} on its {type(owner).__name__} module failed "
                f"({type(exc).__name__}: {exc}); materialize the module yourself (module.to_empty(device=...)), "
                f"then initialize; nothing was changed") from exc
        undo.append((owner, attr, slot.tensor, slot.buffer))  # only what did change is undone
