"""The Keras adapter tests: skipped without Keras and JAX (the backend settings are in tests/conftest.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("jax")
pytest.importorskip("keras")
