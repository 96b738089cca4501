"""The registry: discovery through entry points (fake dist-info dirs on sys.path), lookup, create(), policies."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

import initreg
from initreg.plugins import registry
from initreg.errors import (AmbiguousInitializerError, InitializerArgumentError, InitializerTypeError, InitregError,
                            PluginError, PluginWarning, UnknownInitializerError)
from initreg.std import Constant, Normal, One, Uniform, Zero

SITE = Path(__file__).parents[1] / "fixtures" / "plugin_site"
FAILED = {"fxbadimport", "fxnotinit", "fxbadhook"}


pytestmark = pytest.mark.usefixtures("clean_registry")


def load_quietly():
    """Load the registry, returning the PluginWarnings it emitted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        registry.plugins()
    return [w for w in caught if issubclass(w.category, PluginWarning)]


def make_plugin(name, *classes, override=False, aliases=None):
    """A notebook-style plugin module registering ``classes``."""
    mod = types.ModuleType(name)

    @initreg.hookimpl
    def initreg_register_initializers(register):
        for cls in classes:
            register(cls, aliases=aliases, override=override)

    mod.initreg_register_initializers = initreg_register_initializers
    return mod


# --- laziness ------------------------------------------------------------------------------------

def test_import_initreg_loads_no_plugin_machinery():
    code = ("import json, sys, initreg\n"
            "watch = ['pluggy', 'scipy', 'initreg.std', 'initreg.std.plugin', 'initreg.plugins.registry', 'initreg.plugins.hookspecs']\n"
            "before = [m for m in watch if m in sys.modules]\n"
            "initreg.create('normal')\n"
            "print(json.dumps([before, [m for m in watch if m in sys.modules]]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    before, after = json.loads(out)
    assert before == []
    assert {"pluggy", "initreg.std.plugin", "initreg.plugins.registry", "initreg.plugins.hookspecs"} <= set(after)


def test_the_torch_plugin_loads_its_initializers_not_the_adapter():
    code = ("import json, sys, initreg\n"
            "initreg.create('padded_normal')\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('initreg.torch'))))\n"
            "import initreg.torch\n"
            "initreg.torch.initialize\n"
            "print(json.dumps('initreg.torch.filling' in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert json.loads(out[0]) == ["initreg.torch", "initreg.torch.defaults", "initreg.torch.plugin"]
    assert json.loads(out[1]) is True  # the adapter's names still load on first use


def test_loading_is_cached(fake_site):
    load_quietly()
    first = registry._get(strict_check=False)
    registry.available()
    initreg.create("normal")
    assert registry._get(strict_check=False) is first
    assert sys.modules["initreg_fx_good"] is first.plugins["fxgood"].obj


# --- create() ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("x", [Zero(), One(), Constant(2.5), Constant(np.array([1.0, -2.0, 0.5, 4.0], dtype="float32")), Uniform(),
                               Uniform(0.2), Uniform(low=-1, high=3), Normal(), Normal(sigma=0.5, mean=1.0)],
                         ids=repr)
def test_dumps_round_trip(x):
    y = initreg.create(x.dumps())
    assert type(y) is type(x) and y == x
    assert np.array_equal(y((3, 4), seed=1), x((3, 4), seed=1))


def test_round_trip_is_not_vacuous():
    assert initreg.create(Normal(sigma=0.5).dumps()) != Normal(sigma=0.6)
    assert initreg.create(Uniform(low=-1, high=3).dumps()) != Uniform(low=-1, high=2)


def test_spec_forms():
    expected = Normal(sigma=2.0, mean=1.0)
    assert initreg.create("normal", sigma=2.0, mean=1.0) == expected
    assert initreg.create("  NoRmAl ", sigma=2.0, mean=1.0) == expected
    assert initreg.create({"name": "Normal", "sigma": 2.0, "mean": 1.0}) == expected
    assert initreg.create(["normal", {"sigma": 2.0, "mean": 1.0}]) == expected
    assert initreg.create(("normal", {"sigma": 2.0}), mean=1.0) == expected
    assert initreg.create('{"name": "normal", "sigma": 2.0, "mean": 1.0}') == expected
    assert initreg.create('["normal", {"sigma": 9.0}]', sigma=2.0, mean=1.0) == expected  # keyword arguments win
    assert initreg.create(Normal, sigma=2.0, mean=1.0) == expected
    assert initreg.create(["zero"]) == Zero()
    assert initreg.create(expected) is expected


