"""Rule superpixels: SLIC superpixels of every training image, once (priors.superpixels)."""

from pathlib import Path

from common.rule_script import run_rule
from priors.superpixels import write_superpixels


def main(smk) -> None:
    write_superpixels(Path(smk.input.data).parent, smk.output[0], workers=smk.threads,
                      channels=smk.params.channels, n_segments=smk.params.n_segments)


run_rule(main, snakemake)
