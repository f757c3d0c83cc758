"""The daemon's lifecycle: lock, lease, start the parts, the main loop, signals, clean stop.

One thread (the main one) makes every decision: it handles schedule wake-ups, settles
files, follows publishes, starts and reaps workers, reloads edited pipelines and renews the lease. APScheduler,
watchdog and the HTTP server run in their own threads but only hand work to it (or read).
"""

from __future__ import annotations

import faulthandler
import logging
import os
import queue
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from flowdeck.engine.alerts.rules import DaemonHealth, evaluate_periodic
from flowdeck.engine.alerts.sender import SenderThread
from flowdeck.engine.daemon.connections import ConnectionChecks
from flowdeck.engine.daemon.followers import Followers
from flowdeck.engine.daemon.http import HttpEndpoint, Routes
from flowdeck.engine.daemon.http_auth import allowed_networks, http_tokens
from flowdeck.engine.daemon.http_runs import HttpRuns, SubmitAs
from flowdeck.engine.daemon.lease import LEASE_HEARTBEAT_SECONDS, LEASE_STALE_SECONDS, ProjectLock
from flowdeck.engine.daemon.metrics import DaemonMetrics
from flowdeck.engine.daemon.schedules import Schedules, Submit
from flowdeck.engine.daemon.watch import Watchers
from flowdeck.engine.daemon.workers import Resume, WorkerPool, resume_abandoned
from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.governance.audit import AuditAnchoring, anchor_file
from flowdeck.engine.logs import configure_logging
from flowdeck.engine.masking import mask
from flowdeck.engine.plan.planner import build_plan
from flowdeck.engine.project.project import PIPELINE_FILE, Project
from flowdeck.engine.run.liveness import reap_dead_runs
from flowdeck.state import Ledger, RunRecord
from flowdeck.state.records import iso
from flowdeck.state.status import RUN_FAILURES, RunStatus

LOOP_SECONDS = 0.25
RELOAD_CHECK_SECONDS = 2.0
RELOAD_SETTLE_SECONDS = 1.0  # an edited pipeline is read once its files have been still this long: never half a save
RECOVERY_SECONDS = 30.0
HEALTHY_LOOP_SECONDS = 15.0  # a main loop silent for longer than this is stuck
ALERT_EVALUATION_SECONDS = 10.0  # deadlines, stale data, own health, reminders
LAST_ERRORS_LOOKED_AT = 50  # the newest failed (and abandoned) runs `status` looks through for failures that still stand
LOG_FILE = "daemon.log"
log = logging.getLogger("flowdeck.daemon")

Fingerprint = tuple[tuple[str, int, int], ...]


