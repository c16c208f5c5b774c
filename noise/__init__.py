"""noise package (being written)."""
