"""Which configurations of a registered initializer a run validates when it is named (or when all are)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from .cases import Case

# Besides the default construction, every plugin (the standard catalog too, in initreg/std/plugin.py) declares
# the configurations to validate through the ``initreg_validation_configs`` hook.
STD_DIST = "initreg"


def tutorial_mixture(create: Callable[..., Any], build: Callable[..., Any] | None = None) -> Any:
    """The three-part mixture of the reference tutorial: U[5, 10] w.p. ¼, 0 w.p. ½, U[−10, −5] w.p. ¼."""
    build = build or (lambda **kw: create("mixture", **kw))
    return build(components=[(0.25, create("uniform", low=5.0, high=10.0)), (0.5, create("zero")),
                             (0.25, create("uniform", low=-10.0, high=-5.0))])


def load_example(create: Callable[..., Any], cases: tuple[Case, ...], directory: Path, seed: int,
                 build: Callable[..., Any] | None = None) -> Any:
    """A Load reading a fresh .npz that holds an array for every case's parameter name."""
    rng = np.random.default_rng(seed)
    path = directory / "load-example.npz"
    np.savez(path, **{c.name: rng.standard_normal(c.shape).astype(c.dtype) for c in cases})
    return (build or (lambda **kw: create("load", **kw)))(path=str(path))


def examples(info: Any, create: Callable[..., Any], cases: tuple[Case, ...], directory: Path, seed: int,
             label: str | None = None) -> list[tuple[str, Any]]:
    """(label, instance) pairs to validate for the registered initializer ``info`` (an InitializerInfo).

    Every instance is built from ``info``'s own distribution (``dist:name``), never from the bare name, so two
    plugins that claim one name are validated separately. Raises the constructor's error if it needs arguments.
    """
    from ..plugins.registry import validation_configs

    name = info.name
    label = label or name
    own = f"{info.distribution}:{name}"

    def build(**kwargs: Any) -> Any:
        return create(own, **kwargs)

    std = _norm(info.distribution) == STD_DIST
    if std and name == "mixture":
        return [(f"{label}(tutorial: ¼ U[5,10], ½ zero, ¼ U[-10,-5])", tutorial_mixture(create, build))]
    if std and name == "load":
        return [(f"{label}(example .npz)", load_example(create, cases, directory, seed, build))]
    out = [(label, build())]
    declared = validation_configs(info.cls)
    for item in declared:
        if isinstance(item, dict):
            out.append((label_of(label, item), build(**item)))
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            out.append((f"{label}[{item[0]}]", create(item[1])))
        else:
            from ..errors import ValidationError

            raise ValidationError(f"initreg_validation_configs for {own!r} returned {item!r}; return keyword-argument "
                                  f"dicts or (label, Initializer) pairs")
    return out


def _norm(dist: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", dist).lower()


def label_of(name: str, kwargs: dict[str, Any]) -> str:
    """``xavier(factor_type='in')``: the name with the arguments given."""
    if not kwargs:
        return name
    return f"{name}({', '.join(f'{k}={_short(v)}' for k, v in kwargs.items())})"


def _short(value: Any) -> str:
    from ..core.initializer import Initializer

    if isinstance(value, Initializer):
        return label_of(value.name, value.explicit_config())
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_short(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    if isinstance(value, np.ndarray):
        return f"array{value.shape}"
    return repr(value)
