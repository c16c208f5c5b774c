"""Rule train: one (data set, noise setting, method variant, seed) run through the shared engine."""

import logging
from pathlib import Path

from common.atomic import write_json
from common.gpu_slots import gpu_slot
from common.rule_script import run_rule
from common.run_key import RunKey
from training.engine import train
from training.run_config import RunConfig


def main(smk) -> None:
    run = smk.params.run
    prepared_dir = Path(smk.input.data).parent
    noise_dir = Path(smk.input.noisy_masks).parent
    config = RunConfig.from_mapping(
        {
            **run["training"],
            "prepared_dir": str(prepared_dir),
            "noise_dir": str(noise_dir),
            "superpixels_path": smk.input.superpixels,
            "distance_path": smk.input.distance_maps,
            "method": run["method"],
            "method_options": run["method_options"],
            "tau": run["tau"],
            "seed": run["seed"],
        }
    )
    logger = logging.getLogger("train")
    out_dir = Path(smk.output.summary).parent
    with gpu_slot(log=logger.info):
        summary = train(config, out_dir, Path(smk.params.checkpoint_dir), log=logger.info)
    if hasattr(smk.wildcards, "seed"):  # a table run (the tau search's runs live elsewhere)
        key = RunKey(smk.wildcards.dataset, smk.wildcards.setting, smk.wildcards.variant, int(smk.wildcards.seed))
        write_json(out_dir / "summary.json", {**summary, "run_key": key.as_dict()})


run_rule(main, snakemake)
