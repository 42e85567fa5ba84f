"""The paper's figures, each a query over results.duckdb (opened read-only), written as PNG and PDF.

| function | file stem | paper |
|---|---|---|
| `runtime_figure` | `runtime` | Fig. 3 bottom: training ms per update, inference ms per step, FQL and DROL per K |
| `train_metrics_figure` | `train_metrics_vs_k` | Fig. 3 top: candidate spread, centroid divergence, BC loss vs K |
| `k_sensitivity_figure` | `k_sensitivity` | Fig. 4: final score against K per task of the K sweep |
| `routing_figure` | `routing` | Fig. 2: candidate set and its Voronoi cells at a fixed state, early / middle / last |
| `learning_curves_figure` | `learning_curves` | per task and method label: score against training step |

Every function takes a database path or an open (read-only) DuckDB connection and an output directory,
and returns the paths it wrote (`<stem>.png`, `<stem>.pdf`); with no data for it, it writes nothing,
logs why and returns []. `write_figures` calls all of them. A `label` (e.g. the demo config's "Demo:
short CPU runs ... not comparable to the paper") is printed as a small note on every figure.

Conventions: means and intervals over seeds are mean ± one sample standard deviation (no interval with
one seed); only finished runs enter a figure except the runtime figure, which uses every run that timed
updates. Aggregates never pool runs of different settings (hparams_source, steps, batch size, evaluation
episodes, data route): per task the setting with the longest training (then the most runs) is drawn and
the others are logged; runs labelled 'runtime' (short timing runs) enter only the runtime figure. Small
multiples hold up to MAX_PANELS tasks per file (`<stem>.png`, then `<stem>_p2.png`, ...).
Method colours are fixed (seaborn's colour-blind palette): FQL blue, DROL(16) orange, DROL green.
Files are written atomically (temporary file, then rename) and are byte-for-byte deterministic: no
creation date or software version in the PDF or PNG metadata.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from drol.data.toy import ToyBandit
from drol.io import atomic_write
from drol.methods import K_SWEEP, labels
from drol.reports.tables import performance_profile
from drol.results.db import connect_read_only
from drol.tasks import TOY_TASK

METHOD_LABELS = tuple(labels())

log = logging.getLogger(__name__)

RUNTIME_LABEL = "runtime"  # run_labels label of the timing runs (workflow config `runtime:`)
FORMATS = ("png", "pdf")
PNG_DPI = 300
SINGLE_COLUMN_IN = 3.3  # paper column widths, inches
DOUBLE_COLUMN_IN = 6.8
TAIL_FRACTION = 0.1  # training metrics: mean over the last 10 % of logged steps
TRAIN_METRICS = (  # (metric name, axis label, log10 of the per-run value)
    ("pairwise_distance", "cand. pairwise distance", False),
    ("centroid_divergence", "log$_{10}$ centroid divergence", True),
    ("bc_loss", "routed BC loss", False),
)
DEFAULT_K = 16
MAX_METRIC_TASKS = 3
MAX_PANELS = 15  # small multiples (K sensitivity, learning curves): tasks per figure; more go to <stem>_p2, ...
SETTING = ("hparams_source", "steps", "batch_size", "eval_episodes", "data_route")

# seaborn "colorblind": 0 blue, 1 orange, 2 green, 3 vermillion, 4 purple, 5 brown, 6 pink, 7 grey, 8 yellow, 9 sky
_PALETTE = ["#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc", "#ca9161", "#fbafe4", "#949494", "#ece133",
            "#56b4e9"]
METHOD_COLOURS = {"FQL": _PALETTE[0], "DROL(16)": _PALETTE[1], "DROL": _PALETTE[2]}
METHOD_MARKERS = {"FQL": "o", "DROL(16)": "s", "DROL": "^"}
LEGEND_ORDER = ("FQL", "DROL(16)", "DROL")  # the paper's column order
METHOD_STYLES = {"FQL": "-", "DROL(16)": "-", "DROL": "--"}  # DROL dashed: visible where it equals DROL(16)
SWEEP_COLOUR = "#3a3a3a"  # the K sweep: neutral (not a method label), so the best-K circle stands out
HIGHLIGHT = _PALETTE[3]  # best K, best toy mode
NOTE_COLOUR = "#555555"


# Connection and queries
@contextlib.contextmanager
def _connect(db: Path | str | duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection: `db` itself when it is a connection, else the file opened read-only."""
    if isinstance(db, duckdb.DuckDBPyConnection):
        yield db
        return
    con = connect_read_only(db)
    try:
        yield con
    finally:
        con.close()


def _df(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).fetchdf()


