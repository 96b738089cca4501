"""register_plugin refuses what is no plugin and names that are no str (audit finding 11)."""

from __future__ import annotations

import types

import pytest

import initreg


@pytest.mark.parametrize("obj", [None, 5, "abc", types.ModuleType("empty_plugin")])
def test_an_object_without_hookimpls_is_refused(obj):
    before = {p.name for p in initreg.plugins.registry.plugins()}
    with pytest.raises(initreg.PluginTypeError, match="has no @initreg.hookimpl function") as info:
        initreg.register_plugin(obj)
    assert isinstance(info.value, TypeError) and isinstance(info.value, initreg.InitregError)
    assert {p.name for p in initreg.plugins.registry.plugins()} == before


def test_an_unmarked_hook_warns_and_a_bad_name_is_refused():
    mod = types.ModuleType("unmarked_plugin")
    mod.initreg_register_initializers = lambda register: None
    with pytest.warns(initreg.PluginWarning, match="not marked @initreg.hookimpl"):
        with pytest.raises(initreg.PluginTypeError):
            initreg.register_plugin(mod)
    marked = types.ModuleType("marked_plugin")
    marked.initreg_register_initializers = initreg.hookimpl(lambda register: None)
    for bad in (5, "", "  "):
        with pytest.raises(initreg.PluginTypeError, match="name must be a non-empty str"):
            initreg.register_plugin(marked, name=bad)
    assert initreg.register_plugin(marked) == "marked_plugin"
    initreg.unregister_plugin("marked_plugin")
