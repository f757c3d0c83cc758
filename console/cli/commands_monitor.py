"""Commands about history and measures: stats (trends), report (one run, terminal or HTML)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from flowdeck.console.cli.app import app, workspace
from flowdeck.console.cli.charts import bar, format_bytes, format_rate, sparkline, status_bars, timeline
from flowdeck.console.cli.output import (
    counted,
    format_duration,
    format_rows,
    format_time,
    out,
    plain,
    print_json,
    status_text,
)

if TYPE_CHECKING:
    from flowdeck.engine.monitor.hints import Hint
    from flowdeck.engine.monitor.views import RunMetrics


@app.command()
def stats(
    ctx: typer.Context,
    pipeline: Annotated[Optional[str], typer.Argument(help="One pipeline (all when omitted).")] = None,
    days: Annotated[float, typer.Option("--days", min=0, help="Look this many days back (0: all history).")] = 30.0,
    recent: Annotated[int, typer.Option("--recent", min=1, help="How many recent runs per pipeline make the trend.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print the statistics as JSON (docs/monitoring.md).")] = False,
) -> None:
    """Run history and trends: success and failure counts, duration trends, errors by kind, slowest steps.

    Example: `flowdeck stats daily_sales --days 7`
    """
    report = workspace(ctx).stats(pipeline, days=days, recent=recent)
    if as_json:
        print_json(report.to_json())
        return
    from rich.table import Table

    from flowdeck.state.status import RUN_FAILURES, RunStatus

    console = out()
    if not report.pipelines:
        console.print(f"no runs in the last {days:g} days")
        return
    table = Table(box=None, pad_edge=False, title=f"runs in the last {days:g} days", title_justify="left")
    for column in ("PIPELINE", "RUNS", "OK", "FAILED", "ABANDONED", "SUCCESS", "P50", "P95", "DURATION TREND"):
        table.add_column(column, justify="right" if column in ("RUNS", "OK", "FAILED", "ABANDONED", "SUCCESS", "P50", "P95") else "left",
                         no_wrap=True)
    for item in report.pipelines:
        counts = item.counts
        rate = "" if item.success_rate is None else f"{item.success_rate:.0f}%"
        table.add_row(item.pipeline, str(item.total), str(counts.get(RunStatus.SUCCEEDED, 0)),
                      str(counts.get(RunStatus.FAILED, 0)), str(counts.get(RunStatus.ABANDONED, 0)), rate,
                      format_duration(item.percentile(0.5)), format_duration(item.percentile(0.95)),
                      status_bars([(point.status, point.seconds) for point in item.recent[-40:]]))
    console.print(table)
    if pipeline is not None and report.pipelines and report.pipelines[0].recent:
        item = report.pipelines[0]
        longest = max(point.seconds for point in item.recent) or 1.0
        console.print("\n[bold]recent runs[/] (duration)")
        for point in item.recent[-15:]:
            colour = ("green" if point.status == RunStatus.SUCCEEDED else "red" if point.status in RUN_FAILURES
                      else "magenta")
            console.print(f"  {format_time(point.started_at)}  [{colour}]{bar(point.seconds, longest, 40):<40}[/] "
                          f"{format_duration(point.seconds):>8}  {point.status}")
    if report.error_kinds:
        console.print("\n[bold]errors by kind[/]")
        most = max(count for _, count in report.error_kinds)
        for kind, count in report.error_kinds:
            console.print(f"  {kind:<20} [red]{bar(count, most, 30):<30}[/] {count}")
    if report.slowest_steps:
        console.print("\n[bold]slowest steps[/] (mean of successful runs)")
        longest = max(history.mean_seconds for _, history in report.slowest_steps) or 1.0
        for name, history in report.slowest_steps:
            console.print(f"  {name + '.' + history.step:<40} [yellow]{bar(history.mean_seconds, longest, 24):<24}[/] "
                          f"{format_duration(history.mean_seconds):>8}  max {format_duration(history.max_seconds)} "
                          f"({counted(history.runs, 'run')})")


@app.command()
def report(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="A run id, a unique prefix of one, or `last`.")],
    html: Annotated[Optional[Path], typer.Option("--html", help="Write a self-contained HTML page with charts to FILE.",
                                                 metavar="FILE")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run's measures as JSON.")] = False,
) -> None:
    """A run's summary: step timeline, rows per step, throughput, resource use, checks, alerts and performance hints.

    Example: `flowdeck report last --html run.html`
    """
    ws = workspace(ctx)
    metrics = ws.run_metrics(run_id)
    if html is not None:
        from flowdeck.console.cli.report_html import render_run_report

        html.write_text(render_run_report(metrics, ws.project.config.name, ws.run_hints(metrics)), encoding="utf-8")
        out().print(f"wrote {html}")
        return
    hints = ws.run_hints(metrics)
    if as_json:
        print_json({**metrics.run.to_json(), **metrics.to_json(), "checks": [c.to_json() for c in metrics.checks],
                    "hints": [hint.to_json() for hint in hints]})
        return
    _print_report(metrics, [alert for alert in ws.alerts(limit=500) if alert.run_id == metrics.run.run_id], hints)


def _print_report(metrics: RunMetrics, alerts: list, hints: list[Hint]) -> None:  # type: ignore[type-arg]
    from rich.table import Table

    console = out()
    run = metrics.run
    console.print(f"[bold]run {run.run_id}[/]  {run.pipeline}  {status_text(run.status)}  "
                  f"took {format_duration(run.duration)}")
    console.print(f"trigger {run.trigger_kind}  started {format_time(run.started_at)}  ended {format_time(run.ended_at)}")
    ran = [view for view in metrics.steps if view.record.started_at is not None]
    if ran:
        start = min(view.record.started_at or 0.0 for view in ran)
        end = max(view.record.ended_at or view.record.started_at or 0.0 for view in ran)
        most = max((view.rows_out or 0) for view in metrics.steps) or 1
        table = Table(box=None, pad_edge=False, title="steps", title_justify="left")
        for column in ("STEP", "STATUS", "TIMELINE", "TIME", "ROWS OUT", "", "ROWS/S"):
            table.add_column(column, no_wrap=True, justify="right" if column in ("TIME", "ROWS OUT", "ROWS/S") else "left")
        for view in metrics.steps:
            record = view.record
            line = timeline(record.started_at, record.ended_at or end, start, end, 24) if record.started_at else ""
            table.add_row(record.step, status_text(record.status), f"[cyan]{line:<24}[/]", format_duration(view.seconds),
                          format_rows(view.rows_out), f"[blue]{bar(view.rows_out or 0, most, 16)}[/]",
                          format_rate(view.rows_per_second, "rows"))
        console.print(table)
    _print_resources(metrics)
    failing = [check for check in metrics.checks if check.status != "passed"]
    for check in failing:
        console.print(f"{status_text(check.status)} {plain(check.message or check.check_name)}")
    for alert in alerts:
        console.print(f"alert {alert.status}: {alert.rule}: {plain(alert.summary)}")
    if run.error:
        console.print(f"\n[red]error[/]: {plain(run.error)}")
    _print_hints(hints)


def _print_hints(hints: list[Hint]) -> None:
    """The run's performance hints, each with the section of docs/tuning.md that explains it (shared by
    `show` and `report`); nothing at all for a run without any."""
    if not hints:
        return
    console = out()
    console.print("\n[bold]hints[/]")
    for hint in hints:
        console.print(f"  [yellow]▸[/] {plain(hint.text)}")
        console.print(f"    [dim]see {hint.doc}[/]")


def _print_resources(metrics: RunMetrics) -> None:
    """One line of resource figures and sparklines of CPU and memory (shared by `show` and `report`)."""
    if not metrics.resources:
        return
    console = out()
    console.print(f"resources  peak memory {format_bytes(metrics.peak_rss_bytes)}  mean CPU {metrics.mean_cpu_percent}% "
                  f"(max {metrics.max_cpu_percent}%)  read {format_bytes(metrics.io_bytes('read_bytes')) or '-'}  "
                  f"written {format_bytes(metrics.io_bytes('write_bytes')) or '-'}")
    if len(metrics.resources) > 1:
        console.print(f"  cpu    [yellow]{sparkline(metrics.series('cpu_percent'))}[/]")
        console.print(f"  memory [blue]{sparkline(metrics.series('rss_bytes'))}[/]")
