-- Sales per city; $min_amount is a run parameter (flowdeck run hello --param min_amount=10).
SELECT
    city,
    count(*)     AS sales,
    sum(amount)  AS revenue
FROM raw_sales
WHERE amount >= $min_amount
GROUP BY city
ORDER BY city
