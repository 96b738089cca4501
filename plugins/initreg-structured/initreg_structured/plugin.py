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


@hookimpl
def initreg_validation_configs(cls: type) -> Any:
    """Besides the defaults, validate a half-sparse Sparse, DeltaOrthogonal at scale 2 and Identity at scale 0.5."""
    return {Sparse: [{"sparsity": 0.5, "sigma": 1.0}], DeltaOrthogonal: [{"scale": 2.0}],
            Identity: [{"scale": 0.5}]}.get(cls)
