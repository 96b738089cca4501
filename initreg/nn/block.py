"""Block (a tree of layers owning parameters named by structural path) and Sequential."""

from __future__ import annotations

import threading
import weakref
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from ..core.device import Device, device_of
from ..errors import DeviceMismatchError, GradientError, LayerError, ShapeError, format_shape
from ..parameters.parameter import Parameter, restore_states, set_merged_shapes
from ..parameters.parameter_dict import ParameterDict
from ..core.shapes import check_dtype, merge_shapes

_calls = threading.local()  # per thread: call depth, the outermost call's undo steps, deferred writes and taped blocks
_OWNED: "weakref.WeakSet[Parameter]" = weakref.WeakSet()  # parameters that already have an owner block


class Grads:
    """Gradient contributions gathered during one backward pass, written to the parameters at the end."""

    def __init__(self) -> None:
        self._sums: dict[tuple[int, Device], list[Any]] = {}

    def wants(self, param: Parameter | None) -> bool:
        """Whether ``param`` keeps a gradient (grad_req is not "null")."""
        return param is not None and param.grad_req != "null"

    def add(self, param: Parameter, device: Device, grad: Any) -> None:
        """Add one use's contribution to ``param``'s gradient on ``device``."""
        if not self.wants(param):
            return
        key = (id(param), device)
        if key in self._sums:
            self._sums[key][2] = self._sums[key][2] + grad
        else:
            self._sums[key] = [param, device, grad]

    def commit(self) -> None:
        """Write the summed gradients: "write" replaces the buffer, "add" accumulates into it."""
        for param, device, grad in self._sums.values():
            buf = param.grad(device)
            if param.grad_req == "add":
                buf += grad
            else:
                buf[...] = grad



def _merged(p: Parameter, shape: tuple, refuse: Callable[[], Exception]) -> tuple | None:
    """``p``'s shape completed by ``shape`` (None when that changes nothing); ``refuse()`` raised where they conflict."""
    try:
        merged = merge_shapes(p.shape, shape, p.name)
    except ShapeError:
        raise refuse() from None
    return merged if merged != p.shape else None

