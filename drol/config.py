"""Typed run configuration: the training schedule, resolution of a (method, task, seed) into a run, run ids."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from dataclasses import asdict, dataclass
from pathlib import Path

from baselines.fql import FQLAgent, FQLConfig
from drol.agents.base import AgentConfig
from drol.agents.drol import DROLAgent, DROLConfig
from drol.tasks import HPARAMS_SOURCES, LABEL_METHOD, UnknownName, get_task

AGENTS = {"drol": (DROLAgent, DROLConfig), "fql": (FQLAgent, FQLConfig)}
METHODS = tuple(AGENTS)
DEFAULT_LABEL = {"drol": "DROL(16)", "fql": "FQL"}


@dataclass
class TrainConfig:
    steps: int = 1_000_000  # gradient updates; the task's paper length unless set (1M OGBench, 500k D4RL)
    batch_size: int = 256  # transitions per update (paper Table 2)
    eval_interval: int = 100_000  # updates between evaluations; also evaluated at step 1 and at the end
    eval_episodes: int = 50  # episodes per evaluation, stepped together
    log_interval: int = 5000  # updates between training-metric records (and the divergence check)
    val_interval: int = 5000  # updates between validation-loss records, where a validation set exists
    checkpoint_interval: int = 50_000  # updates between checkpoints (also written on SIGTERM/SIGINT)
    snapshot_states: int = 4  # fixed dataset states whose candidate sets are kept at each evaluation
    hparams_source: str = "table3"  # where a task's hyperparameters come from: "table3" or "script"


@dataclass
class RunSpec:
    """Everything that determines a run's numbers, before its dataset is loaded."""

    method: str
    task: str
    seed: int
    agent: AgentConfig
    train: TrainConfig

    def identity(self, dataset_fingerprint: str) -> dict:
        return {"method": self.method, "task": self.task, "seed": self.seed, "agent": asdict(self.agent),
                "train": asdict(self.train), "dataset": dataset_fingerprint}

    def run_id(self, dataset_fingerprint: str) -> str:
        return short_hash(self.identity(dataset_fingerprint))

    def run_dir(self, root: Path, data: dict | None = None) -> Path:
        """`root/<suite>/<task>/<method>-K<K>-<hash>/seed<N>`: readable, deterministic; the hash covers every
        agent and training field and the `data` settings, so runs of other settings never share it."""
        k = f"-K{self.agent.num_candidates}" if hasattr(self.agent, "num_candidates") else ""
        digest = short_hash({"agent": asdict(self.agent), "train": asdict(self.train), "data": data or {}}, 8)
        return Path(root) / get_task(self.task).suite / self.task / f"{self.method}{k}-{digest}" / f"seed{self.seed}"


def short_hash(obj: dict, length: int = 12) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=list).encode()).hexdigest()[:length]


def _coerce(key: str, text: str, kind: type):
    origin = typing.get_origin(kind)
    try:
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if origin is tuple:
            return tuple(int(v) for v in text.replace("(", "").replace(")", "").split(",") if v.strip())
        return kind(text)
    except ValueError:
        raise ValueError(f"--set {key}={text}: expected {getattr(kind, '__name__', kind)}") from None


def field_types(cls: type) -> dict[str, type]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def parse_sets(pairs: list[str], method: str) -> dict[str, object]:
    """`key=value` strings -> typed overrides of the agent or training config; unknown keys name the valid ones."""
    agent_types = field_types(AGENTS[method][1])
    types = {**agent_types, **field_types(TrainConfig)}
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--set {pair!r}: expected key=value")
        key = key.strip()
        if key not in types:
            raise UnknownName(f"unknown config key {key!r} for method {method}; valid keys: {', '.join(sorted(types))}")
        overrides[key] = _coerce(key, value.strip(), types[key])
    return overrides


def resolve_run(method: str, task_name: str, seed: int, overrides: dict | None = None,
                label: str | None = None) -> RunSpec:
    """The run of `method` on `task_name`: the task's hyperparameters for the method label, then overrides."""
    if method not in AGENTS:
        raise UnknownName(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    task = get_task(task_name)
    label = label or DEFAULT_LABEL[method]
    if LABEL_METHOD.get(label) != method:
        raise UnknownName(f"method label {label!r} is not a {method} label; choose from "
                          f"{', '.join(k for k, v in LABEL_METHOD.items() if v == method)}")
    overrides = dict(overrides or {})
    train_keys = set(field_types(TrainConfig))
    train_over = {k: v for k, v in overrides.items() if k in train_keys}
    train = TrainConfig(**{"steps": task.offline_steps, **task.train_defaults, **train_over})
    if train.hparams_source not in HPARAMS_SOURCES:
        raise UnknownName(f"unknown hparams_source {train.hparams_source!r}; choose from {', '.join(HPARAMS_SOURCES)}")
    agent_cls, config_cls = AGENTS[method]
    agent_values = task.method_overrides(label, train.hparams_source)
    agent_values.update({k: v for k, v in overrides.items() if k not in train_keys})
    agent_types = field_types(config_cls)
    unknown = sorted(set(agent_values) - set(agent_types))
    if unknown:
        raise UnknownName(f"unknown config key {unknown[0]!r} for method {method}; "
                          f"valid keys: {', '.join(sorted({*agent_types, *train_keys}))}")
    return RunSpec(method, task.name, seed, config_cls(**agent_values), train)
