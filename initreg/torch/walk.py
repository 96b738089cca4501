"""A module's tensors as initreg sees them: dotted names, tied aliases, declared initializers, lazy and meta state."""

from __future__ import annotations

import re

from dataclasses import dataclass, field, replace
from typing import Any, Callable

from ..errors import InitializerTypeError, ParameterValueError
from .defaults import declared, standard_buffers
from .placement import compute_dtype, dtype_name


#: how to build a model whose buffers a meta build cannot compute: the fix every meta-buffer error gives
OFF_META = ("build the model with its buffers off the meta device (parameters on meta only: accelerate's "
            "init_empty_weights(include_buffers=False), or build it on the CPU)")

@dataclass(frozen=True)
class Computer:
    """Library code that computes the meta buffers of a module passed to ``run`` (``label`` names it in messages)."""

    label: str
    run: Callable[[Any], Any]
    hides: bool = True  # whether the owner's other tensors are meta stand-ins meanwhile (code that draws weights)


def computer(owner: Any, model: Any) -> Computer | None:
    """Who computes ``owner``'s meta buffers: the transformers ``model`` holding it (its ``_init_weights``), else
    timm's ``owner.init_non_persistent_buffers`` (relative position indices, rotary bands), else nobody."""
    if model is not None:
        # transformers' per-module init: private by name, the hook every model class of the library overrides
        return Computer(f"{type(model).__name__}._init_weights", getattr(model, "_init_weights"))
    hook = getattr(owner, "init_non_persistent_buffers", None)
    if callable(hook) and type(owner).__module__.startswith("timm."):
        return Computer(f"{type(owner).__name__}.init_non_persistent_buffers", lambda _: hook(), hides=False)
    return None


@dataclass
class Slot:
    """One tensor of a module (a parameter, or a meta buffer) under every name it has."""

    name: str  # the first name (named_parameters(remove_duplicate=False) order): its values are drawn under it
    tensor: Any
    aliases: list[str] = field(default_factory=list)
    owners: list[tuple[Any, str]] = field(default_factory=list)  # (module, attribute) for each name
    declared: list = field(default_factory=list)  # the declared initializer (or None) of each name
    buffer: bool = False
    standard: Any = None  # a standard buffer's PyTorch value (BatchNorm statistics)
    computed: Computer | None = None  # the library code that computes this meta buffer

    @property
    def names(self) -> list[str]:
        """Every name of this tensor, the first one first."""
        return [self.name, *self.aliases]

    @property
    def lazy(self) -> bool:
        """Whether the tensor is an UninitializedParameter/Buffer (its shape comes with the first forward)."""
        return is_lazy(self.tensor)

    @property
    def meta(self) -> bool:
        """Whether the tensor lives on the meta device (no storage)."""
        return getattr(self.tensor, "is_meta", False) and not self.lazy

    @property
    def shape(self) -> tuple | None:
        """The full shape (of a DTensor: the global one), None while lazy."""
        return None if self.lazy else tuple(self.tensor.shape)

    @property
    def dtype(self) -> str:
        """The tensor's torch dtype name (``"bfloat16"``, ...)."""
        return dtype_name(self.tensor)


def is_lazy(tensor: Any) -> bool:
    """Whether ``tensor`` is an uninitialized (lazy) parameter or buffer."""
    return any(c.__name__ == "UninitializedTensorMixin" for c in type(tensor).__mro__)


def is_dtensor(tensor: Any) -> bool:
    """Whether ``tensor`` (or the data of a Parameter) is a torch.distributed DTensor."""
    if type(tensor).__name__ == "DTensor":
        return True
    try:
        from torch.distributed.tensor import DTensor
    except Exception:  # a build without distributed support has no DTensor
        return False
    return isinstance(tensor, DTensor)


def check_module(module: Any) -> None:
    """InitializerTypeError unless ``module`` is a torch.nn.Module."""
    import torch

    if not isinstance(module, torch.nn.Module):
        raise InitializerTypeError(f"initreg.torch: module must be a torch.nn.Module, got {type(module).__name__} "
                                   f"{module!r:.80}; pass the model (nn.Module), not its parameters or state_dict")


