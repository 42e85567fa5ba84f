"""The results database (results.duckdb): `drol.results.db` builds and queries it, `drol.results.cli` holds
the `drol build-db`, `drol query` and `drol schema` commands. Nothing is imported here, so registering the
commands does not import DuckDB for `drol train`."""
