"""What ``check_forward`` measures in a PyTorch model: per weight layer its input, output and gradient summaries.

Forward hooks on ``nn.Linear``, ``nn.Conv1d``/``nn.Conv2d`` and ``nn.MultiheadAttention`` (its q, k, v rows of
``in_proj_weight`` and its ``out_proj``) reduce each call to sums (float64), so no activation is kept. Which layer
feeds which is read from the autograd graph: layer ``l`` is linked to layer ``k`` when ``l``'s input is ``k``'s output
after elementwise activations and reshapes only (``ELEMENTWISE``), the segment whose gain the initializers promise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..errors import ValidationError

# autograd nodes that map each element to one element (activations) or only move elements (views)
ELEMENTWISE = ("ReluBackward", "GeluBackward", "TanhBackward", "SigmoidBackward", "LeakyReluBackward",
               "SiluBackward", "EluBackward", "HardtanhBackward", "SoftplusBackward", "MishBackward",
               "HardswishBackward", "HardsigmoidBackward", "CloneBackward", "ViewBackward", "ReshapeAliasBackward",
               "UnsafeViewBackward", "AliasBackward", "TBackward", "TransposeBackward", "PermuteBackward")

# how many autograd nodes to walk back from a layer's input before giving up on finding its feeding layer
MAX_WALK = 64


@dataclass
class Measured:
    """One weight layer's call: sums over its input patches X (N × fan_in) and its output Y = X·Wᵀ (bias removed)."""

    name: str  # the layer's label: the module's name, with [q]/[k]/[v] for attention rows
    param: str  # the weight's parameter name in ``named_parameters()``
    rows: tuple[int, int] | None  # the rows of that parameter this layer uses (attention q/k/v), None: all
    kind: str
    fan_in: int
    n_out: int
    samples: int  # N: batch × positions
    tr_a: float  # ‖X‖² = tr(XᵀX)
    tr_a2: float  # ‖XᵀX‖²_F
    diag_a2: float  # Σ_j (XᵀX)_jj²
    y_sq: float  # ‖Y‖²
    in_ms: float  # mean square of the layer's input tensor
    out_ms: float  # mean square of its output tensor (bias included): the pre-activation
    prev: int | None = None  # index of the layer whose output feeds this one elementwise
    param_shape: tuple = ()  # the whole parameter's shape (what its rule's promise is about)
    w_m2: float = 0.0  # mean of w² over these rows
    w_m4: float = 0.0  # mean of w⁴ over these rows
    out_shape: tuple = ()
    channel_dim: int = -1  # the output's unit axis: -1 for Linear, 1 for Conv
    out_units: Any = None  # per output unit, Σ of the output² (bias included) over every other axis
    in_units: Any = None  # per unit of ``prev``'s output, Σ of this layer's input²: the activation, unit by unit
    grad_out_rms: float | None = None  # RMS of ∂loss/∂output
    grad_w_rms: float | None = None  # RMS of ∂loss/∂W (these rows)
    skipped: str = ""  # why the layer could not be measured


def gram_sums(x: Any) -> tuple[float, float, float]:
    """tr(A), ‖A‖²_F and Σ A_jj² of A = XᵀX, through the smaller of the two Gram matrices."""
    import torch

    x = x.detach().to(torch.float64)
    g = x.T @ x if x.shape[1] <= x.shape[0] else x @ x.T
    col = (x * x).sum(0)
    return float(col.sum()), float((g * g).sum()), float((col * col).sum())