@pytest.mark.parametrize("bad", [3, None, ["normal", 0.5], {"sigma": 1}, ("a", {}, {}), '["normal", {"sigma": 0.5]'])
def test_spec_that_is_no_initializer(bad):
    with pytest.raises(InitializerTypeError, match="initializer"):
        initreg.create(bad)


def test_instance_with_kwargs_is_rejected():
    with pytest.raises(InitializerTypeError, match="create\\('normal'"):
        initreg.create(Normal(), sigma=1.0)


def test_aliases_and_case():
    assert type(initreg.create("zeros")) is Zero and type(initreg.create("ZERO")) is Zero
    assert type(initreg.create("Ones")) is One
    names = {e.name for e in registry.available()}
    if "xavier" in names:  # the scaling family of the catalog
        for alias, name in [("glorot", "xavier"), ("he", "msraprelu"), ("kaiming", "msraprelu")]:
            assert initreg.create(alias).name == name


def test_unknown_name_lists_close_matches():
    with pytest.raises(UnknownInitializerError) as err:
        initreg.create("normel")
    assert isinstance(err.value, KeyError) and isinstance(err.value, InitregError)
    assert "'normel'" in str(err.value) and "did you mean 'normal'" in str(err.value)
    with pytest.raises(UnknownInitializerError, match="'qqqq'") as err:
        initreg.create("qqqq")
    assert "did you mean" not in str(err.value)


def test_bad_kwargs_name_the_accepted_ones():
    with pytest.raises(TypeError) as err:
        initreg.create("normal", sgima=0.1)
    assert isinstance(err.value, InitregError)
    msg = str(err.value)
    assert "sgima" in msg and "accepts sigma, mean" in msg and "did you mean 'sigma'" in msg
    with pytest.raises(TypeError, match="accepts no arguments"):
        initreg.create("zero", value=1)
    with pytest.raises(InitializerArgumentError, match="sigma"):  # a bad value is the constructor's error, unchanged
        initreg.create("normal", sigma=-1.0)


# --- records and init ---------------------------------------------------------------------------------

def test_available_records():
    recs = {e.name: e for e in registry.available()}
    assert recs["normal"].cls is Normal and recs["normal"].plugin == "std"
    assert recs["normal"].distribution == "initreg"
    assert recs["normal"].version == importlib.metadata.version("initreg")
    assert "zeros" in recs["zero"].aliases
    assert recs["normal"].as_dict()["class"] == "initreg.std.basic.Normal"
    std = {e.cls.__name__ for e in recs.values() if e.distribution == "initreg" and e.plugin == "std"}
    assert std == {n for n in initreg.std.__all__ if isinstance(getattr(initreg.std, n), type)
                   and issubclass(getattr(initreg.std, n), initreg.Initializer)}
    from initreg.torch.defaults import INITIALIZERS  # the package's second plugin: PyTorch's declared defaults

    assert {e.cls for e in recs.values() if e.plugin == "torch"} == set(INITIALIZERS)
    assert {e.plugin for e in recs.values() if e.distribution == "initreg"} == {"std", "torch"}


def test_init_namespace():
    from initreg import init

    assert init.Normal is initreg.std.Normal and init.Zero is initreg.std.Zero
    assert init.Initializer is initreg.Initializer
    assert {"Normal", "Uniform", "Initializer"} <= set(dir(init))
    assert not hasattr(init, "Normel")
    with pytest.raises(AttributeError, match="did you mean 'Normal'"):
        init.Normel


def test_plugin_of():
    assert registry.plugin_of(Normal()) == "initreg"

    class Local(initreg.Initializer):
        def fill(self, desc, out, rng):
            out.fill(0)

    assert registry.plugin_of(Local()) == __name__


# --- discovery through entry points ---------------------------------------------------------------------

