"""Plugins tried as a hostile or careless author would: hangs, exits, prints, clashes; the env switches; --check."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

import initreg
from initreg.plugins import loader, registry
from initreg.errors import PluginError, PluginWarning
from initreg.std import Normal

FIXTURES = Path(__file__).parents[1] / "fixtures"
SOURCES = (FIXTURES / "plugin_site", FIXTURES / "plugin_hard")


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    for env in (registry.STRICT_ENV, registry.DISABLE_ENV, registry.LOAD_ENV, registry.TIMEOUT_ENV):
        monkeypatch.delenv(env, raising=False)
    registry.reset()
    yield
    registry.reset()
    for mod in [m for m in sys.modules if m.startswith("initreg_fx_")]:
        del sys.modules[mod]


def make_site(tmp_path: Path, *plugins: str) -> Path:
    """A directory holding just these fixture plugins (``good`` → initreg_fx_good and its dist-info)."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    for plugin in plugins:
        found = [p for src in SOURCES for p in src.glob(f"initreg_fx_{plugin}[.-]*")]
        assert found, plugin
        for item in found:
            (shutil.copytree if item.is_dir() else shutil.copy)(item, site / item.name)
    return site


@pytest.fixture
def site(tmp_path, monkeypatch):
    """``site(*plugins)``: those fixture plugins installed in this process."""
    def install(*plugins):
        path = make_site(tmp_path, *plugins)
        monkeypatch.syspath_prepend(str(path))
        return path
    return install


def cli(site_dir: Path, *argv: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("INITREG_")}
    full.update(PYTHONPATH=str(site_dir), **(env or {}))
    return subprocess.run([sys.executable, "-m", "initreg", *argv], capture_output=True, text=True, env=full,
                          cwd=site_dir.parent, timeout=timeout)


def load():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recs = {p.name: p for p in registry.plugins()}
    return recs, [w for w in caught if issubclass(w.category, PluginWarning)]


# --- a plugin that hangs at import ----------------------------------------------------------------

