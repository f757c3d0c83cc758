"""Database connectors: extract from and load into PostgreSQL and SQLite through Arrow ADBC.

Connections are declared in flowdeck.yaml (``connections:``); credentials are references
resolved when a connection opens (``engine.secrets.resolve``), so the masker knows them before
any driver error can quote them. Data moves as Arrow record batches, one batch in memory at a
time: source → DuckDB on extract, DuckDB → target on load.

- ``connection``: opening a connection (URI, user, password, TLS options) and its dialect;
- ``failures``: what went wrong, in plain words (DNS, refused, TLS, authentication, ...);
- ``extract``: reading a table or query, incrementally by watermark, into a staging table;
- ``load``: writing a published table in one transaction, exactly once per data version;
- ``health``: ``flowdeck connections test`` and the daemon's scheduled checks.
"""
