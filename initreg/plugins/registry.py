"""The process-wide registry of initializers: loaded on first use; create(), lookups, plugin status."""

from __future__ import annotations

import dataclasses
import os
import threading
import warnings
from typing import Any

from ..errors import AmbiguousInitializerError, PluginError, PluginTypeError, PluginWarning
from .catalog import DISABLE_ENV, GROUP, STD_DIST, Catalog, InitializerInfo, LoadFailure, PluginInfo, choose, norm
from .loader import (LOAD_ENV, LOCAL, STRICT_ENV, TIMEOUT_ENV, attempt, load_entry_points, timeout)

__all__ = ["DISABLE_ENV", "GROUP", "LOAD_ENV", "STD_DIST", "STRICT_ENV", "TIMEOUT_ENV", "InitializerInfo", "PluginInfo",
           "available", "clashes", "installed_version", "load_plugins", "lookup", "lookup_class", "plugin_of",
           "plugins", "provider_of", "qualified_name", "register_plugin", "reset", "unregister_plugin",
           "validation_configs", "validation_declarations"]

# --- the process-wide registry --------------------------------------------------------------------

_REGISTRY: Catalog | None = None
_LOCK = threading.RLock()


def _after_fork_in_child() -> None:
    """A new lock in a forked child: a parent thread that held it (loading plugins) does not exist there."""
    global _LOCK
    _LOCK = threading.RLock()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _strict() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def _get(strict_check: bool = True) -> Catalog:
    """The loaded registry (loading it on first use); under strict mode a failed plugin raises PluginError."""
    reg = _REGISTRY
    if reg is None:
        building = getattr(LOCAL, "registry", None)
        if building is not None:  # a plugin using initreg while it is imported: what is loaded so far
            return building
        reg = _load()
    if strict_check and _strict():
        failed = [p for p in reg.plugins.values() if p.status == "failed"]
        if failed:
            raise PluginError("; ".join(f"initreg plugin {p.name!r} ({p.distribution} {p.version}) {p.error}"
                                        for p in failed)
                              + f". Fix or uninstall it, block it with {DISABLE_ENV}=name, or unset {STRICT_ENV}.")
    return reg


def _load() -> Catalog:
    global _REGISTRY
    with _LOCK:
        if _REGISTRY is None:
            reg = Catalog()
            load_entry_points(reg, warn_failures=not _strict())
            _REGISTRY = reg
        return _REGISTRY


def reset() -> None:
    """Forget every loaded plugin; the next registry use discovers them again (for tests, or after pip install)."""
    global _REGISTRY
    with _LOCK:
        _REGISTRY = None


def lookup(spec: str) -> InitializerInfo:
    """The record of the initializer a name, alias or ``dist:name`` denotes."""
    return _get().resolve(spec)


def lookup_class(class_name: str) -> type:
    """The registered Initializer subclass of this class name (``"Xavier"``); AttributeError when none."""
    return _get().lookup_class(class_name)


def available() -> list[InitializerInfo]:
    """One record per registered initializer: name, aliases, class, plugin, distribution, version."""
    return sorted(_get().entries, key=lambda e: (e.name, norm(e.distribution)))


def validation_configs(cls: type) -> list[Any]:
    """What every active plugin's ``initreg_validation_configs`` hook declares for ``cls``, in plugin order (hooks
    that raise or return something other than a list or tuple are left out: see ``validation_declarations``)."""
    return [item for _, found in validation_declarations(cls) if isinstance(found, (list, tuple)) for item in found]


def validation_declarations(cls: type) -> list[tuple[str, Any]]:
    """(plugin name, what its ``initreg_validation_configs`` returned for ``cls`` or the exception it raised), one
    per plugin in call order: each hook runs on its own, so one broken plugin is blamed alone."""
    out: list[tuple[str, Any]] = []
    for impl in reversed(_get().pm.hook.initreg_validation_configs.get_hookimpls()):  # pluggy's call order
        try:
            found = impl.function(*[{"cls": cls}[a] for a in impl.argnames])
        except Exception as exc:  # contained: reported against this plugin's own classes
            found = exc
        out.append((impl.plugin_name, found))
    return out


def plugins() -> list[PluginInfo]:
    """Every plugin found with its status (active, disabled, failed), error, aliases and clashes; never raises for a broken plugin."""
    reg = _get(strict_check=False)
    found = _clashes(reg)
    out = []
    for p in reg.plugins.values():
        mine = {name: tuple(sorted({e.distribution for e in found[name]} - {p.distribution}))
                for name in (*p.initializers, *(a for al in p.aliases.values() for a in al)) if name in found}
        out.append(dataclasses.replace(p, clashes=mine) if mine else p)
    return out


def load_plugins() -> list[PluginInfo]:
    """Load every plugin now (once) and return the records; under INITREG_STRICT_PLUGINS=1 a failed one raises PluginError."""
    _get()
    return plugins()


