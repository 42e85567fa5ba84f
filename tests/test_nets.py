import math

import pytest
import torch
import torch.nn.functional as F
from conftest import manual_mlp, member_params

from drol.nets import MLP, Critic, gelu_tanh


def test_glorot_uniform_bounds_and_variance_zero_biases():
    torch.manual_seed(0)
    mlp = MLP(300, (500,), 200, members=2, seeds=2)
    w = mlp.weights[0]  # (seeds, members, in, out)
    assert w.shape == (2, 2, 300, 500)
    bound = math.sqrt(6 / (300 + 500))
    assert w.abs().max() <= bound
    # Uniform(-b, b) has variance b^2 / 3 = 2 / (fan_in + fan_out).
    assert abs(w.var().item() - 2 / 800) < 0.02 * 2 / 800
    # The two ensemble members are initialised independently, and so are the two seeds.
    assert not torch.equal(w[0, 0], w[0, 1])
    assert not torch.equal(w[0, 0], w[1, 0])
    assert all(torch.count_nonzero(b) == 0 for b in mlp.biases)


def test_gelu_fast_path_equals_tanh_gelu():
    x = torch.linspace(-8, 8, 10001)
    with torch.no_grad():
        fast = gelu_tanh(x.clone())
    assert torch.allclose(fast, F.gelu(x, approximate="tanh"), atol=2e-6)
    # And is not the exact (erf) GELU, which PyTorch uses by default.
    assert (F.gelu(x) - fast).abs().max() > 1e-4


@pytest.mark.parametrize("seeds", [1, 2])
def test_critic_ensemble_matches_per_member_computation(seeds):
    """Each (seed, member) slice is computed from that seed's parameters and inputs alone (seeds x members
    are one batched matmul: a mixed-up order of the two would show with 2 seeds)."""
    torch.manual_seed(1)
    critic = Critic(obs_dim=4, action_dim=3, hidden_dims=(16, 16), ensemble=2, seeds=seeds)
    with torch.no_grad():  # non-trivial LayerNorm parameters, so they are exercised
        for p in list(critic.net.ln_scales) + list(critic.net.ln_biases) + list(critic.net.biases):
            p.normal_()
    obs, act = torch.randn(seeds, 5, 4), torch.randn(seeds, 5, 3)
    q = critic(obs, act)
    assert q.shape == (seeds, 2, 5)
    for s in range(seeds):
        for m in range(2):
            expected = manual_mlp(torch.cat([obs[s], act[s]], -1), *member_params(critic.net, m, seed=s))[:, 0]
            assert torch.allclose(q[s, m], expected, atol=1e-5)


def test_detached_params_give_gradient_to_inputs_only():
    critic = Critic(4, 3, (8, 8))
    obs, act = torch.randn(1, 5, 4), torch.randn(1, 5, 3, requires_grad=True)
    critic(obs, act, detach_params=True).sum().backward()
    assert act.grad is not None and act.grad.abs().sum() > 0
    assert all(p.grad is None for p in critic.parameters())


def test_single_member_mlp_without_layernorm():
    torch.manual_seed(2)
    mlp = MLP(3, (8, 8), 2)
    x = torch.randn(1, 4, 3)
    out = mlp(x)
    assert out.shape == (1, 1, 4, 2)
    assert torch.allclose(out[0, 0], manual_mlp(x[0], *member_params(mlp)), atol=1e-6)
    # A 2-seed MLP: seed 1's output is seed 1's network applied to seed 1's input.
    mlp = MLP(3, (8, 8), 2, seeds=2)
    x = torch.randn(2, 4, 3)
    assert torch.allclose(mlp(x)[1, 0], manual_mlp(x[1], *member_params(mlp, seed=1)), atol=1e-6)