class Block:
    """A layer or a network of layers: child blocks, own parameters, forward and backward.

    Parameters are named by their path ("0.weight"). ``prefix="encoder"`` names a network that stands alone
    ("encoder.0.weight"), so that two networks built alike draw different values under one seed; a block attached
    inside another takes its path there instead.
    """

    def __init__(self, prefix: str | None = None) -> None:
        object.__setattr__(self, "_children", {})
        object.__setattr__(self, "params", ParameterDict())
        object.__setattr__(self, "_owned", {})
        object.__setattr__(self, "_parent", None)
        object.__setattr__(self, "_prefix", _checked_prefix(prefix))
        object.__setattr__(self, "_tape", [])
        object.__setattr__(self, "training", True)

    # -- copies ---------------------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        """The block's attributes with the parent link made strong, so copies and pickles link to copied parents."""
        state = dict(self.__dict__)
        state["_parent"] = self._parent() if self._parent is not None else None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        parent = state["_parent"]
        self.__dict__.update(state, _parent=None if parent is None else weakref.ref(parent))
        _OWNED.update(self._owned.values())

    # -- tree -----------------------------------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        if "_children" not in self.__dict__:
            raise LayerError(f"{type(self).__name__}.__init__ must call super().__init__() before setting {name!r}")
        if isinstance(value, Block):
            self.register_child(value, name)
        elif isinstance(value, Parameter):
            self.register_parameter(name, value)
        elif name in self._children:
            self._detach(name)
        object.__setattr__(self, name, value)

    def register_child(self, block: "Block", name: str | None = None) -> "Block":
        """Attach ``block`` under ``name`` (default: the next index); its parameters get paths below this block."""
        if not isinstance(block, Block):
            raise LayerError(f"{self._where()}: only Blocks can be children, got {block!r}")
        key = str(len(self._children)) if name is None else str(name)
        if any(b is self for b in block._walk()):
            raise LayerError(f"{self._where()}: attaching {type(block).__name__} as {key!r} would make a cycle")
        if name is None and key in self._children:
            raise LayerError(f"{self._where()}: a child is already named {key!r}; give the block another name")
        if key in self._children and self._children[key] is not block:
            self._detach(key)
        self._children[key] = block
        if block._parent is None:  # the first place a block is attached decides its path
            object.__setattr__(block, "_parent", weakref.ref(self))
            block._set_prefix(f"{self._prefix}{key}.")
        return block

    def register_parameter(self, name: str, param: Parameter) -> Parameter:
        """Add ``param`` under the local ``name``; the first block to hold a parameter names it."""
        self.params[name] = param
        self._owned.pop(name, None)
        if param not in _OWNED:
            _OWNED.add(param)
            self._owned[name] = param
            param.rename(self._prefix + name)
        return param

    def _declare(self, specs: list[tuple[str, tuple, Any, Any, str]], params: Any = None) -> None:
        """A layer's parameters, each ``(local, shape, dtype, init, grad_req)``, as attributes: new ones, or the
        same-named ones of ``params`` (tied), every one checked before any shared one is completed."""
        if params is None:
            made = [Parameter(local, shape=shape, dtype=dtype, init=init, grad_req=grad_req)
                    for local, shape, dtype, init, grad_req in specs]
        else:
            found = [self._borrow(local, shape, dtype, params) for local, shape, dtype, _, _ in specs]
            set_merged_shapes({p: merged for p, merged in found if merged is not None})  # all or nothing
            made = [p for p, _ in found]
        for (local, *_), p in zip(specs, made):
            setattr(self, local, p)

    def _borrow(self, local: str, shape: tuple, dtype: Any, params: Any) -> tuple[Parameter, Any]:
        """(parameter ``local`` of another layer's ``params``, its shape completed by this layer's, or None),
        checked to fit this layer; nothing is changed yet."""
        p = params.get(local) if hasattr(params, "get") else None
        if not isinstance(p, Parameter):
            have = ", ".join(map(repr, params)) if hasattr(params, "keys") else repr(params)
            raise LayerError(f"{type(self).__name__}: params= must hold a parameter {local!r} (the .params of a layer "
                             f"of the same kind and options); it holds {have or 'nothing'}")
        if p.dtype != check_dtype(dtype, local):
            raise LayerError(f"{type(self).__name__}: shared parameter {p.name!r} has dtype {p.dtype}, this layer "
                             f"wants {dtype}; build both layers with the same dtype")
        merged = _merged(p, shape, lambda: LayerError(
            f"{type(self).__name__}: shared parameter {p.name!r} has shape {format_shape(p.shape)}, this layer needs "
            f"{format_shape(shape)}; share only between layers of the same size"))
        return p, merged

    def _detach(self, key: str) -> None:
        old = self._children.pop(key)
        if old._parent is not None and old._parent() is self:
            object.__setattr__(old, "_parent", None)

    def _set_prefix(self, prefix: str) -> None:
        object.__setattr__(self, "_prefix", prefix)
        for local, p in self._owned.items():
            p.rename(prefix + local)
        for key, child in self._children.items():
            if child._parent is not None and child._parent() is self:
                child._set_prefix(f"{prefix}{key}.")

    def _walk(self) -> Iterator["Block"]:
        """This block and every block below it, each once, depth-first in child order."""
        seen: set[int] = set()
        stack = [self]
        while stack:
            b = stack.pop()
            if id(b) in seen:
                continue
            seen.add(id(b))
            yield b
            stack.extend(reversed(list(b._children.values())))

    def _where(self) -> str:
        path = self._prefix[:-1]
        return f"{type(self).__name__} {path!r}" if path else type(self).__name__

    @property
    def children(self) -> dict[str, "Block"]:
        """The child blocks by key, in order."""
        return dict(self._children)

    def collect_params(self, select: str | None = None) -> ParameterDict:
        """Every parameter of this block and below, each shared one once, keyed by name (its first path)."""
        out = ParameterDict()
        seen: set[int] = set()
        for b in self._walk():
            for p in b.params.values():
                if id(p) in seen:
                    continue
                seen.add(id(p))
                if p.name in out:
                    raise LayerError(f"two different parameters are named {p.name!r} below {self._where()} (one is "
                                     f"borrowed from a block outside this network); attach that block to the network "
                                     f"or give its parameters other names")
                out[p.name] = p
        return out.select(select) if select is not None else out

    # -- parameters ------------------------------------------------------------------------------------

    def initialize(self, init: Any = None, device: Any = None, force_reinit: bool = False,
                   seed: int | None = None, *, ctx: Any = None, verbose: bool = False, **kwargs: Any) -> None:
        """Initialize every parameter below (now, or at the first forward pass where a shape is unknown).

        ``ctx`` is Gluon's name for ``device``; ``verbose=True`` prints what each parameter got and why.
        """
        self.collect_params().initialize(init, device=device, force_reinit=force_reinit, seed=seed, ctx=ctx,
                                         verbose=verbose, **kwargs)

    def save_parameters(self, path: Any) -> None:
        """Write every parameter below to ``path`` (.npz or .safetensors, by extension) under its name, atomically."""
        self.collect_params().save_parameters(path)

    def load_parameters(self, path: Any, device: Any = None, allow_missing: bool = False, ignore_extra: bool = False,
                        *, ctx: Any = None) -> None:
        """Set every parameter below to the file's array of its name, completing open shapes; all or nothing."""
        self.collect_params().load_parameters(path, device=device, allow_missing=allow_missing,
                                              ignore_extra=ignore_extra, ctx=ctx)

    def zero_grad(self) -> None:
        """Set every gradient below to zero."""
        self.collect_params().zero_grad()

    def reset_devices(self, devices: Any) -> None:
        """Move every parameter below to ``devices``."""
        self.collect_params().reset_devices(devices)

    def cast(self, dtype: Any) -> "Block":
        """Convert every parameter below (values, gradients, and deferred ones' future values) to ``dtype``; return self."""
        params = list(self.collect_params().values())
        undo = [p.snapshot() for p in params]
        try:
            for p in params:
                p.cast(dtype)
        except BaseException:
            for u in reversed(undo):  # all or nothing: a refused cast leaves every parameter as it was
                u()
            raise
        return self

    def train(self, mode: bool = True) -> "Block":
        """Set training mode (BatchNorm uses batch statistics) on this block and below; return self."""
        for b in self._walk():
            object.__setattr__(b, "training", bool(mode))
        return self

    def eval(self) -> "Block":
        """Set inference mode (BatchNorm uses its running statistics) on this block and below; return self."""
        return self.train(False)

    # -- forward ---------------------------------------------------------------------------------------

    def __call__(self, x: Any) -> Any:
        depth = getattr(_calls, "depth", 0)
        if depth:
            _calls.depth = depth + 1
            undo, finish, taped = _calls.undo, _calls.finish, _calls.taped
            marks = len(undo), len(finish), len(taped)
            try:
                if self.params:
                    self._place(x)  # a device mismatch fails before any value is drawn
                self.infer_shape(x)
                return self.forward(x)
            except BaseException:  # a caller may catch it and go on: this call's own steps are undone now
                restore_states(undo[marks[0]:])
                for b in reversed(taped[marks[2]:]):
                    b._tape.pop()
                del undo[marks[0]:], finish[marks[1]:], taped[marks[2]:]
                raise
            finally:
                _calls.depth = depth
        # the outermost call is one transaction: an error anywhere undoes every parameter it completed or drew
        blocks = list(self._walk())
        for b in blocks:
            b._tape.clear()
        _calls.depth, _calls.undo, _calls.finish, _calls.taped = 1, [], [], []
        try:
            if self.params:
                self._place(x)
            self.infer_shape(x)
            y = self.forward(x)
        except BaseException:
            restore_states(_calls.undo)
            for b in blocks:
                b._tape.clear()  # a failed pass leaves nothing for backward() to reverse
            raise
        finally:
            finish = _calls.finish
            _calls.depth, _calls.undo, _calls.finish, _calls.taped = 0, None, None, None
        for write in finish:
            write()
        return y

    def infer_shape(self, x: Any) -> None:
        """Complete this block's parameter shapes from its input (blocks without own parameters: nothing)."""

    def forward(self, x: Any) -> Any:
        """The block's output for input ``x``."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(self, x)")

    def _complete_layer(self, weight: tuple, out_units: int, input_shape: tuple) -> None:
        """Complete ``weight`` (and the bias of ``out_units``, where the layer has one) for an input of ``input_shape``."""
        shapes = {"weight": weight}
        if getattr(self, "bias", None) is not None:
            shapes["bias"] = (out_units,)
        self._complete(shapes, f"an input of shape {input_shape}")

    def _complete(self, shapes: Mapping[str, tuple], source: str) -> bool:
        """Give local parameters their full shapes (drawing deferred values atomically); True if any changed."""
        todo = {}
        for local, shape in shapes.items():
            p = self.params[local]
            if p.shape == shape:  # already complete: the usual case after the first batch
                continue
            merged = _merged(p, shape, lambda: ShapeError(
                f"{self._where()}: {source} needs parameter {p.name!r} of shape {format_shape(shape)}, but it has shape "
                f"{format_shape(p.shape)}; feed inputs of the size the layer was built for"))
            if merged is not None:
                todo[p] = merged
        if todo:
            undo = getattr(_calls, "undo", None)
            if undo is not None:  # inside a forward pass: remember how to put these back if a later step fails
                for p in todo:
                    p.save_state(undo)
            set_merged_shapes(todo)
        return bool(todo)

    def _on_success(self, write: Any) -> None:
        """Run ``write()`` once the outermost forward call succeeds (at once outside a forward call)."""
        finish = getattr(_calls, "finish", None)
        if finish is None:
            write()
        else:
            finish.append(write)

    def _place(self, x: Any) -> Device:
        """The device this layer computes on for input ``x``; DeviceMismatchError if its parameters are elsewhere."""
        xdev = device_of(x)
        chosen = None
        for p in self.params.values():
            devices = p.list_devices()
            if not devices:
                continue
            if devices[0] is xdev:  # the common case: one device, the input's
                chosen = chosen or xdev
                continue
            match = [d for d in devices if d == xdev or (xdev.kind == "cpu" and d.kind == "cpu")]
            if not match:
                raise DeviceMismatchError(
                    f"{self._where()}: the input is on {xdev!r} but parameter {p.name!r} is on "
                    f"{', '.join(map(repr, devices))}; move the input there (e.g. {devices[0]!r}.put(x)) "
                    f"or move the parameters with net.reset_devices({xdev!r})")
            chosen = chosen or match[0]
        return chosen or xdev

    def _record(self, *saved: Any) -> None:
        self._tape.append(saved)
        taped = getattr(_calls, "taped", None)
        if taped is not None:  # in a forward call: which tape grew, so a failed nested call can take its entries back
            taped.append(self)

    # -- backward --------------------------------------------------------------------------------------

    def backward(self, dy: Any) -> Any:
        """Reverse pass after a forward: fill each parameter's grad per its grad_req; return d(input)."""
        grads = Grads()
        dx = self.vjp(dy, grads)
        grads.commit()
        return dx

    def vjp(self, dy: Any, grads: Grads) -> Any:
        """Given d(output) of the latest unreversed forward call, add parameter gradients to ``grads``; return d(input)."""
        raise GradientError(f"{self._where()} defines no backward; implement vjp(self, dy, grads) returning "
                            f"d(input), or build the network from layers that have one")

    def _recall(self) -> tuple:
        if not self._tape:
            raise GradientError(f"{self._where()}: backward() needs a forward pass first: call y = net(x), then "
                                f"net.backward(dy) (one backward per forward)")
        return self._tape.pop()

    # -- display ---------------------------------------------------------------------------------------

    def _describe(self) -> str:
        return ""

    def __repr__(self) -> str:
        head = f"{type(self).__name__}({self._describe()}"
        if not self._children:
            return head + ")"
        lines = [head]
        for key, child in self._children.items():
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({key}): {body}")
        return "\n".join(lines) + "\n)"


