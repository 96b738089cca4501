"""Outcome: one test's result, as every check module returns it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Outcome:
    """One test's result: a p-value for statistical tests, ``passed`` for exact and structural checks."""

    test: str
    statistic: float | None = None
    p_value: float | None = None
    passed: bool | None = None
    detail: str = ""
    z: float | None = None  # signed normal score, for tests whose evidence is pooled across cases
