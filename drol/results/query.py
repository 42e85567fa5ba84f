"""`drol query`: SQL on results.duckdb, opened read-only, unable to write files or install anything;
`drol schema`: the database's tables, views and columns with their comments (drol/results/catalog.py).

`connect_read_only` is also how the reports open the database.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import textwrap
from pathlib import Path

import duckdb
import pandas as pd

from drol.results.catalog import OBJECTS
from drol.results.db import BUILD_HINT, ResultsError, one_line

FORMATS = ("table", "csv", "json")


def connect_read_only(db_path: Path | str, config: dict | None = None) -> duckdb.DuckDBPyConnection:
    """The results database opened read-only (with DuckDB `config` settings); a missing file, or one that
    is not a DuckDB database, names the fix."""
    db_path = Path(db_path)
    if not db_path.is_file():
        raise ResultsError(f"database {db_path} not found; build it with `drol build-db results/runs --out {db_path}` "
                           "(or run the workflow)")
    try:
        return duckdb.connect(str(db_path), read_only=True, config=config or {})
    except duckdb.Error as err:
        if not _is_duckdb_file(db_path):
            raise ResultsError(f"cannot open {db_path}: it is not a DuckDB database; build one with `{BUILD_HINT}` "
                               "and pass it with --db") from None
        raise ResultsError(f"cannot open {db_path} as a DuckDB database ({one_line(err)}); rebuild it with "
                           f"`{BUILD_HINT}`") from None


def _is_duckdb_file(path: Path) -> bool:
    """Whether the file starts with DuckDB's header (the magic bytes DUCK at offset 8)."""
    try:
        with open(path, "rb") as f:
            return f.read(12)[8:12] == b"DUCK"
    except OSError:
        return False



def _csv_cell(value):
    """NULL as an empty field, a list or struct as JSON text."""
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return value


def _cell(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_cell(v) for v in value]
    if isinstance(value, dict):
        return {k: _cell(v) for k, v in value.items()}
    return value


# `drol query` runs with DuckDB's external access off: DuckDB then opens no file but the database itself,
# so COPY ... TO, EXPORT DATABASE, ATTACH, INSTALL, LOAD of a file and read_parquet/read_csv of other files all
# fail inside DuckDB (it has no setting that blocks writing files but keeps reading them). --allow-write-files
# turns external access on for COPY ... TO and EXPORT DATABASE. Either way extensions are never installed or
# loaded (explicitly: refused by statement type below; implicitly: autoinstall and autoload off), no
# persistent secret is written, and the configuration is locked so a query cannot SET any of this back.
def query_config(allow_write_files: bool = False) -> dict:
    """DuckDB settings of a `drol query` connection."""
    return {"enable_external_access": allow_write_files, "autoinstall_known_extensions": False,
            "autoload_known_extensions": False, "allow_community_extensions": False,
            "allow_persistent_secrets": False, "lock_configuration": True}


WRITE_FILES_HINT = "COPY ... TO and EXPORT DATABASE write files; drol query runs them only with --allow-write-files"


def _check_statements(con: duckdb.DuckDBPyConnection, sql: str, allow_write_files: bool) -> None:
    """Refuse empty SQL, extension statements and (without allow_write_files) COPY and EXPORT DATABASE."""
    try:
        kinds = {statement.type for statement in con.extract_statements(sql)}
    except ValueError:  # a statement type this duckdb package cannot name (UPDATE EXTENSIONS)
        raise ResultsError("this kind of statement (e.g. UPDATE EXTENSIONS) is not run by queries; run SELECT-style "
                           "SQL (see `drol query \"SHOW TABLES\"`)") from None
    if not kinds:
        raise ResultsError("no SQL statement given (the SQL is empty or only ';'); pass one, e.g. "
                           "`drol query \"SELECT * FROM table4\"`")
    if duckdb.StatementType.LOAD in kinds:
        raise ResultsError("INSTALL and LOAD are refused: queries never install or load DuckDB extensions; use your "
                           "own duckdb client for that")
    if not allow_write_files and kinds & {duckdb.StatementType.COPY, duckdb.StatementType.EXPORT,
                                          duckdb.StatementType.COPY_DATABASE}:
        raise ResultsError(WRITE_FILES_HINT)


