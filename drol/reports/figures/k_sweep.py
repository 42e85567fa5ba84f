"""The K figures, from the runs of a K sweep (label K-sweep) in the setting the selection rule shows for the task:
Fig. 3 top (routing diagnostics against K) and Fig. 4 (final score against K)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from drol.methods import K_SWEEP
from drol.reports.figures import common as kit
from drol.reports.select import opened

TAIL_FRACTION = 0.1  # training metrics: mean over the last 10 % of logged steps
TRAIN_METRICS = (  # (metric name, axis label, log10 of the per-run value)
    ("pairwise_distance", "cand. pairwise distance", False),
    ("centroid_divergence", "log$_{10}$ centroid divergence", True),
    ("bc_loss", "routed BC loss", False),
)
TRAIN_COLOURS = {"pairwise_distance": "#3a3a3a", "centroid_divergence": kit.PALETTE[4], "bc_loss": kit.PALETTE[3]}
DEFAULT_K = 16
MAX_METRIC_TASKS = 3
# The counted K-sweep runs (finished, or diverged with score 0) of the setting shown for their task (views.sql).
SWEEP_RUNS = """
    SELECT run_id, method, task, seed, K, counted_score AS score, status, hparams_source, steps, batch_size,
           eval_episodes, data_route, success_timing
    FROM shown_runs
    WHERE label = ? AND for_task AND counted AND K IS NOT NULL"""


# Fig. 3 top: training metrics against K
def train_metrics_data(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per finished K-sweep run (the setting shown for its task) and metric of TRAIN_METRICS: the mean over the
    last TAIL_FRACTION of its logged steps (column value), with the run's task, seed and K."""
    names = [name for name, _, _ in TRAIN_METRICS]
    # Finished runs only: a diverged run's metrics end in NaN.
    runs = kit.df(con, SWEEP_RUNS + " AND status = 'finished' ORDER BY run_id", [K_SWEEP]).drop(columns="score")
    metrics = kit.df(con, f"""
        SELECT m.run_id, m.name, m.step, m.value FROM train_metrics m
        WHERE m.name IN ({', '.join('?' * len(names))}) AND m.value IS NOT NULL
          AND m.run_id IN (SELECT run_id FROM run_labels WHERE label = ?)
        ORDER BY m.run_id, m.name, m.step""", [*names, K_SWEEP])
    metrics = metrics[metrics.run_id.isin(runs.run_id)]
    if metrics.empty:
        return pd.DataFrame(columns=["run_id", "name", "value", *runs.columns[1:]])
    last = metrics.groupby(["run_id", "name"])["step"].transform("max")
    tail = metrics[metrics.step >= (1 - TAIL_FRACTION) * last]
    return tail.groupby(["run_id", "name"], sort=True)["value"].mean().reset_index().merge(runs, on="run_id")


def train_metrics_figure(db, out_dir: Path | str, *, label: str | None = None) -> list[Path]:
    """Candidate pairwise distance, log10 centroid divergence and routed BC loss against K (K-sweep runs)."""
    with opened(db) as con:
        per_run = train_metrics_data(con)
        info = kit.task_info(con)
    if per_run.empty:
        return kit.no_data("train_metrics_vs_k", "no finished K-sweep run with routing metrics ("
                        + ", ".join(name for name, _, _ in TRAIN_METRICS) + ")")
    tasks = kit.task_order(per_run.task, info, representative_first=True)[:MAX_METRIC_TASKS]
    per_run = per_run[per_run.task.isin(tasks)]
    dropped_k1 = False

    with kit.style():
        n_rows = len(tasks)
        fig = kit.new_figure(kit.DOUBLE_COLUMN_IN, 0.35 + 1.95 * n_rows)
        subfigs = np.atleast_1d(fig.subfigures(n_rows, 1, squeeze=False).ravel())
        seed_counts = []
        for r, task in enumerate(tasks):
            data = per_run[per_run.task == task]
            ks = sorted(data.K.unique())
            steps = data.steps.max()
            subfigs[r].suptitle(f"{task}  ({kit.fmt_step(steps)} updates)" if pd.notna(steps) else task,
                                fontsize=8.3, fontweight="bold")
            axes = subfigs[r].subplots(1, len(TRAIN_METRICS))
            for c, (name, ylabel, logged) in enumerate(TRAIN_METRICS):
                ax = axes[c]
                d = data[data.name == name].copy()
                if logged:
                    zero = d.value <= 0
                    dropped_k1 |= bool(zero.any())
                    d = d[~zero]
                    d["value"] = np.log10(d.value)
                if d.empty:
                    ax.text(0.5, 0.5, "not logged", transform=ax.transAxes, ha="center", va="center",
                            color=kit.NOTE_COLOUR, fontsize=7.5)
                else:
                    s = kit.mean_sd(d, ["K"], "value")
                    seed_counts += list(s.n)
                    colour = TRAIN_COLOURS[name]
                    ax.fill_between(s.K, s["mean"] - s.sd, s["mean"] + s.sd, color=colour, alpha=0.2, lw=0)
                    ax.plot(s.K, s["mean"], "o-", color=colour, ms=3.5)
                    ax.margins(y=0.12)
                kit.k_axis(ax, ks)
                ax.set_title(ylabel)
                ax.set_xlabel("K (candidates)")
        caption = [
            "Each run's value: mean over its last "
            f"{TAIL_FRACTION:.0%} of logged training steps; line: mean over seeds, band: ±1 s.d. "
            f"({kit.seeds_text(seed_counts)}); finished K-sweep runs. Pairwise distance and divergence are squared "
            "distances divided by the action dimension (pairwise: over off-diagonal candidate pairs; divergence: "
            "to the candidates' mean); BC loss: to the routed (nearest) candidate."
            + (" K = 1 is absent from the divergence panel: one candidate has divergence 0." if dropped_k1 else ""),
        ]
        kit.finish(fig, caption, label)
        return kit.save(fig, out_dir, "train_metrics_vs_k")


