"""A run, resolved once: (method, label, task, seed) -> agent config, training config and data settings.

`resolve_run` turns a method label and a task into a `RunSpec` with every value filled in; the spec is
what `drol train` trains, what the workflow hands each job (`drol train --spec`), and what `run.json`
records. `RunSpec.run_dir` is the one function that names run directories, so a run started by hand and
the same run planned by the workflow land in the same directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path

from drol.data import SUCCESS_TIMINGS, DataSettings, check_success_timing
from drol.methods import Method, get_label, get_method
from drol.ranges import bounded, check_ranges
from drol.tasks import HPARAMS_SOURCES, UnknownName, get_task


@dataclass
class TrainConfig:
    steps: int = bounded(1_000_000, minimum=1)  # gradient updates; the task's paper length unless set
    batch_size: int = bounded(256, minimum=1)  # transitions per update (paper Table 2)
    eval_interval: int = bounded(100_000, minimum=1)  # updates between evaluations; also at step 1 and the end
    eval_episodes: int = bounded(50, minimum=1)  # episodes per seed per evaluation
    # Episodes of a seed stepped together, one environment each; the others follow in waves. Bounds memory: an
    # OGBench manipulation environment holds 150-200 MB, and a block holds seeds x this many.
    eval_envs_per_seed: int = bounded(10, minimum=1)
    log_interval: int = bounded(5000, minimum=1)  # updates between training-metric records (and divergence checks)
    val_interval: int = bounded(5000, minimum=1)  # updates between validation-loss records, where a -val set exists
    checkpoint_interval: int = bounded(50_000, minimum=1)  # updates between checkpoints (also on SIGTERM/SIGINT)
    snapshot_states: int = bounded(4, minimum=1)  # dataset states whose candidate sets are kept at each evaluation
    hparams_source: str = bounded("table3", choices=HPARAMS_SOURCES)  # a task's hyperparameters: Table 3 or script
    # When an evaluation episode's success is counted: after the step ('post', OGBench 1.1.0 as the paper's
    # code pins; D4RL and the toy task) or before it ('pre', OGBench >= 1.2's default); see SUCCESS_TIMINGS.
    success_timing: str = bounded("post", choices=SUCCESS_TIMINGS)

    def __post_init__(self):
        check_ranges(self)


@dataclass
class RunSpec:
    """Everything that determines a run, resolved once and carried (to the job, into run.json)."""

    method: str  # registered method name (drol.methods), e.g. "drol"
    label: str  # the method label it was resolved from, e.g. "DROL(16)"
    task: str  # registered task name (drol.tasks)
    seed: int  # seeds every RNG of the run
    agent: typing.Any  # the method's config dataclass (an AgentConfig subclass)
    train: TrainConfig  # schedule: updates, evaluations, logging, checkpoints
    data: DataSettings = field(default_factory=DataSettings)  # where the data is and which data it is
    labels: tuple[str, ...] = ()  # every label this configuration stands for (and workflow tags, e.g. runtime)

    def identity(self, dataset_fingerprint: str) -> dict:
        return {"method": self.method, "task": self.task, "seed": self.seed, "agent": asdict(self.agent),
                "train": asdict(self.train), "dataset": dataset_fingerprint}

    def run_id(self, dataset_fingerprint: str) -> str:
        return short_hash(self.identity(dataset_fingerprint))

    def run_dir(self, root: Path | str) -> Path:
        """`root/<suite>/<task>/<method>-K<K>-<hash>/seed<N>`: readable, deterministic; the hash covers every
        agent and training field and which data the run trains on (not where the files are), so runs of
        other settings never share a directory and a hand-run equals the workflow's."""
        method = get_method(self.method)
        k = f"-K{getattr(self.agent, method.k_field)}" if method.has_k else ""
        digest = short_hash({"agent": asdict(self.agent), "train": asdict(self.train),
                             "data": self.data.identity(self.task)}, 8)
        return Path(root) / get_task(self.task).suite / self.task / f"{self.method}{k}-{digest}" / f"seed{self.seed}"

    def to_dict(self) -> dict:
        return {"method": self.method, "label": self.label, "labels": list(self.labels), "task": self.task,
                "seed": self.seed, "agent": asdict(self.agent), "train": asdict(self.train),
                "data": asdict(self.data)}

    @classmethod
    def from_dict(cls, values: dict) -> RunSpec:
        """A spec written by `to_dict` (the workflow's --spec, run.json's `spec`); unknown keys are refused."""
        try:
            method = get_method(values["method"])
            agent = _typed(method.config_class(), values["agent"], "agent")
            train = _typed(TrainConfig, values["train"], "train")
            data = _typed(DataSettings, values.get("data") or {}, "data")
            get_label(values["label"], method.name)
            get_task(values["task"])
            check_success_timing(values["task"], train.success_timing)
            seed = values["seed"]
            if not isinstance(seed, int) or isinstance(seed, bool):
                raise ValueError(f"run spec: seed must be an integer, got {seed!r}")
            return cls(method.name, values["label"], values["task"], seed, agent, train, data,
                       tuple(values.get("labels") or ()))
        except KeyError as err:
            if isinstance(err, UnknownName):
                raise
            raise ValueError(f"run spec: missing key {err.args[0]!r}; write specs with RunSpec.to_dict") from None


