-- Run by the database (SQLite here), not by DuckDB: its own SQL dialect applies.
SELECT customer_id, name, country
FROM customers
