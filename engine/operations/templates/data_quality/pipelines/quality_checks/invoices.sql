-- The invoices file as it is.
SELECT * FROM read_csv('data/invoices.csv', header = true)
