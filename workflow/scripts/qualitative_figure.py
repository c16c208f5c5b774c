"""Rule qualitative_figure: test images, clean and noisy masks and each variant's prediction for one data set."""

import logging
from pathlib import Path

from common.rule_script import run_rule
from evaluation.qualitative import qualitative_figure


def main(smk) -> None:
    parameters = smk.params.figure
    shown = qualitative_figure(
        Path(smk.input.data).parent,
        predictions=dict(zip(parameters["variants"], smk.input.predictions, strict=True)),
        setting_name=parameters["setting"],
        setting_spec=parameters["setting_spec"],
        resolution=parameters["resolution"],
        figure_paths=[smk.output.png, smk.output.pdf],
        n_images=parameters["n_images"],
        seed=parameters["seed"],
    )
    logging.getLogger("qualitative").info("test images shown: %s", ", ".join(shown))


run_rule(main, snakemake)
