-- Orders with their customer, typed for the export (SQLite keeps timestamps as text).
SELECT
    o.order_id,
    o.customer_id,
    c.name                              AS customer,
    c.country,
    CAST(o.amount AS DECIMAL(12, 2))    AS amount,
    o.status,
    CAST(o.ordered_at AS TIMESTAMP)     AS ordered_at
FROM orders AS o
JOIN customers AS c USING (customer_id)
ORDER BY o.order_id
