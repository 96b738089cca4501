"""Shipped recipes: rule files read from a library's own init code, usable as ``"recipe:NAME"`` wherever rules are.

Each is a TOML rule file in this folder whose ``[about]`` table names the library, the version it was read from
and the function; its ``[vars]`` are the model-config values it reads (override them with ``vars=``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..planning.recipe_files import load_recipe, recipe_names, recipe_path


def names() -> list[str]:
    """The names of the shipped recipes."""
    return recipe_names()


def load(name: str) -> Any:
    """The Rules of recipe ``name`` (what ``"recipe:NAME"`` stands for)."""
    return load_recipe(name)


def path(name: str) -> Path:
    """The rule file of recipe ``name``."""
    return recipe_path(name)


def about(name: str) -> dict[str, str]:
    """Where recipe ``name`` was read from: library, version, source."""
    return load_recipe(name).about
