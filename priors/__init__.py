"""Per-image priors computed once before training: Eq. 8 distance maps and SLIC superpixels (spec, GDA and SGLR)."""

from priors.distance import capped_distance_map, write_distance_maps
from priors.superpixels import n_segments_for, slic_superpixels, write_superpixels

__all__ = ["capped_distance_map", "n_segments_for", "slic_superpixels", "write_distance_maps", "write_superpixels"]
