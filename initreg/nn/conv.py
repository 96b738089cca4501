"""Conv2D on NCHW inputs: strided windows (im2col as a view) contracted with the kernel by tensordot."""

from __future__ import annotations

from typing import Any

from ..errors import ShapeError
from .activations import get as get_activation
from .block import Block, Grads, as_input, check_pair, check_size, on_device, shape_of


def windows(xp: Any, x: Any, kernel: tuple[int, int], strides: tuple[int, int]) -> Any:
    """A read-only view (N, C, Ho, Wo, kh, kw) of every kernel window of ``x`` (N, C, H, W)."""
    kh, kw = kernel
    sh, sw = strides
    view = getattr(xp.lib.stride_tricks, "sliding_window_view", None)
    if view is not None:
        return view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    n, c, h, w = x.shape  # CuPy without sliding_window_view: the same view through as_strided
    s = x.strides
    shape = (n, c, (h - kh) // sh + 1, (w - kw) // sw + 1, kh, kw)
    return xp.lib.stride_tricks.as_strided(x, shape=shape, strides=(s[0], s[1], s[2] * sh, s[3] * sw, s[2], s[3]))


class Conv2D(Block):
    """2-D convolution with weight (channels, in_channels, kh, kw) on NCHW input; in_channels inferred if None."""

    def __init__(self, channels: int, kernel_size: Any, strides: Any = 1, padding: Any = 0,
                 in_channels: int | None = None, activation: str | None = None, use_bias: bool = True,
                 weight_initializer: Any = None, bias_initializer: Any = "zeros", dtype: Any = "float32",
                 params: Any = None):
        super().__init__()
        self.channels = check_size("Conv2D", "channels", channels)
        self.kernel_size = check_pair("Conv2D", "kernel_size", kernel_size)
        self.strides = check_pair("Conv2D", "strides", strides)
        self.padding = check_pair("Conv2D", "padding", padding, zero_ok=True)
        in_channels = check_size("Conv2D", "in_channels", in_channels, none_ok=True)
        self.act = get_activation(activation, "Conv2D")
        self._declare("weight", (self.channels, in_channels, *self.kernel_size), dtype, weight_initializer, params)
        if use_bias:
            self._declare("bias", (self.channels,), dtype, bias_initializer, params)
        else:
            self.bias = None

    def infer_shape(self, x: Any) -> None:
        shape = shape_of(x)
        if len(shape) != 4:
            raise ShapeError(f"{self._where()}: cannot infer in_channels from an input of shape {shape}; Conv2D "
                             f"expects (batch, channels, height, width)")
        for axis, size, k, p in (("height", shape[2], self.kernel_size[0], self.padding[0]),
                                 ("width", shape[3], self.kernel_size[1], self.padding[1])):
            if size + 2 * p < k:
                raise ShapeError(f"{self._where()}: input {axis} {size} with padding {p} is smaller than the kernel "
                                 f"({k}); use a larger input or more padding")
        known = self.weight.shape[1]
        if known is not None and known != shape[1]:
            raise ShapeError(f"{self._where()}: the input of shape {shape} has {shape[1]} channels but in_channels is "
                             f"{known} (weight {self.weight.name!r} has shape {self.weight.shape})")
        shapes = {"weight": (self.channels, shape[1], *self.kernel_size)}
        if self.bias is not None:
            shapes["bias"] = (self.channels,)
        self._complete(shapes, f"an input of shape {shape}")

    def forward(self, x: Any) -> Any:
        dev = self._place(x)
        w = self.weight.data(dev)
        xp = dev.xp
        with on_device(dev):
            x = as_input(x, dev, w.dtype)
            ph, pw = self.padding
            xpad = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
            cols = windows(xp, xpad, self.kernel_size, self.strides)
            y = xp.ascontiguousarray(xp.tensordot(cols, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2))
            if self.bias is not None:
                y += self.bias.data(dev).reshape(1, -1, 1, 1)
            if self.act is not None:
                y = self.act.forward(y)
        self._record(dev, x.shape, xpad, y)
        return y

    def vjp(self, dy: Any, grads: Grads) -> Any:
        dev, x_shape, xpad, y = self._recall()
        w = self.weight.data(dev)
        xp = dev.xp
        with on_device(dev):
            dy = as_input(dy, dev, y.dtype)
            if self.act is not None:
                dy = self.act.backward(dy, y)
            if grads.wants(self.weight):
                cols = windows(xp, xpad, self.kernel_size, self.strides)
                grads.add(self.weight, dev, xp.tensordot(dy, cols, axes=([0, 2, 3], [0, 2, 3])))
            if grads.wants(self.bias):
                grads.add(self.bias, dev, dy.sum(axis=(0, 2, 3)))
            # d(windows) (N, C, kh, kw, Ho, Wo), then each kernel offset adds its strided slab back into the input
            dcols = xp.tensordot(w, dy, axes=([0], [1])).transpose(3, 0, 1, 2, 4, 5)
            dxpad = xp.zeros(xpad.shape, dtype=dcols.dtype)
            (kh, kw), (sh, sw) = self.kernel_size, self.strides
            ho, wo = dy.shape[2], dy.shape[3]
            for i in range(kh):
                for j in range(kw):
                    dxpad[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw] += dcols[:, :, i, j]
            ph, pw = self.padding
            return dxpad[:, :, ph:ph + x_shape[2], pw:pw + x_shape[3]]

    def _describe(self) -> str:
        return (f"{self.weight.shape[1]} -> {self.channels}, kernel_size={self.kernel_size}, strides={self.strides}"
                f"{f', padding={self.padding}' if any(self.padding) else ''}"
                f"{f', {self.act.name}' if self.act else ''}")
