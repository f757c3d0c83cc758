"""File triggers: watchdog tells the daemon a folder changed; the daemon decides when a file is whole.

A file is taken once its size and modification time have not changed for the trigger's
``settle`` time (so a half-written file is never read), then hashed; the run's trigger key
``file:<pipeline>:<sha256>`` is unique in the ledger, so the same content never starts a
second run, whatever its name and however often it is dropped. Events are hints: at start,
whenever a folder comes back and every ``RESCAN_SECONDS``, the folder itself is listed, so
files that arrived while the daemon was down (or whose events were lost) are found too.

With ``batch:`` a trigger gathers the files it takes into micro-batches (``batches.py``) and
starts one run a batch, keyed by the set of contents. Before a file joins a batch the ledger is
asked whether its content already went into a run; only this daemon takes files (one daemon per
project, and one thread of it), so asking and then queueing cannot race, and a file is in
exactly one run even when the daemon was killed between queueing a batch and archiving its files.

Several triggers may watch one folder: a pipeline's in several environments (a prod trigger and a
``env: dev`` one), or several pipelines'. Each takes every file once (the ledger is asked per pipeline
and environment), and each run reads the folder when it runs. So a trigger archives a file only once no
other trigger on the folder still needs it (its run of that content has ended, or the file is still
settling or waiting in its batch for it); until then the file waits in the folder (``deferred``) and a
later pass archives it, once (the first archiving trigger to find it free). A run never archives for
another trigger, and only prod's trigger may archive a folder several environments of one pipeline watch
(``engine/project/watched_folders.py`` refuses the rest).
"""

from __future__ import annotations

import fnmatch
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowdeck.engine.daemon.batches import BatchWindow, TakenFile, batch_options
from flowdeck.engine.daemon.schedules import Submit
from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.logs import run_fields
from flowdeck.engine.project.config.pipeline import FileTrigger
from flowdeck.engine.project.project import PROD, Project
from flowdeck.engine.run.trigger_keys import batch_key, file_key, resume_key
from flowdeck.engine.steps.input_files import sha256_of
from flowdeck.state import Ledger, RunRecord

if TYPE_CHECKING:
    from watchdog.events import FileSystemEvent
    from watchdog.observers.api import BaseObserver, ObservedWatch

    from flowdeck.engine.daemon.metrics import DaemonMetrics

RESCAN_SECONDS = 30.0
FOLDER_CHECK_SECONDS = 2.0
MAX_RESUME_CHAIN = 10  # a file's run resumed more often than this is left to the operator
log = logging.getLogger("flowdeck.daemon.watch")

Signature = tuple[int, int]  # (size, mtime_ns): a file that keeps both for `settle` is whole


def file_signature(path: Path) -> Signature | None:
    """Size and modification time of a regular file, or ``None`` when it is gone or not a file."""
    try:
        info = path.stat()
    except OSError:
        return None
    if not path.is_file():
        return None
    return info.st_size, info.st_mtime_ns


@dataclass
class _Pending:
    signature: Signature
    stable_since: float


