"""Rule tau_search_report: search-loss curves over the tau0 sweep (Eq. 20, Fig. 10), the estimated tau, and the
final Dice against tau0 (Fig. 9)."""

import json
import logging
from pathlib import Path

from common.rule_script import run_rule
from evaluation.tau_search import write_tau_search, write_tau_sensitivity


def main(smk) -> None:
    search = smk.params.search
    noise_rate = json.loads(Path(smk.input.noise_summary[0]).read_text())["noise_rate"]
    taus = [float(tau) for tau in search["taus"]]
    title = f"{search['variant']} on {search['dataset']} {search['setting']}"
    estimate = write_tau_search(
        dict(zip(taus, smk.input.epochs, strict=True)),
        noise_rate=noise_rate,
        figure_paths=[smk.output.png, smk.output.pdf],
        table_paths={"md": smk.output.md, "csv": smk.output.csv, "tex": smk.output.tex},
        title=title,
    )
    write_tau_sensitivity(dict(zip(taus, smk.input.summaries, strict=True)), noise_rate,
                          [smk.output.sensitivity_png, smk.output.sensitivity_pdf], title)
    logging.getLogger("tau_search").info("estimated tau %s (measured noise rate %.4f)", estimate, noise_rate)


run_rule(main, snakemake)
