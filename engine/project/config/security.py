"""Security settings: roles, retention, column masking and the encryption of exports."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from flowdeck.engine.project.config.fields import Duration, Model, SecretReference

MaskMethod = Literal["hash", "redact", "partial"]
MASK_DESCRIPTION = (
    "column masking: output column -> hash, redact or partial; columns derived from a masked column "
    "under another name are masked the same way (see docs/security.md)"
)


class ParquetEncryption(Model):
    """Parquet modular encryption of an export: data keys wrapped by a master key from the secrets store."""

    key: SecretReference = Field(
        description="the master key, e.g. ${secret:EXPORT_KEY} (`flowdeck secrets set EXPORT_KEY --generate`)",
        examples=["${secret:EXPORT_KEY}"],
    )
    plaintext_footer: bool = Field(
        default=False, description="leave the footer (schema, row counts) readable without the key",
        examples=[True],
    )


class RolesConfig(Model):
    """Who may do what: OS users (`alice`) and groups (`@etl`) mapped to viewer, operator or admin."""

    admins: list[str] = Field(
        default_factory=list, description="edit pipelines, schedules, secrets and config; prune",
        examples=[["alice"]],
    )
    operators: list[str] = Field(
        default_factory=list, description="run, cancel, resume, roll back, acknowledge",
        examples=[["bob", "@etl"]],
    )
    viewers: list[str] = Field(default_factory=list, description="read only", examples=[["@analysts"]])
    default: Literal["viewer", "operator", "admin"] = Field(
        default="viewer", description="the role of a user listed nowhere",
        examples=["operator"],
    )


class RetentionConfig(Model):
    """How long the ledger keeps things; `flowdeck prune` (and the daemon, daily) removes what is older."""

    runs: Duration | None = Field(
        default=timedelta(days=90), description="finished runs with their steps and checks; null keeps them forever",
        examples=["180d"],
    )
    events: Duration | None = Field(
        default=timedelta(days=30), description="event log lines; at most as long as runs",
        examples=["14d"],
    )
    audit: Duration | None = Field(
        default=timedelta(days=400), description="audit log entries; kept longest (at least as long as runs); null keeps them forever",
        examples=["730d"],
    )
    file_records: Duration | None = Field(
        default=timedelta(days=90), description="records of processed input files and lineage",
        examples=["180d"],
    )
    output_versions: int = Field(
        default=3, ge=1, le=100,
        description="versions of each published table kept for `flowdeck rollback`, the current one included; "
        "a step's `versions:` overrides it",
        examples=[5],
    )

    @model_validator(mode="after")
    def _audit_kept_longest(self) -> RetentionConfig:
        if self.audit is not None:
            for name in ("runs", "events", "file_records"):
                other = getattr(self, name)
                if other is None or other > self.audit:
                    raise ValueError(f"audit entries are kept longest: `audit` must be at least as long as `{name}`")
        if self.events is not None and self.runs is not None and self.events > self.runs:
            raise ValueError("`events` cannot be kept longer than the `runs` they belong to")
        return self


class SecurityConfig(Model):
    """Keys of flowdeck's own security features, as references to secrets."""

    pii_hash_key: SecretReference | None = Field(
        default=None, description="key of `mask: hash` (a keyed hash cannot be reversed by trying every value)",
        examples=["${secret:PII_HASH_KEY}"],
    )
