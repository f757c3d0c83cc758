"""The operator console: a full-screen Textual app over the engine's client API (``Workspace``).

It browses, edits, launches and watches pipelines; runs are queued in the ledger and executed
by detached workers, never inside the console.
"""
