"""python -m initreg runs the initreg command."""
import sys

from .cli import main

sys.exit(main())
