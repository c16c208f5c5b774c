"""Rule noise_examples_figure: a few training images per data set with clean and noisy contours per setting."""

from common.rule_script import run_rule
from evaluation.figures import noise_examples_overview


def main(smk) -> None:
    noise_examples_overview("results/prepared", smk.params.noise_dirs, smk.output[0])


run_rule(main, snakemake)