def test_discovery_statuses_and_warnings(fake_site):
    caught = load_quietly()
    recs = {p.name: p for p in registry.plugins()}
    assert recs["std"].status == "active" and recs["std"].distribution == "initreg"
    assert recs["fxgood"].status == "active" and recs["fxgood"].initializers == ("fxramp",)
    assert (recs["fxgood"].distribution, recs["fxgood"].version) == ("initreg-fx-good", "1.0")
    assert {k for k, p in recs.items() if p.status == "failed"} == FAILED
    assert "RuntimeError: fx: broken at import" in recs["fxbadimport"].error
    assert "failed to import" in recs["fxbadimport"].error
    assert "not an initreg.Initializer subclass" in recs["fxnotinit"].error
    assert "registrar" in recs["fxbadhook"].error  # pluggy names the argument the spec lacks
    for name in FAILED:
        assert recs[name].initializers == ()
    # one warning per failed plugin, naming it
    assert sorted(n for n in FAILED for w in caught if repr(n) in str(w.message)) == sorted(FAILED)
    assert len(caught) == len(FAILED)


def test_failed_plugins_are_fully_unregistered(fake_site):
    load_quietly()
    reg = registry._get(strict_check=False)
    registered = reg.pm.get_plugins()
    for name in FAILED:
        assert reg.pm.get_plugin(name) is None
    assert sys.modules["initreg_fx_notinit"] not in registered  # imported, hook ran halfway, then dropped
    assert sys.modules["initreg_fx_badhook"] not in registered
    # FxHalf was registered before the bad call: nothing of that plugin may stay
    with pytest.raises(UnknownInitializerError, match="fxnotinit"):
        initreg.create("fxhalf")
    assert not [e for e in registry.available() if e.distribution.startswith(("initreg-fx-notinit", "initreg-fx-bad"))]
    from initreg import init

    assert not hasattr(init, "FxHalf")
    # a later hook call reaches only the plugins that registered successfully
    calls = []
    reg.pm.hook.initreg_register_initializers(register=lambda cls, **kw: calls.append(cls.__module__))
    assert {m for m in calls if m.startswith("initreg_fx_")} == {
        "initreg_fx_good", "initreg_fx_clash_a", "initreg_fx_clash_b", "initreg_fx_disabled"}


def test_everything_else_works(fake_site):
    load_quietly()
    ramp = initreg.create("fxramp", step=2.0)
    assert np.array_equal(ramp((2, 3)), [[0, 2, 4], [6, 8, 10]])
    assert type(initreg.create("FXLINE")) is type(ramp)
    from initreg import init

    assert init.FxRamp is sys.modules["initreg_fx_good"].FxRamp
    assert registry.plugin_of(ramp) == "initreg-fx-good"
    assert initreg.create(ramp.dumps()) == ramp
    assert initreg.create("normal") == Normal()


def test_clash_names_both_distributions(fake_site):
    load_quietly()
    with pytest.raises(AmbiguousInitializerError) as err:
        initreg.create("fxdup")
    msg = str(err.value)
    assert "initreg-fx-clash-a" in msg and "initreg-fx-clash-b" in msg
    assert "'initreg-fx-clash-a:fxdup'" in msg and "'initreg-fx-clash-b:fxdup'" in msg
    from initreg import init

    with pytest.raises(AmbiguousInitializerError, match="initreg-fx-clash-b"):
        init.FxDup


def test_qualified_name_resolves(fake_site):
    load_quietly()
    b = initreg.create("initreg-fx-clash-b:fxdup")
    a = initreg.create("Initreg_Fx_Clash_A:FXDUP")  # distribution names compare normalized
    assert np.all(b((2, 2)) == 2.0) and np.all(a((2, 2)) == 1.0)
    assert initreg.create("initreg:normal") == Normal() and initreg.create("std:normal") == Normal()
    with pytest.raises(UnknownInitializerError, match="provided by: initreg-fx-clash-a, initreg-fx-clash-b"):
        initreg.create("nosuchdist:fxdup")


def test_strict_mode_raises(fake_site, monkeypatch):
    monkeypatch.setenv(registry.STRICT_ENV, "1")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginWarning)  # strict mode raises instead of warning
        with pytest.raises(PluginError) as err:
            initreg.create("normal")
    assert isinstance(err.value, RuntimeError)
    for name in FAILED:
        assert repr(name) in str(err.value)
    assert {p.name for p in registry.plugins() if p.status == "failed"} == FAILED  # the listing still works
    monkeypatch.setenv(registry.STRICT_ENV, "0")
    assert initreg.create("normal") == Normal()


