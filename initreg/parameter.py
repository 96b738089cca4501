"""Parameter (declared → deferred → initialized) and ParameterDict."""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np

from .device import Device, as_devices, device_of, to_numpy
from .errors import (DTypeError, DeferredInitializationError, DeviceError, DeviceUnavailableError, GradientError,
                     InitializationError, ParameterNotFoundError, ParameterValueError, ReinitializationWarning,
                     ShapeError, UninitializedError, did_you_mean, format_shape)
from .initializer import Initializer, as_initializer, make_desc, role_of
from .random import Stream, fresh_seed, get_seed, check_seed

GRAD_REQS = ("write", "add", "null")
_CHECK_CHUNK = 1 << 20
_CHECK_SMALL = 1 << 16

Shape = tuple  # tuple[int | None, ...]
Commit = Callable[[], None]


def _version() -> str:
    from . import __version__

    return __version__


def default_initializer() -> Initializer:
    """The global default, Uniform(scale=0.07), used when nothing else chooses."""
    from .std.basic import Uniform

    return Uniform(0.07)


def check_shape(shape: Any, name: str) -> Shape | None:
    """Normalize a shape: a tuple of non-negative ints, None for each unknown dimension."""
    if shape is None:
        return None
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise ShapeError(f"parameter {name!r}: shape must be a tuple of ints (None for unknown), got {shape!r}") from None
    out = []
    for d in dims:
        if d is None:
            out.append(None)
        elif isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise ShapeError(f"parameter {name!r}: shape {shape!r} has a non-integer dimension {d!r}; "
                             f"use ints, and None for a dimension not known yet")
        elif d < 0:
            raise ShapeError(f"parameter {name!r}: shape {shape!r} has a negative dimension {d}; "
                             f"use None (not -1 or 0) for a dimension not known yet")
        else:
            out.append(int(d))
    return tuple(out)


