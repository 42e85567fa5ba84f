"""Curves per method label: learning curves per task, and performance profiles per family (with stats.md's runs)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from drol.reports.figures import common as kit
from drol.reports.select import MethodLabel, opened, table1_runs
from drol.reports.stats import TAUS, performance_profile


# Learning curves
def learning_curves_data(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per finished run of a method label, in the setting the selection rule shows for its task (the view
    learning_curves' rows with shown: the runs of Table 4), and evaluation step: the mean score of that
    evaluation."""
    return kit.df(con, """
        SELECT run_id, task, seed, label, step, score, eval_episodes
        FROM learning_curves
        WHERE shown AND status = 'finished' AND score IS NOT NULL AND label IN (SELECT label FROM methods)
        ORDER BY run_id, label, step""")


def curve_tasks(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The figure's panels: every task with a counted run of a method label in the setting shown (Table 4's
    tasks), also one whose runs all diverged, so that its pages are what the workflow planned
    (drol.workflow.figure_files)."""
    return [t for (t,) in con.execute("""
        SELECT DISTINCT task FROM shown_runs
        WHERE for_task AND counted AND label IN (SELECT label FROM methods) ORDER BY task""").fetchall()]


def learning_curves_figure(db, out_dir: Path | str, *, label: str | None = None) -> list[Path]:
    """Per task (one panel each) and method label: mean ± s.d. over seeds of the evaluation score per step."""
    with opened(db) as con:
        curves = learning_curves_data(con)
        info = kit.task_info(con)
        styles = kit.styles(con)
        tasks = kit.task_order(curve_tasks(con), info)
    if curves.empty:
        return kit.no_data("learning_curves", "no finished run labelled " + ", ".join(styles))
    written: list[Path] = []
    for stem, page_tasks, note in kit.pages(tasks, out_dir, "learning_curves"):
        written += _learning_curves_page(curves[curves.task.isin(page_tasks)], page_tasks, info, styles, out_dir,
                                         stem, label, note)
    return written


def _learning_curves_page(curves: pd.DataFrame, tasks: list[str], info: pd.DataFrame, styles: dict[str, MethodLabel],
                          out_dir, stem: str, label: str | None, note: str) -> list[Path]:
    with kit.style():
        from matplotlib.lines import Line2D

        fig, axes, ncols, nrows = kit.grid(len(tasks), 1.85, 0.8)
        seed_counts, coincide = [], []
        shared: dict[tuple[str, str], list[str]] = {}  # two labels that are the same runs -> the tasks
        present = [m for m in styles if m in set(curves.label)]
        for i, task in enumerate(tasks):
            ax = axes[i]
            data = curves[curves.task == task]
            same = _same_runs({m: frozenset(data[data.label == m].run_id) for m in present})
            for pair in same:
                shared.setdefault(pair, []).append(kit.short_task(task))
            scorer = info.loc[task, "scorer"] if task in info.index else "success"
            if data.empty:
                ax.text(0.5, 0.5, "no finished run", transform=ax.transAxes, ha="center", va="center",
                        color=kit.NOTE_COLOUR, fontsize=7.5)
            means = {}
            for m in present:
                d = data[data.label == m]
                if d.empty:
                    continue
                s = kit.mean_sd(d, ["step"], "score")
                seed_counts += list(s.n)
                means[m] = s.set_index("step")["mean"]
                kit.band(ax, s.step, s["mean"], s.sd, styles[m].colour, 0.15, scorer)
                ax.plot(s.step, s["mean"], styles[m].linestyle, color=styles[m].colour, marker=styles[m].marker,
                        ms=2.8, label=m)
            for group in _identical_curves(means):
                if not all((a, b) in same for a in group for b in group if present.index(a) < present.index(b)):
                    coincide.append(f"{', '.join(group)} on {kit.short_task(task)}")
            if scorer == "success":
                ax.set_ylim(-4, 104)
            ax.set_xlim(left=0)
            kit.step_axis(ax)
            ax.set_title(kit.panel_title(task, ncols), fontsize=8.0 if ncols >= 3 else None)
            if i % ncols == 0:
                ax.set_ylabel(kit.score_label(scorer))
            if i // ncols == nrows - 1 or i + ncols >= len(tasks):
                ax.set_xlabel("training step (updates)")
        handles = [Line2D([], [], color=styles[m].colour, ls=styles[m].linestyle, marker=styles[m].marker, ms=2.8,
                          label=m) for m in present]
        fig.legend(handles=handles, loc="outside upper center", ncols=len(handles), frameon=False)
        episodes = curves.groupby("task", sort=False)["eval_episodes"].max()
        episodes = {kit.short_task(t): kit.int_text(episodes.get(t)) for t in tasks}
        per_eval = (next(iter(episodes.values())) if len(set(episodes.values())) == 1
                    else "; ".join(f"{t} {n}" for t, n in episodes.items()))
        caption = [f"{note}Mean score of each evaluation (episodes per evaluation: {per_eval}); line: mean over "
                   f"seeds, band: ±1 s.d. ({kit.seeds_text(seed_counts)}); finished runs only."]
        for (a, b), on in shared.items():
            dashed = " (dashed)" if styles[b].linestyle != "-" else ""
            caption.append(f"{b}{dashed} and {a} are the same runs on {', '.join(on)} (one configuration stands for "
                           "both labels): their curves coincide.")
        if coincide:
            caption.append("Identical mean curves, drawn on top of each other: " + "; ".join(coincide) + ".")
        kit.finish(fig, caption, label)
        return kit.save(fig, out_dir, stem)


def _same_runs(run_sets: dict[str, frozenset]) -> list[tuple[str, str]]:
    """Pairs of labels (in display order) that stand for the same runs on a task."""
    labels = [m for m, runs in run_sets.items() if runs]
    return [(a, b) for i, a in enumerate(labels) for b in labels[i + 1:] if run_sets[a] == run_sets[b]]


def _identical_curves(means: dict[str, pd.Series]) -> list[list[str]]:
    """Groups (2 or more labels) whose mean curves are equal at every step: drawn on top of each other."""
    groups: list[list[str]] = []
    for m, curve in means.items():
        for group in groups:
            ref = means[group[0]]
            if ref.index.equals(curve.index) and np.allclose(ref.to_numpy(), curve.to_numpy()):
                group.append(m)
                break
        else:
            groups.append([m])
    return [g for g in groups if len(g) > 1]


# Performance profiles
def performance_profile_data(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per Table 1 family and method label: the fraction of runs scoring above each tau (columns family, label,
    n_runs, tau, fraction), over the runs of stats.md and profiles.csv (select.table1_runs)."""
    runs = pd.DataFrame(table1_runs(con), columns=["family", "label", "task", "seed", "score"])
    rows = []
    for (family, label), group in runs.groupby(["family", "label"], sort=False):
        strata = [g.score.to_numpy(dtype=float) for _, g in group.groupby("task")]
        rows += [(family, label, len(group), tau, value) for tau, value in zip(TAUS, performance_profile(strata))]
    return pd.DataFrame(rows, columns=["family", "label", "n_runs", "tau", "fraction"])


