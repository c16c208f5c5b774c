"""Rule prepare_dataset: a data set as released -> the prepared form (adapters.prepare_dataset)."""

from pathlib import Path

from adapters import prepare_dataset
from common.rule_script import run_rule


def main(smk) -> None:
    entry = smk.params.entry
    prepare_dataset(
        dataset=smk.wildcards.dataset,
        adapter=entry["adapter"],
        path=entry.get("path"),
        out_dir=Path(smk.output.data).parent,
        working_size=entry["working_size"],
        options=entry.get("options"),
        split_seed=smk.params.seed,
        n_test=entry.get("n_test"),
        test_fraction=entry.get("test_fraction"),
        workers=smk.threads,
    )


run_rule(main, snakemake)
