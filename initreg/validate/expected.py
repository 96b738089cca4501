"""Transitional alias of initreg.validation.expected (import from there)."""

from ..validation.expected import *  # noqa: F401,F403
from ..validation.expected import Atom, Exact, Mixture, Orthogonal  # noqa: F401
