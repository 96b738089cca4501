"""Mixture: each value independently from one of several initializers, chosen with given probabilities."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ..core.device import cpu
from ..errors import InitializerArgumentError, InitializerTypeError
from ..core.initializer import Desc, Initializer, check_number
from ..plugins.specs import create
from ..core.stream import BLOCK, run_blocks
from ._common import Shard, on_host

TOLERANCE = 1e-9


class Mixture(Initializer):
    """An elementwise mixture: each value comes from component k with probability p_k.

    Formula: w[i] = x_k[i] with k ~ Categorical(p_1, …, p_K), x_k drawn by component k for the
    whole parameter (its fans and shape are the parameter's). Probabilities are positive and sum
    to 1. Selectors and each component's values come from their own child streams, block by block
    (components without ``elementwise = True``, such as Orthogonal, are drawn whole once: one
    full-size buffer each). Memory otherwise stays at a few blocks of scratch per thread.
    """

    aliases: tuple[str, ...] = ()
    elementwise = True

    def __init__(self, components: Sequence[Any]):
        if isinstance(components, (str, bytes)) or not isinstance(components, Sequence) or not components:
            raise InitializerArgumentError(f"Mixture: components must be a non-empty list of (probability, initializer) "
                                           f"pairs, got {components!r}")
        parts: list[tuple[float, Initializer]] = []
        for k, item in enumerate(components):
            if isinstance(item, (str, bytes)) or not isinstance(item, Sequence) or len(item) != 2:
                raise InitializerArgumentError(f"Mixture: component {k} must be a (probability, initializer) pair, "
                                               f"got {item!r}")
            p = check_number("Mixture", f"probability of component {k}", item[0], positive=True)
            try:
                init = create(item[1])
            except InitializerTypeError as exc:
                raise InitializerTypeError(f"Mixture: component {k}: {exc}") from None
            parts.append((p, init))
        total = math.fsum(p for p, _ in parts)
        if abs(total - 1.0) > TOLERANCE:
            raise InitializerArgumentError(f"Mixture: probabilities must sum to 1, got {' + '.join(repr(p) for p, _ in parts)}"
                                           f" = {total!r}; rescale them")
        self.components: tuple[tuple[float, Initializer], ...] = tuple(parts)
        self.deterministic = len(parts) == 1 and parts[0][1].deterministic
        self.elementwise = all(c.elementwise for _, c in parts)

    # a property, not an instance attribute: a subclass's class attribute ``regions = ...`` overrides it
    @property
    def regions(self) -> str:
        """"blocks" when every component computes block regions, else "whole"."""
        return "blocks" if all(getattr(c, "regions", "whole") == "blocks" for _, c in self.components) else "whole"

    @property
    def portable(self) -> bool:  # type: ignore[override]
        """Portable when every component is."""
        return all(c.portable for _, c in self.components)

    def tolerance(self, desc: Desc, values: Any) -> float:
        """The largest tolerance of its components (each draws the positions it is chosen for)."""
        return max(c.tolerance(desc, values) for _, c in self.components)

    # The recorded config holds the normalized components, so specs and instances compare equal.
    def explicit_config(self) -> dict[str, Any]:
        """The constructor arguments, components as (probability, initializer) pairs."""
        return {"components": [list(c) for c in self.components]}

    def config(self) -> dict[str, Any]:
        """Every constructor argument (the components)."""
        return self.explicit_config()

    def fill(self, desc: Desc, out: Any, rng: Any) -> None:
        probs = np.array([p for p, _ in self.components], dtype=np.float64)
        bounds = np.cumsum(probs / probs.sum())[:-1]  # the last component takes the rest: no gap from rounding
        comps = [c for _, c in self.components]
        streams = [rng.child(f"component{k}") for k in range(len(comps))]
        select = rng.child("select")

        host_desc = desc.replace(device=cpu(0))  # components write into host buffers here

        def work(host: np.ndarray) -> None:
            flat = host.reshape(-1)
            # components whose values depend on position are drawn whole (one full-size buffer each)
            whole = {k: _draw_whole(c, host_desc, host, streams[k]) for k, c in enumerate(comps)
                     if not c.elementwise}

            def blocks(claim: Any) -> None:
                u = np.empty(BLOCK, np.float64)
                which = np.empty(BLOCK, np.uint8 if len(comps) < 256 else np.int32)
                hit = np.empty(BLOCK, np.bool_)
                vals = np.empty(BLOCK, host.dtype)
                for b in iter(claim, -1):
                    start = b * BLOCK
                    view = flat[start:start + BLOCK]
                    n = view.size
                    select.random(out=u[:n], start=start)
                    which[:n] = 0
                    for bound in bounds:  # component index = number of bounds at or below u
                        np.greater_equal(u[:n], bound, out=hit[:n])
                        np.add(which[:n], hit[:n], out=which[:n], casting="unsafe")
                    for k, comp in enumerate(comps):
                        np.equal(which[:n], k, out=hit[:n])
                        idx = np.flatnonzero(hit[:n])  # integer scatter beats a boolean-mask scatter ~5x
                        if not idx.size:
                            continue
                        if k in whole:
                            view[idx] = whole[k][start + idx]
                        else:  # draw only as many values as the block needs, from the component's own shard
                            comp.fill(host_desc, vals[:idx.size], Shard(streams[k], start))
                            view[idx] = vals[:idx.size]
            run_blocks(-(-flat.size // BLOCK), blocks)
        on_host(desc, out, work)

    def expected(self, desc: Desc) -> Any:
        from ..core.expected import Atom, Exact, Mixture as MixtureDist

        parts = []
        for p, comp in self.components:
            dist = comp.expected(desc)
            if isinstance(dist, Exact):
                values = np.asarray(dist.values)
                flat = values.reshape(-1)
                if flat.size == 0 or not np.all(flat == flat[0]):
                    return None  # position-dependent exact values are no elementwise distribution
                dist = Atom(float(flat[0]))
            elif isinstance(dist, MixtureDist):  # a nested mixture: flatten its weights into ours
                parts.extend((p * w, d) for w, d in dist.components)
                continue
            elif dist is None or not (isinstance(dist, Atom) or hasattr(dist, "cdf")):
                return None
            parts.append((p, dist))
        return MixtureDist(tuple(parts))


def _draw_whole(comp: Initializer, desc: Desc, like: np.ndarray, stream: Any) -> np.ndarray:
    buf = np.empty(like.shape, like.dtype)
    comp.fill(desc, buf, stream)
    return buf.reshape(-1)
