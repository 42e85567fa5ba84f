"""`drol query`: the database is read, but a query writes no file (unless --allow-write-files) and never
installs or loads an extension; empty SQL and a file that is not a database get one line naming the fix. The SQL
comes from the argument, a file or stdin; CSV keeps integer columns integer; Parquet export is one COPY."""

import io
import json

import duckdb
import pyarrow.parquet as pq
import pytest
from conftest import write_run_dir

from drol.cli import main
from drol.config import parse_sets, resolve_run
from drol.results.db import build_database, find_run_dirs
from drol.results.query import connect_read_only, query_config
from drol.tasks import TOY_TASK


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    root = tmp_path_factory.mktemp("query") / "runs"
    for seed in (0, 1):
        spec = resolve_run("fql", TOY_TASK, seed, parse_sets(["steps=10"], "fql"))
        evals = [(10, episode, episode < seed + 1, 1.0, 50.0, 5) for episode in range(2)]
        write_run_dir(root, spec, fingerprint="toy", evals=evals, metrics=[(10, "bc_loss", 0.5)],
                      timing={"ms_per_update": 1.0})
    path = root.parent / "results.duckdb"
    build_database(find_run_dirs([root]), path)
    return path


def run_query(db, sql, *flags):
    return main(["query", sql, "--db", str(db), *flags])


def one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("drol query: error: "), err
    return err


def test_reading_the_database_works(db, capsys):
    assert run_query(db, "SELECT count(*) AS n FROM evaluations", "--json") == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 4}]


@pytest.mark.parametrize("sql", ["COPY evaluations TO '{out}'", "COPY (SELECT 1 AS a) TO '{out}' (FORMAT parquet)",
                                 "SELECT 1; COPY runs TO '{out}'"])
def test_copy_to_is_refused_and_writes_nothing(db, tmp_path, capsys, sql):
    out = tmp_path / "out.csv"
    assert run_query(db, sql.format(out=out)) == 2
    assert "--allow-write-files" in one_line_error(capsys)
    assert not out.exists()


def test_copy_cannot_overwrite_a_run_file(db, capsys):
    evals = next(db.parent.glob("runs/**/evals.parquet"))
    before = evals.read_bytes()
    assert run_query(db, f"COPY (SELECT 1 AS a) TO '{evals}' (FORMAT parquet)") == 2
    one_line_error(capsys)
    assert evals.read_bytes() == before


def test_export_database_is_refused(db, tmp_path, capsys):
    assert run_query(db, f"EXPORT DATABASE '{tmp_path / 'export'}'") == 2
    assert "--allow-write-files" in one_line_error(capsys)
    assert not (tmp_path / "export").exists()


@pytest.mark.parametrize("flags", [(), ("--allow-write-files",)])
@pytest.mark.parametrize("sql", ["INSTALL httpfs", "FORCE INSTALL httpfs", "LOAD httpfs",
                                 "LOAD '/tmp/x.duckdb_extension'"])
def test_extensions_are_never_installed_or_loaded(db, capsys, sql, flags):
    assert run_query(db, sql, *flags) == 2
    assert "never install or load" in one_line_error(capsys)


def test_duckdb_settings_block_files_even_without_the_statement_check(db, tmp_path):
    """The guard is DuckDB's own configuration, not only drol's look at the statement type."""
    con = connect_read_only(db, query_config(allow_write_files=False))
    try:
        for sql in (f"COPY runs TO '{tmp_path / 'a.csv'}'", f"EXPORT DATABASE '{tmp_path / 'exp'}'",
                    f"ATTACH '{tmp_path / 'new.duckdb'}' AS other", "INSTALL httpfs",
                    f"SELECT * FROM read_csv('{tmp_path / 'a.csv'}')"):
            with pytest.raises(duckdb.PermissionException):
                con.execute(sql)
        for sql in ("SET enable_external_access = true", "SET autoinstall_known_extensions = true",
                    f"SET profiling_output = '{tmp_path / 'profile.json'}'"):
            with pytest.raises(duckdb.InvalidInputException, match="locked"):
                con.execute(sql)
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (2,)
    finally:
        con.close()
    assert list(tmp_path.iterdir()) == []