class Sequential(Block):
    """Blocks applied one after another; ``add`` appends, ``net[i]`` indexes."""

    def add(self, *blocks: Block) -> "Sequential":
        """Append blocks (named "0", "1", ... by position); return self."""
        for b in blocks:
            self.register_child(b)
        return self

    def __getitem__(self, index: int | slice) -> Any:
        blocks = list(self._children.values())
        if isinstance(index, slice):
            out = Sequential()
            for i, b in enumerate(blocks[index]):  # a view: blocks keep their paths and parents
                out._children[str(i)] = b
            return out
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise LayerError(f"{self._where()}: blocks are indexed by position (an int) or a slice, got {index!r}")
        try:
            return blocks[index]
        except IndexError:
            raise IndexError(f"{self._where()} has {len(blocks)} blocks; index {index} is out of range") from None

    def __len__(self) -> int:
        return len(self._children)

    def __iter__(self) -> Iterator[Block]:
        return iter(list(self._children.values()))

    def forward(self, x: Any) -> Any:
        for b in self._children.values():
            x = b(x)
        return x

    def vjp(self, dy: Any, grads: Grads) -> Any:
        for b in reversed(list(self._children.values())):
            dy = b.vjp(dy, grads)
        return dy


def _checked_prefix(prefix: Any) -> str:
    """A network's name prefix ("encoder" → "encoder."), "" for none."""
    if prefix is None or prefix == "":
        return ""
    if not isinstance(prefix, str) or prefix.strip(".") == "" or any(c.isspace() for c in prefix):
        raise LayerError(f"prefix must be a name such as 'encoder' (no spaces), got {prefix!r}")
    return prefix if prefix.endswith(".") else prefix + "."


