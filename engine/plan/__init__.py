"""Planning: a pipeline's YAML and SQL turned into a DAG of steps, and that DAG described for people."""
