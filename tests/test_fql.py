import torch
from conftest import manual_mlp, member_params

from baselines.fql import FQLAgent, FQLConfig


def tiny_fql(**overrides) -> FQLAgent:
    torch.manual_seed(0)
    return FQLAgent(3, 2, FQLConfig(actor_hidden_dims=(8, 8), value_hidden_dims=(8, 8), **overrides))


def one_seed(batch: dict) -> dict:
    """A batch with a leading seed dimension of 1."""
    return {k: v.unsqueeze(0) for k, v in batch.items()}


def set_constant_velocity(agent: FQLAgent, velocity: torch.Tensor) -> None:
    """Make the BC flow output a constant: zero last-layer kernel, bias = velocity."""
    with torch.no_grad():
        agent.actor_bc_flow.net.weights[-1].zero_()
        agent.actor_bc_flow.net.biases[-1].copy_(velocity.view(1, 1, 1, -1))


def test_flow_matching_target_is_x1_minus_x0(tiny_batch):
    agent = tiny_fql()
    set_constant_velocity(agent, torch.zeros(2))
    draws = agent.sample_draws(6, [torch.Generator().manual_seed(1)])
    _, info = agent.actor_loss(one_seed(tiny_batch), draws)
    assert info["bc_flow_loss"].shape == (1,)
    # A zero velocity field leaves the whole target in the loss: mean((x1 - x0)^2).
    expected = (tiny_batch["actions"] - draws["flow_noises"][0]).square().mean()
    assert torch.allclose(info["bc_flow_loss"][0], expected, atol=1e-6)


def test_flow_matching_interpolates_on_the_straight_path(tiny_batch):
    agent = tiny_fql()
    draws = agent.sample_draws(6, [torch.Generator().manual_seed(2)])
    x0, t, x1 = draws["flow_noises"][0], draws["flow_times"][0], tiny_batch["actions"]
    x_t = (1 - t) * x0 + t * x1
    pred = manual_mlp(torch.cat([tiny_batch["observations"], x_t, t], -1), *member_params(agent.actor_bc_flow.net))
    _, info = agent.actor_loss(one_seed(tiny_batch), draws)
    assert torch.allclose(info["bc_flow_loss"][0], (pred - (x1 - x0)).square().mean(), atol=1e-6)


def test_euler_teacher_integrates_constant_field_and_clips():
    agent = tiny_fql(flow_steps=10)
    set_constant_velocity(agent, torch.tensor([0.3, -2.0]))
    x0 = torch.tensor([[[0.1, 0.5], [0.9, 0.2]]])  # (seeds 1, batch 2, action 2)
    teacher = agent.teacher_actions(torch.zeros(1, 2, 3), x0)
    # x1 = x0 + v (ten steps of v/10), then clipped to [-1, 1].
    expected = torch.tensor([[0.4, -1.0], [1.0, -1.0]])
    assert teacher.shape == (1, 2, 2)
    assert torch.allclose(teacher[0], expected, atol=1e-6)


def test_actor_loss_equals_hand_computation(tiny_batch):
    agent = tiny_fql(alpha=3.0)
    draws = agent.sample_draws(6, [torch.Generator().manual_seed(3)])
    loss, info = agent.actor_loss(one_seed(tiny_batch), draws)
    obs, z = tiny_batch["observations"], draws["noises"][0]
    student = manual_mlp(torch.cat([obs, z], -1), *member_params(agent.actor_onestep.net))
    teacher = agent.teacher_actions(obs.unsqueeze(0), z.unsqueeze(0))[0]
    distill = (student - teacher).square().mean()
    qs = torch.stack([manual_mlp(torch.cat([obs, student.clamp(-1, 1)], -1), *member_params(agent.critic.net, m))[:, 0]
                      for m in range(2)])
    q_loss = -qs.mean(0).mean()  # FQL: ensemble mean, not normalised
    assert loss.shape == (1,)
    assert torch.allclose(info["distill_loss"][0], distill, atol=1e-6)
    assert torch.allclose(info["q_loss"][0], q_loss, atol=1e-6)
    assert torch.allclose(loss[0], info["bc_flow_loss"][0] + 3.0 * distill + q_loss, atol=1e-6)


def test_student_is_the_policy_and_the_td_target_sampler(tiny_batch):
    agent = tiny_fql()
    draws = agent.sample_draws(6, [torch.Generator().manual_seed(4)])
    next_actions = agent.next_actions(tiny_batch["next_observations"].unsqueeze(0), draws)
    expected = manual_mlp(torch.cat([tiny_batch["next_observations"], draws["next_noises"][0]], -1),
                          *member_params(agent.actor_onestep.net)).clamp(-1, 1)
    assert next_actions.shape == (1, 6, 2)
    assert torch.allclose(next_actions[0], expected, atol=1e-6)
