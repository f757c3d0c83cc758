"""Steps by stage: what each step kind does to the data, write-audit-publish.

- ``dispatch``: ``run_step`` hands a planned step to its kind; ``bytes_moved`` for the executor;
- ``extract``, ``transform``, ``check``, ``load``: one module per step kind (files and databases);
- ``publish``: stage, run the blocking checks on the staged data, publish; files written beside
  and renamed into place;
- ``context``: what a step is given (``StepContext``) and gives back (``StepResult``);
- ``check_queries``, ``incremental``, ``column_policies``, ``input_files``: what the kinds share
  (checks as SQL, delta planning and batch shaping, column masking, input file fingerprints).

Steps run on a ``Backend`` (engine.backends) and, for databases, through engine.connectors; the
run lifecycle (engine.run) calls ``run_step`` and records what it returns.
"""
