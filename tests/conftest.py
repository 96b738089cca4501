"""Fixtures shared by the registry tests: a clean registry and a fake site of installed plugins."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

if "keras" not in sys.modules:  # Keras picks its backend once, at import: JAX, as the adapter tests assume
    os.environ["KERAS_BACKEND"] = "jax"
if "jax" not in sys.modules:
    os.environ.setdefault("JAX_PLATFORMS", "cpu")

SITE = Path(__file__).parent / "fixtures" / "plugin_site"


def pytest_addoption(parser):
    parser.addoption("--emulated-gpu", action="store_true",
                     help="run the GPU tests (-m gpu) on tests/emulated_cupy.py: CuPy's plumbing without CUDA")


@pytest.fixture
def cupy(monkeypatch):
    """tests/emulated_cupy.py as ``cupy`` for one test (one GPU), with initreg's memory of CuPy cleared around it."""
    import emulated_cupy
    from initreg.core import device, v4_gpu

    caches = (v4_gpu._module, device._cupy_for)
    monkeypatch.setitem(sys.modules, "cupy", emulated_cupy)
    for cache in caches:
        cache.cache_clear()
    yield emulated_cupy
    for cache in caches:
        cache.cache_clear()


@pytest.fixture
def two_gpus(cupy, monkeypatch):
    """The CuPy stand-in with gpu(0) and gpu(1)."""
    monkeypatch.setattr(cupy, "DEVICES", 2)
    return cupy


def pytest_configure(config):
    if config.getoption("--emulated-gpu"):
        import emulated_cupy

        emulated_cupy.install()


@pytest.fixture
def clean_registry(monkeypatch):
    """The test starts and ends with an unloaded registry and no plugin env settings."""
    from initreg.plugins import registry

    monkeypatch.delenv(registry.STRICT_ENV, raising=False)
    monkeypatch.delenv(registry.DISABLE_ENV, raising=False)
    registry.reset()
    yield
    registry.reset()


@pytest.fixture
def fake_site(tmp_path, monkeypatch):
    """The fixture dist-info dirs and plugin modules on sys.path, as if pip had installed them."""
    site = tmp_path / "site"
    shutil.copytree(SITE, site)
    monkeypatch.syspath_prepend(str(site))
    yield site
    for mod in [m for m in sys.modules if m.startswith("initreg_fx_")]:
        del sys.modules[mod]


# Hypothesis: one fixed-seed profile everywhere (CI and local runs alike), so a failure reproduces exactly;
# HYPOTHESIS_PROFILE=explore draws fresh examples when hunting for new bugs by hand.
try:
    import os as _os

    from hypothesis import HealthCheck, settings

    settings.register_profile("initreg", derandomize=True, database=None, deadline=None, max_examples=60,
                              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    settings.register_profile("explore", parent=settings.get_profile("initreg"), derandomize=False, max_examples=1000)
    settings.load_profile(_os.environ.get("HYPOTHESIS_PROFILE", "initreg"))
except ImportError:  # pragma: no cover - hypothesis is in the test extra
    pass
