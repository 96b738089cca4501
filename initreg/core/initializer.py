"""The Initializer base class, the Desc it fills against, and config/dumps/equality."""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .device import Device, cpu
from ..errors import InitializerArgumentError, InitializerTypeError
from .fans import check_layout, try_fans
from .shapes import check_size

ROLES = ("weight", "bias", "gamma", "beta", "running_mean", "running_var")


def role_of(name: str) -> str | None:
    """The role a parameter plays, read from the last segment of its name (``"0.weight"`` → ``"weight"``)."""
    return _role_of(str(name))


@functools.lru_cache(maxsize=4096)  # a model's names come back on every re-initialization
def _role_of(name: str) -> str | None:
    last = name.rsplit(".", 1)[-1]
    if last in ROLES:
        return last
    for role in ROLES:  # "conv1_weight", "lstm.weight_hh_l0" style names
        if last.endswith("_" + role) or last.startswith(role + "_"):
            return role
    return None


class Desc:
    """What an initializer knows about the parameter it fills (immutable)."""

    __slots__ = ("name", "shape", "dtype", "role", "device", "layout", "fan_in", "fan_out")

    def __init__(self, name: str, shape: tuple[int, ...], dtype: Any, role: str | None = None,
                 device: Device | None = None, layout: str = "OI", fan_in: int | None = None,
                 fan_out: int | None = None):
        put = object.__setattr__  # immutable: slots are set once, here
        put(self, "name", name)
        put(self, "shape", tuple(shape))
        put(self, "dtype", dtype if isinstance(dtype, np.dtype) else np.dtype(dtype))
        put(self, "role", role)
        put(self, "device", device or cpu(0))
        put(self, "layout", layout)
        put(self, "fan_in", fan_in)
        put(self, "fan_out", fan_out)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Desc is immutable")

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"Desc({fields})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Desc) and all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, k) for k in self.__slots__))

    def replace(self, **changes: Any) -> "Desc":
        """A copy with some fields changed."""
        values = {k: getattr(self, k) for k in self.__slots__}
        values.update(changes)
        return Desc(**values)

    @property
    def xp(self) -> Any:
        """The array module of the device (numpy or cupy)."""
        return self.device.xp

    @property
    def size(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)


def make_desc(name: str, shape: Sequence[int], dtype: Any = "float32", *, role: str | None = None,
              device: Device | None = None, layout: str | None = None) -> Desc:
    """A Desc with fans computed from shape and layout and the role read from the name."""
    shape = tuple(map(int, shape))
    check_size(shape, dtype, name)
    layout = check_layout(layout)
    fan_in, fan_out = try_fans(shape, layout)
    return Desc(name=str(name), shape=shape, dtype=np.dtype(dtype), role=role if role is not None else role_of(name),
                device=device or cpu(0), layout=layout, fan_in=fan_in, fan_out=fan_out)


# --- the name dumps() writes -------------------------------------------------------------------

def _bare_name(init: "Initializer") -> str:
    return init.name


# The layers above fill these in (initreg/__init__.py binds them, and it always runs before this module is
# imported): dumps() names through the plugin catalog, __call__ computes through values().
_bound: dict[str, Callable[..., Any]] = {"namer": _bare_name}


def bind(*, namer: Callable[["Initializer"], str], values: Callable[..., Any]) -> None:
    """Install how ``dumps()`` names an initializer and how ``__call__`` computes values (done by ``initreg``)."""
    _bound.update(namer=namer, values=values)


def spec_name(init: "Initializer") -> str:
    """The name ``dumps()`` and rule files write for ``init``: its registered name, qualified where needed."""
    return _bound["namer"](init)


# --- config encoding ------------------------------------------------------------------------

def encode(value: Any) -> Any:
    """A JSON-ready form of a config value (nested initializers and arrays are tagged)."""
    if isinstance(value, Initializer):
        return {"@init": [spec_name(value), {k: encode(v) for k, v in value.explicit_config().items()}]}
    if isinstance(value, np.ndarray) or type(value).__module__.startswith("cupy"):
        arr = np.asarray(value.get() if hasattr(value, "get") else value)
        if arr.dtype.kind not in "biuf":
            raise InitializerArgumentError(f"config array of dtype {arr.dtype} cannot be written as JSON; "
                                           f"use a real numeric array")
        # longdouble's tolist() keeps NumPy scalars: write them as floats (the dtype tag restores the type)
        items = arr.astype(np.float64).tolist() if arr.dtype == np.longdouble else arr.tolist()
        return {"@array": items, "dtype": str(arr.dtype)}
    if isinstance(value, np.generic):
        item = value.item()
        return encode(float(item) if isinstance(item, np.floating) else item)  # longdouble.item() stays NumPy
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise InitializerArgumentError(f"config value {value!r} of type {type(value).__name__} cannot be written as JSON")


