"""Rule method_table: Tables 4, 7 and 8 from the runs' summaries, beside the paper's numbers."""

from pathlib import Path

from common.rule_script import run_rule
from evaluation.runs import write_method_table


def main(smk) -> None:
    experiment = smk.params.experiment
    write_method_table(
        [Path(path).parent for path in smk.input],
        table=smk.wildcards.table,
        variants=experiment["variants"],
        paper_rows=experiment.get("paper_rows", {}),
        paths={"md": smk.output.md, "csv": smk.output.csv, "tex": smk.output.tex},
        paper_data_sets=smk.params.paper_data_sets,
        not_run=smk.params.not_run,
    )


run_rule(main, snakemake)