def clashes() -> dict[str, list[InitializerInfo]]:
    """Each name (or alias) that two or more distributions register, with their records; such a name needs ``dist:name``."""
    return _clashes(_get(strict_check=False))


def _clashes(reg: Catalog) -> dict[str, list[InitializerInfo]]:
    out = {}
    for name, found in reg.by_name.items():
        if any(e.override for e in found):  # an explicit override replaces the standard one: no clash
            found = [e for e in found if norm(e.distribution) != STD_DIST]
        if len({norm(e.distribution) for e in found}) > 1:
            out[name] = found
    return out


def qualified_name(init: Any) -> str:
    """The name ``dumps()`` writes for ``init``: the bare name when it finds this class again, else ``dist:name``."""
    qualified = getattr(init, "_initreg_qualified", None)  # set by create() on what it built from a dist:name
    if qualified:
        return qualified
    name = init.name
    reg = _REGISTRY
    if reg is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PluginWarning)  # a dumps() is no place for these
            reg = _get(strict_check=False)
    found = reg.by_name.get(name, [])
    mine = [e for e in found if e.cls is type(init) and e.name == name]
    if not mine:
        return name  # not registered (a class used directly): its bare name is all there is
    try:
        if choose(found, repr(name), lambda e: "").cls is type(init):
            return name
    except AmbiguousInitializerError:
        pass
    return f"{norm(mine[0].distribution)}:{name}"




def provider_of(initializer: Any) -> tuple[str, str | None]:
    """(distribution, its version) that registered this initializer's class; (its module, None) when none did."""
    cls = initializer if isinstance(initializer, type) else type(initializer)
    reg = _REGISTRY
    if reg is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PluginWarning)  # a message about one initializer is no place for these
            reg = _get(strict_check=False)
    for e in reg.entries:  # a few dozen entries: cheaper than keeping an index in step with (un)registration
        if e.cls is cls:
            return e.distribution, e.version
    return cls.__module__, None


def plugin_of(initializer: Any) -> str:
    """The distribution that registered this initializer's class, or its module when none did."""
    return provider_of(initializer)[0]


def installed_version(distribution: str) -> str | None:
    """The version of an installed plugin distribution (as its loaded plugin records it), or None when none is."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)
        reg = _get(strict_check=False)
    for p in reg.plugins.values():
        if norm(p.distribution) == norm(distribution) and p.version is not None:
            return p.version
    return None


def register_plugin(obj: Any, name: str | None = None) -> str:
    """Register a plugin object (a module or class with hookimpls) now; returns its name. Raises PluginError on failure."""
    _check_plugin(obj, name)
    with _LOCK:
        reg = _get(strict_check=False)
        key = name or getattr(obj, "__name__", None) or type(obj).__name__
        if key in reg.plugins:
            raise PluginError(f"a plugin named {key!r} is already registered; pass register_plugin(obj, name=...) "
                              f"or call unregister_plugin({key!r}) first")
        try:
            got, pending, elapsed = attempt(lambda: obj, key, key, None, None, reg, timeout())
            reg.commit(got, pending, key, key, None, None, elapsed)
        except LoadFailure as failure:
            raise PluginError(f"plugin {key!r} failed to register and was not added: {failure.error}") from None
        return key


def _check_plugin(obj: Any, name: Any) -> None:
    """Refuse a name that is no non-empty str and an object with no initreg hookimpl; warn on unmarked hook names."""
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise PluginTypeError(f"register_plugin: name must be a non-empty str, got {name!r}; or leave it None to use "
                              f"the plugin's __name__")
    hooks = [n for n in dir(obj) if n.startswith("initreg_")]
    marked = [n for n in hooks if hasattr(getattr(obj, n, None), "initreg_impl")]  # pluggy's hookimpl mark
    for n in sorted(set(hooks) - set(marked)):
        warnings.warn(f"register_plugin: {n} of {obj!r} is not marked @initreg.hookimpl, so it is never called; "
                      f"decorate it", PluginWarning, stacklevel=3)
    if not marked:
        raise PluginTypeError(f"register_plugin: {obj!r} ({type(obj).__name__}) has no @initreg.hookimpl function "
                              f"(initreg_register_initializers, initreg_validation_configs); pass a module, class "
                              f"or object that defines one")


def unregister_plugin(name_or_obj: Any) -> None:
    """Remove a plugin (by name or object) and every initializer it registered."""
    with _LOCK:
        reg = _get(strict_check=False)
        keys = [k for k, p in reg.plugins.items()
                if (isinstance(name_or_obj, str) and k == name_or_obj) or (p.obj is not None and p.obj is name_or_obj)]
        if not keys:
            raise PluginError(f"no plugin {name_or_obj!r} is registered; registered: {', '.join(reg.plugins) or 'none'}")
        reg.remove(keys[0])
