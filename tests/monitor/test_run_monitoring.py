"""Run monitoring: step measures, resource and query-progress samples, stats, and the run report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import time
from collections.abc import Sequence

import pytest

from flowdeck.engine.workspace import Workspace
from flowdeck.engine.monitor.sampler import RunMonitor
from flowdeck.state import Ledger, ProgressSample, ResourceSample

FLOWDECK = str(Path(sys.executable).with_name("flowdeck"))
ORDERS = 120


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())


def make_project(root: Path, monitoring: str = "") -> Path:
    """Orders (CSV) and customers (CSV) joined, aggregated, exported; plus a long-running `crunch` pipeline."""
    write(root / "flowdeck.yaml", "name: monitor-test\n" + textwrap.dedent(monitoring))
    write(root / "data" / "orders.csv", "id,customer,amount\n"
          + "".join(f"{i},{i % 7},{i * 3}\n" for i in range(1, ORDERS + 1)))
    write(root / "data" / "customers.csv", "customer,name\n" + "".join(f"{c},c{c}\n" for c in range(7)))
    write(root / "pipelines" / "sales" / "pipeline.yaml", """
        steps:
          - {name: orders, kind: extract, source: {path: data/orders.csv}}
          - {name: customers, kind: extract, source: {path: data/customers.csv}}
          - {name: by_customer, kind: transform, sql: by_customer.sql}
          - {name: export, kind: load, table: by_customer, to: {path: out/by_customer.csv}}
        """)
    write(root / "pipelines" / "sales" / "by_customer.sql",
          "SELECT c.name, sum(o.amount) AS total FROM orders o JOIN customers c USING (customer) GROUP BY c.name\n")
    write(root / "pipelines" / "crunch" / "pipeline.yaml", """
        steps:
          - {name: crunched, kind: transform, sql: crunched.sql}
        """)
    write(root / "pipelines" / "crunch" / "crunched.sql",
          "SELECT i % 1000 AS k, sum(hash(i * j)) AS h FROM range(40000000) a(i), range(3) b(j) GROUP BY 1\n")
    return root


def run(ws: Workspace, pipeline: str) -> str:
    record, _ = ws.submit(pipeline)
    ws.execute(record.run_id)
    return record.run_id


def test_steps_record_rows_in_and_out_bytes_and_throughput(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    ws = Workspace.open(root)
    run_id = run(ws, "sales")
    steps = {view.record.step: view for view in ws.run_metrics(run_id).steps}
    customers = 7
    assert (steps["orders"].rows_in, steps["orders"].rows_out) == (ORDERS, ORDERS)
    assert steps["orders"].bytes_in == (root / "data" / "orders.csv").stat().st_size
    assert steps["by_customer"].rows_in == ORDERS + customers and steps["by_customer"].rows_out == customers
    assert steps["export"].bytes_out == (root / "out" / "by_customer.csv").stat().st_size
    assert steps["export"].rows_out == customers and steps["export"].rows_in == customers
    assert all(view.rows_per_second and view.rows_per_second > 0 for view in steps.values())
    shown = json.loads(subprocess.run([FLOWDECK, "--project", str(root), "show", run_id, "--json"],
                                      capture_output=True, text=True, check=True).stdout)
    by_name = {step["step"]: step for step in shown["steps"]}
    assert by_name["orders"]["bytes_in"] == steps["orders"].bytes_in and by_name["by_customer"]["rows_in"] == 127
    assert shown["resources"]["samples"] >= 1 and shown["resources"]["peak_rss_bytes"] > 10_000_000


@pytest.mark.slow
def test_a_long_query_is_sampled_for_progress_and_resources_in_batches(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", "monitoring: {sample_interval: 0.05s, flush_interval: 0.5s}\n")
    ws = Workspace.open(root)
    run_id = run(ws, "crunch")
    metrics = ws.run_metrics(run_id)
    progress = metrics.progress.get("crunched", [])
    assert len(progress) >= 3, "DuckDB's progress was not sampled"
    step = next(view.record for view in metrics.steps if view.record.step == "crunched")
    assert all(0 <= sample.percent <= 100 for sample in progress)  # DuckDB's estimate may step back between stages
    assert all(step.started_at <= sample.ts <= step.ended_at for sample in progress)  # type: ignore[operator]
    assert all(a.percent != b.percent for a, b in zip(progress, progress[1:]))  # only changes are stored
    assert len(metrics.resources) >= 5
    assert max(metrics.series("cpu_percent")) > 20  # the query kept a core busy


class CountingLedger(Ledger):
    """A real ledger that counts its sample-writing transactions."""

    batches = 0

    def record_samples(self, run_id: str, resources: Sequence[ResourceSample],
                       progress: Sequence[ProgressSample]) -> None:
        if resources or progress:
            self.batches += 1
        super().record_samples(run_id, resources, progress)


def test_samples_are_written_in_batches_not_one_transaction_each(tmp_path: Path) -> None:
    ledger = CountingLedger(tmp_path / "ledger.sqlite")
    record, _ = ledger.create_run("p", trigger_kind="manual")
    monitor = RunMonitor(ledger, record.run_id, lambda: {"step": 50.0}, sample_seconds=0.02, flush_seconds=0.4)
    monitor.start()
    time.sleep(1.2)
    monitor.stop()
    samples = len(ledger.resource_samples(record.run_id))
    assert samples >= 20
    assert 1 <= ledger.batches <= samples / 5
    assert [sample.percent for sample in ledger.progress_samples(record.run_id)] == [50.0]  # unchanged: stored once


def test_stats_count_runs_and_errors_by_kind_and_rank_slow_steps(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    ws = Workspace.open(root)
    for _ in range(3):
        run(ws, "sales")
    write(root / "pipelines" / "sales" / "by_customer.sql", "SELECT nme FROM customers\n")
    ws.project.forget()
    for _ in range(2):
        run(ws, "sales")
    report = json.loads(subprocess.run([FLOWDECK, "--project", str(root), "stats", "sales", "--json"],
                                       capture_output=True, text=True, check=True).stdout)
    [sales] = report["pipelines"]
    assert sales["counts"] == {"succeeded": 3, "failed": 2} and sales["success_rate"] == 60.0
    assert [point["status"] for point in sales["recent"]] == ["succeeded"] * 3 + ["failed"] * 2
    assert report["errors_by_kind"] == [{"kind": "binder error", "runs": 2}]
    steps = [entry["step"] for entry in report["slowest_steps"]]
    assert set(steps) == {"orders", "customers", "by_customer", "export"}
    means = [entry["mean_seconds"] for entry in report["slowest_steps"]]
    assert means == sorted(means, reverse=True)
    text = subprocess.run([FLOWDECK, "--project", str(root), "stats"], capture_output=True, text=True)
    assert text.returncode == 0 and "sales" in text.stdout and "binder error" in text.stdout
    unknown = subprocess.run([FLOWDECK, "--project", str(root), "stats", "slaes"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "did you mean `sales`" in unknown.stderr


def test_html_report_is_one_self_contained_page_with_charts(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    ws = Workspace.open(root)
    run_id = run(ws, "sales")
    target = tmp_path / "report.html"
    done = subprocess.run([FLOWDECK, "--project", str(root), "report", run_id, "--html", str(target)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    page = target.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing fetched from anywhere
    assert "<link" not in page and "<script" not in page
    charts = re.findall(r"<svg.*?</svg>", page, re.S)
    labels = [ElementTree.fromstring(chart).get("aria-label") for chart in charts]  # each chart is well-formed SVG
    assert labels[:2] == ["step timeline", "rows per step"]
    assert {"CPU %", "memory (RSS)"} <= set(labels)
    for step in ("orders", "customers", "by_customer", "export"):
        assert step in page
    terminal = subprocess.run([FLOWDECK, "--project", str(root), "report", "last"], capture_output=True, text=True)
    assert terminal.returncode == 0 and "by_customer" in terminal.stdout and "resources" in terminal.stdout
