"""``initreg.check_forward``: run a batch through an initialized model and hold each layer to its weights' promise.

Per weight layer (y = W·x + b), two flags (docs/validation.md, "Network-level check"):

* ``promise``: ‖Y‖² against σ²·‖X‖² per output unit, σ² the variance the layer's initializer promises (or, without
  rules, the weights' own mean square). Given the input, the n_out rows of W are i.i.d., so T = ‖Y‖²/(n_out·σ²·tr A)
  (A = XᵀX) has mean 1 and variance (2·tr A² + κ·Σ A_jj²)/(n_out·(tr A)²), κ the promise's excess kurtosis; ν·T is
  compared with χ²(ν), ν = 2/Var T (Satterthwaite), two-sided, Holm across layers at ``alpha``.
* ``gain``: where a layer's input is the previous layer's output through elementwise activations only and its
  initializer claims a gain g (Xavier, He/MSRA, LeCun, VarianceScaling: σ² = g²/fan), the activation's measured
  second-moment gain m(pre)/m(x) must be within a factor ``tolerance`` of g².

The depth-wide trend (slope of log₂ of the output mean square per layer) and the gradients are reported, never failed.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ValidationError

#: the default bound on the gain flag: a segment may change the second moment by up to this factor either way
TOLERANCE = 2.0 ** 0.5
#: the most values a generated batch may hold (2²⁸ float32 values = 1 GiB, before any activation)
MAX_BATCH_VALUES = 1 << 28


@dataclass
class LayerRow:
    """One weight layer of a forward check: scales in, out and promised, the two flags, gradients."""

    index: int
    name: str
    param: str
    kind: str
    promise: str  # the initializer whose promise σ² comes from, or "empirical"
    fan_in: int
    n_out: int
    in_rms: float
    out_rms: float  # RMS of the output, bias included
    ratio: float | None  # T: ‖Y‖² over its promised value (1 under the promise)
    p_value: float | None
    adjusted: float | None
    claimed_gain2: float | None  # g² the initializer was built for; None: it claims no gain
    act_gain2: float | None  # m(previous output)/m(input): the activation's gain², measured
    gain_se: float | None  # standard error of log(act_gain2), over the previous layer's i.i.d. units
    gain_p: float | None  # p of "the segment is within ×tolerance" (one-sided, at the tolerance's edge)
    prev: int | None
    grad_out_rms: float | None
    grad_w_rms: float | None
    verdict: str = "pass"  # "pass", "fail" or "skipped"
    detail: str = ""
    gain_adjusted: float | None = None  # gain_p after Holm over the whole family
    out_se: float | None = None  # SE of log(output mean square) over the layer's output units (i.i.d. given its input)

    @property
    def gain_ratio(self) -> float | None:
        """g²·m(x)/m(pre): 1 when the activation before this layer has the gain its initializer claims."""
        if self.claimed_gain2 is None or not self.act_gain2:
            return None
        return self.claimed_gain2 / self.act_gain2


@dataclass
class ForwardReport:
    """The outcome of ``check_forward``: ``passed``, one row per weight layer, the depth-wide trend, ``plot()``."""

    rows: list[LayerRow]
    alpha: float
    tolerance: float
    seed: int
    batch: int
    label: str = "model"
    trend: float | None = None  # least-squares slope of log₂ m(output) per layer
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when no layer failed and at least one was checked."""
        return any(r.verdict == "pass" for r in self.rows) and not self.failures()

    def failures(self) -> list[LayerRow]:
        """The failing layers."""
        return [r for r in self.rows if r.verdict == "fail"]

    def summary(self) -> str:
        """One line: verdict, layers checked and failed, the trend, seed and alpha."""
        checked = sum(1 for r in self.rows if r.verdict in ("pass", "fail"))
        fails = self.failures()
        verdict = "PASSED" if self.passed else "FAILED" if fails else "NOTHING CHECKED"
        trend = "–" if self.trend is None else f"{self.trend:+.3f}"
        layers = f"{checked} layer{'' if checked == 1 else 's'}"
        return (f"{verdict}: {layers} checked, {len(fails)} failed; trend {trend} log2(mean square)/layer "
                f"(reported, not failed); Holm alpha={self.alpha:g}, gain tolerance ×{self.tolerance:.3g}; "
                f"seed={self.seed}, batch={self.batch}")

    def table(self) -> str:
        """Every layer as a fixed-width text table."""
        head = (f"{'#':>3} {'layer':<28} {'promise':<16} {'in rms':>9} {'out rms':>9} {'T':>6} {'adj p':>8} "
                f"{'g²':>5} {'act g²':>7} {'grad rms':>9} verdict")
        lines = [head]
        for r in self.rows:
            lines.append(f"{r.index:>3} {clip(r.name, 28):<28} {clip(r.promise, 16):<16} {_num(r.in_rms):>9} "
                         f"{_num(r.out_rms):>9} {_num(r.ratio, 3):>6} {_num(r.adjusted, 2):>8} "
                         f"{_num(r.claimed_gain2, 3):>5} {_num(r.act_gain2, 3):>7} {_num(r.grad_out_rms):>9} "
                         f"{r.verdict}")
        return "\n".join(lines)

    def __str__(self) -> str:
        lines = [self.summary()]
        for r in self.failures():
            lines.append(f"  FAIL {r.name} ({r.param}): {r.detail}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<ForwardReport {self.summary()}>"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: verdict, settings, trend, and every layer (non-finite numbers as None)."""
        rows = [{k: _json(v) for k, v in dict(asdict(r), gain_ratio=r.gain_ratio).items()} for r in self.rows]
        return {"passed": self.passed, "label": self.label, "seed": self.seed, "batch": self.batch,
                "alpha": self.alpha, "tolerance": self.tolerance, "trend": _json(self.trend), "notes": self.notes,
                "layers": rows}

    def to_json(self, path: str | Path | None = None) -> str:
        """The report as JSON; also written to ``path`` when given."""
        text = json.dumps(self.as_dict(), indent=2, ensure_ascii=False)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    def plot(self, path: str | Path, *others: ForwardReport) -> Path:
        """A PNG of output and gradient RMS per layer against depth, this report and ``others`` as one line each."""
        from .forward_plot import plot_reports

        return plot_reports([self, *others], Path(path))


def check_forward(model: Any, inputs: Any = None, *, rules: Any = None, seed: int = 0, batch: int = 64,
                  alpha: float = 1e-3, tolerance: float = TOLERANCE, label: str = "model") -> ForwardReport:
    """Run one batch through ``model`` (a torch.nn.Module) and check each layer's scale against its weights' promise.

    ``inputs``: a tensor, a tuple of positional tensors, or a dict of keyword tensors; None: ``batch`` N(0, 1) samples
    shaped for the model's first layer (Linear, Conv, Embedding or MultiheadAttention). ``rules``: what initialized
    the model (Rules, {pattern: initializer}, one initializer, or the table ``initreg.torch.initialize`` returned); a
    layer no rule covers is held to its weights' own mean square and claims no gain.
    """
    import torch

    from .forward_torch import measure

    seed = _check_arguments(model, seed, batch, alpha, tolerance)

    args, kwargs = _inputs(model, inputs, batch, seed)
    _check_inputs(args, kwargs)
    promises = _promises(model, rules)
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()  # dropout off, batch norm on its running statistics: one deterministic pass
        try:
            layers, _ = measure(model, args, kwargs, seed)
        except ValidationError:
            raise
        except Exception as exc:
            shapes = [tuple(a.shape) for a in args if isinstance(a, torch.Tensor)]
            raise ValidationError(f"check_forward: the model failed on inputs of shape {shapes}: "
                                  f"{type(exc).__name__}: {exc}; pass inputs= shaped as the model expects") from exc
    finally:
        for m, mode in modes.items():
            m.training = mode
    rows = [_row(i, m, *promises.get(m.param, (None, "OI")), layers, tolerance) for i, m in enumerate(layers)]
    _holm(rows, alpha, tolerance)
    shown = batch if inputs is None else _batch_of(args, kwargs, batch)
    report = ForwardReport(rows, float(alpha), float(tolerance), seed, shown, label, _trend(rows))
    if not rows:
        report.notes.append("no Linear, Conv1d/2d or MultiheadAttention layer ran in the forward pass")
    return report


def _check_arguments(model: Any, seed: Any, batch: Any, alpha: Any, tolerance: Any) -> int:
    """The checked seed, after refusing a model that is no torch module and out-of-range settings."""
    import torch

    from ..core.stream import check_seed

    if not isinstance(model, torch.nn.Module):
        raise ValidationError(f"check_forward: model must be a torch.nn.Module, got {type(model).__name__}; build the "
                              f"model first (and initialize it), then pass it")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 2:
        raise ValidationError(f"check_forward: batch must be an int ≥ 2 (samples in the generated batch), got "
                              f"{batch!r}; the default is 64")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValidationError(f"check_forward: alpha must be a number in (0, 1), got {alpha!r}; the default is 1e-3")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance > 1:
        raise ValidationError(f"check_forward: tolerance must be a number > 1 (a factor on the second moment), got "
                              f"{tolerance!r}; the default is √2")
    return check_seed(seed)


def _check_inputs(args: tuple, kwargs: dict) -> None:
    """Refuse empty and non-finite floating inputs: no layer statistic is defined on them."""
    import torch

    for i, t in [*enumerate(args), *kwargs.items()]:
        if not isinstance(t, torch.Tensor):
            continue
        where = f"inputs[{i!r}]"
        if t.numel() == 0:
            raise ValidationError(f"check_forward: {where} is empty (shape {tuple(t.shape)}); pass a batch of at "
                                  f"least 2 samples, or leave inputs=None for a generated batch")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise ValidationError(f"check_forward: {where} holds {bad} NaN or inf values of {t.numel()}; pass finite "
                                  f"inputs (no layer's scale can be tested on them)")


def _batch_of(args: tuple, kwargs: dict, batch: int) -> int:
    first = next((a for a in (*args, *kwargs.values()) if hasattr(a, "shape") and len(a.shape)), None)
    return int(first.shape[0]) if first is not None else batch


def _inputs(model: Any, inputs: Any, batch: int, seed: int) -> tuple[tuple, dict]:
    """Positional and keyword inputs: those given, or a generated batch for the model's first layer."""
    import torch

    if inputs is not None:
        if isinstance(inputs, torch.Tensor):
            return (inputs,), {}
        if isinstance(inputs, (tuple, list)) and all(isinstance(a, torch.Tensor) for a in inputs) and inputs:
            return tuple(inputs), {}
        if isinstance(inputs, dict) and all(isinstance(k, str) for k in inputs):
            return (), dict(inputs)
        raise ValidationError(f"check_forward: inputs must be a tensor, a non-empty tuple of tensors or a dict of "
                              f"keyword tensors, got {type(inputs).__name__}; or leave it None for a generated batch")
    from .forward_torch import torch_seed

    gen = torch.Generator().manual_seed(torch_seed(seed))
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    device = param.device if param is not None else None
    first = next((m for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d,
                                                               torch.nn.Embedding, torch.nn.MultiheadAttention))), None)
    if isinstance(first, torch.nn.Embedding):
        if batch * 16 > MAX_BATCH_VALUES:
            raise ValidationError(f"check_forward: batch={batch} is too large ({batch * 16:,} token ids, over "
                                  f"{MAX_BATCH_VALUES:,}); pass a smaller batch (the default is 64)")
        return (torch.randint(0, first.num_embeddings, (batch, 16), generator=gen).to(device),), {}
    if isinstance(first, torch.nn.Linear):
        shape: tuple = (batch, first.in_features)
    elif isinstance(first, torch.nn.Conv1d):
        shape = (batch, first.in_channels, 32)
    elif isinstance(first, torch.nn.Conv2d):
        shape = (batch, first.in_channels, 32, 32)
    elif isinstance(first, torch.nn.MultiheadAttention):
        shape = (batch, 16, first.embed_dim) if first.batch_first else (16, batch, first.embed_dim)
    else:
        raise ValidationError(f"check_forward: cannot tell what input a {type(model).__name__} takes (its first layer "
                              f"is not Linear, Conv1d/2d, Embedding or MultiheadAttention); pass inputs=")
    if math.prod(shape) > MAX_BATCH_VALUES:  # refused before allocating: a typo'd batch must not exhaust memory
        raise ValidationError(f"check_forward: batch={batch} makes an input of shape {shape} "
                              f"({math.prod(shape):,} values, over {MAX_BATCH_VALUES:,}); pass a smaller batch "
                              f"(the default is 64)")
    return (torch.randn(shape, generator=gen, dtype=torch.float32).to(device=device, dtype=dtype),), {}