# Fig. 4: K sensitivity
def k_sensitivity_data(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Final scores of the counted K-sweep runs (one row per run; a diverged run scores 0) of the setting shown
    for their task: the runs of the view k_sensitivity's rows with shown (a task the sweep left out has none)."""
    return kit.df(con, SWEEP_RUNS + " AND counted_score IS NOT NULL ORDER BY run_id", [K_SWEEP])


def best_k(runs: pd.DataFrame) -> int:
    """The K with the highest mean final score over seeds (the smallest such K on ties)."""
    s = kit.mean_sd(runs, ["K"], "score")
    return int(s.sort_values(["mean", "K"], ascending=[False, True]).iloc[0].K)


def k_sensitivity_figure(db, out_dir: Path | str, *, label: str | None = None) -> list[Path]:
    """Final score against K per task of the K sweep: mean ± s.d. over seeds, K = 16 dashed, best K marked."""
    with opened(db) as con:
        runs = k_sensitivity_data(con)
        info = kit.task_info(con)
        default = {m.method: m.label for m in kit.styles(con).values() if m.is_default}
    if runs.empty:
        return kit.no_data("k_sensitivity", "no finished K-sweep run with an evaluation")
    swept = ", ".join(default.get(m, m) for m in sorted(runs.method.unique()))  # the label whose K is varied
    written: list[Path] = []
    for stem, tasks, note in kit.pages(kit.task_order(runs.task, info), out_dir, "k_sensitivity"):
        written += _k_sensitivity_page(runs[runs.task.isin(tasks)], tasks, info, out_dir, stem, label,
                                       f"{note}K sweep: the {swept} configuration with K varied")
    return written


def _k_sensitivity_page(runs: pd.DataFrame, tasks: list[str], info: pd.DataFrame, out_dir, stem: str,
                        label: str | None, what: str) -> list[Path]:
    with kit.style():
        from matplotlib.lines import Line2D

        fig, axes, ncols, nrows = kit.grid(len(tasks), 2.0, 0.75, 1.3)
        seed_counts, best_text, lengths = [], [], []
        for i, task in enumerate(tasks):
            ax = axes[i]
            s = kit.mean_sd(runs[runs.task == task], ["K"], "score")
            seed_counts += list(s.n)
            scorer = info.loc[task, "scorer"] if task in info.index else "success"
            kit.band(ax, s.K, s["mean"], s.sd, kit.SWEEP_COLOUR, 0.2, scorer)
            ax.plot(s.K, s["mean"], "o-", color=kit.SWEEP_COLOUR, ms=3.5, zorder=3)
            ks = list(s.K)
            steps = runs[runs.task == task].steps.max()
            lengths.append((kit.short_task(task), kit.fmt_step(steps) if pd.notna(steps) else "?"))
            if min(ks) <= DEFAULT_K <= max(ks) or DEFAULT_K in ks:
                ax.axvline(DEFAULT_K, color="#333333", ls="--", lw=0.9, zorder=1)
            k_best = best_k(runs[runs.task == task])
            ax.plot([k_best], [s.set_index("K").loc[k_best, "mean"]], "o", ms=9, mfc="none", mec=kit.HIGHLIGHT,
                    mew=1.6, zorder=4)
            best_text.append(f"{kit.short_task(task)}: K = {k_best}")
            kit.k_axis(ax, ks)
            if scorer == "success":
                ax.set_ylim(-4, 104)
            else:
                lo = min(0.0, float((s["mean"] - s.sd).min()))
                ax.set_ylim(lo - 4, max(100.0, float((s["mean"] + s.sd).max())) + 4)
            ax.set_title(kit.panel_title(task, ncols), fontsize=8.0 if ncols >= 3 else None)
            if i % ncols == 0:
                ax.set_ylabel(kit.score_label(scorer, final=True))
            if i // ncols == nrows - 1 or i + ncols >= len(tasks):
                ax.set_xlabel("K (candidates)")
        handles = [Line2D([], [], color=kit.SWEEP_COLOUR, marker="o", ms=3.5, label="mean ± 1 s.d."),
                   Line2D([], [], color="#333333", ls="--", lw=0.9, label=f"K = {DEFAULT_K} (default)"),
                   Line2D([], [], ls="none", marker="o", ms=8, mfc="none", mec=kit.HIGHLIGHT, mew=1.6,
                          label="best K")]
        fig.legend(handles=handles, loc="outside upper center", ncols=3, frameon=False)
        best = ": " + "; ".join(best_text) if len(best_text) <= 3 else " circled"
        if len({n for _, n in lengths}) == 1:
            updates = lengths[0][1]
        else:
            updates = "; ".join(f"{t} {n}" for t, n in lengths)
        # The paper's Fig. 4 names its OGBench tasks (the representative ones) but not its D4RL tasks.
        named = {t for t in tasks
                 if t in info.index and info.loc[t, "suite"] == "ogbench" and info.loc[t, "representative"]}
        chosen = [kit.short_task(t) for t in tasks if t not in named]
        caption = [f"{what}, finished runs and diverged runs (scored 0). Final score = mean score of the evaluation "
                   f"at the last step; mean ± 1 s.d. over seeds ({kit.seeds_text(seed_counts)}). Best observed K "
                   f"(smallest on ties){best}. Training updates per run: {updates}."
                   + (f" Tasks the paper's Fig. 4 does not name (our choice): {', '.join(chosen)}." if chosen else "")]
        kit.finish(fig, caption, label)
        return kit.save(fig, out_dir, stem)


