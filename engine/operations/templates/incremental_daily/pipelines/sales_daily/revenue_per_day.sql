-- Revenue per day and store, from every sale stored so far (each in its latest version).
SELECT
    CAST(sold_at AS DATE)  AS day,
    store,
    count(*)               AS sales,
    sum(amount)            AS revenue
FROM sales
GROUP BY ALL
ORDER BY day, store
