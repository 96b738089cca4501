"""The checks of one filled array against what its initializer promised: one Outcome per test."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ValidationError
from . import stats as st
from .dists import Continuous, Parts, clusters, is_distribution, moments, parts
from ..core.expected import Embedded, Exact, Orthogonal, Sparse
from ..core.shapes import all_finite
from .outcome import Outcome
from . import values as vc
from . import joint, lowprec

#: fewest values a statistical test runs on (its p-value is asymptotic)
MIN_VALUES = 1000
#: fewest values the tests with an exact law run on (KS; the mean and variance of a normal promise)
SMALL_VALUES = 20
#: support bounds are widened by this many units in the last place of the dtype (final rounding of loc + scale·u)
SUPPORT_ULPS = 4
#: a value of the dtype holding more than this share of the promise makes the fit tests read cells, not values
COARSE_CELL = 1e-3
#: an orthogonal W·Wᵀ may differ from scale²·I by ORTHO_FACTOR·√n·eps·scale² (float QR loses ~√n·eps)
ORTHO_FACTOR = 4.0


def is_random(expected: Any) -> bool:
    """Whether the promised values come from the random stream (so stream independence can be tested)."""
    if isinstance(expected, Exact):
        return False
    if isinstance(expected, Embedded):
        return is_random(expected.inner)
    return True


def check(expected: Any, x: np.ndarray, owner: str, plot: dict | None = None) -> list[Outcome]:
    """Every test of array ``x`` against ``expected``; fills ``plot`` with what a figure needs."""
    plot = {} if plot is None else plot
    if isinstance(expected, Exact):
        return exact_check(expected.values, x, "exact", plot)
    bad = finite_check(x)
    if bad is not None:  # no test of a distribution is defined on NaN or inf: the row says where they are
        return [bad]
    if isinstance(expected, Orthogonal):
        return orthogonal_check(expected, x, plot)
    if isinstance(expected, Embedded):
        return embedded_check(expected, x, owner, plot)
    if isinstance(expected, Sparse):
        return sparse_check(expected, x, owner, plot)
    if is_distribution(expected):
        promised = parts(expected, owner)
        return distribution_check(promised, x, plot) + joint_checks(promised, x)
    parts(expected, owner)  # raises the error that names what is accepted
    raise ValidationError(f"{owner} returned {expected!r}")  # pragma: no cover


def finite_check(x: np.ndarray) -> Outcome | None:
    """A failing "finite" outcome naming how many values are NaN or inf and where the first is; None when all are finite."""
    if x.dtype.kind not in "fc" and "float" not in str(x.dtype):
        return None
    if x.dtype.kind == "f" and all_finite(np, x):  # the usual answer, in chunks without a full-size mask
        return None
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(x.astype(np.float64) if x.dtype.kind not in "fc" else x)
    count = int(np.count_nonzero(bad))
    if not count:
        return None
    first = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), x.shape))
    value = float(np.asarray(x[first] if x.ndim else x, dtype=np.float64))
    return Outcome("finite", statistic=float(count), passed=False,
                   detail=f"{count} of {x.size} values are NaN or inf (first at index {first}: {value!r}); the "
                          f"distribution tests need finite values")


# --- exact and structural checks -------------------------------------------------------------------

def ulp(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The spacing of ``dtype`` at each value (float64 result; 1 for integer dtypes)."""
    if dtype.kind != "f":
        return np.ones(np.shape(values))
    return np.spacing(np.abs(np.asarray(values, dtype=dtype))).astype(np.float64)


def exact_check(values: Any, x: np.ndarray, test: str, plot: dict) -> list[Outcome]:
    """Every value equals the promised one rounded to the dtype (1 ulp allowed where that value is not representable)."""
    try:
        want = np.broadcast_to(np.asarray(values, dtype=np.float64), x.shape)
    except ValueError:
        return [Outcome(test, passed=False, detail=f"expected values of shape {np.shape(values)} do not broadcast to "
                                                   f"the parameter's shape {x.shape}")]
    got = x.astype(np.float64)
    rounded = want.astype(x.dtype).astype(np.float64)
    spacing = ulp(rounded, x.dtype)
    tol = np.where(rounded == want, 0.0, spacing)
    err = np.abs(got - want)
    bad = ~(err <= tol)
    nbad = int(bad.sum())
    worst = float(np.max(np.abs(got - rounded) / spacing)) if x.size else 0.0
    plot.update(kind="exact", values=_quantiles(got.ravel()), want=_quantiles(want.ravel()))
    if not nbad:
        return [Outcome(test, statistic=worst, passed=True, detail=f"all {x.size} values equal the expected ones")]
    first = np.unravel_index(int(np.argmax(bad)), x.shape)
    return [Outcome(test, statistic=worst, passed=False,
                    detail=f"{nbad} of {x.size} values differ; largest error {worst:.3g} ulp (first at index "
                           f"{tuple(int(i) for i in first)}: got {float(got[first])!r}, want {float(want[first])!r})")]


