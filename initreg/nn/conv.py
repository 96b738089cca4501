"""Conv2D on NCHW or NHWC inputs: strided, dilated windows (im2col as a view) contracted with the kernel by tensordot."""

from __future__ import annotations

from typing import Any

from ..core.device import on_device
from ..errors import LayerError, ShapeError
from .activations import get as get_activation
from .block import Block, Grads, as_input, check_pair, check_size, shape_of


LAYOUTS = ("NCHW", "NHWC")


def windows(xp: Any, x: Any, kernel: tuple[int, int], strides: tuple[int, int],
            dilation: tuple[int, int] = (1, 1)) -> Any:
    """A read-only view (N, C, Ho, Wo, kh, kw) of every (dilated) kernel window of ``x`` (N, C, H, W)."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilation
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1  # the span a dilated kernel covers
    view = getattr(xp.lib.stride_tricks, "sliding_window_view", None)
    if view is not None:
        return view(x, (eh, ew), axis=(2, 3))[:, :, ::sh, ::sw, ::dh, ::dw]
    n, c, h, w = x.shape  # CuPy without sliding_window_view: the same view through as_strided
    s = x.strides
    shape = (n, c, (h - eh) // sh + 1, (w - ew) // sw + 1, kh, kw)
    return xp.lib.stride_tricks.as_strided(x, shape=shape, strides=(s[0], s[1], s[2] * sh, s[3] * sw, s[2] * dh,
                                                                    s[3] * dw))


class Conv2D(Block):
    """2-D convolution with weight (channels, in_channels / groups, kh, kw); in_channels inferred if None.

    ``layout="NCHW"`` (default) or ``"NHWC"`` names the input's axes (the weight keeps its (out, in, kh, kw)
    order either way); ``dilation`` spaces the kernel taps; ``groups`` splits the channels into independent
    convolutions (``groups=in_channels`` is a depthwise convolution).
    """

    def __init__(self, channels: int, kernel_size: Any, strides: Any = 1, padding: Any = 0, dilation: Any = 1,
                 groups: int = 1, layout: str = "NCHW", in_channels: int | None = None,
                 activation: str | None = None, use_bias: bool = True, weight_initializer: Any = None,
                 bias_initializer: Any = "zeros", dtype: Any = "float32", params: Any = None):
        super().__init__()
        self.channels = check_size("Conv2D", "channels", channels)
        self.kernel_size = check_pair("Conv2D", "kernel_size", kernel_size)
        self.strides = check_pair("Conv2D", "strides", strides)
        self.padding = check_pair("Conv2D", "padding", padding, zero_ok=True)
        self.dilation = check_pair("Conv2D", "dilation", dilation)
        self.groups = check_size("Conv2D", "groups", groups)
        if layout not in LAYOUTS:
            raise LayerError(f"Conv2D: layout must be 'NCHW' or 'NHWC', got {layout!r}")
        self.layout = layout
        in_channels = check_size("Conv2D", "in_channels", in_channels, none_ok=True)
        for arg, n in (("channels", self.channels), ("in_channels", in_channels)):
            if n is not None and n % self.groups:
                raise LayerError(f"Conv2D: {arg}={n} is not divisible by groups={self.groups}; each group needs "
                                 f"the same number of channels")
        self.act = get_activation(activation, "Conv2D")
        per_group = None if in_channels is None else in_channels // self.groups
        self._declare([("weight", (self.channels, per_group, *self.kernel_size), dtype, weight_initializer, "write")]
                      + ([("bias", (self.channels,), dtype, bias_initializer, "write")] if use_bias else []), params)
        if not use_bias:
            self.bias = None

    def _nchw(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return (shape[0], shape[3], shape[1], shape[2]) if self.layout == "NHWC" else shape

    def infer_shape(self, x: Any) -> None:
        shape = shape_of(x)
        if len(shape) != 4:
            axes = "(batch, height, width, channels)" if self.layout == "NHWC" else "(batch, channels, height, width)"
            raise ShapeError(f"{self._where()}: cannot infer in_channels from an input of shape {shape}; Conv2D "
                             f"expects {axes}")
        n, c, h, w = self._nchw(shape)
        for axis, size, k, p, d in (("height", h, self.kernel_size[0], self.padding[0], self.dilation[0]),
                                    ("width", w, self.kernel_size[1], self.padding[1], self.dilation[1])):
            span = d * (k - 1) + 1
            if size + 2 * p < span:
                raise ShapeError(f"{self._where()}: input {axis} {size} with padding {p} is smaller than the kernel "
                                 f"({k}{f', dilated to {span}' if d > 1 else ''}); use a larger input or more padding")
        if c % self.groups:
            raise ShapeError(f"{self._where()}: the input of shape {shape} has {c} channels, not divisible by "
                             f"groups={self.groups}")
        known = self.weight.shape[1]
        if known is not None and known * self.groups != c:
            raise ShapeError(f"{self._where()}: the input of shape {shape} has {c} channels but in_channels is "
                             f"{known * self.groups} (weight {self.weight.name!r} has shape {self.weight.shape})")
        self._complete_layer((self.channels, c // self.groups, *self.kernel_size), self.channels, shape)

    def _to_nchw(self, a: Any) -> Any:
        """A batch in the computing layout (NCHW) from the layer's own."""
        return a.transpose(0, 3, 1, 2) if self.layout == "NHWC" else a

    def _own_layout(self, a: Any) -> Any:
        """A batch in the layer's own layout from the computing one (NCHW)."""
        return a.transpose(0, 2, 3, 1) if self.layout == "NHWC" else a

    def forward(self, x: Any) -> Any:
        dev = self._place(x)
        w = self.weight.data(dev)
        xp = dev.xp
        with on_device(dev):
            x = self._to_nchw(as_input(x, dev, w.dtype))
            ph, pw = self.padding
            xpad = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
            cols = windows(xp, xpad, self.kernel_size, self.strides, self.dilation)
            g = self.groups
            if g == 1:
                z = xp.ascontiguousarray(xp.tensordot(cols, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2))
            else:
                cig, cog = w.shape[1], self.channels // g
                z = xp.empty((x.shape[0], self.channels) + cols.shape[2:4], dtype=w.dtype)
                for k in range(g):
                    z[:, k * cog:(k + 1) * cog] = xp.tensordot(cols[:, k * cig:(k + 1) * cig], w[k * cog:(k + 1) * cog],
                                                               axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)
            if self.bias is not None:
                z += self.bias.data(dev).reshape(1, -1, 1, 1)
            y = z if self.act is None else self.act.forward(z)
        self._record(dev, x.shape, xpad, z if self.act is not None and self.act.uses_input else None, y)
        return self._own_layout(y)

    def vjp(self, dy: Any, grads: Grads) -> Any:
        dev, x_shape, xpad, z, y = self._recall()
        w = self.weight.data(dev)
        xp = dev.xp
        with on_device(dev):
            dy = self._to_nchw(as_input(dy, dev, y.dtype))
            if self.act is not None:
                dy = self.act.backward(dy, z, y)
            g, cig, cog = self.groups, w.shape[1], self.channels // self.groups
            cols = windows(xp, xpad, self.kernel_size, self.strides, self.dilation) if grads.wants(self.weight) else None
            if grads.wants(self.bias):
                grads.add(self.bias, dev, dy.sum(axis=(0, 2, 3)))
            dxpad = xp.zeros(xpad.shape, dtype=dy.dtype)
            (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.strides, self.dilation
            ho, wo = dy.shape[2], dy.shape[3]
            dw_parts = []
            for k in range(g):
                o, i = slice(k * cog, (k + 1) * cog), slice(k * cig, (k + 1) * cig)
                if cols is not None:
                    dw_parts.append(xp.tensordot(dy[:, o], cols[:, i], axes=([0, 2, 3], [0, 2, 3])))
                # d(windows) (N, C, kh, kw, Ho, Wo), then each kernel tap adds its strided slab back into the input
                dcols = xp.tensordot(w[o], dy[:, o], axes=([0], [1])).transpose(3, 0, 1, 2, 4, 5)
                for a in range(kh):
                    for b in range(kw):
                        dxpad[:, i, a * dh:a * dh + sh * (ho - 1) + 1:sh, b * dw:b * dw + sw * (wo - 1) + 1:sw] += dcols[:, :, a, b]
            if cols is not None:
                grads.add(self.weight, dev, dw_parts[0] if g == 1 else xp.concatenate(dw_parts, axis=0))
            ph, pw = self.padding
            dx = dxpad[:, :, ph:ph + x_shape[2], pw:pw + x_shape[3]]
            return self._own_layout(dx)

    def _describe(self) -> str:
        in_channels = self.weight.shape[1] if self.weight.shape[1] is None else self.weight.shape[1] * self.groups
        extras = [(k, v, d) for k, v, d in (("padding", self.padding, (0, 0)), ("dilation", self.dilation, (1, 1)),
                                             ("groups", self.groups, 1), ("layout", self.layout, "NCHW"))]
        return (f"{in_channels} -> {self.channels}, kernel_size={self.kernel_size}, strides={self.strides}"
                + "".join(f", {k}={v!r}" for k, v, d in extras if v != d)
                + (f", {self.act.name}" if self.act else ""))
