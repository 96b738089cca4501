"""The JAX and Flax adapter tests: skipped without JAX (the backend settings are in tests/conftest.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("jax")
