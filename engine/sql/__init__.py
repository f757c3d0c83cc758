"""SQL analysis with sqlglot: parsing, the tables a query reads, and run parameters."""
