"""Fig. 3 bottom: training ms per update and inference ms per step, each method (per K where it has K)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from drol.methods import RUNTIME
from drol.reports.figures import common as kit
from drol.reports.select import opened

OTHER_ORD = 10**6  # a method the database's `methods` table lacks: after the registered ones


def runtime_data(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, str]:
    """Timed one-seed runs labelled 'runtime' (all timed one-seed runs when none is), one setting; and where
    they came from. (A seed block's ms per update is one update of all its seeds: not a method's step time.)

    One setting (task, device, networks, batch size, training length) is kept, since timings of other tasks,
    networks or devices are not comparable: the one with the largest networks, then the most cases (each
    method, per K where it has K), then the most runs. Columns added: case ((name, K), K = 0 for a method
    without K), case_ord (display order), colour.
    """
    base = """
        SELECT r.run_id, r.method, r.K, r.task, r.seed, r.status, r.steps, r.actor_hidden_dims,
               r.value_hidden_dims, r.batch_size, r.obs_dim, r.action_dim, t.device, t.ms_per_update,
               t.ms_per_inference_step, t.updates_timed, m.label AS default_label, m.ord AS method_ord, m.has_k,
               m.colour
        FROM timings t JOIN runs r ON r.run_id = t.run_id
        LEFT JOIN methods m ON m.method = r.method AND m.is_default
        WHERE t.updates_timed > 0 AND t.ms_per_update IS NOT NULL AND t.block_seeds = 1 {where}
        ORDER BY r.run_id"""
    frame = kit.df(con, base.format(where="AND r.run_id IN (SELECT run_id FROM run_labels WHERE label = ?)"),
                 [RUNTIME])
    source = f"the runs labelled '{RUNTIME}'"
    if frame.empty:
        frame = kit.df(con, base.format(where=""))
        source = f"no run is labelled '{RUNTIME}': every timed run of this setting"
        if not frame.empty:
            kit.log.info("runtime figure: no run labelled %r; using all timed runs", RUNTIME)
    if frame.empty:
        return frame, source
    frame["case"] = [_case(r) for r in frame.itertuples(index=False)]
    frame["case_ord"] = [OTHER_ORD if pd.isna(o) else int(o) for o in frame.method_ord]
    frame["colour"] = frame.colour.fillna(kit.PALETTE[7])
    # Runs of one training length ran as one group (the workflow's timing runs share theirs), under the
    # same machine load; timings of runs trained alongside other jobs are not comparable to them.
    shape_cols = ["task", "device", "actor_hidden_dims", "value_hidden_dims", "batch_size", "steps"]
    frame["shape"] = frame[shape_cols].map(str).agg("|".join, axis=1)
    frame["units"] = [_units(a) + _units(v) for a, v in zip(frame.actor_hidden_dims, frame.value_hidden_dims)]
    per_shape = frame.groupby("shape").agg(cases=("case", "nunique"), runs=("run_id", "count"), units=("units", "max"))
    # Labelled timing runs share one setting; unlabelled, the largest networks (closest to the paper's), then
    # the most cases: the workflow's timing runs (each method, every K of the runtime config) when they exist.
    best = sorted(per_shape.index, key=lambda s: (-per_shape.units[s], -per_shape.cases[s], -per_shape.runs[s], s))[0]
    if len(per_shape) > 1:
        kit.log.info("runtime figure: %d settings (task, device, networks, batch, steps); drawing %s", len(per_shape),
                   best)
    return frame[frame["shape"] == best].reset_index(drop=True), source


def _case(run) -> tuple[str, int]:
    """(name, K): a method without K by its default label (FQL), K = 0; a method with K by its default label
    less a trailing "(K)" (DROL(16) -> DROL), per K. A method the database does not list: its name."""
    has_k = bool(run.has_k) if pd.notna(run.has_k) else pd.notna(run.K)
    name = run.method if pd.isna(run.default_label) else str(run.default_label)
    if not has_k:
        return name, 0
    return re.sub(r"\(\d+\)$", "", name) or name, int(run.K) if pd.notna(run.K) else 0


def runtime_cases(frame: pd.DataFrame) -> pd.DataFrame:
    """Per case ((name, K)), in display order then K ascending: median ms per update (train) and per
    inference step (infer) over runs, the number of runs (n), and the bar colour."""
    agg = frame.groupby("case").agg(train=("ms_per_update", "median"), infer=("ms_per_inference_step", "median"),
                                    n=("run_id", "count"), ord=("case_ord", "min"), colour=("colour", "first"))
    ords = dict(zip(agg.index, agg["ord"]))
    agg = agg.loc[sorted(agg.index, key=lambda case: (ords[case], case))]
    colours = []
    for (name, k), colour in zip(agg.index, agg.colour):
        ks = [kk for nn, kk in agg.index if nn == name]  # a method's K values: shades of its colour
        colours.append(kit.shade(colour, ks.index(k), len(ks)) if k else colour)
    return agg.assign(colour=colours).drop(columns=["ord"])


def runtime_figure(db, out_dir: Path | str, *, label: str | None = None) -> list[Path]:
    """Training ms per update and inference ms per step, per method and K (runs labelled 'runtime')."""
    with opened(db) as con:
        frame, source = runtime_data(con)
    if frame.empty:
        return kit.no_data("runtime", "no run has timings (timing.json with timed updates)")
    agg = runtime_cases(frame)
    cases = list(agg.index)
    ticks = [name if not k else f"{name}\nK={k}" for name, k in cases]
    row = frame.iloc[0]

    with kit.style():
        width = kit.DOUBLE_COLUMN_IN if len(cases) > 3 else kit.SINGLE_COLUMN_IN * 1.4
        fig = kit.new_figure(width, 2.45)
        axes = fig.subplots(1, 2)
        batch = f" (batch {kit.int_text(row['batch_size'])})" if pd.notna(row["batch_size"]) else ""
        for ax, col, ylabel, title in ((axes[0], "train", "ms per update", f"Training{batch}"),
                                       (axes[1], "infer", "ms per step", "Inference (batch 1)")):
            values = list(agg[col])
            x = np.arange(len(cases))
            heights = [v if pd.notna(v) else 0.0 for v in values]
            bars = ax.bar(x, heights, color=list(agg.colour), edgecolor="#333333", linewidth=0.6, width=0.7)
            top = max([v for v in heights if v > 0], default=1.0)
            for bar, v in zip(bars, values):
                text = "n/a" if pd.isna(v) else _fmt_ms(v)
                ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), xytext=(0, 1.5),
                            textcoords="offset points", ha="center", va="bottom", fontsize=6.8)
            ax.set_xticks(x, ticks)
            ax.set_ylim(0, top * 1.18)
            ax.set_ylabel(ylabel)
            ax.set_title(title)
            ax.grid(axis="x", visible=False)
        device = str(row["device"])
        fig.suptitle(f"Step time on {device}")
        nets = f"{_dims(row['actor_hidden_dims'])} actor, {_dims(row['value_hidden_dims'])} critic"
        n_lo, n_hi = int(agg["n"].min()), int(agg["n"].max())
        n_runs = f"{n_lo} run{'s' if n_lo > 1 else ''}" if n_lo == n_hi else f"{n_lo} to {n_hi} runs"
        caption = [
            f"Task {row['task']} (obs {kit.int_text(row['obs_dim'])}, action {kit.int_text(row['action_dim'])}), "
            f"{nets} MLPs, batch {kit.int_text(row['batch_size'])}, {kit.int_text(row['steps'])} updates per run; "
            f"{source}. Training: mean time per update (evaluation and logging excluded); inference: median time of "
            f"a batch-1 policy step. Bars: median over {n_runs} per case.",
        ]
        kit.finish(fig, caption, label)
        return kit.save(fig, out_dir, "runtime")


def _units(dims) -> int:
    try:
        return int(sum(dims))
    except TypeError:
        return 0


def _fmt_ms(v: float) -> str:
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def _dims(dims) -> str:
    if dims is None or (isinstance(dims, float) and math.isnan(dims)):
        return "?"
    dims = list(dims)
    return f"{len(dims)}x{dims[0]}" if dims and len(set(dims)) == 1 else "x".join(map(str, dims))
