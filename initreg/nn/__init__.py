"""Layers whose parameter shapes are completed by the first batch: Block, Sequential, Dense, Conv2D, BatchNorm."""

from __future__ import annotations

from .activations import (ACTIVATIONS, ELU, GELU, SELU, Activation, LeakyReLU, PReLU, Swish, elu, gelu, leaky_relu,
                          log_sigmoid, mish, relu, selu, sigmoid, softrelu, softsign, swish, tanh)
from .basic_layers import Dense
from .block import Block, Grads, Sequential
from .conv import Conv2D
from .norm import BatchNorm

__all__ = ["ACTIVATIONS", "Activation", "BatchNorm", "Block", "Conv2D", "Dense", "ELU", "GELU", "Grads", "LeakyReLU",
           "PReLU", "SELU", "Sequential", "Swish", "elu", "gelu", "leaky_relu", "log_sigmoid", "mish", "relu", "selu",
           "sigmoid", "softrelu", "softsign", "swish", "tanh"]
