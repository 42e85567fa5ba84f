"""The method registry: one declaration per training method, read by everything that names a method.

A `Method` says which agent and config classes train it (as "module:Class" strings, imported only when a
run is built, so the database build and the reports never import torch), which labels it offers and how
each label resolves from a task's hyperparameters, whether it has a K (number of candidates), and how
its labels look in tables and figures. The CLI's choices, the workflow schema's labels, the database's
`methods` table (which the views join), the tables and the figures all come from here.

Adding a method: an agent file (subclass of `drol.agents.base.OneStepAgent` with a config dataclass) and
one `register(Method(...))` call, here for the project's own methods or in your own code before the
workflow or `drol` runs (see README, "Adding an algorithm").
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from drol.tasks import Task, UnknownName

K_SWEEP = "K-sweep"  # runs equal to a method's sweep label except for K (the K-sensitivity study)
RUNTIME = "runtime"  # the workflow's short timing runs (never counted as method results)
STUDY_LABELS = (K_SWEEP, RUNTIME)  # labels that name a study, not a method
Resolver = Callable[[Task, str], dict]  # (task, hparams_source) -> agent-config values of a label


def from_hparams(label: str) -> Resolver:
    """A label whose values are the task's rows of that label in hparams.csv (the paper's Table 3)."""

    def resolve(task: Task, source: str) -> dict:
        return task.method_overrides(label, source)

    return resolve


@dataclass(frozen=True)
class Label:
    name: str  # the label in tables, figures and the database, e.g. "DROL(16)"
    resolve: Resolver  # agent-config values of this label on a task, for an hparams source
    colour: str = "#949494"  # line and marker colour in figures
    marker: str = "o"  # marker in figures
    linestyle: str = "-"  # line style in figures ("--" shows a label that coincides with another)
    description: str = ""  # one line for `drol tasks` and the database's methods table


@dataclass(frozen=True)
class Method:
    name: str  # the CLI's --method, e.g. "drol"; also the `method` column of `runs`
    agent: str | type  # the agent class or its "module:Class" path (imported when a run is built)
    config: str | type  # the config dataclass or its "module:Class" path
    labels: tuple[Label, ...]  # labels this method offers; the first is the default of `drol train`
    k_field: str | None = None  # config field holding K (candidates per state), None when it has none
    one_step: bool = True  # a one-step policy: underlined in Table 4 where bold (the paper's marks)
    sweep_label: str | None = None  # the label a K sweep varies K around (methods with K only)

    def agent_class(self) -> type:
        return _load(self.agent)

    def config_class(self) -> type:
        return _load(self.config)

    @property
    def has_k(self) -> bool:
        return self.k_field is not None

    @property
    def default_label(self) -> str:
        return self.labels[0].name


def _load(target: str | type) -> type:
    if isinstance(target, type):
        return target
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


_METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add (or replace) a method; its labels must not belong to another method."""
    for other in _METHODS.values():
        clash = {label.name for label in method.labels} & {label.name for label in other.labels}
        if other.name != method.name and clash:
            raise ValueError(f"label {sorted(clash)[0]!r} already belongs to method {other.name!r}")
    _METHODS[method.name] = method
    return method


def unregister(name: str) -> None:
    _METHODS.pop(name, None)


def methods() -> dict[str, Method]:
    """Registered methods in display order (registration order)."""
    return dict(_METHODS)


def get_method(name: str) -> Method:
    if name not in _METHODS:
        raise UnknownName(f"unknown method {name!r}; choose from {', '.join(_METHODS)}")
    return _METHODS[name]


def labels() -> dict[str, tuple[Method, Label]]:
    """Every label of every method, in display order: label name -> (method, label)."""
    return {label.name: (method, label) for method in _METHODS.values() for label in method.labels}


def get_label(name: str, method: str | None = None) -> tuple[Method, Label]:
    """The method and declaration of a label; with `method`, the label must be one of that method's."""
    offered = labels()
    if name not in offered or (method is not None and offered[name][0].name != method):
        choices = [n for n, (m, _) in offered.items() if method is None or m.name == method]
        owner = f"a {method} label" if method else "a method label"
        raise UnknownName(f"{name!r} is not {owner}; choose from {', '.join(choices)}")
    return offered[name]


def method_rows() -> list[dict]:
    """The database's `methods` table: one row per label, in display order."""
    return [{"label": label.name, "method": method.name, "ord": i, "is_default": label.name == method.default_label,
             "has_k": method.has_k, "one_step": method.one_step, "colour": label.colour, "marker": label.marker,
             "linestyle": label.linestyle, "description": label.description}
            for i, (method, label) in enumerate(labels().values())]


# The project's methods, in the paper's column order (FQL, DROL(16), DROL).
_PALETTE = ("#0173b2", "#de8f05", "#029e73")
register(Method(
    name="fql", agent="baselines.fql:FQLAgent", config="baselines.fql:FQLConfig",
    labels=(Label("FQL", from_hparams("FQL"), _PALETTE[0], "o",
                  description="flow Q-learning, the one-step baseline (FQL's per-task alpha)"),),
))
register(Method(
    name="drol", agent="drol.agents.drol:DROLAgent", config="drol.agents.drol:DROLConfig",
    labels=(Label("DROL(16)", from_hparams("DROL(16)"), _PALETTE[1], "s",
                  description="DROL with K = 16 candidates (the paper's default)"),
            Label("DROL", from_hparams("DROL"), _PALETTE[2], "^", "--",
                  description="DROL with the family's tuned K (the paper's DROL*)")),
    k_field="num_candidates", sweep_label="DROL(16)",
))
