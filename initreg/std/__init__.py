"""The standard catalog of initializers, one module per family, registered as the ``std`` plugin."""

from __future__ import annotations

from .basic import Constant, Normal, One, Uniform, Zero

__all__ = ["Constant", "Normal", "One", "Uniform", "Zero"]
