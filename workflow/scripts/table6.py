"""Rule table6: Dice against each rater of the multi-rater runs, beside the paper's Table 6."""

from pathlib import Path

from common.rule_script import run_rule
from evaluation.multi_rater import write_table6


def main(smk) -> None:
    experiment = smk.params.experiment
    write_table6(
        [Path(path).parent for path in smk.input],
        variants=[*experiment["variants"], *experiment.get("sampled_variants", [])],
        paper_rows=experiment.get("paper_rows", {}),
        setting_specs=smk.params.setting_specs,
        paper_data_sets=smk.params.paper_data_sets,
        paths={"md": smk.output.md, "csv": smk.output.csv, "tex": smk.output.tex},
        companion_paths={"md": smk.output.companion_md, "csv": smk.output.companion_csv,
                         "tex": smk.output.companion_tex},
    )


run_rule(main, snakemake)
