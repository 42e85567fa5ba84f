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
    """The rows of the view `runtime` the figure draws (shown: one setup of one-seed runs, the timing runs
    labelled 'runtime' when there are any; views.sql), one per case, and where they came from. Columns added:
    case ((name, K), K = 0 for a method without K), case_ord (display order), colour."""
    frame = kit.df(con, """
        SELECT v.*, m.label AS default_label, m.ord AS method_ord, m.has_k, m.colour
        FROM runtime v
        LEFT JOIN methods m ON m.method = v.method AND m.is_default
        WHERE v.shown
        ORDER BY v.method, v.K""")
    if frame.empty:
        return frame, ""
    source = (f"the runs labelled '{RUNTIME}'" if frame.timing_runs.all()
              else f"no run is labelled '{RUNTIME}': the timed runs of one setting")
    frame["case"] = [_case(r) for r in frame.itertuples(index=False)]
    frame["case_ord"] = [OTHER_ORD if pd.isna(o) else int(o) for o in frame.method_ord]
    frame["colour"] = frame.colour.fillna(kit.PALETTE[7])
    return frame, source


def _case(run) -> tuple[str, int]:
    """(name, K): a method without K by its default label (FQL), K = 0; a method with K by its default label
    less a trailing "(K)" (DROL(16) -> DROL), per K. A method the database does not list: its name."""
    has_k = bool(run.has_k) if pd.notna(run.has_k) else pd.notna(run.K)
    name = run.method if pd.isna(run.default_label) else str(run.default_label)
    if not has_k:
        return name, 0
    return re.sub(r"\(\d+\)$", "", name) or name, int(run.K) if pd.notna(run.K) else 0


def runtime_cases(frame: pd.DataFrame) -> pd.DataFrame:
    """The view's rows as the bars: per case ((name, K)), in display order then K ascending, the median ms per
    update (train) and per inference step (infer) over its runs, the number of runs (n) and the bar colour."""
    agg = frame.set_index("case").rename(columns={"ms_per_update": "train", "ms_per_inference_step": "infer",
                                                  "n_runs": "n"})
    agg = agg.loc[sorted(agg.index, key=lambda case: (agg.case_ord[case], case)), ["train", "infer", "n", "colour"]]
    colours = []
    for (name, k), colour in zip(agg.index, agg.colour):
        ks = [kk for nn, kk in agg.index if nn == name]  # a method's K values: shades of its colour
        colours.append(kit.shade(colour, ks.index(k), len(ks)) if k else colour)
    return agg.assign(colour=colours)


def runtime_figure(db, out_dir: Path | str, *, label: str | None = None) -> list[Path]:
    """Training ms per update and inference ms per step, per method and K (the view runtime's shown rows)."""
    with opened(db) as con:
        frame, source = runtime_data(con)
        if frame.empty:
            return kit.no_data("runtime", "no run has timings (timing.json with timed updates)")
        obs_dim, action_dim = con.execute("SELECT any_value(obs_dim), any_value(action_dim) FROM runs WHERE task = ?",
                                          [frame.task.iloc[0]]).fetchone()
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
            f"Task {row['task']} (obs {kit.int_text(obs_dim)}, action {kit.int_text(action_dim)}), "
            f"{nets} MLPs, batch {kit.int_text(row['batch_size'])}, {kit.int_text(row['steps'])} updates per run; "
            f"{source}. Training: mean time per update (evaluation and logging excluded); inference: median time of "
            f"a batch-1 policy step. Bars: median over {n_runs} per case.",
        ]
        kit.finish(fig, caption, label)
        return kit.save(fig, out_dir, "runtime")


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
