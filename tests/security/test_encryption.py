"""Encryption at rest: encrypted Parquet exports, the encrypted warehouse (or its plain refusal), private temp files."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from security_helpers import MASTER_KEY, cli, files_containing, write

from flowdeck.engine.workspace import Workspace
from flowdeck.engine.secrets.encryption import DecryptionFailed, read_encrypted_parquet
from flowdeck.engine.project.project import Project
from flowdeck.engine.run.backend_factory import open_backend as open_warehouse_backend
from flowdeck.engine.run.executor import RunExecutor

EXPORT_KEY = "export-master-key-5e4d3c2b1a09"
ENV = {"FLOWDECK_MASTER_KEY": MASTER_KEY}


def encrypt_export(project: Path) -> Path:
    pipeline = project / "pipelines" / "daily_sales" / "pipeline.yaml"
    pipeline.write_text(pipeline.read_text().replace(
        "      options: {compression: zstd}",
        "      options: {compression: zstd}\n      encrypt: {key: '${secret:EXPORT_KEY}'}"))
    return project / "exports" / "daily_sales.parquet"


def test_an_encrypted_export_is_unreadable_without_the_key_and_identical_with_it(project: Path) -> None:
    export = encrypt_export(project)
    cli(project, "secrets", "set", "EXPORT_KEY", input=EXPORT_KEY, env=ENV, check=0)
    cli(project, "run", "daily_sales", env=ENV, check=0)
    with pytest.raises(OSError, match="encrypted"):
        pq.read_table(export)  # no key: not even the footer (schema, row count) can be read
    with pytest.raises(DecryptionFailed, match="the key does not open it"):
        read_encrypted_parquet(export, "not-the-export-key-000")
    decrypted = read_encrypted_parquet(export, EXPORT_KEY)
    with duckdb.connect(str(project / ".flowdeck" / "warehouse.duckdb"), read_only=True) as db:
        published = db.sql("SELECT * FROM daily_sales").to_arrow_table()
    assert decrypted.num_rows == published.num_rows > 0
    assert decrypted.equals(published)
    raw = export.read_bytes()
    assert raw[:4] == b"PARE" and raw[-4:] == b"PARE"  # the encrypted-footer Parquet magic
    assert files_containing(project, [EXPORT_KEY.encode()]) == []


def test_only_parquet_exports_can_be_encrypted(project: Path) -> None:
    pipeline = project / "pipelines" / "daily_sales" / "pipeline.yaml"
    pipeline.write_text(pipeline.read_text().replace("exports/daily_sales.parquet", "exports/daily_sales.csv").replace(
        "      options: {compression: zstd}", "      encrypt: {key: '${secret:EXPORT_KEY}'}"))
    failed = cli(project, "run", "daily_sales", env={"FLOWDECK_SECRET_EXPORT_KEY": EXPORT_KEY}, check=1)
    assert "only Parquet exports can be encrypted" in failed.stdout + failed.stderr


def with_encrypted_warehouse(project: Path, extension_directory: Path | None = None) -> None:
    text = "\nwarehouse:\n  path: warehouse.duckdb\n  encrypt: true\n  encryption_key: ${secret:WAREHOUSE_KEY}\n"
    if extension_directory is not None:
        text += f"  extension_directory: {extension_directory}\n"
    config = (project / "flowdeck.yaml").read_text()
    config = config[:config.index("warehouse:")] + config[config.index("defaults:"):]
    write(project / "flowdeck.yaml", config + text)


def test_encrypt_true_is_refused_plainly_when_httpfs_cannot_be_loaded(project: Path, tmp_path: Path) -> None:
    extensions = tmp_path / "extensions"  # an air-gapped server's extension folder, without httpfs in it
    extensions.mkdir()
    with_encrypted_warehouse(project, extensions)
    failed = cli(project, "run", "daily_sales", env={"FLOWDECK_SECRET_WAREHOUSE_KEY": "wh-key-0123456789"}, check=1)
    output = failed.stdout + failed.stderr
    assert "`warehouse.encrypt: true` needs DuckDB's httpfs extension to write an encrypted warehouse" in output
    assert f"could not be loaded from the extension directory {extensions}" in output
    assert f"v{duckdb.__version__}" in output and "will not write a weakly encrypted warehouse" in output
    assert not (project / ".flowdeck" / "warehouse.duckdb").exists()  # nothing written unencrypted instead


def make_encrypted_warehouse(path: Path, key: str) -> None:
    """An encrypted warehouse as a writer with httpfs would leave it (DuckDB's unsafe cipher, for the fixture only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as db:
        db.execute("SET force_mbedtls_unsafe = 'true'")
        db.execute(f"ATTACH '{path}' AS w (ENCRYPTION_KEY '{key}')")
        db.execute("CREATE TABLE w.daily_sales AS SELECT 'confidential-figure' AS note, 42 AS revenue")


def test_an_encrypted_warehouse_opens_only_with_its_key(project: Path) -> None:
    key = "wh-key-0123456789"
    warehouse = project / ".flowdeck" / "warehouse.duckdb"
    make_encrypted_warehouse(warehouse, key)
    assert b"confidential-figure" not in warehouse.read_bytes()
    plain = cli(project, "query", "SELECT * FROM daily_sales", check=2)
    assert "is encrypted, and flowdeck.yaml does not say so" in plain.stderr
    with_encrypted_warehouse(project)
    wrong = cli(project, "query", "SELECT * FROM daily_sales", env={"FLOWDECK_SECRET_WAREHOUSE_KEY": "wrong-key-987654"},
                check=2)
    assert "the warehouse key does not open" in wrong.stderr
    right = cli(project, "query", "SELECT note, revenue FROM daily_sales", "--json",
                env={"FLOWDECK_SECRET_WAREHOUSE_KEY": key}, check=0)
    assert json.loads(right.stdout) == [{"note": "confidential-figure", "revenue": 42}]
    assert key not in right.stdout + right.stderr + wrong.stderr


def test_a_run_has_an_owner_only_temp_folder_removed_even_when_it_fails(project: Path) -> None:
    sql = project / "pipelines" / "daily_sales" / "daily_sales.sql"
    sql.write_text(sql.read_text().replace("sum(amount)", "sum(amount) / 0 + no_such_column"))
    seen: list[tuple[Path, int, bool]] = []

    def open_backend(project_: Project, on_wait: object, temp_dir: Path) -> object:
        seen.append((temp_dir, stat.S_IMODE(temp_dir.stat().st_mode), temp_dir.is_dir()))
        return open_warehouse_backend(project_, "run", on_wait=on_wait, temp_dir=temp_dir)  # type: ignore[arg-type]

    workspace = Workspace.open(project)
    record, _ = workspace.submit("daily_sales")
    assert workspace.ledger.claim_run(record.run_id)
    run = workspace.ledger.get_run(record.run_id)
    status = RunExecutor(workspace.project, workspace.ledger, open_backend=open_backend).execute(run)  # type: ignore[arg-type]
    assert status == "failed"
    (temp_dir, mode, existed), = seen
    assert existed and mode == 0o700 and temp_dir.parent == workspace.project.temp_dir
    assert stat.S_IMODE(temp_dir.parent.stat().st_mode) == 0o700
    assert not temp_dir.exists()
