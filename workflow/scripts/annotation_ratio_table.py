"""Rule annotation_ratio_table: Table 9 (clean-label shares against all noisy labels) from its runs."""

from pathlib import Path

from common.rule_script import run_rule
from evaluation.annotation_ratio import write_annotation_ratio_table


def main(smk) -> None:
    write_annotation_ratio_table(
        [Path(path).parent for path in smk.input],
        cells=smk.params.cells,
        paper_variant=smk.params.paper_variant,
        paths={"md": smk.output.md, "csv": smk.output.csv, "tex": smk.output.tex},
        paper_data_sets=smk.params.paper_data_sets,
    )


run_rule(main, snakemake)
