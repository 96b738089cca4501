"""Parameter: an array parameter whose lifecycle is declared → deferred → initialized."""

from __future__ import annotations

import functools
import operator
import warnings
from typing import Any, Callable, Mapping

import numpy as np

from ..core.device import Device, as_devices, device_of, on_device, to_numpy
from ..errors import (DeferredInitializationError, DeviceError, DeviceUnavailableError, GradientError, InitializerTypeError,
                     ParameterValueError, ReinitializationWarning, ShapeError, UninitializedError, format_shape)
from ..core.initializer import Initializer, make_desc, role_of
from ..core.names import check_name
from ..planning.precedence import Entry, choose
from ..core.stream import Stream, choose_seed
from ..planning.regions import draw, plugin_of
from ..core.shapes import Shape, check_dtype, check_grad_req, check_shape, check_values, is_complete, merge_shapes
from ..plugins.specs import create
from ..version import __version__

Commit = Callable[[], None]


def _attribute(field: str, doc: str, setter: Callable[[Any, Any], None] | None = None) -> property:
    """A property that returns ``self.<field>`` (read-only unless ``setter``), documented by ``doc`` (help())."""
    return property(operator.attrgetter(field), setter, doc=doc)


class Parameter:
    """An array parameter whose shape may be unknown until the first forward pass."""

    def __init__(self, name: str, shape: Any = None, dtype: Any = "float32", init: Any = None,
                 grad_req: str = "write", allow_deferred_init: bool = True, role: str | None = None,
                 layout: str | None = None):
        if not isinstance(name, str) or not name:
            raise ParameterValueError(f"a parameter name must be a non-empty string, got {name!r}")
        check_name(name)  # the one definition of a valid name
        from ..core.fans import check_layout

        self._name = name
        self._shape = check_shape(shape, name)
        self._dtype = check_dtype(dtype, name)
        self._grad_req = check_grad_req(grad_req, name)
        self._init = init if init is None or isinstance(init, Initializer) else _checked_spec(init, name)
        self._allow_deferred_init = bool(allow_deferred_init)
        self._role = role if role is not None else role_of(name)
        self._layout = check_layout(layout)
        self._state = "declared"
        self._data: dict[Device, Any] | None = None
        self._grad: dict[Device, Any] | None = None
        self._devices: list[Device] = []
        self._pending: tuple[Initializer, str, int, str] | None = None  # (initializer, source, seed, key name) while deferred
        self._record: dict[str, Any] | Callable[[], dict[str, Any]] | None = None  # a builder until first read

    # -- properties ----------------------------------------------------------------------------

    name = _attribute("_name", "The parameter's name: its structural path once it belongs to a block.")

    @property
    def shape(self) -> Shape | None:
        """The shape, None for each unknown dimension (None altogether if even the rank is unknown)."""
        return self._shape

    @shape.setter
    def shape(self, value: Any) -> None:
        complete_shapes({self: value})

    dtype = _attribute("_dtype", "The dtype of the values.")
    state = _attribute("_state", ' "declared", "deferred" (initialize() called, shape incomplete) or "initialized".')
    role = _attribute("_role", "weight, bias, gamma, beta, running_mean, running_var, or None.")
    layout = _attribute("_layout", ' "OI" (out, in, spatial...) or "IO" (spatial..., in, out): where fans are read from.')
    allow_deferred_init = _attribute("_allow_deferred_init", "Whether initialize() may wait for an unknown shape.")

    def _set_init(self, value: Any) -> None:
        self._init = value if value is None or isinstance(value, Initializer) else _checked_spec(value, self._name)

    init = _attribute("_init", "The initializer declared with the parameter (below rules and explicit calls), or None.",
                      _set_init)

    def _set_grad_req(self, value: str) -> None:
        self._grad_req = check_grad_req(value, self._name)
        if value == "null":
            self._grad = None

    grad_req = _attribute("_grad_req", ' "write", "add" or "null".', _set_grad_req)

    @property
    def record(self) -> dict[str, Any] | None:
        """How the current values were made: initializer config, source, seed, stream key, version."""
        if callable(self._record):
            self._record = self._record()
        return None if self._record is None else dict(self._record)

    def __repr__(self) -> str:
        return f"Parameter {self._name} (shape={format_shape(self._shape)}, dtype={self._dtype}, state={self._state})"

    # -- initialization ---------------------------------------------------------------------------

    def _usable(self, devices: list[Device]) -> list[Device]:
        """``devices`` if arrays can be placed on each; else DeviceUnavailableError naming this parameter."""
        for d in devices:
            try:
                d.check()
            except DeviceUnavailableError as exc:
                raise DeviceUnavailableError(f"parameter {self._name!r} cannot be placed on {d!r}: {exc}") from None
        return devices

    def entry(self, force_reinit: bool = False) -> Entry:
        """This parameter as the planner sees it; a deferred explicit request stays explicit unless ``force_reinit``."""
        explicit = None
        if self._state == "deferred" and not force_reinit and self._pending is not None and self._pending[1] == "explicit":
            explicit = self._pending[0]
        return Entry(self._name, self._shape, str(self._dtype), self._layout, self._init, explicit, self._state)

    def initialize(self, init: Any = None, device: Any = None, force_reinit: bool = False,
                   seed: int | None = None, *, ctx: Any = None, **unknown: Any) -> None:
        """Initialize now, or when the shape becomes known; ``init`` here overrides every rule and default."""
        if unknown:  # an InitregError naming them, as ParameterDict.initialize gives
            raise InitializerTypeError(f"Parameter.initialize() got unknown keyword argument(s) "
                                       f"{', '.join(map(repr, sorted(unknown)))}; it takes init, device (or ctx), "
                                       f"force_reinit and seed")
        if ctx is not None:  # Gluon's name for device
            from .options import device_argument

            device = device_argument(device, ctx)
        entry = Entry(self._name, self._shape, self._dtype, self._layout, self._init,
                      None if init is None else create(init), self._state)
        choice = choose([entry], None, None)[0][0]
        commit = self.plan(choice.init, choice.label, device, force_reinit, seed)
        if commit is not None:
            commit()

    def plan(self, initializer: Initializer, source: str, device: Any, force_reinit: bool,
              seed: int | None, key_name: str | None = None) -> Commit | None:
        """Do all the work of an initialize() call and return its commit (None when nothing changes); commit() applies it.

        ``key_name``: the name the values are drawn under (a name map's result); default the parameter's own.
        """
        key_name = self._name if key_name is None else key_name
        if self._state == "initialized" and not force_reinit:
            warnings.warn(f"parameter {self._name!r} is already initialized; nothing changed. "
                          f"Pass force_reinit=True to draw new values.", ReinitializationWarning, stacklevel=4)
            return None
        if type(initializer).fill is Initializer.fill:  # refused now, not at the first forward pass
            from ..errors import InitializerTypeError

            raise InitializerTypeError(f"parameter {self._name!r}: {type(initializer).__name__} does not implement "
                                       f"fill(self, desc, out, rng); define it to write the values into out")
        devices = self._usable(as_devices(device, self._devices))
        seed = choose_seed(seed)
        if not is_complete(self._shape):
            if not self._allow_deferred_init:
                raise ShapeError(f"parameter {self._name!r} has shape {format_shape(self._shape)} with unknown dimensions and "
                                 f"allow_deferred_init=False; give the full shape (e.g. in_units=/in_channels=) "
                                 f"or allow deferred initialization")

            def commit_deferred() -> None:
                self._devices = devices
                self._pending = (initializer, source, seed, key_name)
                self._data = self._grad = self._record = None
                self._state = "deferred"
            return commit_deferred
        return self._draw(self._shape, initializer, source, devices, seed, key_name)

    def _draw(self, shape: Shape, initializer: Initializer, source: str, devices: list[Device],
              seed: int, key_name: str) -> Commit:
        """Draw values into a fresh buffer, check them, copy to every device; return the commit."""
        desc = make_desc(key_name, shape, self._dtype, role=self._role, device=devices[0], layout=self._layout)
        stream = Stream(seed, key_name)
        with on_device(devices[0]):
            out = draw(initializer, desc, stream)
        data = {devices[0]: out}
        for d in devices[1:]:
            data[d] = d.put(out)
        # built when first read: most records never are, and building one costs more than a small fill
        record = functools.partial(_draw_record, initializer, source, seed, stream, desc.shape, self._dtype, devices)

        def commit() -> None:
            self._shape = desc.shape
            self._devices = devices
            self._data = data
            self._grad = None
            self._pending = None
            self._record = record
            self._state = "initialized"
        return commit

    # -- values ---------------------------------------------------------------------------------------

    def _check_ready(self, what: str) -> None:
        if self._state == "initialized":
            return
        if self._state == "deferred":
            unknown = [i for i, d in enumerate(self._shape or ()) if d is None]
            raise DeferredInitializationError(
                f"parameter {self._name!r} has shape {format_shape(self._shape)}: initialization is deferred until dimension(s) "
                f"{unknown or 'all'} are known. Run one forward pass (net(x)) or set the shape "
                f"(param.shape = ...) before calling {what}.")
        raise UninitializedError(f"parameter {self._name!r} is not initialized; call .initialize() "
                                 f"(or net.initialize()) before calling {what}.")

    def _on(self, table: dict[Device, Any], device: Device | None, what: str) -> Any:
        if device is None:
            return next(iter(table.values()))
        if device not in table:
            raise DeviceError(f"parameter {self._name!r} is not on {device!r}; it is on "
                              f"{', '.join(map(repr, self._devices))}. Use one of those, or param.reset_devices([...]).")
        return table[device]

    def data(self, device: Device | None = None) -> Any:
        """The values on ``device`` (default: the first device)."""
        self._check_ready("data()")
        return self._on(self._data, device, "data()")  # type: ignore[arg-type]

    def list_data(self) -> list[Any]:
        """The values on every device, in device order."""
        self._check_ready("list_data()")
        return list(self._data.values())  # type: ignore[union-attr]

    def list_devices(self) -> list[Device]:
        """The devices the parameter lives on (or will, once deferred initialization finishes)."""
        return list(self._devices)

    def set_data(self, array: Any) -> None:
        """Replace the values on every device by ``array``: finite numbers, each representable in the parameter's dtype."""
        if self._state == "declared":
            self._check_ready("set_data()")
        src = check_values(to_numpy(array) if device_of(array).kind == "gpu" else array, self._dtype, self._name)
        shape = merge_shapes(self._shape, check_shape(src.shape, self._name), self._name)
        if tuple(src.shape) != tuple(shape):
            raise ShapeError(f"parameter {self._name!r} has shape {format_shape(self._shape)}; set_data got an array of shape "
                             f"{tuple(src.shape)}; pass an array of the parameter's shape")
        devices = self._devices or as_devices(None)
        data = {d: d.put(src) for d in devices}
        self._shape, self._data, self._pending = tuple(shape), data, None
        if self._state != "initialized":
            self._record = {"initializer": None, "source": "set_data", "shape": list(shape), "dtype": str(self._dtype),
                            "devices": [repr(d) for d in devices], "initreg": __version__}
        else:
            self._record = dict(self.record or {}, source="set_data")
        self._devices, self._state = devices, "initialized"

    # -- gradients -------------------------------------------------------------------------------------

    def _grads(self) -> dict[Device, Any]:
        if self._grad_req == "null":
            raise GradientError(f"parameter {self._name!r} has grad_req='null' and keeps no gradient; "
                                f"set param.grad_req = 'write' (or 'add') to keep one")
        self._check_ready("grad()")
        if self._grad is None:
            self._grad = {d: _zeros(d, self._shape, self._dtype) for d in self._devices}
        return self._grad

    def grad(self, device: Device | None = None) -> Any:
        """The gradient buffer on ``device`` (default: the first device)."""
        return self._on(self._grads(), device, "grad()")

    def list_grad(self) -> list[Any]:
        """The gradient buffers on every device."""
        return list(self._grads().values())

    def zero_grad(self) -> None:
        """Set every gradient buffer to zero (nothing to do where none is kept)."""
        if self._grad is not None:
            for g in self._grad.values():
                g[...] = 0

    # -- devices and dtype -----------------------------------------------------------------------------

    def reset_devices(self, devices: Any) -> None:
        """Move the parameter to ``devices`` (values copied from the first current device)."""
        new = self._usable(as_devices(devices))
        if self._data is not None:
            src = next(iter(self._data.values()))
            data = {d: (self._data[d] if d in self._data else d.put(src)) for d in new}
            grad = None if self._grad is None else {d: (self._grad[d] if d in self._grad else d.put(next(iter(self._grad.values())))) for d in new}
            self._data, self._grad = data, grad
            if self._record is not None:
                self._record = dict(self.record, devices=[repr(d) for d in new])
        self._devices = new

    def cast(self, dtype: Any) -> None:
        """Change the dtype, converting values and gradients that exist."""
        dt = check_dtype(dtype, self._name)
        if self._data is not None:
            check_values(to_numpy(next(iter(self._data.values()))), dt, self._name, f"cast({str(dt)!r})")
            data = {d: a.astype(dt) for d, a in self._data.items()}
            grad = None if self._grad is None else {d: g.astype(dt) for d, g in self._grad.items()}
            self._data, self._grad = data, grad
        self._dtype = dt

    # -- used by ParameterDict and nn ------------------------------------------------------------------

    def rename(self, name: str) -> None:
        """Give the parameter its structural path (done by a block when it is attached)."""
        self._name = check_name(name)

    def save_state(self, log: list[Any]) -> None:
        """Append what drawing or completing a shape may change to ``log`` (flat: no object per call); see restore_states."""
        log.extend((self, self._shape, self._devices, self._data, self._grad, self._pending, self._record, self._state))

    def snapshot(self) -> Callable[[], None]:
        """A function that puts back the shape, state, values, devices and record held now (an undo)."""
        saved = self.__dict__.copy()  # commits replace these objects, never mutate them: a shallow copy suffices
        return lambda: (self.__dict__.clear(), self.__dict__.update(saved))


