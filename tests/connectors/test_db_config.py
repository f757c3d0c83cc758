"""Connections and database steps in YAML: what is refused, and where the message points."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dbkit import flowdeck, make_project, pipeline, write

from flowdeck.engine.connectors.connection import _postgresql_uri
from flowdeck.engine.connectors.dialects import PostgreSQL, QualifiedName, SQLite
from flowdeck.engine.connectors.failures import reason_of
from flowdeck.engine.errors import ConfigError, PlanError
from flowdeck.engine.masking import mask
from flowdeck.engine.plan.planner import build_plan
from flowdeck.engine.project.project import Project

PG = '{type: postgresql, uri: "postgresql://db.example.com:5432/sales", user: etl, password: "${secret:SALES_DB}"}'


def project(tmp_path: Path, connection: str = PG, steps: str = "") -> Path:
    root = make_project(tmp_path / "project", {"sales_db": connection})
    if steps:
        pipeline(root, "p", steps)
    return root


@pytest.mark.parametrize("connection, words", [
    ('{type: postgresql, uri: "postgresql://h/db", password: hunter2hunter2}', "must be a reference"),
    ('{type: postgresql, uri: "postgresql://etl:hunter2hunter2@h/db"}', "holds a literal password"),
    ('{type: sqlite, uri: a.sqlite, sslmode: require}', "`sslmode` does not apply to a sqlite connection"),
    ('{type: postgresql, uri: "mysql://h/db"}', "starts with postgresql://"),
    ('{type: postgresql, uri: "postgresql://h/db", sslmode: requir}', "did you mean `require`?"),
    ('{type: oracle, uri: "x"}', "must be one of postgresql, sqlite"),
])
def test_bad_connections_are_refused_with_the_line_they_are_on(tmp_path: Path, connection: str, words: str) -> None:
    root = project(tmp_path, connection)
    with pytest.raises(ConfigError) as raised:
        Project.load(root)
    assert words in raised.value.render()
    assert raised.value.location is not None and raised.value.location.line == 5


@pytest.mark.parametrize("steps, words", [
    ("""
     - name: raw
       kind: extract
       source: {connection: sales, table: orders}
     """, "no connection named `sales` in flowdeck.yaml"),
    ("""
     - name: raw
       kind: extract
       source: {connection: sales_db, table: orders, query: "SELECT 1"}
     """, "exactly one of `table` or `query`"),
    ("""
     - name: raw
       kind: extract
       source: {connection: sales_db, tabel: orders}
     """, "did you mean `table`?"),
    ("""
     - name: raw
       kind: extract
       source: {connection: sales_db, query: missing.sql}
     """, "SQL file not found: missing.sql"),
    ("""
     - name: raw
       kind: extract
       source: {connection: sales_db, table: orders}
       materialized: incremental
       unique_key: id
       time_range: {column: sold_at}
     """, "it reads new rows by `watermark`, not by `time_range`"),
    ("""
     - name: raw
       kind: extract
       source: {path: data/x.csv}
     - name: out
       kind: load
       table: raw
       to: {connection: sales_db, table: t, mode: upsert}
     """, "`mode: upsert` needs `key:`"),
    ("""
     - name: raw
       kind: extract
       source: {path: data/x.csv}
     - name: out
       kind: load
       table: raw
       to: {connection: sales_db, table: t, key: id}
     """, "`key` only applies to `mode: upsert`"),
])
def test_bad_database_steps_are_refused_before_anything_runs(tmp_path: Path, steps: str, words: str) -> None:
    root = project(tmp_path, steps=steps)
    with pytest.raises((ConfigError, PlanError)) as raised:
        build_plan(Project.load(root), "p")
    assert words in raised.value.render()
    assert raised.value.location is not None and raised.value.location.path.name == "pipeline.yaml"


def test_validate_and_schema_know_the_database_forms(tmp_path: Path) -> None:
    root = project(tmp_path, steps="""
        - name: raw
          kind: extract
          source: {connection: sales_db, query: orders.sql}
          materialized: incremental
          watermark: updated_at
          unique_key: id
        - name: out
          kind: load
          table: raw
          to: {connection: sales_db, table: analytics.orders, mode: upsert, key: [id]}
        """)
    write(root / "pipelines" / "p" / "orders.sql", "SELECT * FROM orders WHERE NOT deleted\n")
    assert flowdeck(root, "validate", password=None).returncode == 0
    schema = json.loads(flowdeck(root, "schema", password=None).stdout)
    assert "DatabaseSource" in json.dumps(schema) and "ConnectionConfig" in json.dumps(schema)


def test_connections_test_of_an_unknown_name_is_bad_input(tmp_path: Path) -> None:
    result = flowdeck(project(tmp_path), "connections", "test", "nope", password=None)
    assert result.returncode == 2
    assert "no connection named `nope`" in result.stderr and "sales_db" in result.stderr


def test_the_uri_carries_user_password_and_tls_options_and_the_password_is_masked(tmp_path: Path,
                                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path, '{type: postgresql, uri: "postgresql://db.example.com:5432/sales?application_name=x", '
                             'user: etl, password: "${secret:SALES_DB}", sslmode: verify-full, '
                             'sslrootcert: certs/ca.pem, connect_timeout: 1s}')
    monkeypatch.setenv("FLOWDECK_SECRET_SALES_DB", "p@ss word&=/1")
    loaded = Project.load(root)
    uri, user = _postgresql_uri(loaded, loaded.config.connections["sales_db"])
    assert user == "etl"
    assert uri == ("postgresql://db.example.com:5432/sales?application_name=x&user=etl&password=p%40ss+word%26%3D%2F1"
                   f"&sslmode=verify-full&sslrootcert={str(root / 'certs' / 'ca.pem').replace('/', '%2F')}"
                   "&connect_timeout=2")
    assert "p%40ss" not in mask(uri) and "p@ss word" not in mask(f"the driver said: {uri} / p@ss word&=/1")


@pytest.mark.parametrize("message, sqlstate, reason", [
    ('could not translate host name "x.invalid" to address: Name or service not known', None, "dns"),
    ('connection to server at "127.0.0.1", port 1 failed: Connection refused', None, "refused"),
    ("connection to server at \"10.0.0.1\", port 5432 failed: timeout expired", None, "timeout"),
    ('failed: FATAL:  password authentication failed for user "etl"', None, "authentication"),
    ('failed: FATAL:  no pg_hba.conf entry for host "1.2.3.4", user "etl", database "d", no encryption', None,
     "authentication"),
    ("server does not support SSL, but SSL was required", None, "tls"),
    ('root certificate file "/x/ca.pem" does not exist', None, "tls"),
    ('FATAL:  database "nope" does not exist', None, "database"),
    ("ERROR:  permission denied for table ssl_certificates", "42501", "permission"),
    ('ERROR:  relation "tls_sessions" does not exist', "42P01", "missing_table"),
    ("no such table: orders", None, "missing_table"),
    ("unable to open database file", None, "missing_database"),
    ("division by zero", "22012", "unknown"),
])
def test_driver_errors_are_sorted_into_their_reason(message: str, sqlstate: str | None, reason: str) -> None:
    error = Exception(message)
    error.sqlstate = sqlstate  # type: ignore[attr-defined]
    assert reason_of(error) == reason


def test_identifiers_and_literals_are_quoted_for_each_database() -> None:
    assert QualifiedName.parse("sales.Orders") == QualifiedName("sales", "Orders")  # used as written, case too
    assert QualifiedName.parse("orders") == QualifiedName(None, "orders")
    assert PostgreSQL().table(QualifiedName("sales", 'we"ird')) == '"sales"."we""ird"'
    assert PostgreSQL().literal(5) == "'5'" and PostgreSQL().literal("o'k") == "'o''k'"
    assert SQLite().literal(5) == "5" and SQLite().literal(1.5) == "1.5" and SQLite().literal("o'k") == "'o''k'"


def test_testing_a_connection_needs_the_operator_role_and_is_audited(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", {"files": "{type: sqlite, uri: data.sqlite}"})
    (root / "data.sqlite").touch()
    config = root / "flowdeck.yaml"
    config.write_text(config.read_text() + "roles: {default: viewer}\n")
    refused = flowdeck(root, "connections", "test", "files", password=None)
    assert refused.returncode == 3 and "needs the operator role" in refused.stderr
    config.write_text(config.read_text().replace("default: viewer", "default: operator"))
    allowed = flowdeck(root, "connections", "test", "files", password=None)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    audit = json.loads(flowdeck(root, "audit", "--json", password=None).stdout)
    entries = [(entry["action"], entry["target"], entry["outcome"]) for entry in audit]
    assert ("connections.test", "files", "denied") in entries and ("connections.test", "files", "ok") in entries
