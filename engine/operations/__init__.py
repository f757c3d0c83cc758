"""Operations: checking an installation (doctor), backups, new projects (scaffold) and new pipelines (assistant)."""
