"""Projects on disk: discovery, YAML with positions, config models and their validation."""
