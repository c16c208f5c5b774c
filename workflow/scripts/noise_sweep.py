"""Rule noise_sweep_report: Fig. 11, test Dice against the measured noise level of each sweep point."""

from pathlib import Path

from common.rule_script import run_rule
from evaluation.noise_sweep import write_noise_sweep


def main(smk) -> None:
    settings = smk.params.settings
    write_noise_sweep(
        [Path(path).parent for path in smk.input.runs],
        noise_summaries=dict(zip(settings, smk.input.noise, strict=True)),
        sweep=smk.params.sweep,
        settings=settings,
        figure_paths=[smk.output.png, smk.output.pdf],
        table_paths={"md": smk.output.md, "csv": smk.output.csv, "tex": smk.output.tex},
    )


run_rule(main, snakemake)