def orthogonal_check(expected: Orthogonal, x: np.ndarray, plot: dict) -> list[Outcome]:
    """W = reshape(x, (shape[0], -1)): W·Wᵀ = scale²·I (rows ≤ cols) or Wᵀ·W = scale²·I, to a dtype tolerance."""
    if x.ndim < 1:
        return [Outcome("orthogonal", passed=False, detail="a scalar cannot be orthogonal")]
    w = x.reshape(x.shape[0], -1).astype(np.float64)
    rows, cols = w.shape
    gram = w @ w.T if rows <= cols else w.T @ w
    s2 = float(expected.scale) ** 2
    off = gram - s2 * np.eye(gram.shape[0])
    err = float(np.max(np.abs(off))) if gram.size else 0.0
    low = lowprec.is_low(x.dtype)
    eps = float(np.finfo(np.float32 if low else x.dtype).eps) if x.dtype.kind == "f" or low else 0.0
    tol = ORTHO_FACTOR * math.sqrt(max(rows, cols)) * eps * s2
    shown = f"{ORTHO_FACTOR:g}·√{max(rows, cols)}·eps·scale²"
    if low:  # a float32 orthogonal matrix rounded to 16 bits: |ΔG| ≤ (2u + u²)·s² + the subnormals' absolute error
        e16, tiny = lowprec.eps(x.dtype), lowprec.smallest(x.dtype)
        tol += (e16 + e16 * e16 / 4) * s2 + tiny * math.sqrt(max(rows, cols) * s2) + tiny * tiny * max(rows, cols)
        shown = f"that of float32 plus the 16-bit rounding's (eps + eps²/4)·scale², eps = {e16:g}"
    which = "W·Wᵀ" if rows <= cols else "Wᵀ·W"
    np.fill_diagonal(off, 0.0)
    plot.update(kind="orthogonal", values=_quantiles(x.astype(np.float64).ravel()), which=which,
                norms=np.sqrt(np.diag(gram)), off=_quantiles(off.ravel()), scale=float(expected.scale))
    return [Outcome("orthogonal", statistic=err, passed=err <= tol,
                    detail=f"max |{which} − {expected.scale:g}²·I| = {err:.3g} (tolerance {tol:.3g} = {shown})"),
            *haar_check(w), *joint.haar_moment_check(w, float(expected.scale), bool(getattr(expected, "haar", False))),
            *([] if low else values_checks(np.ascontiguousarray(x).ravel(), None))]


def joint_checks(p: Parts, x: np.ndarray) -> list[Outcome]:
    """What i.i.d. values promise together: no autocorrelation, even spread across slices, no spectral outlier."""
    if x.size < MIN_VALUES:
        return []
    # both tests read the same rank scores: ranked once when both run on the whole array
    both = x.ndim >= 2 and joint.AUTOCORR_MIN <= x.size <= joint.AUTOCORR_MAX
    scored = joint.scores(x) if both else None
    out = joint.autocorrelation_check(x, scored) + joint.homogeneity_check(x, scored)
    if x.ndim >= 2 and vc.central_moments(p.atoms, p.continuous, 4) is not None:
        mean, var, mu4 = moments(p)
        if var > 0:
            out += joint.spectral_edge_check(x, mean, var, mu4 / var ** 2 - 3.0)
    return out


