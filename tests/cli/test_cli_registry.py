"""``initreg plugins`` and ``initreg show``: in process and as the real command, with broken plugins around."""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from initreg.plugins import registry
from initreg.errors import PluginWarning
from initreg.cli import main
from initreg.std import Normal

SITE = Path(__file__).parents[1] / "fixtures" / "plugin_site"


pytestmark = pytest.mark.usefixtures("clean_registry")


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_plugins_json_lists_every_status(fake_site, capsys, monkeypatch):
    monkeypatch.setenv(registry.DISABLE_ENV, "fxdisabled")
    code, out, err = run_cli(capsys, "plugins", "--json")
    assert code == 0 and err == ""  # failures are in the listing, not warnings on stderr
    recs = {r["name"]: r for r in json.loads(out)}
    assert set(recs["std"]) == {"name", "distribution", "version", "status", "initializers", "error", "entry_point",
                                "load_time_s", "aliases", "clashes", "reason"}
    assert (recs["std"]["distribution"], recs["std"]["status"]) == ("initreg", "active")
    assert {"normal", "uniform", "zero", "one", "constant"} <= set(recs["std"]["initializers"])
    good = dict(recs["fxgood"])
    assert 0 < good.pop("load_time_s") < 30
    assert good == {"name": "fxgood", "distribution": "initreg-fx-good", "version": "1.0", "status": "active",
                    "initializers": ["fxramp"], "error": None, "entry_point": "initreg_fx_good",
                    "aliases": {"fxramp": ["fxline"]}, "clashes": {}, "reason": None}
    assert recs["fxclash"]["clashes"] == {"fxdup": ["initreg-fx-clash-b"]}
    assert recs["fxdisabled"]["status"] == "disabled" and "initreg_fx_disabled" not in sys.modules
    assert recs["fxdisabled"]["reason"] == "disabled by INITREG_DISABLE_PLUGINS"
    for name, text in [("fxbadimport", "RuntimeError: fx: broken at import"),
                       ("fxnotinit", "not an initreg.Initializer subclass"), ("fxbadhook", "registrar")]:
        assert recs[name]["status"] == "failed" and text in recs[name]["error"] and recs[name]["initializers"] == []


def test_plugins_table(fake_site, capsys):
    code, out, _ = run_cli(capsys, "plugins")
    assert code == 0
    lines = {line.split()[0]: line.split() for line in out.splitlines()[1:] if line}
    assert lines["fxgood"][1:4] == ["initreg-fx-good", "1.0", "active"] and lines["fxgood"][6:] == ["fxramp"]
    assert lines["fxgood"][4].isdigit() and lines["fxgood"][5] == "ms"  # the load time
    assert lines["fxbadimport"][3] == "failed" and lines["fxbadimport"][6:8] == ["failed", "to"]
    assert "broken at import" in out
    assert out.splitlines()[0].split() == ["PLUGIN", "DISTRIBUTION", "VERSION", "STATUS", "LOAD", "INITIALIZERS", "/",
                                           "ERROR"]


def test_real_command_survives_broken_plugins_even_in_strict_mode(fake_site):
    env = dict(os.environ, PYTHONPATH=str(fake_site), INITREG_STRICT_PLUGINS="1")
    proc = subprocess.run([sys.executable, "-m", "initreg", "plugins", "--json"], capture_output=True, text=True,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    statuses = {r["name"]: r["status"] for r in json.loads(proc.stdout)}
    assert statuses["fxgood"] == "active" and statuses["fxbadimport"] == "failed"


def test_show_normal(capsys):
    code, out, _ = run_cli(capsys, "show", "normal")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "normal: " + inspect.getdoc(Normal).split("Formula")[0].strip()
    sig = inspect.signature(Normal).parameters
    assert f"  sigma: float = {sig['sigma'].default!r}" in lines and sig["sigma"].default == 0.01
    assert f"  mean: float = {sig['mean'].default!r}" in lines
    assert "  class:   initreg.std.basic.Normal" in lines
    assert f"  plugin:  std (distribution initreg {importlib.metadata.version('initreg')})" in lines
    assert lines[lines.index("formula:") + 1].strip().startswith("w[i] ~ N(mean, sigma")


def test_show_by_alias_and_third_party(fake_site, capsys):
    with warnings.catch_warnings(record=True) as caught:  # show warns about broken plugins; `plugins` lists them
        warnings.simplefilter("always")
        code, out, _ = run_cli(capsys, "show", "FXLINE")
    assert sorted(str(w.message).split("'")[1] for w in caught if w.category is PluginWarning) == [
        "fxbadhook", "fxbadimport", "fxnotinit"]
    assert code == 0
    assert out.splitlines()[0] == "fxramp: Values step * k for the k-th element in C order."
    assert "  aliases: fxline" in out and "  step: float = 1.0" in out
    assert "  plugin:  fxgood (distribution initreg-fx-good 1.0)" in out
    assert "formula:\n  w.flat[k] = step * k" in out


def test_show_unknown_and_ambiguous(fake_site, capsys, monkeypatch):
    monkeypatch.setenv(registry.DISABLE_ENV, "fxbadimport,fxbadhook,fxnotinit")
    code, out, err = run_cli(capsys, "show", "normel")
    assert code == 2 and out == "" and "did you mean 'normal'" in err
    code, out, err = run_cli(capsys, "show", "fxdup")
    assert code == 2 and "initreg-fx-clash-a:fxdup" in err and "initreg-fx-clash-b:fxdup" in err
    code, out, _ = run_cli(capsys, "show", "initreg-fx-clash-b:fxdup")
    assert code == 0 and "Every value is 2.0." in out


def test_structured_plugin_is_listed():
    try:
        importlib.metadata.distribution("initreg-structured")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("initreg-structured is not installed (pip install ./plugins/initreg-structured)")
    proc = subprocess.run([sys.executable, "-m", "initreg", "plugins"], capture_output=True, text=True, check=True)
    row = [line.split() for line in proc.stdout.splitlines() if "initreg-structured" in line]
    assert len(row) == 1 and row[0][3] == "active"
    assert "sparse" in [t.strip(",") for t in row[0][4:]]


def test_strict_mode_reports_a_broken_plugin_on_one_line(fake_site):
    # plugins.md: one line per broken plugin; pluggy's validation message spans lines of its own
    env = dict(os.environ, PYTHONPATH=str(fake_site), INITREG_STRICT_PLUGINS="1")
    proc = subprocess.run([sys.executable, "-m", "initreg", "show", "normal"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
