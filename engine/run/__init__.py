"""Executing runs: the executor, the steps it runs, and the checks it applies."""
