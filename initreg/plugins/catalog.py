"""The catalog of initializers: which plugin registered which names and classes, lookups, and the clash policy."""

from __future__ import annotations

import re
from collections import abc
from dataclasses import dataclass, field
from typing import Any, Callable

from ..core.initializer import Initializer
from ..errors import AmbiguousInitializerError, InitializerTypeError, UnknownInitializerError, did_you_mean

GROUP = "initreg"
STD_DIST = "initreg"
DISABLE_ENV = "INITREG_DISABLE_PLUGINS"


def norm(dist: str) -> str:
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
    """One plugin and how loading it went: status ``active``, ``disabled`` or ``failed`` (with its error).

    ``aliases`` maps each initializer it registers to its aliases; ``entry_point`` is the ``module:attr`` the
    entry point names; ``load_time_s`` how long importing and registering took; ``clashes`` the names it
    registers that another distribution registers too (see :func:`clashes`); ``reason`` why it is disabled.
    """

    name: str
    distribution: str
    version: str | None
    status: str
    initializers: tuple[str, ...] = ()
    error: str | None = None
    obj: Any = field(default=None, repr=False, compare=False)
    entry_point: str | None = None
    load_time_s: float | None = None
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    clashes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {"name": self.name, "distribution": self.distribution, "version": self.version, "status": self.status,
                "initializers": list(self.initializers), "error": self.error, "entry_point": self.entry_point,
                "load_time_s": None if self.load_time_s is None else round(self.load_time_s, 6),
                "aliases": {k: list(v) for k, v in self.aliases.items()},
                "clashes": {k: list(v) for k, v in self.clashes.items()}, "reason": self.reason}


class LoadFailure(Exception):
    """A plugin could not be loaded: the stage (import, register) and what went wrong, as one line."""

    def __init__(self, stage: str, error: str):
        super().__init__(f"failed to {stage}: {error}")
        self.stage, self.error = stage, error


