"""The training engine: data loading and augmentation, backbones, the run config and the epoch loop."""

from training.engine import train
from training.networks import available_backbones, build_network
from training.run_config import RunConfig

__all__ = ["RunConfig", "available_backbones", "build_network", "train"]
