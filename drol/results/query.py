"""`drol query`: SQL on results.duckdb, opened read-only, unable to write files or install anything.

`connect_read_only` is also how the reports open the database.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import pandas as pd

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
    frame = pd.DataFrame([[_cell(v) for v in row] for row in rows], columns=columns, dtype=object)
    if fmt == "csv":
        for column in frame.columns:
            frame[column] = [json.dumps(v) if isinstance(v, (list, dict)) else v for v in frame[column]]
        return frame.to_csv(index=False)
    if not rows:
        return "  ".join(columns) + "\n(0 rows)"
    return frame.map(lambda v: "NULL" if v is None else v).to_string(index=False)
