"""The Keras adapter tests: Keras on its JAX backend, CPU JAX (both read at import, so set here first)."""

from __future__ import annotations

import os
import sys

import pytest

if "keras" not in sys.modules:  # Keras picks its backend once, at import
    os.environ["KERAS_BACKEND"] = "jax"
if "jax" not in sys.modules:
    os.environ.setdefault("JAX_PLATFORMS", "cpu")

pytest.importorskip("jax")
