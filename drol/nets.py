"""Networks shared by every agent: MLPs with stacked member weights.

The reference (FQL's JAX code) uses Dense layers with Glorot-uniform kernels and zero biases, GELU in its
tanh approximation, and for the critic an ensemble with LayerNorm (eps 1e-6) after each hidden
activation. Here every layer stores its weights as (seeds, members, in, out): the seeds of a block (see
drol.train) and the critic's ensemble members run as one batched matmul per layer. Every tensor an agent
handles carries the seed dimension first, and seed s's slice is computed from seed s's inputs alone.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LAYER_NORM_EPS = 1e-6


def glorot_uniform_(weight: torch.Tensor) -> torch.Tensor:
    """Glorot-uniform init of a (members, in, out) kernel, each member independently (fan_avg, scale 1)."""
    fan_in, fan_out = weight.shape[-2], weight.shape[-1]
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        return weight.uniform_(-bound, bound)


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """GELU, tanh approximation (the reference's default; PyTorch's default GELU is the exact one).

    Without autograd it is computed as x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3), in place:
    the same function (0.5 (1 + tanh u) = sigmoid(2u)), within float rounding, and 2x faster on CPUs
    where tanh is slow. It is the hot op of DROL's K candidates and of FQL's Euler teacher.
    """
    if torch.is_grad_enabled() and x.requires_grad:
        return F.gelu(x, approximate="tanh")
    y = torch.mul(x, x).mul_(2 * 0.044715 * _SQRT_2_OVER_PI).add_(2 * _SQRT_2_OVER_PI).mul_(x).sigmoid_()
    return y.mul_(x)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


class MLP(nn.Module):
    """`seeds` x `members` independent MLPs evaluated together.

    Input (seeds, batch, in) is shared by the members of a seed; (seeds, members, batch, in) gives each member
    its own. Output is (seeds, members, batch, out). Each layer is one baddbmm over seeds x members.
    """

    def __init__(self, in_dim: int, hidden_dims: tuple[int, ...], out_dim: int, members: int = 1,
                 layer_norm: bool = False, seeds: int = 1):
        super().__init__()
        dims = (in_dim, *hidden_dims, out_dim)
        self.seeds, self.members = seeds, members
        self.layer_norm = layer_norm
        self.weights = nn.ParameterList(
            [nn.Parameter(glorot_uniform_(torch.empty(seeds, members, i, o))) for i, o in zip(dims[:-1], dims[1:])])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(seeds, members, 1, o)) for o in dims[1:]])
        if layer_norm:
            self.ln_scales = nn.ParameterList([nn.Parameter(torch.ones(seeds, members, 1, h)) for h in hidden_dims])
            self.ln_biases = nn.ParameterList([nn.Parameter(torch.zeros(seeds, members, 1, h)) for h in hidden_dims])

    def forward(self, x: torch.Tensor, detach_params: bool = False) -> torch.Tensor:
        """`detach_params` evaluates with the current weights held fixed (gradient flows to `x` only)."""
        def held(params: nn.ParameterList) -> list[torch.Tensor]:
            return [(p.detach() if detach_params else p).flatten(0, 1) for p in params]

        weights, biases = held(self.weights), held(self.biases)
        ln_scales, ln_biases = (held(self.ln_scales), held(self.ln_biases)) if self.layer_norm else ([], [])
        seeds, members = self.seeds, self.members
        if x.dim() == 3:
            x = x.unsqueeze(1).expand(seeds, members, *x.shape[1:])
        x = x.reshape(seeds * members, x.shape[-2], x.shape[-1])
        n = len(weights)
        for i, (w, b) in enumerate(zip(weights, biases)):
            x = torch.baddbmm(b, x, w)
            if i < n - 1:
                x = gelu_tanh(x)
                if self.layer_norm:
                    x = torch.addcmul(ln_biases[i], F.layer_norm(x, x.shape[-1:], eps=LAYER_NORM_EPS), ln_scales[i])
        return x.reshape(seeds, members, *x.shape[1:])


class Actor(nn.Module):
    """a = MLP(concat(inputs)): no LayerNorm, as in the reference's actors. Inputs are (seeds, ..., dim)."""

    def __init__(self, in_dim: int, hidden_dims: tuple[int, ...], action_dim: int, seeds: int = 1):
        super().__init__()
        self.net = MLP(in_dim, hidden_dims, action_dim, seeds=seeds)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        x = torch.cat(inputs, dim=-1)
        lead = x.shape[:-1]
        return self.net(x.reshape(lead[0], -1, x.shape[-1]))[:, 0].reshape(*lead, -1)


class Critic(nn.Module):
    """Ensemble Q(s, a): (seeds, batch, dim) inputs -> (seeds, ensemble, batch); LayerNorm after each hidden
    activation."""

    def __init__(self, obs_dim: int, action_dim: int, hidden_dims: tuple[int, ...], ensemble: int = 2,
                 layer_norm: bool = True, seeds: int = 1):
        super().__init__()
        self.net = MLP(obs_dim + action_dim, hidden_dims, 1, members=ensemble, layer_norm=layer_norm, seeds=seeds)

    def forward(self, obs: torch.Tensor, actions: torch.Tensor, detach_params: bool = False) -> torch.Tensor:
        return self.net(torch.cat([obs, actions], dim=-1), detach_params=detach_params)[..., 0]
