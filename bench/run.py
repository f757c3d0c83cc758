"""flowdeck's performance harness: engine overhead against hand-written DuckDB SQL, and CLI start-up.

    python bench/run.py [--rows 5000000] [--rounds 3] [--runs 10] [--only pipeline|startup] [--warm]

1. The pipeline: the same three steps (type and de-duplicate millions of orders, join and
   aggregate, export to Parquet) run through `flowdeck run` and as hand-written DuckDB SQL in
   one process (bench/hand_sql.py), alternating, each from an empty warehouse. Prints both
   wall times and their ratio, and checks that both produced the same figures.
2. Unchanged reruns: the same pipeline run again with nothing changed: every step is
   `unchanged` (its fingerprint is its output's), nothing is read or written; checked from the
   ledger (no new commit, the input files' checksums taken from the cache) and timed against
   rerunning the hand-written SQL.
3. Start-up: `flowdeck --help`, `flowdeck validate`, a complete (`--force`) `flowdeck run
   daily_sales` and an unchanged rerun of it, on a copy of the bundled example project.

Every figure is a whole process, timed from outside. The machine is often shared, so before
each run the harness waits (a while) for it to be quiet, and reports how much CPU other
processes used during each run; treat figures taken on a busy machine with care.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from warm import WarmServer

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORKLOAD = HERE / "workload"
PROJECT = HERE / "project"
FLOWDECK = Path(sys.executable).with_name("flowdeck")
TARGETS = {"ratio": 1.05, "help": 0.3, "validate": 0.5, "run": 0.5, "run_unchanged": 0.4, "unchanged": 0.4,
           "unchanged_speedup": 8.0}
CORES = os.cpu_count() or 1


# -- measuring ---------------------------------------------------------------------------------


def _cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as handle:
        values = [int(value) for value in handle.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


QUIET_WAIT = 10.0  # seconds to wait for a quiet machine before each run (--quiet-wait)
ATTEMPTS = 3  # a run during which other processes used much CPU is redone, at most this often


def wait_for_quiet(limit: float | None = None, busy_below: float = 0.15) -> float:
    """Wait until the machine is under ``busy_below`` busy over half a second (at most ``limit`` s)."""
    deadline = time.monotonic() + (QUIET_WAIT if limit is None else limit)
    while True:
        busy0, total0 = _cpu_ticks()
        time.sleep(0.5)
        busy1, total1 = _cpu_ticks()
        busy = (busy1 - busy0) / max(total1 - total0, 1)
        if busy < busy_below or time.monotonic() >= deadline:
            return busy


@dataclass
class Sample:
    """One timed process."""

    wall: float
    cpu: float  # user + system of the process and its children
    others: float  # CPU seconds other processes used meanwhile


@dataclass
class Series:
    """Samples of one command."""

    name: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def walls(self) -> list[float]:
        return [sample.wall for sample in self.samples]

    def median(self) -> float:
        return statistics.median(self.walls)

    def best(self) -> float:
        return min(self.walls)

    def summary(self) -> dict[str, float]:
        return {
            "runs": len(self.samples),
            "wall_median": round(self.median(), 3),
            "wall_best": round(self.best(), 3),
            "cpu_median": round(statistics.median(sample.cpu for sample in self.samples), 3),
            "others_cpu_median": round(statistics.median(sample.others for sample in self.samples), 3),
        }


def timed(command: list[str], *, env: dict[str, str], cwd: Path, quiet: bool = True,
          before: Callable[[], None] | None = None, cpu_elsewhere: Callable[[], float] | None = None) -> Sample:
    """Time ``command``; redo it (up to ATTEMPTS times) while other processes eat the machine.

    A sample counts as disturbed when others used more than a quarter of the machine during
    it; the least disturbed of the attempts is kept. ``before`` runs (untimed) before each attempt:
    what puts the state back as the first attempt found it (a redone run from an empty warehouse
    must start from an empty warehouse again, not find the first attempt's tables unchanged).
    ``cpu_elsewhere`` counts the CPU of processes the command had work done by that are not its children
    (a warm server's forks: bench/warm.py), so that it is the command's, not the others'.
    """
    best: Sample | None = None
    for _ in range(ATTEMPTS if quiet else 1):
        if before is not None:
            before()
        sample = _timed_once(command, env=env, cwd=cwd, quiet=quiet, cpu_elsewhere=cpu_elsewhere)
        if best is None or sample.others < best.others:
            best = sample
        if sample.others <= 0.25 * sample.wall * CORES:
            break
    assert best is not None
    return best


def _timed_once(command: list[str], *, env: dict[str, str], cwd: Path, quiet: bool,
                cpu_elsewhere: Callable[[], float] | None = None) -> Sample:
    """Run ``command`` to completion; its wall time, its CPU time and the CPU others used meanwhile."""
    if quiet:
        wait_for_quiet()
    elsewhere = cpu_elsewhere() if cpu_elsewhere is not None else 0.0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy0, _ = _cpu_ticks()
    started = time.perf_counter()
    completed = subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    busy1, _ = _cpu_ticks()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({completed.returncode}):\n{completed.stdout}{completed.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if cpu_elsewhere is not None:
        cpu += cpu_elsewhere() - elsewhere
    ticks = os.sysconf("SC_CLK_TCK")
    others = max((busy1 - busy0) / ticks - cpu, 0.0)
    return Sample(wall=wall, cpu=cpu, others=others)


def child_env() -> dict[str, str]:
    """The environment of measured processes: what a user's shell has (bytecode caching on, no colour)."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONDONTWRITEBYTECODE", "FLOWDECK_PROJECT", "FORCE_COLOR")}
    env["NO_COLOR"] = "1"
    return env


# -- the pipeline ------------------------------------------------------------------------------


def ensure_workload(rows: int) -> None:
    """Generate the workload unless it is there with this many rows."""
    manifest = WORKLOAD / "workload.json"
    try:
        if json.loads(manifest.read_text())["rows"] == rows:
            return
    except (OSError, ValueError, KeyError):
        pass
    print(f"generating the workload ({rows:,} orders) ...", file=sys.stderr)
    subprocess.run([sys.executable, str(HERE / "generate.py"), "--rows", str(rows), "--out", str(WORKLOAD)], check=True)
    manifest.write_text(json.dumps({"rows": rows}))


def _remove_database(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + ".wal")):
        candidate.unlink(missing_ok=True)


def bench_pipeline(rounds: int, warm: WarmServer | None = None) -> dict[str, object]:
    """Alternate the hand-written SQL and `flowdeck run` (through ``warm`` when given), each from an empty
    database; compare."""
    env = child_env()
    out = WORKLOAD / "out"
    out.mkdir(exist_ok=True)
    orders, customers = WORKLOAD / "orders.csv", WORKLOAD / "customers.csv"
    hand_db, hand_out = WORKLOAD / "hand.duckdb", out / "hand_daily_revenue.parquet"
    flowdeck_out = WORKLOAD / "flowdeck_daily_revenue.parquet"  # where the bench pipeline writes it
    warehouse = PROJECT / ".flowdeck" / "warehouse.duckdb"
    hand_command = [sys.executable, str(HERE / "hand_sql.py"), str(hand_db), str(hand_out), str(orders), str(customers)]
    flowdeck_command = [str(FLOWDECK), "--project", str(PROJECT), "run", "orders_daily",
                        "--param", f"orders_csv={orders}", "--param", f"customers_csv={customers}"]
    flowdeck_env = warm.env if warm is not None else env
    flowdeck_cpu = warm.commands_cpu if warm is not None else None
    # once untimed: fills the page cache, writes bytecode and the SQL analysis memo
    _remove_database(warehouse)
    timed(flowdeck_command, env=flowdeck_env, cwd=REPO, quiet=False)
    hand, flowdeck = Series("hand-written DuckDB SQL"), Series("flowdeck run" + (" (warm)" if warm else ""))
    for index in range(rounds):
        order = [(hand, hand_command, hand_db, env, None), (flowdeck, flowdeck_command, warehouse, flowdeck_env, flowdeck_cpu)]
        for series, command, database, command_env, cpu_elsewhere in order if index % 2 == 0 else reversed(order):
            series.samples.append(timed(command, env=command_env, cwd=REPO, cpu_elsewhere=cpu_elsewhere,
                                        before=lambda database=database: _remove_database(database)))
            print(f"  round {index + 1}: {series.name}: {series.samples[-1].wall:.2f}s", file=sys.stderr)
    same = compare_outputs(hand_out, flowdeck_out)
    # each round's pair ran back to back: their ratio cancels slow drifts of a shared machine
    paired = [f.wall / h.wall for f, h in zip(flowdeck.samples, hand.samples)]
    return {
        "hand": hand.summary(),
        "flowdeck": flowdeck.summary(),
        "ratio_median": round(flowdeck.median() / hand.median(), 3),
        "ratio_best": round(flowdeck.best() / hand.best(), 3),
        "ratio_paired_median": round(statistics.median(paired), 3),
        "ratio_paired": [round(ratio, 3) for ratio in paired],
        "same_result": same,
        # the untimed run and the rounds', as the server counted them (the status command is one more)
        **({"warm_commands_served": int(warm.status()["commands_served"]) - 1} if warm is not None else {}),
    }


def _ledger(query: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    import sqlite3

    connection = sqlite3.connect(PROJECT / ".flowdeck" / "ledger.sqlite")
    try:
        return connection.execute(query, args).fetchall()
    finally:
        connection.close()


def bench_unchanged(runs: int) -> dict[str, object]:
    """Rerun the pipeline with nothing changed (after one run that published it): every step must be
    unchanged, no commit made, no input file read to checksum it; timed against the hand-written SQL."""
    env = child_env()
    orders, customers = WORKLOAD / "orders.csv", WORKLOAD / "customers.csv"
    hand_db, hand_out = WORKLOAD / "hand.duckdb", WORKLOAD / "out" / "hand_daily_revenue.parquet"
    hand_out.parent.mkdir(exist_ok=True)
    hand_command = [sys.executable, str(HERE / "hand_sql.py"), str(hand_db), str(hand_out), str(orders), str(customers)]
    flowdeck_command = [str(FLOWDECK), "--project", str(PROJECT), "run", "orders_daily",
                        "--param", f"orders_csv={orders}", "--param", f"customers_csv={customers}"]
    timed(flowdeck_command, env=env, cwd=REPO, quiet=False)  # publishes what the reruns find unchanged
    commits = _ledger("SELECT count(*) FROM commits")
    checked = _ledger("SELECT path, checked_at FROM file_checksums ORDER BY path")
    unchanged, hand = Series("flowdeck run, unchanged"), Series("hand-written DuckDB SQL, rerun")
    for index in range(runs):
        unchanged.samples.append(timed(flowdeck_command, env=env, cwd=REPO))
        run_id = _ledger("SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 1")[0][0]
        statuses = _ledger("SELECT reuse_reason FROM steps WHERE run_id = ?", (run_id,))
        if any(status != ("unchanged",) for status in statuses):
            raise SystemExit(f"run {run_id} ran steps: {statuses}")
        print(f"  rerun {index + 1}: {unchanged.samples[-1].wall:.3f}s", file=sys.stderr)
    if _ledger("SELECT count(*) FROM commits") != commits:
        raise SystemExit("an unchanged rerun committed something")
    if _ledger("SELECT path, checked_at FROM file_checksums ORDER BY path") != checked:
        raise SystemExit("an unchanged rerun read an input file again to checksum it")
    for _ in range(min(runs, 3)):
        _remove_database(hand_db)
        hand.samples.append(timed(hand_command, env=env, cwd=REPO))
    return {"unchanged": unchanged.summary(), "hand": hand.summary(),
            "speedup": round(hand.median() / unchanged.median(), 1),
            "speedup_cpu": round(statistics.median(s.cpu for s in hand.samples)
                                 / statistics.median(s.cpu for s in unchanged.samples), 1)}


def compare_outputs(first: Path, second: Path) -> dict[str, object]:
    """Row count and totals of both exports; they must agree."""
    import duckdb

    query = "SELECT count(*), sum(orders), sum(customers), sum(revenue)::VARCHAR FROM read_parquet('{}')"
    connection = duckdb.connect()
    a = connection.execute(query.format(first)).fetchone()
    b = connection.execute(query.format(second)).fetchone()
    connection.close()
    if a != b:
        raise SystemExit(f"the two runs disagree: hand {a} vs flowdeck {b}")
    return {"rows": a[0], "orders": a[1], "revenue": a[3]}


# -- start-up ----------------------------------------------------------------------------------


def bench_startup(runs: int) -> dict[str, object]:
    """`--help`, `validate` and `run daily_sales` on a copy of the example project."""
    env = child_env()
    with tempfile.TemporaryDirectory(prefix="flowdeck-bench-") as folder:
        project = Path(folder) / "example"
        project.mkdir()
        shutil.copy2(REPO / "flowdeck.yaml", project)
        for part in ("pipelines", "data/sample", "landing"):
            shutil.copytree(REPO / part, project / part, ignore=shutil.ignore_patterns("*.csv") if part == "landing" else None)
        base = [str(FLOWDECK), "--project", str(project)]
        commands = {
            "help": [str(FLOWDECK), "--help"],
            "validate": [*base, "validate"],
            "run": [*base, "run", "daily_sales", "--force"],  # every step run, as before fingerprints
            "run_unchanged": [*base, "run", "daily_sales"],  # nothing changed: every step reused
        }
        first = {name: timed(command, env=env, cwd=project, quiet=False).wall
                 for name, command in (("validate", commands["validate"]), ("run", commands["run"]))}
        results: dict[str, object] = {"first_validate": round(first["validate"], 3), "first_run": round(first["run"], 3)}
        for name, command in commands.items():
            series = Series(name)
            timed(command, env=env, cwd=project, quiet=False)  # warm-up
            for _ in range(runs):
                series.samples.append(timed(command, env=env, cwd=project))
            results[name] = series.summary()
            print(f"  {name}: median {series.median():.3f}s, best {series.best():.3f}s, "
                  f"cpu {results[name]['cpu_median']:.3f}s", file=sys.stderr)
    return results


# -- report ------------------------------------------------------------------------------------


def report(results: dict[str, dict]) -> str:
    """The figures as a small text table, with the targets."""
    lines = [f"machine: {CORES} cores, Python {sys.version.split()[0]}"]
    pipeline = results.get("pipeline")
    if pipeline:
        lines.append(f"pipeline ({pipeline['same_result']['rows']:,} result rows, outputs identical):")
        for key in ("hand", "flowdeck"):
            item = pipeline[key]
            lines.append(f"  {key:<9} wall median {item['wall_median']:6.2f}s  best {item['wall_best']:6.2f}s  "
                         f"cpu {item['cpu_median']:6.2f}s  (others used {item['others_cpu_median']:.2f}s cpu)")
        verdict = "ok" if pipeline["ratio_paired_median"] <= TARGETS["ratio"] else "OVER TARGET"
        lines.append(f"  ratio     of medians {pipeline['ratio_median']:.3f}  of bests {pipeline['ratio_best']:.3f}  "
                     f"median of rounds {pipeline['ratio_paired_median']:.3f} {pipeline['ratio_paired']}  "
                     f"(target <= {TARGETS['ratio']}: {verdict})")
    rerun = results.get("unchanged")
    if rerun:
        item = rerun["unchanged"]
        verdict = "ok" if item["wall_median"] <= TARGETS["unchanged"] else "OVER TARGET"
        lines.append(f"unchanged rerun (every step unchanged, no commit, no input file read): wall median "
                     f"{item['wall_median']:.3f}s  best {item['wall_best']:.3f}s  cpu {item['cpu_median']:.3f}s  "
                     f"(target <= {TARGETS['unchanged']}s: {verdict}; others used {item['others_cpu_median']:.2f}s cpu)")
        verdict = "ok" if rerun["speedup"] >= TARGETS["unchanged_speedup"] else "UNDER TARGET"
        lines.append(f"  hand-written SQL rerun: wall median {rerun['hand']['wall_median']:.2f}s  cpu "
                     f"{rerun['hand']['cpu_median']:.2f}s; {rerun['speedup']}x faster by wall, "
                     f"{rerun['speedup_cpu']}x by cpu (target >= {TARGETS['unchanged_speedup']:g}x: {verdict})")
    startup = results.get("startup")
    if startup:
        lines.append("start-up (example project):")
        for key in ("help", "validate", "run", "run_unchanged"):
            item = startup[key]
            verdict = "ok" if item["wall_median"] < TARGETS[key] else "OVER TARGET"
            lines.append(f"  {key:<9} wall median {item['wall_median']:.3f}s  best {item['wall_best']:.3f}s  "
                         f"cpu {item['cpu_median']:.3f}s  (target < {TARGETS[key]}s: {verdict}; "
                         f"others used {item['others_cpu_median']:.2f}s cpu)")
        lines.append(f"  first validate (SQL not analysed yet) {startup['first_validate']:.3f}s, "
                     f"first run {startup['first_run']:.3f}s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    global QUIET_WAIT
    parser = argparse.ArgumentParser(description="flowdeck benchmarks (see bench/README.md)")
    parser.add_argument("--rows", type=int, default=5_000_000, help="order rows of the workload (default 5,000,000)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of the pipeline comparison")
    parser.add_argument("--runs", type=int, default=10, help="timed runs of each start-up command")
    parser.add_argument("--only", choices=["pipeline", "unchanged", "startup"], help="run one part only")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--warm", action="store_true",
                        help="run `flowdeck run` of the pipeline comparison through a warm server (bench/warm.py)")
    parser.add_argument("--quiet-wait", type=float, default=QUIET_WAIT,
                        help=f"seconds to wait for a quiet machine before each run (default {QUIET_WAIT:g})")
    arguments = parser.parse_args(argv)
    QUIET_WAIT = arguments.quiet_wait
    results: dict[str, dict] = {}
    if arguments.only in (None, "pipeline"):
        ensure_workload(arguments.rows)
        print("pipeline: hand-written SQL vs flowdeck run ...", file=sys.stderr)
        if arguments.warm:
            with WarmServer(FLOWDECK, child_env()) as warm:
                results["pipeline"] = bench_pipeline(arguments.rounds, warm)
        else:
            results["pipeline"] = bench_pipeline(arguments.rounds)
    if arguments.only in (None, "unchanged"):
        ensure_workload(arguments.rows)
        print("unchanged reruns ...", file=sys.stderr)
        results["unchanged"] = bench_unchanged(arguments.runs)
    if arguments.only in (None, "startup"):
        print("start-up ...", file=sys.stderr)
        results["startup"] = bench_startup(arguments.runs)
    print(report(results))
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
