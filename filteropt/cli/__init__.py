"""Command-line interface: one module per sub-command; each only parses and calls the library."""
