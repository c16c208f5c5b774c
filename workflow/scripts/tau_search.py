"""Rule tau_search_report: search-loss curves over the tau0 sweep (Eq. 20, Fig. 10) and the estimated tau."""

import json
import logging
from pathlib import Path

from common.rule_script import run_rule
from evaluation.tau_search import write_tau_search


def main(smk) -> None:
    search = smk.params.search
    noise_rate = json.loads(Path(smk.input.noise_summary[0]).read_text())["noise_rate"]
    estimate = write_tau_search(
        dict(zip((float(tau) for tau in search["taus"]), smk.input.epochs, strict=True)),
        noise_rate=noise_rate,
        out_png=smk.output.png,
        table_paths={"md": smk.output.md, "csv": smk.output.csv, "tex": smk.output.tex},
        title=f"{search['variant']} on {search['dataset']} {search['setting']}",
    )
    logging.getLogger("tau_search").info("estimated tau %s (measured noise rate %.4f)", estimate, noise_rate)


run_rule(main, snakemake)