def _typed(cls: type, values: dict, what: str):
    if not isinstance(values, dict):
        raise ValueError(f"run spec: {what} must be an object, got {type(values).__name__}")
    types = field_types(cls)
    unknown = sorted(set(values) - set(types))
    if unknown:
        raise UnknownName(f"run spec: unknown {what} key {unknown[0]!r}; valid keys: {', '.join(sorted(types))}")
    return cls(**{k: tuple(v) if typing.get_origin(types[k]) is tuple and isinstance(v, list) else v
                  for k, v in values.items()})


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
    types = {**field_types(get_method(method).config_class()), **field_types(TrainConfig)}
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


def _label_values(method: Method, label: str, task, source: str) -> dict:
    return get_label(label, method.name)[1].resolve(task, source)


def _agent_config(method: Method, task, label_values: dict, agent_over: dict):
    config_cls = method.config_class()
    values = {**task.agent_defaults, **label_values, **agent_over}
    unknown = sorted(set(values) - set(field_types(config_cls)))
    if unknown:
        raise UnknownName(f"unknown config key {unknown[0]!r} for method {method.name}; valid keys: "
                          f"{', '.join(sorted({*field_types(config_cls), *field_types(TrainConfig)}))}")
    return config_cls(**values)


def resolve_run(method_name: str, task_name: str, seed: int, overrides: dict | None = None,
                label: str | None = None, data: DataSettings | None = None, tags: tuple[str, ...] = ()) -> RunSpec:
    """The run of a method label on a task: the task's hyperparameters for the label, then overrides.

    `labels` of the result are every label of the method whose resolution (with the same overrides) gives
    this same configuration, then `tags`: the studies the workflow planned it for (K-sweep, runtime)."""
    method = get_method(method_name)
    task = get_task(task_name)
    label = label or method.default_label
    get_label(label, method.name)
    overrides = dict(overrides or {})
    train_keys = set(field_types(TrainConfig))
    train_over = {k: v for k, v in overrides.items() if k in train_keys}
    agent_over = {k: v for k, v in overrides.items() if k not in train_keys}
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed {seed!r}: seeds are integers >= 0")
    train = TrainConfig(**{"steps": task.offline_steps, **task.train_defaults, **train_over})
    check_success_timing(task, train.success_timing)
    agent = _agent_config(method, task, _label_values(method, label, task, train.hparams_source), agent_over)
    return RunSpec(method.name, label, task.name, seed, agent, train, data or DataSettings(),
                   _labels_of(method, task, train.hparams_source, agent, agent_over) + tuple(tags))


def _labels_of(method: Method, task, source: str, agent, agent_over: dict) -> tuple[str, ...]:
    """Labels whose values this configuration keeps: an override that changes a value a label sets (K of
    DROL(16), say) makes the run a variant, not that label; other overrides (network width) do not."""
    kept = []
    for label in method.labels:
        try:
            values = _label_values(method, label.name, task, source)
        except KeyError:  # the label has no values for this task
            continue
        if all(values[k] == v for k, v in agent_over.items() if k in values) and \
                _agent_config(method, task, values, agent_over) == agent:
            kept.append(label.name)
    return tuple(kept)
