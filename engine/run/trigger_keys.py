"""Trigger keys: what makes two requests "the same run". The ledger starts one run per key.

A manual request carries a request id chosen by the caller (a retried script sends the same
one); a schedule fires once per slot; a file trigger fires once per file content (or once per
micro-batch of contents); a follower runs once per set of upstream publishes; a run is resumed once. Keys name the pipeline, so the same id in two pipelines is two runs.
A request id is scoped to its environment too: the same id in prod and in ``dev`` is two runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from flowdeck.state.records import iso


def manual_key(pipeline: str, request_id: str, environment: str = "prod") -> str:
    """A manual run asked for with ``--request-id``: ``manual:P:ID`` in prod (as before environments), and
    ``manual:P@ENV:ID`` in a development environment, so a request for dev never answers with prod's run
    (or prod's with dev's). A pipeline name is an identifier: no ``@`` in it, so the two never meet."""
    scope = pipeline if environment == "prod" else f"{pipeline}@{environment}"
    return f"manual:{scope}:{request_id}"


def schedule_key(pipeline: str, slot: float) -> str:
    """A scheduled run: the slot (unix time) it was due at, whoever fires it and however often."""
    return f"schedule:{pipeline}:{iso(slot)}"


def file_key(pipeline: str, sha256: str) -> str:
    """A file-triggered run: the content that landed (the same bytes under another name are the same)."""
    return f"file:{pipeline}:{sha256}"


def batch_key(pipeline: str, sha256s: Iterable[str]) -> str:
    """A micro-batch of file contents: the set of them, so the same batch asked for twice is one run."""
    members = hashlib.sha256("\n".join(sorted(set(sha256s))).encode()).hexdigest()
    return f"files:{pipeline}:{members}"


def after_key(pipeline: str, taken: Mapping[str, str]) -> str:
    """A run of a pipeline that follows others (``after:``): the upstream runs whose publishes it was
    started for, by pipeline (``after:daily:orders=RUN,customers=RUN``), so a set is followed once."""
    return f"after:{pipeline}:" + ",".join(f"{upstream}={run_id}" for upstream, run_id in sorted(taken.items()))


def resume_key(parent_run_id: str) -> str:
    """The run resuming ``parent_run_id`` (a run is resumed at most once; resume the resumer next)."""
    return f"resume:{parent_run_id}"