def measure(model: Any, inputs: tuple, kwargs: dict, seed: int) -> tuple[list[Measured], Any]:
    """Run ``model(*inputs, **kwargs)`` with hooks and a fixed random projection's backward; the layers and output."""
    import torch

    layers: list[Measured] = []
    producers: dict[Any, int] = {}  # autograd node of a layer's output → that layer
    outputs: list[tuple[int, Any]] = []  # (layer, output tensor) for the gradients
    weights: list[tuple[int, Any, tuple[int, int] | None]] = []
    names = {m: n for n, m in model.named_modules()}
    pnames = {id(p): n for n, p in model.named_parameters()}
    busy: set[int] = set()

    def add(m: Measured, out: Any, weight: Any, input_tensor: Any) -> None:
        index = len(layers)
        m.prev = _feeder(input_tensor, producers)
        if m.prev is not None:
            before = layers[m.prev]
            if tuple(input_tensor.shape) == before.out_shape:  # units line up: the gain test can run
                m.in_units = _unit_sums(input_tensor, before.channel_dim)
            else:
                m.prev = None
        if out is not None:
            m.out_shape, m.channel_dim = tuple(out.shape), (1 if m.kind.startswith("conv") else -1)
            m.out_units = _unit_sums(out, m.channel_dim)
        if weight is not None:
            whole = weight if m.rows is None else weight[m.rows[0]:m.rows[1]]
            w = whole.detach().to(torch.float64)
            m.param_shape, m.w_m2, m.w_m4 = tuple(weight.shape), float((w ** 2).mean()), float((w ** 4).mean())
        layers.append(m)
        if out is not None and out.grad_fn is not None:
            producers[out.grad_fn] = index
            outputs.append((index, out))
        if weight is not None and weight.requires_grad:
            weights.append((index, weight, m.rows))

    def on_linear(module: Any, args: tuple, out: Any) -> None:
        x = args[0]
        y = out - module.bias if module.bias is not None else out
        seen = x * input_multiplier(module)  # what W multiplies: mup's readout scales its input first
        m = _layer(names[module], pnames.get(id(module.weight), names[module] + ".weight"), None, "linear",
                   seen.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1]), x, out)
        add(m, out, module.weight, x)

    def on_transposed(module: Any, args: tuple, out: Any) -> None:  # y = x·W + b, W stored (in, out)
        x = args[0]
        y = out - module.bias if module.bias is not None else out
        m = _layer(names[module], pnames.get(id(module.weight), names[module] + ".weight"), None, "linear",
                   x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1]), x, out)
        add(m, out, module.weight, x)

    def on_conv(module: Any, args: tuple, out: Any) -> None:
        x = args[0]
        label, param = names[module], pnames.get(id(module.weight), names[module] + ".weight")
        why = _conv_unsupported(module)
        if why:
            m = _skipped(label, param, type(module).__name__.lower(), module.weight, x, out, why)
            add(m, out, module.weight, x)
            return
        patches = _patches(module, x)
        y = out - module.bias.reshape(1, -1, *([1] * (out.dim() - 2))) if module.bias is not None else out
        y2 = y.reshape(y.shape[0], y.shape[1], -1).transpose(1, 2).reshape(-1, y.shape[1])
        add(_layer(label, param, None, "conv", patches, y2, x, out), out, module.weight, x)

    def on_attention(module: Any, args: tuple, kwargs: dict, out: Any) -> None:
        if id(module) in busy:
            return
        busy.add(id(module))
        res = out[0] if isinstance(out, tuple) else out
        try:
            found = _attention(module, names[module], pnames, args, kwargs, out)
        except Exception as exc:  # an attention call this recomputation does not cover: listed, not fatal
            param = pnames.get(id(module.out_proj.weight), names[module] + ".out_proj.weight")
            found = [(_skipped(names[module], param, "attention", module.out_proj.weight, res, res,
                               f"could not be measured ({type(exc).__name__}: {exc})"), None, res)]
        finally:
            busy.discard(id(module))
        for m, weight, x in found:
            add(m, None, weight, x)
        if res.grad_fn is not None:  # the attention output: its grad is out_proj's output grad
            outputs.append((len(layers) - 1, res))

    handles = []
    try:
        for module in model.modules():
            if isinstance(module, torch.nn.MultiheadAttention):
                handles.append(module.register_forward_hook(on_attention, with_kwargs=True))
            elif isinstance(module, torch.nn.Linear) and not _inside_attention(module, model):
                handles.append(module.register_forward_hook(on_linear))
            elif isinstance(module, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)):
                handles.append(module.register_forward_hook(on_conv))
            elif is_transposed_linear(module):
                handles.append(module.register_forward_hook(on_transposed))
        with torch.enable_grad():
            out = model(*inputs, **kwargs)
            _gradients(out, layers, outputs, weights, seed)
    finally:
        for h in handles:
            h.remove()
    return layers, out


def input_multiplier(module: Any) -> float:
    """The factor a Linear applies to its input before W: mup's MuReadout computes W·(output_mult·x/width_mult())."""
    width_mult = getattr(module, "width_mult", None)
    if hasattr(module, "output_mult") and callable(width_mult):
        return float(module.output_mult) / float(width_mult())
    return 1.0


def is_transposed_linear(module: Any) -> bool:
    """True for Hugging Face's ``Conv1D`` (GPT-2's c_attn, c_proj, c_fc): a linear layer whose weight is (in, out)."""
    weight = getattr(module, "weight", None)
    return (type(module).__name__ == "Conv1D" and getattr(module, "nf", None) is not None
            and getattr(weight, "dim", lambda: 0)() == 2 and weight.shape[1] == module.nf)


