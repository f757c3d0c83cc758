"""Fixtures for the security tests: a copy of the example project, an isolated environment, the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from engine.masking import MASKER

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
def isolated_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No keyring backend, no master key, no credentials, no secret in the environment; an empty masker."""
    for name in list(os.environ):
        if name.startswith("FLOWDECK_") or name in ("CREDENTIALS_DIRECTORY", "PYTHON_KEYRING_BACKEND"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("FLOWDECK_TEST_KEYRING_FILE", str(tmp_path / "test-keyring.json"))
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    MASKER.forget_all()
    yield
    keyring.set_keyring(previous)
    MASKER.forget_all()


@pytest.fixture
def test_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the file-backed test keyring the OS keyring, in this process and in subprocesses."""
    from flowdeck_test_keyring import FileBackedKeyring

    keyring.set_keyring(FileBackedKeyring())
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "flowdeck_test_keyring.FileBackedKeyring")