def performance_profile_figure(db, out_dir: Path | str, *, label: str | None = None) -> list[Path]:
    """Per family (panel) and method label: the fraction of runs (every task's seeds) scoring above tau."""
    with opened(db) as con:
        profiles = performance_profile_data(con)
        styles = kit.styles(con)
    if profiles.empty:
        return kit.no_data("performance_profile", "no finished run labelled " + ", ".join(styles))
    families = sorted(profiles.family.unique())
    with kit.style():
        fig, axes, _, _ = kit.grid(len(families), 1.8, 0.9)
        for ax, family in zip(axes, families):
            for m in styles:
                p = profiles[(profiles.family == family) & (profiles.label == m)]
                if not p.empty:
                    ax.plot(p.tau, p.fraction, styles[m].linestyle, drawstyle="steps-post", color=styles[m].colour,
                            label=f"{m} ({p.n_runs.iloc[0]} runs)")
            ax.set(title=family, xlabel="score threshold τ", ylabel="fraction of runs > τ", xlim=(0, 100),
                   ylim=(-0.02, 1.02))
            ax.legend(loc="upper right", frameon=False)
        kit.finish(fig, ["Performance profiles: for each family and method, the fraction of runs (every task's "
                         "seeds, final scores) whose score exceeds τ; the area under a curve is the mean score. "
                         "Intervals: stats.md and profiles.csv (stratified bootstrap)."], label)
        return kit.save(fig, out_dir, "performance_profile")
