-- One row per customer: names trimmed, e-mails lower-cased, rows without an id left out,
-- repeated customers (the same id delivered twice) kept once.
SELECT
    CAST(customer_id AS INTEGER)     AS customer_id,
    trim(name)                       AS name,
    lower(trim(email))               AS email,
    upper(trim(country))             AS country
FROM raw_customers
WHERE customer_id IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY name) = 1
