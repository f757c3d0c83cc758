"""Governance: who may do what (roles), who did what (audit), what is kept (retention), where data flows (lineage)."""
