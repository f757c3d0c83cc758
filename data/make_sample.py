"""Regenerate the example project's sample data (deterministic; the files are committed).

    python data/make_sample.py

orders.csv holds a few thousand orders with the dirt real feeds have: exact re-deliveries,
later versions of the same order, missing customers, unparseable dates and blank quantities.
"""

from __future__ import annotations

import csv
import random
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

HERE = Path(__file__).parent / "sample"
COUNTRIES = ["FR", "DE", "ES", "IT", "NL", "BE", "PT", "SE", "PL", "IE"]
SEGMENTS = ["consumer", "smb", "enterprise"]
CATEGORIES = {"books": (8, 40), "games": (15, 70), "garden": (5, 120), "kitchen": (6, 90), "music": (9, 30)}
STATUSES = ["delivered"] * 6 + ["shipped"] * 2 + ["paid", "cancelled", "returned"]
FIRST_DAY = date(2026, 10, 1)
DAYS = 56


def main() -> None:
    rng = random.Random(20261127)
    HERE.mkdir(parents=True, exist_ok=True)
    customers = write_customers(rng)
    products = write_products(rng)
    write_orders(rng, customers, products)


def write_customers(rng: random.Random) -> list[int]:
    ids = list(range(1, 301))
    with open(HERE / "customers.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", "name", "email", "country", "segment", "signup_date"])
        for customer_id in ids:
            name = f"Customer {customer_id:03d}"
            signup = FIRST_DAY - timedelta(days=rng.randint(10, 900))
            writer.writerow([customer_id, name, f"customer{customer_id:03d}@example.com",
                             rng.choice(COUNTRIES), rng.choice(SEGMENTS), signup.isoformat()])
    return ids


def write_products(rng: random.Random) -> list[int]:
    rows = []
    for product_id in range(1, 61):
        category = list(CATEGORIES)[product_id % len(CATEGORIES)]
        low, high = CATEGORIES[category]
        rows.append((product_id, f"{category.title()} item {product_id:02d}", category,
                     round(rng.uniform(low, high), 2)))
    connection = duckdb.connect()
    connection.execute("CREATE TABLE products (product_id INTEGER, name VARCHAR, category VARCHAR, unit_price DECIMAL(10,2))")
    connection.executemany("INSERT INTO products VALUES (?, ?, ?, ?)", rows)
    connection.execute(f"COPY products TO '{HERE / 'products.parquet'}' (FORMAT parquet)")
    return [row[0] for row in rows]


def write_orders(rng: random.Random, customers: list[int], products: list[int]) -> None:
    rows: list[list[object]] = []
    for order_id in range(100001, 103001):
        day = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
        stamp = datetime(day.year, day.month, day.day, rng.randrange(24), rng.randrange(60), rng.randrange(60))
        rows.append([order_id, rng.choice(customers), rng.choice(products), rng.randint(1, 5),
                     day.isoformat(), rng.choice(STATUSES), stamp.isoformat(sep=" ")])
    dirty: list[list[object]] = []
    for row in rng.sample(rows, 60):  # exact re-deliveries of the same record
        dirty.append(list(row))
    for row in rng.sample(rows, 40):  # a later version of the order: new status, later updated_at
        later = list(row)
        later[5] = "returned"
        later[6] = (datetime.fromisoformat(str(row[6])) + timedelta(days=3)).isoformat(sep=" ")
        dirty.append(later)
    for row in rng.sample(rows, 25):  # customer missing
        row[1] = ""
    for row in rng.sample(rows, 8):  # a customer the customer feed does not know (yet)
        row[1] = 999
    for row in rng.sample(rows, 15):  # dates nobody can parse
        row[4] = rng.choice(["2026-13-45", "n/a", "31/10/2026", ""])
    for row in rng.sample(rows, 10):  # blank quantity
        row[3] = ""
    everything = rows + dirty
    rng.shuffle(everything)
    with open(HERE / "orders.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "customer_id", "product_id", "quantity", "order_date", "status", "updated_at"])
        writer.writerows(everything)


if __name__ == "__main__":
    main()
