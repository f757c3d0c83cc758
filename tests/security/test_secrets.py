"""Secrets: the encrypted file keyring, the OS keyring, resolution order, the CLI, and literals refused in YAML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from security_helpers import MASTER_KEY, cli, write

from flowdeck.engine.errors import ConfigError
from flowdeck.engine.masking import mask
from flowdeck.engine.project.project import Project
from flowdeck.engine.secrets import SecretsError, open_store, resolve
from flowdeck.engine.secrets.store import FileStore, KeyringStore

VALUE = "pg-pass-9d8c7b6a"


def test_without_keyring_or_master_key_setting_a_secret_is_refused_with_setup_steps(project: Path) -> None:
    result = cli(project, "secrets", "set", "PG_PASSWORD", input=VALUE, check=2)
    assert "no keyring backend" in result.stderr
    assert 'export FLOWDECK_MASTER_KEY="$(flowdeck secrets new-master-key)"' in result.stderr
    assert "plain text" in result.stderr
    assert not (project / ".flowdeck" / "secrets.enc").exists()


def test_file_keyring_round_trip_through_the_cli_never_shows_the_value(project: Path) -> None:
    env = {"FLOWDECK_MASTER_KEY": MASTER_KEY}
    stored = cli(project, "secrets", "set", "PG_PASSWORD", input=VALUE + "\n", env=env, check=0)
    assert "encrypted file keyring" in stored.stderr
    cli(project, "secrets", "set", "API_TOKEN", "--generate", env=env, check=0)
    listed = cli(project, "secrets", "list", "--json", env=env, check=0)
    assert json.loads(listed.stdout) == ["API_TOKEN", "PG_PASSWORD"]
    secrets_file = project / ".flowdeck" / "secrets.enc"
    assert VALUE.encode() not in secrets_file.read_bytes()
    assert b"PG_PASSWORD" not in secrets_file.read_bytes()  # not even the names are readable
    assert secrets_file.stat().st_mode & 0o777 == 0o600
    store = open_store_with(project, MASTER_KEY)
    assert store.get("PG_PASSWORD") == VALUE  # the trailing newline of stdin is not part of the value
    assert len(store.get("API_TOKEN") or "") >= 32
    for output in (stored.stdout + stored.stderr, listed.stdout + listed.stderr):
        assert VALUE not in output
    cli(project, "secrets", "delete", "PG_PASSWORD", env=env, check=0)
    assert json.loads(cli(project, "secrets", "list", "--json", env=env, check=0).stdout) == ["API_TOKEN"]
    missing = cli(project, "secrets", "delete", "PG_PASSWORD", env=env, check=2)
    assert "no secret named PG_PASSWORD" in missing.stderr


def open_store_with(project: Path, key: str) -> FileStore:
    return FileStore(project / ".flowdeck" / "secrets.enc", key)


def test_a_wrong_master_key_is_told_apart_from_a_missing_secret(project: Path) -> None:
    open_store_with(project, MASTER_KEY).set("PG_PASSWORD", VALUE)
    with pytest.raises(SecretsError, match="the master key does not open"):
        open_store_with(project, "another-master-key-0000").get("PG_PASSWORD")


def test_the_master_key_can_come_from_a_systemd_credential(project: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = tmp_path / "credentials"
    write(credentials / "FLOWDECK_MASTER_KEY", MASTER_KEY + "\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    loaded = Project.load(project)
    store = open_store(loaded)
    assert isinstance(store, FileStore)
    store.set("PG_PASSWORD", VALUE)
    assert resolve("${secret:PG_PASSWORD}", loaded) == VALUE


def test_a_short_master_key_is_refused(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWDECK_MASTER_KEY", "short")
    with pytest.raises(SecretsError, match="too short"):
        open_store(Project.load(project))


def test_the_os_keyring_is_preferred_when_a_backend_exists(project: Path, test_keyring: None,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWDECK_MASTER_KEY", MASTER_KEY)  # present, but the keyring wins
    stored = cli(project, "secrets", "set", "PG_PASSWORD", input=VALUE, check=0)
    assert "the keyring (FileBackedKeyring" in stored.stderr
    assert not (project / ".flowdeck" / "secrets.enc").exists()
    loaded = Project.load(project)
    assert isinstance(open_store(loaded), KeyringStore)
    assert open_store(loaded).names() == ["PG_PASSWORD"]
    assert resolve("${secret:PG_PASSWORD}", loaded) == VALUE


def test_resolution_order_is_keyring_then_systemd_credentials_then_environment(
        project: Path, test_keyring: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = Project.load(project)
    credentials = tmp_path / "credentials"
    write(credentials / "TOKEN", "from-credentials\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    monkeypatch.setenv("FLOWDECK_SECRET_TOKEN", "from-environment")
    assert resolve("${secret:TOKEN}", loaded) == "from-credentials"
    open_store(loaded).set("TOKEN", "from-keyring")
    assert resolve("${secret:TOKEN}", loaded) == "from-keyring"
    (credentials / "TOKEN").unlink()
    open_store(loaded).delete("TOKEN")
    assert resolve("${secret:TOKEN}", loaded) == "from-environment"


def test_a_missing_secret_says_where_it_looked(project: Path) -> None:
    with pytest.raises(SecretsError) as raised:
        resolve("postgres://etl:${secret:PG_PASSWORD}@db/sales", Project.load(project))
    message = raised.value.render()
    assert "secret `PG_PASSWORD` is not set" in message
    assert "FLOWDECK_SECRET_PG_PASSWORD" in message
    assert "flowdeck secrets set PG_PASSWORD" in message


def test_resolved_values_are_registered_with_the_masker(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_URL_PASSWORD", VALUE)
    text = resolve("dbname=sales password=${env:DB_URL_PASSWORD}", Project.load(project))
    assert text == f"dbname=sales password={VALUE}"
    assert mask(f"the server refused {VALUE}") == "the server refused ***"


def test_validate_refuses_a_literal_credential_in_yaml_with_a_hint(project: Path) -> None:
    pipeline = project / "pipelines" / "daily_sales" / "pipeline.yaml"
    text = pipeline.read_text().replace(
        "params:\n", "params:\n  api_key:\n    type: string\n    default: sk-live-4242424242\n", 1)
    pipeline.write_text(text)
    result = cli(project, "validate", check=2)
    line = text.splitlines().index("    default: sk-live-4242424242") + 1
    assert f"pipeline.yaml:{line}:" in result.stderr
    assert "`api_key` holds a literal credential" in result.stderr
    assert "flowdeck secrets set NAME" in result.stderr and "${secret:NAME}" in result.stderr


def test_a_url_with_a_literal_password_is_refused_but_a_reference_is_accepted(project: Path) -> None:
    pipeline = project / "pipelines" / "daily_sales" / "pipeline.yaml"
    original = pipeline.read_text()
    pipeline.write_text(original.replace(
        "params:\n", "params:\n  dsn:\n    default: postgresql://etl:hunter2@db/sales\n", 1))
    with pytest.raises(ConfigError, match="URL holds a literal password"):
        Project.load(project).pipeline("daily_sales")
    pipeline.write_text(original.replace(
        "params:\n", "params:\n  dsn:\n    default: postgresql://etl:${secret:PG_PASSWORD}@db/sales\n", 1))
    cli(project, "validate", check=0)


def test_addresses_in_a_url_query_are_not_taken_for_a_password(project: Path) -> None:
    url = "mailto://localhost:25?from=flowdeck@example.com&to=you@example.com"
    config = project / "flowdeck.yaml"
    config.write_text(config.read_text() + f"alerts:\n  channels:\n    mail: {{type: email, url: '{url}'}}\n")
    cli(project, "validate", check=0)
    assert mask(f"sending to {url}") == f"sending to {url}"
    assert "hunter2" not in mask("postgresql://etl:hunter2@db:5432/sales?sslmode=require")


def test_a_misspelt_reference_is_refused(project: Path) -> None:
    write(project / "flowdeck.yaml", (project / "flowdeck.yaml").read_text()
          + "security:\n  pii_hash_key: ${secrte:PII_KEY}\n")
    result = cli(project, "validate", check=2)
    assert "must be a reference such as ${secret:NAME}" in result.stderr
