"""check_widths: muP's width-independence at initialization (docs/validation.md, "muP: width-independence")."""

from __future__ import annotations

import math

import pytest

import initreg
import initreg.recipes
from initreg import Rules
from initreg.planning.expressions import expr

torch = pytest.importorskip("torch")
# the recipe's norm and embedding rules match nothing in an MLP: said once per model, not what is tested
pytestmark = pytest.mark.filterwarnings("ignore:rule .* matches no parameter")

WIDTHS = (64, 128, 256, 512, 1024)
SIGMA = math.sqrt(2 / 64)  # He at the base width: the scale stays put through the ReLUs


class MLP(torch.nn.Module):
    def __init__(self, width, depth=3):
        super().__init__()
        self.input = torch.nn.Linear(32, width)
        self.hidden = torch.nn.ModuleList(torch.nn.Linear(width, width) for _ in range(depth))
        self.readout = torch.nn.Linear(width, 10)

    def forward(self, x):
        x = torch.relu(self.input(x))
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return self.readout(x)


def base_shapes():
    return {n: list(p.shape) for n, p in MLP(64).named_parameters()}


def mup_rules():
    """The shipped mup recipe with base shapes of width 64."""
    return initreg.recipes.load("mup").replace(base_shapes=base_shapes())


def mup_like(hidden):
    """The mup recipe's rules written out, with ``hidden`` as the hidden weights' sigma expression."""
    return Rules([("*readout.weight", ("uniform", {"scale": expr("1 / sqrt(base_fan_in)")})), ("*.bias", "zeros"),
                  ("*.weight", ("normal", {"sigma": expr(hidden)}))], vars={"sigma": SIGMA}, base_shapes=base_shapes())


def sweep(rules, seed=0, widths=WIDTHS, **vars):
    models, tables = {}, {}
    for w in widths:
        models[w] = MLP(w)
        tables[w] = initreg.torch.initialize(models[w], rules, seed=seed, vars=vars or None)
    return initreg.check_widths(models, rules=tables, seed=seed)


def test_mup_passes_and_standard_parametrization_fails_on_exactly_the_hidden_layers():
    report = sweep(mup_rules(), sigma=SIGMA)
    assert report.passed, str(report)
    rows = {r.name: r for r in report.rows}
    assert [rows[n].verdict for n in ("input", "hidden.0", "hidden.1", "hidden.2", "readout")] == \
        ["pass"] * 4 + ["reported"]
    assert all(abs(rows[n].slope) < 0.1 for n in ("input", "hidden.0", "hidden.1", "hidden.2"))
    # standard parametrization: one sigma at every width, so a hidden layer's gain grows as the width
    sp = sweep({"*.bias": "zeros", "*.weight": ["normal", {"sigma": SIGMA}]})
    assert not sp.passed
    assert {r.name for r in sp.failures()} == {"hidden.0", "hidden.1", "hidden.2"}
    assert all(0.9 < r.slope < 1.1 for r in sp.failures())
    assert "width 64" in str(sp) and "width 1024" in str(sp)


@pytest.mark.parametrize("hidden, slope", [("sigma / width_mult ** max(ninf - 1, 0)", -1.0),  # 1/wm, not 1/sqrt
                                           ("sigma / width_mult ** (max(ninf - 1, 0) / 4)", 0.5)])  # wm^-1/4
def test_a_wrong_width_exponent_fails(hidden, slope):
    assert sweep(mup_like("sigma / sqrt(width_mult) ** max(ninf - 1, 0)")).passed  # the recipe's own: passes
    report = sweep(mup_like(hidden))
    assert {r.name for r in report.failures()} == {"hidden.0", "hidden.1", "hidden.2"}
    assert all(abs(r.slope - slope) < 0.15 for r in report.failures())


def test_false_alarms_over_seeds():
    # 20 seeds of the correct sweep: no failure (family alpha 1e-3; docs/validation.md gives the 200-seed figure)
    assert [s for s in range(20) if not sweep(mup_rules(), seed=s, widths=(64, 256, 1024), sigma=SIGMA).passed] == []


def test_bad_arguments():
    with pytest.raises(initreg.ValidationError, match="at least two widths"):
        initreg.check_widths({64: MLP(64)})
    with pytest.raises(initreg.ValidationError, match="positive int"):
        initreg.check_widths({64: MLP(64), "wide": MLP(128)})
    with pytest.raises(initreg.ValidationError, match="tolerance"):
        initreg.check_widths({64: MLP(64), 128: MLP(128)}, tolerance=1)
    with pytest.raises(initreg.ValidationError, match="glob patterns"):
        initreg.check_widths({64: MLP(64), 128: MLP(128)}, exempt="*readout*")


def test_plot(tmp_path):
    pytest.importorskip("matplotlib")
    path = sweep(mup_rules(), widths=(64, 256), sigma=SIGMA).plot(tmp_path / "widths.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mup_readout_multiplier_is_what_its_weights_see(tmp_path):
    # mup's MuReadout computes W·(output_mult·x/width_mult()): check_forward holds W to its promise for that input
    mup = pytest.importorskip("mup")

    class MuMLP(MLP):
        def __init__(self, width):
            super().__init__(width)
            self.readout = mup.MuReadout(width, 10)

    bsh = tmp_path / "base.bsh"
    mup.make_base_shapes(MuMLP(64), MuMLP(128), savefile=str(bsh))
    rules = initreg.recipes.load("mup").replace(base_shapes=str(bsh), vars={"sigma": SIGMA})
    models, tables = {}, {}
    for w in (64, 256, 1024):
        models[w] = MuMLP(w)
        mup.set_base_shapes(models[w], str(bsh))
        tables[w] = initreg.torch.initialize(models[w], rules, seed=0)
    report = initreg.check_widths(models, rules=tables, seed=0)
    assert report.passed, str(report)
    readout = {r.name: r for r in report.reports[1024].rows}["readout"]
    assert 0.8 < readout.ratio < 1.25  # without the multiplier it would be 1/width_mult² = 1/256
    rms = {r.name: r for r in report.rows}["readout"].out_rms
    assert rms[0] / rms[-1] > 2  # muP's readout output shrinks with width (1/√width in RMS): reported, not failed