def as_input(x: Any, device: Device, dtype: Any = None) -> Any:
    """``x`` as an array of ``device``'s module (and ``dtype`` when given); never moves data across devices."""
    if type(x) is np.ndarray and device.kind == "cpu" and (dtype is None or x.dtype == dtype):
        return x
    xdev = device_of(x)
    if xdev != device and (xdev.kind != device.kind or device.kind == "gpu"):
        raise DeviceMismatchError(f"an array on {xdev!r} was given where {device!r} is computing; "
                                  f"move it there first (e.g. {device!r}.put(a))")
    try:
        out = device.xp.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged lists
        raise LayerError(f"the input is not an array of numbers ({type(exc).__name__}: {exc}); pass a NumPy array "
                         f"of real numbers") from None
    if out.dtype.kind not in "biuf":  # strings, Python objects, complex (its imaginary part would be lost)
        raise LayerError(f"the input has dtype {out.dtype}; pass an array of real numbers")
    return out if dtype is None else out.astype(dtype, copy=False)


def shape_of(x: Any) -> tuple[int, ...]:
    """The shape of an array-like input."""
    if type(x) is np.ndarray:
        return x.shape
    shape = getattr(x, "shape", None)
    if shape is None:
        try:
            shape = np.shape(x)
        except ValueError as exc:  # a ragged list
            raise LayerError(f"the input is not an array of numbers ({exc}); pass a NumPy array of real numbers") from None
    return tuple(int(d) for d in shape)


def check_size(owner: str, arg: str, value: Any, *, none_ok: bool = False, zero_ok: bool = False) -> int | None:
    """``value`` as a positive (or non-negative) int, else LayerError naming the layer and argument."""
    if value is None and none_ok:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if zero_ok else 1):
        need = "a non-negative int" if zero_ok else "a positive int"
        raise LayerError(f"{owner}: {arg} must be {need}{' or None' if none_ok else ''}, got {value!r}")
    return int(value)


def check_pair(owner: str, arg: str, value: Any, *, zero_ok: bool = False) -> tuple[int, int]:
    """An int or a pair of ints as a pair (kernel sizes, strides, padding)."""
    items = value if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2:
        raise LayerError(f"{owner}: {arg} must be an int or a pair of ints, got {value!r}")
    return tuple(check_size(owner, arg, v, zero_ok=zero_ok) for v in items)  # type: ignore[return-value]
