"""Rule table3: Dice of noisy vs clean training masks per data set and setting, beside the paper's."""

from pathlib import Path

from common.rule_script import run_rule
from evaluation.table3 import write_table3


def main(smk) -> None:
    write_table3(
        [Path(path) for path in smk.input.summaries],
        out_md=smk.output.md,
        out_csv=smk.output.csv,
        out_tex=smk.output.tex,
        prepared_root=Path("results/prepared"),
        paper_data_sets=smk.params.paper_data_sets,
    )


run_rule(main, snakemake)
