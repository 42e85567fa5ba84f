"""What every figure shares: the database's method styles, task order, paper style, captions, pages, saving."""

from __future__ import annotations

import contextlib
import logging
import math
import textwrap
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from drol.io import atomic_write
from drol.reports.figures import MAX_PANELS, page_stems
from drol.reports.select import MethodLabel, frame, method_labels

log = logging.getLogger("drol.reports.figures")
# matplotlib subsets the PDF's fonts with fontTools, which logs 100-200 INFO lines per figure (`drol report` logs
# INFO for the figures' own notes): only its warnings reach the log.
logging.getLogger("fontTools").setLevel(logging.WARNING)

FORMATS = ("png", "pdf")
PNG_DPI = 300
SINGLE_COLUMN_IN = 3.3  # paper column widths, inches
DOUBLE_COLUMN_IN = 6.8

# seaborn "colorblind": 0 blue, 1 orange, 2 green, 3 vermillion, 4 purple, 5 brown, 6 pink, 7 grey, 8 yellow, 9 sky
PALETTE = ["#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc", "#ca9161", "#fbafe4", "#949494", "#ece133",
           "#56b4e9"]
SWEEP_COLOUR = "#3a3a3a"  # the K sweep: neutral (not a method label), so the best-K circle stands out
HIGHLIGHT = PALETTE[3]  # best K, best toy mode
NOTE_COLOUR = "#555555"


