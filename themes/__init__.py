"""Console themes as data files, one YAML file a theme; shipped as package data."""
