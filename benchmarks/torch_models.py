"""Model factories for the PyTorch benchmarks, from plain ``torch.nn`` modules (no transformers needed).

``llama_1b()``: a Llama-style decoder of about 1 B parameters (vocabulary 32000, width 2048, 16 layers,
MLP 5632, no biases, untied output projection); ``llama_tiny()`` the same structure at toy size.
Usable as ``initreg init --torch benchmarks.torch_models:llama_1b`` from the repository root.
"""

from __future__ import annotations

import torch
from torch import nn


class Block(nn.Module):
    """One decoder layer's parameters: attention projections, gated MLP, two RMSNorms."""

    def __init__(self, width: int, mlp: int):
        super().__init__()
        self.attention_norm = nn.RMSNorm(width)
        self.wq = nn.Linear(width, width, bias=False)
        self.wk = nn.Linear(width, width, bias=False)
        self.wv = nn.Linear(width, width, bias=False)
        self.wo = nn.Linear(width, width, bias=False)
        self.ffn_norm = nn.RMSNorm(width)
        self.w1 = nn.Linear(width, mlp, bias=False)
        self.w2 = nn.Linear(mlp, width, bias=False)
        self.w3 = nn.Linear(width, mlp, bias=False)


class Llama(nn.Module):
    """Embedding, ``layers`` blocks, a final RMSNorm and an output projection."""

    def __init__(self, vocab: int, width: int, layers: int, mlp: int):
        super().__init__()
        self.tok_embeddings = nn.Embedding(vocab, width)
        self.layers = nn.ModuleList(Block(width, mlp) for _ in range(layers))
        self.norm = nn.RMSNorm(width)
        self.output = nn.Linear(width, vocab, bias=False)


def llama_1b() -> Llama:
    """About 1 B parameters (953 M; 3.81 GB in float32)."""
    return Llama(vocab=32000, width=2048, layers=16, mlp=5632)


def llama_tiny() -> Llama:
    """The same structure with a few thousand parameters."""
    return Llama(vocab=64, width=16, layers=2, mlp=24)


def n_bytes(model: nn.Module) -> int:
    """Bytes of the model's distinct parameters."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


if __name__ == "__main__":
    with torch.device("meta"):
        m = llama_1b()
    print(f"{sum(p.numel() for p in m.parameters()):,} parameters, {n_bytes(m) / 1e9:.2f} GB")