def _task_info(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return _df(con, "SELECT name AS task, ord, representative, scorer, suite FROM tasks").set_index("task")


def _task_order(tasks, info: pd.DataFrame, representative_first: bool = False) -> list[str]:
    def key(task):
        row = info.loc[task] if task in info.index else None
        ord_ = int(row["ord"]) if row is not None else 10**9
        rep = bool(row["representative"]) if row is not None else False
        return ((not rep) if representative_first else False, ord_, task)

    return sorted(set(tasks), key=key)


def _one_setting(frame: pd.DataFrame, what: str, min_k: int = 0) -> pd.DataFrame:
    """Per task, the rows of one setting (SETTING columns): the longest training (steps), then the most runs.

    Runs of different settings are never pooled. Short runs of another setting (e.g. the workflow's timing
    runs, which have the DROL(16) configuration with K varied and so carry the K-sweep label too) are left
    out in favour of the full-length ones. With `min_k`, a task whose chosen setting has fewer distinct K is
    dropped. What is left out is logged.
    """
    if frame.empty:
        return frame
    keep = []
    cols = [c for c in SETTING if c in frame.columns]
    for task, group in frame.groupby("task", sort=True):
        key = group[cols].astype(str).agg("|".join, axis=1) if cols else pd.Series("", index=group.index)
        runs = group.groupby(key)["run_id"].nunique()
        steps = group.groupby(key)["steps"].max() if "steps" in cols else runs * 0
        best = sorted(runs.index, key=lambda k: (-(steps[k] if pd.notna(steps[k]) else 0), -runs[k], k))[0]
        if len(runs) > 1:
            log.info("%s: task %s has %d settings (%s: %s); drawing %s", what, task, len(runs), "|".join(cols),
                     ", ".join(runs.index), best)
        chosen = group[key == best]
        if min_k and chosen["K"].nunique() < min_k:
            log.info("%s: task %s left out: fewer than %d values of K in setting %s", what, task, min_k, best)
            continue
        keep.append(chosen)
    if not keep:
        return frame.iloc[0:0]
    return pd.concat(keep, ignore_index=True)


def _not_runtime(alias: str = "r") -> str:
    """SQL condition: the run is not one of the timing runs (label 'runtime'), which train only briefly."""
    return f"{alias}.run_id NOT IN (SELECT run_id FROM run_labels WHERE label = '{RUNTIME_LABEL}')"


# Styling and writing
def _style() -> contextlib.ExitStack:
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


def _new_figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _finish(fig, caption: list[str], label: str | None) -> None:
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


def _save(fig, out_dir: Path | str, stem: str) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in FORMATS:
        path = out_dir / f"{stem}.{fmt}"
        metadata = {"Software": None} if fmt == "png" else {"CreationDate": None, "Creator": "drol", "Producer": None}
        atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=PNG_DPI, metadata=metadata))
        written.append(path)
    return written


def _short_task(task: str) -> str:
    """cube-single-play-singletask-task1-v0 -> cube-single-play task1 (titles; captions keep full names)."""
    name = task.replace("-singletask-", " ")
    for suffix in ("-v0", "-v1", "-v2"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


def _panel_title(task: str, ncols: int) -> str:
    """The short task name, on two lines where it would not fit the panel's width."""
    name = _short_task(task)
    fits = {1: 34, 2: 40}.get(ncols, 26)
    return name.replace(" ", "\n", 1) if len(name) > fits and " " in name else name


def _fmt_step(step: float) -> str:
    step = float(step)
    for div, unit in ((1e6, "M"), (1e3, "k")):
        if abs(step) >= div:
            value = step / div
            return f"{value:.0f}{unit}" if value == int(value) else f"{value:.3g}{unit}"
    return f"{step:.0f}"


def _step_axis(ax) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True, steps=[1, 2, 2.5, 5, 10]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: _fmt_step(x)))


