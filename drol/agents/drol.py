"""DROL: a latent-conditioned one-step actor trained with top-1 dynamic routing.

Per state, K latents from the uniform ball of radius sqrt(action_dim) give K candidate actions; the
dataset action is routed to its nearest candidate, and only that winner gets behaviour cloning and the
critic's push. The loss follows the released code, which produced the paper's tables: the routing
distance is divided by action_dim, bc_coef (the paper's alpha) weights the BC term, and the Q term is
normalised by mean |Q| (the paper's Eq. 8 writes alpha on -Q instead).

Optimisation (ours, not the reference's): only the winner receives gradient, so the K candidates are
computed without autograd and the winner is recomputed with it. Gradients are identical (see
tests/test_drol.py) and the backward pass no longer grows with K.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from drol.agents.base import AgentConfig, Batch, Generators, OneStepAgent, aggregate, per_seed, q_improvement_loss
from drol.nets import Actor
from drol.ranges import bounded

CPU_BLOCK_ROWS = 1024


@dataclass
class DROLConfig(AgentConfig):
    num_candidates: int = bounded(16, minimum=1)  # K, candidates per state in training (DROL(16)'s default)
    bc_coef: float = bounded(1.0, minimum=0)  # weight of the routed BC loss; the paper's alpha in Table 3 (per task)
    normalize_q_loss: bool = True  # divide the Q term by stop_grad(mean |Q|), floored at 1e-6
    actor_q_agg: str = bounded("min", choices=("mean", "min"))  # ensemble aggregation of Q at the winner


def sample_ball(shape: tuple[int, ...], dim: int, radius: float, generator: torch.Generator,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """Uniform samples from the `dim`-ball of `radius`: Gaussian direction, radius R * u^(1/dim).

    The draws (one randn, then one rand) are the same as ever; `ball_from_draws` turns them into latents
    with operations whose result does not depend on the thread count, the tensor's size or how torch
    splits it into vectorised chunks, and every latent lies inside the ball (see there)."""
    gauss = torch.randn(*shape, dim, generator=generator, device=device)
    u = torch.rand(*shape, 1, generator=generator, device=device)
    return ball_from_draws(gauss, u, radius)


def ball_from_draws(gauss: torch.Tensor, u: torch.Tensor, radius: float) -> torch.Tensor:
    """(..., dim) standard normal and (..., 1) uniform [0, 1) draws -> (..., dim) latents, exactly.

    Only correctly rounded IEEE operations (+, *, /, sqrt, comparisons, conversions) decide the result, each
    row on its own and in a fixed order, so every latent is a function of its own draws alone: the same bits
    on 1 or 16 threads, in one call or in slices, vectorised or not. (`linalg.vector_norm` and `pow` are
    not: their vectorised and scalar paths round differently, and which elements take which path depends on
    the tensor's size and the number of threads.) The norm is a fixed pairwise sum of squares in float64
    (each square exact); u^(1/dim) is rounded to float32 by comparing float64 powers of float32 midpoints
    (see `_root`). The radius is capped at R * (1 - (dim + 2) * 2^-24), so no latent's norm exceeds R, even
    after rounding to float32 and summing its squares in float32 in any order; the cap moves only latents
    within a few float32 ulps of the sphere, by at most that much.
    """
    dim = gauss.shape[-1]
    g = gauss.to(torch.float64)
    norm = _fixed_order_sum(g * g).sqrt().clamp_min(torch.finfo(torch.float64).tiny)
    rho = (radius * _root(u.to(torch.float32), dim).to(torch.float64)).clamp_max(radius * (1 - (dim + 2) * 2.0**-24))
    return (g * (rho / norm)).to(gauss.dtype)


def _fixed_order_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum over the last dim (keepdim) by a fixed tree of elementwise additions."""
    while x.shape[-1] > 1:
        half = x.shape[-1] // 2
        pairs = x[..., :half] + x[..., half:2 * half]
        x = torch.cat([pairs, x[..., 2 * half:]], -1) if x.shape[-1] % 2 else pairs
    return x


def _int_pow(x: torch.Tensor, n: int) -> torch.Tensor:
    """x^n (n >= 1) by a fixed chain of multiplications: deterministic, and non-decreasing in x >= 0."""
    result, base = None, x
    while n:
        if n & 1:
            result = base if result is None else result * base
        n >>= 1
        if n:
            base = base * base
    return result


def _root(u: torch.Tensor, dim: int) -> torch.Tensor:
    """u^(1/dim) rounded to the nearest float32, decided by float64 products alone, for float32 u in [0, 1].

    Among the float32 neighbours of a guess (torch's float64 pow rounded to float32), the answer is the
    largest r whose midpoint m with the float32 below it has m^dim <= u (m is exact in float64; m^dim by
    `_int_pow`, non-decreasing in m, so the midpoints that pass are a prefix). The window decides answers
    from 2 ulps below the guess to 1 above. A pow computed another way (vectorised or not, another library)
    gives a guess within one float32 ulp of this one, so the same answer: the guess equals the answer on every
    value torch.rand returns (k * 2^-24) for dims 2 to 19, 21, 24, 26, 28, 30, 33 and 64 (checked once,
    exhaustively, with torch 2.13's vectorised and scalar pow)."""
    if dim == 1:
        return u
    u64 = u.to(torch.float64)
    guess = u64.pow(1.0 / dim).to(torch.float32).view(torch.int32)  # >= 0: neighbours are adjacent integers
    window = (guess.unsqueeze(-1) + torch.arange(-3, 3, dtype=torch.int32, device=u.device)).clamp_min(0)
    floats = window.view(torch.float32).to(torch.float64)  # guess - 3 ulps ... guess + 2 ulps
    passed = (_int_pow((floats[..., :-1] + floats[..., 1:]) * 0.5, dim) <= u64.unsqueeze(-1)).sum(-1)
    root = (guess + (passed - 3).to(torch.int32)).view(torch.float32)
    return torch.where(u > 0, root, 0.0)


def route(candidates: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Index of the candidate nearest each dataset action: argmin_k ||cand_k - a||^2 / action_dim.
    (..., K, A) candidates and (..., A) actions -> (...) indices."""
    return (candidates - actions.unsqueeze(-2)).square().mean(-1).argmin(-1)


def pairwise_sq_dist(x: torch.Tensor) -> torch.Tensor:
    """(..., K, d) -> (..., K, K) squared distances / d."""
    return (x.unsqueeze(-2) - x.unsqueeze(-3)).square().mean(-1)


class DROLAgent(OneStepAgent):
    config: DROLConfig

    def __init__(self, obs_dim: int, action_dim: int, config: DROLConfig, seeds: int = 1):
        super().__init__(obs_dim, action_dim, config, seeds)
        self.latent_radius = math.sqrt(action_dim)
        self.actor = Actor(obs_dim + action_dim, config.actor_hidden_dims, action_dim, seeds)
        self.init_optimizer()

    def sample_latents(self, shape: tuple[int, ...], generators: Generators) -> torch.Tensor:
        # Each seed draws as `sample_ball` would (its randn, then its rand); one exact transform for all seeds.
        gauss = per_seed(generators, lambda g: torch.randn(*shape, self.action_dim, generator=g, device=self.device))
        u = per_seed(generators, lambda g: torch.rand(*shape, 1, generator=g, device=self.device))
        return ball_from_draws(gauss, u, self.latent_radius)

    def sample_draws(self, batch_size: int, generators: Generators) -> dict[str, torch.Tensor]:
        return {"latents": self.sample_latents((batch_size, self.config.num_candidates), generators),
                "next_latents": self.sample_latents((batch_size,), generators)}

    def policy(self, obs: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        return self.actor(obs, latents).clamp(-1.0, 1.0)

    def candidates(self, obs: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """(S, B, K, A) actions for (S, B, obs_dim) states and (S, B, K, A) latents. On a CPU the forward runs
        in blocks of about CPU_BLOCK_ROWS rows per seed, whose activations stay in cache (1.5x faster at K = 64
        than one block)."""
        k = latents.shape[2]
        states = obs.shape[1] if obs.is_cuda else max(1, CPU_BLOCK_ROWS // k)
        return torch.cat([self.policy(o.unsqueeze(2).expand(-1, -1, k, -1), z)
                          for o, z in zip(obs.split(states, 1), latents.split(states, 1))], 1)

    def next_actions(self, next_obs: torch.Tensor, draws: dict[str, torch.Tensor]) -> torch.Tensor:
        # One policy sample for the TD target (critic_num_candidates = 1).
        with torch.no_grad():
            return self.policy(next_obs, draws["next_latents"])

    def actor_loss(self, batch: Batch, draws: dict[str, torch.Tensor], with_metrics: bool = False):
        obs, actions, latents = batch["observations"], batch["actions"], draws["latents"]

        # Candidates: K per state, no autograd (only the winner will receive gradient).
        with torch.no_grad():
            candidates = self.candidates(obs, latents)  # (S, B, K, A)

            # Routing: each dataset action goes to its nearest candidate; no gradient through argmin.
            winner = route(candidates, actions)  # (S, B)

        # BC on the winner, recomputed with autograd.
        winner_latents = latents.gather(2, winner[..., None, None].expand(-1, -1, 1, latents.shape[-1]))[:, :, 0]
        winner_action = self.policy(obs, winner_latents)
        bc_loss = (winner_action - actions).square().mean(-1).mean(-1)  # per seed

        # Q on the winner, critic held fixed.
        qs = self.critic(obs, winner_action, detach_params=True)
        q = aggregate(qs, self.config.actor_q_agg)
        q_loss = q_improvement_loss(q, self.config.normalize_q_loss)

        actor_loss = self.config.bc_coef * bc_loss + q_loss
        info = {"actor_loss": actor_loss.detach(), "bc_loss": bc_loss.detach(), "q_loss": q_loss.detach(),
                "actor_q": q.detach().mean(-1)}
        if with_metrics:
            info.update(routing_metrics(candidates, winner))
        return actor_loss, info

    @torch.no_grad()
    def validation_info(self, batch: Batch, draws: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Routed BC loss on held-out transitions."""
        _, info = self.actor_loss(batch, draws)
        return {"val_bc_loss": info["bc_loss"]}


def routing_metrics(candidates: torch.Tensor, winner: torch.Tensor) -> dict[str, torch.Tensor]:
    """The paper's Fig. 3 diagnostics of (S, B, K, A) candidate sets and their (S, B) winner indices, per seed."""
    k = candidates.shape[2]
    centroid = candidates.mean(2, keepdim=True)
    metrics = {"centroid_divergence": (candidates - centroid).square().mean(-1).mean((1, 2)),
               # A single candidate has no pairs: its spread is 0.
               "pairwise_distance": pairwise_sq_dist(candidates).sum((-1, -2)).mean(1) / max(k * (k - 1), 1)}
    p = torch.nn.functional.one_hot(winner, k).sum(1).float() / winner.shape[1]  # (S, K) winner frequencies
    metrics["winner_entropy"] = -(p * p.clamp_min(1e-12).log()).sum(1)
    metrics["winner_max_prob"] = p.amax(1)
    return metrics
