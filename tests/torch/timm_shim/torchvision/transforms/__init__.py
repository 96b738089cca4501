"""torchvision.transforms stand-in: every name is an inert placeholder."""

from .._stand_in import module_getattr

__getattr__ = module_getattr("torchvision.transforms")
