"""Plugins: step kinds, connectors and channels from installed packages (entry points), through the
real CLI. The example plugin is installed from its folder in the repository; broken and small
plugins are written here. A plugin's config is validated, printed by `flowdeck schema` and listed
by `flowdeck plugins`; a broken one is reported and never crashes a command."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import assert_consistent, ledger_rows, run_flowdeck, warehouse_rows
from tests.extensions.pluginkit import JsonApi, env_with, install_example_plugin, write_plugin

pytestmark = pytest.mark.xdist_group("example_plugin")  # installed once, by one worker

RATES = """\
steps:
  - name: raw_rates
    kind: http_extract
    url: "{api}/v1/rates?day={{day}}"
    records: data.rates
    next: links.next
    headers: {{Authorization: "Bearer ${{env:RATES_TOKEN}}"}}
    checks:
      - not_null: [currency]
      - unique: [currency]
  - name: strong_rates
    kind: transform
params:
  day: {{type: date, default: "2026-12-01"}}
"""


@pytest.fixture(scope="module")
def example_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin, pip-installed from plugins/flowdeck-http-extract into a folder of its own."""
    return install_example_plugin(tmp_path_factory.mktemp("example-plugin"))


def _rates_project(project: Path, api: str) -> Path:
    folder = project / "pipelines" / "rates"
    folder.mkdir()
    (folder / "pipeline.yaml").write_text(RATES.format(api=api))
    (folder / "strong_rates.sql").write_text("SELECT currency, rate FROM raw_rates WHERE rate > 1\n")
    return project


def test_flowdeck_plugins_lists_the_example_plugin_with_its_version(example_plugin: Path, project: Path) -> None:
    listed = run_flowdeck("plugins", "--json", project=project, env=env_with(example_plugin)).json()
    assert [(p["group"], p["name"], p["distribution"], p["version"], p["ok"]) for p in listed] == [
        ("flowdeck.step_kinds", "http_extract", "flowdeck-http-extract", "0.1.0", True)]
    assert "records" in listed[0]["config_schema"]["properties"]
    text = run_flowdeck("plugins", project=project, env=env_with(example_plugin))
    assert "http_extract" in text.stdout and "0.1.0" in text.stdout


def test_a_plugin_step_kind_runs_like_a_built_in_one(example_plugin: Path, project: Path) -> None:
    pages = [{"data": {"rates": [{"currency": "USD", "rate": 1.08}, {"currency": "GBP", "rate": 0.85}]},
              "links": {"next": "/v1/rates?page=1"}},
             {"data": {"rates": [{"currency": "CHF", "rate": 0.94}, {"currency": "AUD", "rate": 1.66}]}, "links": {}}]
    with JsonApi(pages) as api:
        _rates_project(project, api.url)
        env = env_with(example_plugin)
        env["RATES_TOKEN"] = "s3cret-token-value"
        result = run_flowdeck("run", "rates", project=project, env=env)
        assert result.returncode == 0, result
    assert sorted(warehouse_rows(project, "SELECT currency, rate FROM raw_rates")) == [
        ("AUD", 1.66), ("CHF", 0.94), ("GBP", 0.85), ("USD", 1.08)]
    assert sorted(warehouse_rows(project, "SELECT currency FROM strong_rates")) == [("AUD",), ("USD",)]
    assert api.requests[0]["path"] == "/v1/rates?day=2026-12-01" and api.requests[1]["path"] == "/v1/rates?page=1"
    assert api.requests[0]["headers"]["Authorization"] == "Bearer s3cret-token-value"
    lineage = ledger_rows(project, "SELECT input, input_kind FROM lineage WHERE step = 'raw_rates'")
    assert lineage == [{"input": f"{api.url}/v1/rates", "input_kind": "external"}]
    assert "s3cret-token-value" not in str(ledger_rows(project, "SELECT message, payload_json FROM events"))
    assert_consistent(project)


def test_validate_checks_a_plugin_steps_config_with_file_and_line(example_plugin: Path, project: Path) -> None:
    _rates_project(project, "http://127.0.0.1:9")
    path = project / "pipelines" / "rates" / "pipeline.yaml"
    path.write_text(path.read_text().replace("records: data.rates", "recrds: data.rates"))
    result = run_flowdeck("validate", "rates", project=project, env=env_with(example_plugin))
    assert result.returncode == 2
    assert "pipeline.yaml:5:5: unknown key `recrds`" in result.output
    assert "did you mean `records`?" in result.output
    path.write_text(path.read_text().replace("kind: http_extract", "kind: http_extrct"))
    result = run_flowdeck("validate", "rates", project=project, env=env_with(example_plugin))
    assert "unknown step kind `http_extrct`" in result.output and "did you mean `http_extract`?" in result.output


def test_flowdeck_schema_includes_a_plugins_config_model(example_plugin: Path, project: Path) -> None:
    without = run_flowdeck("schema", "pipeline", project=project).json()
    with_plugin = run_flowdeck("schema", "pipeline", project=project, env=env_with(example_plugin)).json()
    assert "HttpExtractStep" in with_plugin["$defs"] and "HttpExtractStep" not in without["$defs"]
    steps = with_plugin["properties"]["steps"]["items"]
    assert {"$ref": "#/$defs/HttpExtractStep"} in steps["oneOf"]
    assert steps["discriminator"]["mapping"]["http_extract"] == "#/$defs/HttpExtractStep"


