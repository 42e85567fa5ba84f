"""The toy task: a 2-D multimodal contextual bandit for the routing mechanism (paper Prop. 4.1, Fig. 2).

A state is an angle phi, observed as (cos phi, sin phi). Around each state lie M separated support
modes: discs of radius `support_radius` centred on a ring of radius `ring_radius`, the ring rotated by
a state-dependent angle. The dataset's actions are drawn uniformly from the modes (each mode equally
often), so pure regression collapses to their mean, far from every mode. One mode per state pays more
(`best_reward` against `other_reward`); an action outside every disc pays nothing. Episodes are one step
(mask 0). Success = the action lies in the best mode's disc.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from drol.data import Dataset, DataSettings, Suite, TaskData

# The toy datasets are fixed (data seeds 0 and 1), so every training seed sees the same data.
TOY_TRAIN_SIZE, TOY_VAL_SIZE = 20_000, 2_000


@dataclass(frozen=True)
class ToyBandit:
    num_modes: int = 4  # M, support modes per state
    ring_radius: float = 0.6  # distance of the mode centres from the origin
    support_radius: float = 0.1  # radius of each mode's disc of dataset actions (and of reward)
    rotation: float = 0.5  # the ring turns by rotation * sin(phi) radians with the state
    best_reward: float = 1.0  # reward inside the best mode's disc
    other_reward: float = 0.5  # reward inside any other mode's disc

    obs_dim = 2
    action_dim = 2

    def observe(self, phi: np.ndarray) -> np.ndarray:
        return np.stack([np.cos(phi), np.sin(phi)], -1).astype(np.float32)

    def centres(self, obs: np.ndarray) -> np.ndarray:
        """(N, 2) observations -> (N, M, 2) mode centres."""
        phi = np.arctan2(obs[:, 1], obs[:, 0])
        theta = 2 * np.pi * np.arange(self.num_modes) / self.num_modes + self.rotation * np.sin(phi)[:, None]
        return self.ring_radius * np.stack([np.cos(theta), np.sin(theta)], -1)

    def best_mode(self, obs: np.ndarray) -> np.ndarray:
        """The mode paying `best_reward`: which of M equal arcs the state's angle falls in."""
        phi = np.mod(np.arctan2(obs[:, 1], obs[:, 0]), 2 * np.pi)
        return np.minimum((phi / (2 * np.pi) * self.num_modes).astype(np.int64), self.num_modes - 1)

    def mode_distances(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        return np.linalg.norm(actions[:, None, :] - self.centres(obs), axis=-1)

    def reward_and_success(self, obs: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dist = self.mode_distances(obs, actions)
        inside = dist <= self.support_radius
        best = self.best_mode(obs)
        success = inside[np.arange(len(obs)), best]
        other = inside.any(1) & ~success
        reward = np.where(success, self.best_reward, np.where(other, self.other_reward, 0.0))
        return reward.astype(np.float32), success

    def dataset(self, size: int, seed: int) -> dict[str, np.ndarray]:
        """`size` transitions: uniform states, a uniformly chosen mode, a uniform point in its disc."""
        rng = np.random.default_rng(seed)
        obs = self.observe(rng.uniform(0, 2 * np.pi, size))
        modes = rng.integers(self.num_modes, size=size)
        centre = self.centres(obs)[np.arange(size), modes]
        angle = rng.uniform(0, 2 * np.pi, size)
        radius = self.support_radius * np.sqrt(rng.uniform(0, 1, size)) * (1 - 1e-6)
        actions = (centre + radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], -1)).astype(np.float32)
        rewards, _ = self.reward_and_success(obs, actions)
        return {"observations": obs, "actions": actions, "rewards": rewards,
                "masks": np.zeros(size, np.float32), "next_observations": obs.copy()}

    def describe(self) -> dict:
        return asdict(self)


class ToyBanditEnv:
    """`num_envs` one-step episodes, stepped together (the evaluation's batched-env protocol)."""

    def __init__(self, task: ToyBandit, num_envs: int):
        self.task, self.num_envs = task, num_envs
        self.obs = np.zeros((num_envs, task.obs_dim), np.float32)

    def reset(self, seeds: list[int], first: int = 0) -> np.ndarray:
        """Group g's states: episodes first .. first + n - 1 of the stream of a generator seeded with seeds[g]."""
        n = self.num_envs // len(seeds)
        angles = [np.random.default_rng(seed).uniform(0, 2 * np.pi, first + n)[first:] for seed in seeds]
        self.obs = np.concatenate([self.task.observe(a) for a in angles])
        return self.obs.copy()

    def step(self, actions: np.ndarray, idx: np.ndarray):
        reward, success = self.task.reward_and_success(self.obs[idx], np.clip(actions, -1, 1))
        done = np.ones(len(idx), bool)
        return self.obs[idx].copy(), reward, done, success

    def close(self) -> None:
        pass


class ToySuite(Suite):
    """The toy task: data built in code (no files, nothing to download), one-step episodes, success x 100."""

    name = "toy"
    scorer_name = "success"

    def load(self, task, device, settings: DataSettings) -> TaskData:
        bandit = ToyBandit()
        info = {"generator": "toy", **bandit.describe()}
        return TaskData(train=Dataset.from_arrays(bandit.dataset(TOY_TRAIN_SIZE, seed=0), device, info),
                        val=Dataset.from_arrays(bandit.dataset(TOY_VAL_SIZE, seed=1), device, info),
                        make_env=lambda n, success_timing: ToyBanditEnv(bandit, n),  # success after the step
                        route="toy", scorer=self.scorer(task))

    def scorer(self, task):
        from drol.evaluate import success_score

        return success_score

    def episode_limit(self, task) -> int:
        return 1

    def data_status(self, task, settings: DataSettings) -> str:
        return "built in"
