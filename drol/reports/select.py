"""What the reports show: the database's selection rule and its method labels, read once for tables and figures.

The selection rule itself is SQL, defined once in drol/results/views.sql: the view `settings` ranks, for
each task (and each family) and label, the settings (hparams_source, steps, batch_size, eval_episodes,
data_route, success_timing) of its result runs and marks the one shown; `result_runs` leaves the workflow's timing runs
(label 'runtime') out of every method result; `shown_runs` lists the runs of the settings shown. Tables,
views and figures all read those, so a table and a figure never disagree on which runs they show. Methods
(labels, display order, one-step, K, colour, marker, line style) come from the database's `methods` table,
which `drol build-db` writes from the method registry (drol.methods).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from drol.reports.fmt import steps_text, text
from drol.results.db import ResultsError
from drol.results.query import connect_read_only

SETTING = ("hparams_source", "steps", "batch_size", "eval_episodes", "data_route", "success_timing")
# The rule in words, as the tables' notes and the figures' captions say it (views.sql, view `settings`, has it all).
RULE_TEXT = {"task": "the one with the most steps, then the most seeds",
             "family": "the one with the most steps, then the most tasks covered, then the most seeds"}


@dataclass(frozen=True)
class Setting:
    hparams_source: str | None
    steps: int | None
    batch_size: int | None
    eval_episodes: int | None
    data_route: str | None
    success_timing: str | None

    @classmethod
    def of(cls, rec: Mapping) -> Setting:
        return cls(*(rec.get(k) for k in SETTING))

    def describe(self, other: Setting | None = None) -> str:
        """The setting in words; given `other`, only the fields where the two differ."""
        parts = {"steps": f"{steps_text(self.steps)} steps", "batch_size": f"batch {text(self.batch_size)}",
                 "eval_episodes": f"{text(self.eval_episodes)} evaluation episodes",
                 "hparams_source": f"hparams {text(self.hparams_source)}",
                 "data_route": f"data route {text(self.data_route)}",
                 "success_timing": f"success counted {text(self.success_timing)}-step"}
        keys = [k for k in ("steps", "batch_size", "eval_episodes", "hparams_source", "data_route", "success_timing")
                if other is None or getattr(self, k) != getattr(other, k)]
        return ", ".join(parts[k] for k in keys)


@dataclass(frozen=True)
class MethodLabel:
    """One row of the database's `methods` table: a method label and how it shows."""
    label: str
    method: str
    ord: int
    is_default: bool
    has_k: bool
    one_step: bool
    colour: str
    marker: str
    linestyle: str


@contextlib.contextmanager
def opened(db: Path | str | duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection: `db` itself when it is a connection (left open), else the file opened read-only."""
    if isinstance(db, duckdb.DuckDBPyConnection):
        yield db
        return
    con = connect_read_only(db)
    try:
        yield con
    finally:
        con.close()


def _execute(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence) -> duckdb.DuckDBPyConnection:
    try:
        return con.execute(sql, list(params))
    except duckdb.Error as err:
        raise ResultsError(f"the database lacks what the report reads ({str(err).splitlines()[0]}); rebuild it "
                           "with this version's `drol build-db results/runs --out results.duckdb`") from None


def records(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence = ()) -> list[dict]:
    cursor = _execute(con, sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def frame(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence = ()) -> pd.DataFrame:
    return _execute(con, sql, params).fetchdf()


def method_labels(con: duckdb.DuckDBPyConnection) -> list[MethodLabel]:
    """The database's method labels in display order."""
    fields = ", ".join(MethodLabel.__dataclass_fields__)
    return [MethodLabel(**r) for r in records(con, f"SELECT {fields} FROM methods ORDER BY ord")]


def table1_runs(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The counted runs (finished with a final score, or diverged: score 0; views.sql) of the setting shown
    for each Table 1 family and method label (shown_runs, for_table1): the runs of the statistics (stats.md,
    profiles.csv) and the profile figure."""
    return records(con, f"""
        SELECT table1_family AS family, label, task, seed, counted_score AS score, {', '.join(SETTING)}
        FROM shown_runs
        WHERE for_table1 AND counted AND counted_score IS NOT NULL AND label IN (SELECT label FROM methods)
        ORDER BY family, label, task, seed""")
