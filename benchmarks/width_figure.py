"""The figure and the rates of docs/validation.md's muP width check (``initreg.check_widths``).

    python benchmarks/width_figure.py                  # writes docs/img/width_check.png (seed 0)
    python benchmarks/width_figure.py --seeds 200      # also: muP's false alarms over seeds 0..199, the wrong
                                                       # variants' failures over seeds 0..19

The model: an MLP (Linear(32, width), three Linear(width, width), ReLUs, a Linear(width, 10) readout, biases 0)
at widths 64..1024 (muP's readout multiplies its input by 64/width, as mup's MuReadout), initialized by initreg with the mup recipe (base shapes: the width-64 model; sigma = √(2/64),
He at the base width), with standard parametrization (the same sigma at every width), and with two wrong muP
exponents (sigma/width_mult and sigma/width_mult^(1/4) on the hidden weights instead of sigma/√width_mult).
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from pathlib import Path

import torch

import initreg
import initreg.recipes
import initreg.torch
from initreg.planning.expressions import expr

FIGURE = Path(__file__).resolve().parents[1] / "docs" / "img" / "width_check.png"
WIDTHS = (64, 128, 256, 512, 1024)
SIGMA = math.sqrt(2 / 64)


class MLP(torch.nn.Module):
    """input → 3 hidden → readout, ReLU between; muP's readout sees its input times 1/width_mult (as MuReadout)."""

    def __init__(self, width: int, mup: bool = False):
        super().__init__()
        self.input = torch.nn.Linear(32, width)
        self.hidden = torch.nn.ModuleList(torch.nn.Linear(width, width) for _ in range(3))
        self.readout = torch.nn.Linear(width, 10)
        self.readout_mult = WIDTHS[0] / width if mup else 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.input(x))
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return self.readout(x * self.readout_mult)


def variants() -> dict[str, initreg.Rules]:
    """The mup recipe, standard parametrization, and the two wrong exponents."""
    base = {n: list(p.shape) for n, p in MLP(64).named_parameters()}

    def mup_like(hidden: str) -> initreg.Rules:
        return initreg.Rules([("*readout.weight", ("uniform", {"scale": expr("1 / sqrt(base_fan_in)")})),
                              ("*.bias", "zeros"), ("*.weight", ("normal", {"sigma": expr(hidden)}))],
                             vars={"sigma": SIGMA}, base_shapes=base)

    return {"muP (recipe:mup)": initreg.recipes.load("mup").replace(base_shapes=base, vars={"sigma": SIGMA}),
            "standard parametrization": initreg.Rules({"*.bias": "zeros", "*.weight": ("normal", {"sigma": SIGMA})}),
            "sigma / width_mult": mup_like("sigma / width_mult ** max(ninf - 1, 0)"),
            "sigma / width_mult^(1/4)": mup_like("sigma / width_mult ** (max(ninf - 1, 0) / 4)")}


def sweep(rules: initreg.Rules, seed: int, label: str) -> initreg.validation.forward_widths.WidthReport:
    """Build and initialize the MLP at every width, then check_widths."""
    models, tables = {}, {}
    for w in WIDTHS:
        models[w] = MLP(w, mup=not label.startswith("standard"))
        tables[w] = initreg.torch.initialize(models[w], rules, seed=seed)
    return initreg.check_widths(models, rules=tables, seed=seed, label=label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=0, help="also count passes over seeds 0..N-1")
    parser.add_argument("--figure", type=Path, default=FIGURE)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="rule .* matches no parameter")  # the recipe's norm/embedding rules
    rules = variants()
    reports = [sweep(rules[k], 0, k) for k in ("muP (recipe:mup)", "standard parametrization")]
    for r in reports:
        print(r)
        print(r.table())
    reports[0].plot(args.figure, reports[1])
    print(f"wrote {args.figure}")
    if args.seeds:
        t0 = time.perf_counter()
        for label, r in rules.items():  # false alarms over every seed; the wrong variants over 20 at most
            seeds = range(args.seeds if label.startswith("muP") else min(args.seeds, 20))
            failed = [s for s in seeds if not sweep(r, s, label).passed]
            print(f"{label}: failed {len(failed)} of {len(seeds)} seeds" + (f" ({failed[:10]})" if failed else ""))
        print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