def slots(module: Any) -> list[Slot]:
    """Every parameter of ``module`` (ties merged), then every meta buffer, in PyTorch's order."""
    check_module(module)
    declared_by_name: dict[str, Any] = {}
    owners: dict[str, tuple[Any, str]] = {}
    buffers: dict[str, Any] = {}
    library = pretrained_class()
    nearest: dict[str, Any] = {}  # module path -> the innermost transformers model holding it
    for prefix, sub in module.named_modules(remove_duplicate=False):
        dot = prefix + "." if prefix else ""
        if library is not None:
            nearest[prefix] = sub if isinstance(sub, library) else nearest.get(prefix.rpartition(".")[0] if prefix
                                                                               else None)
        for rel, init in declared(sub).items():
            declared_by_name.setdefault(dot + rel, init)  # pre-order: an ancestor's init (MHA, Transformer) wins
        for local, _ in sub.named_parameters(recurse=False, remove_duplicate=False):
            owners[dot + local] = (sub, local)
        for local, value in standard_buffers(sub).items():
            buffers[dot + local] = value
    by_id: dict[int, Slot] = {}
    out: list[Slot] = []
    named: dict[str, Any] = {}
    for name, p in module.named_parameters(remove_duplicate=False):
        _check_unique(named, name, p)
        slot = by_id.get(id(p))
        if slot is None:
            slot = by_id[id(p)] = Slot(name, p)
            out.append(slot)
        else:
            slot.aliases.append(name)
        slot.owners.append(owners[name])
        slot.declared.append(declared_by_name.get(name))
    for name, b in module.named_buffers(remove_duplicate=False):
        if b is None or not getattr(b, "is_meta", False):
            continue
        _check_unique(named, name, b)
        path, _, local = _split(module, name)
        slot = by_id.get(id(b))
        if slot is None:
            standard = buffers.get(name)
            owner = module.get_submodule(path) if path else module
            slot = by_id[id(b)] = Slot(name, b, buffer=True, standard=standard,
                                       computed=computer(owner, nearest.get(path)) if standard is None else None)
            out.append(slot)
        else:
            slot.aliases.append(name)
        slot.owners.append((module.get_submodule(path) if path else module, local))
    return out


def pretrained_class() -> Any:
    """transformers.PreTrainedModel when transformers is already imported (a model of it can exist), else None."""
    import sys

    library = sys.modules.get("transformers")
    return getattr(library, "PreTrainedModel", None) if library is not None else None


def _check_unique(named: dict[str, Any], name: str, tensor: Any) -> None:
    """ParameterValueError when two different tensors of the module answer to one dotted name."""
    other = named.setdefault(name, tensor)
    if other is not tensor:
        raise ParameterValueError(
            f"two different tensors of the module are both named {name!r} (a name with a dot in a module's own "
            f"parameters or buffers collides with a submodule's); every tensor needs its own name, as its values "
            f"are drawn under it: rename one (register_parameter / register_buffer without dots); nothing was changed")


def _split(module: Any, name: str) -> tuple[str, str, str]:
    """(submodule path, ".", local name) of a buffer name, whose local part may itself contain dots."""
    path, dot, local = name.rpartition(".")
    while path:
        try:
            module.get_submodule(path)
            return path, dot, local
        except AttributeError:  # the dot is inside the local name
            path, dot, head = path.rpartition(".")
            local = head + "." + local
    return "", "", name


def compute(slot: Slot) -> str:
    """The dtype the slot's values are drawn in (float32 for bfloat16); DTypeError for non-floating tensors."""
    what = "buffer" if slot.buffer else "parameter"
    return compute_dtype(slot.dtype, f"{what} {slot.name!r}")


def buffer_defaults(module: Any) -> dict[str, Any]:
    """{name: PyTorch's value} for the meta buffers of standard modules (BatchNorm statistics) that initialize fills."""
    return {s.name: s.standard for s in slots(module) if s.standard is not None}


