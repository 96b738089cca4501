"""Layers whose parameter shapes are completed by the first batch: Block, Sequential, Dense, Conv2D, BatchNorm."""

from __future__ import annotations

from .activations import Activation, relu, sigmoid, tanh
from .basic_layers import Dense
from .block import Block, Grads, Sequential
from .conv import Conv2D
from .norm import BatchNorm

__all__ = ["Activation", "BatchNorm", "Block", "Conv2D", "Dense", "Grads", "Sequential", "relu", "sigmoid", "tanh"]