def describe(exc: BaseException) -> str:
    """What a plugin raised, as one line of text: its type and message (SystemExit and KeyboardInterrupt in words)."""
    text = " ".join(str(exc).split())  # pluggy's validation messages span lines; reports give each plugin one line
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code!r}) raised by the plugin"
    if isinstance(exc, KeyboardInterrupt):
        return "KeyboardInterrupt raised by the plugin itself (no Ctrl-C reached it)"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Catalog:
    """The loaded state: a pluggy manager, plugin records and the initializers they registered, by name and class."""

    def __init__(self) -> None:
        import pluggy

        from . import hookspecs

        self.pm = pluggy.PluginManager(GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.entries: list[InitializerInfo] = []
        self.by_name: dict[str, list[InitializerInfo]] = {}
        self.by_class: dict[str, list[InitializerInfo]] = {}

    def failed(self, key: str, dist: str, version: str | None, value: str | None, failure: LoadFailure,
               elapsed: float) -> None:
        """Record plugin ``key`` as failed to load, with its error."""
        self.plugins[key] = PluginInfo(key, dist, version, "failed", error=str(failure), entry_point=value,
                                       load_time_s=elapsed)

    def commit(self, obj: Any, pending: list[InitializerInfo], key: str, dist: str, version: str | None,
               value: str | None = None, elapsed: float | None = None) -> PluginInfo:
        """Register ``obj`` with pluggy and keep what its hook registered; raises LoadFailure, keeping nothing, on a conflict."""
        try:
            self.pm.register(obj, name=key)
        except Exception as exc:  # the same object under another name, a name already taken
            raise LoadFailure("register", describe(exc)) from None
        try:
            self._check(pending, dist)
        except InitializerTypeError as exc:
            self.pm.unregister(obj, name=key)
            raise LoadFailure("register", describe(exc)) from None
        self.entries = [*self.entries, *pending]
        self._reindex()
        info = PluginInfo(key, dist, version, "active", tuple(e.name for e in pending), obj=obj, entry_point=value,
                          load_time_s=elapsed, aliases={e.name: e.aliases for e in pending})
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
                    if norm(old.distribution) == norm(dist):
                        raise InitializerTypeError(f"{e.cls.__name__} claims {k!r}, which distribution {dist!r} already "
                                                   f"registers for {old.cls.__name__}")
                    if norm(old.distribution) == STD_DIST and not e.override:
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
            chosen = [e for e in found if norm(e.distribution) == norm(dist) or e.plugin.lower() == dist]
            if chosen:
                return chosen[0]
            if found:
                have = ", ".join(sorted({e.distribution for e in found}))
                raise UnknownInitializerError(f"no distribution {dist!r} provides an initializer {name!r} "
                                              f"(in {spec!r}); it is provided by: {have}")
        if not found:
            raise UnknownInitializerError(self._unknown(spec, name))
        return choose(found, repr(name), lambda e: f"'{e.distribution}:{name}'")

    def lookup_class(self, class_name: str) -> type:
        """The registered class of this class name (``"Xavier"``)."""
        found = self.by_class.get(class_name)
        if not found:
            raise AttributeError(f"no registered initializer class named {class_name!r}"
                                 f"{did_you_mean(class_name, list(self.by_class))} "
                                 f"(see initreg.available() or `initreg plugins`)")
        return choose(found, f"class {class_name!r}",
                       lambda e: f"initreg.create('{e.distribution}:{e.name}')").cls

    def _unknown(self, spec: str, name: str) -> str:
        msg = f"no initializer named {spec!r}" + (did_you_mean(name, list(self.by_name)) or ".")
        msg += " List the installed ones with initreg.available() or `initreg plugins`."
        for p in self.plugins.values():
            if p.status != "active":
                msg += f" Plugin {p.name!r} ({p.distribution}) " + ("is disabled." if p.status == "disabled" else f"{p.error}.")
        return msg


def choose(found: list[InitializerInfo], what: str, qualified: Callable[[InitializerInfo], str]) -> InitializerInfo:
    """The one entry among ``found``: overrides replace standard ones; two distributions left is ambiguous."""
    if any(e.override for e in found):
        found = [e for e in found if norm(e.distribution) != STD_DIST]
    if len({norm(e.distribution) for e in found}) > 1:
        who = " and ".join(f"{e.distribution} ({e.cls.__module__}.{e.cls.__qualname__})" for e in found)
        fixes = " or ".join(qualified(e) for e in found)
        raise AmbiguousInitializerError(f"initializer {what} is claimed by {len(found)} distributions: {who}; "
                                        f"choose one with {fixes}, or uninstall/disable one ({DISABLE_ENV}=...)")
    return found[0]


def entry(cls: Any, aliases: Any, override: bool, key: str, dist: str, version: str | None) -> InitializerInfo:
    """Validate one ``register(cls, aliases=..., override=...)`` call."""
    if not (isinstance(cls, type) and issubclass(cls, Initializer)) or cls is Initializer:
        raise InitializerTypeError(f"plugin {key!r} registered {cls!r}, which is not an initreg.Initializer subclass; "
                                   f"register(cls) takes a class defined as `class MyInit(initreg.Initializer)`")
    if aliases is None:
        aliases = vars(cls).get("aliases", ())  # the class's own attribute: a subclass does not inherit aliases
    if isinstance(aliases, str):
        aliases = (aliases,)
    if isinstance(aliases, (bytes, dict)) or not isinstance(aliases, abc.Iterable):
        raise InitializerTypeError(f"plugin {key!r}: register({cls.__name__}, aliases={aliases!r}): aliases must be a "
                                   f"string or a list of strings, such as aliases=('glorot',)")
    names = [cls.name, *aliases]
    for n in names:
        if not isinstance(n, str) or not re.fullmatch(r"[A-Za-z_][\w.\-]*", n):
            raise InitializerTypeError(f"plugin {key!r}: {cls.__name__} has an invalid name or alias {n!r}; use letters, "
                                       f"digits, '_', '-' or '.', starting with a letter (no ':')")
    lowered = tuple(dict.fromkeys(n.lower() for n in names))
    return InitializerInfo(lowered[0], lowered[1:], cls, key, dist, version, bool(override))


