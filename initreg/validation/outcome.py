"""Outcome: one test's result, as every check module returns it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass
class Outcome:
    """One test's result: a p-value for statistical tests, ``passed`` for exact and structural checks."""

    test: str
    statistic: float | None = None
    p_value: float | None = None
    passed: bool | None = None
    detail: str = ""
    z: float | None = None  # signed normal score, for tests whose evidence is pooled across cases


def worst(test: str, ps: list[float], shown: list[str], detail: Callable[[str, int], str]) -> list[Outcome]:
    """One Outcome for the smallest of ``ps``, Bonferroni over all of them; ``detail(its shown text, len(ps))``."""
    if not ps:
        return []
    k = min(range(len(ps)), key=ps.__getitem__)
    return [Outcome(test, statistic=float(ps[k]), p_value=min(1.0, len(ps) * ps[k]), detail=detail(shown[k], len(ps)))]
