"""The paper's figures, each a query over results.duckdb (opened read-only), written as PNG and PDF.

FIGURES, below, is the one list of figures: the CLI (`drol report figures --only STEM`), `write_figures`
and the workflow (workflow/rules/reports.smk makes one rule per figure; drol.workflow.figure_files keeps those
whose `needs` the config has, with their pages) all read it. Each figure has a caption file workflow/report/<stem>.rst.
Importing this package is cheap (the figure modules load on first use), so the workflow can read FIGURES.

| stem | module: function | paper |
|---|---|---|
| `runtime` | `runtime: runtime_figure` | Fig. 3 bottom: ms per update and per inference step, method, K |
| `train_metrics_vs_k` | `k_sweep: train_metrics_figure` | Fig. 3 top: candidate spread, divergence, BC loss vs K |
| `k_sensitivity` | `k_sweep: k_sensitivity_figure` | Fig. 4: final score against K per task of the K sweep |
| `routing` | `routing: routing_figure` | Fig. 2: candidate set and its Voronoi cells at a fixed state |
| `learning_curves` | `curves: learning_curves_figure` | per task and method label: score against training step |
| `performance_profile` | `curves: performance_profile_figure` | per family and method label: fraction of runs > tau |

Every function takes a database path or an open (read-only) DuckDB connection and an output directory,
and returns the paths it wrote (`<stem>.png`, `<stem>.pdf`); with no data for it, it writes nothing,
logs why and returns []. A `label` (e.g. the demo config's "Demo: short CPU runs ... not comparable to the
paper") is printed as a small note on every figure.

Which runs a figure draws is the database's selection rule (views.sql, view `settings`; drol.reports.select):
per task (learning curves, the K figures) or Table 1 family (performance profiles) and label, the runs of
the setting the tables show, so a figure and a table never disagree; each figure draws its view's rows with
`shown` (k_sensitivity, learning_curves, runtime; the profiles: the runs of stats.md). The workflow's timing
runs (label 'runtime') enter only the runtime figure, the K figures only the K sweep's tasks (label K-sweep).
Methods, their legend order, colours, markers and line styles come from the database's `methods` table.
Means and intervals over seeds are mean ± one sample standard deviation (no interval with one seed); a
diverged run counts as 0 where the tables count it so (K sensitivity, profiles), curves are of finished runs.
Small multiples hold up to MAX_PANELS tasks per file (`<stem>.png`, then `<stem>_p2.png`, ...: `page_stems`);
a figure's `panels` says which runs' tasks are its panels, so the workflow knows its files from the config
before any run (drol.workflow.figure_files). Files are written atomically (temporary file, then rename) and
are byte-for-byte deterministic: no creation date or software version in the PDF or PNG metadata.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from pathlib import Path

from drol.methods import K_SWEEP

MAX_PANELS = 15  # small multiples (K sensitivity, learning curves): tasks per file; more go to <stem>_p2, ...
METHOD_RUNS = "methods"  # Figure.panels: one panel per task with runs of a method label (not timing runs)


@dataclass(frozen=True)
class Figure:
    """A figure: its file stem, its function ("module:function" in this package), the workflow config key
    whose runs it draws (None: the method runs every config has), what it shows of the paper, and its panels:
    None for one file, else the runs whose tasks are its panels (METHOD_RUNS or K_SWEEP), paged by MAX_PANELS."""
    stem: str
    target: str
    needs: str | None
    paper: str
    panels: str | None = None

    @property
    def function(self):
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), name)

    def __call__(self, db, out_dir: Path | str, *, label: str | None = None) -> list[Path]:
        return self.function(db, out_dir, label=label)


FIGURES: dict[str, Figure] = {f.stem: f for f in (
    Figure("runtime", "runtime:runtime_figure", "runtime", "Fig. 3 bottom"),
    Figure("train_metrics_vs_k", "k_sweep:train_metrics_figure", "k_sweep", "Fig. 3 top"),
    Figure("k_sensitivity", "k_sweep:k_sensitivity_figure", "k_sweep", "Fig. 4", panels=K_SWEEP),
    Figure("routing", "routing:routing_figure", None, "Fig. 2"),
    Figure("learning_curves", "curves:learning_curves_figure", None, "learning curves", panels=METHOD_RUNS),
    Figure("performance_profile", "curves:performance_profile_figure", None, "performance profiles"),
)}


def figures_for(config: dict) -> list[str]:
    """The stems of the figures a workflow config has runs for (a figure whose `needs` key the config sets)."""
    return [stem for stem, f in FIGURES.items() if f.needs is None or config.get(f.needs)]


def page_stems(stem: str, n_tasks: int) -> list[str]:
    """The files of a figure with one panel per task, MAX_PANELS per file: `stem`, `stem`_p2, ... (one at least)."""
    return [stem] + [f"{stem}_p{i}" for i in range(2, math.ceil(n_tasks / MAX_PANELS) + 1)]


def write_figures(db_path, out_dir: Path | str, label: str | None = None) -> list[Path]:
    """Every figure of FIGURES from one database into `out_dir`; the paths written (figures without data: none)."""
    from drol.reports.select import opened

    written: list[Path] = []
    with opened(db_path) as con:
        for figure in FIGURES.values():
            written += figure(con, out_dir, label=label)
    return written


# Names of the figure modules, importable from the package (loaded on first use).
_EXPORTS = {
    "common": ("PALETTE",),
    "runtime": ("runtime_data", "runtime_cases", "runtime_figure"),
    "k_sweep": ("train_metrics_data", "train_metrics_figure", "k_sensitivity_data", "k_sensitivity_figure", "best_k"),
    "routing": ("routing_data", "routing_figure"),
    "curves": ("learning_curves_data", "learning_curves_figure", "performance_profile_data",
               "performance_profile_figure"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
