"""Inert placeholders for the torchvision names timm imports but the model tests never use."""

from __future__ import annotations


class _Inert(type):
    """A placeholder class: subclassable, its attributes are placeholders too (``InterpolationMode.BILINEAR``)."""

    def __getattr__(cls, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return placeholder(f"{cls.__qualname__}.{attr}")

    def __repr__(cls):
        return f"<torchvision stand-in {cls.__qualname__}>"


def _refuse(self, *args, **kwargs):
    raise RuntimeError(f"{type(self).__qualname__} is a test stand-in for torchvision (tests/torch/timm_shim): "
                       "install a torchvision build that matches your torch to use timm's data pipeline")


def placeholder(qualname: str) -> type:
    """A class named ``qualname`` that raises a clear error when called."""
    return _Inert(qualname.rsplit(".", 1)[-1], (), {"__qualname__": qualname, "__init__": _refuse})


def module_getattr(module: str):
    """A module ``__getattr__`` that hands out a placeholder for any public name."""
    def __getattr__(attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return placeholder(f"{module}.{attr}")
    return __getattr__