def _promises(model: Any, rules: Any) -> dict[str, tuple[Any, str]]:
    """Parameter name → (its rule's initializer, the layout it was drawn in): from a table's rows, or planned here."""
    if rules is None:
        return {}
    rows = getattr(rules, "rows", None)
    if rows is not None and all(hasattr(r, "initializer") and hasattr(r, "source") for r in rows):
        table = rows
    else:
        from ..planning.explanation import plan
        from ..planning.precedence import Entry

        entries = [Entry(n, tuple(p.shape), str(p.dtype).replace("torch.", ""), "OI")
                   for n, p in model.named_parameters()]
        table = plan(entries, rules).rows
    skip = ("keep", "global default")
    return {name: (r.initializer, getattr(r, "layout", "OI")) for r in table
            if r.initializer is not None and r.source not in skip for name in (r.name, *getattr(r, "aliases", ()))}


def claimed_gain2(init: Any) -> float | None:
    """g² that a fan-scaled initializer was built for (σ² = g²/fan); None for any other initializer."""
    from ..std.scaling import VarianceScaling, Xavier

    if isinstance(init, VarianceScaling):
        return float(init.scale)
    if isinstance(init, Xavier):  # MXNet's magnitude: U(±√(m/fan)) has variance m/(3·fan)
        return float(init.magnitude) / (3.0 if init.rnd_type == "uniform" else 1.0)
    return None


