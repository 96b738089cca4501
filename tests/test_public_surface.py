"""What `from initreg import *` and type checkers see: the lazily loaded names too, without the frameworks."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import initreg

LAZY_PUBLIC = {"values", "create", "Rules", "plan", "explain", "Entry", "available", "check", "check_forward", "check_widths", "validate",
               "verify"}


def test_star_import_gives_the_lazy_names_and_no_framework():
    code = ("import sys\nfrom initreg import *\n"
            "print(sorted(n for n in %r if n not in globals()))\n"
            "print(sorted(m for m in ('torch', 'jax', 'keras', 'dask') if m in sys.modules))" % (sorted(LAZY_PUBLIC),))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.splitlines() == ["[]", "[]"]


def test_every_public_name_resolves_and_type_checkers_see_the_lazy_ones():
    for name in initreg.__all__:
        assert getattr(initreg, name) is not None, name
    source = Path(initreg.__file__).read_text(encoding="utf-8")
    checked = {alias.asname or alias.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.If)
               and getattr(node.test, "id", None) == "TYPE_CHECKING"
               for sub in node.body if isinstance(sub, ast.ImportFrom) for alias in sub.names}
    lazy = set(initreg._LAZY)  # noqa: SLF001 - the facade's own table
    assert lazy <= checked, f"lazy names type checkers cannot see: {sorted(lazy - checked)}"


def test_the_package_is_marked_typed():
    assert (Path(initreg.__file__).parent / "py.typed").is_file()


def test_every_adapter_declares_its_public_names_and_each_resolves():
    import importlib

    for module in ("initreg.torch", "initreg.jax", "initreg.keras", "initreg.dask"):
        mod = importlib.import_module(module)
        assert mod.__all__ and all(getattr(mod, name, None) is not None for name in mod.__all__), module
        assert "Iterator" not in mod.__all__ and "Any" not in mod.__all__, module
