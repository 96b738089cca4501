"""The contract every framework adapter (initreg.torch, initreg.jax, initreg.keras) keeps, as a ``typing.Protocol``.

An adapter module has ``plan(model, init=None, *, seed=None, strict=False, default=None, vars=None, only=None,
name_map=None, ...)`` returning the :class:`~initreg.planning.explanation.Explanation` and ``initialize`` with the
same keywords filling the model and returning the same table; ``...`` is the framework's own keywords
(``device=``, ``declared=``, ``layout=``, ``sep=``). See docs/adapters.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .planning.explanation import Explanation

#: the keyword-only parameters (and their defaults) every adapter's plan and initialize take
KEYWORDS = {"seed": None, "strict": False, "default": None, "vars": None, "only": None, "name_map": None}


@runtime_checkable
class Adapter(Protocol):
    """A framework adapter: a module (or object) with ``plan`` and ``initialize`` of these signatures."""

    def plan(self, model: Any, init: Any = None, *, seed: int | None = None, strict: bool = False,
             default: Any = None, vars: Any = None, only: Any = None, name_map: Any = None) -> Explanation:
        """The table of what initialize would give each parameter of ``model``, and why; nothing is drawn."""
        ...

    def initialize(self, model: Any, init: Any = None, *, seed: int | None = None, strict: bool = False,
                   default: Any = None, vars: Any = None, only: Any = None, name_map: Any = None) -> Explanation:
        """Fill every parameter of ``model`` (all of them or, on any error, none) and return the table."""
        ...
