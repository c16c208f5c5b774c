"""Rule rater_agreement: the raters' pairwise Dice per multi-rater data set (figure and CSV)."""

from pathlib import Path

from common.rule_script import run_rule
from evaluation.multi_rater import write_rater_agreement


def main(smk) -> None:
    write_rater_agreement({Path(path).parent.name: Path(path).parent for path in smk.input},
                          [smk.output.png, smk.output.pdf], smk.output.csv)


run_rule(main, snakemake)
