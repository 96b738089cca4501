"""Plugin loading: entry points imported and registered one thread each, bounded in time, broken ones skipped."""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
import warnings
from typing import Any, Callable, Iterable

from ..errors import PluginWarning, user_stacklevel
from .catalog import (DISABLE_ENV, GROUP, STD_DIST, Catalog, InitializerInfo, LoadFailure, PluginInfo, describe, entry,
                      norm)

STRICT_ENV = "INITREG_STRICT_PLUGINS"
LOAD_ENV = "INITREG_LOAD_PLUGINS"
TIMEOUT_ENV = "INITREG_PLUGIN_TIMEOUT"
DEFAULT_TIMEOUT_S = 30.0  # generous: importing torch or jax cold can take seconds on a loaded machine
HOOK = "initreg_register_initializers"


def timeout() -> float | None:
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
        warn(f"{TIMEOUT_ENV}={text!r} is not a positive number of seconds (or 0 for no limit); "
              f"using {DEFAULT_TIMEOUT_S:g} s")
        return DEFAULT_TIMEOUT_S
    return value


class LoaderOutput:
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


LOCAL = threading.local()  # .registry: the registry a loader thread's plugin is being loaded into


def attempt(load: Callable[[], Any], key: str, dist: str, version: str | None, output: LoaderOutput | None,
             registry: Catalog, limit: float | None) -> tuple[Any, list[InitializerInfo], float]:
    """Import a plugin and run its hook on a thread of its own, bounded in time; raises LoadFailure.

    On that thread a plugin that hangs, calls sys.exit or raises KeyboardInterrupt is one broken plugin: the
    user's Ctrl-C is delivered to the main thread only, so it still interrupts initreg as it should.
    """
    result: dict[str, Any] = {"stage": "import"}

    def run() -> None:
        LOCAL.registry = registry  # initreg.create() at the plugin's import sees what is loaded so far
        if output is not None:
            output.loaders.add(threading.get_ident())
        try:
            obj = load()
            result["stage"] = "register"
            result["pending"] = collect(obj, key, dist, version)
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
        raise LoadFailure(result["stage"], f"still {doing} after {limit:g} s (it hangs or is very slow); it was "
                                        f"skipped — raise {TIMEOUT_ENV} (seconds, 0 for no limit) if it is only slow")
    if "error" in result:
        raise LoadFailure(result["stage"], describe(result["error"]))
    return result["obj"], result["pending"], elapsed


def collect(obj: Any, key: str, dist: str, version: str | None) -> list[InitializerInfo]:
    """Run ``obj``'s hook on a private plugin manager and return the checked ``register(...)`` calls it made."""
    import pluggy

    from . import hookspecs

    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    pm.register(obj, name=key)
    pm.check_pending()  # an ``initreg_`` hook this version does not know (a typo) fails here
    pending: list[InitializerInfo] = []

    def register(cls: Any, aliases: Iterable[str] | str | None = None, *, override: bool = False) -> None:
        pending.append(entry(cls, aliases, override, key, dist, version))

    getattr(pm.hook, HOOK)(register=register)
    return pending


def load_entry_points(catalog: Catalog, warn_failures: bool) -> None:
    """Import and register every plugin of the entry-point group, skipping disabled and broken ones."""
    blocked = names_in(DISABLE_ENV) or set()
    allowed = names_in(LOAD_ENV)
    limit = timeout()
    output = LoaderOutput(sys.stdout)
    sys.stdout = output  # what plugins print while loading must not reach stdout (``--json`` output)
    try:
        for key, dist, version, value, load in sources():
            if key in catalog.plugins:
                key = f"{dist}.{key}"
            names = {norm(key), norm(dist)}
            if names & blocked or (allowed is not None and norm(dist) != STD_DIST and not names & allowed):
                why = f"disabled by {DISABLE_ENV}" if names & blocked else f"not named in {LOAD_ENV}"
                catalog.plugins[key] = PluginInfo(key, dist, version, "disabled", entry_point=value, reason=why)
                continue
            start = time.perf_counter()
            try:
                obj, pending, elapsed = attempt(load, key, dist, version, output, catalog, limit)
                catalog.commit(obj, pending, key, dist, version, value, elapsed)
            except LoadFailure as failure:
                catalog.failed(key, dist, version, value, failure, time.perf_counter() - start)
                if warn_failures:
                    warn(f"initreg plugin {key!r} ({dist} {version}) {failure} and was skipped. Set "
                         f"{DISABLE_ENV}={key} to skip it quietly, or {STRICT_ENV}=1 to make this an error.")
    finally:
        if sys.stdout is output:
            sys.stdout = output.real
    if allowed is not None:
        known = {n for p in catalog.plugins.values() for n in (norm(p.name), norm(p.distribution))}
        for name in sorted(allowed - known):
            warn(f"{LOAD_ENV} names {name!r}, but no installed initreg plugin or distribution has that name; "
                  f"installed: {', '.join(sorted(p.name for p in catalog.plugins.values()))}")



def sources() -> list[tuple[str, str, str | None, str, Callable[[], Any]]]:
    """(plugin name, distribution, version, entry point value, loader) per entry point, the standard catalog first."""
    from importlib.metadata import entry_points

    found = []
    for ep in entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist is not None else ep.module
        version = ep.dist.version if ep.dist is not None else None
        found.append((ep.name, dist, version, ep.value, ep.load))
    if not any(norm(d) == STD_DIST and n == "std" for n, d, *_ in found):
        from ..version import __version__  # running from a source tree without installed metadata

        found.append(("std", STD_DIST, __version__, "initreg.std.plugin",
                      lambda: importlib.import_module("initreg.std.plugin")))
    return sorted(found, key=lambda s: (norm(s[1]) != STD_DIST, norm(s[1]), s[0]))


def names_in(env: str) -> set[str] | None:
    """The normalized comma-separated names of an environment variable; None when it is unset."""
    text = os.environ.get(env)
    return None if text is None else {norm(s.strip()) for s in text.split(",") if s.strip()}


def warn(message: str) -> None:
    """A PluginWarning attributed to the first caller outside initreg (the user's line, not one of ours)."""
    warnings.warn(message, PluginWarning, stacklevel=user_stacklevel())
