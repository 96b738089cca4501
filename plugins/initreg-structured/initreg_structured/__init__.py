"""Structured initializers for initreg: Sparse, DeltaOrthogonal and Identity."""

from __future__ import annotations

from .initializers import DeltaOrthogonal, Identity, Sparse

__all__ = ["DeltaOrthogonal", "Identity", "Sparse"]
__version__ = "0.1.0"