# Queries
def df(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pd.DataFrame:
    return frame(con, sql, params or [])


def styles(con: duckdb.DuckDBPyConnection) -> dict[str, MethodLabel]:
    """The database's method labels (legend order, colour, marker, line style, K), in display order."""
    return {m.label: m for m in method_labels(con)}


def task_info(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return df(con, "SELECT name AS task, ord, representative, scorer, suite FROM tasks").set_index("task")


def task_order(tasks, info: pd.DataFrame, representative_first: bool = False) -> list[str]:
    def key(task):
        row = info.loc[task] if task in info.index else None
        ord_ = int(row["ord"]) if row is not None else 10**9
        rep = bool(row["representative"]) if row is not None else False
        return ((not rep) if representative_first else False, ord_, task)

    return sorted(set(tasks), key=key)


# Styling and writing
def style() -> contextlib.ExitStack:
    """seaborn's paper context and whitegrid style, applied only inside the `with` block."""
    import matplotlib as mpl
    import seaborn as sns

    stack = contextlib.ExitStack()
    stack.enter_context(mpl.rc_context())
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind", font_scale=1.0)
    mpl.rcParams.update({
        "font.family": "DejaVu Sans", "pdf.fonttype": 42, "ps.fonttype": 42, "svg.hashsalt": "drol",
        "axes.titlesize": 8.8, "axes.labelsize": 8.5, "xtick.labelsize": 7.5, "ytick.labelsize": 7.5,
        "legend.fontsize": 7.5, "legend.title_fontsize": 7.5, "figure.titlesize": 9.5, "lines.linewidth": 1.4,
        "axes.edgecolor": "#444444", "grid.color": "#e4e4e4", "savefig.dpi": PNG_DPI,
    })
    return stack


def new_figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def finish(fig, caption: list[str], label: str | None) -> None:
    """Caption lines (and the label note) below the axes; the layout keeps the space free for them."""
    width, height = fig.get_size_inches()
    chars = max(40, int(width * 18))
    lines = [line for text in caption for line in textwrap.wrap(text, chars)]
    note = textwrap.wrap(label, chars) if label else []
    line_in = 7.0 * 1.3 / 72
    bottom_in = (len(lines) + len(note)) * line_in + (0.06 if lines or note else 0)
    fig.get_layout_engine().set(rect=(0, bottom_in / height, 1, 1 - bottom_in / height))
    y = bottom_in - 0.04
    for line in lines:
        fig.text(0.01, y / height, line, fontsize=7, va="top", ha="left", color="#222222")
        y -= line_in
    for line in note:
        fig.text(0.01, y / height, line, fontsize=7, va="top", ha="left", color=NOTE_COLOUR, style="italic")
        y -= line_in


def save(fig, out_dir: Path | str, stem: str) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in FORMATS:
        path = out_dir / f"{stem}.{fmt}"
        metadata = {"Software": None} if fmt == "png" else {"CreationDate": None, "Creator": "drol", "Producer": None}
        atomic_write(path, lambda tmp, fmt=fmt, metadata=metadata: fig.savefig(tmp, format=fmt, dpi=PNG_DPI,
                                                                              metadata=metadata))
        written.append(path)
    return written


def short_task(task: str) -> str:
    """cube-single-play-singletask-task1-v0 -> cube-single-play task1 (titles; captions keep full names)."""
    name = task.replace("-singletask-", " ")
    for suffix in ("-v0", "-v1", "-v2"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


def panel_title(task: str, ncols: int) -> str:
    """The short task name, on two lines where it would not fit the panel's width."""
    name = short_task(task)
    fits = {1: 34, 2: 40}.get(ncols, 26)
    return name.replace(" ", "\n", 1) if len(name) > fits and " " in name else name


def fmt_step(step: float) -> str:
    step = float(step)
    for div, unit in ((1e6, "M"), (1e3, "k")):
        if abs(step) >= div:
            value = step / div
            return f"{value:.0f}{unit}" if value == int(value) else f"{value:.3g}{unit}"
    return f"{step:.0f}"


def step_axis(ax) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True, steps=[1, 2, 2.5, 5, 10]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: fmt_step(x)))


def k_axis(ax, ks) -> None:
    from matplotlib.ticker import FixedLocator, NullLocator

    ax.set_xscale("log", base=2)
    ks = sorted(set(int(k) for k in ks))
    ax.xaxis.set_major_locator(FixedLocator(ks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([str(k) for k in ks])
    lo, hi = min(ks), max(ks)
    ax.set_xlim(lo / 2 ** 0.35, hi * 2 ** 0.35)


def score_label(scorer: str, final: bool = False) -> str:
    if final:
        return "final success (%)" if scorer == "success" else "final norm. return (x100)"
    return "success rate (%)" if scorer == "success" else "normalised return (x100)"


def seeds_text(counts) -> str:
    counts = sorted(set(int(c) for c in counts))
    if not counts:
        return ""
    n = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return f"n = {n} seed{'s' if counts[-1] > 1 else ''}"


def mean_sd(frame: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    g = frame.groupby(by, sort=True)[value]
    out = g.agg(mean="mean", sd="std", n="count").reset_index()
    out["sd"] = out["sd"].fillna(0.0)  # one seed: no interval
    return out


def band(ax, x, mean, sd, colour, alpha: float, scorer: str | None = None) -> None:
    """mean ± sd as a band; success rates are clipped to [0, 100] (a rate has no values beyond them)."""
    lo, hi = np.asarray(mean - sd, dtype=float), np.asarray(mean + sd, dtype=float)
    if scorer == "success":
        lo, hi = np.clip(lo, 0, 100), np.clip(hi, 0, 100)
    ax.fill_between(np.asarray(x, dtype=float), lo, hi, color=colour, alpha=alpha, lw=0)


def grid(n_panels: int, row_in: float, top_in: float, top_in_one_column: float | None = None):
    """Small multiples (inside `style()`): up to 3 columns at paper width (task names stay readable), panels
    beyond `n_panels` hidden; height top_in (top_in_one_column in one column) + row_in per row.
    Returns (figure, the n_panels axes in reading order, columns, rows)."""
    ncols = min(n_panels, 3)
    nrows = math.ceil(n_panels / ncols)
    top = top_in_one_column if ncols == 1 and top_in_one_column is not None else top_in
    fig = new_figure(SINGLE_COLUMN_IN if ncols == 1 else DOUBLE_COLUMN_IN, top + row_in * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for j in range(n_panels, nrows * ncols):
        axes[j // ncols, j % ncols].set_visible(False)
    return fig, [axes[i // ncols, i % ncols] for i in range(n_panels)], ncols, nrows


def pages(tasks: list[str], out_dir, stem: str) -> list[tuple[str, list[str], str]]:
    """Small multiples in pages of MAX_PANELS tasks: [(file stem, tasks, caption prefix)] (`page_stems`).

    Pages an earlier, larger database left in `out_dir` beyond the last one are removed.
    """
    stems = page_stems(stem, len(tasks))
    for stale in sorted(Path(out_dir).glob(f"{stem}_p*.*")):
        if stale.suffix[1:] in FORMATS and stale.stem.removeprefix(f"{stem}_p").isdigit() and stale.stem not in stems:
            stale.unlink()
    note = [f"Page {i} of {len(stems)}. " if len(stems) > 1 else "" for i in range(1, len(stems) + 1)]
    return [(page, tasks[i * MAX_PANELS:(i + 1) * MAX_PANELS], note[i]) for i, page in enumerate(stems)]


def no_data(name: str, why: str) -> list[Path]:
    log.warning("figure %s not written: %s", name, why)
    return []




def int_text(v) -> str:
    return "?" if v is None or pd.isna(v) else str(int(v))


def shade(colour: str, i: int, n: int) -> tuple:
    """The i-th of n shades of `colour`, from light (i = 0) to the colour itself (i = n - 1)."""
    from matplotlib.colors import to_rgb

    rgb = np.array(to_rgb(colour))
    t = 1.0 if n <= 1 else 0.35 + 0.65 * i / (n - 1)
    return tuple(1 - t * (1 - rgb))
