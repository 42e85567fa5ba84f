"""A running run's records as they happen: `live/evals.csv` and `live/metrics.csv` in its run directory.

The result files (evals.parquet, ...) appear only when a run ends, so a workflow never mistakes a running run
for a finished one. Meanwhile each evaluation and each training-metric record is appended to a live CSV as one
write of whole lines: a kill loses at most the record being written, and readers skip an unfinished last line.
A resumed run rewrites its live files from its checkpoint's records (atomically), so they never hold steps the
run will train again. When the run ends its result files hold everything and the live directory is removed.
`drol build-db` loads the live files of runs that have not ended, so running grids are queryable.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from drol.io import atomic_write

LIVE_DIR = "live"
EVAL_COLUMNS = ("step", "episode", "success", "return", "score", "length")
METRIC_COLUMNS = ("step", "name", "value")
LIVE_FILES = {"evals": ("evals.csv", EVAL_COLUMNS), "metrics": ("metrics.csv", METRIC_COLUMNS)}


def live_path(run_dir: Path, kind: str) -> Path:
    return Path(run_dir) / LIVE_DIR / LIVE_FILES[kind][0]


def _csv_text(rows: Iterable[Sequence], header: Sequence[str] | None = None) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def reset_live(run_dir: Path, records: dict[str, list[Sequence]]) -> None:
    """Start (or restart from a checkpoint's records) both live files, atomically."""
    (Path(run_dir) / LIVE_DIR).mkdir(exist_ok=True)
    for kind, (_, columns) in LIVE_FILES.items():
        text = _csv_text(records.get(kind, []), header=columns)
        atomic_write(live_path(run_dir, kind), lambda tmp, text=text: Path(tmp).write_text(text))


def append_live(run_dir: Path, kind: str, rows: list[Sequence]) -> None:
    """Append rows as one write; a no-op when the run keeps no live files (its directory was not started)."""
    path = live_path(run_dir, kind)
    if rows and path.parent.is_dir():
        with open(path, "a") as f:
            f.write(_csv_text(rows))


def read_live(run_dir: Path, kind: str) -> pd.DataFrame | None:
    """A live file's complete lines as a frame (None when the run has none)."""
    path = live_path(run_dir, kind)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    if not text.endswith("\n"):  # a write cut by a kill: its line is incomplete
        text = text[: text.rfind("\n") + 1]
    columns = LIVE_FILES[kind][1]
    if not text:
        return pd.DataFrame(columns=list(columns))
    return pd.read_csv(io.StringIO(text), dtype={"name": str} if kind == "metrics" else None)


def remove_live(run_dir: Path) -> None:
    shutil.rmtree(Path(run_dir) / LIVE_DIR, ignore_errors=True)
