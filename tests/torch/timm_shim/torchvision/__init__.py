"""A test stand-in for torchvision: what timm imports, no more (see ../README.md)."""

__version__ = "0.0+initreg.stand.in"
STAND_IN = True
