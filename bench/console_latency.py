"""Console latency: start to first paint, keystroke to screen while a run streams events, and idle CPU.

Drives the real console in a private tmux server at 80x24 (what an operator's terminal sees),
so the figures include Python start-up, imports, the terminal round trip and rendering.

    .venv/bin/python bench/console_latency.py [--starts 5] [--keys 30] [--events-per-second 2000] [--idle 10]
    .venv/bin/python bench/console_latency.py --starts 15 --against ../main/.venv/bin/flowdeck  # first paint, A/B
    .venv/bin/python bench/console_latency.py --against ../main/.venv/bin/flowdeck --idle-rounds 3  # idle CPU, A/B

Targets: first paint <= 0.6 s at low load (issue 18; DESIGN.md §10 says under a second);
keystroke to screen < 50 ms while a run streams; an idle console under 1 % of a core.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FLOWDECK = Path(sys.executable).with_name("flowdeck")

STREAMER = r"""
import sys, time
from flowdeck.state import Ledger
ledger = Ledger(__import__("pathlib").Path(sys.argv[1]))
record, _ = ledger.create_run("daily_sales", trigger_kind="manual")
ledger.claim_run(record.run_id)  # this process owns it, so nobody reaps it
ledger.add_steps(record.run_id, [("extract", "extract", "t")])
ledger.step_started(record.run_id, "extract")
print(record.run_id, flush=True)
rate = float(sys.argv[2]); written = 0; started = time.monotonic()
while True:
    due = int((time.monotonic() - started) * rate)
    while written < due:
        ledger.log(record.run_id, f"progress line {written}: {written * 37 % 100000} rows so far", step="extract")
        written += 1
    if written % 500 == 0:
        ledger.heartbeat(record.run_id)
    time.sleep(0.002)
"""


HEADLESS_PAINT = r"""
import sys, time
started = time.perf_counter()
from flowdeck.console.tui.app import FlowdeckConsole
from flowdeck.engine.workspace import Workspace

app = FlowdeckConsole(Workspace.open(sys.argv[1]))

async def until_painted(pilot):
    while True:
        tables = pilot.app.screen.query("#pipeline-table")
        if tables and tables.first().row_count == 2:
            break
        await pilot.pause(0.005)
    print(time.perf_counter() - started, time.process_time(), flush=True)
    pilot.app.exit()

app.run(headless=True, size=(80, 24), auto_pilot=until_painted)
"""


def headless_paint(project: Path, times: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds from interpreter start to the pipeline list painted, headless (no terminal)."""
    results = []
    for _ in range(times):
        out = subprocess.run([sys.executable, "-c", HEADLESS_PAINT, str(project)], capture_output=True, text=True,
                             check=True, cwd=REPO).stdout.split()
        results.append((float(out[0]), float(out[1])))
    return results


class Tmux:
    """One private tmux server with an 80x24 window."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket

    def __call__(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", str(self.socket), *args], check=True, capture_output=True,
                              text=True).stdout

    def start(self, command: str) -> None:
        self("new-session", "-d", "-s", "b", "-x", "80", "-y", "24", command)

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "b")

    def kill(self) -> None:
        subprocess.run(["tmux", "-S", str(self.socket), "kill-server"], capture_output=True)


POLL_SECONDS = 0.005  # between two captures: a capture forks a tmux client, and polling flat out took a
# core from the console being measured (on a loaded machine it doubled the first paint it timed)


def wait_screen(tmux: Tmux, predicate, timeout: float = 30.0) -> float:  # type: ignore[no-untyped-def]
    """Seconds until the screen satisfies ``predicate``."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if predicate(tmux.screen()):
            return time.perf_counter() - started
        time.sleep(POLL_SECONDS)
    raise TimeoutError(tmux.screen())


def make_project(root: Path) -> Path:
    """A copy of the example project."""
    shutil.copy2(REPO / "flowdeck.yaml", root / "flowdeck.yaml")
    for folder in ("pipelines", "data", "landing"):
        shutil.copytree(REPO / folder, root / folder)
    return root