def _zeros(device: Device, shape: Shape, dtype: np.dtype) -> Any:
    """A zero-filled array on ``device``."""
    with on_device(device):
        return device.xp.zeros(shape, dtype=dtype)


def _checked_spec(init: Any, name: str) -> Any:
    """A declared initializer spec (a name or a JSON/dict spec), kept as given until it is needed."""
    if isinstance(init, (str, dict, list, tuple)) or (isinstance(init, type) and issubclass(init, Initializer)):
        return init
    from ..errors import InitializerTypeError

    raise InitializerTypeError(f"parameter {name!r}: init={init!r} is not an initializer; pass an initreg.Initializer "
                               f"instance or a registered name such as 'zeros'")


def _draw_record(initializer: Initializer, source: str, seed: int, stream: Stream, shape: Shape, dtype: np.dtype,
                 devices: list[Device]) -> dict[str, Any]:
    return {"initializer": initializer.name, "config": _encoded_config(initializer), "source": source,
            "plugin": plugin_of(initializer), "seed": seed, "stream": stream.describe(), "shape": list(shape),
            "dtype": str(dtype), "devices": [repr(d) for d in devices], "initreg": __version__}


def _encoded_config(initializer: Initializer) -> dict[str, Any]:
    from ..core.initializer import encode

    try:
        return {k: encode(v) for k, v in initializer.config().items()}
    except Exception:
        return {}


