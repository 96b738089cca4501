"""Plugin loading, name lookup and create(): the registry of initializers and its broken-plugin policy."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import os
import re
import sys
import threading
import time
import warnings
from collections import abc
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from ..errors import (AmbiguousInitializerError, InitializerTypeError, PluginError, PluginWarning, did_you_mean,
                      user_stacklevel,
                     UnknownInitializerError)
from ..core.initializer import Initializer, decode

GROUP = "initreg"
STD_DIST = "initreg"
STRICT_ENV = "INITREG_STRICT_PLUGINS"
DISABLE_ENV = "INITREG_DISABLE_PLUGINS"
LOAD_ENV = "INITREG_LOAD_PLUGINS"
TIMEOUT_ENV = "INITREG_PLUGIN_TIMEOUT"
DEFAULT_TIMEOUT_S = 30.0  # generous: importing torch or jax cold can take seconds on a loaded machine
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


class _Failure(Exception):
    """A plugin could not be loaded: the stage (import, register) and what went wrong, as one line."""

    def __init__(self, stage: str, error: str):
        super().__init__(f"failed to {stage}: {error}")
        self.stage, self.error = stage, error


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code!r}) raised by the plugin"
    if isinstance(exc, KeyboardInterrupt):
        return "KeyboardInterrupt raised by the plugin itself (no Ctrl-C reached it)"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _timeout() -> float | None:
    """Seconds one plugin may take to import and register (INITREG_PLUGIN_TIMEOUT; 0 or 'none': no limit)."""
    text = os.environ.get(TIMEOUT_ENV, "").strip().lower()
    if not text:
        return DEFAULT_TIMEOUT_S
    if text in ("0", "none", "off", "inf"):
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value:
        _warn(f"{TIMEOUT_ENV}={text!r} is not a positive number of seconds (or 0 for no limit); "
              f"using {DEFAULT_TIMEOUT_S:g} s")
        return DEFAULT_TIMEOUT_S
    return value


class _LoaderOutput:
    """sys.stdout while plugins load: what a loader thread prints goes to stderr, other threads' output stays."""

    def __init__(self, real: Any):
        self.real, self.loaders = real, set()

    def _target(self) -> Any:
        return sys.stderr if threading.get_ident() in self.loaders else self.real

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def __getattr__(self, name: str) -> Any:  # isatty, encoding, buffer, fileno...: the real stream's
        return getattr(self.real, name)


_LOCAL = threading.local()  # .registry: the registry a loader thread's plugin is being loaded into


def _attempt(load: Callable[[], Any], key: str, dist: str, version: str | None, output: _LoaderOutput | None,
             registry: "_Registry", limit: float | None) -> tuple[Any, list[InitializerInfo], float]:
    """Import a plugin and run its hook on a thread of its own, bounded in time; raises _Failure.

    On that thread a plugin that hangs, calls sys.exit or raises KeyboardInterrupt is one broken plugin: the
    user's Ctrl-C is delivered to the main thread only, so it still interrupts initreg as it should.
    """
    result: dict[str, Any] = {"stage": "import"}

    def run() -> None:
        _LOCAL.registry = registry  # initreg.create() at the plugin's import sees what is loaded so far
        if output is not None:
            output.loaders.add(threading.get_ident())
        try:
            obj = load()
            result["stage"] = "register"
            result["pending"] = _collect(obj, key, dist, version)
            result["obj"] = obj
        except BaseException as exc:  # noqa: B036 - the plugin's SystemExit/KeyboardInterrupt: a broken plugin
            result["error"] = exc
        finally:
            if output is not None:
                output.loaders.discard(threading.get_ident())

    start = time.perf_counter()
    worker = threading.Thread(target=run, name=f"initreg-plugin-{key}", daemon=True)  # a hung one must not block exit
    worker.start()
    worker.join(limit)
    elapsed = time.perf_counter() - start
    if worker.is_alive():
        doing = "importing" if result["stage"] == "import" else "registering"
        raise _Failure(result["stage"], f"still {doing} after {limit:g} s (it hangs or is very slow); it was "
                                        f"skipped — raise {TIMEOUT_ENV} (seconds, 0 for no limit) if it is only slow")
    if "error" in result:
        raise _Failure(result["stage"], _describe(result["error"]))
    return result["obj"], result["pending"], elapsed


