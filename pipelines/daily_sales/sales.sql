-- Order lines with their customer and product: the base of every sales figure.
SELECT
    o.order_id,
    o.order_date,
    o.status,
    c.country,
    c.segment,
    p.category,
    o.quantity,
    p.unit_price,
    o.quantity * p.unit_price AS amount
FROM orders_clean AS o
JOIN raw_customers AS c ON c.customer_id = o.customer_id
JOIN raw_products AS p ON p.product_id = o.product_id
