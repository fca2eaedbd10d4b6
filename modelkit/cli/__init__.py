"""One module per CLI command (see modelkit/__main__.py)."""