def test_disable_blocks_before_import(fake_site, monkeypatch):
    monkeypatch.setenv(registry.DISABLE_ENV, "fxdisabled, initreg-fx-badimport,INITREG_FX_NOTINIT")
    caught = load_quietly()
    assert len(caught) == 1 and "'fxbadhook'" in str(caught[0].message)  # only the one left broken warns
    recs = {p.name: p for p in registry.plugins()}
    for name in ("fxdisabled", "fxbadimport", "fxnotinit"):
        assert recs[name].status == "disabled" and recs[name].error is None
    assert "initreg_fx_disabled" not in sys.modules and "initreg_fx_badimport" not in sys.modules
    assert "initreg_fx_notinit" not in sys.modules
    with pytest.raises(UnknownInitializerError, match="'fxdisabled'.*disabled"):
        initreg.create("fxblocked")


def test_without_the_site_nothing_is_left(fake_site, monkeypatch):
    load_quietly()
    assert initreg.create("fxramp")
    sys.path.remove(str(fake_site))
    importlib.invalidate_caches()
    registry.reset()
    with pytest.raises(UnknownInitializerError):
        initreg.create("fxramp")
    assert not [p for p in registry.plugins() if p.distribution.startswith("initreg-fx-")]
    assert registry.plugins()[0].name == "std"


# --- register_plugin / override / notebook plugins --------------------------------------------------------

class MyNormal(initreg.Initializer):
    """A replacement for the standard normal."""

    name = "normal"

    def __init__(self, sigma: float = 1.0):
        self.sigma = sigma

    def fill(self, desc, out, rng):
        out.fill(self.sigma)


class Extra(initreg.Initializer):
    """A second class in the same plugin."""

    def fill(self, desc, out, rng):
        out.fill(3.0)


def test_replacing_a_standard_initializer_needs_override():
    with pytest.raises(PluginError, match="standard initializer.*override=True"):
        initreg.register_plugin(make_plugin("nb_plain", Extra, MyNormal))
    assert type(initreg.create("normal")) is Normal
    with pytest.raises(UnknownInitializerError):  # registered before the failing class: not kept either
        initreg.create("extra")
    assert "nb_plain" not in {p.name for p in registry.plugins()}
    assert registry._get().pm.get_plugin("nb_plain") is None

    mod = make_plugin("nb_override", MyNormal, override=True)
    assert initreg.register_plugin(mod) == "nb_override"
    assert type(initreg.create("normal", sigma=2.0)) is MyNormal
    assert type(initreg.create("initreg:normal")) is Normal
    from initreg import init

    assert init.MyNormal is MyNormal and init.Normal is Normal
    initreg.unregister_plugin(mod)
    assert type(initreg.create("normal")) is Normal


def test_register_and_unregister_by_name():
    key = initreg.register_plugin(make_plugin("nb_x", Extra, aliases=("more",)), name="notebook")
    assert key == "notebook" and type(initreg.create("MORE")) is Extra
    rec = [e for e in registry.available() if e.name == "extra"][0]
    assert (rec.plugin, rec.distribution, rec.version, rec.aliases) == ("notebook", "notebook", None, ("more",))
    with pytest.raises(PluginError, match="already registered"):
        initreg.register_plugin(make_plugin("nb_y", Zero), name="notebook")
    initreg.unregister_plugin("notebook")
    with pytest.raises(UnknownInitializerError):
        initreg.create("extra")
    with pytest.raises(PluginError, match="no plugin 'notebook'"):
        initreg.unregister_plugin("notebook")


def test_one_object_under_two_names_keeps_the_first():
    mod = make_plugin("nb_twice", Extra)
    initreg.register_plugin(mod, name="first")
    with pytest.raises(PluginError, match="already registered under a different name"):
        initreg.register_plugin(mod, name="second")
    assert registry._get().pm.get_name(mod) == "first"
    assert [e.plugin for e in registry.available() if e.name == "extra"] == ["first"]
    assert type(initreg.create("extra")) is Extra


