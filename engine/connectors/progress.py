"""Rows counted as Arrow batches stream by, reported about once a second (a ledger event each)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

import pyarrow as pa

REPORT_SECONDS = 1.0

Report = Callable[[int, int], None]  # (rows so far, batches so far)


class Counted:
    """Passes batches through, counting rows; calls ``report`` at most every ``REPORT_SECONDS``."""

    def __init__(self, batches: Iterable[pa.RecordBatch], schema: pa.Schema, report: Report) -> None:
        self._batches = batches
        self.schema = schema
        self._report = report
        self.rows = 0
        self.batches = 0
        self._reported_at = time.monotonic()

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        for batch in self._batches:
            self.rows += batch.num_rows
            self.batches += 1
            now = time.monotonic()
            if now - self._reported_at >= REPORT_SECONDS:
                self._reported_at = now
                self._report(self.rows, self.batches)
            yield batch

    def reader(self) -> pa.RecordBatchReader:
        """The batches as a RecordBatchReader (what DuckDB and the ADBC drivers consume)."""
        return pa.RecordBatchReader.from_batches(self.schema, iter(self))

