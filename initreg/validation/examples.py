"""Which configurations of a registered initializer a run validates when it is named (or when all are)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from .cases import Case

# Besides the default construction: configurations whose behaviour differs in ways the tests can see
# (fan-dependent scales that are asymmetric in fan_in/fan_out, other distributions, the tutorial mixture).
EXTRA_CONFIGS: dict[str, list[dict[str, Any]]] = {
    "xavier": [{"rnd_type": "gaussian", "factor_type": "in"}, {"factor_type": "out"}],
    "msraprelu": [{"factor_type": "in"}],
    "variancescaling": [{"mode": "fan_avg", "distribution": "uniform"},
                        {"mode": "fan_out", "distribution": "untruncated_normal"}],
    "orthogonal": [{"rand_type": "normal", "scale": 1.0}],
    "constant": [{"value": 0.1}],
    "truncatednormal": [{"mean": 0.5, "sigma": 0.02, "a": -1.0, "b": 3.0}],
}


def tutorial_mixture(create: Callable[..., Any]) -> Any:
    """The three-part mixture of the reference tutorial: U[5, 10] w.p. ¼, 0 w.p. ½, U[−10, −5] w.p. ¼."""
    return create("mixture", components=[(0.25, create("uniform", low=5.0, high=10.0)), (0.5, create("zero")),
                                         (0.25, create("uniform", low=-10.0, high=-5.0))])


def load_example(create: Callable[..., Any], cases: tuple[Case, ...], directory: Path, seed: int) -> Any:
    """A Load reading a fresh .npz that holds an array for every case's parameter name."""
    rng = np.random.default_rng(seed)
    path = directory / "load-example.npz"
    np.savez(path, **{c.name: rng.standard_normal(c.shape).astype(c.dtype) for c in cases})
    return create("load", path=str(path))


def examples(name: str, create: Callable[..., Any], cases: tuple[Case, ...], directory: Path,
             seed: int) -> list[tuple[str, Any]]:
    """(label, instance) pairs to validate for the registered ``name``; the constructor's error if it needs arguments."""
    if name == "mixture":
        return [("mixture(tutorial: ¼ U[5,10], ½ zero, ¼ U[-10,-5])", tutorial_mixture(create))]
    if name == "load":
        return [("load(example .npz)", load_example(create, cases, directory, seed))]
    out = [(name, create(name))]
    for kwargs in EXTRA_CONFIGS.get(name, []):
        out.append((label_of(name, kwargs), create(name, **kwargs)))
    return out


def label_of(name: str, kwargs: dict[str, Any]) -> str:
    """``xavier(factor_type='in')``: the name with the arguments given."""
    if not kwargs:
        return name
    return f"{name}({', '.join(f'{k}={_short(v)}' for k, v in kwargs.items())})"


def _short(value: Any) -> str:
    from ..initializer import Initializer

    if isinstance(value, Initializer):
        return label_of(value.name, value.explicit_config())
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_short(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    if isinstance(value, np.ndarray):
        return f"array{value.shape}"
    return repr(value)
