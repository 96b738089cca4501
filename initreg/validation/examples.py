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


#: one configuration to validate: (label, the instance or None, (verdict, reason) when None)
Example = tuple[str, Any, tuple[str, str]]


def examples(info: Any, create: Callable[..., Any], cases: tuple[Case, ...], directory: Path, seed: int,
             label: str | None = None) -> list[Example]:
    """(label, instance or None, (verdict, reason)) for each configuration of the registered initializer ``info``.

    Every instance is built from ``info``'s own distribution (``dist:name``), never from the bare name, so two
    plugins that claim one name are validated separately. A default construction that needs arguments is
    "unchecked"; a declared configuration that fails to build, or a plugin hook that misbehaves for its own class,
    is a "fail" naming the plugin.
    """
    name = info.name
    label = label or name
    own = f"{info.distribution}:{name}"

    def build(**kwargs: Any) -> Any:
        return create(own, **kwargs)

    std = _norm(info.distribution) == STD_DIST
    if std and name == "mixture":
        return [(f"{label}(tutorial: ¼ U[5,10], ½ zero, ¼ U[-10,-5])", tutorial_mixture(create, build), ("", ""))]
    if std and name == "load":
        return [(f"{label}(example .npz)", load_example(create, cases, directory, seed, build), ("", ""))]
    return [_default(label, build), *_declared(info, label, build, create)]


def _default(label: str, build: Callable[..., Any]) -> Example:
    """The default construction: an instance, "unchecked" when the constructor needs arguments, else "fail"."""
    try:
        return label, build(), ("", "")
    except TypeError as exc:  # a constructor with required arguments: nothing to build by default
        return label, None, ("unchecked", f"needs constructor arguments ({exc}); validate an instance instead")
    except Exception as exc:
        return label, None, ("fail", f"building it raised {type(exc).__name__}: {exc}")


def _declared(info: Any, label: str, build: Callable[..., Any], create: Callable[..., Any]) -> list[Example]:
    """The configurations the plugins' ``initreg_validation_configs`` hooks declare for ``info.cls``."""
    from ..plugins.registry import validation_declarations

    out: list[Example] = []
    for plugin, found in validation_declarations(info.cls):
        mine = plugin == info.plugin  # another plugin's broken hook is not this initializer's fault
        hook = f"plugin {plugin!r}'s initreg_validation_configs"
        if isinstance(found, Exception):
            if mine:
                out.append((f"{label}[{plugin} configs]", None,
                            ("fail", f"{hook} raised {type(found).__name__}: {found}")))
            continue
        if found is None:
            continue
        if isinstance(found, (str, bytes)) or not isinstance(found, (list, tuple)):
            if mine:
                out.append((f"{label}[{plugin} configs]", None, ("fail", f"{hook} returned {found!r}; return a list "
                                                                         f"of keyword dicts or (label, Initializer) "
                                                                         f"pairs")))
            continue
        out += [_one_declared(item, label, hook, build, create) for item in found]
    return out


def _one_declared(item: Any, label: str, hook: str, build: Callable[..., Any], create: Callable[..., Any]) -> Example:
    """One declared configuration built, or a "fail" naming the plugin's hook and the configuration."""
    if isinstance(item, dict):
        shown, make = label_of(label, item), (lambda: build(**item))
    elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        shown, make = f"{label}[{item[0]}]", (lambda: create(item[1]))
    else:
        return (f"{label}[{_short(item)[:40]}]", None,
                ("fail", f"{hook} declared {item!r}; declare keyword-argument dicts or (label, Initializer) pairs"))
    try:
        return shown, make(), ("", "")
    except Exception as exc:
        return shown, None, ("fail", f"{hook} declared {item!r}, which does not build: {type(exc).__name__}: {exc}")


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