def _k_axis(ax, ks) -> None:
    from matplotlib.ticker import FixedLocator, NullLocator

    ax.set_xscale("log", base=2)
    ks = sorted(set(int(k) for k in ks))
    ax.xaxis.set_major_locator(FixedLocator(ks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([str(k) for k in ks])
    lo, hi = min(ks), max(ks)
    ax.set_xlim(lo / 2 ** 0.35, hi * 2 ** 0.35)


def _score_label(scorer: str, final: bool = False) -> str:
    if final:
        return "final success (%)" if scorer == "success" else "final norm. return (x100)"
    return "success rate (%)" if scorer == "success" else "normalised return (x100)"


def _seeds_text(counts) -> str:
    counts = sorted(set(int(c) for c in counts))
    if not counts:
        return ""
    n = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return f"n = {n} seed{'s' if counts[-1] > 1 else ''}"


def _mean_sd(frame: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    g = frame.groupby(by, sort=True)[value]
    out = g.agg(mean="mean", sd="std", n="count").reset_index()
    out["sd"] = out["sd"].fillna(0.0)  # one seed: no interval
    return out


def _band(ax, x, mean, sd, colour, alpha: float, scorer: str | None = None) -> None:
    """mean ± sd as a band; success rates are clipped to [0, 100] (a rate has no values beyond them)."""
    lo, hi = np.asarray(mean - sd, dtype=float), np.asarray(mean + sd, dtype=float)
    if scorer == "success":
        lo, hi = np.clip(lo, 0, 100), np.clip(hi, 0, 100)
    ax.fill_between(np.asarray(x, dtype=float), lo, hi, color=colour, alpha=alpha, lw=0)


def _ncols(n_panels: int) -> int:
    """Columns of a small-multiples grid: up to 3 at paper width (task names stay readable)."""
    return min(n_panels, 3)


def _pages(tasks: list[str], out_dir, stem: str) -> list[tuple[str, list[str], str]]:
    """Small multiples in pages of MAX_PANELS tasks: [(file stem, tasks, caption prefix)]: `stem`, `stem`_p2, ...

    Pages an earlier, larger database left in `out_dir` beyond the last one are removed.
    """
    chunks = [tasks[i:i + MAX_PANELS] for i in range(0, len(tasks), MAX_PANELS)]
    for stale in sorted(Path(out_dir).glob(f"{stem}_p*.*")):
        number = stale.stem.removeprefix(f"{stem}_p")
        if stale.suffix[1:] in FORMATS and number.isdigit() and int(number) > len(chunks):
            stale.unlink()
    return [(stem if i == 1 else f"{stem}_p{i}", chunk, f"Page {i} of {len(chunks)}. " if len(chunks) > 1 else "")
            for i, chunk in enumerate(chunks, 1)]


def _no_data(name: str, why: str) -> list[Path]:
    log.warning("figure %s not written: %s", name, why)
    return []


# Fig. 3 bottom: runtime
def runtime_data(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, str]:
    """Timed runs labelled 'runtime' (all timed runs when none is), one setting; and where they came from.

    One setting (task, device, networks, batch size, training length) is kept, since timings of other tasks,
    networks or devices are not comparable: the one with the largest networks, then the most cases (FQL,
    DROL per K), then the most runs.
    """
    base = """
        SELECT r.run_id, r.method, r.K, r.task, r.seed, r.status, r.steps, r.actor_hidden_dims,
               r.value_hidden_dims, r.batch_size, r.obs_dim, r.action_dim, t.device, t.ms_per_update,
               t.ms_per_inference_step, t.updates_timed
        FROM timings t JOIN runs r ON r.run_id = t.run_id
        WHERE t.updates_timed > 0 AND t.ms_per_update IS NOT NULL {where}
        ORDER BY r.run_id"""
    frame = _df(con, base.format(where="AND r.run_id IN (SELECT run_id FROM run_labels WHERE label = ?)"),
                [RUNTIME_LABEL])
    source = f"the runs labelled '{RUNTIME_LABEL}'"
    if frame.empty:
        frame = _df(con, base.format(where=""))
        source = f"no run is labelled '{RUNTIME_LABEL}': every timed run of this setting"
        if not frame.empty:
            log.info("runtime figure: no run labelled %r; using all timed runs", RUNTIME_LABEL)
    if frame.empty:
        return frame, source
    frame["case"] = [("FQL", 0) if m == "fql" else ("DROL", int(k)) for m, k in zip(frame.method, frame.K)]
    # Runs of one training length ran as one group (the workflow's timing runs share theirs), under the
    # same machine load; timings of runs trained alongside other jobs are not comparable to them.
    shape_cols = ["task", "device", "actor_hidden_dims", "value_hidden_dims", "batch_size", "steps"]
    frame["shape"] = frame[shape_cols].astype(str).agg("|".join, axis=1)
    frame["units"] = [_units(a) + _units(v) for a, v in zip(frame.actor_hidden_dims, frame.value_hidden_dims)]
    per_shape = frame.groupby("shape").agg(cases=("case", "nunique"), runs=("run_id", "count"), units=("units", "max"))
    # Labelled timing runs share one setting; unlabelled, the largest networks (closest to the paper's), then
    # the most cases: the workflow's timing runs (FQL and every K of the runtime config) when they exist.
    best = sorted(per_shape.index, key=lambda s: (-per_shape.units[s], -per_shape.cases[s], -per_shape.runs[s], s))[0]
    if len(per_shape) > 1:
        log.info("runtime figure: %d settings (task, device, networks, batch, steps); drawing %s", len(per_shape),
                 best)
    return frame[frame["shape"] == best].reset_index(drop=True), source


def runtime_cases(frame: pd.DataFrame) -> pd.DataFrame:
    """Per case (("FQL", 0) or ("DROL", K)), FQL first then K ascending: median ms per update (train) and per
    inference step (infer) over runs, and the number of runs (n)."""
    agg = frame.groupby("case").agg(train=("ms_per_update", "median"), infer=("ms_per_inference_step", "median"),
                                    n=("run_id", "count"))
    order = sorted(agg.index, key=lambda c: (c[0] != "FQL", c[1]))
    return agg.loc[order]


def runtime_figure(db, out_dir: Path | str, *, label: str | None = None) -> list[Path]:
    """Training ms per update and inference ms per step, FQL and DROL per K (runs labelled 'runtime')."""
    with _connect(db) as con:
        frame, source = runtime_data(con)
    if frame.empty:
        return _no_data("runtime", "no run has timings (timing.json with timed updates)")
    agg = runtime_cases(frame)
    cases = list(agg.index)
    drol_ks = [k for m, k in cases if m == "DROL"]
    colours = []
    for method, k in cases:
        if method == "FQL":
            colours.append(METHOD_COLOURS["FQL"])
        else:
            colours.append(_shade(METHOD_COLOURS["DROL(16)"], drol_ks.index(k), len(drol_ks)))
    ticks = ["FQL" if m == "FQL" else f"DROL\nK={k}" for m, k in cases]
    row = frame.iloc[0]

    with _style():
        width = DOUBLE_COLUMN_IN if len(cases) > 3 else SINGLE_COLUMN_IN * 1.4
        fig = _new_figure(width, 2.45)
        axes = fig.subplots(1, 2)
        batch = f" (batch {_int(row['batch_size'])})" if pd.notna(row["batch_size"]) else ""
        for ax, col, ylabel, title in ((axes[0], "train", "ms per update", f"Training{batch}"),
                                       (axes[1], "infer", "ms per step", "Inference (batch 1)")):
            values = list(agg[col])
            x = np.arange(len(cases))
            heights = [v if pd.notna(v) else 0.0 for v in values]
            bars = ax.bar(x, heights, color=colours, edgecolor="#333333", linewidth=0.6, width=0.7)
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
            f"Task {row['task']} (obs {_int(row['obs_dim'])}, action {_int(row['action_dim'])}), {nets} MLPs, "
            f"batch {_int(row['batch_size'])}, {_int(row['steps'])} updates per run; {source}. Training: mean time "
            f"per update (evaluation and logging excluded); inference: median time of a batch-1 policy step. "
            f"Bars: median over {n_runs} per case.",
        ]
        _finish(fig, caption, label)
        return _save(fig, out_dir, "runtime")


def _units(dims) -> int:
    try:
        return int(sum(dims))
    except TypeError:
        return 0


def _shade(colour: str, i: int, n: int) -> tuple:
    """The i-th of n shades of `colour`, from light (i = 0) to the colour itself (i = n - 1)."""
    from matplotlib.colors import to_rgb

    rgb = np.array(to_rgb(colour))
    t = 1.0 if n <= 1 else 0.35 + 0.65 * i / (n - 1)
    return tuple(1 - t * (1 - rgb))


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


def _int(v) -> str:
    return "?" if v is None or pd.isna(v) else str(int(v))


# Fig. 3 top: training metrics against K
def train_metrics_data(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per finished K-sweep run and metric of TRAIN_METRICS: the mean over the last TAIL_FRACTION of its logged
    steps (column value), with the run's task, seed and K; one setting per task."""
    names = [name for name, _, _ in TRAIN_METRICS]
    runs = _df(con, f"""
        SELECT r.run_id, r.task, r.seed, r.K, r.hparams_source, r.steps, r.batch_size, r.eval_episodes,
               r.data_route
        FROM runs r
        WHERE r.method = 'drol' AND r.status = 'finished' AND r.K IS NOT NULL
          AND r.run_id IN (SELECT run_id FROM run_labels WHERE label = ?) AND {_not_runtime()}
        ORDER BY r.run_id""", [K_SWEEP])
    metrics = _df(con, f"""
        SELECT m.run_id, m.name, m.step, m.value FROM train_metrics m
        WHERE m.name IN ({', '.join('?' * len(names))}) AND m.value IS NOT NULL
          AND m.run_id IN (SELECT run_id FROM run_labels WHERE label = ?)
        ORDER BY m.run_id, m.name, m.step""", [*names, K_SWEEP])
    metrics = metrics[metrics.run_id.isin(runs.run_id)]
    if metrics.empty:
        return pd.DataFrame(columns=["run_id", "name", "value", *runs.columns[1:]])
    last = metrics.groupby(["run_id", "name"])["step"].transform("max")
    tail = metrics[metrics.step >= (1 - TAIL_FRACTION) * last]
    per_run = tail.groupby(["run_id", "name"], sort=True)["value"].mean().reset_index().merge(runs, on="run_id")
    return _one_setting(per_run, "train_metrics_vs_k", min_k=2)


def train_metrics_figure(db, out_dir: Path | str, *, label: str | None = None) -> list[Path]:
    """Candidate pairwise distance, log10 centroid divergence and routed BC loss against K (K-sweep runs)."""
    with _connect(db) as con:
        per_run = train_metrics_data(con)
        info = _task_info(con)
    if per_run.empty:
        return _no_data("train_metrics_vs_k", "no finished K-sweep run with routing metrics ("
                        + ", ".join(name for name, _, _ in TRAIN_METRICS) + ")")
    tasks = _task_order(per_run.task, info, representative_first=True)[:MAX_METRIC_TASKS]
    per_run = per_run[per_run.task.isin(tasks)]
    dropped_k1 = False

    with _style():
        n_rows = len(tasks)
        fig = _new_figure(DOUBLE_COLUMN_IN, 0.35 + 1.95 * n_rows)
        subfigs = np.atleast_1d(fig.subfigures(n_rows, 1, squeeze=False).ravel())
        seed_counts = []
        for r, task in enumerate(tasks):
            data = per_run[per_run.task == task]
            ks = sorted(data.K.unique())
            steps = data.steps.max()
            subfigs[r].suptitle(f"{task}  ({_fmt_step(steps)} updates)" if pd.notna(steps) else task,
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
                            color=NOTE_COLOUR, fontsize=7.5)
                else:
                    s = _mean_sd(d, ["K"], "value")
                    seed_counts += list(s.n)
                    colour = TRAIN_COLOURS[name]
                    ax.fill_between(s.K, s["mean"] - s.sd, s["mean"] + s.sd, color=colour, alpha=0.2, lw=0)
                    ax.plot(s.K, s["mean"], "o-", color=colour, ms=3.5)
                    ax.margins(y=0.12)
                _k_axis(ax, ks)
                ax.set_title(ylabel)
                ax.set_xlabel("K (candidates)")
        caption = [
            "Each run's value: mean over its last "
            f"{TAIL_FRACTION:.0%} of logged training steps; line: mean over seeds, band: ±1 s.d. "
            f"({_seeds_text(seed_counts)}); finished K-sweep runs. Pairwise distance and divergence are squared "
            "distances divided by the action dimension (pairwise: over off-diagonal candidate pairs; divergence: "
            "to the candidates' mean); BC loss: to the routed (nearest) candidate."
            + (" K = 1 is absent from the divergence panel: one candidate has divergence 0." if dropped_k1 else ""),
        ]
        _finish(fig, caption, label)
        return _save(fig, out_dir, "train_metrics_vs_k")


TRAIN_COLOURS = {"pairwise_distance": "#3a3a3a", "centroid_divergence": _PALETTE[4], "bc_loss": _PALETTE[3]}


# Fig. 4: K sensitivity
def k_sensitivity_data(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Final scores of the finished K-sweep runs (one row per run), one setting per task."""
    runs = _df(con, f"""
        SELECT run_id, task, seed, K, score, hparams_source, steps, batch_size, eval_episodes, data_route
        FROM labelled_runs r
        WHERE label = ? AND status = 'finished' AND score IS NOT NULL AND K IS NOT NULL AND {_not_runtime()}
        ORDER BY run_id""", [K_SWEEP])
    return _one_setting(runs, "k_sensitivity", min_k=2)


def best_k(runs: pd.DataFrame) -> int:
    """The K with the highest mean final score over seeds (the smallest such K on ties)."""
    s = _mean_sd(runs, ["K"], "score")
    return int(s.sort_values(["mean", "K"], ascending=[False, True]).iloc[0].K)


def k_sensitivity_figure(db, out_dir: Path | str, *, label: str | None = None) -> list[Path]:
    """Final score against K per task of the K sweep: mean ± s.d. over seeds, K = 16 dashed, best K marked."""
    with _connect(db) as con:
        runs = k_sensitivity_data(con)
        info = _task_info(con)
    if runs.empty:
        return _no_data("k_sensitivity", "no finished K-sweep run with an evaluation")
    written: list[Path] = []
    pages = _pages(_task_order(runs.task, info), out_dir, "k_sensitivity")
    for stem, tasks, note in pages:
        written += _k_sensitivity_page(runs[runs.task.isin(tasks)], tasks, info, out_dir, stem, label, note)
    return written


def _k_sensitivity_page(runs: pd.DataFrame, tasks: list[str], info: pd.DataFrame, out_dir, stem: str,
                        label: str | None, note: str) -> list[Path]:
    ncols = _ncols(len(tasks))
    nrows = math.ceil(len(tasks) / ncols)
    with _style():
        from matplotlib.lines import Line2D

        width = SINGLE_COLUMN_IN if ncols == 1 else DOUBLE_COLUMN_IN
        fig = _new_figure(width, (1.3 if ncols == 1 else 0.75) + 2.0 * nrows)
        axes = fig.subplots(nrows, ncols, squeeze=False)
        seed_counts, best_text, lengths = [], [], []
        for i, task in enumerate(tasks):
            ax = axes[i // ncols, i % ncols]
            s = _mean_sd(runs[runs.task == task], ["K"], "score")
            seed_counts += list(s.n)
            scorer = info.loc[task, "scorer"] if task in info.index else "success"
            _band(ax, s.K, s["mean"], s.sd, SWEEP_COLOUR, 0.2, scorer)
            ax.plot(s.K, s["mean"], "o-", color=SWEEP_COLOUR, ms=3.5, zorder=3)
            ks = list(s.K)
            steps = runs[runs.task == task].steps.max()
            lengths.append((_short_task(task), _fmt_step(steps) if pd.notna(steps) else "?"))
            if min(ks) <= DEFAULT_K <= max(ks) or DEFAULT_K in ks:
                ax.axvline(DEFAULT_K, color="#333333", ls="--", lw=0.9, zorder=1)
            k_best = best_k(runs[runs.task == task])
            ax.plot([k_best], [s.set_index("K").loc[k_best, "mean"]], "o", ms=9, mfc="none", mec=HIGHLIGHT,
                    mew=1.6, zorder=4)
            best_text.append(f"{_short_task(task)}: K = {k_best}")
            _k_axis(ax, ks)
            if scorer == "success":
                ax.set_ylim(-4, 104)
            else:
                lo = min(0.0, float((s["mean"] - s.sd).min()))
                ax.set_ylim(lo - 4, max(100.0, float((s["mean"] + s.sd).max())) + 4)
            ax.set_title(_panel_title(task, ncols), fontsize=8.0 if ncols >= 3 else None)
            if i % ncols == 0:
                ax.set_ylabel(_score_label(scorer, final=True))
            if i // ncols == nrows - 1 or i + ncols >= len(tasks):
                ax.set_xlabel("K (candidates)")
        for j in range(len(tasks), nrows * ncols):
            axes[j // ncols, j % ncols].set_visible(False)
        handles = [Line2D([], [], color=SWEEP_COLOUR, marker="o", ms=3.5, label="mean ± 1 s.d."),
                   Line2D([], [], color="#333333", ls="--", lw=0.9, label=f"K = {DEFAULT_K} (default)"),
                   Line2D([], [], ls="none", marker="o", ms=8, mfc="none", mec=HIGHLIGHT, mew=1.6,
                          label="best K")]
        fig.legend(handles=handles, loc="outside upper center", ncols=3, frameon=False)
        best = ": " + "; ".join(best_text) if len(best_text) <= 3 else " circled"
        if len({n for _, n in lengths}) == 1:
            updates = lengths[0][1]
        else:
            updates = "; ".join(f"{t} {n}" for t, n in lengths)
        caption = [f"{note}K sweep: the DROL(16) configuration with K varied, finished runs. Final score = mean score "
                   f"of the evaluation at the last step; mean ± 1 s.d. over seeds ({_seeds_text(seed_counts)}). "
                   f"Best observed K (smallest on ties){best}. Training updates per run: {updates}."]
        _finish(fig, caption, label)
        return _save(fig, out_dir, stem)


# Fig. 2: routing mechanism
def routing_data(con: duckdb.DuckDBPyConnection, state_id: int = 0) -> list[tuple]:
    """[(kind, run, snapshots, observation)] for kind "toy" (the toy task's DROL run, else its DROL(16) run)
    and "real" (a DROL(16), else DROL run of the first representative task): DROL runs with snapshots at
    `state_id`; finished runs and low seeds first."""
    runs = _df(con, """
        SELECT r.run_id, r.task, r.suite, r.K, r.seed, r.status, r.steps, r.action_dim, r.dataset_info,
               coalesce(list(rl.label ORDER BY rl.label) FILTER (WHERE rl.label IS NOT NULL), []) AS labels,
               coalesce(t.representative, false) AS representative, coalesce(t.ord, 1000000) AS ord
        FROM runs r
        LEFT JOIN run_labels rl ON rl.run_id = r.run_id
        LEFT JOIN tasks t ON t.name = r.task
        WHERE r.method = 'drol' AND r.run_id IN (SELECT DISTINCT run_id FROM snapshots WHERE state_id = ?)
        GROUP BY ALL ORDER BY r.run_id""", [state_id])
    rows = []
    for kind, pool, prefer in (("toy", runs[runs.task == TOY_TASK], ("DROL", "DROL(16)")),
                               ("real", runs[runs.task != TOY_TASK], ("DROL(16)", "DROL"))):
        if pool.empty:
            continue
        run = _pick_run(pool, prefer)
        snaps = _df(con, "SELECT step, candidate, action FROM snapshots WHERE run_id = ? AND state_id = ? "
                         "ORDER BY step, candidate", [run.run_id, state_id])
        obs = con.execute("SELECT observation FROM snapshot_states WHERE run_id = ? AND state_id = ?",
                          [run.run_id, state_id]).fetchone()
        rows.append((kind, run, snaps, None if obs is None else np.asarray(obs[0], dtype=float)))
    return rows


def routing_figure(db, out_dir: Path | str, *, label: str | None = None, state_id: int = 0) -> list[Path]:
    """Candidate sets and their Voronoi cells at one fixed state, first / middle / last snapshot step.

    Row 1: the toy task (its support modes drawn, the best one marked); row 2: one state of a real task
    (first two action dimensions). A row is left out when no DROL run of that kind has snapshots.
    """
    with _connect(db) as con:
        rows = routing_data(con, state_id)
    if not rows:
        return _no_data("routing", f"no DROL run has candidate snapshots at state {state_id}")

    with _style():
        from matplotlib.lines import Line2D
        from matplotlib.patches import Circle, Patch

        fig = _new_figure(DOUBLE_COLUMN_IN, 0.55 + 2.45 * len(rows))
        subfigs = fig.subfigures(len(rows), 1, squeeze=False).ravel()
        caption = []
        for r, (kind, run, snaps, obs) in enumerate(rows):
            steps = sorted(snaps.step.unique())
            chosen = _three_moments(steps)
            toy = _toy_from_info(run.dataset_info) if kind == "toy" else None
            centres = best = None
            if toy is not None and obs is not None:
                centres = toy.centres(obs[None, :2])[0]
                best = int(toy.best_mode(obs[None, :2])[0])
            labels = " = ".join(m for m in LEGEND_ORDER if m in list(run.labels)) or "K sweep"
            head = (f"{'Toy task' if kind == 'toy' else _short_task(run.task)}: {labels}, K = {int(run.K)}, "
                    f"seed {int(run.seed)}, dataset state {state_id}")
            if kind == "toy" and obs is not None:
                head += f" (angle {math.degrees(math.atan2(obs[1], obs[0])):.0f}°)"
            if kind != "toy":
                head += f", action dims 1-2 of {_int(run.action_dim)}"
            subfigs[r].suptitle(head, fontsize=8.3, fontweight="bold")
            axes = subfigs[r].subplots(1, 3)
            for c in range(3):
                ax = axes[c]
                if c >= len(chosen):
                    ax.set_visible(False)
                    continue
                moment, step = chosen[c]
                cand = np.array([np.asarray(a, dtype=float)[:2] for a in snaps[snaps.step == step].action])
                if cand.shape[1] < 2:  # one action dimension: plot it against zero
                    cand = np.column_stack([cand[:, 0], np.zeros(len(cand))])
                _voronoi(ax, cand)
                title = f"step {_fmt_step(step)} ({moment})"
                if centres is not None:
                    for m, centre in enumerate(centres):
                        is_best = m == best
                        ax.add_patch(Circle(centre, toy.support_radius, fc="#000000", alpha=0.16, lw=0, zorder=2))
                        ax.add_patch(Circle(centre, toy.support_radius, fc="none", zorder=3,
                                            ec=HIGHLIGHT if is_best else "#222222", lw=1.6 if is_best else 0.8))
                    inside = np.linalg.norm(cand[:, None, :] - centres[None], axis=-1) <= toy.support_radius
                    title += f"\n{int(inside.any(0).sum())} of {len(centres)} modes covered"
                ax.scatter(cand[:, 0], cand[:, 1], s=14, c="#111111", edgecolors="white", linewidths=0.6, zorder=5)
                ax.set_xlim(-1.05, 1.05)
                ax.set_ylim(-1.05, 1.05)
                ax.set_aspect("equal")
                ax.set_xticks([-1, 0, 1])
                ax.set_yticks([-1, 0, 1])
                ax.grid(False)
                ax.set_title(title, fontsize=7.8)
                ax.set_xlabel("$a_0$")
                if c == 0:
                    ax.set_ylabel("$a_1$")
            if kind == "toy":
                caption.append(f"Toy task ({run.task}): grey discs are the {toy.num_modes} support modes of this "
                               "state (the dataset's actions lie uniformly in them), red edge: the mode that pays "
                               "more; candidates inside a disc cover that mode.")
            else:
                caption.append(f"{run.task}: candidates projected to their first two action dimensions; the cells "
                               f"drawn are those of the projected candidates (routing uses the "
                               f"{_int(run.action_dim)}-D cells, whose projections may overlap).")
        caption.append("Coloured regions: Voronoi cells of the candidate set, one per candidate (a dataset action in "
                       "a cell is routed to that cell's candidate); a0, a1: first and second action dimension; "
                       "columns: first, middle and last snapshot step. Candidates closer than a marker overlap.")
        handles = [Line2D([], [], ls="none", marker="o", ms=4.5, mfc="#111111", mec="white", label="candidate"),
                   Patch(fc="#e8e8e8", ec="#555555", lw=0.6, label="Voronoi cell")]
        if any(kind == "toy" for kind, *_ in rows):
            handles += [Patch(fc="#bdbdbd", ec="#222222", lw=0.8, label="support mode"),
                        Patch(fc="#bdbdbd", ec=HIGHLIGHT, lw=1.6, label="paying (best) mode")]
        fig.legend(handles=handles, loc="outside upper center", ncols=len(handles), frameon=False)
        _finish(fig, caption, label)
        return _save(fig, out_dir, "routing")


def _pick_run(pool: pd.DataFrame, prefer: tuple[str, ...]):
    def key(row):
        labels = list(row.labels)
        rank = next((i for i, p in enumerate(prefer) if p in labels), len(prefer))
        steps = -int(row.steps) if pd.notna(row.steps) else 0
        return (rank, row.status != "finished", not bool(row.representative), int(row.ord), steps, int(row.seed),
                row.run_id)

    return sorted(pool.itertuples(index=False), key=key)[0]


def _three_moments(steps: list) -> list[tuple[str, int]]:
    if not steps:
        return []
    picks = [("first", steps[0]), ("middle", steps[len(steps) // 2]), ("last", steps[-1])]
    out, seen = [], set()
    for moment, step in picks:
        if step not in seen:
            out.append((moment, int(step)))
            seen.add(step)
    return out


def _toy_from_info(dataset_info) -> ToyBandit:
    try:
        values = json.loads(dataset_info) if isinstance(dataset_info, str) else {}
    except json.JSONDecodeError:
        values = {}
    names = {f.name for f in fields(ToyBandit)}
    return ToyBandit(**{k: v for k, v in (values or {}).items() if k in names})


def _voronoi(ax, cand: np.ndarray, lim: float = 1.05, n: int = 600) -> None:
    """Cells of the nearest candidate on a fine grid (exact up to a pixel, robust for any K), with boundaries."""
    from matplotlib.colors import ListedColormap, to_rgb

    xs = np.linspace(-lim, lim, n)
    gx, gy = np.meshgrid(xs, xs)
    grid = np.stack([gx.ravel(), gy.ravel()], -1)
    nearest = ((grid[:, None, :] - cand[None]) ** 2).sum(-1).argmin(1).reshape(n, n)
    k = len(cand)
    base = [np.array(to_rgb(_PALETTE[i % len(_PALETTE)])) for i in range(k)]
    light = [tuple(0.7 + 0.3 * c) for c in base]  # pastel: 70 % white
    ax.imshow(nearest, extent=(-lim, lim, -lim, lim), origin="lower", cmap=ListedColormap(light),
              vmin=-0.5, vmax=k - 0.5, interpolation="nearest", zorder=0)
    edge = np.zeros_like(nearest, dtype=bool)
    edge[:, 1:] |= nearest[:, 1:] != nearest[:, :-1]
    edge[1:, :] |= nearest[1:, :] != nearest[:-1, :]
    ax.imshow(np.ma.masked_where(~edge, edge.astype(float)), extent=(-lim, lim, -lim, lim), origin="lower",
              cmap=ListedColormap(["#4a4a4a"]), interpolation="nearest", zorder=1)


# Learning curves
def learning_curves_figure(db, out_dir: Path | str, *, label: str | None = None) -> list[Path]:
    """Per task (one panel each) and method label: mean ± s.d. over seeds of the evaluation score per step."""
    with _connect(db) as con:
        curves = _df(con, f"""
            SELECT run_id, task, seed, label, step, score, hparams_source, steps, batch_size, eval_episodes,
                   data_route
            FROM learning_curves r
            WHERE status = 'finished' AND score IS NOT NULL AND {_not_runtime()}
              AND label IN ({', '.join('?' * len(METHOD_LABELS))})
            ORDER BY run_id, label, step""", list(METHOD_LABELS))
        info = _task_info(con)
    if curves.empty:
        return _no_data("learning_curves", "no finished run labelled " + ", ".join(METHOD_LABELS))
    curves = _one_setting(curves, "learning_curves")
    tasks = _task_order(curves.task, info)
    written: list[Path] = []
    for stem, page_tasks, note in _pages(tasks, out_dir, "learning_curves"):
        written += _learning_curves_page(curves[curves.task.isin(page_tasks)], page_tasks, info, out_dir, stem,
                                         label, note)
    return written


def _learning_curves_page(curves: pd.DataFrame, tasks: list[str], info: pd.DataFrame, out_dir, stem: str,
                          label: str | None, note: str) -> list[Path]:
    ncols = _ncols(len(tasks))
    nrows = math.ceil(len(tasks) / ncols)

    with _style():
        from matplotlib.lines import Line2D

        width = SINGLE_COLUMN_IN if ncols == 1 else DOUBLE_COLUMN_IN
        fig = _new_figure(width, 0.8 + 1.85 * nrows)
        axes = fig.subplots(nrows, ncols, squeeze=False)
        seed_counts, shared, coincide = [], [], []
        present = [m for m in LEGEND_ORDER if m in set(curves.label)]
        for i, task in enumerate(tasks):
            ax = axes[i // ncols, i % ncols]
            data = curves[curves.task == task]
            run_sets = {m: frozenset(data[data.label == m].run_id) for m in present}
            if run_sets.get("DROL") and run_sets.get("DROL") == run_sets.get("DROL(16)"):
                shared.append(_short_task(task))
            scorer = info.loc[task, "scorer"] if task in info.index else "success"
            means = {}
            for m in present:
                d = data[data.label == m]
                if d.empty:
                    continue
                s = _mean_sd(d, ["step"], "score")
                seed_counts += list(s.n)
                means[m] = s.set_index("step")["mean"]
                colour = METHOD_COLOURS[m]
                _band(ax, s.step, s["mean"], s.sd, colour, 0.15, scorer)
                ax.plot(s.step, s["mean"], METHOD_STYLES[m], color=colour, marker=METHOD_MARKERS[m], ms=2.8,
                        label=m)
            for group in _identical_curves(means):
                if not (set(group) == {"DROL(16)", "DROL"} and _short_task(task) in shared):
                    coincide.append(f"{', '.join(group)} on {_short_task(task)}")
            if scorer == "success":
                ax.set_ylim(-4, 104)
            ax.set_xlim(left=0)
            _step_axis(ax)
            ax.set_title(_panel_title(task, ncols), fontsize=8.0 if ncols >= 3 else None)
            if i % ncols == 0:
                ax.set_ylabel(_score_label(scorer))
            if i // ncols == nrows - 1 or i + ncols >= len(tasks):
                ax.set_xlabel("training step (updates)")
        for j in range(len(tasks), nrows * ncols):
            axes[j // ncols, j % ncols].set_visible(False)
        handles = [Line2D([], [], color=METHOD_COLOURS[m], ls=METHOD_STYLES[m], marker=METHOD_MARKERS[m], ms=2.8,
                          label=m) for m in present]
        fig.legend(handles=handles, loc="outside upper center", ncols=len(handles), frameon=False)
        episodes = curves.groupby("task", sort=False)["eval_episodes"].max()
        episodes = {_short_task(t): _int(episodes.get(t)) for t in tasks}
        per_eval = (next(iter(episodes.values())) if len(set(episodes.values())) == 1
                    else "; ".join(f"{t} {n}" for t, n in episodes.items()))
        caption = [f"{note}Mean score of each evaluation (episodes per evaluation: {per_eval}); line: mean over "
                   f"seeds, band: ±1 s.d. ({_seeds_text(seed_counts)}); finished runs only."]
        if shared:
            caption.append("DROL (dashed) and DROL(16) are the same runs on " + ", ".join(shared)
                           + " (the tuned K is 16): their curves coincide.")
        if coincide:
            caption.append("Identical mean curves, drawn on top of each other: " + "; ".join(coincide) + ".")
        _finish(fig, caption, label)
        return _save(fig, out_dir, stem)


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


# Statistics: performance profiles
def performance_profile_figure(db, out_dir: Path | str, *, label: str | None = None) -> list[Path]:
    """Per family (panel) and method label: the fraction of runs (every task's seeds) scoring above tau."""
    with _connect(db) as con:
        runs = _df(con, f"""
            SELECT r.run_id, r.task, coalesce(r.paper_family, r.family) AS family, r.seed, r.label, r.score,
                   r.hparams_source, r.steps, r.batch_size, r.eval_episodes, r.data_route
            FROM labelled_runs r
            WHERE r.status = 'finished' AND r.score IS NOT NULL AND {_not_runtime()}
              AND r.label IN ({', '.join('?' * len(METHOD_LABELS))})
            ORDER BY r.run_id, r.label""", list(METHOD_LABELS))
    if runs.empty:
        return _no_data("performance_profile", "no finished run labelled " + ", ".join(METHOD_LABELS))
    runs = _one_setting(runs, "performance_profile")
    families = sorted(runs.family.unique())
    ncols = _ncols(len(families))
    nrows = math.ceil(len(families) / ncols)
    taus = np.arange(101)
    with _style():
        width = SINGLE_COLUMN_IN if ncols == 1 else DOUBLE_COLUMN_IN
        fig = _new_figure(width, 0.9 + 1.8 * nrows)
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for i, family in enumerate(families):
            ax = axes[i // ncols, i % ncols]
            group = runs[runs.family == family]
            for method in LEGEND_ORDER:
                strata = [g.score.to_numpy() for _, g in group[group.label == method].groupby("task")]
                if strata:
                    ax.plot(taus, performance_profile(strata, taus), METHOD_STYLES[method], drawstyle="steps-post",
                            color=METHOD_COLOURS[method], label=f"{method} ({sum(map(len, strata))} runs)")
            ax.set(title=family, xlabel="score threshold τ", ylabel="fraction of runs > τ", xlim=(0, 100),
                   ylim=(-0.02, 1.02))
            ax.legend(loc="upper right", frameon=False)
        for j in range(len(families), nrows * ncols):
            axes[j // ncols, j % ncols].set_visible(False)
        _finish(fig, ["Performance profiles: for each family and method, the fraction of runs (every task's "
                      "seeds, final scores) whose score exceeds τ; the area under a curve is the mean score. "
                      "Intervals: stats.md and profiles.csv (stratified bootstrap)."], label)
        return _save(fig, out_dir, "performance_profile")


FIGURES: dict[str, Callable[..., list[Path]]] = {
    "runtime": runtime_figure,
    "train_metrics_vs_k": train_metrics_figure,
    "k_sensitivity": k_sensitivity_figure,
    "routing": routing_figure,
    "learning_curves": learning_curves_figure,
    "performance_profile": performance_profile_figure,
}


def write_figures(db_path, out_dir: Path | str, label: str | None = None) -> list[Path]:
    """Every figure of FIGURES from one database into `out_dir`; the paths written (figures without data: none)."""
    written: list[Path] = []
    with _connect(db_path) as con:
        for function in FIGURES.values():
            written += function(con, out_dir, label=label)
    return written
