"""What a person touches: the typer CLI (console/cli/) and the Textual app (console/tui/)."""