def _collect(obj: Any, key: str, dist: str, version: str | None) -> list[InitializerInfo]:
    """Run ``obj``'s hook on a private plugin manager and return the checked ``register(...)`` calls it made."""
    import pluggy

    from . import hookspecs

    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    pm.register(obj, name=key)
    pm.check_pending()  # an ``initreg_`` hook this version does not know (a typo) fails here
    pending: list[InitializerInfo] = []

    def register(cls: Any, aliases: Iterable[str] | str | None = None, *, override: bool = False) -> None:
        pending.append(_entry(cls, aliases, override, key, dist, version))

    getattr(pm.hook, _HOOK)(register=register)
    return pending


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
        blocked = _names_in(DISABLE_ENV) or set()
        allowed = _names_in(LOAD_ENV)
        limit = _timeout()
        output = _LoaderOutput(sys.stdout)
        sys.stdout = output  # what plugins print while loading must not reach stdout (``--json`` output)
        try:
            for key, dist, version, value, load in _sources():
                if key in self.plugins:
                    key = f"{dist}.{key}"
                names = {_norm(key), _norm(dist)}
                if names & blocked or (allowed is not None and _norm(dist) != STD_DIST and not names & allowed):
                    why = f"disabled by {DISABLE_ENV}" if names & blocked else f"not named in {LOAD_ENV}"
                    self.plugins[key] = PluginInfo(key, dist, version, "disabled", entry_point=value, reason=why)
                    continue
                start = time.perf_counter()
                try:
                    obj, pending, elapsed = _attempt(load, key, dist, version, output, self, limit)
                    self.commit(obj, pending, key, dist, version, value, elapsed)
                except _Failure as failure:
                    self._failed(key, dist, version, value, failure, time.perf_counter() - start, warn)
        finally:
            if sys.stdout is output:
                sys.stdout = output.real
        if allowed is not None:
            known = {n for p in self.plugins.values() for n in (_norm(p.name), _norm(p.distribution))}
            for name in sorted(allowed - known):
                _warn(f"{LOAD_ENV} names {name!r}, but no installed initreg plugin or distribution has that name; "
                      f"installed: {', '.join(sorted(p.name for p in self.plugins.values()))}")

    def _failed(self, key: str, dist: str, version: str | None, value: str | None, failure: _Failure, elapsed: float,
                warn: bool) -> None:
        self.plugins[key] = PluginInfo(key, dist, version, "failed", error=str(failure), entry_point=value,
                                       load_time_s=elapsed)
        if warn:
            _warn(f"initreg plugin {key!r} ({dist} {version}) {failure} and was skipped. Set {DISABLE_ENV}={key} "
                  f"to skip it quietly, or {STRICT_ENV}=1 to make this an error.")

    def commit(self, obj: Any, pending: list[InitializerInfo], key: str, dist: str, version: str | None,
               value: str | None = None, elapsed: float | None = None) -> PluginInfo:
        """Register ``obj`` with pluggy and keep what its hook registered; raises _Failure, keeping nothing, on a conflict."""
        try:
            self.pm.register(obj, name=key)
        except Exception as exc:  # the same object under another name, a name already taken
            raise _Failure("register", _describe(exc)) from None
        try:
            self._check(pending, dist)
        except InitializerTypeError as exc:
            self.pm.unregister(obj, name=key)
            raise _Failure("register", _describe(exc)) from None
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


def _sources() -> list[tuple[str, str, str | None, str, Callable[[], Any]]]:
    """(plugin name, distribution, version, entry point value, loader) per entry point, the standard catalog first."""
    from importlib.metadata import entry_points

    found = []
    for ep in entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist is not None else ep.module
        version = ep.dist.version if ep.dist is not None else None
        found.append((ep.name, dist, version, ep.value, ep.load))
    if not any(_norm(d) == STD_DIST and n == "std" for n, d, *_ in found):
        from ..version import __version__  # running from a source tree without installed metadata

        found.append(("std", STD_DIST, __version__, "initreg.std.plugin",
                      lambda: importlib.import_module("initreg.std.plugin")))
    return sorted(found, key=lambda s: (_norm(s[1]) != STD_DIST, _norm(s[1]), s[0]))


def _names_in(env: str) -> set[str] | None:
    """The normalized comma-separated names of an environment variable; None when it is unset."""
    text = os.environ.get(env)
    return None if text is None else {_norm(s.strip()) for s in text.split(",") if s.strip()}


def _warn(message: str) -> None:
    """A PluginWarning attributed to the first caller outside initreg (the user's line, not one of ours)."""
    warnings.warn(message, PluginWarning, stacklevel=user_stacklevel())


# --- the process-wide registry --------------------------------------------------------------------

_REGISTRY: _Registry | None = None
_LOCK = threading.RLock()


def _strict() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def _get(strict_check: bool = True) -> _Registry:
    """The loaded registry (loading it on first use); under strict mode a failed plugin raises PluginError."""
    reg = _REGISTRY
    if reg is None:
        building = getattr(_LOCAL, "registry", None)
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


def create(spec: Any, /, **kwargs: Any) -> Initializer:
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
    info = _get().resolve(name)
    obj = _construct(info.cls, {**decode(args, create), **kwargs}, name)
    if ":" in name and isinstance(obj, Initializer):  # asked for by dist:name: dumps() keeps the qualifier
        object.__setattr__(obj, "_initreg_qualified", f"{_norm(info.distribution)}:{info.name}")
    return obj


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


def _clashes(reg: _Registry) -> dict[str, list[InitializerInfo]]:
    out = {}
    for name, found in reg.by_name.items():
        if any(e.override for e in found):  # an explicit override replaces the standard one: no clash
            found = [e for e in found if _norm(e.distribution) != STD_DIST]
        if len({_norm(e.distribution) for e in found}) > 1:
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
        if _choose(found, repr(name), lambda e: "").cls is type(init):
            return name
    except AmbiguousInitializerError:
        pass
    return f"{_norm(mine[0].distribution)}:{name}"




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
            got, pending, elapsed = _attempt(lambda: obj, key, key, None, None, reg, _timeout())
            reg.commit(got, pending, key, key, None, None, elapsed)
        except _Failure as failure:
            raise PluginError(f"plugin {key!r} failed to register and was not added: {failure.error}") from None
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