def console_command(project: Path, flowdeck: Path = FLOWDECK) -> str:
    return f"env TERM=xterm-256color FLOWDECK_PROJECT={project} {flowdeck} console"


def first_paint(project: Path, work: Path, times: int, flowdeck: Path = FLOWDECK) -> list[tuple[float, float]]:
    """(wall, CPU) seconds from launching `flowdeck console` to the pipeline list on screen; CPU is the
    console process's own (user + system, all threads) when the list shows: what the paint costs on an idle
    machine, whatever else runs on this one."""
    import psutil

    results: list[tuple[float, float]] = []
    for attempt in range(times):
        tmux = Tmux(work / f"paint-{attempt}.sock")
        started = time.perf_counter()
        tmux.start(f"exec {console_command(project, flowdeck)}")  # exec: the pane's process is the console itself
        try:
            console = psutil.Process(int(tmux("display", "-p", "-t", "b", "#{pane_pid}")))
            wait_screen(tmux, lambda screen: "daily_sales" in screen and "ingest_orders" in screen)
            wall = time.perf_counter() - started
            results.append((wall, sum(console.cpu_times()[:2])))
        finally:
            tmux.kill()
    return results


def keystroke_latency(project: Path, work: Path, presses: int, rate: float) -> tuple[list[float], float]:
    """Seconds from sending a key to its effect on screen, on the live view of a run streaming events."""
    ledger_path = project / ".flowdeck" / "ledger.sqlite"
    subprocess.run([str(FLOWDECK), "--project", str(project), "runs"], capture_output=True, check=True)  # migrate
    streamer = subprocess.Popen([sys.executable, "-c", STREAMER, str(ledger_path), str(rate)],
                                stdout=subprocess.PIPE, text=True, cwd=REPO)
    tmux = Tmux(work / "keys.sock")
    try:
        assert streamer.stdout is not None
        run_id = streamer.stdout.readline().strip()
        tmux.start(console_command(project))
        wait_screen(tmux, lambda screen: "daily_sales" in screen)
        tmux("send-keys", "-t", "b", ":")
        time.sleep(0.3)
        tmux("send-keys", "-t", "b", f"show {run_id}", "Enter")
        wait_screen(tmux, lambda screen: "progress line" in screen)
        from flowdeck.state import Ledger

        with Ledger(ledger_path) as ledger:
            before = ledger.last_event_id()
            stream_started = time.monotonic()
            latencies: list[float] = []
            for _ in range(presses):
                following = "▶ following" in tmux.screen()
                expected = "⏸ paused" if following else "▶ following"
                started = time.perf_counter()
                tmux("send-keys", "-t", "b", "p")
                wait_screen(tmux, lambda screen, expected=expected: expected in screen, timeout=5)
                latencies.append(time.perf_counter() - started)
                time.sleep(0.1)
            achieved = (ledger.last_event_id() - before) / (time.monotonic() - stream_started)
        return latencies, achieved
    finally:
        tmux.kill()
        streamer.kill()
        streamer.wait()


IDLE_RUN = r"""
import os, sys, time
from flowdeck.state import Ledger
ledger = Ledger(__import__("pathlib").Path(sys.argv[1]))
record, _ = ledger.create_run("daily_sales", trigger_kind="manual")
ledger.claim_run(record.run_id, pid=os.getpid())  # this process owns it, so nobody reaps it
ledger.add_steps(record.run_id, [("raw_orders", "extract", "raw_orders")])
ledger.step_started(record.run_id, "raw_orders")  # a step running, with no progress estimate: nothing moves
print(record.run_id, flush=True)
while True:
    ledger.heartbeat(record.run_id)
    time.sleep(2)
"""


