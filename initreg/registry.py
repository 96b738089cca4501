"""Plugin loading, name lookup and create(): the registry of initializers and its broken-plugin policy."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .errors import (AmbiguousInitializerError, InitializerTypeError, PluginError, PluginWarning, did_you_mean,
                     UnknownInitializerError)
from .initializer import Initializer, decode

GROUP = "initreg"
STD_DIST = "initreg"
STRICT_ENV = "INITREG_STRICT_PLUGINS"
DISABLE_ENV = "INITREG_DISABLE_PLUGINS"
_HOOK = "initreg_register_initializers"


def _norm(dist: str) -> str:
    """A distribution name in normalized form (PEP 503): ``Initreg_Structured`` → ``initreg-structured``."""
    return re.sub(r"[-_.]+", "-", dist).lower()


@dataclass(frozen=True)
class InitializerInfo:
    """One registered initializer: name, aliases, class, and the plugin and distribution providing it."""

    name: str
    aliases: tuple[str, ...]
    cls: type
    plugin: str
    distribution: str
    version: str | None
    override: bool = False

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (the class as its dotted path)."""
        return {"name": self.name, "aliases": list(self.aliases), "class": f"{self.cls.__module__}.{self.cls.__qualname__}",
                "plugin": self.plugin, "distribution": self.distribution, "version": self.version}


@dataclass
class PluginInfo:
    """One plugin and how loading it went: status ``active``, ``disabled`` or ``failed`` (with its error)."""

    name: str
    distribution: str
    version: str | None
    status: str
    initializers: tuple[str, ...] = ()
    error: str | None = None
    obj: Any = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {"name": self.name, "distribution": self.distribution, "version": self.version, "status": self.status,
                "initializers": list(self.initializers), "error": self.error}