def _inside_attention(module: Any, model: Any) -> bool:
    """True for an attention module's out_proj, which F.multi_head_attention_forward applies without calling it."""
    import torch

    return any(isinstance(m, torch.nn.MultiheadAttention) and m.out_proj is module for m in model.modules())


def _layer(label: str, param: str, rows: Any, kind: str, x2: Any, y2: Any, x: Any, out: Any) -> Measured:
    import torch

    tr_a, tr_a2, diag = gram_sums(x2)
    y64 = y2.detach().to(torch.float64)
    return Measured(label, param, rows, kind, int(x2.shape[1]), int(y2.shape[1]), int(x2.shape[0]), tr_a, tr_a2,
                    diag, float((y64 * y64).sum()), _ms(x), _ms(out))


def _skipped(label: str, param: str, kind: str, weight: Any, x: Any, out: Any, why: str) -> Measured:
    return Measured(label, param, None, kind, 0, int(weight.shape[0]), 0, 0.0, 0.0, 0.0, 0.0, _ms(x), _ms(out),
                    skipped=why)


def _unit_sums(t: Any, dim: int) -> np.ndarray:
    """Σ t² over every axis but ``dim``, one float64 per unit."""
    import torch

    t = t.detach().to(torch.float64)
    t = t.movedim(dim, -1).reshape(-1, t.shape[dim])
    return (t * t).sum(0).cpu().numpy()


def _ms(t: Any) -> float:
    import torch

    t = t.detach().to(torch.float64)
    return float((t * t).mean()) if t.numel() else 0.0


def _feeder(x: Any, producers: dict) -> int | None:
    """The layer whose output ``x`` is, through elementwise nodes only; None when another operation comes between."""
    node = getattr(x, "grad_fn", None)
    for _ in range(MAX_WALK):
        if node is None:
            return None
        if node in producers:
            return producers[node]
        if not type(node).__name__.startswith(ELEMENTWISE):
            return None
        nxt = [f for f, _ in node.next_functions if f is not None]
        if len(nxt) != 1:
            return None
        node = nxt[0]
    return None


def _conv_unsupported(module: Any) -> str:
    import torch

    if isinstance(module, torch.nn.Conv3d):
        return "Conv3d is not measured (only Conv1d and Conv2d)"
    if module.groups != 1:
        return f"grouped convolution (groups={module.groups}) is not measured"
    if module.padding_mode != "zeros" or isinstance(module.padding, str):
        return f"padding {module.padding!r} / mode {module.padding_mode!r} is not measured (only numeric zero padding)"
    return ""


def _patches(module: Any, x: Any) -> Any:
    """The convolution's input patches, one row per (sample, output position): (N, C·k…)."""
    import torch

    if isinstance(module, torch.nn.Conv1d):
        x = x.unsqueeze(-2)
        spec = [(1, module.kernel_size[0]), (1, module.dilation[0]), (0, module.padding[0]), (1, module.stride[0])]
        k, d, p, s = (tuple(v) for v in spec)
    else:
        k, d, p, s = module.kernel_size, module.dilation, module.padding, module.stride
    cols = torch.nn.functional.unfold(x.detach(), k, dilation=d, padding=p, stride=s)  # (B, C·k, L)
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


def _attention(module: Any, label: str, pnames: dict, args: tuple, kwargs: dict, out: Any) -> list:
    """q, k, v rows of the input projection and out_proj, each as a Measured with its weight and input tensor."""
    import torch

    with torch.no_grad():  # measurements only: nothing here joins the graph the gradients come from
        return _attention_rows(module, label, pnames, args, kwargs, out)


