-- One row per order: typed, with unparseable dates and missing customers dropped, and only
-- the latest version of each order kept (the feed re-delivers and updates orders).
WITH typed AS (
    SELECT
        TRY_CAST(order_id AS BIGINT)            AS order_id,
        TRY_CAST(customer_id AS INTEGER)        AS customer_id,
        TRY_CAST(product_id AS INTEGER)         AS product_id,
        COALESCE(TRY_CAST(quantity AS INTEGER), 1) AS quantity,
        TRY_STRPTIME(order_date, '%Y-%m-%d')::DATE AS order_date,
        lower(trim(status))                     AS status,
        TRY_CAST(updated_at AS TIMESTAMP)       AS updated_at
    FROM raw_orders
)
SELECT *
FROM typed
WHERE order_id IS NOT NULL
  AND customer_id IS NOT NULL
  AND order_date IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY updated_at DESC) = 1