def haar_check(w: np.ndarray) -> list[Outcome]:
    """Signs of the diagonal: a Haar matrix keeps its law when any row or column changes sign, so they are fair coins.

    Given the magnitudes, the diagonal's signs are then independent and fair: z = Σ Wᵢᵢ / √(Σ Wᵢᵢ²) is
    N(0, 1) in the limit. QR without the sign fix makes every diagonal entry negative (z ≈ −0.8·√k).
    """
    d = np.diagonal(w).astype(np.float64)
    if d.size < 16:
        return []
    norm = math.sqrt(float(np.dot(d, d)))
    z = float(d.sum()) / norm if norm > 0 else 0.0
    negative = int(np.count_nonzero(d < 0))
    return [Outcome("haar", statistic=z, p_value=st.two_sided_normal(z),
                    detail=f"{negative} of {d.size} diagonal entries negative; sign-symmetry z = {z:.3g} "
                           f"(a Haar matrix is invariant under sign changes of rows and columns)")]


def embedded_check(expected: Embedded, x: np.ndarray, owner: str, plot: dict) -> list[Outcome]:
    """Values outside ``index`` equal ``rest`` exactly; the sub-array at ``index`` passes the inner checks."""
    mask = np.zeros(x.shape, dtype=bool)
    try:
        mask[expected.index] = True
    except (IndexError, TypeError, ValueError) as exc:
        raise ValidationError(f"{owner}: Embedded index {expected.index!r} does not fit shape {x.shape}: {exc}") from None
    outside = exact_check(expected.rest, x[~mask], "rest", {})
    outside[0].detail = "outside the embedded block: " + outside[0].detail
    return outside + check(expected.inner, np.ascontiguousarray(x[expected.index]), owner, plot)


def sparse_check(expected: Sparse, x: np.ndarray, owner: str, plot: dict) -> list[Outcome]:
    """Exactly ``nonzeros`` per slice, positions uniform within slices, non-zero values from ``dist``."""
    if expected.axis not in (0, 1):
        raise ValidationError(f"{owner}: Sparse axis must be 0 or 1, got {expected.axis!r}")
    w = x.reshape(x.shape[0], -1) if x.ndim else x.reshape(1, 1)
    nz = w != 0
    counts = nz.sum(axis=expected.axis)
    k, length = int(expected.nonzeros), w.shape[expected.axis]
    wrong = int(np.sum(counts != k))
    out = [Outcome("nonzeros", statistic=float(wrong), passed=not wrong,
                   detail=f"every one of {counts.size} slices has {k} non-zero values" if not wrong else
                   f"{wrong} of {counts.size} slices do not have {k} non-zero values (counts range "
                   f"{int(counts.min())}..{int(counts.max())})")]
    slices = counts.size
    p = k / length if length else 0.0
    spread = slices * p * (1 - p)
    if not wrong and 0 < k < length and spread >= 20:
        # Each slice picks a uniform k-subset: position counts have covariance spread·L/(L−1)·(I − 11ᵀ/L).
        pos = nz.sum(axis=1 - expected.axis).astype(np.float64)
        x2 = float(np.sum((pos - slices * p) ** 2)) * (length - 1) / (spread * length)
        from scipy import stats

        out.append(Outcome("positions", statistic=x2, p_value=float(stats.chi2.sf(x2, length - 1)),
                           detail=f"χ² on where the non-zeros fall ({length} positions, {slices} slices)"))
    values = x[x != 0]
    promised = parts(expected.dist, owner)
    if lowprec.is_low(x.dtype):  # 16-bit values stand for their rounding cells, as in check's distribution path
        values = lowprec.spread(values, promised)
    for o in distribution_check(promised, values, plot):
        o.detail = ("non-zero values: " + o.detail) if o.detail else "non-zero values"
        out.append(o)
    return out


# --- distributions --------------------------------------------------------------------------------

