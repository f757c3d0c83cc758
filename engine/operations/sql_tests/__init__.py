"""SQL unit tests: a step's SQL run on fixed rows and its output compared with the rows expected (docs/sql-tests.md).

``definitions`` reads and checks the test files, ``fixtures`` turns rows into SQL, ``compare`` says how
an output differs from the expected rows, ``runner`` runs tests on DuckDB and Spark, ``generate``
writes a starting test from the warehouse.
"""
