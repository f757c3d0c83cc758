"""The run monitor: a thread sampling the run process (CPU, memory, I/O through psutil, and the
size of its temporary folder, where DuckDB spills) and the DuckDB query progress of each running
step, written to the ledger in batches.

Samples are taken every ``monitoring.sample_interval`` and written every
``monitoring.flush_interval`` in one transaction. A long run is thinned as it goes: after
every ``THIN_AFTER`` samples the interval doubles, so a run of hours stays a few thousand rows.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from flowdeck.state import Ledger, ProgressSample, ResourceSample

THIN_AFTER = 600
log = logging.getLogger("flowdeck.monitor")

ProgressProbe = Callable[[], dict[str, float]]


class RunMonitor(threading.Thread):
    """Samples one run until stopped; ``progress`` returns {step: percent} for the running steps."""

    def __init__(self, ledger: Ledger, run_id: str, progress: ProgressProbe, *, sample_seconds: float = 1.0,
                 flush_seconds: float = 3.0, temp_dir: Path | None = None) -> None:
        super().__init__(name=f"monitor-{run_id}", daemon=True)
        self.ledger = ledger
        self.run_id = run_id
        self.progress = progress
        self.sample_seconds = sample_seconds
        self.flush_seconds = flush_seconds
        self._stopped = threading.Event()
        self._resources: list[ResourceSample] = []
        self._progress: list[ProgressSample] = []
        self._last_percent: dict[str, float] = {}
        self._count = 0
        # psutil's handle is taken by the thread itself, not by whoever starts it: importing psutil costs ~10 ms,
        # which the run's own thread (opening the warehouse meanwhile, which lets go of the GIL) need not wait for
        self._process: object | None = None
        self._started = threading.Event()
        self.temp_dir = temp_dir

    def run(self) -> None:
        self._process = _own_process()
        self._started.set()
        interval = self.sample_seconds
        last_flush = time.monotonic()
        while not self._stopped.wait(interval):
            self._sample()
            if time.monotonic() - last_flush >= self.flush_seconds:
                self._flush()
                last_flush = time.monotonic()
            if self._count and self._count % THIN_AFTER == 0:
                interval *= 2

    def stop(self) -> None:
        """Take a last sample, write what is buffered, and end the thread."""
        self._stopped.set()
        self.join(timeout=5)
        if not self._started.is_set():  # never started (or stuck in psutil's import): sample from here
            self._process = _own_process()
        self._sample()
        self._flush()

    def _sample(self) -> None:
        now = time.time()
        sample = _resources_now(self._process, now, self.temp_dir)
        if sample is not None:
            self._resources.append(sample)
            self._count += 1
        try:
            progress = self.progress()
        except Exception:  # a probe racing a step that just ended: skip this sample
            progress = {}
        for step, raw in progress.items():
            percent = round(raw, 2)  # compared as stored: 41.001 then 41.004 is no news
            if percent < 0 or self._last_percent.get(step) == percent:
                continue  # no estimate, or nothing new to say
            self._last_percent[step] = percent
            self._progress.append(ProgressSample(step=step, ts=now, percent=percent))

    def _flush(self) -> None:
        resources, progress = self._resources, self._progress
        self._resources, self._progress = [], []
        try:
            self.ledger.record_samples(self.run_id, resources, progress)
        except Exception as error:  # monitoring must never fail a run
            log.warning("could not record %d samples of run %s: %s", len(resources) + len(progress), self.run_id, error)


def _own_process() -> object | None:
    try:
        import psutil

        process = psutil.Process()
        process.cpu_percent(None)  # the first call only starts the measurement
        return process
    except Exception:  # psutil missing or /proc unreadable: no resource samples, the run goes on
        return None


def folder_bytes(folder: Path) -> int | None:
    """Bytes of the files under ``folder`` (None when it does not exist); files vanishing meanwhile count 0."""
    if not folder.is_dir():
        return None
    total = 0
    for root, _, names in os.walk(folder):
        for name in names:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:  # DuckDB removed a spill file between the listing and the stat
                pass
    return total


def _resources_now(process: object | None, now: float, temp_dir: Path | None = None) -> ResourceSample | None:
    if process is None:
        return None
    import psutil

    assert isinstance(process, psutil.Process)
    try:
        with process.oneshot():
            cpu = process.cpu_percent(None)
            rss = process.memory_info().rss
            threads = process.num_threads()
            read: int | None
            written: int | None
            try:
                io = process.io_counters()
                read, written = io.read_bytes, io.write_bytes
            except (psutil.AccessDenied, AttributeError, NotImplementedError):
                read = written = None
    except psutil.Error:
        return None
    return ResourceSample(ts=now, cpu_percent=round(cpu, 1), rss_bytes=rss, read_bytes=read, write_bytes=written,
                          threads=threads, temp_bytes=folder_bytes(temp_dir) if temp_dir is not None else None)
