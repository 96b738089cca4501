"""Every row of the fans table in docs/fans.md: initreg's fans equal the row's and the frameworks' own."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import pytest

from initreg.core.fans import check_layout, fans
from initreg.errors import ShapeError

DOC = Path(__file__).resolve().parents[2] / "docs" / "fans.md"


def _rows() -> list[tuple[str, str, tuple[int, ...], str, int, int]]:
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and re.fullmatch(r"\([\d, ]+\)", cells[2]):
            shape = tuple(int(d) for d in re.findall(r"\d+", cells[2]))
            rows.append((cells[0], cells[1], shape, cells[3], int(cells[4]), int(cells[5])))
    return rows


ROWS = _rows()
IDS = [f"{r[0]} / {r[1]}" for r in ROWS]


def test_the_table_has_every_layout_the_issue_asks_for():
    labels = " ".join(r[0] for r in ROWS)
    for kind in ("Linear", "Dense", "Conv1d", "Conv2d", "Conv3d", "depthwise", "groups", "Transpose", "Embed",
                 "DenseGeneral"):
        assert kind in labels, kind
    assert len(ROWS) >= 20


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_initreg_fans_match_the_row(row):
    _, _, shape, layout, fan_in, fan_out = row
    assert fans(shape, layout) == (fan_in, fan_out)


def _axes(layout: str, shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(in axes, out axes) that a layout names, for JAX's variance_scaling."""
    roles = check_layout(layout)
    if roles == "OI":
        roles = "OI" + "H" * (len(shape) - 2)
    elif roles == "IO":
        roles = "H" * (len(shape) - 2) + "IO"
    return (tuple(i for i, r in enumerate(roles) if r == "I"), tuple(i for i, r in enumerate(roles) if r == "O"))


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_jax_variance_scaling_computes_the_same_fans(row):
    pytest.importorskip("jax")
    _, _, shape, layout, fan_in, fan_out = row
    in_axis, out_axis = _axes(layout, shape)
    from jax._src.nn.initializers import _compute_fans

    assert tuple(int(f) for f in _compute_fans(shape, in_axis, out_axis, ())) == (fan_in, fan_out)


@pytest.mark.parametrize("row", [r for r in ROWS if r[3] in ("IIO", "DHWIO")], ids=lambda r: f"{r[0]} / {r[1]}")
def test_jax_public_variance_scaling_draws_at_those_fans(row):
    jax = pytest.importorskip("jax")
    import numpy as np

    _, _, shape, layout, fan_in, _ = row
    in_axis, out_axis = _axes(layout, shape)
    # uniform fan_in scaling has bound √(3/fan_in); thousands of draws come within 10 % of it
    init = jax.nn.initializers.variance_scaling(1.0, "fan_in", "uniform", in_axis=in_axis, out_axis=out_axis)
    top = float(np.abs(np.asarray(init(jax.random.PRNGKey(0), shape))).max())
    assert math.sqrt(3.0 / fan_in) * 0.9 <= top <= math.sqrt(3.0 / fan_in) * (1 + 1e-6)


def _roles(layout: str, shape: tuple[int, ...]) -> str:
    roles = check_layout(layout)
    return {"OI": "OI" + "H" * (len(shape) - 2), "IO": "H" * (len(shape) - 2) + "IO"}.get(roles, roles)


@pytest.mark.parametrize("row", [r for r in ROWS if _roles(r[3], r[2]).startswith("OI") and
                                 _roles(r[3], r[2]).count("O") == _roles(r[3], r[2]).count("I") == 1],
                         ids=lambda r: f"{r[0]} / {r[1]}")
def test_torch_computes_the_same_fans(row):
    torch = pytest.importorskip("torch")
    _, _, shape, _, fan_in, fan_out = row
    assert torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape)) == (fan_in, fan_out)


@pytest.mark.parametrize("row", [r for r in ROWS if _roles(r[3], r[2]).endswith("IO") and
                                 _roles(r[3], r[2]).count("O") == _roles(r[3], r[2]).count("I") == 1],
                         ids=lambda r: f"{r[0]} / {r[1]}")
def test_keras_computes_the_same_fans(row):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    pytest.importorskip("keras")
    from keras.src.initializers.random_initializers import compute_fans

    _, _, shape, _, fan_in, fan_out = row
    assert tuple(int(f) for f in compute_fans(shape)) == (fan_in, fan_out)


def test_a_per_axis_layout_must_name_every_axis_and_both_roles():
    with pytest.raises(ShapeError, match="one letter per axis"):
        fans((3, 4), "IIO")
    with pytest.raises(ShapeError, match="unknown layout"):
        check_layout("HW")
    assert check_layout("OIHW") == "OI" and check_layout("DHWIO") == "IO" and check_layout("IIO") == "IIO"


def test_a_fan_scaled_initializer_uses_the_per_axis_layout():
    import numpy as np

    import initreg
    from initreg.std import Xavier

    w = initreg.values(Xavier(rnd_type="gaussian", factor_type="in", magnitude=1.0), (12, 64, 768), name="proj",
                       seed=0, layout="IIO")
    assert abs(float(np.std(w)) - math.sqrt(1.0 / 768)) < 0.01 * math.sqrt(1.0 / 768)
