"""The one masker: registered values in every spelling, always-masked shapes, payloads and log records."""

from __future__ import annotations

import base64
import json
import logging
import urllib.parse

from flowdeck.engine.masking import MASK, MASKER, install_log_masking, mask, mask_value, register_secret

SECRET = "s3cr3t/p@ss w0rd'x"


def test_a_registered_secret_is_masked_in_every_spelling() -> None:
    register_secret(SECRET)
    spellings = [
        SECRET,
        urllib.parse.quote(SECRET, safe=""),
        urllib.parse.quote_plus(SECRET),
        json.dumps(SECRET)[1:-1],
        SECRET.replace("'", "''"),
        base64.b64encode(SECRET.encode()).decode().rstrip("="),
    ]
    for spelling in spellings:
        text = f"connect failed for user etl with {spelling} at db1"
        assert mask(text) == f"connect failed for user etl with {MASK} at db1", spelling


def test_a_value_shorter_than_the_minimum_is_not_registered_so_letters_survive() -> None:
    assert register_secret("ab") is False
    assert mask("a cab and a bab") == "a cab and a bab"


def test_a_url_password_is_masked_even_when_never_registered() -> None:
    text = "could not connect to postgresql://etl:hunter2hunter2@db.internal:5432/sales"
    assert mask(text) == f"could not connect to postgresql://etl:{MASK}@db.internal:5432/sales"


def test_well_known_token_shapes_are_masked_without_registration() -> None:
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    assert token not in mask(f"pushing with {token}")
    assert "AKIAABCDEFGHIJKLMNOP" not in mask("key AKIAABCDEFGHIJKLMNOP used")


def test_payload_values_under_sensitive_keys_are_replaced_whole() -> None:
    register_secret(SECRET)
    payload = {"password": "short", "channel": {"api_key": "k", "url": f"https://x/?t={SECRET}"}, "rows": 3}
    masked = mask_value(payload)
    assert masked == {"password": MASK, "channel": {"api_key": MASK, "url": f"https://x/?t={MASK}"}, "rows": 3}


def test_log_records_and_their_exceptions_are_masked(caplog: object) -> None:
    install_log_masking()
    register_secret(SECRET)
    logger = logging.getLogger("flowdeck.test.child")  # a child logger: root filters would miss it
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Collect()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    try:
        try:
            raise RuntimeError(f"driver said: bad password {SECRET}")
        except RuntimeError:
            logger.exception("connecting with %s failed", SECRET)
    finally:
        logger.removeHandler(handler)
    assert records and all(SECRET not in line for line in records)
    assert "connecting with *** failed" in records[0] and "bad password ***" in records[0]


def test_contains_secret_tells_whether_text_would_leak() -> None:
    register_secret(SECRET)
    assert MASKER.contains_secret(f"x {SECRET} y")
    assert not MASKER.contains_secret("nothing here")