class _Registry:
    """The loaded state: a pluggy manager, plugin records and the initializers they registered."""

    def __init__(self) -> None:
        import pluggy

        from . import hookspecs

        self.pm = pluggy.PluginManager(GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.entries: list[InitializerInfo] = []
        self.by_name: dict[str, list[InitializerInfo]] = {}
        self.by_class: dict[str, list[InitializerInfo]] = {}

    # -- loading -------------------------------------------------------------------------------

    def load_entry_points(self, warn: bool) -> None:
        """Import and register every plugin of the entry-point group, skipping disabled and broken ones."""
        blocked = {_norm(s.strip()) for s in os.environ.get(DISABLE_ENV, "").split(",") if s.strip()}
        for key, dist, version, load in _sources():
            if key in self.plugins:
                key = f"{dist}.{key}"
            if _norm(key) in blocked or _norm(dist) in blocked:
                self.plugins[key] = PluginInfo(key, dist, version, "disabled")
                continue
            try:
                obj = load()
            except Exception as exc:  # any import error of a third-party module must not break initreg
                self._failed(key, dist, version, "import", exc, warn)
                continue
            try:
                self.add(obj, key, dist, version)
            except Exception as exc:
                self._failed(key, dist, version, "register", exc, warn)

    def _failed(self, key: str, dist: str, version: str | None, stage: str, exc: Exception, warn: bool) -> None:
        error = f"{type(exc).__name__}: {exc}"
        self.plugins[key] = PluginInfo(key, dist, version, "failed", error=f"failed to {stage}: {error}")
        if warn:
            warnings.warn(f"initreg plugin {key!r} ({dist} {version}) failed to {stage} and was skipped: {error}. "
                          f"Set {DISABLE_ENV}={key} to skip it quietly, or {STRICT_ENV}=1 to make this an error.",
                          PluginWarning, stacklevel=6)

    def add(self, obj: Any, key: str, dist: str, version: str | None) -> PluginInfo:
        """Register ``obj`` with pluggy and commit what its hook registers; on any error nothing of it stays."""
        pending: list[InitializerInfo] = []

        def register(cls: Any, aliases: Iterable[str] | str | None = None, *, override: bool = False) -> None:
            pending.append(_entry(cls, aliases, override, key, dist, version))

        try:
            self.pm.register(obj, name=key)
            self.pm.check_pending()  # an ``initreg_`` hook this version does not know (a typo) fails here
            others = [p for p in self.pm.get_plugins() if p is not obj]
            self.pm.subset_hook_caller(_HOOK, others)(register=register)
            self._check(pending, dist)
        except BaseException:
            if self.pm.get_name(obj) == key:  # pluggy keeps a plugin whose hook raised: drop it
                self.pm.unregister(obj, name=key)
            raise
        self.entries = [*self.entries, *pending]
        self._reindex()
        info = PluginInfo(key, dist, version, "active", tuple(e.name for e in pending), obj=obj)
        self.plugins[key] = info
        return info

    def _check(self, pending: list[InitializerInfo], dist: str) -> None:
        """Reject names a plugin claims twice, that its distribution already has, or that replace a standard one silently."""
        seen: dict[str, InitializerInfo] = {}
        for e in pending:
            for k in (e.name, *e.aliases):
                if k in seen:
                    raise InitializerTypeError(f"the name {k!r} is registered twice (by {seen[k].cls.__name__} and "
                                               f"{e.cls.__name__}); give each initializer its own name and aliases")
                seen[k] = e
                for old in self.by_name.get(k, ()):
                    if _norm(old.distribution) == _norm(dist):
                        raise InitializerTypeError(f"{e.cls.__name__} claims {k!r}, which distribution {dist!r} already "
                                                   f"registers for {old.cls.__name__}")
                    if _norm(old.distribution) == STD_DIST and not e.override:
                        raise InitializerTypeError(f"{e.cls.__name__} claims {k!r}, a standard initializer name "
                                                   f"({old.cls.__name__}); register it with override=True to replace "
                                                   f"the standard one, or choose another name")

    def _reindex(self) -> None:
        by_name: dict[str, list[InitializerInfo]] = {}
        by_class: dict[str, list[InitializerInfo]] = {}
        for e in self.entries:
            for k in (e.name, *e.aliases):
                by_name.setdefault(k, []).append(e)
            by_class.setdefault(e.cls.__name__, []).append(e)
        self.by_name, self.by_class = by_name, by_class  # swapped whole: lookups on other threads never see half

    def remove(self, key: str) -> None:
        """Unregister plugin ``key`` and every initializer it registered."""
        info = self.plugins.pop(key)
        if info.obj is not None and self.pm.get_name(info.obj) == key:
            self.pm.unregister(info.obj, name=key)
        self.entries = [e for e in self.entries if e.plugin != key]
        self._reindex()

    # -- lookup --------------------------------------------------------------------------------

    def resolve(self, spec: str) -> InitializerInfo:
        """The registered initializer a name, alias or ``dist:name`` denotes."""
        if not isinstance(spec, str):
            raise InitializerTypeError(f"an initializer name must be a string, got {spec!r}")
        text = spec.strip().lower()
        dist, sep, name = text.rpartition(":")
        found = self.by_name.get(name, [])
        if sep:
            chosen = [e for e in found if _norm(e.distribution) == _norm(dist) or e.plugin.lower() == dist]
            if chosen:
                return chosen[0]
            if found:
                have = ", ".join(sorted({e.distribution for e in found}))
                raise UnknownInitializerError(f"no distribution {dist!r} provides an initializer {name!r} "
                                              f"(in {spec!r}); it is provided by: {have}")
        if not found:
            raise UnknownInitializerError(self._unknown(spec, name))
        return _choose(found, repr(name), lambda e: f"'{e.distribution}:{name}'")

    def lookup_class(self, class_name: str) -> type:
        """The registered class of this class name (``"Xavier"``)."""
        found = self.by_class.get(class_name)
        if not found:
            raise AttributeError(f"no registered initializer class named {class_name!r}"
                                 f"{did_you_mean(class_name, list(self.by_class))} "
                                 f"(see initreg.available() or `initreg plugins`)")
        return _choose(found, f"class {class_name!r}",
                       lambda e: f"initreg.create('{e.distribution}:{e.name}')").cls

    def _unknown(self, spec: str, name: str) -> str:
        msg = f"no initializer named {spec!r}" + (did_you_mean(name, list(self.by_name)) or ".")
        msg += " List the installed ones with initreg.available() or `initreg plugins`."
        for p in self.plugins.values():
            if p.status != "active":
                msg += f" Plugin {p.name!r} ({p.distribution}) " + ("is disabled." if p.status == "disabled" else f"{p.error}.")
        return msg


def _choose(found: list[InitializerInfo], what: str, qualified: Callable[[InitializerInfo], str]) -> InitializerInfo:
    """The one entry among ``found``: overrides replace standard ones; two distributions left is ambiguous."""
    if any(e.override for e in found):
        found = [e for e in found if _norm(e.distribution) != STD_DIST]
    if len({_norm(e.distribution) for e in found}) > 1:
        who = " and ".join(f"{e.distribution} ({e.cls.__module__}.{e.cls.__qualname__})" for e in found)
        fixes = " or ".join(qualified(e) for e in found)
        raise AmbiguousInitializerError(f"initializer {what} is claimed by {len(found)} distributions: {who}; "
                                        f"choose one with {fixes}, or uninstall/disable one ({DISABLE_ENV}=...)")
    return found[0]


def _entry(cls: Any, aliases: Any, override: bool, key: str, dist: str, version: str | None) -> InitializerInfo:
    """Validate one ``register(cls, aliases=..., override=...)`` call."""
    if not (isinstance(cls, type) and issubclass(cls, Initializer)) or cls is Initializer:
        raise InitializerTypeError(f"plugin {key!r} registered {cls!r}, which is not an initreg.Initializer subclass; "
                                   f"register(cls) takes a class defined as `class MyInit(initreg.Initializer)`")
    if aliases is None:
        aliases = vars(cls).get("aliases", ())  # the class's own attribute: a subclass does not inherit aliases
    if isinstance(aliases, str):
        aliases = (aliases,)
    names = [cls.name, *aliases]
    for n in names:
        if not isinstance(n, str) or not re.fullmatch(r"[A-Za-z_][\w.\-]*", n):
            raise InitializerTypeError(f"plugin {key!r}: {cls.__name__} has an invalid name or alias {n!r}; use letters, "
                                       f"digits, '_', '-' or '.', starting with a letter (no ':')")
    lowered = tuple(dict.fromkeys(n.lower() for n in names))
    return InitializerInfo(lowered[0], lowered[1:], cls, key, dist, version, bool(override))


def _sources() -> list[tuple[str, str, str | None, Callable[[], Any]]]:
    """(plugin name, distribution, version, loader) for every entry point of the group, the standard catalog first."""
    from importlib.metadata import entry_points

    found = []
    for ep in entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist is not None else ep.module
        version = ep.dist.version if ep.dist is not None else None
        found.append((ep.name, dist, version, ep.load))
    if not any(_norm(d) == STD_DIST and n == "std" for n, d, _, _ in found):
        from . import __version__  # running from a source tree without installed metadata

        found.append(("std", STD_DIST, __version__, lambda: importlib.import_module("initreg.std.plugin")))
    return sorted(found, key=lambda s: (_norm(s[1]) != STD_DIST, _norm(s[1]), s[0]))


# --- the process-wide registry --------------------------------------------------------------------

_REGISTRY: _Registry | None = None
_LOCK = threading.RLock()


def _strict() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def _get(strict_check: bool = True) -> _Registry:
    """The loaded registry (loading it on first use); under strict mode a failed plugin raises PluginError."""
    reg = _REGISTRY
    if reg is None:
        reg = _load()
    if strict_check and _strict():
        failed = [p for p in reg.plugins.values() if p.status == "failed"]
        if failed:
            raise PluginError("; ".join(f"initreg plugin {p.name!r} ({p.distribution} {p.version}) {p.error}"
                                        for p in failed)
                              + f". Fix or uninstall it, block it with {DISABLE_ENV}=name, or unset {STRICT_ENV}.")
    return reg


def _load() -> _Registry:
    global _REGISTRY
    with _LOCK:
        if _REGISTRY is None:
            reg = _Registry()
            reg.load_entry_points(warn=not _strict())
            _REGISTRY = reg
        return _REGISTRY


def reset() -> None:
    """Forget every loaded plugin; the next registry use discovers them again (for tests, or after pip install)."""
    global _REGISTRY
    with _LOCK:
        _REGISTRY = None


def create(spec: Any, **kwargs: Any) -> Initializer:
    """An Initializer from an instance, a class, a name, a ``dumps()`` JSON string, ``{"name": ...}`` or ``[name, kwargs]``."""
    if isinstance(spec, Initializer):
        if kwargs:
            raise InitializerTypeError(f"create() got the instance {spec!r} and keyword arguments {sorted(kwargs)}; "
                                       f"pass a name instead: create({spec.name!r}, ...)")
        return spec
    if isinstance(spec, type) and issubclass(spec, Initializer):
        return _construct(spec, kwargs, spec.__name__)
    if isinstance(spec, str) and spec.strip()[:1] in ("[", "{"):
        try:
            spec = json.loads(spec)
        except json.JSONDecodeError as exc:
            raise InitializerTypeError(f"initializer spec {spec!r} is not valid JSON ({exc}); expected what "
                                       f"Initializer.dumps() writes, such as '[\"normal\", {{\"sigma\": 0.01}}]'") from None
    if isinstance(spec, str):
        name, args = spec, {}
    elif isinstance(spec, dict) and isinstance(spec.get("name"), str):
        name, args = spec["name"], {k: v for k, v in spec.items() if k != "name"}
    elif (isinstance(spec, (list, tuple)) and len(spec) in (1, 2) and isinstance(spec[0], str)
          and (len(spec) == 1 or isinstance(spec[1], dict))):
        name, args = spec[0], dict(spec[1]) if len(spec) == 2 else {}
    else:
        raise InitializerTypeError(f"cannot make an initializer from {spec!r}; pass an Initializer, a name such as "
                                   f"'xavier', a dict {{'name': 'normal', 'sigma': 0.01}} or a pair ['normal', {{...}}]")
    cls = _get().resolve(name).cls
    return _construct(cls, {**decode(args, create), **kwargs}, name)


def _construct(cls: type, kwargs: dict[str, Any], label: str) -> Initializer:
    """``cls(**kwargs)``, with arguments it does not take reported by name before the constructor runs."""
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):  # a signature Python cannot read: let the constructor judge
        return cls(**kwargs)
    try:
        sig.bind(**kwargs)
    except TypeError as exc:
        params = [p.name for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        hint = "".join(did_you_mean(k, params, n=1) for k in kwargs if k not in params)
        raise InitializerTypeError(f"initializer {label!r} ({cls.__name__}): {exc}; it accepts "
                                   f"{', '.join(params) or 'no arguments'}{hint}") from None
    return cls(**kwargs)


def lookup(spec: str) -> InitializerInfo:
    """The record of the initializer a name, alias or ``dist:name`` denotes."""
    return _get().resolve(spec)


def lookup_class(class_name: str) -> type:
    """The registered Initializer subclass of this class name (``"Xavier"``); AttributeError when none."""
    return _get().lookup_class(class_name)


def available() -> list[InitializerInfo]:
    """One record per registered initializer: name, aliases, class, plugin, distribution, version."""
    return sorted(_get().entries, key=lambda e: (e.name, _norm(e.distribution)))


def validation_configs(cls: type) -> list[Any]:
    """What every active plugin's ``initreg_validation_configs`` hook declares for ``cls``, in plugin order."""
    return [item for found in _get().pm.hook.initreg_validation_configs(cls=cls) if found for item in found]


def plugins() -> list[PluginInfo]:
    """Every plugin found with its status (active, disabled, failed) and error; never raises for a broken plugin."""
    return list(_get(strict_check=False).plugins.values())


def plugin_of(initializer: Any) -> str:
    """The distribution that registered this initializer's class, or its module when none did."""
    cls = initializer if isinstance(initializer, type) else type(initializer)
    reg = _REGISTRY
    if reg is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PluginWarning)  # a message about one initializer is no place for these
            reg = _get(strict_check=False)
    for e in reg.entries:  # a few dozen entries: cheaper than keeping an index in step with (un)registration
        if e.cls is cls:
            return e.distribution
    return cls.__module__


def register_plugin(obj: Any, name: str | None = None) -> str:
    """Register a plugin object (a module or class with hookimpls) now; returns its name. Raises PluginError on failure."""
    with _LOCK:
        reg = _get(strict_check=False)
        key = name or getattr(obj, "__name__", None) or type(obj).__name__
        if key in reg.plugins:
            raise PluginError(f"a plugin named {key!r} is already registered; pass register_plugin(obj, name=...) "
                              f"or call unregister_plugin({key!r}) first")
        try:
            reg.add(obj, key, key, None)
        except Exception as exc:
            raise PluginError(f"plugin {key!r} failed to register and was not added: {type(exc).__name__}: {exc}") from exc
        return key


def unregister_plugin(name_or_obj: Any) -> None:
    """Remove a plugin (by name or object) and every initializer it registered."""
    with _LOCK:
        reg = _get(strict_check=False)
        keys = [k for k, p in reg.plugins.items()
                if (isinstance(name_or_obj, str) and k == name_or_obj) or (p.obj is not None and p.obj is name_or_obj)]
        if not keys:
            raise PluginError(f"no plugin {name_or_obj!r} is registered; registered: {', '.join(reg.plugins) or 'none'}")
        reg.remove(keys[0])
