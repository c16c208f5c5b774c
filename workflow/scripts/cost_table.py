"""Rule cost_table: Table 10 (training time, peak GPU memory, inference time) from Table 4's runs."""

from pathlib import Path

from common.rule_script import run_rule
from evaluation.runs import write_cost_table


def main(smk) -> None:
    experiment = smk.params.experiment
    write_cost_table(
        [Path(path).parent for path in smk.input],
        variants=experiment["variants"],
        paper_rows=experiment.get("paper_rows", {}),
        paths={"md": smk.output.md, "csv": smk.output.csv, "tex": smk.output.tex},
        paper_data_sets=smk.params.paper_data_sets,
    )


run_rule(main, snakemake)
