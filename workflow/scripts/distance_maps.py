"""Rule distance_maps: the capped distance map of every noisy mask (Eq. 8, priors.distance)."""

from common.rule_script import run_rule
from priors.distance import write_distance_maps


def main(smk) -> None:
    write_distance_maps(smk.input[0], smk.output[0], cap=smk.params.cap)


run_rule(main, snakemake)
