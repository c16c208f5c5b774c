"""Rule table6: Dice against each rater of the multi-rater runs, beside the paper's Table 6."""

from pathlib import Path

from common.rule_script import run_rule
from evaluation.multi_rater import multi_rater_paper_column, write_table6


def main(smk) -> None:
    experiment = smk.params.experiment
    run_dirs = [Path(path).parent for path in smk.input]
    datasets = {run_dir.parent.parent.parent.name for run_dir in run_dirs}
    write_table6(
        run_dirs,
        variants=[*experiment["variants"], *experiment.get("sampled_variants", [])],
        paper_rows=experiment.get("paper_rows", {}),
        setting_specs=smk.params.setting_specs,
        paper_columns={dataset: multi_rater_paper_column(dataset) for dataset in datasets},
        paths={"md": smk.output.md, "csv": smk.output.csv, "tex": smk.output.tex},
    )


run_rule(main, snakemake)
