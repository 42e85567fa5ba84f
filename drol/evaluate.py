"""Batched evaluation: the N episodes of one evaluation step together, one policy forward per env step.

An environment here is a batched env: `reset(seed) -> obs (N, obs_dim)` and
`step(actions, idx) -> (obs, reward, done, success)` for the live episodes `idx` only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import torch


class BatchedEnv(Protocol):
    num_envs: int

    def reset(self, seed: int) -> np.ndarray: ...

    def step(self, actions: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...

    def close(self) -> None: ...


Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]


def success_score(returns: np.ndarray, successes: np.ndarray) -> np.ndarray:
    """OGBench and the toy task: success rate x 100."""
    return successes.astype(np.float64) * 100.0


def evaluate(policy: Callable[[torch.Tensor], torch.Tensor], env: BatchedEnv, seed: int, scorer: Scorer,
             device: torch.device | str = "cpu") -> pd.DataFrame:
    """Run `env.num_envs` episodes; one row per episode: episode, success, return, score, length.

    `policy` maps a (n, obs_dim) tensor to (n, action_dim) actions; it holds its own RNG, so
    evaluation never touches the training RNG.
    """
    n = env.num_envs
    obs = env.reset(seed)
    alive = np.arange(n)
    returns, lengths = np.zeros(n), np.zeros(n, np.int64)
    success = np.zeros(n, bool)
    while alive.size:
        import torch

        with torch.no_grad():
            actions = policy(torch.as_tensor(obs[alive], device=device)).cpu().numpy()
        next_obs, reward, done, succ = env.step(actions, alive)
        returns[alive] += reward
        lengths[alive] += 1
        success[alive] = succ
        obs[alive] = next_obs
        alive = alive[~done]
    return pd.DataFrame({"episode": np.arange(n), "success": success, "return": returns,
                         "score": scorer(returns, success), "length": lengths})


class GymBatchedEnv:
    """N gymnasium environments as one batched env; only the live episodes are stepped.

    `success` is read from `info[success_key]` at each step (OGBench: "success"); `max_episode_steps`
    truncates episodes whose env has no TimeLimit of its own.
    """

    def __init__(self, envs: list, success_key: str = "success", max_episode_steps: int | None = None):
        self.envs, self.num_envs = envs, len(envs)
        self.success_key, self.max_episode_steps = success_key, max_episode_steps
        self.steps = np.zeros(self.num_envs, np.int64)

    def reset(self, seed: int) -> np.ndarray:
        self.steps[:] = 0
        return np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(self.envs)]).astype(np.float32)

    def step(self, actions: np.ndarray, idx: np.ndarray):
        obs, rewards, dones, successes = [], [], [], []
        for action, i in zip(np.clip(actions, -1, 1), idx):
            ob, reward, terminated, truncated, info = self.envs[i].step(action)
            self.steps[i] += 1
            limit = self.max_episode_steps is not None and self.steps[i] >= self.max_episode_steps
            obs.append(ob)
            rewards.append(reward)
            dones.append(terminated or truncated or limit)
            successes.append(bool(info.get(self.success_key, False)))
        return np.stack(obs).astype(np.float32), np.array(rewards, np.float64), np.array(dones), np.array(successes)

    def close(self) -> None:
        for env in self.envs:
            env.close()
