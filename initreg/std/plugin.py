"""The standard catalog as a plugin: registered through the ``initreg`` entry-point group like any other."""

from __future__ import annotations

from typing import Any, Callable

from .. import std
from ..plugins.hookspecs import hookimpl
from ..core.initializer import Initializer


@hookimpl
def initreg_register_initializers(register: Callable[..., Any]) -> None:
    """Register every Initializer class of ``initreg.std.__all__`` with its own ``aliases`` attribute."""
    for attr in std.__all__:
        obj = getattr(std, attr)
        if isinstance(obj, type) and issubclass(obj, Initializer):
            register(obj, aliases=vars(obj).get("aliases", ()))


# Configurations validated besides the default construction: behaviour the tests can see (fan-dependent scales
# that are asymmetric in fan_in/fan_out, other distributions), declared as any plugin declares its own.
VALIDATION_CONFIGS: dict[str, list[dict[str, Any]]] = {
    "Xavier": [{"rnd_type": "gaussian", "factor_type": "in"}, {"factor_type": "out"}],
    "MSRAPrelu": [{"factor_type": "in"}],
    "VarianceScaling": [{"mode": "fan_avg", "distribution": "uniform"},
                        {"mode": "fan_out", "distribution": "untruncated_normal"}],
    "Orthogonal": [{"rand_type": "normal", "scale": 1.0}],
    "Constant": [{"value": 0.1}],
    "TruncatedNormal": [{"mean": 0.5, "sigma": 0.02, "a": -1.0, "b": 3.0}],
}


@hookimpl
def initreg_validation_configs(cls: type) -> Any:
    """The configurations above for the standard class ``cls`` (exactly that class, not its subclasses)."""
    if getattr(std, cls.__name__, None) is cls:
        return VALIDATION_CONFIGS.get(cls.__name__)
    return None
