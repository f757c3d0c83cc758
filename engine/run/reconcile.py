"""Reconcile the ledger from the warehouse's commit markers.

A publish commits its data and its marker in one warehouse transaction; the ledger learns of it
afterwards. A crash in between leaves a marker the ledger lacks: reconciliation, at the start
of every run and in ``flowdeck cleanup``, records it (and the step that made it as succeeded),
so nothing a crash interrupted is lost or done twice.
"""

from __future__ import annotations

from flowdeck.engine.backends.base import Backend, CommitMarker
from flowdeck.state import Ledger
from flowdeck.state.records import CommitRecord, InputFile, Interval, StepVersion, Watermark


def commit_record(marker: CommitMarker, warehouse_id: str, *, reconciled: bool = False,
                  requested_by: str | None = None) -> CommitRecord:
    """The ledger's record of a committed marker, with the incremental state it carried."""
    assert marker.seq is not None and marker.committed_at is not None, "only committed markers are recorded"
    state = marker.state or {}
    mark = state.get("watermark")
    return CommitRecord(
        warehouse_id=warehouse_id,
        seq=marker.seq,
        run_id=marker.run_id,
        step=marker.step,
        output=marker.output,
        kind=marker.kind,
        data_run_id=marker.data_run_id or marker.run_id,
        base_run_id=marker.base_run_id,
        rows=marker.rows,
        checksum=marker.checksum,
        committed_at=marker.committed_at,
        requested_by=requested_by or state.get("requested_by"),
        reconciled=reconciled,
        files=tuple(InputFile(f["path"], int(f["size"]), int(f["mtime_ns"]), f["sha256"]) for f in state.get("files", ())),
        watermark=Watermark(mark["column"], mark["value"], mark["value_type"]) if mark else None,
        intervals=tuple(Interval(i["column"], i["start"], i["end"]) for i in state.get("intervals", ())),
        # the fingerprint travels in the marker, so a crash before the ledger heard of the publish keeps it
        version=StepVersion.from_json(state["version"]) if state.get("version") else None,
    )


def reconcile_ledger(ledger: Ledger, backend: Backend) -> list[CommitRecord]:
    """Record the markers the ledger lacks; return them (empty when nothing was lost)."""
    warehouse_id = backend.warehouse_id()
    markers = backend.commit_markers(ledger.reconcile_position(warehouse_id))
    return ledger.reconcile(warehouse_id, [commit_record(m, warehouse_id, reconciled=True) for m in markers])
