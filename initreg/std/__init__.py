"""The standard catalog of initializers, one module per family, registered as the ``std`` plugin."""

from __future__ import annotations

from .basic import Constant, Normal, One, Uniform, Zero
from .load import Load
from .mixture import Mixture
from .orthogonal import Orthogonal
from .scaling import (GlorotNormal, GlorotUniform, HeNormal, HeUniform, LecunNormal, LecunUniform, MSRAPrelu,
                      VarianceScaling, Xavier)
from .structured import Bilinear, LSTMBias
from .truncated import TruncatedNormal

__all__ = ["Bilinear", "Constant", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "LSTMBias",
           "LecunNormal", "LecunUniform", "Load", "MSRAPrelu", "Mixture", "Normal", "One", "Orthogonal",
           "TruncatedNormal", "Uniform", "VarianceScaling", "Xavier", "Zero"]