def distribution_check(p: Parts, x: np.ndarray, plot: dict) -> list[Outcome]:
    """Support, counts of atoms and components, goodness of fit of the continuous part, mean and variance."""
    flat = x.astype(np.float64).ravel()
    n = flat.size
    out: list[Outcome] = []
    p = at_precision(p, x.dtype)
    is_atom = np.zeros(n, dtype=bool)
    atom_counts = []
    for _, v in p.atoms:
        hit = flat == v
        atom_counts.append(int(hit.sum()))
        is_atom |= hit
    rest = flat[~is_atom] if p.atoms else flat
    cont = Continuous(p.continuous) if p.continuous else None

    # support: every value is an atom or inside a continuous component's support (to rounding)
    intervals = cont.intervals() if cont else []
    bounded = any(math.isfinite(a) or math.isfinite(b) for a, b in intervals)
    inside = np.zeros(rest.size, dtype=bool)
    for a, b in intervals:
        inside |= (rest >= a - _slack(a, x.dtype)) & (rest <= b + _slack(b, x.dtype))
    outside = int(rest.size - inside.sum())
    if p.atoms or bounded:
        where = " ∪ ".join(f"[{a:g}, {b:g}]" for a, b in intervals)
        atoms = ", ".join(f"{v:g}" for _, v in p.atoms)
        allowed = " or ".join(t for t in (where, f"atoms {{{atoms}}}" if atoms else "") if t)
        detail = (f"all {n} values in {allowed}" if not outside else
                  f"{outside} of {n} values outside {allowed} (min {flat.min():.6g}, max {flat.max():.6g})")
        out.append(Outcome("support", statistic=float(outside), passed=not outside, detail=detail))

    # counts: atoms and groups of non-overlapping components are cells whose weights counting can check
    groups = clusters(intervals) if intervals else []
    cells_obs = list(atom_counts)
    cells_p = [w for w, _ in p.atoms]
    for g in groups:
        lo = min(intervals[k][0] for k in g)
        hi = max(intervals[k][1] for k in g)
        cells_obs.append(int(np.sum((rest >= lo - _slack(lo, x.dtype)) & (rest <= hi + _slack(hi, x.dtype)))))
        cells_p.append(sum(p.continuous[k][0] for k in g))
    if len(cells_obs) >= 2 and n >= MIN_VALUES:
        x2, pv = st.chisquare_counts(np.array(cells_obs), np.array(cells_p))
        shown = ", ".join(f"{o / max(sum(cells_obs), 1):.4f}/{q:.4f}" for o, q in zip(cells_obs, cells_p))
        out.append(Outcome("weights", statistic=x2, p_value=pv,
                           detail=f"χ² on counts of {len(cells_obs)} cells (observed/expected fractions {shown})"))

    # goodness of fit of the continuous part; values the dtype holds coarsely stand for their rounding cells
    coarse = cont is not None and _coarse(rest, cont, x.dtype)
    if coarse:
        lo_cell, hi_cell = lowprec.float_cells(rest, x.dtype, [b for _, b in intervals if math.isfinite(b)])
        rest = lowprec.within_cells(lo_cell, hi_cell, cont)
        flat = flat.copy()
        flat[~is_atom] = rest
    if cont is not None:
        if rest.size >= MIN_VALUES:
            srt = np.sort(rest)
            (d, p_ks), (a2, p_ad) = st.ks_ad(cont.cdf(srt), cont.logcdf(srt), cont.logsf(srt))
            out.append(Outcome("ks", statistic=d, p_value=p_ks, detail=f"Kolmogorov–Smirnov on {srt.size} values"))
            out.append(Outcome("anderson-darling", statistic=a2, p_value=p_ad,
                               detail=f"Anderson–Darling A² on {srt.size} values (tail-weighted)"))
            out += vc.tails_check(srt, cont.cdf, x.dtype)
            made = x.ravel()[~is_atom] if p.atoms else x.ravel()
            out += values_checks(made, cont, None if coarse else srt, precision=not coarse)
            if coarse:
                out.append(Outcome("precision", detail=f"skipped: one {x.dtype} value holds over {COARSE_CELL:g} of "
                                                       f"the promise (the tests ran on a dither of each value's "
                                                       f"rounding cell)"))
            probs, quantiles = _quantiles(srt, sorted_=True, with_probs=True)
            plot.update(kind="distribution", quantiles=quantiles, probs=probs, continuous=cont,
                        continuous_weight=p.continuous_weight, atoms=list(p.atoms),
                        atom_fractions=[c / n for c in atom_counts], n=n)
            plot["hist"] = np.histogram(srt, bins=80, range=_plot_range(srt))
        elif rest.size >= SMALL_VALUES:  # too few for the asymptotic tests: KS, whose law is exact for any n
            srt = np.sort(rest)
            d = st.ks_statistic(cont.cdf(srt))
            out.append(Outcome("ks", statistic=d, p_value=st.ks_pvalue(d, srt.size),
                               detail=f"Kolmogorov–Smirnov on {srt.size} values (exact law; the other tests of the "
                                      f"distribution need {MIN_VALUES})"))
        else:
            out.append(Outcome("ks", passed=None, detail=f"skipped: {rest.size} continuous values, needs "
                                                          f"{SMALL_VALUES}"))
    elif p.atoms:
        plot.update(kind="atoms", atoms=list(p.atoms), atom_fractions=[c / n for c in atom_counts], n=n)

    # moments against their sampling distributions, each only where the promise has the moments it needs
    if n >= MIN_VALUES or (n >= SMALL_VALUES and p.is_normal()):  # a normal's mean and s² have exact laws
        out += moment_checks(p, flat)
    return out


