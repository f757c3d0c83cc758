"""What a user writes for an ``http_extract`` step: the URL, where the records are, the pages, the headers."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from flowdeck.engine.project.config.fields import Duration
from flowdeck.engine.project.config.security import MASK_DESCRIPTION, MaskMethod
from flowdeck.engine.project.config.steps import PublishingStep
from flowdeck.engine.secrets.references import has_reference


class HttpExtractStep(PublishingStep):
    """Read the records of an HTTP/JSON API into a table, following its pages."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "raw_rates", "kind": "http_extract", "url": "https://api.example.com/v1/rates", "records": "data.rates"}]})

    kind: Literal["http_extract"] = Field(description="the step kind", examples=["http_extract"])
    url: str = Field(
        pattern=r"^https?://",
        description="the first page's URL; `{param}` is replaced by a run parameter",
        examples=["https://api.example.com/v1/rates?day={day}"],
    )
    records: str | None = Field(
        default=None, description="dotted path to the list of records in the JSON response; the response itself "
        "when omitted",
        examples=["data.rates"],
    )
    next: str | None = Field(
        default=None, description="dotted path to the next page's URL in the response; one page when omitted",
        examples=["links.next"],
    )
    max_pages: int = Field(default=100, ge=1, description="the most pages read; more is an error", examples=[500])
    headers: dict[str, str] = Field(
        default_factory=dict, description="request headers; a credential is a ${secret:NAME} or ${env:NAME} reference",
        examples=[{"Authorization": "Bearer ${secret:RATES_TOKEN}"}],
    )
    timeout: Duration = Field(default=timedelta(seconds=30), description="how long one request may take",
                              examples=["1m"])
    mask: dict[str, MaskMethod] = Field(default_factory=dict, description=MASK_DESCRIPTION,
                                        examples=[{"email": "hash"}])

    @field_validator("headers")
    @classmethod
    def _credentials_are_references(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if name.lower() in ("authorization", "x-api-key", "cookie") and not has_reference(value):
                raise ValueError(f"header `{name}` holds a credential: write it as a reference, "
                                 "e.g. `Bearer ${secret:API_TOKEN}`")
        return headers
