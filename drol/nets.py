"""Networks shared by every agent: MLPs with stacked member weights.

The reference (FQL's JAX code) uses Dense layers with Glorot-uniform kernels and zero biases, GELU in its
tanh approximation, and for the critic an ensemble with LayerNorm (eps 1e-6) after each hidden
activation. Here every layer stores its weights as (members, in, out): the critic's two ensemble members
run as one batched matmul per layer, and the same leading dimension can later hold seeds.
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
    """`members` independent MLPs evaluated together.

    Input (batch, in) is shared by every member; input (members, batch, in) gives each member its own.
    Output is (members, batch, out). With `members=1` the matmuls take the plain 2-D path (addmm).
    """

    def __init__(self, in_dim: int, hidden_dims: tuple[int, ...], out_dim: int, members: int = 1,
                 layer_norm: bool = False):
        super().__init__()
        dims = (in_dim, *hidden_dims, out_dim)
        self.members = members
        self.layer_norm = layer_norm
        self.weights = nn.ParameterList(
            [nn.Parameter(glorot_uniform_(torch.empty(members, i, o))) for i, o in zip(dims[:-1], dims[1:])])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(members, 1, o)) for o in dims[1:]])
        if layer_norm:
            self.ln_scales = nn.ParameterList([nn.Parameter(torch.ones(members, 1, h)) for h in hidden_dims])
            self.ln_biases = nn.ParameterList([nn.Parameter(torch.zeros(members, 1, h)) for h in hidden_dims])

    def forward(self, x: torch.Tensor, detach_params: bool = False) -> torch.Tensor:
        """`detach_params` evaluates with the current weights held fixed (gradient flows to `x` only)."""
        def held(params: nn.ParameterList) -> list[torch.Tensor]:
            return [p.detach() for p in params] if detach_params else list(params)

        weights, biases = held(self.weights), held(self.biases)
        ln_scales, ln_biases = (held(self.ln_scales), held(self.ln_biases)) if self.layer_norm else ([], [])
        n = len(weights)
        if self.members == 1:
            if x.dim() == 3:
                x = x[0]
            for i, (w, b) in enumerate(zip(weights, biases)):
                x = torch.addmm(b[0], x, w[0])
                if i < n - 1:
                    x = gelu_tanh(x)
                    if self.layer_norm:
                        x = F.layer_norm(x, x.shape[-1:], ln_scales[i][0, 0], ln_biases[i][0, 0], LAYER_NORM_EPS)
            return x.unsqueeze(0)
        if x.dim() == 2:
            x = x.expand(self.members, *x.shape)
        for i, (w, b) in enumerate(zip(weights, biases)):
            x = torch.baddbmm(b, x, w)
            if i < n - 1:
                x = gelu_tanh(x)
                if self.layer_norm:
                    x = torch.addcmul(ln_biases[i], F.layer_norm(x, x.shape[-1:], eps=LAYER_NORM_EPS), ln_scales[i])
        return x


class Actor(nn.Module):
    """a = MLP(concat(inputs)): no LayerNorm, as in the reference's actors."""

    def __init__(self, in_dim: int, hidden_dims: tuple[int, ...], action_dim: int):
        super().__init__()
        self.net = MLP(in_dim, hidden_dims, action_dim)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        x = torch.cat(inputs, dim=-1)
        lead = x.shape[:-1]
        return self.net(x.reshape(-1, x.shape[-1]))[0].reshape(*lead, -1)


class Critic(nn.Module):
    """Ensemble Q(s, a) -> (ensemble, batch), LayerNorm after each hidden activation."""

    def __init__(self, obs_dim: int, action_dim: int, hidden_dims: tuple[int, ...], ensemble: int = 2,
                 layer_norm: bool = True):
        super().__init__()
        self.net = MLP(obs_dim + action_dim, hidden_dims, 1, members=ensemble, layer_norm=layer_norm)

    def forward(self, obs: torch.Tensor, actions: torch.Tensor, detach_params: bool = False) -> torch.Tensor:
        return self.net(torch.cat([obs, actions], dim=-1), detach_params=detach_params)[..., 0]