def _moments(init: Any, m: Any, layout: str) -> tuple[float, float, str, str]:
    """σ², excess kurtosis, where they came from, and why the layer cannot be tested ("" when it can)."""
    if init is not None:
        from ..core.initializer import make_desc

        try:
            dist = init.expected(make_desc(m.param, m.param_shape, "float32", layout=layout))
        except Exception:  # a promise this shape cannot give (a ShapeError): held to the weights' own moments
            dist = None
        if hasattr(dist, "moment") and hasattr(dist, "mean"):
            mean, var = float(dist.mean()), float(dist.var())
            if var > 0 and abs(mean) > 1e-12 * math.sqrt(var):
                return 0.0, 0.0, init.name, (f"its promise has mean {mean:.3g} ≠ 0, so the output's scale depends on "
                                             f"the input's mean too; only zero-mean promises are tested")
            if var > 0:
                return var, float(dist.moment(4)) / var ** 2 - 3.0, init.name, ""
    var = m.w_m2
    return var, (m.w_m4 / var ** 2 - 3.0 if var > 0 else 0.0), "empirical", ""


def _row(i: int, m: Any, init: Any, layout: str, layers: list, tolerance: float) -> LayerRow:
    base = dict(index=i, name=m.name, param=m.param, kind=m.kind, fan_in=m.fan_in, n_out=m.n_out,
                in_rms=math.sqrt(m.in_ms), out_rms=math.sqrt(m.out_ms), prev=m.prev, grad_out_rms=m.grad_out_rms,
                grad_w_rms=m.grad_w_rms, out_se=_log_mean_se(m.out_units))
    if m.skipped:
        return LayerRow(**base, promise="–", ratio=None, p_value=None, adjusted=None, claimed_gain2=None,
                        act_gain2=None, gain_se=None, gain_p=None, verdict="skipped", detail=m.skipped)
    broken = non_finite(m)
    if broken:  # an undefined statistic is a failure, never a pass
        return LayerRow(**base, promise=getattr(init, "name", "empirical"), ratio=None, p_value=None, adjusted=None,
                        claimed_gain2=None, act_gain2=None, gain_se=None, gain_p=None, verdict="fail", detail=broken)
    var, kappa, source, why = _moments(init, m, layout)
    if why:
        return LayerRow(**base, promise=source, ratio=None, p_value=None, adjusted=None, claimed_gain2=None,
                        act_gain2=None, gain_se=None, gain_p=None, verdict="skipped", detail=why)
    g2 = claimed_gain2(init) if init is not None else None
    act, se, gain_p = _activation_gain(m, layers, g2, tolerance)
    row = LayerRow(**base, promise=source, ratio=None, p_value=None, adjusted=None, claimed_gain2=g2, act_gain2=act,
                   gain_se=se, gain_p=gain_p, verdict="pass")
    if var <= 0 or m.tr_a <= 0:
        row.ratio = 1.0 if m.y_sq == 0 else math.inf  # zero weights or zero input promise a zero output exactly
        row.verdict = "pass" if m.y_sq == 0 else "fail"
        row.detail = "weights or input all zero: the output must be the bias" + ("" if m.y_sq == 0 else ", it is not")
        return row
    row.ratio, row.p_value = promise_test(m.y_sq, m.n_out, var, kappa, m.tr_a, m.tr_a2, m.diag_a2)
    if not (math.isfinite(row.ratio) and math.isfinite(row.p_value)):
        row.verdict, row.p_value = "fail", None
        row.detail = f"the promise test is undefined (T={row.ratio:.3g}): non-finite scales or an infinite promise"
    return row


