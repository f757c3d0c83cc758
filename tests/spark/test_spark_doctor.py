"""`flowdeck doctor` with `engine: spark`: what Spark needs on this machine, each problem with its fix."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from flowdeck.engine.operations.doctor import check_spark
from flowdeck.engine.project.project import Project
from tests.spark.conftest import copy_example


def spark_project(tmp_path: Path, settings: str = "") -> Project:
    root = copy_example(tmp_path / "project")
    config = root / "flowdeck.yaml"
    config.write_text(config.read_text().replace("\nengine: duckdb\n", "\nengine: spark\n") + settings)
    return Project.load(root)


def fake_java(folder: Path, version_line: str) -> Path:
    """A `java` that prints ``version_line`` on stderr, as `java -version` does."""
    folder.mkdir(parents=True, exist_ok=True)
    java = folder / "java"
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IXUSR)
    return folder


def test_java_17_on_path_is_ok_in_master_mode(tmp_path: Path) -> None:
    real = shutil.which("java")
    assert real, "Java is installed by .ci/run for the Spark tests"
    finding = check_spark(spark_project(tmp_path), {"PATH": str(Path(real).parent)})
    assert finding.status == "ok" and finding.detail.startswith("master local[2], Java ") and real in finding.detail


@pytest.mark.parametrize(("version_line", "shown"), [('java version "1.8.0_202"', "Java 8"),
                                                     ('openjdk version "11.0.2" 2019-01-15', "Java 11")])
def test_an_old_java_fails_naming_its_version_and_what_to_install(tmp_path: Path, version_line: str, shown: str) -> None:
    folder = fake_java(tmp_path / "bin", version_line)
    finding = check_spark(spark_project(tmp_path), {"PATH": str(folder)})
    assert finding.status == "fail" and shown in finding.detail and "needs Java 17" in finding.detail
    assert finding.fix and "openjdk-17-jre-headless" in finding.fix and "spark.remote" in finding.fix


def test_no_java_fails_in_master_mode_but_a_connect_server_needs_none(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    finding = check_spark(spark_project(tmp_path), {"PATH": str(empty)})
    assert finding.status == "fail" and "no `java` on PATH" in finding.detail
    remote = check_spark(spark_project(tmp_path / "remote", "  remote: sc://spark.example.net:15002\n"),
                         {"PATH": str(empty)})
    assert remote.status == "ok" and "sc://spark.example.net:15002" in remote.detail


def test_missing_pyspark_fails_with_the_extra_to_install(tmp_path: Path) -> None:
    finding = check_spark(spark_project(tmp_path), dict(os.environ),
                          installed=lambda name: None if name == "pyspark" else "1.0")
    assert finding.status == "fail" and finding.fix and "flowdeck[spark]" in finding.fix


def test_a_duckdb_project_skips_the_spark_check(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "project")
    assert check_spark(Project.load(root), {"PATH": ""}).status == "skip"
