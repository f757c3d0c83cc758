"""Column masking policies hold through SELECT *, CTEs, joins and aliases; unmasked PII is never published."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import duckdb
from security_helpers import cli, files_containing, write

PEOPLE = [
    (1, "Ada", "ada@example.org", "123-45-6789", "+33 6 12 34 56 78"),
    (2, "Bob", "bob@example.org", "987-65-4321", "+49 151 2345 6789"),
    (3, "Cy", "cy@example.org", "555-12-3456", "0612"),
]
ORDERS = [(10, 1, 12.5), (11, 2, 7.0), (12, 1, 3.25)]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def partial(text: str) -> str:
    return "*" * len(text) if len(text) <= 4 else "*" * (len(text) - 4) + text[-4:]


def pii_project(project: Path, *, people_orders_mask: str = "{contact: hash, phone: redact}") -> Path:
    data = project / "data" / "pii"
    data.mkdir(parents=True)
    with open(data / "people.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([("customer_id", "name", "email", "ssn", "phone"), *PEOPLE])
    with open(data / "orders.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([("order_id", "customer_id", "amount"), *ORDERS])
    folder = project / "pipelines" / "pii"
    write(folder / "pipeline.yaml", f"""\
steps:
  - name: raw_people
    kind: extract
    source: {{path: data/pii/people.csv, options: {{all_varchar: true}}}}
    mask: {{ssn: redact}}
  - name: raw_orders_pii
    kind: extract
    source: {{path: data/pii/orders.csv}}
  - name: people_star
    kind: transform
    mask: {{email: hash, phone: partial}}
  - name: people_orders
    kind: transform
    mask: {people_orders_mask}
""")
    write(folder / "people_star.sql", """\
WITH base AS (SELECT * FROM raw_people),
     enriched AS (SELECT b.*, upper(b.name) AS shout FROM base AS b)
SELECT * FROM enriched
""")
    write(folder / "people_orders.sql", """\
SELECT o.order_id, p.email AS contact, p.phone, o.amount, lower(p.email) AS email_lower
FROM raw_orders_pii AS o
JOIN raw_people AS p ON p.customer_id = o.customer_id
ORDER BY o.order_id
""")
    return project


def table(project: Path, name: str) -> list[dict[str, object]]:
    with duckdb.connect(str(project / ".flowdeck" / "warehouse.duckdb"), read_only=True) as db:
        cursor = db.execute(f"SELECT * FROM {name} ORDER BY 1")
        columns = [column[0] for column in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]


def test_masking_holds_through_select_star_ctes_joins_and_aliases(project: Path) -> None:
    pii_project(project)
    cli(project, "run", "pii", check=0)
    star = table(project, "people_star")
    assert [row["email"] for row in star] == [sha256(person[2]) for person in PEOPLE]
    assert [row["phone"] for row in star] == [partial(person[4]) for person in PEOPLE]
    assert [row["ssn"] for row in star] == ["***"] * 3  # masked once, at extract, and stays masked
    assert [row["shout"] for row in star] == [person[1].upper() for person in PEOPLE]  # the rest is untouched
    joined = table(project, "people_orders")
    emails = {person[0]: person[2] for person in PEOPLE}
    assert [row["contact"] for row in joined] == [sha256(emails[order[1]]) for order in ORDERS]
    assert [row["phone"] for row in joined] == ["***"] * len(ORDERS)
    # `lower(p.email) AS email_lower` derives from the same column as `contact`: masked the same way
    assert [row["email_lower"] for row in joined] == [sha256(emails[order[1]].lower()) for order in ORDERS]
    assert [row["amount"] for row in joined] == [order[2] for order in ORDERS]


def test_unmasked_pii_never_reaches_the_warehouse_file(project: Path) -> None:
    pii_project(project)
    cli(project, "run", "pii", check=0)
    ssns = [person[3].encode() for person in PEOPLE]
    assert files_containing(project / ".flowdeck", ssns) == []  # masked at extract: not even a staging table held them


def test_a_policy_naming_a_column_the_step_does_not_output_fails_before_publishing(project: Path) -> None:
    pii_project(project, people_orders_mask="{contct: hash}")
    failed = cli(project, "run", "pii", check=1)
    assert "`mask` names column `contct`, which this step does not output" in failed.stdout + failed.stderr
    assert "did you mean `contact`?" in failed.stdout + failed.stderr
    with duckdb.connect(str(project / ".flowdeck" / "warehouse.duckdb"), read_only=True) as db:
        tables = {row[0] for row in db.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "people_orders" not in tables and not any(name.startswith("__fd_stage__people_orders") for name in tables)


def test_a_configured_hash_key_makes_the_hash_keyed(project: Path) -> None:
    pii_project(project)
    write(project / "flowdeck.yaml", (project / "flowdeck.yaml").read_text()
          + "\nsecurity:\n  pii_hash_key: ${secret:PII_HASH_KEY}\n")
    key = "pii-key-0a1b2c3d4e5f"
    cli(project, "run", "pii", env={"FLOWDECK_SECRET_PII_HASH_KEY": key}, check=0)
    assert [row["email"] for row in table(project, "people_star")] == [sha256(key + person[2]) for person in PEOPLE]
    assert files_containing(project / ".flowdeck", [key.encode()]) == []


def test_masks_are_shown_in_the_graph_and_in_lineage(project: Path) -> None:
    pii_project(project)
    graph = cli(project, "graph", "pii", check=0).stdout
    assert "people_star (transform) [masks email:hash, phone:partial]" in graph
    assert "raw_people (extract) [masks ssn:redact]" in graph
    assert "[masks contact:hash, phone:redact]" in cli(project, "graph", "pii", "--format", "mermaid", check=0).stdout
    cli(project, "run", "pii", check=0)
    report = json.loads(cli(project, "lineage", "people_orders.email_lower", "--json", check=0).stdout)
    assert {"from": "raw_people.email", "to": "people_orders.email_lower", "pipeline": "pii", "step": "people_orders",
            "masked": "hash (follows contact)", "checksum": None} in report["upstream"]
    pipelines = json.loads(cli(project, "pipelines", "--json", check=0).stdout)
    steps = {step["name"]: step for item in pipelines if item["name"] == "pii" for step in item["steps"]}
    assert steps["people_star"]["mask"] == {"email": "hash", "phone": "partial"}
