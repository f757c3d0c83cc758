"""Execution backends: the one interface every step goes through, and its implementations."""
