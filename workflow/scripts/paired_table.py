"""Rule paired_table: each method against the reference methods over per-image Dice (Wilcoxon, bootstrap CI)."""

from pathlib import Path

from common.rule_script import run_rule
from evaluation.statistics import comparison_table, format_comparisons
from evaluation.tables import render_table, write_table


def main(smk) -> None:
    table = comparison_table([Path(path).parent for path in smk.input], smk.params.references)
    caption = (
        "Paired over the same test images: Δ = variant - versus, in Dice points (each image's Dice averaged over "
        "the evaluated last epochs), with a percentile bootstrap 95 % confidence interval (10,000 resamples of "
        "images) and the two-sided Wilcoxon signed-rank p-value."
    )
    title = f"{smk.wildcards.table}: paired comparisons with {', '.join(smk.params.references)}"
    write_table(render_table(format_comparisons(table), title, caption),
                {"md": smk.output.md, "csv": smk.output.csv, "tex": smk.output.tex})


run_rule(main, snakemake)
