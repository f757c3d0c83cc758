-- The customers file as it is, columns typed by DuckDB's CSV sniffer.
SELECT * FROM read_csv('data/customers.csv', header = true)
