"""What every one-step actor-critic agent here shares: config fields, the critic, the TD loss, the update.

An agent subclasses `OneStepAgent` and defines its actor networks, `sample_draws` (every random draw of
one update, so a test can fix them), `actor_loss`, `next_actions` and `policy`. Losses return
`(loss, info)` like the reference's FQL agent; info values are detached tensors (read them only at log
steps, so a GPU run does not synchronise every update).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from drol.nets import Critic
from drol.ranges import bounded, check_ranges

Batch = dict[str, torch.Tensor]


@dataclass
class AgentConfig:
    lr: float = bounded(3e-4, exclusive_minimum=0)  # Adam learning rate, shared by actor and critic (Table 2)
    discount: float = bounded(0.99, minimum=0, maximum=1)  # gamma; 0.995 on long-horizon OGBench families
    tau: float = bounded(0.005, minimum=0, maximum=1)  # Polyak rate of the target critic
    q_agg: str = bounded("mean", choices=("mean", "min"))  # aggregation of the target ensemble in the TD target
    actor_hidden_dims: tuple[int, ...] = bounded((512, 512, 512, 512), minimum=1)  # actor MLP widths (no LayerNorm)
    value_hidden_dims: tuple[int, ...] = bounded((512, 512, 512, 512), minimum=1)  # critic MLP widths
    num_qs: int = bounded(2, minimum=1)  # critic ensemble size
    layer_norm: bool = True  # LayerNorm after each hidden activation of the critic

    def __post_init__(self):
        check_ranges(self)


def aggregate(qs: torch.Tensor, how: str) -> torch.Tensor:
    """Ensemble (members, batch) -> (batch,) by "min" or "mean"."""
    return qs.min(0).values if how == "min" else qs.mean(0)


def q_improvement_loss(q: torch.Tensor, normalize: bool) -> torch.Tensor:
    """-mean(q), optionally divided by the (gradient-free) mean |q| with a 1e-6 floor."""
    loss = -q.mean()
    if normalize:
        loss = loss / q.abs().mean().detach().clamp_min(1e-6)
    return loss


class OneStepAgent(nn.Module):
    config: AgentConfig

    def __init__(self, obs_dim: int, action_dim: int, config: AgentConfig):
        super().__init__()
        self.obs_dim, self.action_dim, self.config = obs_dim, action_dim, config
        self.critic = Critic(obs_dim, action_dim, config.value_hidden_dims, config.num_qs, config.layer_norm)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)

    def init_optimizer(self) -> None:
        """One Adam over actor and critic: per-parameter, so equivalent to one optimizer each."""
        self.optimizer = torch.optim.Adam([p for p in self.parameters() if p.requires_grad], lr=self.config.lr,
                                          fused=True)

    @property
    def device(self) -> torch.device:
        return self.critic.net.weights[0].device

    # Subclasses define these.
    def sample_draws(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def actor_loss(self, batch: Batch, draws: dict[str, torch.Tensor], with_metrics: bool = False):
        raise NotImplementedError

    def next_actions(self, next_obs: torch.Tensor, draws: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def sample_latents(self, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def policy(self, obs: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """Action in [-1, 1] for given latents: one forward pass."""
        raise NotImplementedError

    # Q loss (TD)
    def critic_loss(self, batch: Batch, next_actions: torch.Tensor):
        """mean over ensemble and batch of (Q_i(s, a) - y)^2, y = r + gamma * mask * agg_i Qbar_i(s', a')."""
        with torch.no_grad():
            next_qs = self.target_critic(batch["next_observations"], next_actions)
            target_q = batch["rewards"] + self.config.discount * batch["masks"] * aggregate(next_qs, self.config.q_agg)
        q = self.critic(batch["observations"], batch["actions"])
        loss = (q - target_q).square().mean()
        return loss, {"critic_loss": loss.detach(), "q_mean": q.detach().mean(),
                      "q_max": q.detach().max(), "q_min": q.detach().min()}

    def total_loss(self, batch: Batch, draws: dict[str, torch.Tensor], with_metrics: bool = False):
        critic_loss, critic_info = self.critic_loss(batch, self.next_actions(batch["next_observations"], draws))
        actor_loss, actor_info = self.actor_loss(batch, draws, with_metrics)
        return critic_loss + actor_loss, {**critic_info, **actor_info}

    # Update
    def update(self, batch: Batch, draws: dict[str, torch.Tensor], with_metrics: bool = False):
        loss, info = self.total_loss(batch, draws, with_metrics)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if with_metrics:
            grads = [p.grad for p in self.parameters() if p.grad is not None]
            info["grad_norm"] = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
        info["total_loss"] = loss.detach()
        # The target follows the critic weights this update started from (the reference updates its
        # target from the pre-step parameters), so Polyak comes before the optimizer step.
        with torch.no_grad():
            torch._foreach_lerp_(list(self.target_critic.parameters()), list(self.critic.parameters()),
                                 self.config.tau)
        self.optimizer.step()
        return info

    @torch.no_grad()
    def sample_actions(self, obs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.policy(obs, self.sample_latents((obs.shape[0],), generator))
