"""Running an ``http_extract`` step: fetch every page, stage the records as Arrow, check, publish."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from flowdeck.engine.backends.base import ARROW_RELATION
from flowdeck.engine.errors import StepFailed
from flowdeck.engine.plan.planner import PlannedStep
from flowdeck.engine.secrets import resolve
from flowdeck.engine.sql.params import bind_path
from flowdeck.engine.steps.column_policies import apply_masking
from flowdeck.engine.steps.context import StepContext, StepResult
from flowdeck.engine.steps.publish import publish_checked

from flowdeck_http_extract.config import HttpExtractStep


def run(context: StepContext, step: PlannedStep, config: HttpExtractStep) -> StepResult:
    """Fetch the records, stage them (masked first when the step masks columns), then check and publish."""
    import pyarrow as pa  # here, not at import: flowdeck loads this module to validate configs

    assert step.output is not None
    url = bind_path(config.url, context.params)
    headers = {name: resolve(value, context.project) for name, value in config.headers.items()}
    records: list[dict[str, Any]] = []
    pages = 0
    next_url: str | None = url
    while next_url:
        pages += 1
        if pages > config.max_pages:
            raise StepFailed(f"step `{step.name}`: {_shown(url)} has more than {config.max_pages} pages",
                             hint="raise `max_pages:`, or narrow the request with a parameter")
        document = _fetch(step.name, next_url, headers, config.timeout.total_seconds())
        records.extend(_records(step.name, document, config.records))
        following = _at(document, config.next) if config.next else None
        next_url = urllib.parse.urljoin(next_url, following) if isinstance(following, str) and following else None
        context.progress(step.name, "fetched")(len(records), pages)
    if not records:
        raise StepFailed(f"step `{step.name}`: {_shown(url)} returned no records, so there are no columns to make "
                         "a table of", hint="check `records:` (where the list is in the response)")
    table = pa.Table.from_pylist(records)
    select = None
    if config.mask:
        select = apply_masking(context, step, f"SELECT * FROM {ARROW_RELATION}", config.mask,
                               columns=table.column_names)
    staged = context.backend.stage_arrow(context.run_id, step.output, table.to_reader(), sql=select)
    result = publish_checked(context, step, staged)
    result.note = f"{len(records):,} records from {pages} page(s)"
    context.record_lineage(step.name, output=step.output, output_kind="table", output_checksum=staged.checksum,
                           inputs=[(_shown(url), "external", None)])
    return result


def _fetch(step: str, url: str, headers: dict[str, str], timeout: float) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the URL is http(s) by its model
            body = response.read()
    except urllib.error.HTTPError as error:
        retry = error.code >= 500 or error.code == 429  # the server's trouble, not the request's
        raise StepFailed(f"step `{step}`: {_shown(url)} answered {error.code} {error.reason}", transient=retry,
                         hint=None if retry else "check the URL, its parameters and the credentials") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        raise StepFailed(f"step `{step}`: cannot reach {_shown(url)}: {reason}", transient=True) from None
    try:
        return json.loads(body)
    except ValueError:
        raise StepFailed(f"step `{step}`: {_shown(url)} did not answer JSON") from None


def _records(step: str, document: Any, path: str | None) -> list[dict[str, Any]]:
    found = _at(document, path) if path else document
    if not isinstance(found, list) or not all(isinstance(item, dict) for item in found):
        where = f"at `{path}`" if path else "at the top of the response"
        raise StepFailed(f"step `{step}`: expected a list of JSON objects {where}, found {type(found).__name__}",
                         hint="set `records:` to the dotted path of the list, e.g. data.items")
    return found


def _at(document: Any, path: str) -> Any:
    for key in path.split("."):
        document = document.get(key) if isinstance(document, dict) else None
    return document


def _shown(url: str) -> str:
    """The URL as messages and lineage show it: no query string (it may carry a token)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
