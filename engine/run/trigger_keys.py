"""Trigger keys: what makes two requests "the same run". The ledger starts one run per key.

A manual request carries a request id chosen by the caller (a retried script sends the same
one); a schedule fires once per slot; a file trigger fires once per file content (or once per
micro-batch of contents); a follower runs once per set of upstream publishes; a run is resumed once.
Keys name the pipeline, so the same id in two pipelines is two runs, and its environment outside prod
(``P@dev``; prod's keys are spelled as before environments), so a trigger of ``dev`` and one of prod
that fire for the same slot, file or publish are two runs, never one answering for the other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from flowdeck.state.records import iso


def _scope(pipeline: str, environment: str) -> str:
    """The pipeline in prod (keys as before environments), ``P@ENV`` elsewhere: a pipeline name is an
    identifier, with no ``@`` in it, so the two never meet."""
    return pipeline if environment == "prod" else f"{pipeline}@{environment}"


def manual_key(pipeline: str, request_id: str, environment: str = "prod") -> str:
    """A manual run asked for with ``--request-id``: ``manual:P:ID`` in prod, ``manual:P@ENV:ID`` in a
    development environment, so a request for dev never answers with prod's run (or prod's with dev's)."""
    return f"manual:{_scope(pipeline, environment)}:{request_id}"


def schedule_key(pipeline: str, slot: float, environment: str = "prod") -> str:
    """A scheduled run: the slot (unix time) it was due at, whoever fires it and however often."""
    return f"schedule:{_scope(pipeline, environment)}:{iso(slot)}"


def file_key(pipeline: str, sha256: str, environment: str = "prod") -> str:
    """A file-triggered run: the content that landed (the same bytes under another name are the same)."""
    return f"file:{_scope(pipeline, environment)}:{sha256}"


def batch_key(pipeline: str, sha256s: Iterable[str], environment: str = "prod") -> str:
    """A micro-batch of file contents: the set of them, so the same batch asked for twice is one run."""
    members = hashlib.sha256("\n".join(sorted(set(sha256s))).encode()).hexdigest()
    return f"files:{_scope(pipeline, environment)}:{members}"


def after_key(pipeline: str, taken: Mapping[str, str], environment: str = "prod") -> str:
    """A run of a pipeline that follows others (``after:``): the upstream runs whose publishes it was
    started for, by pipeline (``after:daily:orders=RUN,customers=RUN``), so a set is followed once."""
    pairs = ",".join(f"{upstream}={run_id}" for upstream, run_id in sorted(taken.items()))
    return f"after:{_scope(pipeline, environment)}:{pairs}"


def resume_key(parent_run_id: str) -> str:
    """The run resuming ``parent_run_id`` (a run is resumed at most once; resume the resumer next)."""
    return f"resume:{parent_run_id}"