def moment_checks(p: Parts, flat: np.ndarray) -> list[Outcome]:
    """Mean (needs a finite variance), variance (a finite 4th moment) and kurtosis (a finite 8th moment)."""
    n = flat.size
    finite = {k: vc.central_moments(p.atoms, p.continuous, k) is not None for k in (2, 4)}
    if not finite[2]:
        return [Outcome(t, detail=f"skipped: the promised distribution has no finite {w}") for t, w in
                (("mean", "variance"), ("variance", "4th moment"), ("kurtosis", "8th moment"))]
    mean, var, mu4 = moments(p)
    if not var > 0:
        return []
    out = []
    sample_mean = float(flat.mean())
    dev = flat - sample_mean
    ss = float(np.dot(dev, dev))
    z, pm = st.mean_test(sample_mean, mean, var, n)
    out.append(Outcome("mean", statistic=z, p_value=pm,
                       detail=f"mean {sample_mean:.6g}, expected {mean:.6g} (z = {z:.3g})"))
    if not finite[4]:
        out.append(Outcome("variance", detail="skipped: the promised distribution has no finite 4th moment "
                                              "(the sample variance has no normal law)"))
        out.append(Outcome("kurtosis", detail="skipped: the promised distribution has no finite 8th moment"))
        return out
    t, pv = st.variance_test(ss, var, mu4, n, p.is_normal())
    law = "χ²(n−1)" if p.is_normal() else "normal law of s² with the 4th moment"
    out.append(Outcome("variance", statistic=t, p_value=pv,
                       detail=f"std {math.sqrt(ss / (n - 1)):.6g}, expected {math.sqrt(var):.6g} "
                              f"(s²/σ² = {t:.4g}; {law})"))
    out += vc.kurtosis_check(flat, vc.central_moments(p.atoms, p.continuous, 8))
    return out


