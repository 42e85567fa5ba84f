"""The task registry: the paper's 50 OGBench and 18 D4RL tasks plus the toy task.

Built from package data copied from the paper's reference (`drol/registry/hparams.csv`): suite, family,
representative flag, training length and the hyperparameters of each method label with provenance.
The paper's Table 3 and the released production script disagree on some D4RL rows; `hparams_source`
picks `table3` (default) or `script`.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from drol.errors import UnknownName

HPARAMS_SOURCES = ("table3", "script")

TOY_TASK = "toy-bandit-v0"


@dataclass(frozen=True)
class Task:
    name: str
    suite: str  # "ogbench", "d4rl" or "toy"
    family: str  # task group of the paper's Table 1
    representative: bool  # the family's task on which the paper tuned K (marked * in Table 4)
    offline_steps: int  # training length of the paper (1M OGBench, 500k D4RL)
    hparams: dict = field(default_factory=dict)  # method label -> {source name -> config overrides}
    provenance: dict = field(default_factory=dict)  # method label -> where the values come from
    train_defaults: dict = field(default_factory=dict)  # training-config defaults of this task
    agent_defaults: dict = field(default_factory=dict)  # agent-config defaults of this task, under any label's values

    @property
    def scorer(self) -> str:
        """How evaluation episodes are scored: "success" or "normalized_return" (the suite's)."""
        from drol.data import get_suite

        return get_suite(self.suite).scorer_name

    @property
    def episode_limit(self) -> int:
        """Environment steps per evaluation episode (OGBench's per family, D4RL's per task)."""
        from drol.data import get_suite

        return get_suite(self.suite).episode_limit(self)

    def method_overrides(self, label: str, hparams_source: str = "table3") -> dict:
        """Agent-config values of a method label (DROL(16), DROL, FQL) for this task, from hparams.csv."""
        if label not in self.hparams:
            raise UnknownName(f"task {self.name} has no hyperparameters for label {label!r} in hparams.csv; "
                              f"it has {', '.join(self.hparams)}")
        by_source = self.hparams[label]
        return dict(by_source.get(hparams_source, by_source["table3"]))


_SCRIPT_NOTE = re.compile(r"script uses bc_coef=([0-9.]+), K=([0-9]+)")


def _row_overrides(row: dict) -> dict:
    values = {row["coef_name"]: float(row["coef"]), "discount": float(row["discount"]),
              "q_agg": row["q_agg"], "normalize_q_loss": row["normalize_q_loss"] == "1"}
    if row["num_candidates"]:
        values["num_candidates"] = int(row["num_candidates"])
    return values


def _toy_task() -> Task:
    drol = {"bc_coef": 1.0, "discount": 0.99, "q_agg": "mean", "normalize_q_loss": True}
    small_nets = {"actor_hidden_dims": (128, 128, 128), "value_hidden_dims": (128, 128, 128)}
    return Task(
        name=TOY_TASK, suite="toy", family="toy", representative=True, offline_steps=2000,
        hparams={"DROL(16)": {"table3": {**drol, "num_candidates": 16}},
                 "DROL": {"table3": {**drol, "num_candidates": 4}},
                 "FQL": {"table3": {"alpha": 10.0, "discount": 0.99, "q_agg": "mean", "normalize_q_loss": False}}},
        agent_defaults=small_nets,
        provenance={label: "toy task (ours): K=M=4 for DROL" for label in ("DROL(16)", "DROL", "FQL")},
        train_defaults={"eval_interval": 500, "eval_episodes": 1000, "log_interval": 100,
                        "val_interval": 500, "checkpoint_interval": 1000},
    )


@cache
def registry() -> dict[str, Task]:
    rows: dict[str, list[dict]] = {}
    with resources.files("drol.registry").joinpath("hparams.csv").open() as f:
        for row in csv.DictReader(f):
            rows.setdefault(row["task"], []).append(row)
    tasks = {}
    for name, task_rows in rows.items():
        first = task_rows[0]
        hparams, provenance = {}, {}
        for row in task_rows:
            table3 = _row_overrides(row)
            by_source = {"table3": table3}
            note = _SCRIPT_NOTE.search(row["note"])
            if note:
                by_source["script"] = {**table3, "bc_coef": float(note[1]), "num_candidates": int(note[2])}
            hparams[row["method"]] = by_source
            provenance[row["method"]] = row["source"] + (f"; {row['note']}" if row["note"] else "")
        tasks[name] = Task(name=name, suite=first["suite"], family=first["family"],
                           representative=first["representative"] == "1",
                           offline_steps=int(first["offline_steps"]), hparams=hparams, provenance=provenance)
    toy = _toy_task()
    tasks[toy.name] = toy
    return tasks


def get_task(name: str) -> Task:
    tasks = registry()
    if name not in tasks:
        families = sorted({t.family for t in tasks.values()})
        raise UnknownName(f"unknown task {name!r}; run `drol tasks` for the {len(tasks)} tasks "
                          f"(families: {', '.join(families)})")
    return tasks[name]
