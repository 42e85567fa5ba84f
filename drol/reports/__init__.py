"""Reports over results.duckdb: tables (tables.py) and figures (figures.py)."""
