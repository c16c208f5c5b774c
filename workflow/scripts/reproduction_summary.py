"""Rule reproduction_summary: cells of every table within ±1 and ±2 Dice points of the paper."""

from common.rule_script import run_rule
from evaluation.reproduction import reproduction_summary
from evaluation.tables import render_table, write_table


def main(smk) -> None:
    summary = reproduction_summary(smk.input).astype(str)
    caption = ("A cell counts when both ours and the paper's value exist. A stand-in's cells (marked [X reference]: "
               "their paper value is data set X's, shown for reference) are not a reproduction check and are not "
               "counted; their number is in the last column.")
    write_table(render_table(summary, "Reproduction summary", caption),
                {"md": smk.output.md, "csv": smk.output.csv, "tex": smk.output.tex})


run_rule(main, snakemake)