@dataclass
class FolderWatch:
    """One file trigger of one pipeline: its folder, what is settling, what was already seen."""

    pipeline: str
    trigger: FileTrigger
    folder: Path
    archive: Path | None
    problem: str | None = None
    watch: ObservedWatch | None = None
    pending: dict[Path, _Pending] = field(default_factory=dict)
    seen: dict[Path, tuple[Signature, str]] = field(default_factory=dict)  # path → (signature, sha256)
    last_rescan: float = 0.0
    last_check: float = 0.0
    last_release: float = 0.0
    window: BatchWindow | None = None  # with ``batch:``, the files waiting for their batch
    # files this trigger's run ingested whose archiving waits for another trigger on the folder: path → sha256
    deferred: dict[Path, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.trigger.batch is not None and self.window is None:
            self.window = BatchWindow(self.trigger.batch)

    def matches(self, path: Path) -> bool:
        """Whether a path is a direct child of the folder whose name matches a pattern."""
        return path.parent == self.folder and any(fnmatch.fnmatch(path.name, pattern) for pattern in self.trigger.patterns)

    def awaits(self, path: Path, digest: str) -> bool:
        """Whether this trigger has yet to queue a run for this file: it is settling, or waiting in its batch."""
        return path in self.pending or (self.window is not None and any(
            held.sha256 == digest for held in self.window.files))

    def described(self) -> str:
        """This trigger in words: its pipeline, and its environment outside prod."""
        return f"the trigger of pipeline {self.pipeline}" + ("" if self.trigger.env == PROD else f" in environment {self.trigger.env}")

    def describe(self) -> dict[str, Any]:
        """The watcher's state (for /status and the lease)."""
        return {
            "pipeline": self.pipeline,
            "environment": self.trigger.env,
            "folder": str(self.folder),
            "patterns": list(self.trigger.patterns),
            "settle_seconds": self.trigger.settle.total_seconds(),
            "archive": str(self.archive) if self.archive else None,
            "watching": self.watch is not None,
            "settling": len(self.pending),
            "waiting_to_archive": len(self.deferred),
            "batch": self.window.describe() if self.window is not None else None,
            "problem": self.problem,
        }


class Watchers:
    """Every file trigger of every pipeline, on one watchdog observer."""

    def __init__(self, project: Project, ledger: Ledger, submit: Submit, metrics: DaemonMetrics) -> None:
        from watchdog.observers import Observer

        self.project = project
        self.ledger = ledger
        self.submit = submit
        self.metrics = metrics
        self._observer: BaseObserver = Observer()
        self._watches: dict[str, list[FolderWatch]] = {}
        self._touched: set[Path] = set()
        self._touched_lock = threading.Lock()

    def start(self) -> None:
        """Start watchdog's observer thread."""
        self._observer.start()

    def shutdown(self) -> None:
        """Stop watching."""
        self._observer.stop()
        self._observer.join(timeout=5)

    def apply(self, pipeline: str, triggers: list[FileTrigger]) -> None:
        """Install (or replace, or remove) a pipeline's file triggers."""
        current = self._watches.get(pipeline, [])
        if [watch.trigger for watch in current] == list(triggers):
            return
        for watch in current:
            self._unwatch(watch)
        project = self.project
        self._watches[pipeline] = [
            FolderWatch(pipeline, trigger, project.resolve_path(trigger.folder),
                        project.resolve_path(trigger.archive) if trigger.archive else None)
            for trigger in triggers
        ]
        if not triggers:
            self._watches.pop(pipeline)
        for watch in self._watches.get(pipeline, []):
            self._check_folder(watch, time.time())

    def problems(self) -> list[str]:
        """What keeps a watcher from working, one sentence each, naming the pipeline."""
        return [f"pipeline {watch.pipeline}: {watch.problem}" for watches in self._watches.values()
                for watch in watches if watch.problem]

    def report(self) -> list[dict[str, Any]]:
        """Every watcher's state."""
        return [watch.describe() for _, watches in sorted(self._watches.items()) for watch in watches]

    # -- the loop ------------------------------------------------------------------------------

    def poll(self, now: float | None = None) -> None:
        """Check folders, take touched files into settling, and take the files that have settled.

        Every trigger notes what it sees before any takes a file: a trigger of another environment on the
        same folder then knows a file is settling for it before a run of this one could archive it.
        """
        now = now or time.time()
        with self._touched_lock:
            touched, self._touched = self._touched, set()
        watching = [watch for watches in list(self._watches.values()) for watch in watches]
        for watch in watching:
            if now - watch.last_check >= FOLDER_CHECK_SECONDS:
                self._check_folder(watch, now)
            if watch.problem:
                continue
            if now - watch.last_rescan >= RESCAN_SECONDS:
                self._rescan(watch, now)
            for path in touched:
                if watch.matches(path):
                    self._note(watch, path, now)
        for watch in watching:
            if watch.problem:
                continue
            self._settle(watch, now)
            if watch.window is not None:
                self._start_batches(watch, watch.window.due(now))
            if watch.deferred and now - watch.last_release >= FOLDER_CHECK_SECONDS:
                self._release(watch, now)

    def _on_event(self, event: FileSystemEvent) -> None:
        """Called on watchdog's thread: only remember which paths changed."""
        if event.is_directory:
            return
        paths = [event.src_path, getattr(event, "dest_path", "") or ""]
        with self._touched_lock:
            self._touched.update(Path(os.fsdecode(path)) for path in paths if path)

    def _check_folder(self, watch: FolderWatch, now: float) -> None:
        watch.last_check = now
        problem = None
        if not watch.folder.exists():
            problem = f"watched folder {watch.folder} does not exist"
        elif not watch.folder.is_dir():
            problem = f"watched folder {watch.folder} is not a folder"
        else:
            try:
                with os.scandir(watch.folder):
                    pass
            except OSError as error:
                problem = f"watched folder {watch.folder} cannot be read: {error.strerror}"
        if problem and problem != watch.problem:
            log.error("pipeline %s: %s; its other triggers and the other pipelines keep running", watch.pipeline, problem)
        if problem:
            self._unwatch(watch)
            watch.problem = problem
            return
        if watch.problem:
            log.info("pipeline %s: watched folder %s is back", watch.pipeline, watch.folder)
        watch.problem = None
        if watch.watch is None:
            from watchdog.events import FileSystemEventHandler

            handler = FileSystemEventHandler()
            handler.on_any_event = self._on_event  # type: ignore[method-assign]
            try:
                watch.watch = self._observer.schedule(handler, str(watch.folder), recursive=False)
            except OSError as error:
                watch.problem = f"watched folder {watch.folder} cannot be watched: {error.strerror or error}"
                log.error("pipeline %s: %s", watch.pipeline, watch.problem)
                return
            log.info("pipeline %s: watching %s for %s", watch.pipeline, watch.folder, ", ".join(watch.trigger.patterns))
            self._rescan(watch, now)

    def _unwatch(self, watch: FolderWatch) -> None:
        if watch.watch is not None:
            try:
                self._observer.unschedule(watch.watch)
            except (KeyError, OSError):  # the folder vanished under inotify
                pass
            watch.watch = None

    def _rescan(self, watch: FolderWatch, now: float) -> None:
        watch.last_rescan = now
        try:
            entries = [Path(entry.path) for entry in os.scandir(watch.folder)]
        except OSError:
            return
        present = set(entries)
        for path in list(watch.seen):
            if path not in present:
                del watch.seen[path]
        for path in entries:
            if watch.matches(path):
                self._note(watch, path, now)

    def _note(self, watch: FolderWatch, path: Path, now: float) -> None:
        signature = file_signature(path)
        if signature is None:
            watch.pending.pop(path, None)
            return
        seen = watch.seen.get(path)
        if seen is not None and seen[0] == signature:
            return  # already taken with this content
        pending = watch.pending.get(path)
        if pending is None or pending.signature != signature:
            watch.pending[path] = _Pending(signature, now)

    def _settle(self, watch: FolderWatch, now: float) -> None:
        settle = watch.trigger.settle.total_seconds()
        taken: list[tuple[Path, str, Signature]] = []
        for path, pending in list(watch.pending.items()):
            signature = file_signature(path)
            if signature is None:
                del watch.pending[path]
                continue
            if signature != pending.signature:  # still being written
                watch.pending[path] = _Pending(signature, now)
                continue
            if now - pending.stable_since < settle:
                continue
            try:
                digest = sha256_of(path)
            except OSError as error:
                log.warning("pipeline %s: cannot read %s: %s", watch.pipeline, path, error)
                del watch.pending[path]
                continue
            if file_signature(path) != signature:  # changed while we read it
                watch.pending[path] = _Pending(file_signature(path) or signature, time.time())
                continue
            del watch.pending[path]
            watch.seen[path] = (signature, digest)
            taken.append((path, digest, signature))
        if not taken:
            return
        # contents that already went into a run: one question for all of them (a rescan at start may
        # find hundreds of files that were processed before and are still there, unarchived)
        known = self.ledger.file_runs(watch.pipeline, [digest for _, digest, _ in taken], environment=watch.trigger.env)
        for path, digest, signature in sorted(taken):  # files settled together go in the order of their names
            record = known.get(digest)
            if watch.window is not None:
                self._gather(watch, watch.window, TakenFile(path, self._relative(path), digest, signature, now), record)
            elif record is not None and "files" in record.options:  # in a batch (the trigger had `batch:` then)
                self._duplicate(watch, path, digest, record)
            else:
                self._take(watch, path, digest)

    def _relative(self, path: Path) -> str:
        return os.path.relpath(path, self.project.root)

    def _take(self, watch: FolderWatch, path: Path, digest: str) -> None:
        relative = self._relative(path)
        try:
            record, new = self.submit(
                watch.pipeline, {}, trigger_kind="file", trigger_key=file_key(watch.pipeline, digest, watch.trigger.env),
                options={"file": relative, "sha256": digest}, environment=watch.trigger.env,
            )
        except FlowdeckError as error:
            del watch.seen[path]  # try again at the next rescan, the pipeline may be fixed by then
            self.metrics.file_events.labels(watch.trigger.env, watch.pipeline, "error").inc()
            log.error("pipeline %s: file %s could not be queued: %s", watch.pipeline, relative, error.what)
            return
        if new:
            self.metrics.file_events.labels(watch.trigger.env, watch.pipeline, "accepted").inc()
            self.ledger.log(record.run_id, f"file {relative} ({digest[:12]}…) started this run",
                                      kind="file.accepted", payload={"file": relative, "sha256": digest})
            log.info("pipeline %s: file %s queued run %s", watch.pipeline, relative, record.run_id,
                     extra=run_fields(record.run_id, watch.pipeline, event="run.queued"))
            return
        self._duplicate(watch, path, digest, record)

    def _duplicate(self, watch: FolderWatch, path: Path, digest: str, record: RunRecord) -> None:
        """A file whose content already went into ``record``: recorded, no new run; archived once that run succeeded."""
        relative = self._relative(path)
        self.metrics.file_events.labels(watch.trigger.env, watch.pipeline, "duplicate").inc()
        self.ledger.log(None, f"file {relative} of {watch.pipeline} has the content of run {record.run_id}; "
                        "no new run", kind="file.duplicate", payload={"file": relative, "sha256": digest,
                                                                       "pipeline": watch.pipeline,
                                                                       "environment": watch.trigger.env})
        log.info("pipeline %s: file %s is the same content as run %s; no new run", watch.pipeline, relative,
                 record.run_id)
        if self._ingested(record):
            self._archive_when_free(watch, [(path, digest)])

    def _resume_chain(self, record: RunRecord) -> Iterator[RunRecord]:
        """A file's run, then each run resuming the one before (the daemon's, or `flowdeck run --resume`'s), as
        they are asked for: the ledger is read only as far as the caller looks."""
        chain: RunRecord | None = record
        for _ in range(MAX_RESUME_CHAIN):
            if chain is None:
                return
            yield chain
            chain = self.ledger.run_by_trigger_key(resume_key(chain.run_id))

    def _ingested(self, record: RunRecord) -> bool:
        """Whether the file's run succeeded, or a run resuming it did."""
        return any(run.status == "succeeded" for run in self._resume_chain(record))

    def _ended(self, record: RunRecord) -> bool:
        """Whether a file's run is over for good: it ended and nothing resumes it (a resume reads the file too)."""
        for run in self._resume_chain(record):
            if run.status == "succeeded":
                return True
            if run.status in ("queued", "running"):
                return False
        return True

    # -- micro-batches -------------------------------------------------------------------------

    def _gather(self, watch: FolderWatch, window: BatchWindow, taken: TakenFile, record: RunRecord | None) -> None:
        """Put a settled file into its trigger's batch window, unless its content already went into a run."""
        window.forget(taken.path)  # its earlier content, if it changed before its batch started
        if record is not None:
            self._duplicate(watch, taken.path, taken.sha256, record)
            return
        held = window.add(taken)
        if held is not None:
            self.metrics.file_events.labels(watch.trigger.env, watch.pipeline, "duplicate").inc()
            log.info("pipeline %s: file %s has the content of %s, already in the next batch; not taken twice",
                     watch.pipeline, taken.relative, held.relative)

    def _start_batches(self, watch: FolderWatch, batches: list[list[TakenFile]]) -> None:
        """Queue one run for each batch that is due (full, or its oldest file waited ``max_wait``)."""
        for batch in batches:
            # a file changed or removed since it was hashed is not the content that was taken: a changed
            # one is settling again and joins a later batch
            members = [taken for taken in batch if file_signature(taken.path) == taken.signature]
            if not members:
                continue
            try:
                record, new = self.submit(
                    watch.pipeline, {}, trigger_kind="file",
                    trigger_key=batch_key(watch.pipeline, [taken.sha256 for taken in members], watch.trigger.env),
                    options=batch_options(members), environment=watch.trigger.env,
                )
            except FlowdeckError as error:
                for taken in members:  # taken again at the next rescan, the pipeline may be fixed by then
                    watch.seen.pop(taken.path, None)
                self.metrics.file_events.labels(watch.trigger.env, watch.pipeline, "error").inc(len(members))
                log.error("pipeline %s: a batch of %d files could not be queued: %s", watch.pipeline, len(members),
                          error.what)
                continue
            if not new:  # this very set was queued before: each file is a duplicate of that run
                for taken in members:
                    self._duplicate(watch, taken.path, taken.sha256, record)
                continue
            self.metrics.file_events.labels(watch.trigger.env, watch.pipeline, "accepted").inc(len(members))
            for taken in members:
                self.ledger.log(
                    record.run_id, f"file {taken.relative} ({taken.sha256[:12]}…) is in this run's batch of "
                    f"{len(members)}", kind="file.accepted", payload={"file": taken.relative, "sha256": taken.sha256})
            log.info("pipeline %s: a batch of %d files queued run %s", watch.pipeline, len(members), record.run_id,
                     extra=run_fields(record.run_id, watch.pipeline, event="run.queued"))

    # -- after a run ---------------------------------------------------------------------------

    def run_finished(self, run: RunRecord) -> None:
        """Archive the files that started a run (one, or a batch), once the run has succeeded (if unchanged).

        A run resuming a file's run (one the daemon's restart cut short) carries its options, so its
        success archives the file too: otherwise the file would stay in the landing folder for good.
        Only the triggers of the run's pipeline and environment archive for it; a run of another trigger
        that ended, however, may free files they wait to archive (it was the last to read them).
        """
        if not ({"file", "files"} & run.options.keys()):
            return
        for others in list(self._watches.values()):
            for other in others:
                if other.deferred and (other.pipeline, other.trigger.env) != (run.pipeline, run.environment):
                    self._release(other, time.time())
        watches = self._watches.get(run.pipeline, [])
        if run.status != "succeeded":
            return
        files = run.options.get("files") or [{"file": run.options.get("file", ""), "sha256": run.options.get("sha256", "")}]
        for watch in watches:
            if watch.archive is None or watch.trigger.env != run.environment:
                continue
            ingested: list[tuple[Path, str]] = []
            for entry in files:
                path = self.project.resolve_path(str(entry.get("file", "")))
                digest = str(entry.get("sha256", ""))
                seen = watch.seen.get(path)
                if path.parent == watch.folder and seen is not None and seen[1] == digest \
                        and file_signature(path) == seen[0]:
                    ingested.append((path, digest))
            self._archive_when_free(watch, ingested)

    def _archive_when_free(self, watch: FolderWatch, files: list[tuple[Path, str]]) -> None:
        """Archive files this trigger's runs ingested, each once no other trigger on the folder still needs
        it; the others wait in the folder (``deferred``) for a later pass of ``_release``."""
        if watch.archive is None or not files:
            return
        needed = self._needed_elsewhere(watch, files)
        for path, digest in files:
            reader = needed.get(path)
            if reader is None:
                watch.deferred.pop(path, None)
                self._archive(watch, path, digest)
            elif path not in watch.deferred:
                watch.deferred[path] = digest
                log.info("pipeline %s: %s is archived once %s has read it", watch.pipeline, path.name, reader)

    def _needed_elsewhere(self, watch: FolderWatch, files: list[tuple[Path, str]]) -> dict[Path, str]:
        """The files another trigger on the same folder (another environment's, another pipeline's) still
        needs, with which trigger in words: its run of the content is queued or running, or it has yet to
        queue one (settling, in its batch)."""
        needed: dict[Path, str] = {}
        for others in list(self._watches.values()):
            for other in others:
                if (other.pipeline, other.trigger.env) == (watch.pipeline, watch.trigger.env) \
                        or other.folder != watch.folder or other.problem:
                    continue
                candidates = [(path, digest) for path, digest in files if path not in needed and other.matches(path)]
                if not candidates:
                    continue
                runs = self.ledger.file_runs(other.pipeline, [digest for _, digest in candidates],
                                             environment=other.trigger.env)
                for path, digest in candidates:
                    record = runs.get(digest)
                    if other.awaits(path, digest) if record is None else not self._ended(record):
                        needed[path] = other.described()
        return needed

    def _release(self, watch: FolderWatch, now: float) -> None:
        """Archive the deferred files no other trigger needs any more; forget changed or gone ones."""
        watch.last_release = now
        waiting: list[tuple[Path, str]] = []
        for path, digest in list(watch.deferred.items()):
            seen = watch.seen.get(path)
            if seen is None or seen[1] != digest or file_signature(path) != seen[0]:
                del watch.deferred[path]  # moved, removed or rewritten meanwhile: not the content that was read
            else:
                waiting.append((path, digest))
        self._archive_when_free(watch, waiting)

    def _archive(self, watch: FolderWatch, path: Path, digest: str) -> None:
        if watch.archive is None:
            return
        day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
        target_dir = watch.archive / day
        target = target_dir / path.name
        if target.exists():
            target = target_dir / f"{path.stem}-{digest[:12]}{path.suffix}"
        try:
            target_dir.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), str(target))
        except OSError as error:
            log.error("pipeline %s: cannot archive %s to %s: %s", watch.pipeline, path, target_dir, error)
            return
        watch.seen.pop(path, None)
        watch.pending.pop(path, None)
        watch.deferred.pop(path, None)
        self.metrics.file_events.labels(watch.trigger.env, watch.pipeline, "archived").inc()
        log.info("pipeline %s: archived %s to %s", watch.pipeline, path.name, target)
