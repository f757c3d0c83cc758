"""A secret used by a pipeline appears nowhere: not in the ledger, the warehouse, logs, exports or output."""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path

import pytest
from security_helpers import MASTER_KEY, cli, files_containing, write

TOKEN = "tok-S3cr3t/9f8e7d6c5b4a"
PASSWORD = "pg:P@ss/w0rd-61a2"
ENV = {"FLOWDECK_MASTER_KEY": MASTER_KEY}


def needles(*values: str) -> list[bytes]:
    """The bytes of each value as written plainly and URL-encoded."""
    return [form.encode() for value in values for form in (value, urllib.parse.quote(value, safe=""))]


def add_signing_pipeline(project: Path) -> None:
    """A pipeline whose SQL uses a secret (a signing key) through a parameter."""
    folder = project / "pipelines" / "signed_customers"
    write(folder / "pipeline.yaml", """\
params:
  signing_key:
    type: string
    default: ${secret:SIGNING_KEY}
steps:
  - name: people
    kind: extract
    source: {path: data/sample/customers.csv}
  - name: signed
    kind: transform
  - name: export_signed
    kind: load
    table: signed
    to: {path: exports/signed.csv}
""")
    write(folder / "signed.sql", "SELECT customer_id, md5($signing_key || email) AS signature FROM people\n")


def add_failing_connection_pipeline(project: Path) -> None:
    """A pipeline that fails with a DuckDB error quoting a connection string that holds a password."""
    folder = project / "pipelines" / "remote_orders"
    write(folder / "pipeline.yaml", """\
params:
  dsn:
    default: postgresql://etl:${secret:PG_PASSWORD}@db.internal:5432/sales
steps:
  - name: remote
    kind: transform
""")
    write(folder / "remote.sql", "SELECT * FROM read_csv($dsn)\n")


def test_a_pipeline_using_a_secret_runs_and_the_secret_is_written_nowhere(project: Path) -> None:
    add_signing_pipeline(project)
    cli(project, "secrets", "set", "SIGNING_KEY", input=TOKEN, env=ENV, check=0)
    result = cli(project, "run", "signed_customers", env=ENV, check=0)
    detached = cli(project, "run", "signed_customers", "--detach", env=ENV, check=0)
    run_id = detached.stdout.split()[1]
    wait_for(project, run_id)
    shown = cli(project, "show", run_id, "--json", env=ENV, check=0)
    assert json.loads(shown.stdout)["status"] == "succeeded"
    logs = cli(project, "logs", run_id, env=ENV, check=0)
    # the secret did its work: signatures are md5(key || email), computed here independently
    import hashlib

    query = cli(project, "query", "SELECT signature FROM signed WHERE customer_id = 1", "--json", env=ENV, check=0)
    expected = hashlib.md5((TOKEN + "customer001@example.com").encode()).hexdigest()
    assert json.loads(query.stdout) == [{"signature": expected}]
    outputs = result.stdout + result.stderr + detached.stdout + detached.stderr + shown.stdout + logs.stdout
    assert TOKEN not in outputs
    assert files_containing(project, needles(TOKEN)) == []


def test_a_run_failing_with_a_connection_string_leaks_no_password(project: Path) -> None:
    add_failing_connection_pipeline(project)
    cli(project, "secrets", "set", "PG_PASSWORD", input=PASSWORD, env=ENV, check=0)
    failed = cli(project, "run", "remote_orders", env=ENV, check=1)
    # DuckDB's own words survive (a path outside the project's folders is refused: docs/security.md)
    assert "file system operations are disabled by configuration" in failed.stdout + failed.stderr
    assert "postgresql://etl:***@db.internal:5432/sales" in failed.stdout + failed.stderr
    shown = cli(project, "show", "last", "--json", env=ENV, check=0)
    logs = cli(project, "logs", "last", "--json", env=ENV, check=0)
    detached = cli(project, "run", "remote_orders", "--detach", env=ENV, check=0)
    wait_for(project, detached.stdout.split()[1])
    outputs = failed.stdout + failed.stderr + shown.stdout + logs.stdout
    for needle in needles(PASSWORD):
        assert needle.decode() not in outputs
    assert json.loads(shown.stdout)["status"] == "failed"
    assert files_containing(project, needles(PASSWORD)) == []
    assert list((project / ".flowdeck" / "logs").glob("worker-*.log"))  # the worker's log was scanned too


def test_a_view_holding_a_secret_in_its_sql_is_refused(project: Path) -> None:
    add_signing_pipeline(project)
    pipeline = project / "pipelines" / "signed_customers" / "pipeline.yaml"
    pipeline.write_text(pipeline.read_text().replace("    kind: transform\n", "    kind: transform\n    materialized: view\n"))
    cli(project, "secrets", "set", "SIGNING_KEY", input=TOKEN, env=ENV, check=0)
    failed = cli(project, "run", "signed_customers", env=ENV, check=1)
    assert "a view keeps its SQL in the warehouse" in failed.stdout + failed.stderr
    assert files_containing(project, needles(TOKEN)) == []


def test_a_missing_secret_fails_the_run_and_says_how_to_set_it(project: Path) -> None:
    add_signing_pipeline(project)
    failed = cli(project, "run", "signed_customers", env=ENV, check=1)
    assert "secret `SIGNING_KEY` is not set" in failed.stdout + failed.stderr
    assert "flowdeck secrets set SIGNING_KEY" in failed.stdout + failed.stderr


def wait_for(project: Path, run_id: str, timeout: float = 60.0) -> None:
    """Wait until a detached run has finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = cli(project, "show", run_id, "--json", env=ENV)
        if shown.returncode == 0 and json.loads(shown.stdout)["status"] not in ("queued", "running"):
            return
        time.sleep(0.3)
    pytest.fail(f"run {run_id} did not finish within {timeout}s")


def test_a_credential_passed_as_a_run_parameter_is_refused_but_a_reference_works(project: Path) -> None:
    add_failing_connection_pipeline(project)
    refused = cli(project, "run", "remote_orders", "--param", f"dsn=postgresql://etl:{PASSWORD}@db/sales", env=ENV,
                  check=2)
    assert "--param dsn: this URL holds a literal password" in refused.stderr
    assert "--param 'dsn=${secret:NAME}'" in refused.stderr
    assert PASSWORD not in refused.stderr
    cli(project, "secrets", "set", "DSN", input=f"postgresql://etl:{PASSWORD}@db/sales", env=ENV, check=0)
    failed = cli(project, "run", "remote_orders", "--param", "dsn=${secret:DSN}", env=ENV, check=1)
    assert "Cannot access file \"***\"" in failed.stdout + failed.stderr  # resolved, used, masked
    assert files_containing(project, needles(PASSWORD)) == []
    assert json.loads(cli(project, "show", "last", "--json", env=ENV, check=0).stdout)["params"] == {"dsn": "${secret:DSN}"}
