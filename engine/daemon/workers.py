"""The daemon's bounded pool of run workers, and what it does with runs whose process died.

Each run executes in its own process (``python -m flowdeck.engine.run.worker``), so a crashing run cannot
take the daemon down. The daemon claims a queued run for the worker's pid with the ledger's
compare-and-set; the worker executes only a run claimed for it, so no run executes twice,
whoever else (a `flowdeck run --detach` worker, a second daemon) is after it.
At most one run of a pipeline executes at a time.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.logs import run_fields
from flowdeck.engine.project.project import Project
from flowdeck.engine.run.launch import spawn_worker
from flowdeck.engine.run.processes import process_identity
from flowdeck.engine.run.submit import Submitted
from flowdeck.engine.run.trigger_keys import resume_key
from flowdeck.state import Ledger, RunRecord
from flowdeck.state.status import RunStatus

if TYPE_CHECKING:
    from flowdeck.engine.daemon.metrics import DaemonMetrics

MAX_RESUMES = 3  # a run abandoned this many times in a row is only reported
RESUME_WINDOW_SECONDS = 24 * 3600  # runs abandoned longer ago than this are not resumed
INTERRUPT_WAIT_SECONDS = 10.0  # after the grace: how long interrupted steps get to stop
log = logging.getLogger("flowdeck.daemon.workers")

Resume = Callable[[str], Submitted]  # the front door's resume, audited as the daemon's


@dataclass
class _Worker:
    run: RunRecord
    process: subprocess.Popen[bytes]
    started: float


class WorkerPool:
    """Runs queued runs in worker processes, at most ``size`` at once."""

    def __init__(self, project: Project, ledger: Ledger, size: int, metrics: DaemonMetrics,
                 on_finished: Callable[[RunRecord], None], *, log_format: str | None = None) -> None:
        self.project = project
        self.ledger = ledger
        self.size = size
        self.log_format = log_format
        self.metrics = metrics
        self.on_finished = on_finished
        self._workers: dict[str, _Worker] = {}
        self._losers: list[subprocess.Popen[bytes]] = []

    @property
    def running(self) -> list[RunRecord]:
        """The runs this pool executes now."""
        return [worker.run for worker in self._workers.values()]

    def poll(self, *, accept: bool) -> None:
        """Notice finished workers; with ``accept``, start queued runs in the free slots.

        Must be called from the daemon's main thread: Linux delivers a worker's "parent died"
        signal when the *thread* that started it ends.
        """
        self._reap()
        if not accept or len(self._workers) >= self.size:
            return
        ledger = self.ledger
        busy = {run.pipeline for run in ledger.runs_in_status(RunStatus.RUNNING)}
        for run in ledger.runs_in_status(RunStatus.QUEUED):
            if len(self._workers) >= self.size:
                break
            if run.pipeline in busy or run.cancel_requested:
                continue
            if self._start(run):
                busy.add(run.pipeline)

    def _start(self, run: RunRecord) -> bool:
        process = spawn_worker(self.project, run.run_id, claimed_by_parent=True, log_format=self.log_format)
        claimed = self.ledger.claim_run(run.run_id, pid=process.pid, process_started=process_identity(process.pid))
        assert process.stdin is not None
        try:
            process.stdin.write(b"go\n" if claimed else b"no\n")
            process.stdin.flush()
            if not claimed:
                process.stdin.close()
        except OSError:  # the worker already died; reaping will tell
            pass
        if not claimed:  # someone else took it first; the worker sees it is not its run and exits
            self._losers.append(process)
            return False
        claimed_run = self.ledger.get_run(run.run_id) or run
        self._workers[run.run_id] = _Worker(claimed_run, process, time.time())
        slot = run.options.get("scheduled_for")
        if run.trigger_kind == "schedule" and isinstance(slot, (int, float)) and claimed_run.started_at:
            self.metrics.schedule_delay.labels(run.environment, run.pipeline).observe(max(claimed_run.started_at - slot, 0.0))
        log.info("run %s of %s started in worker pid %d", run.run_id, run.pipeline, process.pid,
                 extra=run_fields(run.run_id, run.pipeline, event="run.started"))
        return True

    def _reap(self) -> None:
        self._losers = [process for process in self._losers if process.poll() is None]
        for run_id, worker in list(self._workers.items()):
            code = worker.process.poll()
            if code is None:
                continue
            del self._workers[run_id]
            if worker.process.stdin is not None:
                try:
                    worker.process.stdin.close()
                except OSError:  # a "drain" line still buffered for a worker that has exited: EPIPE on flush
                    pass
            self._finished(worker, code)

    def _finished(self, worker: _Worker, code: int) -> None:
        ledger = self.ledger
        run = ledger.get_run(worker.run.run_id)
        if run is not None and run.status == "running" and run.owner_pid == worker.process.pid:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            ledger.mark_abandoned(run.run_id, f"its worker process (pid {worker.process.pid}) {how}")
            run = ledger.get_run(run.run_id)
        if run is None:
            return
        log.log(logging.INFO if run.status == "succeeded" else logging.WARNING, "run %s of %s %s%s", run.run_id,
                run.pipeline, run.status, f": {run.error.splitlines()[0]}" if run.error else "",
                extra=run_fields(run.run_id, run.pipeline, event=f"run.{run.status}"))
        self.on_finished(run)

    def shutdown(self, grace: float, hurry: Callable[[], bool]) -> None:
        """Stop: let running steps finish (up to ``grace``), then interrupt them; leave no run running.

        ``hurry`` returns True when the operator asked twice, to skip the rest of the grace.
        """
        if not self._workers:
            return
        log.info("waiting up to %.0fs for %d running run(s) to reach a step boundary", grace, len(self._workers))
        self._tell_all(b"drain\n")  # finish running steps, start no new one
        deadline = time.monotonic() + grace
        while self._workers and time.monotonic() < deadline and not hurry():
            time.sleep(0.1)
            self._reap()
        if self._workers:
            log.warning("interrupting %d run(s) still running after the grace time", len(self._workers))
            self._tell_all(b"interrupt\n")  # stop the running steps now
            deadline = time.monotonic() + INTERRUPT_WAIT_SECONDS
            while self._workers and time.monotonic() < deadline:
                time.sleep(0.1)
                self._reap()
        for worker in list(self._workers.values()):
            log.error("worker pid %d did not stop; killing it", worker.process.pid)
            worker.process.kill()
            worker.process.wait()
        self._reap()

    def _tell_all(self, command: bytes) -> None:
        """Write a control line to every worker (a pipe, unlike a signal, waits for the worker to read it)."""
        for worker in self._workers.values():
            stdin = worker.process.stdin
            try:
                if stdin is not None:
                    stdin.write(command)
                    stdin.flush()
            except OSError:  # it has just exited; reaping will tell
                pass


def resume_abandoned(project: Project, ledger: Ledger, resume: Resume, reported: set[str],
                     now: float | None = None) -> list[str]:
    """Queue again the recently abandoned runs of pipelines with ``on_abandoned: resume``.

    The new run has the trigger key ``resume:<abandoned run>`` (so it is queued once) and the
    abandoned run as its parent. A chain of ``MAX_RESUMES`` abandoned runs is only reported.
    ``reported`` collects the runs already logged as not resumed, so each is logged once.
    Return the ids of the runs queued.
    """
    now = now or time.time()
    queued: list[str] = []
    for run in ledger.list_runs(status="abandoned", limit=200):
        if run.run_id in reported or (run.ended_at or run.created_at) < now - RESUME_WINDOW_SECONDS:
            continue
        if ledger.run_by_trigger_key(resume_key(run.run_id)) is not None:
            continue
        try:
            policy = project.pipeline(run.pipeline).config.on_abandoned
        except FlowdeckError:
            policy = "report"
        depth = _abandoned_chain(ledger, run)
        if policy != "resume" or depth > MAX_RESUMES:
            why = "the pipeline says on_abandoned: report" if policy != "resume" else \
                f"it was abandoned {depth} times in a row"
            log.warning("run %s of %s was abandoned (%s); not resuming it: %s", run.run_id, run.pipeline,
                        run.error, why)
            reported.add(run.run_id)
            continue
        try:
            record, new = resume(run.run_id)
        except FlowdeckError as error:
            log.error("run %s of %s cannot be resumed: %s", run.run_id, run.pipeline, error.what)
            reported.add(run.run_id)
            continue
        if new:
            ledger.log(run.run_id, f"resumed as run {record.run_id}", kind="run.resumed",
                       payload={"resumed_by": record.run_id})
            log.info("run %s of %s was abandoned; resumed as run %s", run.run_id, run.pipeline, record.run_id)
            queued.append(record.run_id)
    return queued


def _abandoned_chain(ledger: Ledger, run: RunRecord) -> int:
    """How many abandoned runs in a row end with ``run`` (following resume parents)."""
    depth = 0
    current: RunRecord | None = run
    while current is not None and current.status == "abandoned" and depth <= MAX_RESUMES:
        depth += 1
        if current.trigger_kind != "resume" or current.parent_run_id is None:
            break
        current = ledger.get_run(current.parent_run_id)
    return depth
