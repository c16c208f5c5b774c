"""Rule boundary_table: Dice, HD95 and NSD of a method table's runs from their final test predictions."""

from pathlib import Path

from common.rule_script import run_rule
from evaluation.boundary import write_boundary_table


def main(smk) -> None:
    write_boundary_table(
        smk.input.predictions,
        prepared_root=Path(smk.input.data[0]).parent.parent,
        table=smk.wildcards.table,
        variants=smk.params.variants,
        paths={"md": smk.output.md, "csv": smk.output.csv, "tex": smk.output.tex},
    )


run_rule(main, snakemake)
