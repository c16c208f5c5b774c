"""adapters package (being written)."""