_SAVED = ("_shape", "_devices", "_data", "_grad", "_pending", "_record", "_state")


def restore_states(log: list[Any]) -> None:
    """Put back, last first, every parameter Parameter.save_state() appended to ``log``."""
    step = 1 + len(_SAVED)
    for i in range(len(log) - step, -1, -step):
        vars(log[i]).update(zip(_SAVED, log[i + 1:i + step]))


def complete_shapes(shapes: Mapping[Parameter, Any]) -> None:
    """Fill in shapes of several parameters at once; deferred ones are drawn; all or nothing on error."""
    set_merged_shapes({p: merge_shapes(p._shape, check_shape(value, p._name), p._name) for p, value in shapes.items()})


def set_merged_shapes(shapes: Mapping[Parameter, Shape]) -> None:
    """complete_shapes() for shapes already checked and merged with each parameter's own (as layers have them)."""
    commits: list[Commit] = []
    for p, new in shapes.items():
        if p._state == "initialized" and tuple(new) != tuple(p._shape):  # pragma: no cover - merge forbids this
            raise ShapeError(f"parameter {p._name!r} is initialized with shape {format_shape(p._shape)}")
        if p._state == "deferred" and is_complete(new):
            init, source, seed, key_name = p._pending  # type: ignore[misc]
            commits.append(p._draw(new, init, source, p._devices, seed, key_name))
        else:
            commits.append(lambda p=p, new=new: setattr(p, "_shape", new))
    for c in commits:
        c()
