"""Fan-in and fan-out of a weight from its shape and layout."""

from __future__ import annotations

from typing import Sequence

from ..errors import ShapeError


def check_layout(layout: str | None) -> str:
    """Normalize a layout: "OI..." (out, in, spatial...: PyTorch, MXNet) or "...IO" (spatial..., in, out: Keras, JAX)."""
    if layout is None:
        return "OI"
    if type(layout) is str and layout in ("OI", "IO"):
        return layout
    text = str(layout).replace(".", "").replace("…", "").upper()
    if text in ("OI", "OIHW", "OIDHW", "OIW", "OIL"):
        return "OI"
    if text in ("IO", "HWIO", "DHWIO", "WIO", "LIO"):
        return "IO"
    raise ShapeError(f"unknown layout {layout!r}; use 'OI' (out, in, spatial...: PyTorch/MXNet) "
                     f"or 'IO' (spatial..., in, out: Keras/JAX)")


def fans(shape: Sequence[int], layout: str | None = None, name: str = "parameter") -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of ``shape``: in/out sizes times the receptive field."""
    layout = check_layout(layout)
    shape = tuple(map(int, shape))
    if len(shape) < 2:
        raise ShapeError(f"{name!r} has shape {shape}: fan-based initializers need at least 2 dimensions "
                         f"(out, in, ...); use Normal/Uniform/Constant for 1-D parameters such as biases")
    if layout == "OI":
        fan_out, fan_in, spatial = shape[0], shape[1], shape[2:]
    else:
        fan_in, fan_out, spatial = shape[-2], shape[-1], shape[:-2]
    receptive = 1
    for d in spatial:
        receptive *= d
    return fan_in * receptive, fan_out * receptive


def try_fans(shape: Sequence[int] | None, layout: str | None = None) -> tuple[int | None, int | None]:
    """fans() or (None, None) where the shape is unknown or has fewer than 2 dimensions."""
    if shape is None or len(shape) < 2 or None in shape:
        return None, None
    return fans(shape, layout)
