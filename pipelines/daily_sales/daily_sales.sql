-- Revenue per day, country and category, counting only orders that were paid for.
SELECT
    order_date,
    country,
    category,
    count(*)                      AS orders,
    sum(quantity)                 AS units,
    sum(amount)                   AS revenue
FROM sales
WHERE status IN ('paid', 'shipped', 'delivered')
  AND order_date >= $since
GROUP BY order_date, country, category
ORDER BY order_date, country, category
