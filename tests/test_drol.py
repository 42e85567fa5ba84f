import copy
import math

import pytest
import torch
from conftest import manual_mlp, member_params

from drol.agents.base import q_improvement_loss
from drol.agents.drol import DROLAgent, DROLConfig, ball_from_draws, route, routing_metrics, sample_ball

TINY = dict(actor_hidden_dims=(8, 8), value_hidden_dims=(8, 8))


def tiny_agent(**overrides) -> DROLAgent:
    torch.manual_seed(0)
    return DROLAgent(obs_dim=3, action_dim=2, config=DROLConfig(**{**TINY, "num_candidates": 3, **overrides}))


def one_seed(batch: dict) -> dict:
    """A batch with a leading seed dimension of 1."""
    return {k: v.unsqueeze(0) for k, v in batch.items()}


@pytest.mark.parametrize("dim", [1, 2, 5, 21])
def test_ball_sampler_in_ball_with_known_second_moment(dim):
    g = torch.Generator().manual_seed(dim)
    radius = math.sqrt(dim)
    z = sample_ball((200_000,), dim, radius, g)
    sq = z.square().sum(-1)
    assert sq.max() <= radius**2 * (1 + 1e-6)
    expected = dim / (dim + 2) * radius**2  # paper C.5
    assert abs(sq.mean().item() - expected) < 0.01 * expected
    # Uniform in the ball: P(||z|| <= R/2) = 2^-d.
    assert abs((sq <= radius**2 / 4).float().mean().item() - 0.5**dim) < 0.005


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_ball_sampler_gives_the_same_bits_on_any_thread_count(restore_threads):
    """torch's pow and vector_norm round differently in their vectorised and scalar loops, and which elements
    take which loop depends on how the tensor is split over threads: the latents must not depend on it."""
    # Sizes whose split over 2 threads put elements on a different loop than on 1 thread (5 of these 11
    # gave different bits before).
    cases = [(5, (n,)) for n in range(50_000, 50_008)] + [(2, (50_001,)), (21, (4_099, 3)), (5, (2_051, 16))]
    for dim, shape in cases:
        samples = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            samples.append(sample_ball(shape, dim, math.sqrt(dim), torch.Generator().manual_seed(shape[0])))
        assert torch.equal(samples[0], samples[1]), (dim, shape)


@pytest.mark.parametrize("dim", [1, 2, 3, 5, 21])
def test_ball_latents_depend_only_on_their_own_draws(dim):
    radius = math.sqrt(dim)
    g = torch.Generator().manual_seed(dim)
    z = sample_ball((1000,), dim, radius, g)
    g = torch.Generator().manual_seed(dim)  # the same draws as ever: randn(..., dim), then rand(..., 1)
    gauss, u = torch.randn(1000, dim, generator=g), torch.rand(1000, 1, generator=g)
    assert torch.equal(ball_from_draws(gauss, u, radius), z)
    pieces = torch.cat([ball_from_draws(gauss[i:i + 7], u[i:i + 7], radius) for i in range(0, 1000, 7)])
    assert torch.equal(pieces, z)  # slices of 7: every element on the scalar tail of torch's loops
    assert torch.equal(ball_from_draws(gauss.t().contiguous().t(), u.t().contiguous().t(), radius), z)
    assert torch.equal(ball_from_draws(gauss.view(40, 25, dim), u.view(40, 25, 1), radius).view(1000, dim), z)
    # The reference's formula, computed in float64: the latents are within float32 rounding of it.
    exact = gauss.double() / gauss.double().norm(dim=-1, keepdim=True) * radius * u.double() ** (1 / dim)
    assert (z.double() - exact).abs().max() <= 4 * 2.0**-24 * radius


@pytest.mark.parametrize("dim", [1, 2, 3, 5, 21])
def test_ball_latents_never_leave_the_ball(dim):
    radius = math.sqrt(dim)
    g = torch.Generator().manual_seed(100 + dim)
    drawn = sample_ball((200_000,), dim, radius, g)
    # Draws at the edge: u a few float32 ulps below 1 (torch.rand's largest values are 1 - k * 2^-24).
    u = 1 - torch.randint(1, 50, (100_000, 1), generator=g).float() * 2.0**-24
    edge = ball_from_draws(torch.randn(100_000, dim, generator=g), u, radius)
    assert (edge.double().norm(dim=-1) > radius * (1 - 1e-5)).all()  # they do reach the sphere
    for z in (drawn, edge):
        assert z.double().square().sum(-1).max().item() <= radius**2  # exact squares, float64 sum
        assert z.square().sum(-1).max().item() <= radius**2  # float32, torch's own order
        assert torch.linalg.vector_norm(z, dim=-1).max().item() <= radius


