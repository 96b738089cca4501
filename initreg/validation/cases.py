"""Cases: the parameters (shape, dtype, layout) an initializer is validated on, and the default set."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from ..errors import ValidationError

DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Case:
    """One parameter to fill and test: a label, a shape, a dtype and a layout ("OI" or "IO")."""

    label: str
    shape: tuple
    dtype: str = "float32"
    layout: str = "OI"

    def __post_init__(self) -> None:
        shape = tuple(self.shape)
        if not shape or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1 for d in shape):
            raise ValidationError(f"case {self.label!r}: shape {self.shape!r} must be positive integers, e.g. (64, 32, 3, 3)")
        object.__setattr__(self, "shape", tuple(int(d) for d in shape))
        dtype = str(np.dtype(self.dtype)) if _is_dtype(self.dtype) else str(self.dtype)
        if dtype not in DTYPES:
            raise ValidationError(f"case {self.label!r}: dtype {self.dtype!r} is not checked; use one of {', '.join(DTYPES)} "
                                  f"(coarser dtypes round values too much for distribution tests)")
        object.__setattr__(self, "dtype", dtype)

    @property
    def name(self) -> str:
        """The parameter's name: ``validate.<label>.weight`` (``.bias`` for a 1-D case)."""
        return f"validate.{self.label}.{'bias' if len(self.shape) == 1 else 'weight'}"

    @property
    def size(self) -> int:
        """Number of values."""
        return math.prod(self.shape)


def _is_dtype(value: Any) -> bool:
    try:
        np.dtype(value)
    except TypeError:
        return False
    return True


#: Fans differ across these: fan_in = fan_out, fan_in = 4·fan_out, fan_out = 4·fan_in, and a 3×3 convolution.
#: Each holds ≥ 2^18 values: enough for the power stated in docs/validation.md.
DEFAULT_CASES = (
    Case("square", (512, 512)),
    Case("wide", (256, 1024)),
    Case("tall", (1024, 256)),
    Case("conv", (256, 128, 3, 3)),
)
#: Used only for initializers that accept none of the default cases (e.g. one that fills 1-D biases only).
FALLBACK_CASES = (Case("vector", (1 << 18,)),)


def parse_shape(text: str) -> tuple[int, ...]:
    """``"64,32,3,3"`` (or ``"64x32x3x3"``) → (64, 32, 3, 3)."""
    text = str(text).strip()
    shape = tuple(int(p) for p in re.split(r"[,x]", text) if p.strip()) if re.fullmatch(r"\d+(\s*[,x]\s*\d+)*,?", text) else ()
    if not shape or any(d < 1 for d in shape):
        raise ValidationError(f"shape {text!r} is not a list of positive integers; write it like 64,32,3,3")
    return shape


def as_cases(cases: Any, dtype: str | None = None) -> tuple[Case, ...]:
    """Cases from Case objects, shapes (tuples or "64,32" strings), or None for the defaults."""
    if cases is None:
        return DEFAULT_CASES if dtype is None else tuple(Case(c.label, c.shape, dtype, c.layout) for c in DEFAULT_CASES)
    if isinstance(cases, (Case, str)) or (isinstance(cases, tuple) and cases and isinstance(cases[0], (int, np.integer))):
        cases = [cases]
    out: list[Case] = []
    for c in _iter(cases):
        if isinstance(c, Case):
            out.append(c if dtype is None else Case(c.label, c.shape, dtype, c.layout))
        else:
            shape = parse_shape(c) if isinstance(c, str) else tuple(c)
            out.append(Case("x".join(str(d) for d in shape), shape, dtype or "float32"))
    labels = [c.label for c in out]
    if len(set(labels)) != len(labels):
        raise ValidationError(f"cases {labels} repeat a label; give each case its own label")
    return tuple(out)


def _iter(cases: Any) -> Iterable[Any]:
    try:
        return list(cases)
    except TypeError:
        raise ValidationError(f"cases must be a list of shapes or Case objects, got {cases!r}") from None
