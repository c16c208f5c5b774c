"""priors package (being written)."""
