"""Key checks: the names of a run key independent streams (no collisions between many names, none between
names that differ only by '.'/'_', case or Unicode normalization)."""

from __future__ import annotations

import math
import unicodedata
from typing import Callable

import numpy as np

from . import stats as st
from .outcome import Outcome

#: how many names the birthday test draws (a key of b bits collides K²/2^(b+1) times: 8 expected at 16 bits)
BIRTHDAY_NAMES = 1024
#: values compared per name (the start of its stream)
BIRTHDAY_VALUES = 16
#: a name's values count only when they hold this many distinct values (atoms and zeros say nothing)
DISTINCT_MIN = 8
#: the chance that two correct continuous values coincide is below this (see ``resolution``)
COINCIDENCE = 2.0 ** -20


def confusable_names(name: str) -> list[tuple[str, str, str]]:
    """(what, a, b): names that differ only by '.' and '_', by case, or by Unicode normalization (NFC, NFD)."""
    composed = name + ".caf\u00e9"
    pairs = [("'.' vs '_'", name, name.replace(".", "_")), ("case", name, name.upper()),
             ("NFC vs NFD", composed, unicodedata.normalize("NFD", composed))]
    return [(what, a, b) for what, a, b in pairs if a != b]


def confusable_check(fill: Callable[[str], np.ndarray], name: str) -> list[Outcome]:
    """The values of each confusable pair of names are uncorrelated (studentized cross product, Bonferroni)."""
    found = {}
    for what, a, b in confusable_names(name):
        x, y = fill(a), fill(b)
        if x.size < 1000:
            return []
        found[f"{what} ({a!r}, {b!r})"] = st.product_test(x.astype(np.float64).ravel(), y.astype(np.float64).ravel())
    if not found:
        return []
    worst = min(found, key=lambda k: found[k][1])
    r, p = found[worst]
    return [Outcome("confusable-names", statistic=r, p_value=min(1.0, len(found) * p),
                    detail=f"correlation of the values of {len(found)} pairs of names that differ only by '.'/'_', "
                           f"case or Unicode normalization, worst {worst}: r = {r:.3g} (Bonferroni)")]


def birthday_check(draw: Callable[[str], np.ndarray], names: list[str], per_value: float = COINCIDENCE) -> list[Outcome]:
    """No two of many names start their streams with the same values: a key hashed to 16 or 24 bits collides.

    ``draw(name)``: a small array of that name. ``per_value``: a bound on the chance that two correct values are
    equal (``COINCIDENCE``, or the promised atoms' Σw² when larger). Two names whose first BIRTHDAY_VALUES
    values (DISTINCT_MIN of them distinct) match are a collision; the null count is Poisson with mean
    C(k, 2)·per_value^DISTINCT_MIN.
    """
    from scipy import stats

    seen: dict[bytes, str] = {}
    informative, found, first = 0, 0, None
    for name in names:
        v = np.ascontiguousarray(draw(name)).ravel()[:BIRTHDAY_VALUES]
        if np.unique(v).size < DISTINCT_MIN:
            continue
        informative += 1
        key = v.tobytes()
        if key in seen:
            found += 1
            first = first or (seen[key], name)
        else:
            seen[key] = name
    if informative < len(names) // 2:
        return [Outcome("key-collisions", detail=f"skipped: only {informative} of {len(names)} small arrays hold "
                                                 f"{DISTINCT_MIN} distinct values")]
    lam = math.comb(informative, 2) * max(per_value, COINCIDENCE) ** DISTINCT_MIN
    p = float(stats.poisson.sf(found - 1, lam)) if found else 1.0
    example = f"; first {first[0]!r} and {first[1]!r}" if first else ""
    return [Outcome("key-collisions", statistic=float(found), p_value=p,
                    detail=f"{found} of {informative} names start with the same {BIRTHDAY_VALUES} values as an earlier "
                           f"name (at most {lam:.2g} expected){example}: a short key (16 bits collide ~8 times here)")]


__all__ = ["confusable_names", "confusable_check", "birthday_check", "BIRTHDAY_NAMES"]
