"""Commands about the Spark engine: spark serve (keep a Spark driver warm for the project's runs)."""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType

import typer

from flowdeck.console.cli.app import app, workspace
from flowdeck.console.cli.output import err, out, plain

spark_app = typer.Typer(help="The Spark engine (docs/spark.md).", no_args_is_help=True)
app.add_typer(spark_app, name="spark")


@spark_app.command("serve")
def serve(ctx: typer.Context) -> None:
    """Keep a Spark driver warm (master mode) so runs, `query` and the console reuse it instead of starting one.

    Prints one line once Spark listens; runs until Ctrl-C or SIGTERM.

    Example: `flowdeck spark serve &` then `flowdeck run daily_sales --engine spark`
    """
    ws = workspace(ctx)
    ws.require("run")
    master = ws.project.config.spark.master
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        started = time.monotonic()
        url = ws.serve_spark()
        out().print(f"Spark ({plain(master)}) serves this project's runs on {url} "
                    f"(ready in {time.monotonic() - started:.1f}s); Ctrl-C stops it")
        out().file.flush()
        stop.wait()
    finally:
        ws.stop_serving_spark()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    err().print("Spark stopped")
