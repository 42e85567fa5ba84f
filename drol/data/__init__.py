"""Offline datasets as tensors on the training device, and the one interface of the three suites.

A `Suite` (OGBench, D4RL, toy; implemented in `drol.data.ogbench`, `drol.data.d4rl`, `drol.data.toy`)
knows everything that differs between them: the dataset files of a task and where they stand, loading a
task's data and evaluation environments, the scorer, the episode limit, regeneration, and which of the
`DataSettings` change the data a run trains on. `get_suite(name)` / `suite_of(task)` return it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from drol.errors import DataError  # noqa: F401  (raised here; re-exported for the loaders)

if TYPE_CHECKING:
    import torch

TRANSITION_KEYS = ("observations", "actions", "rewards", "masks", "next_observations")
# Dataset actions are clipped just inside the action box, as in the reference.
ACTION_CLIP = 1 - 1e-5
# Where a task's data stands (`drol tasks`): generated in code, files found, regenerable here, download only.
DATA_STATUSES = ("built in", "present", "regenerable", "download only")
# Suite name (Task.suite) -> its implementation; this order is the order of listings and messages.
SUITES = {"ogbench": "drol.data.ogbench:OGBenchSuite", "d4rl": "drol.data.d4rl:D4RLSuite",
          "toy": "drol.data.toy:ToySuite"}


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
        import torch

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

    def sample(self, batch_size: int, generators: list[torch.Generator]) -> dict[str, torch.Tensor]:
        """A (seeds, batch_size, ...) batch: seed s's indices drawn from generators[s] (uniform, with
        replacement), then one gather on the device the data lives on."""
        import torch

        idx = torch.stack([torch.randint(len(self), (batch_size,), generator=g, device=g.device) for g in generators])
        return {k: v[idx] for k, v in self.tensors.items()}


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


# When an evaluation episode's success (and OGBench's reward and termination) is computed: on the state
# after the step ('post': OGBench 1.1.0, which the paper's released code pins) or before it ('pre': OGBench's
# singletask default since 1.2.0). An episode that first reaches its goal on its last step succeeds under
# 'post' only.
SUCCESS_TIMINGS = ("post", "pre")


def check_success_timing(task, timing: str) -> None:
    """ValueError when the task's suite cannot count success at `timing`."""
    suite = suite_of(task)
    if timing not in suite.success_timings:
        raise ValueError(f"success_timing {timing!r}: {_as_task(task).name} ({suite.name}) counts success "
                         f"{' or '.join(repr(t) for t in suite.success_timings)} only; 'pre' is an OGBench setting")


@dataclass
class TaskData:
    """What training needs from a task: datasets, a batched-env factory, and where the data came from."""

    train: Dataset
    val: Dataset | None
    make_env: Callable[[int, str], object]  # (num_envs, success_timing) -> a batched env (see drol.evaluate)
    route: str  # how the data was obtained ("toy", "ogbench", ...)
    scorer: Callable  # (returns, successes) -> per-episode score (see drol.evaluate)


@dataclass(frozen=True)
class DataSettings:
    """How a run finds its data, and which data it is. Only `Suite.data_identity` of these (see
    `identity`) is part of a run's identity: where the files are and whether downloading was allowed are not."""

    data_dir: str | None = None  # where the dataset files are (None: the suite's default); not identity
    offline: bool = True  # never download a missing file (OGBench); not identity
    d4rl_route: str = "hdf5"  # D4RL only: hdf5, d4rl or minari (different data: identity of D4RL runs)
    regenerated: dict | None = None  # OGBench data regenerated by drol: {"episodes": int, "seed": int}; identity

    def identity(self, task) -> dict:
        """What of these settings changes the data `task` (a Task or its name) trains on."""
        return suite_of(task).data_identity(self)

    def for_task(self, task) -> DataSettings:
        """These settings completed from what the task's data directory holds (OGBench: `regenerated` from
        the sidecar of a regenerated file), so a run by hand gets the identity the workflow gives it."""
        return suite_of(task).complete_settings(_as_task(task), self)


class Suite(ABC):
    """What differs between OGBench, D4RL and the toy task. One instance per suite: `get_suite(name)`."""

    name: str  # the suite's name, Task.suite
    scorer_name: str  # how an evaluation episode is scored: "success" or "normalized_return"
    config_dir_key: str | None = None  # the workflow config's `data` key naming this suite's directory
    # When its environments can count an episode's success (SUCCESS_TIMINGS): after the step only, unless
    # the suite's environments offer both.
    success_timings: tuple[str, ...] = ("post",)

    @abstractmethod
    def load(self, task, device: torch.device | str, settings: DataSettings) -> TaskData:
        """The task's datasets, its batched evaluation-env factory and scorer, found as `settings` say."""

    @abstractmethod
    def scorer(self, task) -> Callable:
        """The per-episode scorer: (returns, successes) -> scores (see drol.evaluate)."""

    @abstractmethod
    def episode_limit(self, task) -> int:
        """Environment steps per evaluation episode."""

    def default_data_dir(self) -> Path | None:
        """Where this suite's files are when no data directory is given (None: no files)."""
        return None

    def data_dir(self, settings: DataSettings) -> Path | None:
        return Path(settings.data_dir).expanduser() if settings.data_dir else self.default_data_dir()

    def dataset_paths(self, task, settings: DataSettings) -> list[Path]:
        """The dataset files the task reads under these settings ([] when it reads none)."""
        return []

    def regenerable(self, task) -> bool:
        """Whether drol can regenerate the task's data here (`drol gen-data`)."""
        return False

    def published_url(self, task, path: Path) -> str | None:
        """Where the suite publishes the dataset file `path` (one of the task's `dataset_paths`) for download
        (`drol fetch-data`); None when it publishes none."""
        return None

    def data_status(self, task, settings: DataSettings) -> str:
        """One of DATA_STATUSES: "present", else "regenerable" or "download only"."""
        paths = self.dataset_paths(task, settings)
        if paths and all(p.exists() for p in paths):
            return "present"
        return "regenerable" if self.regenerable(task) else "download only"

    def settings_from_config(self, data_config: dict) -> DataSettings:
        """The settings of a workflow job from the config's `data` section (regeneration aside)."""
        return DataSettings(data_dir=data_config.get(self.config_dir_key) if self.config_dir_key else None)

    def complete_settings(self, task, settings: DataSettings) -> DataSettings:
        """`settings` with what only the data directory knows filled in (see DataSettings.for_task)."""
        return settings

    def data_identity(self, settings: DataSettings) -> dict:
        """Only what changes the data a run trains on (part of its run directory's hash)."""
        return {}


def _as_task(task):
    if isinstance(task, str):
        from drol.tasks import get_task

        return get_task(task)
    return task


@functools.cache
def get_suite(name: str) -> Suite:
    """The implementation of suite `name` (ogbench, d4rl or toy)."""
    if name not in SUITES:
        from drol.tasks import UnknownName

        raise UnknownName(f"unknown suite {name!r}; choose from {', '.join(SUITES)}")
    module, cls = SUITES[name].split(":")
    return getattr(importlib.import_module(module), cls)()


def suite_of(task) -> Suite:
    """The suite of a Task (or task name)."""
    return get_suite(_as_task(task).suite)


def all_suites() -> list[Suite]:
    return [get_suite(name) for name in SUITES]


def load_task_data(task, device: torch.device | str = "cpu", settings: DataSettings | None = None,
                   **options) -> TaskData:
    """The datasets and evaluation envs of `task`, found as `settings` say (or keyword `options` of DataSettings)."""
    return suite_of(task).load(task, device, settings if settings is not None else DataSettings(**options))
