-- Paid-for revenue per day, country and customer segment (internal customers excluded).
WITH customers AS (
    SELECT
        CAST(customer_id AS BIGINT)   AS customer_id,
        lower(trim(segment))          AS segment
    FROM read_csv($customers_csv, header = true, all_varchar = true)
)
SELECT
    CAST(o.order_ts AS DATE)          AS day,
    o.country,
    c.segment,
    count(*)                          AS orders,
    count(DISTINCT o.customer_id)     AS customers,
    sum(o.amount)                     AS revenue,
    round(avg(o.amount), 2)           AS avg_order_value
FROM stg_orders AS o
JOIN customers AS c ON c.customer_id = o.customer_id
WHERE o.status IN ('paid', 'shipped', 'delivered')
  AND c.segment <> 'internal'
GROUP BY ALL
ORDER BY day, o.country, c.segment