def prefixed(found: list[Slot], prefix: str) -> list[Slot]:
    """The slots under their names in the root model: ``prefix.`` before every name (an empty prefix: as they are)."""
    if not prefix:
        return found
    dot = prefix + "."
    return [replace(s, name=dot + s.name, aliases=[dot + a for a in s.aliases]) for s in found]


def _apply_root(module: Any) -> Any:
    """The module whose ``nn.Module.apply`` (outermost) is running ``module``'s call, or None."""
    import sys

    import torch

    code = torch.nn.Module.apply.__code__
    root, frame = None, sys._getframe(1)
    while frame is not None:
        if frame.f_code is code and isinstance(frame.f_locals.get("self"), torch.nn.Module):
            root = frame.f_locals["self"]  # keep walking out: the outermost apply is the root's
        frame = frame.f_back
    return root


def _path_in(root: Any, module: Any) -> str | None:
    """``module``'s dotted path in ``root`` ("" for root itself), or None when it is not inside."""
    for path, sub in root.named_modules(remove_duplicate=False):
        if sub is module:
            return path
    return None


def _caller_parent(module: Any) -> Any:
    """A module in a caller's local variables that holds ``module`` as a strict submodule (a loop over modules)."""
    import sys

    import torch

    frame, depth = sys._getframe(2), 0
    while frame is not None and depth < 8:
        for value in list(frame.f_locals.values()):
            if isinstance(value, torch.nn.Module) and value is not module and _path_in(value, module):
                return value
        frame, depth = frame.f_back, depth + 1
    return None


#: wrappers whose names put a prefix before the wrapped model's: class name → (prefix, the wrapped model)
_WRAPPERS = {"OptimizedModule": ("_orig_mod.", "model._orig_mod (or the model before torch.compile)"),
             "DistributedDataParallel": ("module.", "model.module (or the model before DDP wraps it)"),
             "DataParallel": ("module.", "model.module (or the model before DataParallel wraps it)")}


def warn_wrapped(module: Any, prefix: str | None, name_map: Any) -> None:
    """Warn when ``module`` is a wrapper (torch.compile, DDP) whose names differ from the model's, and no name map says so."""
    wrapped = _WRAPPERS.get(type(module).__name__)
    if wrapped is None or prefix is not None or name_map is not None:
        return
    import warnings

    from ..errors import InitregWarning, user_stacklevel

    start, inner = wrapped
    warnings.warn(InitregWarning(
        f"the model is wrapped ({type(module).__name__}): its parameter names start with {start!r}, so its values "
        f"(keyed by name) differ from the unwrapped model's; initialize {inner}, or pass name_map=[(r'^{re.escape(start)}', '')] "
        f"to draw the unwrapped model's values"), stacklevel=user_stacklevel())


def root_prefix(module: Any, prefix: str | None) -> str:
    """The path of ``module`` in the model being initialized: ``prefix`` if given, else found through a running
    ``model.apply``, else "" (with a warning when a caller holds a model that contains ``module``)."""
    if prefix is not None:
        if not isinstance(prefix, str):
            raise ParameterValueError(f"prefix must be a str (the module's dotted path in the root model, '' for the "
                                      f"root), got {prefix!r}")
        return prefix.rstrip(".")
    root = _apply_root(module)
    path = _path_in(root, module) if root is not None else None
    if path is not None:
        return path
    parent = _caller_parent(module)
    if parent is not None:
        import warnings

        from ..errors import SharedStreamWarning, user_stacklevel

        warnings.warn(f"initializing a {type(module).__name__} that is a submodule ({_path_in(parent, module)!r}) of a "
                      f"{type(parent).__name__} by its local names ('weight', 'bias'): every same-shaped submodule "
                      f"initialized this way gets identical values. Pass prefix= (its path in the root model), or "
                      f"initialize the root model", SharedStreamWarning, stacklevel=user_stacklevel())
    return ""
