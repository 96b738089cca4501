"""Fan-in and fan-out of a weight from its shape and layout."""

from __future__ import annotations

import math
from typing import Sequence

from ..errors import ShapeError

#: letters of a per-axis layout that name spatial (receptive-field) axes
SPATIAL = "DHWLKT"


def check_layout(layout: str | None) -> str:
    """Normalize a layout: "OI..." (out, in, spatial...: PyTorch, MXNet), "...IO" (spatial..., in, out: Keras, JAX),
    or one letter per axis (O out, I in, D/H/W/L/K/T spatial), such as "IIO" for a Flax DenseGeneral kernel."""
    if layout is None:
        return "OI"
    if type(layout) is str and layout in ("OI", "IO"):
        return layout
    text = str(layout).replace(".", "").replace("…", "").upper()
    if text in ("OI", "OIHW", "OIDHW", "OIW", "OIL"):
        return "OI"
    if text in ("IO", "HWIO", "DHWIO", "WIO", "LIO"):
        return "IO"
    if text and set(text) <= set("OI" + SPATIAL) and "O" in text and "I" in text:
        spatial = text.strip("OI")
        if text.count("O") == text.count("I") == 1 and set(spatial) <= set(SPATIAL):
            if text.startswith("OI") and set(text[2:]) <= set(SPATIAL):
                return "OI"
            if text.endswith("IO") and set(text[:-2]) <= set(SPATIAL):
                return "IO"
        return text  # explicit roles per axis: fans() reads them
    raise ShapeError(f"unknown layout {layout!r}; use 'OI' (out, in, spatial...: PyTorch/MXNet), 'IO' (spatial..., "
                     f"in, out: Keras/JAX) or one letter per axis (O out, I in, {'/'.join(SPATIAL)} spatial), "
                     f"e.g. 'IIO' for a kernel with two input axes")


def fans(shape: Sequence[int], layout: str | None = None, name: str = "parameter") -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of ``shape``: in/out sizes times the receptive field."""
    layout = check_layout(layout)
    shape = tuple(map(int, shape))
    if len(shape) < 2:
        raise ShapeError(f"{name!r} has shape {shape}: fan-based initializers need at least 2 dimensions "
                         f"(out, in, ...); use Normal/Uniform/Constant for 1-D parameters such as biases")
    if layout == "OI":
        fan_out, fan_in, spatial = shape[0], shape[1], shape[2:]
    elif layout == "IO":
        fan_in, fan_out, spatial = shape[-2], shape[-1], shape[:-2]
    else:  # one role per axis: products over the in axes, the out axes and the spatial ones
        if len(layout) != len(shape):
            raise ShapeError(f"{name!r} has shape {shape} ({len(shape)} axes) but layout {layout!r} names "
                             f"{len(layout)}; give one letter per axis (O out, I in, {'/'.join(SPATIAL)} spatial)")
        fan_in = math.prod(d for d, r in zip(shape, layout) if r == "I")
        fan_out = math.prod(d for d, r in zip(shape, layout) if r == "O")
        spatial = tuple(d for d, r in zip(shape, layout) if r in SPATIAL)
    receptive = math.prod(spatial)
    return fan_in * receptive, fan_out * receptive


def try_fans(shape: Sequence[int] | None, layout: str | None = None) -> tuple[int | None, int | None]:
    """fans() or (None, None) where the shape is unknown or has fewer than 2 dimensions."""
    if shape is None or len(shape) < 2 or None in shape:
        return None, None
    return fans(shape, layout)