def test_routing_picks_nearest_candidate():
    candidates = torch.tensor([[[0.0, 0.0], [1.0, 1.0], [-1.0, 0.5]],
                               [[0.5, 0.5], [0.4, -0.9], [0.9, 0.9]]])
    actions = torch.tensor([[-0.8, 0.4], [0.3, -0.6]])
    assert route(candidates, actions).tolist() == [2, 1]


def hand_actor_loss(agent: DROLAgent, batch, latents):
    """The DROL actor loss written out with plain tensor ops from the agent's weights (one seed: no seed
    dimension in `batch` and the (B, K, A) `latents`)."""
    obs, actions = batch["observations"], batch["actions"]
    b, k, _ = latents.shape
    params = member_params(agent.actor.net)
    cands = manual_mlp(torch.cat([obs.unsqueeze(1).expand(-1, k, -1), latents], -1), *params).clamp(-1, 1)
    d2 = ((cands - actions[:, None]) ** 2).sum(-1) / agent.action_dim
    winner = d2.argmin(1)
    bc = d2[torch.arange(b), winner].mean()
    win = cands[torch.arange(b), winner]
    qs = torch.stack([manual_mlp(torch.cat([obs, win], -1), *member_params(agent.critic.net, m))[:, 0]
                      for m in range(2)])
    q = qs.min(0).values
    q_loss = -q.mean() / max(q.abs().mean().item(), 1e-6)
    return agent.config.bc_coef * bc + q_loss, bc, q_loss, winner


def test_bc_and_q_loss_equal_hand_computation(tiny_batch):
    agent = tiny_agent(bc_coef=2.5)
    draws = agent.sample_draws(6, [torch.Generator().manual_seed(7)])
    assert draws["latents"].shape == (1, 6, 3, 2)
    loss, info = agent.actor_loss(one_seed(tiny_batch), draws)
    expected, bc, q_loss, _ = hand_actor_loss(agent, tiny_batch, draws["latents"][0])
    assert loss.shape == (1,)
    assert torch.allclose(info["bc_loss"][0], bc, atol=1e-6)
    assert torch.allclose(info["q_loss"][0], q_loss, atol=1e-6)
    assert torch.allclose(loss[0], expected, atol=1e-6)


def naive_actor_loss(agent: DROLAgent, batch, latents):
    """The reference's form: all K candidates through autograd, Q evaluated at every candidate. One seed:
    (1, B, ...) batch and (1, B, K, A) latents; returns the scalar loss, the (1, B, K, A) candidates and the
    (B,) winners."""
    obs, actions = batch["observations"], batch["actions"]
    _, b, k, _ = latents.shape
    states = obs.unsqueeze(2).expand(-1, -1, k, -1)  # (1, B, K, obs_dim)
    cands = agent.actor(states, latents).clamp(-1, 1)
    cands.retain_grad()
    d2 = (cands[0] - actions[0, :, None]).square().mean(-1)
    winner = d2.detach().argmin(1)
    bc = d2[torch.arange(b), winner].mean()
    all_q = agent.critic(states.reshape(1, b * k, -1), cands.reshape(1, b * k, -1),
                         detach_params=True).reshape(-1, b, k)
    q = all_q.min(0).values[torch.arange(b), winner]
    loss = agent.config.bc_coef * bc + q_improvement_loss(q.unsqueeze(0), True)[0]
    return loss, cands, winner


def test_optimised_gradients_equal_naive_all_k_autograd():
    torch.manual_seed(3)
    agent = DROLAgent(5, 3, DROLConfig(actor_hidden_dims=(32, 32), value_hidden_dims=(32, 32), num_candidates=8))
    g = torch.Generator().manual_seed(4)
    batch = one_seed({"observations": torch.randn(64, 5, generator=g),
                      "actions": torch.rand(64, 3, generator=g) * 2 - 1})
    draws = agent.sample_draws(64, [g])

    seed_losses, _ = agent.actor_loss(batch, draws)
    assert seed_losses.shape == (1,)
    loss = seed_losses[0]
    fast = torch.autograd.grad(loss, list(agent.actor.parameters()))
    naive_loss, cands, winner = naive_actor_loss(agent, batch, draws["latents"])
    naive = torch.autograd.grad(naive_loss, list(agent.actor.parameters()) + [cands])
    assert torch.allclose(loss, naive_loss, atol=1e-6)
    for a, b in zip(fast, naive[:-1]):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-5)
    # Non-winners receive exactly zero gradient; winners do receive some.
    cand_grad = naive[-1][0]
    mask = torch.zeros(64, 8, dtype=torch.bool)
    mask[torch.arange(64), winner] = True
    assert torch.count_nonzero(cand_grad[~mask]) == 0
    assert cand_grad[mask].abs().sum() > 0
    # No gradient reaches the critic from the actor loss.
    assert all(g is None for g in torch.autograd.grad(loss, list(agent.critic.parameters()), allow_unused=True))


