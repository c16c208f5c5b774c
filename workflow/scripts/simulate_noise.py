"""Rule simulate_noise: noisy training masks, per-image statistics and the noise rate (noise.simulate)."""

from pathlib import Path

from common.rule_script import run_rule
from noise.simulate import simulate_dataset


def main(smk) -> None:
    simulate_dataset(
        prepared_dir=Path(smk.input.data).parent,
        out_dir=Path(smk.output.masks).parent,
        dataset=smk.wildcards.dataset,
        setting_name=smk.wildcards.setting,
        setting_spec=dict(smk.params.setting),
        resolution=smk.params.resolution,
        seed=smk.params.seed,
        workers=smk.threads,
    )


run_rule(main, snakemake)