def values_checks(made: np.ndarray, cont: Continuous | None, srt: np.ndarray | None = None,
                  precision: bool = True) -> list[Outcome]:
    """Resolution, repeated runs and precision of the continuous values ``made`` (in memory order, own dtype);
    ``srt``: the same values sorted, when the caller has them."""
    if made.size < MIN_VALUES or made.dtype.kind != "f":
        return []
    # the bound on equal pairs is a mean over values: every k-th of them estimates it well enough
    flat = made[::max(1, made.size // 16384)].astype(np.float64)
    if cont is not None:
        lo, hi = (float(v) for v in cont.ppf(np.array([0.25, 0.75])))
        scale = (hi - lo) / 1.349 if hi > lo else float(np.std(flat))
        density = cont.pdf(flat)
    else:  # no density promised (orthogonal entries): the sample's own normal approximation bounds the spacing
        scale = float(np.std(flat))
        density = np.exp(-0.5 * ((flat - flat.mean()) / scale) ** 2) / (scale * math.sqrt(2 * math.pi)) if scale > 0 \
            else np.zeros_like(flat)
    q = vc.spacing_bound(flat, density, scale, made.dtype)
    bits = np.ascontiguousarray(made).view(np.dtype(f"u{made.dtype.itemsize}"))
    ordered = np.sort(bits) if srt is None else srt  # equal floats are equal bits (±0 aside, one pair at most)
    return vc.resolution_check(ordered, q) + vc.repeats_check(bits, q) + (
        vc.precision_check(np.ascontiguousarray(made)) if precision else [])


def at_precision(p: Parts, dtype: np.dtype) -> Parts:
    """The atoms of ``p`` rounded to ``dtype`` (0.01 in float32 is the float32 nearest 0.01), equal ones merged."""
    if dtype.kind != "f" or not p.atoms:
        return p
    merged: dict[float, float] = {}
    for w, v in p.atoms:
        r = float(np.asarray(v, dtype=dtype)) if math.isfinite(v) else v
        merged[r] = merged.get(r, 0.0) + w
    return Parts([(w, v) for v, w in merged.items()], list(p.continuous))


def stream_checks(x: np.ndarray, again: np.ndarray | None, others: dict[str, dict[str, np.ndarray]]) -> list[Outcome]:
    """Same seed and name (``again``): identical bits. ``others``: {"other-name": {what: values}, "other-seed": ...},
    the values of names differing in one dotted part and of other seeds: uncorrelated (Bonferroni over each group)."""
    out = []
    if again is not None:
        if x.shape != again.shape or x.dtype != again.dtype:
            same, ndiff = False, x.size
        else:
            bits = np.dtype(f"u{x.dtype.itemsize}")
            ndiff = int(np.count_nonzero(x.reshape(-1).view(bits) != again.reshape(-1).view(bits)))
            same = ndiff == 0
        out.append(Outcome("reproducible", statistic=float(ndiff), passed=same,
                           detail="same seed and name gave identical bits" if same else
                           f"same seed and name gave {ndiff} different values"))
    if x.size < MIN_VALUES:
        return out
    flat = x.astype(np.float64).ravel()
    for test, group in others.items():
        if not group:
            continue
        found = {what: st.product_test(flat, y.astype(np.float64).ravel()) for what, y in group.items()}
        worst = min(found, key=lambda k: found[k][1])
        r, p = found[worst]
        out.append(Outcome(test, statistic=r, p_value=min(1.0, len(found) * p),
                           detail=f"correlation with the values of {len(found)} other streams, worst {worst}: "
                                  f"r = {r:.3g} (Bonferroni)"))
    return out


def lag1_check(x: np.ndarray) -> list[Outcome]:
    """Neighbouring values in memory order are uncorrelated."""
    if x.size < MIN_VALUES:
        return []
    r1, p1 = st.lag1_test(x.astype(np.float64).ravel())
    return [Outcome("lag-1", statistic=r1, p_value=p1, detail=f"lag-1 autocorrelation r₁ = {r1:.3g}")]


# --- helpers --------------------------------------------------------------------------------------

def _coarse(rest: np.ndarray, cont: Continuous, dtype: np.dtype) -> bool:
    """Whether one float32 value holds over COARSE_CELL of the promise (N(1, 10⁻¹²) in float32), judged on every
    k-th value: then the distribution tests' grid is the dtype's, not the generator's. (A float64 dither could not
    resolve a float64 cell.)"""
    if dtype != np.float32 or not rest.size:
        return False
    lo, hi = lowprec.float_cells(rest[::max(1, rest.size // 16384)], dtype)
    return bool(np.max(cont.cdf(hi) - cont.cdf(lo)) > COARSE_CELL)


def _slack(bound: float, dtype: np.dtype) -> float:
    if not math.isfinite(bound) or dtype.kind != "f":
        return 0.0
    return SUPPORT_ULPS * float(np.spacing(np.abs(np.asarray(bound, dtype=dtype))))


def _quantiles(values: np.ndarray, sorted_: bool = False, k: int = 1001, with_probs: bool = False) -> Any:
    """About ``k`` order statistics (and their plotting positions (i + ½)/n) for a Q–Q plot."""
    srt = values if sorted_ else np.sort(values)
    idx = np.linspace(0, max(srt.size - 1, 0), min(k, srt.size)).round().astype(np.int64)
    picked = srt[idx].copy()
    return ((idx + 0.5) / max(srt.size, 1), picked) if with_probs else picked


def _plot_range(srt: np.ndarray) -> tuple[float, float]:
    finite = srt[np.isfinite(srt)]  # a histogram's range must be finite
    if not finite.size:
        return -0.5, 0.5
    lo, hi = float(finite[0]), float(finite[-1])
    if hi > lo and hi - lo > 1e3 * float(np.spacing(max(abs(lo), abs(hi)))):
        return lo, hi
    # a range of a few ulp (N(1e9, 1e-14) in float64) has no 80 distinct bin edges: widen it around its middle
    half = max(0.5 * (hi - lo), 1e3 * float(np.spacing(max(abs(lo), abs(hi)))), 0.5 if hi == lo == 0 else 0.0)
    mid = lo + 0.5 * (hi - lo)
    return mid - half, mid + half


__all__ = ["Outcome", "check", "finite_check", "is_random", "joint_checks", "stream_checks", "lag1_check", "haar_check", "values_checks",
           "moment_checks", "at_precision", "MIN_VALUES", "SMALL_VALUES"]
