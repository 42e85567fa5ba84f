"""The database describes itself: a comment on every table, view and column (drol/results/catalog.py), the
`metrics` table documenting every training-metric name a method records, and `drol schema` printing them.

The database is built from real one-update runs of every registered method on the toy task, so the metric
names are the ones training records (a log step and a validation step), not a list kept by hand."""

import re

import duckdb
import pytest

from drol.cli import main
from drol.config import parse_sets, resolve_run
from drol.methods import methods
from drol.results.catalog import COLUMNS, OBJECTS
from drol.results.db import build_database, find_run_dirs
from drol.tasks import TOY_TASK

TINY = ["actor_hidden_dims=8,8", "value_hidden_dims=8,8", "steps=1", "batch_size=8", "eval_episodes=1",
        "snapshot_states=1", "checkpoint_interval=1000"]
MISSING = ("SELECT 'table ' || table_name FROM duckdb_tables() WHERE database_name = current_database() "
           "AND coalesce(comment, '') = '' "
           "UNION ALL SELECT 'view ' || view_name FROM duckdb_views() WHERE database_name = current_database() "
           "AND NOT internal AND coalesce(comment, '') = '' "
           "UNION ALL SELECT 'column ' || table_name || '.' || column_name FROM duckdb_columns() "
           "WHERE database_name = current_database() AND coalesce(comment, '') = '' ORDER BY 1")
OBJECT_KINDS = ("SELECT table_name, 'table', comment FROM duckdb_tables() WHERE database_name = current_database() "
                "UNION ALL SELECT view_name, 'view', comment FROM duckdb_views() "
                "WHERE database_name = current_database() AND NOT internal")
COLUMN_COMMENTS = ("SELECT table_name, column_name, data_type, comment FROM duckdb_columns() "
                   "WHERE database_name = current_database()")


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    import torch

    from drol.train import train

    root = tmp_path_factory.mktemp("schema") / "runs"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny nets: one thread is as fast, and immune to a busy machine
    try:
        for method in methods():
            spec = resolve_run(method, TOY_TASK, 0, parse_sets(TINY, method))
            assert train(spec, root / method, progress=False) == "finished"
    finally:
        torch.set_num_threads(threads)
    path = root.parent / "results.duckdb"
    build_database(find_run_dirs([root]), path)
    return path


def rows(db, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_every_table_view_and_column_has_a_comment(db):
    assert rows(db, MISSING) == [], "describe these in drol/results/catalog.py"


def test_the_catalog_describes_only_what_the_database_has(db):
    columns = {(t, c) for t, c, _, _ in rows(db, COLUMN_COMMENTS)}
    assert set(OBJECTS) == {name for name, _, _ in rows(db, OBJECT_KINDS)}
    stale = [(name, c) for name, entry in OBJECTS.items() for c in entry.columns if (name, c) not in columns]
    assert stale == []
    # Every shared meaning is the comment of at least one column (none is shadowed everywhere).
    unused = [c for c in COLUMNS if not any(c == col and c not in OBJECTS[t].columns for t, col in columns)]
    assert unused == []


def test_comments_carry_the_units_the_names_promise(db):
    for table, column, _, comment in rows(db, COLUMN_COMMENTS):
        where = f"{table}.{column}: {comment}"
        if "ms_per" in column:
            assert re.search(r"\bms\b", comment), where
        elif column.endswith("_s"):
            assert re.search(r"\bs\b", comment), where
        if column in ("score", "mean", "ours_mean", "paper_mean", "counted_score"):
            assert "0-100" in comment, where
        if column.endswith("std"):
            assert "score points" in comment, where
        if column in ("steps", "step", "final_step", "offline_steps"):
            assert "update" in comment, where


def test_metrics_table_documents_every_recorded_metric(db):
    recorded = set(rows(db, "SELECT DISTINCT r.method, m.name FROM train_metrics m JOIN runs r USING (run_id)"))
    assert {method for method, _ in recorded} == set(methods())
    # Each name with exactly the methods that record it: no missing name, method or stale row.
    assert set(rows(db, "SELECT unnest(methods), name FROM metrics")) == recorded
    assert rows(db, "SELECT count(*) = count(DISTINCT name) FROM metrics") == [(True,)]
    kinds = dict(rows(db, "SELECT name, kind FROM metrics"))
    assert {name for name, kind in kinds.items() if kind == "validation"} == {"val_bc_loss"}
    assert set(kinds.values()) == {"update", "validation"}
    assert rows(db, "SELECT count(*) FROM metrics WHERE unit = '' OR meaning = ''") == [(0,)]


def test_drol_schema_lists_every_table_and_view_with_its_comment(db, capsys):
    assert main(["schema", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["name", "kind", "comment"]
    listed = [line.split()[:2] for line in lines[1:] if not line.startswith(" ")]
    objects = rows(db, OBJECT_KINDS)
    assert sorted(listed) == sorted([name, kind] for name, kind, _ in objects)
    kinds = [kind for _, kind in listed]
    assert listed[0] == ["tasks", "table"] and kinds == sorted(kinds)  # the tables, then the views
    flat = " ".join(out.split())  # the comments are wrapped, never cut
    assert all(" ".join(comment.split()) in flat for _, _, comment in objects)


def test_drol_schema_of_one_table_shows_columns_types_and_comments(db, capsys):
    assert main(["schema", "timings", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("table timings: timing.json of each run")
    flat = " ".join(out.split())
    for table, column, data_type, comment in rows(db, COLUMN_COMMENTS):
        if table == "timings":
            assert f"{column} {data_type} {comment}" in flat
    assert "ms_per_update DOUBLE ms per update" in flat


def test_drol_schema_errors_are_one_line(db, tmp_path, capsys):
    for argv, names in ((["schema", "no_such_view", "--db", str(db)], ["no_such_view", "drol schema --db"]),
                        (["schema", "--db", str(tmp_path / "missing.duckdb")], ["missing.duckdb", "not found"])):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("drol schema: error: "), err
        assert all(n in err for n in names), err
