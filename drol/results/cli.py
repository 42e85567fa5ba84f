"""`drol build-db`, `drol query` and `drol schema`: registered on drol's argument parser by
`add_commands(subparsers)`.

Errors a user can fix (no run directory found, a broken run directory, a missing database, an SQL error, an
unknown table) print one line naming the thing and the fix on stderr, and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_USAGE = 2
DEFAULT_DB = "results.duckdb"
DEFAULT_ROOT = "results/runs"


def _fail(command: str, err: Exception) -> int:
    print(f"drol {command}: error: {err}", file=sys.stderr)
    return EXIT_USAGE


def _build_db(args: argparse.Namespace) -> int:
    from drol.results.db import ResultsError, build_database, find_run_dirs

    try:
        run_dirs = find_run_dirs(args.paths)
        if not run_dirs:
            raise ResultsError(f"no run directories (run.json) under {', '.join(map(str, args.paths))}; train runs "
                               "first (`drol train` or `snakemake`) or pass the directory that holds them")
        counts = build_database(run_dirs, Path(args.out))
    except ResultsError as err:
        return _fail("build-db", err)
    statuses = _status_counts(Path(args.out))
    by_status = ", ".join(f"{n} {s}" for s, n in statuses.items())
    print(f"{args.out}: {counts['runs']} runs ({by_status}), {counts['evaluations']} evaluation episodes, "
          f"{counts['train_metrics']} training-metric rows")
    unfinished = sum(n for s, n in statuses.items() if s not in ("finished", "diverged"))
    if unfinished:
        print(f"note: {unfinished} runs have not ended (running or interrupted); they are in `runs`, with what they "
              "recorded so far, but not in the aggregates (task_scores, table4, ...; diverged runs count there as 0)")
    return 0


def _status_counts(db: Path) -> dict[str, int]:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        return dict(con.execute("SELECT status, count(*) FROM runs GROUP BY status ORDER BY status").fetchall())


def _sql_text(args: argparse.Namespace) -> str:
    """The SQL of `drol query`: the argument, the file of -f, or stdin (`-`, or no argument with piped input)."""
    from drol.results.db import ResultsError

    if args.file is not None and args.file != "-":
        try:
            return Path(args.file).read_text()
        except (OSError, UnicodeDecodeError) as err:
            reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
            raise ResultsError(f"cannot read the SQL file {args.file} ({reason}); pass a text file of SQL to -f") \
                from None
    if args.sql is not None and args.sql != "-":
        return args.sql
    if args.file is None and args.sql is None and sys.stdin.isatty():
        raise ResultsError('no SQL given; pass it as an argument (drol query "SELECT * FROM table4"), in a file '
                           "(drol query -f query.sql) or on stdin (drol query - < query.sql)")
    return sys.stdin.read()


def _query(args: argparse.Namespace) -> int:
    from drol.results.db import ResultsError
    from drol.results.query import query

    fmt = "csv" if args.csv else "json" if args.json else "table"
    try:
        text = query(args.db, _sql_text(args), fmt, allow_write_files=args.allow_write_files)
    except ResultsError as err:
        return _fail("query", err)
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return 0


def _schema(args: argparse.Namespace) -> int:
    from drol.results.db import ResultsError
    from drol.results.query import schema

    try:
        print(schema(args.db, args.name))
    except ResultsError as err:
        return _fail("schema", err)
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register `build-db`, `query` and `schema` on drol's subcommand parsers."""
    p = subparsers.add_parser(
        "build-db", help="load run directories and the paper's reference tables into results.duckdb",
        description="Load every run directory (run.json, evals.parquet, train_metrics.parquet, timing.json, "
                    "snapshots.parquet) and the reference tables into a new DuckDB database, written to a "
                    "temporary file and renamed onto --out. Unfinished runs are loaded with their status.")
    p.add_argument("paths", nargs="*", default=[DEFAULT_ROOT], metavar="RUN_DIR_OR_ROOT",
                   help=f"run directories, or roots searched recursively for run.json (default {DEFAULT_ROOT})")
    p.add_argument("--out", default=DEFAULT_DB, help=f"database file to write (default {DEFAULT_DB}); "
                                                     "replaced atomically if it exists")
    p.set_defaults(func=_build_db)

    p = subparsers.add_parser(
        "query", help="run SQL on results.duckdb (read-only)",
        description="Run SQL on the results database, opened read-only, and print the result of its last "
                    "statement; the query can neither write files (unless --allow-write-files) nor install or load "
                    "extensions. The SQL comes from the argument, a file (-f) or stdin. `drol schema` lists the "
                    "tables and views; export to Parquet with COPY (SELECT ...) TO 'out.parquet' (FORMAT parquet) "
                    "and --allow-write-files.")
    source = p.add_mutually_exclusive_group()
    source.add_argument("sql", nargs="?",
                        help='the SQL, e.g. "SELECT * FROM table4 WHERE ours_mean IS NOT NULL"; - (or none, with '
                             "input piped in) reads it from stdin")
    source.add_argument("-f", "--file", metavar="FILE", help="read the SQL from FILE (- for stdin)")
    p.add_argument("--db", default=DEFAULT_DB, help=f"database file (default {DEFAULT_DB})")
    p.add_argument("--allow-write-files", action="store_true",
                   help="let the query write files (COPY ... TO, EXPORT DATABASE) and read files other than the "
                        "database; without it DuckDB opens no other file. Extensions are never installed or loaded")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="print CSV (header row, NULL as empty)")
    fmt.add_argument("--json", action="store_true", help="print JSON: a list of objects, one per row")
    p.set_defaults(func=_query)

    p = subparsers.add_parser(
        "schema", help="list the tables and views of results.duckdb, or one's columns, with their comments",
        description="Print every table and view of the results database with its comment, or, given a name, that "
                    "table's or view's columns with type and comment (units included). The training-metric names "
                    "are documented in the table metrics: drol query \"SELECT * FROM metrics\".")
    p.add_argument("name", nargs="?", metavar="TABLE_OR_VIEW", help="a table or view, e.g. task_scores (default: list "
                                                                     "them all)")
    p.add_argument("--db", default=DEFAULT_DB, help=f"database file (default {DEFAULT_DB})")
    p.set_defaults(func=_schema)
