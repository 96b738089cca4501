"""values() with an ml_dtypes narrow float (bfloat16, float8): the DTypeError says how to get one."""

from __future__ import annotations

import pytest

import initreg
from initreg.errors import DTypeError

ml_dtypes = pytest.importorskip("ml_dtypes")


@pytest.mark.parametrize("dtype, name", [("bfloat16", "bfloat16"), (ml_dtypes.bfloat16, "bfloat16"),
                                         (ml_dtypes.float8_e4m3fn, "float8_e4m3fn")])
def test_a_narrow_float_dtype_names_the_float32_route(dtype, name):
    # before: only "is not a floating or integer type; use e.g. 'float32'", though the adapters fill bfloat16
    with pytest.raises(DTypeError, match=rf"parameter 'w'.*'float32' and round the values with "
                                         rf"\.astype\(ml_dtypes\.{name}\).*check for inf and NaN"):
        initreg.values("normal", (2,), name="w", seed=0, dtype=dtype)


def test_other_refused_dtypes_keep_the_short_message():
    with pytest.raises(DTypeError, match=r"dtype complex64 is not a floating or integer type; use e\.g\. 'float32'$"):
        initreg.values("normal", (2,), name="w", seed=0, dtype="complex64")