def query(db_path: Path | str, sql: str, fmt: str = "table", allow_write_files: bool = False) -> str:
    """Run `sql` on the database opened read-only; the result as an aligned table, CSV or JSON (records).

    DuckDB opens no other file (see query_config) unless `allow_write_files`, which allows COPY ... TO and
    EXPORT DATABASE (and reading other files); extensions are never installed or loaded."""
    db_path = Path(db_path)
    if fmt not in FORMATS:
        raise ResultsError(f"unknown output format {fmt!r}; choose from {', '.join(FORMATS)}")
    con = connect_read_only(db_path, query_config(allow_write_files))
    try:
        _check_statements(con, sql, allow_write_files)
        cursor = con.execute(sql)
        if cursor is None or cursor.description is None:
            return ""
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    except duckdb.PermissionException as err:
        raise ResultsError(f"{one_line(err)}: drol query opens no file but the database unless "
                           "--allow-write-files is given (for COPY ... TO and EXPORT DATABASE; it also lets a query "
                           "read other files)") from None
    except duckdb.Error as err:
        raise ResultsError(f"SQL error: {one_line(err)} (the database opens read-only; list its tables and views "
                           "with `drol query \"SHOW TABLES\"`)") from None
    finally:
        con.close()
    if fmt == "json":
        records = [{c: _cell(v) for c, v in zip(columns, row)} for row in rows]
        return json.dumps(records, indent=1, default=str, allow_nan=False)
    if fmt == "csv":  # written cell by cell: an integer column with NULLs stays integer (no pandas float upcast)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_csv_cell(_cell(v)) for v in row] for row in rows)
        return out.getvalue()
    frame = pd.DataFrame([[_cell(v) for v in row] for row in rows], columns=columns, dtype=object)
    if not rows:
        return "  ".join(columns) + "\n(0 rows)"
    return frame.map(lambda v: "NULL" if v is None else v).to_string(index=False)


_OBJECTS_SQL = ("SELECT table_name AS name, 'table' AS kind, comment FROM duckdb_tables() "
                "WHERE database_name = current_database() "
                "UNION ALL SELECT view_name, 'view', comment FROM duckdb_views() "
                "WHERE database_name = current_database() AND NOT internal")


def schema(db_path: Path | str, name: str | None = None) -> str:
    """The tables, then the views, with their comments (in the order drol/results/catalog.py describes them);
    with `name`, that table's or view's columns with type and comment."""
    con = connect_read_only(db_path, query_config())
    try:
        order = {n: i for i, n in enumerate(OBJECTS)}
        objects = sorted(con.execute(f"SELECT name, kind, coalesce(comment, '') FROM ({_OBJECTS_SQL})").fetchall(),
                         key=lambda o: (o[1], order.get(o[0], len(order)), o[0]))
        if name is None:
            return _aligned(("name", "kind", "comment"), objects)
        found = [o for o in objects if o[0].lower() == name.lower()]
        if not found:
            raise ResultsError(f"no table or view named {name!r} in {db_path}; list them with "
                               f"`drol schema --db {db_path}`")
        name, kind, comment = found[0]
        columns = con.execute("SELECT column_name, data_type, coalesce(comment, '') FROM duckdb_columns() "
                              "WHERE database_name = current_database() AND table_name = ? ORDER BY column_index",
                              [name]).fetchall()
    finally:
        con.close()
    title = textwrap.fill(f"{kind} {name}: {comment}", _width(), subsequent_indent="  ", break_long_words=False,
                          break_on_hyphens=False)
    return f"{title}\n\n" + _aligned(("column", "type", "comment"), columns)


def _width() -> int:
    return shutil.get_terminal_size((120, 24)).columns  # 120 (or $COLUMNS) when not a terminal


def _aligned(header: tuple[str, ...], rows: list[tuple]) -> str:
    """Left-aligned columns, the last one wrapped to the terminal's width."""
    widths = [max(len(str(v)) for v in column) for column in zip(header, *rows)]
    indent = sum(w + 2 for w in widths[:-1])
    width = max(_width() - indent, 30)
    lines = []
    for row in (header, *rows):
        first = "  ".join(str(v).ljust(w) for v, w in zip(row[:-1], widths))
        wrapped = textwrap.wrap(str(row[-1]), width, break_long_words=False, break_on_hyphens=False) or [""]
        lines.append(f"{first}  {wrapped[0]}".rstrip())
        lines += [" " * indent + more for more in wrapped[1:]]
    return "\n".join(lines)