def test_td_target_uses_mask_and_aggregation(tiny_batch):
    for agg in ("mean", "min"):
        agent = tiny_agent(q_agg=agg, discount=0.9)
        with torch.no_grad():  # make target and online critic differ
            for p in agent.target_critic.parameters():
                p.add_(0.3 * torch.randn_like(p))
        next_actions = torch.rand(6, 2) * 2 - 1
        loss, _ = agent.critic_loss(one_seed(tiny_batch), next_actions.unsqueeze(0))
        tq = torch.stack([manual_mlp(torch.cat([tiny_batch["next_observations"], next_actions], -1),
                                     *member_params(agent.target_critic.net, m))[:, 0] for m in range(2)])
        next_q = tq.mean(0) if agg == "mean" else tq.min(0).values
        y = tiny_batch["rewards"] + 0.9 * tiny_batch["masks"] * next_q
        q = agent.critic(tiny_batch["observations"].unsqueeze(0), tiny_batch["actions"].unsqueeze(0))[0]
        assert loss.shape == (1,)
        assert torch.allclose(loss[0], ((q - y) ** 2).mean(), atol=1e-6)
        # Terminal transitions (mask 0) have target r exactly.
        terminal = tiny_batch["masks"] == 0
        assert torch.allclose(y[terminal], tiny_batch["rewards"][terminal])


def test_q_normalisation_floor():
    q = torch.full((1, 4), 1e-9, requires_grad=True)  # (seeds, batch)
    loss = q_improvement_loss(q, normalize=True)
    assert loss.shape == (1,)
    assert torch.allclose(loss, torch.tensor([-1e-9 / 1e-6]))
    (grad,) = torch.autograd.grad(loss.sum(), q)
    assert torch.allclose(grad, torch.full((1, 4), -1 / 4 / 1e-6))  # the normaliser carries no gradient
    assert torch.allclose(q_improvement_loss(torch.tensor([[2.0, -4.0]]), normalize=True), torch.tensor([1 / 3]))
    # Each seed is normalised by its own mean |q|.
    assert torch.allclose(q_improvement_loss(torch.tensor([[2.0, -4.0], [1.0, 3.0]]), normalize=True),
                          torch.tensor([1 / 3, -1.0]))


def test_polyak_uses_pre_step_critic_weights(tiny_batch):
    agent = tiny_agent(tau=0.1)
    with torch.no_grad():
        for p in agent.target_critic.parameters():
            p.add_(torch.randn_like(p))
    old_critic = copy.deepcopy(agent.critic.state_dict())
    old_target = copy.deepcopy(agent.target_critic.state_dict())
    agent.update(one_seed(tiny_batch), agent.sample_draws(6, [torch.Generator().manual_seed(0)]))
    new_critic, new_target = agent.critic.state_dict(), agent.target_critic.state_dict()
    for name in old_target:
        assert torch.allclose(new_target[name], 0.9 * old_target[name] + 0.1 * old_critic[name], atol=1e-7)
        assert not torch.equal(new_critic[name], old_critic[name]) or "ln_" in name


def test_routing_metrics_on_known_candidates():
    cands = torch.tensor([[[[0.0, 0.0], [2.0, 0.0]]]])  # one seed, one state, K=2, action_dim 2
    m = routing_metrics(cands, torch.tensor([[1]]))
    assert all(v.shape == (1,) for v in m.values())
    assert torch.isclose(m["pairwise_distance"][0], torch.tensor(2.0))  # ||(2,0)||^2 / 2
    assert torch.isclose(m["centroid_divergence"][0], torch.tensor(0.5))  # ||(1,0)||^2 / 2
    assert m["winner_entropy"][0] == 0 and m["winner_max_prob"][0] == 1


def test_inference_is_one_forward_in_the_action_box():
    agent = tiny_agent()
    obs = torch.randn(1, 10, 3)
    actions = agent.sample_actions(obs, [torch.Generator().manual_seed(0)])
    assert actions.shape == (1, 10, 2) and actions.abs().max() <= 1


@pytest.mark.parametrize("field", ["q_agg", "actor_q_agg"])
def test_unknown_aggregation_is_refused(field):
    with pytest.raises(ValueError, match=field):
        tiny_agent(**{field: "max"})
