"""Shipped recipes by name: ``"recipe:NAME"`` is the rule file ``initreg/recipes/NAME.toml`` (read as data)."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from ..errors import RuleError

#: where the shipped rule files lie; initreg.recipes documents and lists them
RECIPE_DIR = Path(__file__).resolve().parent.parent / "recipes"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")


def recipe_names() -> list[str]:
    """The names of the shipped recipes, sorted."""
    return sorted(p.stem for p in RECIPE_DIR.glob("*.toml"))


def recipe_path(name: str) -> Path:
    """The rule file of recipe ``name``; RuleError naming the shipped recipes when there is none."""
    if not isinstance(name, str) or not _NAME.match(name) or not (RECIPE_DIR / f"{name}.toml").is_file():
        from ..errors import did_you_mean

        names = recipe_names()
        raise RuleError(f"no recipe named {name!r}{did_you_mean(str(name), names)}; the shipped recipes are "
                        f"{', '.join(names) or 'none'} (write 'recipe:NAME')")
    return RECIPE_DIR / f"{name}.toml"


@functools.lru_cache(maxsize=64)
def load_recipe(name: str) -> Any:
    """The Rules of recipe ``name`` (read once; Rules are immutable)."""
    from .rules import Rules

    return Rules.load(recipe_path(name))