def non_finite(m: Any) -> str:
    """Why a measured layer's numbers cannot be tested (non-finite activations or weights), or ""."""
    found = [what for what, v in (("input", m.in_ms), ("output", m.out_ms), ("weights", m.w_m2), ("W·x", m.y_sq),
                                  ("input Gram", m.tr_a2)) if not math.isfinite(v)]
    if not found:
        return ""
    return (f"non-finite activations/weights: the {', '.join(found)} mean square is NaN or inf (a NaN or inf in the "
            f"weights, the inputs or an earlier layer's output)")


def _log_mean_se(units: Any) -> float | None:
    """sd(u)/(mean(u)·√n): the standard error of log(mean(u)) over i.i.d. per-unit sums ``u`` (None: fewer than 2)."""
    if units is None or len(units) < 2 or not 0 < float(units.mean()) < math.inf:  # NaN/inf: the row fails elsewhere
        return None
    return float(units.std(ddof=1)) / (float(units.mean()) * math.sqrt(len(units)))


def promise_test(y_sq: float, n_out: int, var: float, kappa: float, tr_a: float, tr_a2: float,
                 diag_a2: float) -> tuple[float, float]:
    """T = ‖Y‖²/(n_out·σ²·tr A) and its two-sided p, ν·T against χ²(ν) with ν = 2/Var T (rows of W i.i.d.)."""
    from scipy import stats

    t = y_sq / (n_out * var * tr_a)
    var_t = max(2.0 * tr_a2 + kappa * diag_a2, 1e-300) / (n_out * tr_a ** 2)
    nu = 2.0 / var_t
    return t, float(min(1.0, 2.0 * min(stats.chi2.cdf(nu * t, nu), stats.chi2.sf(nu * t, nu))))