def idle_cpu(project: Path, work: Path, seconds: float, flowdeck: Path = FLOWDECK) -> dict[str, float]:
    """Percent of one core the console process uses while nobody types: on the pipeline list, and on the
    live view of a run whose step runs without a progress estimate (the run's own heartbeat goes on)."""
    import psutil

    ledger_path = project / ".flowdeck" / "ledger.sqlite"
    holder = subprocess.Popen([sys.executable, "-c", IDLE_RUN, str(ledger_path)], stdout=subprocess.PIPE, text=True,
                              cwd=REPO)
    tmux = Tmux(work / "idle.sock")
    try:
        assert holder.stdout is not None
        run_id = holder.stdout.readline().strip()
        tmux.start(f"exec {console_command(project, flowdeck)}")  # exec: the pane's process is the console itself
        wait_screen(tmux, lambda screen: "daily_sales" in screen and "ingest_orders" in screen)
        console = psutil.Process(int(tmux("display", "-p", "-t", "b", "#{pane_pid}")))

        def percent() -> float:
            time.sleep(2.0)  # let start-up work (the first polls, a worker or two) finish
            before, started = sum(console.cpu_times()[:2]), time.monotonic()
            time.sleep(seconds)
            return 100.0 * (sum(console.cpu_times()[:2]) - before) / (time.monotonic() - started)

        figures = {"pipelines": percent()}
        tmux("send-keys", "-t", "b", ":")
        time.sleep(0.3)
        tmux("send-keys", "-t", "b", f"show {run_id}", "Enter")
        wait_screen(tmux, lambda screen: "▶ running" in screen and "raw_orders" in screen)
        figures["run_view_step_running"] = percent()
        return figures
    finally:
        tmux.kill()
        holder.kill()
        holder.wait()


def use_compiled_modules(work: Path) -> None:
    """Let the processes measured keep their compiled modules (in ``work``), as an installed flowdeck has them:
    where the environment forbids writing bytecode (PYTHONDONTWRITEBYTECODE), every start compiled all of
    flowdeck's sources again, about 0.1 s of CPU that no operator's start pays."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(work / "pycache")


@contextlib.contextmanager
def comparison_project() -> Iterator[tuple[Path, Path]]:
    """A temporary folder and a copy of the project in it, where the measured consoles run (compiled modules
    kept there, as an installed flowdeck has them); removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="flowdeck-bench-") as folder:
        work = Path(folder)
        (work / "project").mkdir()
        project = make_project(work / "project")
        use_compiled_modules(work)
        yield work, project


def compare_first_paint(against: Path, starts: int) -> None:
    """First paint of this checkout's console and of ``against``'s, alternating, on one copy of the project."""
    load_at_start = os.getloadavg()
    with comparison_project() as (work, project):
        sides = {"this": FLOWDECK, "against": against}
        paints: dict[str, list[tuple[float, float]]] = {side: [] for side in sides}
        for start in range(-1, starts):  # the first of each untimed: compiles every module once, as installing does
            for side, flowdeck in sides.items():
                sockets = work / f"{side}-{start + 1}"  # a tmux server (socket) of its own each time
                sockets.mkdir()
                painted = first_paint(project, sockets, 1, flowdeck)
                if start >= 0:
                    paints[side] += painted
    load = os.getloadavg()
    print(f"load average {load_at_start[0]:.2f} at the start (5 min {load_at_start[1]:.2f}), {load[0]:.2f} at the end "
          f"(5 min {load[1]:.2f}), on {os.cpu_count()} CPUs; median of {starts} starts each, alternating")
    for side, flowdeck in sides.items():
        walls, cpus = [wall for wall, _ in paints[side]], [cpu for _, cpu in paints[side]]
        print(f"  {side:<8} {flowdeck}: first paint wall {statistics.median(walls):.3f}s (best {min(walls):.3f}s), "
              f"console CPU {statistics.median(cpus):.3f}s (best {min(cpus):.3f}s)")


