"""Database connectors: database I/O with PostgreSQL and SQLite through Arrow ADBC.

Connections are declared in flowdeck.yaml (``connections:``); credentials are references
resolved when a connection opens (``engine.secrets.resolve``), so the masker knows them before
any driver error can quote them. Data moves as Arrow record batches, one batch in memory at a
time. What an extract or load step does with them is the steps' business (``engine.steps.extract``,
``engine.steps.load``); nothing here imports engine.steps or engine.run.

- ``connection``: opening a connection (URI, user, password, TLS options), running a statement,
  and the rows of a query as a stream of Arrow batches;
- ``dialects``: what differs between the databases (literals, load SQL, Arrow types);
- ``failures``: what went wrong, in plain words (DNS, refused, TLS, authentication, ...);
- ``ingest``: Arrow batches into a table in one transaction with a load marker, exactly once per data version;
- ``progress``: rows counted as batches stream by;
- ``health``: ``flowdeck connections test`` and the daemon's scheduled checks.
"""