def test_aliases_default_to_the_class_own_attribute():
    class Base(initreg.Initializer):
        aliases = ("basealias",)

        def fill(self, desc, out, rng):
            out.fill(1.0)

    class Child(Base):
        pass

    initreg.register_plugin(make_plugin("nb_al", Base, Child))
    assert type(initreg.create("BaseAlias")) is Base
    assert [e.aliases for e in registry.available() if e.name == "child"] == [()]


def test_two_notebook_plugins_claiming_one_name():
    initreg.register_plugin(make_plugin("nb_a", Extra))
    initreg.register_plugin(make_plugin("nb_b", type("Extra", (initreg.Initializer,), {"fill": None})))
    with pytest.raises(AmbiguousInitializerError, match="'nb_a:extra' or 'nb_b:extra'"):
        initreg.create("extra")
    assert type(initreg.create("nb_a:extra")) is Extra


@pytest.mark.parametrize("register_call, match", [
    (lambda r: r(42), "42, which is not an initreg.Initializer subclass"),
    (lambda r: r(Normal()), "not an initreg.Initializer subclass"),
    (lambda r: r(initreg.Initializer), "not an initreg.Initializer subclass"),
    (lambda r: r(Extra, aliases=("bad name",)), "invalid name or alias 'bad name'"),
    (lambda r: r(Extra, aliases=("a:b",)), "invalid name or alias"),
    (lambda r: (r(Extra), r(Extra)), "registered twice"),
    (lambda r: r(Extra, aliases=("zeros",)), "standard initializer name"),
])
def test_bad_registrations(register_call, match):
    mod = types.ModuleType("nb_bad")
    mod.initreg_register_initializers = initreg.hookimpl(lambda register: register_call(register))
    with pytest.raises(PluginError, match=match):
        initreg.register_plugin(mod)
    assert "nb_bad" not in {p.name for p in registry.plugins()}
    with pytest.raises(UnknownInitializerError):
        initreg.create("extra")


def test_hook_name_typo_is_a_failure():
    mod = types.ModuleType("nb_typo")
    mod.initreg_register_initialisers = initreg.hookimpl(lambda register: None)
    with pytest.raises(PluginError, match="initreg_register_initialisers"):
        initreg.register_plugin(mod)
    assert registry._get().pm.get_plugin("nb_typo") is None


# --- the real plugin distribution (installed by CI) ----------------------------------------------------

def test_installed_structured_plugin():
    try:
        dist = importlib.metadata.distribution("initreg-structured")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("initreg-structured is not installed (pip install ./plugins/initreg-structured)")
    recs = {p.distribution: p for p in registry.plugins()}
    assert recs["initreg-structured"].status == "active" and recs["initreg-structured"].version == dist.version
    sparse = initreg.create("sparse", sparsity=0.9)
    assert registry.plugin_of(sparse) == "initreg-structured"
    w = sparse((200, 50), seed=3)
    # 10000 values, 90% zeros: a binomial count has sd 30 (0.3%), so a 2% band cannot fail by chance
    assert abs(np.mean(w == 0) - 0.9) < 0.02
    assert initreg.create(sparse.dumps()) == sparse
    out = subprocess.run([sys.executable, "-m", "initreg", "plugins", "--json"], capture_output=True, text=True,
                         check=True).stdout
    assert "sparse" in {n for r in json.loads(out) if r["distribution"] == "initreg-structured"
                        for n in r["initializers"]}


DUMPS_CHILD = """
import json, sys, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, {site!r})
if sys.argv[1] == "registry-first":
    import initreg.plugins.registry
import initreg_fx_clash_a
print(initreg_fx_clash_a.{cls}().dumps())
"""


@pytest.mark.parametrize("order", ["registry-first", "class-first"])
def test_dumps_is_the_same_text_whatever_was_imported_first(order):
    source = (SITE / "initreg_fx_clash_a.py").read_text()
    cls = next(line.split()[1].split("(")[0] for line in source.splitlines() if line.startswith("class "))
    code = DUMPS_CHILD.format(site=str(SITE), cls=cls)
    proc = subprocess.run([sys.executable, "-c", code, order], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == ["initreg-fx-clash-a:fxdup", {}]