class Daemon:
    """``flowdeck daemon``: everything the project does while nobody is watching.

    ``submit`` and ``resume`` are how it asks for runs: the front door's own, on a workspace opened
    with source "daemon", so scheduled, file-triggered and resumed runs are role-checked and audited
    like any other. ``submit_as`` is the front door's submit for whoever a daemon token stands for
    (POST /runs); without it the daemon serves no /runs. Everything else it does through the
    project, the ledger and the run lifecycle.
    """

    def __init__(self, project: Project, ledger: Ledger, *, submit: Submit, resume: Resume,
                 port: int | None = None, log_format: str | None = None, submit_as: SubmitAs | None = None) -> None:
        self.project = project
        self.ledger = ledger
        self.submit = submit
        self.resume = resume
        self.submit_as = submit_as
        self.log_format = log_format or self.project.config.logging.format  # its workers log the same way
        settings = self.project.config.daemon
        self.host = settings.http.host
        self.port = settings.http.port if port is None else port
        self.grace = settings.shutdown_grace.total_seconds()
        self.holder_id = uuid.uuid4().hex
        self._stop = threading.Event()
        self._hurry = threading.Event()
        self._wakeups: queue.Queue[str] = queue.Queue()
        self._problems: dict[str, str] = {}  # pipeline → why its last edit or load was rejected
        self._fingerprints: dict[str, Fingerprint] = {}
        self._reported: set[str] = set()
        self._loop_at = time.time()
        self._lease_ok = False
        self._spark_warm = False  # whether this daemon keeps a Spark driver warm for its runs
        self._started_at = time.time()
        self._unready_since: float | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def run(self) -> int:
        """Run until SIGTERM or SIGINT; return the exit code (0 after a clean stop)."""
        self.project.ensure_runtime_dirs()
        os.chdir(self.project.root)  # relative file names in SQL mean the project's files (see confinement.py)
        configure_logging(self.project.config.logging, log_file=self.project.logs_dir / LOG_FILE,
                          log_format=self.log_format)
        lock = ProjectLock(self.project.runtime_dir)
        lock.acquire()  # raises DaemonAlreadyRunning naming the holder
        try:
            with _stacks_on_request(self.project.logs_dir / LOG_FILE):
                return self._run_locked()
        finally:
            lock.release()

    def _run_locked(self) -> int:
        ledger = self.ledger
        # HTTP reads on a connection of its own: a scrape never holds the lock the main loop writes under
        self.http_ledger = Ledger(self.project.ledger_path, redact=mask)
        self.metrics = DaemonMetrics(self.http_ledger)
        runs = HttpRuns(self.http_ledger, self.submit_as) if self.submit_as is not None else None
        self.http = HttpEndpoint(self.host, self.port,
                                 Routes(self.health, self.ready, self.status, self.metrics.render, runs=runs),
                                 token=http_tokens(self.project, self.host),  # refuses beyond loopback without one
                                 allow=allowed_networks(self.project))
        self.schedules = Schedules(ledger, self.submit, self._wakeups)
        self.watchers = Watchers(self.project, ledger, self.submit, self.metrics)
        self.followers = Followers(ledger, self.submit)
        self.pool = WorkerPool(self.project, ledger, self.project.config.daemon.workers, self.metrics,
                               self._run_finished, log_format=self.log_format)
        self.sender = SenderThread(self.project, ledger)
        self.anchoring = AuditAnchoring(ledger, anchor_file(self.project))
        every = self.project.config.daemon.connection_checks
        self.connections = ConnectionChecks(self.project, every.total_seconds() if every else None)
        self.http.start()
        ledger.take_daemon_lease(self.holder_id, pid=os.getpid(), host=socket.gethostname(),
                                 http_address=self.http.address)
        self._lease_ok = True
        log.info("daemon pid %d for project %s, serving on http://%s", os.getpid(), self.project.root,
                 self.http.address)
        previous = {signum: signal.signal(signum, self._on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.schedules.start()
            self.watchers.start()
            self.connections.start()
            self._recover()  # before any schedule fires or worker starts: runs of dead processes are abandoned
            self._reload(initial=True)
            self._renew_lease()
            self.sender.start()  # after the start-up catch-up: its first delivery must not delay due slots
            self._keep_spark_warm()
            self._loop()
            log.info("stopping: no new runs; %d running", len(self.pool.running))
            self.schedules.shutdown()
            self.watchers.shutdown()
            self.connections.shutdown()
            self.pool.shutdown(self.grace, self._hurry.is_set)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self.schedules.shutdown()
            if self.sender.is_alive():
                self.sender.stop()  # what it could not send stays in the outbox for the next sender
            self.connections.shutdown()
            self.anchoring.poll(now=True)  # what was written in the last second is anchored too
            ledger.release_daemon_lease(self.holder_id, self._report())
            self.http.stop()
            if self._spark_warm:
                from flowdeck.engine.run.backend_factory import stop_serving_spark

                stop_serving_spark(self.project)
            self.http_ledger.close()
        log.info("daemon stopped")
        return 0

    def _keep_spark_warm(self) -> None:
        """With `engine: spark` in master mode, start the Spark driver here (in the background) and announce it,
        so the workers' runs reuse it instead of each starting a JVM (engine/backends/spark/served.py)."""
        config = self.project.config
        if config.engine != "spark" or config.spark.remote:
            return

        from flowdeck.engine.run.backend_factory import serve_spark

        def start() -> None:  # in the background: the daemon must not wait for a JVM to start
            try:
                url = serve_spark(self.project)
                log.info("Spark (%s) kept warm for runs on %s", config.spark.master, url)
            except Exception as error:  # runs then start their own Spark driver, as without a warm one
                log.error("could not keep Spark warm: %s", error)

        threading.Thread(target=start, name="flowdeck-spark-warm", daemon=True).start()
        self._spark_warm = True

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self._stop.is_set():
            self._hurry.set()  # asked twice: skip the rest of the grace time
            return
        log.info("%s received: shutting down (send it again to skip the %.0fs grace)", signal.Signals(signum).name,
                 self.grace)
        self._stop.set()
        self._wakeups.put("")  # wake the loop

    def _loop(self) -> None:
        last_reload = last_lease = last_recovery = last_alerts = time.monotonic()
        while not self._stop.is_set():
            self._loop_at = time.time()
            try:
                pipeline = self._wakeups.get(timeout=LOOP_SECONDS)
            except queue.Empty:
                pipeline = None
            try:
                due = [pipeline] if pipeline else []
                while not self._wakeups.empty():
                    due.append(self._wakeups.get_nowait())
                for name in dict.fromkeys(name for name in due if name):
                    self.schedules.reconcile(name)
                if self._stop.is_set():
                    break
                now = time.monotonic()
                if now - last_reload >= RELOAD_CHECK_SECONDS:
                    last_reload = now
                    self._reload()
                self.watchers.poll()
                self.followers.poll()  # before the pool: a follower queued now is claimed on this pass
                self.pool.poll(accept=True)
                self.anchoring.poll()
                if now - last_recovery >= RECOVERY_SECONDS:
                    last_recovery = now
                    self._recover()
                if now - last_lease >= LEASE_HEARTBEAT_SECONDS:
                    last_lease = now
                    self._renew_lease()
                if now - last_alerts >= ALERT_EVALUATION_SECONDS:
                    last_alerts = now
                    self._evaluate_alerts()
            except FlowdeckError as error:
                log.error("%s", error.render())
            except Exception:  # one bad pass must not end a daemon that runs for months
                log.exception("unexpected error in the daemon loop; continuing")
                time.sleep(1.0)

    # -- pipelines ---------------------------------------------------------------------------

    def _reload(self, *, initial: bool = False) -> None:
        """Load new and edited pipelines; an invalid edit is reported and the last good one kept."""
        names = self.project.pipeline_names()
        for name in set(self._fingerprints) - set(names):
            if not _settled(_folder_modified(self.project.pipelines_dir / name)):
                continue  # an editor may be saving pipeline.yaml as a new file: look again on a later pass
            del self._fingerprints[name]
            self._problems.pop(name, None)
            self.schedules.apply(name, None)
            self.watchers.apply(name, [])
            self.followers.apply(name, [])
            log.info("pipeline %s was removed; its schedule and triggers are gone", name)
        for name in names:
            fingerprint = _fingerprint(self.project.pipelines_dir / name)
            if self._fingerprints.get(name) == fingerprint:
                continue
            if not fingerprint:
                continue  # its pipeline.yaml went since the listing (an editor saving a new file): a later pass tells
            if not initial and not _settled(_last_modified(fingerprint)):
                continue  # still being saved: read it whole on a later pass
            known = name in self._fingerprints
            self._fingerprints[name] = fingerprint
            self.project.forget(name)
            try:
                plan = build_plan(self.project, name)
            except FlowdeckError as error:
                kept = " (the last good schedule and triggers stay)" if known and name not in self._problems else ""
                self._problems[name] = f"pipeline {name}: {error.render()}"
                log.error("pipeline %s is invalid%s:\n%s", name, kept, error.render())
                continue
            config = plan.source.config
            if known and not initial:
                log.info("pipeline %s changed; reloaded", name)
            try:
                self.schedules.apply(name, config.schedule)
                self.watchers.apply(name, config.file_triggers)
                self.followers.apply(name, config.after_triggers)
            finally:  # ready again once the new schedule is in force: /readyz never says so before /status shows it
                self._problems.pop(name, None)

    def _recover(self) -> None:
        """Mark runs of dead processes abandoned and resume those their pipeline allows."""
        reap_dead_runs(self.ledger)
        resume_abandoned(self.project, self.ledger, self.resume, self._reported)

    def _evaluate_alerts(self) -> None:
        """Periodic alert rules, with this daemon's own readiness as its health."""
        ready, reasons = self.ready()
        if ready:
            self._unready_since = None
        elif self._unready_since is None:
            self._unready_since = time.time()
        unhealthy_for = None if ready or self._unready_since is None else time.time() - self._unready_since
        evaluate_periodic(self.project, self.ledger, DaemonHealth(unhealthy_for=unhealthy_for, reasons=tuple(reasons)))

    def _run_finished(self, run: RunRecord) -> None:
        # an abandoned run is resumed first: a file waiting for it to be read is then kept for its resume
        if run.status == "abandoned":
            resume_abandoned(self.project, self.ledger, self.resume, self._reported)
        self.watchers.run_finished(run)

    # -- what it reports -------------------------------------------------------------------------

    def problems(self) -> list[str]:
        """Everything that keeps part of the daemon from working, one sentence each."""
        return (sorted(self._problems.values()) + self.watchers.problems() + self.followers.problems()
                + self.connections.problems())

    def health(self) -> tuple[bool, list[str]]:
        """Liveness: the main loop is turning."""
        silence = time.time() - self._loop_at
        if silence > HEALTHY_LOOP_SECONDS:
            return False, [f"the daemon loop has not turned for {silence:.0f}s"]
        return True, []

    def ready(self) -> tuple[bool, list[str]]:
        """Readiness: alive, lease held, scheduler running, and every pipeline served as configured."""
        ok, reasons = self.health()
        if not self._lease_ok:
            reasons.append("the ledger lease could not be renewed")
        if not self.schedules.running and not self._stop.is_set():
            reasons.append("the scheduler is not running")
        if self._stop.is_set():
            reasons.append("shutting down")
        reasons.extend(self.problems())
        return not reasons, reasons

    def _report(self) -> dict[str, Any]:
        """What the lease carries for `flowdeck status` (no HTTP needed to read it)."""
        ready, reasons = self.ready()
        return {
            "ready": ready,
            "reasons": reasons,
            "problems": self.problems(),
            "schedules": self.schedules.report(),
            "watchers": self.watchers.report(),
            "followers": self.followers.report(),
            "connections": self.connections.report(),
            "workers": {"size": self.pool.size, "running": [run.run_id for run in self.pool.running]},
            "alert_sender": {"running": self.sender.is_alive(), "last_error": self.sender.last_error},
            "audit": self.anchoring.report(),
        }

    def status(self) -> dict[str, Any]:
        """The /status document (computed in the HTTP endpoint's threads, on its own ledger connection)."""
        ledger = self.http_ledger
        ready, reasons = self.ready()
        report = self._report()
        return {
            "daemon": {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": iso(self._started_at),
                "http": f"http://{self.http.address}",
                "ready": ready,
                "reasons": reasons,
            },
            **report,
            "running": [run.to_json() for run in ledger.runs_in_status(RunStatus.RUNNING)],
            "queued": [run.to_json() for run in ledger.runs_in_status(RunStatus.QUEUED)],
            "last_errors": last_errors(ledger),
        }

    def _renew_lease(self) -> None:
        try:
            self._lease_ok = self.ledger.renew_daemon_lease(self.holder_id, self._report())
        except Exception as error:  # the ledger is busy or broken: unready until the next renewal
            self._lease_ok = False
            log.error("cannot renew the daemon lease: %s", error)
            return
        if not self._lease_ok:
            log.error("the daemon lease was taken over by another holder; stopping")
            self._stop.set()
        self.metrics.problems.value = len(self.problems())


@contextmanager
def _stacks_on_request(log_file: Path) -> Iterator[None]:
    """While the daemon runs, ``kill -USR1 <pid>`` appends every thread's stack to its log file.

    For a daemon that seems stuck (a stop taking longer than its grace, a silent main loop): the
    stacks say where each thread waits, without stopping the daemon. faulthandler writes from the
    signal handler itself, so it works even when the main thread is blocked.
    """
    with log_file.open("a", encoding="utf-8") as stream:
        faulthandler.register(signal.SIGUSR1, file=stream, all_threads=True, chain=False)
        try:
            yield
        finally:
            faulthandler.unregister(signal.SIGUSR1)


def last_errors(ledger: Ledger, limit: int = 5) -> list[dict[str, Any]]:
    """The latest failed and abandoned runs that still stand, newest first, with their errors.

    A failure stands until a later run of its pipeline succeeds (a resume, a rerun, the next
    scheduled run): once one has, the failure was made good and is no longer a problem to show.
    """
    seen = LAST_ERRORS_LOOKED_AT
    failed = [run for status in RUN_FAILURES for run in ledger.list_runs(status=status, limit=seen)]
    last_success: dict[str, float] = {}
    for pipeline in {run.pipeline for run in failed}:
        succeeded = ledger.list_runs(pipeline=pipeline, status=RunStatus.SUCCEEDED, limit=1)
        last_success[pipeline] = succeeded[0].created_at if succeeded else float("-inf")
    standing = [run for run in failed if run.created_at > last_success[run.pipeline]]
    standing.sort(key=lambda run: run.ended_at or run.created_at, reverse=True)
    return [{"run_id": run.run_id, "pipeline": run.pipeline, "status": run.status, "ended_at": iso(run.ended_at),
             "error": run.error} for run in standing[:limit]]


def _fingerprint(folder: Path) -> Fingerprint:
    """Names, sizes and modification times of a pipeline's files: a change means reload."""
    entries: list[tuple[str, int, int]] = []
    for path in sorted(folder.rglob("*")):
        try:
            info = path.stat()
        except OSError:
            continue
        if path.is_file():
            entries.append((str(path.relative_to(folder)), info.st_size, info.st_mtime_ns))
    if not any(name == PIPELINE_FILE for name, *_ in entries):
        return ()
    return tuple(entries)


def _last_modified(fingerprint: Fingerprint) -> float:
    """When the newest file of a fingerprint was last written (0 for none), in seconds since the epoch."""
    return max((mtime_ns for _name, _size, mtime_ns in fingerprint), default=0) / 1e9


def _folder_modified(folder: Path) -> float:
    """When a file was last added to, renamed in or removed from ``folder`` (0 if it is gone)."""
    try:
        return folder.stat().st_mtime
    except OSError:
        return 0.0


def _settled(modified_at: float) -> bool:
    """Whether something last modified at ``modified_at`` has been still long enough to be read whole."""
    return modified_at <= time.time() - RELOAD_SETTLE_SECONDS


__all__ = ["Daemon", "LEASE_STALE_SECONDS", "last_errors"]
