"""Fixtures for the security tests: a copy of the example project, an isolated environment, the CLI."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import keyring
import pytest

REPO = Path(__file__).resolve().parents[2]
SUPPORT = Path(__file__).resolve().parent / "support"
sys.path.insert(0, str(SUPPORT))  # the test keyring backend, importable here and in subprocesses


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the bundled example project (no runtime files)."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(REPO / "flowdeck.yaml", root / "flowdeck.yaml")
    shutil.copytree(REPO / "pipelines", root / "pipelines")
    shutil.copytree(REPO / "data" / "sample", root / "data" / "sample")
    return root


@pytest.fixture(autouse=True)
def isolated_secrets(no_inherited_secrets: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No keyring backend, no master key, no credentials, no secret in the environment; an empty
    masker; the test keyring (when a test asks for it) in a file of this test's own."""
    monkeypatch.setenv("FLOWDECK_TEST_KEYRING_FILE", str(tmp_path / "test-keyring.json"))


@pytest.fixture
def test_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the file-backed test keyring the OS keyring, in this process and in subprocesses."""
    from flowdeck_test_keyring import FileBackedKeyring

    keyring.set_keyring(FileBackedKeyring())
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "flowdeck_test_keyring.FileBackedKeyring")