def test_a_broken_plugin_is_reported_and_crashes_nothing(tmp_path: Path, project: Path) -> None:
    broken = write_plugin(tmp_path / "broken", "flowdeck-broken", "flowdeck.step_kinds",
                          {"scrape": "flowdeck_broken:step_kind", "not_a_kind": "flowdeck_broken:something"},
                          {"flowdeck_broken": "import no_such_library\n"})
    env = env_with(broken)
    listed = run_flowdeck("plugins", "--json", project=project, env=env).json()
    assert {p["name"]: p["ok"] for p in listed} == {"scrape": False, "not_a_kind": False}
    assert "No module named 'no_such_library'" in listed[0]["error"]
    assert run_flowdeck("validate", project=project, env=env).returncode == 0  # the project uses no plugin
    assert run_flowdeck("run", "daily_sales", project=project, env=env).returncode == 0
    folder = project / "pipelines" / "scraped"
    folder.mkdir()
    (folder / "pipeline.yaml").write_text("steps:\n  - name: pages\n    kind: scrape\n")
    result = run_flowdeck("validate", "scraped", project=project, env=env)
    assert result.returncode == 2
    assert "step kind `scrape` comes from the plugin flowdeck-broken 1.0, which is broken" in result.output
    assert "pipeline.yaml:3:11" in result.output and "Traceback" not in result.output
    doctor = run_flowdeck("doctor", "--json", project=project, env=env).json()
    assert any(item["check"] == "plugin scrape" and item["status"] == "fail" for item in doctor["checks"])


CONNECTOR = '''\
from typing import Literal

from pydantic import Field

from flowdeck.engine.connectors.dialects import SQLite
from flowdeck.engine.plugins.declare import ConnectorKind
from flowdeck.engine.project.config.fields import Model


class LiteFile(Model):
    """A SQLite file, under another name (what a real plugin's driver would be)."""

    type: Literal["litefile"] = Field(description="the connection type")
    path: str = Field(description="the file, relative to the project")


def connect(project, config):
    import adbc_driver_sqlite.dbapi

    return adbc_driver_sqlite.dbapi.connect(str(project.resolve_path(config.path)), autocommit=False)


connector = ConnectorKind(type="litefile", config=LiteFile, dialect=SQLite(), connect=connect,
                          describe=lambda project, config: f"litefile {config.path}")
'''

CHANNEL = '''\
import json
from pathlib import Path
from typing import Literal

from pydantic import Field

from flowdeck.engine.alerts.channels import DeliveryError
from flowdeck.engine.plugins.declare import ChannelKind
from flowdeck.engine.project.config.fields import Model


class Logbook(Model):
    """Notifications appended to a file, one JSON line each."""

    type: Literal["logbook"] = Field(description="the channel type")
    file: str = Field(description="the file, relative to the project")


def deliver(name, channel, message, project):
    if "refuse" in channel.file:
        raise DeliveryError(f"channel {name}: the logbook is closed", retryable=False)
    with open(project.resolve_path(channel.file), "a") as log:
        log.write(json.dumps({"channel": name, "title": message.title}) + "\\n")


channel = ChannelKind(type="logbook", config=Logbook, deliver=deliver)
'''


def test_a_connector_plugin_is_a_connection_type_extract_steps_read(tmp_path: Path, project: Path) -> None:
    import sqlite3

    plugin = write_plugin(tmp_path / "lite", "flowdeck-litefile", "flowdeck.connectors",
                          {"litefile": "flowdeck_litefile:connector"}, {"flowdeck_litefile": CONNECTOR})
    with sqlite3.connect(project / "shop.db") as db:
        db.execute("CREATE TABLE shops (shop_id INTEGER, city TEXT)")
        db.executemany("INSERT INTO shops VALUES (?, ?)", [(1, "Lyon"), (2, "Porto")])
    config = project / "flowdeck.yaml"
    config.write_text(config.read_text() + "\nconnections:\n  shops_db: {type: litefile, path: shop.db}\n")
    folder = project / "pipelines" / "shops"
    folder.mkdir()
    (folder / "pipeline.yaml").write_text("steps:\n  - name: shops\n    kind: extract\n"
                                          "    source: {connection: shops_db, table: shops}\n")
    result = run_flowdeck("run", "shops", project=project, env=env_with(plugin))
    assert result.returncode == 0, result
    assert sorted(warehouse_rows(project, "SELECT shop_id, city FROM shops")) == [(1, "Lyon"), (2, "Porto")]
    config.write_text(config.read_text().replace("path: shop.db", "pth: shop.db"))
    result = run_flowdeck("validate", project=project, env=env_with(plugin))
    assert result.returncode == 2 and "unknown key `pth`" in result.output and "did you mean `path`?" in result.output


def test_a_channel_plugin_delivers_through_the_outbox(tmp_path: Path, project: Path) -> None:
    plugin = write_plugin(tmp_path / "logbook", "flowdeck-logbook", "flowdeck.channels",
                          {"logbook": "flowdeck_logbook:channel"}, {"flowdeck_logbook": CHANNEL})
    config = project / "flowdeck.yaml"
    config.write_text(config.read_text() + "\nalerts:\n  channels:\n    book: {type: logbook, file: alerts.jsonl}\n"
                      "    shut: {type: logbook, file: refuse.jsonl}\n")
    env = env_with(plugin)
    result = run_flowdeck("alerts", "test", "book", project=project, env=env)
    assert result.returncode == 0, result
    assert "test notification" in (project / "alerts.jsonl").read_text()
    refused = run_flowdeck("alerts", "test", "shut", project=project, env=env)
    assert refused.returncode != 0 and "the logbook is closed" in refused.output
