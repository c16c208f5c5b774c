"""training package (being written)."""
