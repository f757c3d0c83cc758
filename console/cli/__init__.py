"""The `flowdeck` command line."""
