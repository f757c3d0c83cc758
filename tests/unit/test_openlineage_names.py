"""OpenLineage dataset names: where a dataset lives, without the credentials its address may carry."""

from __future__ import annotations

import pytest

from flowdeck.engine.openlineage.emitter import connection_namespace, masked
from flowdeck.engine.openlineage.events import RunFacts, dataset_name


def _facts() -> RunFacts:
    return RunFacts(project="shop", namespace="shop", run=None, warehouse="duckdb:///srv/wh.duckdb",  # type: ignore[arg-type]
                    connections={"sales": "postgresql://db.example.com:5432"})


@pytest.mark.parametrize(("name", "kind", "expected"), [
    ("orders", "table", ("duckdb:///srv/wh.duckdb", "orders")),
    ("/data/landing/orders.csv", "file", ("file", "/data/landing/orders.csv")),
    ("sales:public.orders", "database", ("postgresql://db.example.com:5432", "public.orders")),
    ("archive:orders", "database", ("flowdeck-connection://archive", "orders")),
    ("https://etl:hunter22@api.example.com:8443/v1/orders?token=abc123", "external",
     ("https://api.example.com:8443", "/v1/orders")),
    ("some-feed", "external", ("external", "some-feed")),
])
def test_a_dataset_is_named_by_where_it_lives(name: str, kind: str, expected: tuple[str, str]) -> None:
    assert dataset_name(_facts(), name, kind) == expected


@pytest.mark.parametrize(("kind", "described", "expected"), [
    ("postgresql", "postgresql://etl@db.example.com:5432/sales", "postgresql://db.example.com:5432"),
    ("postgresql", "postgresql://db.example.com/sales", "postgresql://db.example.com"),
    ("sqlite", "/srv/data/app.sqlite", "sqlite://srv/data/app.sqlite"),
])
def test_a_connection_namespace_has_no_user_and_no_database(kind: str, described: str, expected: str) -> None:
    assert connection_namespace(kind, described) == expected


def test_masking_an_event_reaches_nested_strings_and_keys() -> None:
    from flowdeck.engine.masking import register_secret

    register_secret("a-secret-value-991")
    document = {"run": {"facets": {"errorMessage": {"message": "bad a-secret-value-991"}}},
                "outputs": [{"name": "t", "facets": {"a-secret-value-991": 1}}], "n": 3}
    assert "a-secret-value-991" not in str(masked(document))
    assert masked(document)["n"] == 3
