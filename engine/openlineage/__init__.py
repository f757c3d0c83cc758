"""OpenLineage: the run events a data catalog reads, queued in the ledger's outbox and sent by the client's transports.

- ``events``: a run (the job ``<project>.<pipeline>``) and each of its steps (child jobs
  ``<project>.<pipeline>.<step>``, with the parent run facet) as OpenLineage RunEvents: START,
  then COMPLETE, FAIL or ABORT (canceled); inputs and outputs with their schema, outputs with the
  column lineage flowdeck computes from the SQL (or a Python step declares);
- ``emitter``: called at the run lifecycle's transitions, queues those events (never failing a run);
- ``sender``: delivers the queued events through the openlineage-python client's transport
  (http, file, console), retrying with backoff while the catalog is down.

Nothing here is imported unless ``lineage.openlineage`` is configured: the client costs ~300 ms to import.
"""
