"""FQL (flow Q-learning, Park et al. 2025): the one-step baseline, as in its public `agents/fql.py`.

A BC flow network v(s, x_t, t) is trained by flow matching; a one-step student f(s, z), z ~ N(0, I), is
distilled towards the flow's 10-step Euler endpoint from the same noise and pushed up the critic. The
student is the policy at evaluation and in the TD target.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from drol.agents.base import AgentConfig, Batch, Generators, OneStepAgent, aggregate, per_seed, q_improvement_loss
from drol.nets import Actor
from drol.ranges import bounded


@dataclass
class FQLConfig(AgentConfig):
    alpha: float = bounded(10.0, minimum=0)  # weight of the distillation loss (set per task, FQL's README)
    flow_steps: int = bounded(10, minimum=1)  # Euler steps of the teacher flow
    normalize_q_loss: bool = False  # FQL's default: the Q term is not normalised
    actor_q_agg: str = bounded("mean", choices=("mean", "min"))  # ensemble aggregation of Q at the student action


class FQLAgent(OneStepAgent):
    config: FQLConfig

    def __init__(self, obs_dim: int, action_dim: int, config: FQLConfig, seeds: int = 1):
        super().__init__(obs_dim, action_dim, config, seeds)
        self.actor_bc_flow = Actor(obs_dim + action_dim + 1, config.actor_hidden_dims, action_dim, seeds)
        self.actor_onestep = Actor(obs_dim + action_dim, config.actor_hidden_dims, action_dim, seeds)
        self.init_optimizer()

    def sample_latents(self, shape: tuple[int, ...], generators: Generators) -> torch.Tensor:
        return per_seed(generators, lambda g: torch.randn(*shape, self.action_dim, generator=g, device=self.device))

    def sample_draws(self, batch_size: int, generators: Generators) -> dict[str, torch.Tensor]:
        def times(g: torch.Generator) -> torch.Tensor:
            return torch.rand(batch_size, 1, generator=g, device=self.device)

        return {"flow_noises": self.sample_latents((batch_size,), generators),
                "flow_times": per_seed(generators, times),
                "noises": self.sample_latents((batch_size,), generators),
                "next_noises": self.sample_latents((batch_size,), generators)}

    def policy(self, obs: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        return self.actor_onestep(obs, latents).clamp(-1.0, 1.0)

    def next_actions(self, next_obs: torch.Tensor, draws: dict[str, torch.Tensor]) -> torch.Tensor:
        with torch.no_grad():
            return self.policy(next_obs, draws["next_noises"])

    @torch.no_grad()
    def teacher_actions(self, obs: torch.Tensor, noises: torch.Tensor) -> torch.Tensor:
        """Euler integration of the BC flow from x0 = noises over `flow_steps` steps, clipped at the end."""
        x = noises
        steps = self.config.flow_steps
        for i in range(steps):
            t = torch.full((*obs.shape[:2], 1), i / steps, device=obs.device)
            x = x + self.actor_bc_flow(obs, x, t) / steps
        return x.clamp(-1.0, 1.0)

    def actor_loss(self, batch: Batch, draws: dict[str, torch.Tensor], with_metrics: bool = False):
        obs, actions = batch["observations"], batch["actions"]

        # BC flow loss: x_t on the straight path from x0 ~ N(0, I) to the dataset action, velocity target x1 - x0.
        x0, t = draws["flow_noises"], draws["flow_times"]
        x_t = (1 - t) * x0 + t * actions
        flow_loss = (self.actor_bc_flow(obs, x_t, t) - (actions - x0)).square().mean((1, 2))  # per seed

        # Distillation: the student's output for noise z towards the teacher's endpoint for the same z.
        noises = draws["noises"]
        student_actions = self.actor_onestep(obs, noises)
        distill_loss = (student_actions - self.teacher_actions(obs, noises)).square().mean((1, 2))

        # Q loss at the clipped student action, critic held fixed.
        qs = self.critic(obs, student_actions.clamp(-1.0, 1.0), detach_params=True)
        q = aggregate(qs, self.config.actor_q_agg)
        q_loss = q_improvement_loss(q, self.config.normalize_q_loss)

        actor_loss = flow_loss + self.config.alpha * distill_loss + q_loss
        return actor_loss, {"actor_loss": actor_loss.detach(), "bc_flow_loss": flow_loss.detach(),
                            "distill_loss": distill_loss.detach(), "q_loss": q_loss.detach(),
                            "actor_q": q.detach().mean(-1)}

    @torch.no_grad()
    def validation_info(self, batch: Batch, draws: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Flow-matching BC loss on held-out transitions."""
        _, info = self.actor_loss(batch, draws)
        return {"val_bc_loss": info["bc_flow_loss"]}