def decode(value: Any, create: Callable[..., "Initializer"]) -> Any:
    """Undo encode(); ``create(name, **kwargs)`` builds nested initializers."""
    if isinstance(value, dict):
        if set(value) == {"@init"}:
            spec = value["@init"]
            if not (isinstance(spec, list) and len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], dict)):
                raise InitializerTypeError(f"a nested initializer {{\"@init\": ...}} holds [name, {{arguments}}] as dumps() "
                                           f"writes it, e.g. {{\"@init\": [\"normal\", {{\"sigma\": 0.01}}]}}; got {spec!r}")
            name, kwargs = spec
            return create(name, **{k: decode(v, create) for k, v in kwargs.items()})
        if set(value) == {"@array", "dtype"}:
            try:
                dtype = np.dtype(value["dtype"])
                if dtype.kind not in "biuf":  # what encode() writes; a string dtype's width is unbounded input
                    raise TypeError(f"dtype {dtype} is not a bool, integer or float dtype")
                return np.asarray(value["@array"], dtype=dtype)
            except (TypeError, ValueError, OverflowError) as exc:
                raise InitializerArgumentError(f"an array {{\"@array\": ..., \"dtype\": {value['dtype']!r}}} cannot be "
                                               f"read ({exc}); write a rectangular list of numbers and a NumPy dtype "
                                               f"name such as \"float32\"") from None
        return {k: decode(v, create) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v, create) for v in value]
    return value


def _canonical(value: Any) -> Any:
    """A comparable form: tuples and lists alike, arrays by dtype and values, floats by value."""
    import json

    return json.dumps(encode(value), sort_keys=True)


# --- the base class -------------------------------------------------------------------------

_GLUON_HOOKS = ("_init_weight", "_init_bias", "_init_gamma", "_init_beta", "_init_default", "_init_zero",
                "_init_one")


class Initializer:
    """Base class of every initializer: override ``fill(desc, out, rng)`` to write values into ``out``."""

    #: registry name; by default the lower-cased class name (set for each subclass)
    name: str = "initializer"
    #: True when the values do not depend on the random stream
    deterministic: bool = False
    #: True when each value is drawn independently of its position, so any block can be filled on its
    #: own (Mixture then fills this component one block at a time instead of as a whole array)
    elementwise: bool = False
    #: True when every value is a function of its flat position alone: fill() of any buffer through ``rng`` shifted
    #: to position p (a Shard, or the Runs of a strided region) holds positions p, p+1, ... (a column shard then
    #: draws only its own values); only for fills made of the stream's own fills, never of ``map_blocks``
    addressable: bool = False
    #: how a region (a shard) of the values is computed, see initreg.planning.regions: "blocks" (stream block b's values
    #: come from fill() on a buffer of that block's length with ``rng`` shifted to the block), "direct"
    #: (``fill_region`` computes any region itself) or "whole" (the whole tensor, then sliced): the default,
    #: so an initializer that says nothing is never wrong on a shard
    regions: str = "whole"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__.lower()
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "_initreg_records", False):
            cls.__init__ = _recording(init)
        hooks = [h for h in _GLUON_HOOKS if h in cls.__dict__]
        if hooks and cls.fill is Initializer.fill:  # a Gluon initializer ported as is: say so where it is written
            raise InitializerTypeError(
                f"{cls.__name__} defines {hooks[0]}(self, name, data), Gluon's hook, but initreg calls "
                f"fill(self, desc, out, rng): rename it to fill and write into out, e.g. "
                f"'def fill(self, desc, out, rng): rng.uniform(-10, 10, out=out)' (desc.name is the name, out the "
                f"array to fill, rng the parameter's own random stream; desc.role tells weight from bias)")

    # -- configuration ----------------------------------------------------------------------------

    def explicit_config(self) -> dict[str, Any]:
        """The constructor arguments as the user passed them."""
        return dict(getattr(self, "_explicit", {}))

    def config(self) -> dict[str, Any]:
        """Every constructor argument, defaults included."""
        return dict(getattr(self, "_config", {}))

    def dumps(self) -> str:
        """JSON of the name (``dist:name`` where the bare one is ambiguous) and the passed arguments."""
        import json

        return json.dumps([spec_name(self), {k: encode(v) for k, v in self.explicit_config().items()}])

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        return _canonical(self.config()) == _canonical(other.config())  # type: ignore[union-attr]

    def __hash__(self) -> int:
        return hash((type(self), _canonical(self.config())))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={_short(v)}" for k, v in self.explicit_config().items())
        return f"{type(self).__name__}({args})"

    # -- behaviour --------------------------------------------------------------------------------

    def fill(self, desc: Desc, out: Any, rng: Any) -> None:
        """Write the initial values of the parameter described by ``desc`` into ``out``."""
        raise NotImplementedError(f"{type(self).__name__} must implement fill(self, desc, out, rng)")

    def fill_region(self, desc: Desc, out: Any, index: Any) -> None:
        """Write the values ``whole[index]`` into ``out`` without the whole tensor (for ``regions = "direct"``)."""
        raise NotImplementedError(f"{type(self).__name__} declares regions='direct' but does not implement "
                                  f"fill_region(self, desc, out, index)")

    #: whether the values are the same bits on every machine; False where they go through a BLAS/LAPACK routine,
    #: whose rounding depends on the CPU, the library and its threads (verify then compares within ``tolerance``)
    portable: bool = True

    def tolerance(self, desc: Desc, values: Any) -> float:
        """The largest |difference| two machines' ``values`` may show (0.0: bit-identical, as portable ones are)."""
        return 0.0

    def expected(self, desc: Desc) -> Any:
        """The distribution the values promise for ``desc`` (see initreg.validate), or None."""
        return None

    def max_abs(self, desc: Desc) -> float:
        """A bound on |value| of what ``fill`` writes for ``desc``; inf: none known (believed for initreg's own fills only)."""
        return math.inf

    def __call__(self, shape: Sequence[int], dtype: Any = "float32", *, seed: int = 0, name: str = "sample",
                 layout: str | None = None) -> np.ndarray:
        """Values for a free array of ``shape`` (a NumPy array), drawn from the stream (seed, name), checked."""
        from ..errors import FillArgumentError, FillTypeError, InitializationError, InitregError

        try:
            return _bound["values"](self, shape, name=name, seed=seed, dtype=dtype, layout=layout)
        except InitializationError as exc:
            cause = exc.__cause__
            # called directly: the initializer's own error, unwrapped; the stream's keeps the initializer's name
            if isinstance(cause, InitregError) and not isinstance(cause, (FillArgumentError, FillTypeError)):
                raise cause from None
            raise