def _attention_rows(module: Any, label: str, pnames: dict, args: tuple, kwargs: dict, out: Any) -> list:
    import torch

    e, h = module.embed_dim, module.num_heads
    query, key, value = (list(args) + [kwargs.get(n) for n in ("query", "key", "value")][len(args):])[:3]
    if module.in_proj_weight is not None:
        param = pnames.get(id(module.in_proj_weight), label + ".in_proj_weight")
        w_all, b_all = module.in_proj_weight, module.in_proj_bias
        ws = [(w_all[i * e:(i + 1) * e], param, (i * e, (i + 1) * e), w_all) for i in range(3)]
    else:
        ws = [(w, pnames.get(id(w), f"{label}.{n}"), None, w) for n, w in
              (("q_proj_weight", module.q_proj_weight), ("k_proj_weight", module.k_proj_weight),
               ("v_proj_weight", module.v_proj_weight))]
        b_all = module.in_proj_bias
    found = []
    projected = []
    for i, ((w, param, rows, whole), x, tag) in enumerate(zip(ws, (query, key, value), "qkv")):
        y = torch.nn.functional.linear(x, w)
        bias = None if b_all is None else b_all[i * e:(i + 1) * e]
        projected.append(y if bias is None else y + bias)
        m = _layer(f"{label}[{tag}]", param, rows, "attention", x.reshape(-1, x.shape[-1]), y.reshape(-1, e), x,
                   projected[-1])
        found.append((m, whole, x))
    # out_proj's input is the heads' context, which the module never hands out: recompute it from the weights
    # the module returns per head, and keep it only when out_proj of it reproduces the module's output
    call = dict(kwargs, need_weights=True, average_attn_weights=False)
    for n in ("query", "key", "value"):
        call.pop(n, None)
    o_param = pnames.get(id(module.out_proj.weight), label + ".out_proj.weight")
    res = (out[0] if isinstance(out, tuple) else out).detach()
    _, heads = module(query, key, value, **call)
    v = projected[2].detach()
    if not module.batch_first:
        v = v.transpose(0, 1)  # (B, S, E)
    res_b = res if module.batch_first else res.transpose(0, 1)
    if heads is None or heads.dim() != 4:
        found.append((_skipped(f"{label}.out_proj", o_param, "attention", module.out_proj.weight, res, res,
                               "the attention weights could not be recomputed"), None, res))
        return found
    b, s = v.shape[0], v.shape[1]
    vh = v.reshape(b, s, h, e // h).transpose(1, 2)  # (B, h, S, d)
    ctx = (heads.to(vh.dtype) @ vh).transpose(1, 2).reshape(b, -1, e)  # (B, L, E)
    y = torch.nn.functional.linear(ctx, module.out_proj.weight)
    bias = module.out_proj.bias
    target = res_b - (bias if bias is not None else 0)
    scale = float(target.abs().max()) or 1.0
    if float((y - target).abs().max()) > 1e-4 * scale:
        found.append((_skipped(f"{label}.out_proj", o_param, "attention", module.out_proj.weight, res, res,
                               "recomputing the heads did not reproduce the module's output (dropout? a custom "
                               "mask?)"), None, res))
        return found
    m = _layer(f"{label}.out_proj", o_param, None, "attention", ctx.reshape(-1, e), y.reshape(-1, e), ctx, res)
    found.append((m, module.out_proj.weight, ctx))
    return found


def output_tensor(out: Any) -> Any:
    """The tensor a model's output stands for: itself, a tuple's first item, or a mapping's first tensor (logits)."""
    import torch

    if isinstance(out, (tuple, list)) and out:
        return out[0]
    if isinstance(out, Mapping):  # a Hugging Face ModelOutput is an ordered mapping
        return next((v for v in out.values() if isinstance(v, torch.Tensor)), out)
    return out


def torch_seed(seed: int, offset: int = 0) -> int:
    """A seed torch.Generator takes (below 2⁶⁴) for an initreg seed of any size: itself when it fits, else a hash."""
    value = seed + offset
    if value < 1 << 64:
        return value
    import hashlib

    return int.from_bytes(hashlib.blake2b(str(value).encode(), digest_size=8).digest(), "little")


def _gradients(out: Any, layers: list[Measured], outputs: list, weights: list, seed: int) -> None:
    """Backward of ⟨output, R⟩/√numel (R a fixed N(0, 1) tensor): RMS of each layer's output and weight gradients."""
    import torch

    y = output_tensor(out)
    if not isinstance(y, torch.Tensor) or not y.is_floating_point():
        raise ValidationError(f"check_forward: the model returned a {type(y).__name__}, not a floating tensor; "
                              f"wrap it so that it returns its output tensor (or a tuple or mapping whose first item "
                              f"is it)")
    if y.grad_fn is None:
        return
    gen = torch.Generator(device="cpu").manual_seed(torch_seed(int(seed), 1))
    proj = torch.randn(y.shape, generator=gen, dtype=torch.float64).to(device=y.device, dtype=y.dtype)
    loss = (y * proj).sum() / max(1, y.numel()) ** 0.5
    tensors = [t for _, t in outputs] + [w for _, w, _ in weights]
    grads = torch.autograd.grad(loss, tensors, allow_unused=True)
    for (index, _), g in zip(outputs, grads[:len(outputs)]):
        if g is not None:
            layers[index].grad_out_rms = _ms(g) ** 0.5
    for (index, _, rows), g in zip(weights, grads[len(outputs):]):
        if g is not None:
            layers[index].grad_w_rms = _ms(g if rows is None else g[rows[0]:rows[1]]) ** 0.5

