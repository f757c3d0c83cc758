"""The DuckDB backend: the warehouse is one DuckDB file, held by one process at a time."""
