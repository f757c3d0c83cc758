-- Typed orders from every landed file; the latest version of an order wins.
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
QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY updated_at DESC, filename DESC) = 1
