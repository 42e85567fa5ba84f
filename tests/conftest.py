from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float32)


def manual_mlp(x: torch.Tensor, weights, biases, ln_scales=None, ln_biases=None) -> torch.Tensor:
    """A plain re-implementation of one member's MLP: Dense -> tanh-GELU -> [LayerNorm] per hidden layer."""
    n = len(weights)
    for i in range(n):
        x = x @ weights[i] + biases[i]
        if i < n - 1:
            x = 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
            if ln_scales is not None:
                mean = x.mean(-1, keepdim=True)
                var = ((x - mean) ** 2).mean(-1, keepdim=True)
                x = (x - mean) / torch.sqrt(var + 1e-6) * ln_scales[i] + ln_biases[i]
    return x


def member_params(mlp, member: int = 0):
    w = [p[member] for p in mlp.weights]
    b = [p[member, 0] for p in mlp.biases]
    if mlp.layer_norm:
        return w, b, [p[member, 0] for p in mlp.ln_scales], [p[member, 0] for p in mlp.ln_biases]
    return w, b, None, None


@pytest.fixture
def tiny_batch():
    g = torch.Generator().manual_seed(123)
    b, o, a = 6, 3, 2
    return {"observations": torch.randn(b, o, generator=g), "next_observations": torch.randn(b, o, generator=g),
            "actions": (torch.rand(b, a, generator=g) * 2 - 1) * 0.9, "rewards": torch.randn(b, generator=g),
            "masks": torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])}


def gelu_reference(x):
    return F.gelu(x, approximate="tanh")