def test_reading_other_files_names_the_flag(db, capsys):
    evals = next(db.parent.glob("runs/**/evals.parquet"))
    assert run_query(db, f"SELECT count(*) FROM read_parquet('{evals}')") == 2
    err = one_line_error(capsys)
    assert "--allow-write-files" in err and "Permission" in err


def test_allow_write_files_runs_copy_and_export(db, tmp_path, capsys):
    out = tmp_path / "evals.csv"
    assert run_query(db, f"COPY (SELECT * FROM evaluations ORDER BY ALL) TO '{out}'", "--allow-write-files") == 0
    assert len(out.read_text().splitlines()) == 1 + 4
    assert run_query(db, f"EXPORT DATABASE '{tmp_path / 'export'}'", "--allow-write-files") == 0
    assert (tmp_path / "export" / "schema.sql").is_file()
    capsys.readouterr()
    # The database itself is still opened read-only.
    assert run_query(db, "DROP TABLE runs", "--allow-write-files") == 2
    assert "read-only" in one_line_error(capsys)


@pytest.mark.parametrize("sql", ["", ";;", "  ", "-- only a comment"])
def test_empty_sql_is_one_line(db, capsys, sql):
    assert run_query(db, sql) == 2
    err = one_line_error(capsys)
    assert "no SQL statement" in err and "drol query" in err


def test_a_file_that_is_not_a_database_is_named(tmp_path, capsys):
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\n" * 20)
    assert run_query(passwd, "SELECT 1") == 2
    err = one_line_error(capsys)
    assert f"{passwd}" in err and "not a DuckDB database" in err
    assert "drol build-db results/runs --out results.duckdb" in err and f"--out {passwd}" not in err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_sql_from_a_file_or_stdin(db, tmp_path, capsys, monkeypatch):
    sql = "SELECT 1 AS a;\n-- the last statement's result is printed\nSELECT count(*) AS n FROM runs;\n"
    (tmp_path / "q.sql").write_text(sql)
    for argv, stdin in ((["-f", str(tmp_path / "q.sql")], ""), (["-f", "-"], sql), (["-"], sql), ([], sql)):
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        assert main(["query", *argv, "--db", str(db), "--json"]) == 0, argv
        assert json.loads(capsys.readouterr().out) == [{"n": 2}], argv
    monkeypatch.setattr("sys.stdin", Terminal())  # no argument, nothing piped in: say how to pass SQL
    assert main(["query", "--db", str(db)]) == 2
    assert "no SQL given" in one_line_error(capsys)
    assert main(["query", "-f", str(tmp_path / "missing.sql"), "--db", str(db)]) == 2
    err = one_line_error(capsys)
    assert "missing.sql" in err and "No such file" in err


def test_csv_keeps_integer_columns_with_nulls_integer(db, capsys):
    sql = f"SELECT label, K, coef, [K, 1] AS pair FROM hparams WHERE task = '{TOY_TASK}' ORDER BY label"
    assert run_query(db, sql, "--csv") == 0
    assert capsys.readouterr().out.splitlines() == [
        "label,K,coef,pair", 'DROL,4,1.0,"[4, 1]"', 'DROL(16),16,1.0,"[16, 1]"', 'FQL,,10.0,"[null, 1]"']


def test_parquet_export_is_one_command(db, tmp_path, capsys):
    out = tmp_path / "hparams.parquet"
    sql = f"SELECT label, K, coef FROM hparams WHERE task = '{TOY_TASK}' ORDER BY label"
    assert run_query(db, f"COPY ({sql}) TO '{out}' (FORMAT parquet)", "--allow-write-files") == 0
    table = pq.read_table(out)
    assert str(table.schema.field("K").type) == "int32" and table.column("K").null_count == 1
    capsys.readouterr()
    assert run_query(db, sql, "--json") == 0
    assert table.to_pylist() == json.loads(capsys.readouterr().out)
