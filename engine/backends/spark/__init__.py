"""The Spark backend: DuckDB-dialect steps transpiled to Spark SQL and run through Spark Connect.

Importing this package never imports pyspark: the transpiler and the lint are pure Python,
and only ``session`` and ``backend`` load pyspark, when a Spark run starts.
"""
