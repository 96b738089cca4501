"""The plugin module named by the ``initreg`` entry point: registers this package's initializers."""

from __future__ import annotations

from typing import Any, Callable

import pluggy

from .initializers import DeltaOrthogonal, Identity, Sparse

hookimpl = pluggy.HookimplMarker("initreg")


@hookimpl
def initreg_register_initializers(register: Callable[..., Any]) -> None:
    """Register Sparse, DeltaOrthogonal and Identity under their names and aliases."""
    register(Sparse)
    register(DeltaOrthogonal, aliases=("delta_orthogonal",))
    register(Identity, aliases=("eye", "dirac"))
