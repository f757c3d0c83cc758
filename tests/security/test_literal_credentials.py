"""Credentials written literally are refused wherever they are spelt, a run parameter never stores one in the
ledger, and a secret too short to be masked is refused when it is set, saying why."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from security_helpers import MASTER_KEY, cli, files_containing

from flowdeck.engine.masking import mask

LITERALS = {
    "pass": "hunter2x",
    "pwd": "hunter2x",
    "credentials": "hunter2x",
    "clientsecret": "hunter2x",
    "aws_secret_access_key": "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY",
    "dsn": "host=db port=5432 password=hunter2x dbname=sales",
    "odbc": "Driver={PostgreSQL};Server=db;UID=etl;PWD=hunter2x;",
    "auth_header": "Bearer eyZ0eXAiOiJKV1QiLCJhbGciOi4242",
}


def _with_param(project: Path, name: str, default: str) -> None:
    pipeline = project / "pipelines" / "daily_sales" / "pipeline.yaml"
    text = pipeline.read_text()
    pipeline.write_text(text.replace("params:\n", f"params:\n  {name}:\n    type: string\n    default: '{default}'\n", 1))


@pytest.mark.parametrize("name", sorted(LITERALS))
def test_a_literal_credential_is_refused_however_its_key_or_value_is_spelt(project: Path, name: str) -> None:
    _with_param(project, name, LITERALS[name])
    result = cli(project, "validate", check=2)
    assert "literal credential" in result.stderr or "looks like an access token" in result.stderr, result.stderr
    assert "hunter2x" not in result.stderr and LITERALS[name] not in result.stderr
    assert "flowdeck secrets set NAME" in result.stderr


def test_references_and_ordinary_keys_are_not_taken_for_credentials(project: Path) -> None:
    _with_param(project, "dsn", "host=db password=${secret:PG_PASSWORD} dbname=sales")
    _with_param(project, "pass_rate", "0.95")
    _with_param(project, "unique_key", "order_id")
    _with_param(project, "token_url", "https://auth.example.com/token")
    cli(project, "validate", check=0)


@pytest.mark.parametrize("name", ["pass", "pwd", "credentials", "password"])
def test_a_credential_as_a_run_parameter_is_refused_and_never_reaches_the_ledger(project: Path, name: str) -> None:
    result = cli(project, "run", "daily_sales", "--param", f"{name}=hunter2x")
    assert result.returncode != 0 and "literal credential" in result.stderr, result.stderr
    assert f"--param '{name}=${{secret:NAME}}'" in result.stderr  # the hint shows the reference, not ***
    assert files_containing(project, [b"hunter2x"]) == []
    with sqlite3.connect(project / ".flowdeck" / "ledger.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0


def test_credential_pairs_and_bearer_tokens_are_masked_in_any_text() -> None:
    assert mask("could not connect: host=db user=etl password=hunter2x") == \
        "could not connect: host=db user=etl password=***"
    assert mask("Driver=x;UID=etl;PWD=hunter2x;") == "Driver=x;UID=etl;PWD=***;"
    assert mask("Authorization: Bearer eyZ0eXAiOiJKV1QiLCJhbGciOi4242") == "Authorization: Bearer ***"
    assert mask("--param 'password=${secret:NAME}'") == "--param 'password=${secret:NAME}'"
    assert mask("the Bearer instrument, a basic configuration") == "the Bearer instrument, a basic configuration"


def test_a_secret_too_short_to_mask_is_refused_with_the_reason(project: Path) -> None:
    env = {"FLOWDECK_MASTER_KEY": MASTER_KEY}
    refused = cli(project, "secrets", "set", "PIN", input="a1", env=env, check=2)
    assert "has 2 characters" in refused.stderr and "masks only values of at least 5" in refused.stderr
    assert "would appear in clear" in refused.stderr and "--generate" in refused.stderr
    assert "PIN" not in cli(project, "secrets", "list", env=env, check=0).stdout
    audit = cli(project, "audit", "--json", check=0).stdout
    assert '"secret.set"' in audit and '"failed"' in audit
    stored = cli(project, "secrets", "set", "PIN", "--allow-short", input="a1", env=env, check=0)
    assert "too short to be masked" in stored.stderr
    assert "PIN" in cli(project, "secrets", "list", env=env, check=0).stdout
