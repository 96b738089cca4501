"""check_number: a number beyond float64's range is named as given, not as the inf it converts to."""

from __future__ import annotations

import numpy as np
import pytest

from initreg.errors import InitializerArgumentError
from initreg.std import Normal, TruncatedNormal


@pytest.mark.skipif(np.finfo(np.longdouble).max <= np.finfo(np.float64).max, reason="longdouble is float64 here")
def test_a_longdouble_beyond_float64_is_named_as_given():
    # before: "Normal: sigma must be finite, got inf", for a finite value the user never wrote as inf
    with pytest.raises(InitializerArgumentError, match=r"sigma must be finite, got np\.longdouble\('1(\.0+)?e\+400'\) "
                                                       r"\(beyond float64's range\)"):
        Normal(np.longdouble("1e400"))


def test_a_non_finite_value_is_named_as_given():
    with pytest.raises(InitializerArgumentError, match=r"mean must be finite, got nan$"):
        TruncatedNormal(mean=float("nan"))
    with pytest.raises(InitializerArgumentError, match=r"sigma must be finite, got np\.float32\(inf\)$"):
        Normal(np.float32("inf"))
