"""The public path of the promise types (``Exact``, ``Atom``, ``Mixture``, ...) that ``expected(desc)`` returns.

They are defined in ``initreg.core.expected``, beside the Initializer that promises them; plugin authors
import them from here.
"""

from ..core.expected import *  # noqa: F401,F403 - re-exported for plugin authors
from ..core.expected import __all__  # noqa: F401