def _activation_gain(m: Any, layers: list, g2: float | None, tolerance: float) -> tuple:
    """ĝ² = Σ_c b_c / Σ_c a_c over the previous layer's units c (b: its output², a: this input²), the SE of log ĝ²
    (delta method: the units are i.i.d. given that layer's input) and the p of |log(g²/ĝ²)| ≤ log(tolerance)."""
    if m.prev is None or m.in_units is None:
        return None, None, None
    import numpy as np
    from scipy import stats

    a, b = m.in_units, layers[m.prev].out_units
    sa, sb = float(a.sum()), float(b.sum())
    if not (0 < sa < math.inf and 0 < sb < math.inf):  # NaN or inf units: the layer's own row fails instead
        return None, None, None
    f = sa / sb
    se = float(np.sqrt(((a - f * b) ** 2).sum())) / sa
    if g2 is None:
        return 1.0 / f, se, None
    excess = abs(math.log(g2 * f)) - math.log(tolerance)
    p = 1.0 if se == 0 and excess <= 0 else 0.0 if se == 0 else float(stats.norm.sf(excess / se))
    return 1.0 / f, se, p


def _holm(rows: list[LayerRow], alpha: float, tolerance: float) -> None:
    """Holm-adjust the promise p-values across layers; fail a layer on either flag, with the reason."""
    from .stats import holm

    family = [(r.p_value, r, "adjusted") for r in rows if r.p_value is not None]
    family += [(r.gain_p, r, "gain_adjusted") for r in rows if r.gain_p is not None]
    for (_, r, attr), adjusted in zip(family, holm([p for p, _, _ in family])):
        setattr(r, attr, adjusted)
    for r in rows:
        why = []
        if r.adjusted is not None and r.adjusted < alpha:
            why.append(f"output second moment is {r.ratio:.3g}× what its weights promise for the input it received "
                       f"(T={r.ratio:.4g}, adjusted p={r.adjusted:.3g} < alpha={alpha:g})")
        if r.gain_adjusted is not None and r.gain_adjusted < alpha:
            why.append(f"the activation before it has gain² {r.act_gain2:.3g} (m(pre)/m(input) from layer "
                       f"{r.prev}) but its initializer {r.promise} is built for gain² {r.claimed_gain2:.3g}: the "
                       f"segment scales the second moment by {r.gain_ratio:.3g}, beyond ×{tolerance:.3g} either way "
                       f"(adjusted p={r.gain_adjusted:.3g} < alpha={alpha:g})")
        if why:
            r.verdict, r.detail = "fail", "; ".join(why)


def _trend(rows: list[LayerRow]) -> float | None:
    """Least-squares slope of log₂(output mean square) against layer index (2 points or more)."""
    from .stats import least_squares_slope

    pts = [(r.index, 2.0 * math.log2(r.out_rms)) for r in rows if r.out_rms > 0]
    if len(pts) < 2:
        return None
    return least_squares_slope([x for x, _ in pts], [y for _, y in pts])


def _num(v: float | None, digits: int = 3) -> str:
    if v is None:
        return "–"
    return f"{v:.{digits}g}"


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters from the left, marked with an ellipsis."""
    return text if len(text) <= width else "…" + text[-(width - 1):]


def _json(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v
