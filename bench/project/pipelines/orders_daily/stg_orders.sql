-- Typed, trimmed orders, one row per order_id (re-deliveries removed: the latest wins).
SELECT
    CAST(order_id AS BIGINT)          AS order_id,
    CAST(customer_id AS BIGINT)       AS customer_id,
    CAST(order_ts AS TIMESTAMP)       AS order_ts,
    CAST(amount AS DECIMAL(12, 2))    AS amount,
    lower(trim(status))               AS status,
    upper(trim(country))              AS country
FROM read_csv($orders_csv, header = true, all_varchar = true)
QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY order_ts DESC) = 1
