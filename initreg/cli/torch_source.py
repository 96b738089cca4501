"""``--torch PKG.MODULE:FACTORY`` for ``initreg init`` and ``explain``: a PyTorch model built on the meta device, planned.

The factory (a function or an ``nn.Module`` class, called with no arguments) runs under
``torch.device("meta")``, so no storage is allocated and PyTorch's own initialization draws nothing; the plan
uses the module's real ``named_parameters()`` names, the initializers its modules declare, and its ties
(a tied tensor is one row, its other names listed as ``aliases``), exactly as ``initreg.torch`` plans them.
While the factory runs, PyTorch's init functions and in-place random fills on meta tensors return at once:
on meta they compute nothing, and the first meta ``normal_`` alone imports torch._dynamo and sympy
(1.5 s of CPU).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from typing import Any, Callable

from ..errors import FactoryError, MissingDependencyError

# in-place tensor methods that only write values (never shape or strides): skipped on meta tensors
VALUE_OPS = frozenset({"normal_", "uniform_", "fill_", "zero_", "random_", "exponential_", "bernoulli_", "cauchy_",
                       "log_normal_", "geometric_"})

# dtypes a checkpoint row may have: what initreg draws (bfloat16: float32 rounded to nearest even, .safetensors only)
WRITABLE_DTYPES = ("float16", "float32", "float64", "bfloat16")


def load_factory(target: str) -> Callable[[], Any]:
    """The callable that ``"pkg.module:factory"`` (attribute path after the colon may be dotted) names."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise FactoryError(f"--torch {target!r}: expected PKG.MODULE:FACTORY, e.g. 'mymodels.gpt:small' "
                           f"(a module path, a colon, and a function or nn.Module class that takes no arguments)")
    if os.getcwd() not in sys.path and "" not in sys.path:  # like `python -m`: models in the current directory
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise FactoryError(f"--torch {target!r}: cannot import {module_name!r} ({exc}); run from the directory that "
                           f"holds it, add that directory to PYTHONPATH, or install its package") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise FactoryError(f"--torch {target!r}: module {module_name!r} has no attribute {attr!r}; name a function "
                               f"or nn.Module class defined there") from None
    if not callable(obj):
        raise FactoryError(f"--torch {target!r}: {attr!r} is a {type(obj).__name__}, not callable; name a function "
                           f"or nn.Module class that takes no arguments")
    return obj


def build_meta(target: str) -> Any:
    """The ``torch.nn.Module`` that the factory ``target`` builds, under ``torch.device("meta")``."""
    return build_module(target, meta=True)


def build_module(target: str, *, meta: bool) -> Any:
    """The ``torch.nn.Module`` that the factory ``target`` builds: on the meta device, or for real."""
    try:
        import torch
    except ImportError as exc:
        raise MissingDependencyError("--torch needs PyTorch; install it with: pip install 'initreg[torch]'") from exc
    factory = load_factory(target)
    context = contextlib.ExitStack()
    if meta:
        context.enter_context(torch.device("meta"))
        context.enter_context(skip_meta_init())
    try:
        with context:
            module = factory()
    except Exception as exc:
        raise FactoryError(f"--torch {target!r}: calling the factory failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(module, torch.nn.Module):
        raise FactoryError(f"--torch {target!r}: the factory returned a {type(module).__name__}, not a "
                           f"torch.nn.Module; return the model itself")
    return module


def skip_meta_init() -> Any:
    """A torch function mode under which torch.nn.init functions and VALUE_OPS on meta tensors do nothing."""
    import torch
    from torch.overrides import TorchFunctionMode

    class SkipMetaInit(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            kwargs = kwargs or {}
            target = args[0] if args else kwargs.get("tensor", kwargs.get("self"))  # nn.init passes tensor=
            if (isinstance(target, torch.Tensor) and target.is_meta
                    and (getattr(func, "__module__", "") == "torch.nn.init" or getattr(func, "__name__", "") in VALUE_OPS)):
                return target
            return func(*args, **kwargs)

    return SkipMetaInit()


def default_planner() -> Callable[..., Any]:
    """``initreg.torch.plan_module``: the adapter's planner (names, declared initializers, ties)."""
    from .. import torch as adapter  # imports torch: only for --torch

    return adapter.plan_module


def plan_torch(target: str, rules: Any, seed: int | None, planner: Callable[..., Any] | None = None,
               **options: Any) -> Any:
    """The Explanation of the model that ``target`` builds on meta: one row per tensor, aliases for its ties.

    ``options``: initreg.plan's ``vars=`` and ``only=``."""
    module = build_meta(target)
    return (planner or default_planner())(module, rules, seed=seed, **options)


def check_writable(table: Any, target: str) -> None:
    """Refuse, before anything is written, rows whose dtype initreg init cannot write."""
    bad = [f"{r.name} ({r.dtype})" for r in table if str(r.dtype) not in WRITABLE_DTYPES]
    if bad:
        raise FactoryError(f"--torch {target!r}: parameter(s) {', '.join(bad[:5])} have a dtype initreg init cannot "
                           f"write ({', '.join(WRITABLE_DTYPES)} only); build the model in float32 and cast it "
                           f"after loading the checkpoint")


def checkpoint_dtype(text: str) -> str:
    """The dtype ``--dtype TEXT`` names: ``"bfloat16"`` (which NumPy lacks), else a NumPy dtype's name (DTypeError)."""
    from ..core.shapes import check_dtype

    if str(text).lower() in ("bfloat16", "bf16"):
        return "bfloat16"
    return str(check_dtype(text, "--dtype"))


def check_npz(table: Any, output: Any) -> None:
    """Refuse bfloat16 rows for an .npz output before anything is written: NumPy (and so .npz) has no bfloat16."""
    from ..errors import DTypeError

    bf16 = [r.name for r in table if str(r.dtype) == "bfloat16"]
    if bf16:
        raise DTypeError(f"{str(output)!r}: parameter(s) {', '.join(map(repr, bf16[:5]))} are bfloat16, which .npz "
                         f"cannot hold (NumPy has no bfloat16); write .safetensors (-o model.safetensors), or pass "
                         f"--dtype float32")