def compare_idle(against: Path, seconds: float, rounds: int) -> None:
    """Idle CPU of this checkout's console and of ``against``'s, on the pipeline list and watching a running
    step, alternating round by round on one copy of the project (the load of a shared machine is shared)."""
    load_at_start = os.getloadavg()
    with comparison_project() as (work, project):
        subprocess.run([str(FLOWDECK), "--project", str(project), "runs"], capture_output=True, check=True)  # migrate
        sides = {"this": FLOWDECK, "against": against}
        figures: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
        for index in range(rounds):
            for side, flowdeck in sides.items():
                sockets = work / f"idle-{side}-{index}"
                sockets.mkdir()
                figures[side].append(idle_cpu(project, sockets, seconds, flowdeck))
    load = os.getloadavg()
    print(f"load average {load_at_start[0]:.2f} at the start (5 min {load_at_start[1]:.2f}), {load[0]:.2f} at the end "
          f"(5 min {load[1]:.2f}), on {os.cpu_count()} CPUs; {rounds} rounds of {seconds:g}s on each screen, alternating")
    for side, flowdeck in sides.items():
        shown = ", ".join(f"{screen} median {statistics.median(f[screen] for f in figures[side]):.2f}% "
                          f"({' '.join(f'{f[screen]:.2f}' for f in figures[side])})"
                          for screen in ("pipelines", "run_view_step_running"))
        print(f"  {side:<8} {flowdeck}: idle CPU {shown}")


def main() -> None:
    """Measure and print the figures (JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--keys", type=int, default=30)
    parser.add_argument("--events-per-second", type=float, default=2000.0)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measured on each screen")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--against", type=Path,
                        help="another flowdeck executable (e.g. main's .venv/bin/flowdeck): measure first paint only, "
                             "alternating start by start with this checkout's (with --idle-rounds: idle CPU instead)")
    parser.add_argument("--idle-rounds", type=int, default=0,
                        help="with --against: compare idle CPU (--idle seconds on each screen), this many rounds "
                             "alternating between the two consoles, instead of first paint")
    arguments = parser.parse_args()
    if not shutil.which("tmux"):
        sys.exit("tmux is needed: apt-get install tmux")
    if arguments.against and arguments.idle_rounds:
        compare_idle(arguments.against, arguments.idle, arguments.idle_rounds)
        return
    if arguments.against:
        compare_first_paint(arguments.against, arguments.starts)
        return
    load_at_start = os.getloadavg()[0]
    with comparison_project() as (work, project):
        first_paint(project, work, 1)  # compiles every module once, as installing does
        paints = first_paint(project, work, arguments.starts)
        headless = headless_paint(project, arguments.starts)
        keys, rate = keystroke_latency(project, work, arguments.keys, arguments.events_per_second)
        idle = idle_cpu(project, work, arguments.idle)
    walls = [wall for wall, _ in paints]
    figures = {
        "first_paint_seconds": {"median": statistics.median(walls), "max": max(walls)},
        "first_paint_cpu_seconds": statistics.median(cpu for _, cpu in paints),
        "first_paint_headless_wall_seconds": statistics.median(wall for wall, _ in headless),
        "first_paint_headless_cpu_seconds": statistics.median(cpu for _, cpu in headless),
        "keystroke_ms": {"median": statistics.median(keys) * 1000,
                         "p95": sorted(keys)[int(len(keys) * 0.95) - 1] * 1000, "max": max(keys) * 1000},
        "events_per_second_streamed": rate,
        "idle_cpu_percent": idle,
        "load_average_1min": os.getloadavg()[0],
        "load_average_1min_at_start": load_at_start,
    }
    if arguments.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"first paint: median {figures['first_paint_seconds']['median']:.3f}s, "
          f"max {figures['first_paint_seconds']['max']:.3f}s over {arguments.starts} starts (target <= 0.6s at low load); "
          f"the console's CPU by then: median {figures['first_paint_cpu_seconds']:.3f}s")
    print(f"first paint headless: median {figures['first_paint_headless_wall_seconds']:.3f}s wall, "
          f"{figures['first_paint_headless_cpu_seconds']:.3f}s CPU (what it costs without contention)")
    print(f"keystroke to screen while {rate:,.0f} events/s stream: median {figures['keystroke_ms']['median']:.1f}ms, "
          f"p95 {figures['keystroke_ms']['p95']:.1f}ms, max {figures['keystroke_ms']['max']:.1f}ms "
          f"over {arguments.keys} keys (target < 50ms)")
    print(f"idle CPU: {idle['pipelines']:.2f}% on the pipeline list, {idle['run_view_step_running']:.2f}% watching a "
          f"running step (target < 1% of a core)")
    print(f"machine load average: {load_at_start:.1f} at the start, {figures['load_average_1min']:.1f} at the end, "
          f"on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
