"""Offline datasets as tensors on the training device, and how a task's data and environments are made."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

TRANSITION_KEYS = ("observations", "actions", "rewards", "masks", "next_observations")
# Dataset actions are clipped just inside the action box, as in the reference.
ACTION_CLIP = 1 - 1e-5
# The toy datasets are fixed (data seeds 0 and 1), so every training seed sees the same data.
TOY_TRAIN_SIZE, TOY_VAL_SIZE = 20_000, 2_000


def fingerprint(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over the transition arrays (names, dtypes, shapes and bytes), in a fixed key order."""
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{key}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


@dataclass
class Dataset:
    """Transitions (observations, actions, rewards, masks, next_observations) as float32 tensors."""

    tensors: dict[str, torch.Tensor]
    fingerprint: str = ""
    info: dict = field(default_factory=dict)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], device: torch.device | str = "cpu",
                    info: dict | None = None) -> Dataset:
        missing = [k for k in TRANSITION_KEYS if k not in arrays]
        if missing:
            raise KeyError(f"dataset lacks {', '.join(missing)}")
        arrays = {k: np.asarray(arrays[k], dtype=np.float32) for k in TRANSITION_KEYS}
        arrays["actions"] = np.clip(arrays["actions"], -ACTION_CLIP, ACTION_CLIP)
        tensors = {k: torch.from_numpy(v).to(device) for k, v in arrays.items()}
        return cls(tensors, fingerprint(arrays), info or {})

    def __len__(self) -> int:
        return self.tensors["observations"].shape[0]

    @property
    def obs_dim(self) -> int:
        return self.tensors["observations"].shape[1]

    @property
    def action_dim(self) -> int:
        return self.tensors["actions"].shape[1]

    def sample(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        idx = torch.randint(len(self), (batch_size,), generator=generator, device=generator.device)
        return {k: v[idx] for k, v in self.tensors.items()}


class DataError(Exception):
    """A dataset problem the user can fix: the message names the file or key and the fix."""


def default_data_dir() -> Path:
    """Where datasets live: $DROL_DATA_DIR, else OGBench's own default (~/.ogbench/data)."""
    return Path(os.environ.get("DROL_DATA_DIR", "~/.ogbench/data")).expanduser()


def validate_transitions(arrays: dict[str, np.ndarray], obs_dim: int, action_dim: int, source: str) -> None:
    """Check keys, shapes and finiteness of transition arrays against the environment's spaces.

    `source` names the file in the message; every failure raises DataError naming the key and the fix.
    """
    missing = [k for k in TRANSITION_KEYS if k not in arrays]
    if missing:
        raise DataError(f"{source}: missing key(s) {', '.join(missing)}; regenerate or re-download the file")
    n = len(arrays["observations"])
    expected = {"observations": (n, obs_dim), "next_observations": (n, obs_dim), "actions": (n, action_dim),
                "rewards": (n,), "masks": (n,)}
    for key, shape in expected.items():
        if tuple(arrays[key].shape) != shape:
            raise DataError(f"{source}: {key} has shape {tuple(arrays[key].shape)}, the environment needs {shape}; "
                            "the file belongs to another task or version: regenerate or re-download it")
    for key in TRANSITION_KEYS:
        if not np.isfinite(arrays[key]).all():
            bad = int((~np.isfinite(arrays[key])).sum())
            raise DataError(f"{source}: {key} holds {bad} non-finite value(s); regenerate or re-download the file")


@dataclass
class TaskData:
    """What training needs from a task: datasets, a batched-env factory, and where the data came from."""

    train: Dataset
    val: Dataset | None
    make_env: Callable[[int], object]  # num_envs -> a batched env (see drol.evaluate)
    route: str  # how the data was obtained ("toy", "ogbench", ...)
    scorer: Callable  # (returns, successes) -> per-episode score (see drol.evaluate)


def load_task_data(task, device: torch.device | str = "cpu", data_dir: Path | None = None, offline: bool = True,
                   d4rl_route: str = "hdf5") -> TaskData:
    """The datasets and evaluation envs of `task`; `data_dir` defaults to `default_data_dir()`."""
    if task.suite == "toy":
        from drol.data.toy import ToyBandit, ToyBanditEnv
        from drol.evaluate import success_score

        bandit = ToyBandit()
        info = {"generator": "toy", **bandit.describe()}
        return TaskData(train=Dataset.from_arrays(bandit.dataset(TOY_TRAIN_SIZE, seed=0), device, info),
                        val=Dataset.from_arrays(bandit.dataset(TOY_VAL_SIZE, seed=1), device, info),
                        make_env=lambda n: ToyBanditEnv(bandit, n), route="toy", scorer=success_score)
    if task.suite == "ogbench":
        from drol.data.ogbench import load_ogbench

        return load_ogbench(task, device, data_dir, offline)
    from drol.data.d4rl import load_d4rl

    return load_d4rl(task, device, route=d4rl_route, data_dir=data_dir)
