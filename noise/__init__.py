"""Label-noise simulation (spec, "Label-noise simulation"): Markov boundary noise, dilation/erosion, per-sample seeds.

Command line: ``python -m noise --help``.
"""

from noise.markov import markov_boundary_noise, markov_chain_steps
from noise.morphology import dilate_erode_noise
from noise.seeding import sample_seed
from noise.settings import PAPER_SETTINGS, DilateErodeSetting, MarkovSetting, NoiseSetting, parse_setting
from noise.simulate import simulate_dataset, simulate_folder

__all__ = [
    "PAPER_SETTINGS",
    "DilateErodeSetting",
    "MarkovSetting",
    "NoiseSetting",
    "dilate_erode_noise",
    "markov_boundary_noise",
    "markov_chain_steps",
    "parse_setting",
    "sample_seed",
    "simulate_dataset",
    "simulate_folder",
]
