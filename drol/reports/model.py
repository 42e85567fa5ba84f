"""The tables' data model (rows of the paper's numbers beside ours, with notes) and the paper's mark rule."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from drol.reports.fmt import present
from drol.reports.select import Setting

# The paper's 11 columns as printed (facts of the paper, not of this project's registry), and its one-step
# methods: underlined where bold in its tables. Our columns come from the database's `methods` table.
PAPER_METHODS = ("BC", "IQL", "ReBRAC", "FAWAC", "FBRAC", "IFQL", "DeFlow", "SORL", "FQL", "DROL(16)", "DROL")
PAPER_ONE_STEP = PAPER_METHODS[8:]
OURS = PAPER_ONE_STEP  # the paper's methods this project trains (its registry's labels; kept for callers)
ONE_STEP = frozenset(PAPER_ONE_STEP)
BASELINES = PAPER_METHODS[:8]
MARK_RATIO = 0.95
SUITE_TITLES = {"ogbench": "OGBench", "d4rl": "D4RL"}
NOT_IN_PAPER = "Not in the paper"
ROUTES = {
    "ogbench": "OGBench's released dataset through OGBench's loader",
    "ogbench-regenerated": "dataset regenerated locally with OGBench's scripted oracles (drol gen-data)",
    "d4rl-hdf5": "the original D4RL HDF5 file read directly (h5py)",
    "d4rl-package": "the d4rl package",
    "minari": "the Minari dataset with gymnasium-robotics environments",
    "toy": "the toy bandit's generator",
}
FINAL_RULE = ("Final score of a run: its evaluation at its last step (the mean score over that evaluation's "
              "episodes), x 100: success rate on OGBench and the toy task, normalised return on D4RL. The paper "
              "states neither which evaluation it reports nor how many seeds. Only finished runs are averaged.")


def mark_row(values: Mapping[str, float | None], one_step: Iterable[str] = ONE_STEP,
             ratio: float = MARK_RATIO) -> dict[str, str | None]:
    """The paper's marks for one row: 'b' (bold) when >= ratio x the row's best, 'u' when bold and one-step.

    Missing values (None, NaN) are neither compared nor marked. With a negative best the threshold is
    best - (1 - ratio) x |best| (the best stays bold); the paper's numbers are never negative.
    """
    one_step = set(one_step)
    values_present = {k: float(v) for k, v in values.items() if present(v)}
    if not values_present:
        return {k: None for k in values}
    best = max(values_present.values())
    threshold = best - (1 - ratio) * abs(best)
    eps = 1e-9 * max(1.0, abs(best))
    return {k: (None if k not in values_present or values_present[k] < threshold - eps
                else ("u" if k in one_step else "b")) for k in values}


@dataclass
class PaperScore:
    mean: float | None
    std: float | None
    mark: str | None  # by the rule
    printed_mark: str | None  # as printed in the paper


@dataclass
class OurScore:
    mean: float | None
    std: float | None
    n_seeds: int
    setting: Setting
    delta: float | None = None
    mark: str | None = None
    n_unfinished: int = 0
    n_diverged: int = 0  # diverged seeds among n_seeds, each counted with score 0 (views.sql)
    tasks: tuple[str, ...] = ()  # Table 1: the tasks the runs cover
    family_tasks: int | None = None  # Table 1: tasks of the family
    partial: bool = False  # Table 1: fewer tasks than the family has; delta against the paper on those tasks
    mismatch: str | None = None  # why the paper's number comes from another configuration than ours (‡)
    alternatives: list[tuple[Setting, float | None, float | None, int]] = field(default_factory=list)


@dataclass
class Row:
    key: str  # task or family
    group: str  # OGBench, D4RL or NOT_IN_PAPER
    title: str  # task name with (*) for the representative task; family with its task count
    paper: dict[str, PaperScore]
    ours: dict[str, OurScore]
    paper_steps: int | None = None


@dataclass
class NoteTable:
    header: list[str]
    rows: list[list[str]]


@dataclass
class ScoreTable:
    """Table 4 (kind 'task') or Table 1 (kind 'family') with its notes ((heading, items) pairs).

    `methods`: our columns (the database's method labels, in display order); `one_step`: those of them
    underlined where bold; `baselines`: the paper's columns that are not ours.
    """
    kind: str
    rows: list[Row]
    notes: list[tuple[str, list[str | NoteTable]]]
    methods: tuple[str, ...] = OURS
    one_step: frozenset[str] = ONE_STEP
    baselines: tuple[str, ...] = BASELINES
