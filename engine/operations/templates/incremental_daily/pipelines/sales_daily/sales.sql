-- Typed sales from the newly landed rows; flowdeck merges them into the table by sale_id.
SELECT
    CAST(sale_id AS BIGINT)        AS sale_id,
    trim(store)                    AS store,
    CAST(amount AS DECIMAL(12, 2)) AS amount,
    CAST(sold_at AS TIMESTAMP)     AS sold_at,
    CAST(updated_at AS TIMESTAMP)  AS updated_at,
    filename                       AS source_file
FROM landed_sales
