-- Typed orders with their amount. Rows whose id, date or quantity cannot be read are left out;
-- an order delivered in several files keeps the version of the latest file.
SELECT
    CAST(o.order_id AS BIGINT)                    AS order_id,
    CAST(o.customer_id AS INTEGER)                AS customer_id,
    CAST(o.product_id AS INTEGER)                 AS product_id,
    p.product                                     AS product,
    CAST(o.quantity AS INTEGER)                   AS quantity,
    CAST(o.quantity AS INTEGER) * p.unit_price    AS amount,
    CAST(o.order_date AS DATE)                    AS order_date,
    lower(trim(o.status))                         AS status
FROM raw_orders AS o
LEFT JOIN raw_products AS p ON p.product_id = TRY_CAST(o.product_id AS INTEGER)
WHERE TRY_CAST(o.order_id AS BIGINT) IS NOT NULL
  AND TRY_CAST(o.order_date AS DATE) IS NOT NULL
  AND TRY_CAST(o.quantity AS INTEGER) IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY o.order_id ORDER BY o.filename DESC) = 1