def test_hanging_plugin_does_not_hang_any_command(tmp_path):
    site_dir = make_site(tmp_path, "hang", "good")
    env = {registry.TIMEOUT_ENV: "0.5"}
    start = time.monotonic()
    proc = cli(site_dir, "plugins", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    recs = {r["name"]: r for r in json.loads(proc.stdout)}
    assert recs["fxhang"]["status"] == "failed" and "still importing after 0.5 s" in recs["fxhang"]["error"]
    assert registry.TIMEOUT_ENV in recs["fxhang"]["error"]
    assert recs["fxgood"]["status"] == "active"
    proc = cli(site_dir, "show", "fxramp", env=env)
    assert proc.returncode == 0 and "fxramp:" in proc.stdout
    assert "'fxhang'" in proc.stderr and "still importing" in proc.stderr  # the warning names it
    assert time.monotonic() - start < 40  # two commands, not two hours


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_real_ctrl_c_while_a_plugin_hangs_still_interrupts(tmp_path):
    site_dir = make_site(tmp_path, "hang")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INITREG_")}
    env.update(PYTHONPATH=str(site_dir), **{registry.TIMEOUT_ENV: "0"})  # no limit: only the user can end it
    proc = subprocess.Popen([sys.executable, "-m", "initreg", "plugins"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr.readline() == "fxhang: hanging\n"  # printed at import, routed to stderr
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130 and out == ""
    assert err.strip() == "initreg plugins: interrupted; nothing partial was left behind"


def test_invalid_timeout_warns_and_uses_the_default(site, monkeypatch):
    monkeypatch.setenv(registry.TIMEOUT_ENV, "soon")
    site("good")
    recs, caught = load()
    assert recs["fxgood"].status == "active"
    assert [str(w.message) for w in caught if registry.TIMEOUT_ENV in str(w.message)][0].startswith(
        f"{registry.TIMEOUT_ENV}='soon' is not a positive number")


# --- SystemExit and KeyboardInterrupt raised by a plugin -----------------------------------------------

def test_exit_and_interrupt_raised_by_plugins_are_broken_plugins(site):
    site("exit", "kbint", "exithook", "good")
    recs, caught = load()
    assert recs["fxexit"].status == "failed" and "SystemExit(3) raised by the plugin" in recs["fxexit"].error
    assert recs["fxkbint"].status == "failed" and "KeyboardInterrupt raised by the plugin" in recs["fxkbint"].error
    assert recs["fxexithook"].status == "failed" and recs["fxexithook"].error.startswith("failed to register: SystemExit")
    assert sorted(w.message.args[0].split("'")[1] for w in caught) == ["fxexit", "fxexithook", "fxkbint"]
    assert np.array_equal(initreg.create("fxramp")((3,)), [0, 1, 2])  # everything else works
    assert registry._get().pm.get_plugin("fxexithook") is None


def test_exit_in_a_notebook_plugin_is_a_plugin_error():
    mod = types.ModuleType("nb_exit")
    mod.initreg_register_initializers = initreg.hookimpl(lambda register: sys.exit(4))
    with pytest.raises(PluginError, match=r"SystemExit\(4\) raised by the plugin"):
        initreg.register_plugin(mod)
    assert "nb_exit" not in {p.name for p in registry.plugins()}


def test_commands_survive_exiting_plugins(tmp_path):
    site_dir = make_site(tmp_path, "exit", "kbint")
    proc = cli(site_dir, "show", "normal")
    assert proc.returncode == 0 and proc.stdout.startswith("normal:")
    assert "'fxexit'" in proc.stderr and "'fxkbint'" in proc.stderr


# --- output printed by plugins -----------------------------------------------------------------------

def test_plugin_output_never_reaches_stdout(site, capsys):
    site("print")
    assert initreg.create("fxprint")((2,)).tolist() == [3.0, 3.0]
    out, err = capsys.readouterr()
    assert out == "" and "fxprint: hello from import" in err and "fxprint: registering" in err
    assert not isinstance(sys.stdout, loader.LoaderOutput)  # restored after loading


def test_json_output_stays_json_with_a_printing_plugin(tmp_path):
    site_dir = make_site(tmp_path, "print")
    for argv in (["plugins", "--json"], ["show", "fxprint"]):
        proc = cli(site_dir, *argv)
        assert proc.returncode == 0 and "fxprint:" in proc.stderr and "hello" not in proc.stdout
    (tmp_path / "spec.json").write_text('[{"name": "w", "shape": [2]}]')
    (tmp_path / "rules.toml").write_text('default = "fxprint"\n')
    proc = cli(site_dir, "explain", "rules.toml", "--params", "spec.json", "--json", "--seed", "1")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)  # nothing but the JSON document


def test_plugin_using_the_registry_while_imported(site):
    site("reentrant")
    recs, caught = load()
    assert recs["fxreentrant"].status == "active" and caught == []
    assert initreg.create("fxscaled")((2000,), seed=1).std() == pytest.approx(1.0, rel=0.1)  # 2 * N(0, 0.5)


# --- clashes, --check, the JSON record ----------------------------------------------------------------------

def test_plugins_check_flags_clashes_and_failures(tmp_path):
    site_dir = make_site(tmp_path, "clash_a", "clash_b", "good", "badimport")
    proc = cli(site_dir, "plugins")
    assert proc.returncode == 0  # without --check the listing is never an error
    rows = {line.split()[0]: line for line in proc.stdout.splitlines() if line.startswith(("fxclash", "initreg-fx"))}
    assert "fxdup (clash: also initreg-fx-clash-b)" in rows["fxclash"]
    assert "name(s) claimed by more than one distribution: fxdup" in proc.stdout
    proc = cli(site_dir, "plugins", "--check")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == ("initreg plugins --check: 1 plugin(s) failed (fxbadimport); "
                                                    "1 name clash(es) (fxdup)")
    proc = cli(site_dir, "plugins", "--check", env={registry.DISABLE_ENV: "fxbadimport"})
    assert proc.returncode == 1 and "failed" not in proc.stderr and "fxdup" in proc.stderr
    proc = cli(site_dir, "plugins", "--check", "--json", env={registry.DISABLE_ENV: "fxbadimport,initreg-fx-clash-b"})
    assert proc.returncode == 0, proc.stderr
    assert all(r["clashes"] == {} for r in json.loads(proc.stdout))


def test_json_record_has_entry_point_aliases_load_time_and_clashes(site):
    site("good", "clash_a", "clash_b")
    recs = {r["name"]: r for r in (p.as_dict() for p in registry.plugins())}
    good = recs["fxgood"]
    assert good["entry_point"] == "initreg_fx_good" and good["aliases"] == {"fxramp": ["fxline"]}
    assert isinstance(good["load_time_s"], float) and 0 < good["load_time_s"] < 30
    assert recs["fxclash"]["clashes"] == {"fxdup": ["initreg-fx-clash-b"]}
    assert recs["initreg-fx-clash-b.fxclash"]["clashes"] == {"fxdup": ["initreg-fx-clash-a"]}
    assert recs["std"]["clashes"] == {} and recs["std"]["entry_point"] == "initreg.std.plugin"
    assert set(registry.clashes()) == {"fxdup"}


def test_override_is_no_clash():
    class MyNormal(initreg.Initializer):
        name = "normal"

        def fill(self, desc, out, rng):
            out.fill(1.0)

    mod = types.ModuleType("nb_override")
    mod.initreg_register_initializers = initreg.hookimpl(lambda register: register(MyNormal, override=True))
    initreg.register_plugin(mod)
    try:
        assert registry.clashes() == {}
        assert Normal().dumps() == '["initreg:normal", {}]'  # the bare name now finds the override
        assert type(initreg.create(Normal(sigma=0.5).dumps())) is Normal
        assert MyNormal().dumps() == '["normal", {}]'
    finally:
        initreg.unregister_plugin(mod)


# --- dumps() keeps the qualifier -----------------------------------------------------------------------

def test_dumps_keeps_the_qualifier_so_files_round_trip(site):
    site("clash_a", "clash_b")
    b = initreg.create("initreg-fx-clash-b:fxdup")
    assert b.dumps() == '["initreg-fx-clash-b:fxdup", {}]'
    assert initreg.create(b.dumps())((1,))[0] == 2.0
    a = sys.modules["initreg_fx_clash_a"].FxDup()  # constructed directly: still ambiguous by its bare name
    assert json.loads(a.dumps())[0] == "initreg-fx-clash-a:fxdup"
    rules = initreg.Rules([("*.w", b), ("*.v", a)], default="normal")
    for fmt in ("toml", "json"):
        text = rules.dumps(fmt)
        assert "initreg-fx-clash-b:fxdup" in text and "initreg-fx-clash-a:fxdup" in text
        back = initreg.Rules.loads(text, fmt)
        assert back == rules and [r.init((1,))[0] for r in back] == [2.0, 1.0]
    assert Normal(sigma=0.5).dumps() == '["normal", {"sigma": 0.5}]'  # unambiguous names stay bare


def test_nested_initializers_keep_their_qualifier(site):
    site("clash_a", "clash_b")
    from initreg.std import Mixture

    mix = Mixture([(0.5, initreg.create("initreg-fx-clash-b:fxdup")), (0.5, "initreg-fx-clash-a:fxdup")])
    assert "initreg-fx-clash-b:fxdup" in mix.dumps() and "initreg-fx-clash-a:fxdup" in mix.dumps()
    back = initreg.create(mix.dumps())
    assert sorted(set(back((1000,), seed=3).tolist())) == [1.0, 2.0]
    text = initreg.Rules([("*", mix)]).dumps()
    assert initreg.Rules.loads(text)[0].init == mix


def test_qualifier_given_is_kept_even_without_a_clash(site, monkeypatch):
    monkeypatch.setenv(registry.DISABLE_ENV, "initreg-fx-clash-b")
    site("clash_a", "clash_b")
    assert initreg.create("fxdup").dumps() == '["fxdup", {}]'
    assert initreg.create("Initreg_Fx_Clash_A:FXDUP").dumps() == '["initreg-fx-clash-a:fxdup", {}]'
    assert initreg.create("std:normal").dumps() == '["initreg:normal", {}]'


# --- the allow-list and the deny-list --------------------------------------------------------------

def test_load_plugins_allow_list(site, monkeypatch):
    monkeypatch.setenv(registry.LOAD_ENV, "fxgood, initreg-fx-clash-b,nosuch")
    site("good", "clash_a", "clash_b", "badimport")
    recs, caught = load()
    assert recs["std"].status == "active"  # the standard catalog is initreg itself
    assert recs["fxgood"].status == "active" and recs["initreg-fx-clash-b.fxclash"].status == "active"
    for name in ("fxclash", "fxbadimport"):
        assert recs[name].status == "disabled" and recs[name].reason == f"not named in {registry.LOAD_ENV}"
    assert "initreg_fx_badimport" not in sys.modules and "initreg_fx_clash_a" not in sys.modules
    assert [str(w.message).split("'")[1] for w in caught] == ["nosuch"]  # a typo in the list is reported
    assert initreg.create("fxdup")((1,))[0] == 2.0  # no clash left


def test_empty_allow_list_loads_only_the_standard_catalog(site, monkeypatch):
    monkeypatch.setenv(registry.LOAD_ENV, "")
    monkeypatch.setenv(registry.DISABLE_ENV, "fxgood")
    site("good", "badimport")
    recs, caught = load()
    assert [n for n, p in recs.items() if p.status == "active"] == ["std", "torch"]  # the initreg distribution's own
    assert recs["fxgood"].reason == f"disabled by {registry.DISABLE_ENV}"  # the deny-list wins
    assert recs["fxbadimport"].reason == f"not named in {registry.LOAD_ENV}" and caught == []


# --- strict mode, the same in every command ---------------------------------------------------------

def test_strict_mode_is_one_line_in_every_command(tmp_path):
    site_dir = make_site(tmp_path, "badimport", "good")
    (tmp_path / "spec.json").write_text('[{"name": "w", "shape": [2]}]')
    (tmp_path / "rules.toml").write_text('default = "normal"\n')
    env = {registry.STRICT_ENV: "1"}
    for argv in (["show", "normal"], ["explain", "rules.toml", "--params", "spec.json"],
                 ["init", "--params", "spec.json", "--rules", "rules.toml", "-o", "out.npz"]):
        proc = cli(site_dir, *argv, env=env)
        assert proc.returncode == 2, (argv, proc.stderr)
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "'fxbadimport'" in proc.stderr and "fx: broken at import" in proc.stderr
        assert "default" not in proc.stderr  # not blamed on the rule file
    assert not (tmp_path / "out.npz").exists()
    assert cli(site_dir, "plugins", env=env).returncode == 0  # the listing is how one finds the culprit


# --- registration errors and warnings ---------------------------------------------------------------

@pytest.mark.parametrize("aliases", [42, b"xy", {"a": 1}, 1.5])
def test_register_with_bad_aliases_is_a_clear_error(aliases):
    class Extra(initreg.Initializer):
        def fill(self, desc, out, rng):
            out.fill(0.0)

    mod = types.ModuleType("nb_aliases")
    mod.initreg_register_initializers = initreg.hookimpl(lambda register: register(Extra, aliases=aliases))
    with pytest.raises(PluginError, match=r"aliases must be a string or a list of strings") as info:
        initreg.register_plugin(mod)
    assert repr(aliases) in str(info.value) and "Extra" in str(info.value)


def test_plugin_warning_points_at_the_callers_line(site):
    site("badimport")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        initreg.create("normal")  # this line loads the registry
    [w] = [w for w in caught if issubclass(w.category, PluginWarning)]
    assert w.filename == __file__ and "initreg.create" in Path(__file__).read_text().splitlines()[w.lineno - 1]