def file_readers(value: Any, seen: "set[int] | None" = None) -> "Iterator[Initializer]":
    """Initializers in ``value`` (nested ones too) that read a file (``reads_file``, e.g. ``load``)."""
    seen = set() if seen is None else seen
    if isinstance(value, Initializer):
        if id(value) in seen:
            return
        seen.add(id(value))
        if getattr(value, "reads_file", False):
            yield value
        for v in [*value.config().values(), *getattr(value, "__dict__", {}).values()]:  # held ones, spec'd or not
            yield from file_readers(v, seen)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from file_readers(v, seen)
    elif isinstance(value, dict):
        for v in value.values():
            yield from file_readers(v, seen)


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array(shape={value.shape}, dtype={value.dtype})"
    return repr(value)


def _recording(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap ``__init__`` so the outermost call records its bound arguments once it succeeds."""
    import inspect

    sig = inspect.signature(init)

    @functools.wraps(init)
    def wrapper(self: Initializer, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if type(self).__init__ is not wrapper:
            return  # a super().__init__ call: the subclass records its own arguments
        bound = sig.bind(self, *args, **kwargs)
        explicit = {k: v for k, v in bound.arguments.items() if k != "self"}
        bound.apply_defaults()
        full: dict[str, Any] = {}
        for k, v in bound.arguments.items():
            if k == "self":
                continue
            kind = sig.parameters[k].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                full.update(v)
                explicit.pop(k, None)
                explicit.update(v)
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                full[k] = list(v)
            else:
                full[k] = v
        self._explicit = explicit
        self._config = full

    wrapper._initreg_records = True  # type: ignore[attr-defined]
    return wrapper


def check_number(owner: str, arg: str, value: Any, *, positive: bool = False, nonneg: bool = False,
                 finite: bool = True) -> float:
    """Return ``value`` as a float or raise InitializerArgumentError naming owner, argument and value."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InitializerArgumentError(f"{owner}: {arg} must be a number, got {value!r}")
    given = value
    try:
        value = float(value)
    except OverflowError:  # an int beyond float range, e.g. 10**400
        raise InitializerArgumentError(f"{owner}: {arg} must be finite, got an integer of {int(value).bit_length()} "
                                       f"bits (beyond float range)") from None
    if finite and not math.isfinite(value):
        beyond = " (beyond float64's range)" if bool(np.isfinite(given)) else ""  # a longdouble such as 1e400
        raise InitializerArgumentError(f"{owner}: {arg} must be finite, got {given!r}{beyond}")
    if positive and not value > 0:
        raise InitializerArgumentError(f"{owner}: {arg} must be > 0, got {value!r}")
    if nonneg and not value >= 0:
        raise InitializerArgumentError(f"{owner}: {arg} must be >= 0, got {value!r}")
    return value


def check_choice(owner: str, arg: str, value: Any, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices`` or raise InitializerArgumentError listing them."""
    if value not in choices:
        raise InitializerArgumentError(f"{owner}: {arg} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value

