-- Typed orders from the newly landed rows; flowdeck merges them into the table by order_id,
-- keeping the latest version of each order (on_duplicate: update, order_by updated_at).
SELECT
    TRY_CAST(order_id AS BIGINT)       AS order_id,
    TRY_CAST(customer_id AS INTEGER)   AS customer_id,
    TRY_CAST(product_id AS INTEGER)    AS product_id,
    TRY_CAST(quantity AS INTEGER)      AS quantity,
    TRY_CAST(order_date AS DATE)       AS order_date,
    lower(trim(status))                AS status,
    TRY_CAST(updated_at AS TIMESTAMP)  AS updated_at,
    filename                           AS source_file
FROM landed_orders
WHERE TRY_CAST(order_id AS BIGINT) IS NOT NULL
