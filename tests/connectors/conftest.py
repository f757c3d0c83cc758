"""Fixtures of the connector tests: one real PostgreSQL cluster per test session (shared by the
xdist workers), a fresh database for each test, and secrets only in the environment."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbkit import PgDatabase
from postgres_server import Cluster, SharedCluster, external_cluster


def _session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    # xdist workers each get basetemp/popen-gwN under one folder of the session: share that
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The session's PostgreSQL cluster: the one .ci/run started, or one started by the first worker
    that needs it and stopped by the last."""
    external = external_cluster()
    if external is not None:
        yield external
        return
    shared = SharedCluster(_session_dir(tmp_path_factory) / "flowdeck-postgres")
    cluster = shared.enter()
    try:
        yield cluster
    finally:
        shared.leave()


@pytest.fixture(scope="session")
def postgres_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A second cluster that serves TLS, with a certificate for 127.0.0.1 signed by a test CA."""
    shared = SharedCluster(_session_dir(tmp_path_factory) / "flowdeck-postgres", tls=True)
    cluster = shared.enter()
    try:
        yield cluster
    finally:
        shared.leave()


@pytest.fixture
def pg(postgres: Cluster) -> PgDatabase:
    """A new, empty database of the session's cluster, for this test alone."""
    database = PgDatabase(postgres, "t_" + uuid.uuid4().hex[:12])
    database.create()
    return database


@pytest.fixture(autouse=True)
def secrets_from_environment(no_inherited_secrets: None) -> None:
    """No OS keyring, no master key, no inherited FLOWDECK_ settings, an empty masker: a test passes
    the connection password to flowdeck in FLOWDECK_SECRET_* itself (dbkit.environment)."""
