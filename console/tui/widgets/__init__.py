"""Small widgets the console's screens are built from."""
