"""What every one-step actor-critic agent here shares: config fields, the critic, the TD loss, the update.

An agent subclasses `OneStepAgent` and defines its actor networks, `sample_draws` (every random draw of
one update, so a test can fix them), `actor_loss`, `next_actions` and `policy`. Losses return
`(loss, info)` like the reference's FQL agent; info values are detached tensors (read them only at log
steps, so a GPU run does not synchronise every update).

Seed blocks: an agent holds `seeds` independent copies of its networks and optimizer state, stacked on a
leading dimension. Every input and draw is (seeds, ...), every loss and info value is per seed (seeds,),
and the update minimises their sum, whose gradient with respect to seed s's parameters is seed s's own
gradient. `for_seeds` initialises each seed as a one-seed agent built under that seed would be, and
`seed_states`/`load_seed_states` move one seed's slice in and out (checkpoints hold one seed each).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from drol.nets import Critic
from drol.ranges import bounded, check_ranges

Batch = dict[str, torch.Tensor]
Generators = list[torch.Generator]  # one per seed of the block, in block order


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
    """Ensemble (seeds, members, batch) -> (seeds, batch) by "min" or "mean"."""
    return qs.min(1).values if how == "min" else qs.mean(1)


def q_improvement_loss(q: torch.Tensor, normalize: bool) -> torch.Tensor:
    """Per seed, -mean(q) over the batch, optionally divided by that seed's (gradient-free) mean |q| with a
    1e-6 floor: (seeds, batch) -> (seeds,)."""
    loss = -q.mean(-1)
    if normalize:
        loss = loss / q.abs().mean(-1).detach().clamp_min(1e-6)
    return loss


def per_seed(generators: Generators, draw) -> torch.Tensor:
    """`draw(generator)` for each seed's generator, stacked: (seeds, ...). Each seed's stream sees exactly
    the calls it would see alone."""
    return torch.stack([draw(g) for g in generators])


def seed_slices(state: dict, seeds: int) -> list[dict]:
    """A state dict of stacked tensors -> one state dict per seed ((1, ...) slices; 0-d tensors copied)."""
    return [{k: _slice(v, s, seeds) for k, v in state.items()} for s in range(seeds)]


def _slice(value, s: int, seeds: int):
    if isinstance(value, dict):
        return {k: _slice(v, s, seeds) for k, v in value.items()}
    if isinstance(value, torch.Tensor) and value.dim() > 0:
        assert value.shape[0] == seeds, f"expected a leading seed dimension of {seeds}, got {tuple(value.shape)}"
        return value[s:s + 1].clone()
    return copy.deepcopy(value)


def stack_slices(states: list[dict]) -> dict:
    """Inverse of `seed_slices`: per-seed state dicts -> one of stacked tensors."""
    first = states[0]
    if isinstance(first, dict):
        return {k: stack_slices([st[k] for st in states]) for k in first}
    if isinstance(first, torch.Tensor) and first.dim() > 0:
        return torch.cat(states)
    return first


class OneStepAgent(nn.Module):
    config: AgentConfig

    def __init__(self, obs_dim: int, action_dim: int, config: AgentConfig, seeds: int = 1):
        super().__init__()
        self.obs_dim, self.action_dim, self.config, self.seeds = obs_dim, action_dim, config, seeds
        self.critic = Critic(obs_dim, action_dim, config.value_hidden_dims, config.num_qs, config.layer_norm, seeds)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)

    @classmethod
    def for_seeds(cls, obs_dim: int, action_dim: int, config: AgentConfig, seeds: list[int],
                  device: torch.device | str = "cpu") -> OneStepAgent:
        """A block agent whose seed s starts with the weights a one-seed agent built after
        `torch.manual_seed(seeds[s])` gets, so a seed's run does not depend on the block it is in."""
        states = []
        for seed in seeds:
            torch.manual_seed(seed)
            states.append(cls(obs_dim, action_dim, config).state_dict())
        agent = cls(obs_dim, action_dim, config, seeds=len(seeds))
        agent.load_state_dict(stack_slices(states))
        agent.to(device)
        agent.init_optimizer()
        return agent

    def seed_states(self) -> list[dict]:
        """One {"agent", "optimizer"} state per seed, each the state of a one-seed agent."""
        agent, optim = seed_slices(self.state_dict(), self.seeds), self.optimizer.state_dict()
        per_seed_optim = seed_slices(optim["state"], self.seeds)
        return [{"agent": a, "optimizer": {"state": o, "param_groups": copy.deepcopy(optim["param_groups"])}}
                for a, o in zip(agent, per_seed_optim)]

    def load_seed_states(self, states: list[dict]) -> None:
        """Load one state per seed (as `seed_states` gives them, e.g. from checkpoints); all must have taken the
        same number of optimizer steps."""
        self.load_state_dict(stack_slices([st["agent"] for st in states]))
        optim = [st["optimizer"] for st in states]
        self.optimizer.load_state_dict({"state": stack_slices([o["state"] for o in optim]),
                                        "param_groups": optim[0]["param_groups"]})

    def init_optimizer(self) -> None:
        """One Adam over actor and critic: per-parameter, so equivalent to one optimizer each.

        On a CPU the foreach implementation: its kernels round each element alike wherever it sits in a
        tensor, so seed s's slice of a block updates bit for bit as in a one-seed run (the fused CPU kernel
        takes a vectorised path for some elements and a scalar one with other rounding for the rest, which
        depends on the block size; the two are equally fast here). On CUDA the fused kernel, capturable so
        the update can be captured as a CUDA graph (drol.step)."""
        params = [p for p in self.parameters() if p.requires_grad]
        on_cuda = params[0].is_cuda
        self.optimizer = torch.optim.Adam(params, lr=self.config.lr, **(
            {"fused": True, "capturable": True} if on_cuda else {"foreach": True}))

    @property
    def device(self) -> torch.device:
        return self.critic.net.weights[0].device

    # Subclasses define these.
    def sample_draws(self, batch_size: int, generators: Generators) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def actor_loss(self, batch: Batch, draws: dict[str, torch.Tensor], with_metrics: bool = False):
        raise NotImplementedError

    def next_actions(self, next_obs: torch.Tensor, draws: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def sample_latents(self, shape: tuple[int, ...], generators: Generators) -> torch.Tensor:
        """(seeds, *shape, latent_dim) policy latents, seed s's from generators[s]."""
        raise NotImplementedError

    def policy(self, obs: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """Action in [-1, 1] for given latents: one forward pass."""
        raise NotImplementedError

    # Q loss (TD)
    def critic_loss(self, batch: Batch, next_actions: torch.Tensor):
        """Per seed, the mean over ensemble and batch of (Q_i(s, a) - y)^2,
        y = r + gamma * mask * agg_i Qbar_i(s', a')."""
        with torch.no_grad():
            next_qs = self.target_critic(batch["next_observations"], next_actions)
            target_q = batch["rewards"] + self.config.discount * batch["masks"] * aggregate(next_qs, self.config.q_agg)
        q = self.critic(batch["observations"], batch["actions"])  # (seeds, ensemble, batch)
        loss = (q - target_q.unsqueeze(1)).square().mean((1, 2))
        q = q.detach()
        return loss, {"critic_loss": loss.detach(), "q_mean": q.mean((1, 2)),
                      "q_max": q.amax((1, 2)), "q_min": q.amin((1, 2))}

    def total_loss(self, batch: Batch, draws: dict[str, torch.Tensor], with_metrics: bool = False):
        critic_loss, critic_info = self.critic_loss(batch, self.next_actions(batch["next_observations"], draws))
        actor_loss, actor_info = self.actor_loss(batch, draws, with_metrics)
        return critic_loss + actor_loss, {**critic_info, **actor_info}

    # Update
    def update(self, batch: Batch, draws: dict[str, torch.Tensor], with_metrics: bool = False):
        loss, info = self.total_loss(batch, draws, with_metrics)
        self.optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()  # seeds share no parameters: each seed's gradient is its own loss's
        if with_metrics:
            grads = [p.grad.flatten(1) for p in self.parameters() if p.grad is not None]
            info["grad_norm"] = torch.linalg.vector_norm(torch.cat(grads, 1), dim=1)
        info["total_loss"] = loss.detach()
        # The target follows the critic weights this update started from (the reference updates its
        # target from the pre-step parameters), so Polyak comes before the optimizer step.
        with torch.no_grad():
            torch._foreach_lerp_(list(self.target_critic.parameters()), list(self.critic.parameters()),
                                 self.config.tau)
        self.optimizer.step()
        return info

    @torch.no_grad()
    def sample_actions(self, obs: torch.Tensor, generators: Generators) -> torch.Tensor:
        """(seeds, n, obs_dim) observations -> (seeds, n, action_dim) actions, one latent per row."""
        return self.policy(obs, self.sample_latents((obs.shape[1],), generators))