def check_dtype(dtype: Any, name: str) -> np.dtype:
    """Normalize a dtype to a floating or integer NumPy dtype."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise DTypeError(f"parameter {name!r}: {dtype!r} is not a dtype; use e.g. 'float32'") from None
    if dt.kind not in "fiu":
        raise DTypeError(f"parameter {name!r}: dtype {dt} is not a floating or integer type; use e.g. 'float32'")
    return dt


def check_grad_req(grad_req: Any, name: str) -> str:
    """Validate grad_req: "write", "add" or "null"."""
    if grad_req not in GRAD_REQS:
        raise ParameterValueError(f"parameter {name!r}: grad_req must be 'write', 'add' or 'null', got {grad_req!r}")
    return grad_req


def resolve_seed(seed: int | None) -> int:
    """The seed to use: the one given, else the global seed, else fresh entropy (recorded later)."""
    if seed is not None:
        return check_seed(seed)
    return get_seed() if get_seed() is not None else fresh_seed()


def is_complete(shape: Shape | None) -> bool:
    """Whether every dimension of a shape is known."""
    return shape is not None and all(d is not None for d in shape)


def merge_shapes(old: Shape | None, new: Shape | None, name: str) -> Shape | None:
    """Fill the unknown dimensions of ``old`` from ``new``; raise ShapeError on a conflict."""
    if new is None:
        return old
    if old is None:
        return new
    if len(old) != len(new):
        raise ShapeError(f"parameter {name!r} has shape {format_shape(old)}; shape {format_shape(new)} has a different rank "
                         f"({len(new)} vs {len(old)}); a known rank never changes")
    out = []
    for i, (a, b) in enumerate(zip(old, new)):
        if a is not None and b is not None and a != b:
            raise ShapeError(f"parameter {name!r} has shape {format_shape(old)}; dimension {i} is already {a} and cannot "
                             f"become {b} (shape {format_shape(new)}); a known dimension never changes — create a new parameter")
        out.append(a if a is not None else b)
    return tuple(out)



def _all_finite(xp: Any, arr: Any) -> bool:
    """Whether every value is finite, checked in chunks so no full-size temporary is made."""
    if arr.dtype.kind != "f" or arr.size == 0:
        return True
    if xp is not np:
        return bool(xp.isfinite(arr).all())
    flat = arr.reshape(-1)
    if flat.size <= _CHECK_SMALL:  # a small bool temporary beats entering errstate (~5 µs)
        return bool(np.isfinite(flat).all())
    blas = arr.dtype in (np.float32, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(0, flat.size, _CHECK_CHUNK):
            chunk = flat[i:i + _CHECK_CHUNK]
            # one pass: a finite sum of squares proves every value finite; else (NaN, inf or overflow) look exactly
            if blas and np.isfinite(np.dot(chunk, chunk)):
                continue
            if not (np.isfinite(chunk.min()) and np.isfinite(chunk.max())):
                return False
    return True


def _plugin_of(initializer: Initializer) -> str:
    try:
        from .registry import plugin_of

        return plugin_of(initializer)
    except Exception:
        return type(initializer).__module__


class Parameter:
    """An array parameter whose shape may be unknown until the first forward pass."""

    def __init__(self, name: str, shape: Any = None, dtype: Any = "float32", init: Any = None,
                 grad_req: str = "write", allow_deferred_init: bool = True, role: str | None = None,
                 layout: str | None = None):
        if not isinstance(name, str) or not name:
            raise ParameterValueError(f"a parameter name must be a non-empty string, got {name!r}")
        from .fans import check_layout

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
        self._pending: tuple[Initializer, str, int] | None = None  # (initializer, source, seed) while deferred
        self._record: dict[str, Any] | Callable[[], dict[str, Any]] | None = None  # a builder until first read

    # -- properties ----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The parameter's name: its structural path once it belongs to a block."""
        return self._name

    @property
    def shape(self) -> Shape | None:
        """The shape, None for each unknown dimension (None altogether if even the rank is unknown)."""
        return self._shape

    @shape.setter
    def shape(self, value: Any) -> None:
        complete_shapes({self: value})

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the values."""
        return self._dtype

    @property
    def state(self) -> str:
        """ "declared", "deferred" (initialize() called, shape incomplete) or "initialized"."""
        return self._state

    @property
    def role(self) -> str | None:
        """weight, bias, gamma, beta, running_mean, running_var, or None."""
        return self._role

    @property
    def layout(self) -> str:
        """ "OI" (out, in, spatial...) or "IO" (spatial..., in, out): where fans are read from."""
        return self._layout

    @property
    def init(self) -> Any:
        """The initializer declared with the parameter (below rules and explicit calls), or None."""
        return self._init

    @init.setter
    def init(self, value: Any) -> None:
        self._init = value if value is None or isinstance(value, Initializer) else _checked_spec(value, self._name)

    @property
    def allow_deferred_init(self) -> bool:
        """Whether initialize() may wait for an unknown shape."""
        return self._allow_deferred_init

    @property
    def grad_req(self) -> str:
        """ "write", "add" or "null"."""
        return self._grad_req

    @grad_req.setter
    def grad_req(self, value: str) -> None:
        self._grad_req = check_grad_req(value, self._name)
        if value == "null":
            self._grad = None

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

    def initialize(self, init: Any = None, device: Any = None, force_reinit: bool = False,
                   seed: int | None = None, *, ctx: Any = None) -> None:
        """Initialize now, or when the shape becomes known; ``init`` here overrides every rule and default."""
        if ctx is not None:  # Gluon's name for device
            from .initialize_options import device_argument

            device = device_argument(device, ctx)
        if init is not None:
            chosen, source = as_initializer(init), "explicit"
        elif self._init is not None:
            chosen, source = as_initializer(self._init), "declared"
        else:
            chosen, source = default_initializer(), "global default"
        commit = self._plan(chosen, source, device, force_reinit, seed)
        if commit is not None:
            commit()

    def _plan(self, initializer: Initializer, source: str, device: Any, force_reinit: bool,
              seed: int | None) -> Commit | None:
        """Do all the work of an initialize() call and return its commit, or None when nothing changes."""
        if self._state == "initialized" and not force_reinit:
            warnings.warn(f"parameter {self._name!r} is already initialized; nothing changed. "
                          f"Pass force_reinit=True to draw new values.", ReinitializationWarning, stacklevel=4)
            return None
        if type(initializer).fill is Initializer.fill:  # refused now, not at the first forward pass
            from .errors import InitializerTypeError

            raise InitializerTypeError(f"parameter {self._name!r}: {type(initializer).__name__} does not implement "
                                       f"fill(self, desc, out, rng); define it to write the values into out")
        devices = self._usable(as_devices(device, self._devices))
        seed = resolve_seed(seed)
        if not is_complete(self._shape):
            if not self._allow_deferred_init:
                raise ShapeError(f"parameter {self._name!r} has shape {format_shape(self._shape)} with unknown dimensions and "
                                 f"allow_deferred_init=False; give the full shape (e.g. in_units=/in_channels=) "
                                 f"or allow deferred initialization")

            def commit_deferred() -> None:
                self._devices = devices
                self._pending = (initializer, source, seed)
                self._data = self._grad = self._record = None
                self._state = "deferred"
            return commit_deferred
        return self._draw(self._shape, initializer, source, devices, seed)

    def _draw(self, shape: Shape, initializer: Initializer, source: str, devices: list[Device],
              seed: int) -> Commit:
        """Draw values into a fresh buffer, check them, copy to every device; return the commit."""
        desc = make_desc(self._name, shape, self._dtype, role=self._role, device=devices[0], layout=self._layout)
        xp = devices[0].xp
        stream = Stream(seed, self._name)

        def failure(what: str) -> InitializationError:
            return InitializationError(f"initializing parameter {self._name!r} (shape {format_shape(shape)}, dtype "
                                       f"{self._dtype}) with {initializer!r} from {_plugin_of(initializer)} {what}. "
                                       f"The parameter is unchanged.")
        try:
            out = xp.empty(shape, dtype=self._dtype)
            initializer.fill(desc, out, stream)
        except InitializationError:
            raise
        except Exception as exc:
            raise failure(f"failed: {type(exc).__name__}: {exc}") from exc
        if out.shape != desc.shape or out.dtype != self._dtype:
            raise failure(f"changed the buffer to shape {out.shape}, dtype {out.dtype}")
        if not _all_finite(xp, out):
            raise failure("wrote non-finite values (NaN or inf)")
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
        """Replace the values on every device by ``array`` (cast to the parameter's dtype)."""
        src = to_numpy(array) if device_of(array).kind == "gpu" else np.asarray(array)
        if self._state == "declared":
            self._check_ready("set_data()")
        shape = merge_shapes(self._shape, check_shape(src.shape, self._name), self._name)
        if tuple(src.shape) != tuple(shape):
            raise ShapeError(f"parameter {self._name!r} has shape {format_shape(self._shape)}; set_data got an array of shape "
                             f"{tuple(src.shape)}; pass an array of the parameter's shape")
        devices = self._devices or as_devices(None)
        data = {d: d.put(src.astype(self._dtype, copy=False)) for d in devices}
        self._shape, self._data, self._pending = tuple(shape), data, None
        if self._state != "initialized":
            self._record = {"initializer": None, "source": "set_data", "shape": list(shape), "dtype": str(self._dtype),
                            "devices": [repr(d) for d in devices], "initreg": _version()}
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
            self._grad = {d: d.xp.zeros(self._shape, dtype=self._dtype) for d in self._devices}
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
            data = {d: a.astype(dt) for d, a in self._data.items()}
            grad = None if self._grad is None else {d: g.astype(dt) for d, g in self._grad.items()}
            self._data, self._grad = data, grad
        self._dtype = dt

    # -- used by ParameterDict and nn ------------------------------------------------------------------

    def _rename(self, name: str) -> None:
        """Give the parameter its structural path (done by a block when it is attached)."""
        self._name = name

    def snapshot(self) -> Callable[[], None]:
        """A function that puts back the shape, state, values, devices and record held now (an undo)."""
        saved = self.__dict__.copy()  # commits replace these objects, never mutate them: a shallow copy suffices
        return lambda: (self.__dict__.clear(), self.__dict__.update(saved))


def _checked_spec(init: Any, name: str) -> Any:
    """A declared initializer spec (a name or a JSON/dict spec), kept as given until it is needed."""
    if isinstance(init, (str, dict, list, tuple)) or (isinstance(init, type) and issubclass(init, Initializer)):
        return init
    from .errors import InitializerTypeError

    raise InitializerTypeError(f"parameter {name!r}: init={init!r} is not an initializer; pass an initreg.Initializer "
                               f"instance or a registered name such as 'zeros'")


def _draw_record(initializer: Initializer, source: str, seed: int, stream: Stream, shape: Shape, dtype: np.dtype,
                 devices: list[Device]) -> dict[str, Any]:
    return {"initializer": initializer.name, "config": _encoded_config(initializer), "source": source,
            "plugin": _plugin_of(initializer), "seed": seed, "stream": stream.describe(), "shape": list(shape),
            "dtype": str(dtype), "devices": [repr(d) for d in devices], "initreg": _version()}


def _encoded_config(initializer: Initializer) -> dict[str, Any]:
    from .initializer import encode

    try:
        return {k: encode(v) for k, v in initializer.config().items()}
    except Exception:
        return {}


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
            init, source, seed = p._pending  # type: ignore[misc]
            commits.append(p._draw(new, init, source, p._devices, seed))
        else:
            commits.append(lambda p=p, new=new: setattr(p, "_shape", new))
    for c in commits:
        c()


# --- ParameterDict --------------------------------------------------------------------------------------

class ParameterDict:
    """An ordered mapping name → Parameter with select, initialize and gradient helpers."""

    def __init__(self, params: Iterable[Parameter] | Mapping[str, Parameter] | None = None):
        self._params: dict[str, Parameter] = {}
        if params is not None:
            self.update(params)

    # -- mapping protocol --------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Parameter:
        try:
            return self._params[name]
        except KeyError:
            raise ParameterNotFoundError(f"no parameter named {name!r}{did_you_mean(name, list(self._params))}") from None

    def __setitem__(self, name: str, param: Parameter) -> None:
        if not isinstance(param, Parameter):
            from .errors import InitializerTypeError

            raise InitializerTypeError(f"ParameterDict values must be Parameters, got {param!r} for {name!r}")
        self._params[name] = param

    def __contains__(self, name: object) -> bool:
        return name in self._params

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def keys(self):
        """Parameter names, in order."""
        return self._params.keys()

    def values(self):
        """Parameters, in order."""
        return self._params.values()

    def items(self):
        """(name, Parameter) pairs, in order."""
        return self._params.items()

    def get(self, name: str, default: Any = None) -> Any:
        """The parameter named ``name``, or ``default``."""
        return self._params.get(name, default)

    def add(self, param: Parameter) -> Parameter:
        """Add a parameter under its own name; return it."""
        self[param.name] = param
        return param

    def update(self, params: Iterable[Parameter] | Mapping[str, Parameter] | "ParameterDict") -> None:
        """Add parameters (a mapping by name, or parameters keyed by their own names)."""
        if isinstance(params, (Mapping, ParameterDict)):
            for k, v in params.items():
                self[k] = v
        else:
            for p in params:
                self.add(p)

    def __repr__(self) -> str:
        lines = [f"  {p!r}" for p in self._params.values()]
        return "ParameterDict(\n" + "\n".join(lines) + "\n)" if lines else "ParameterDict()"

    # -- selection -------------------------------------------------------------------------------------
    def select(self, pattern: str) -> "ParameterDict":
        """The parameters whose names match a glob (``"*.bias"``) or a ``"re:..."`` full-match regex."""
        from .rules import compile_pattern

        match = compile_pattern(pattern)
        out = ParameterDict({k: v for k, v in self._params.items() if match(k)})
        if not out:
            from .initialize_options import warn_empty_selection

            warn_empty_selection(pattern, self._params)
        return out

    # -- initialization ----------------------------------------------------------------------------------
    def initialize(self, init: Any = None, device: Any = None, force_reinit: bool = False,
                   seed: int | None = None, *, ctx: Any = None, verbose: bool = False, **kwargs: Any) -> None:
        """Initialize every parameter; ``init`` is the default below declared inits (or a Rules / {pattern: init}).

        ``ctx`` is Gluon's name for ``device``; ``verbose=True`` prints what each parameter got and why.
        """
        from . import initialize_options as options
        from .rules import plan_choices, seed_of

        device = options.device_argument(device, ctx)
        if not self._params:
            options.warn_empty_initialize()
        choices = plan_choices(self, init, force_reinit=force_reinit, **kwargs)
        given = seed if seed is not None else seed_of(init)
        seed = resolve_seed(given)  # one seed per call (a rule file may carry it)
        if given is None and get_seed() is not None:
            options.check_streams(self._params, seed, force_reinit, choices)
        commits, kept = [], set()
        for name, p in self._params.items():
            initializer, source = choices[name]
            commit = p._plan(initializer, source, device, force_reinit, seed)
            if commit is not None:
                commits.append(commit)
            else:
                kept.add(name)
        for c in commits:  # every draw succeeded: now commit them all
            c()
        if verbose:
            print(options.report(self._params, choices, kept, seed))

    def save_parameters(self, path: Any) -> None:
        """Write every parameter's values to ``path`` (.npz or .safetensors) under its name, atomically."""
        from .loading import save_parameters

        save_parameters(self, path)

    def load_parameters(self, path: Any, device: Any = None, allow_missing: bool = False, ignore_extra: bool = False,
                        *, ctx: Any = None) -> None:
        """Set each parameter to the array of its name in ``path`` (open shapes completed from it); all or nothing."""
        from .initialize_options import device_argument
        from .loading import load_parameters

        load_parameters(self, path, device=device_argument(device, ctx), allow_missing=allow_missing,
                        ignore_extra=ignore_extra)

    def zero_grad(self) -> None:
        """Zero every gradient."""
        for p in self._params.values():
            p.zero_grad()

    def reset_devices(self, devices: Any) -> None:
        """Move every parameter to ``devices``."""
        for p in self._params.values():
            p.reset_devices(devices)
