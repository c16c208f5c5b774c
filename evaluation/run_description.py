"""What a table or figure was computed from, in one sentence for its report caption.

The captions of ``snakemake --report`` are rendered when the report is built, after the runs. A rule passes
``RunDescription(input)`` as a param and its caption prints ``{{ snakemake.params.runs }}``: the text is read from
the runs' ``summary.json`` files only then. Snakemake does not record such an object for its params rerun
trigger, so a finished table is not rebuilt because the description became available.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: Folders whose files belong to a training run (each run folder holds a ``summary.json``).
RUN_FOLDERS = ("runs", "tau_search")


def run_summary_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The ``summary.json`` of every training run a list of input files belongs to (sorted, unique)."""
    summaries = set()
    for path in map(Path, paths):
        if any(part in RUN_FOLDERS for part in path.parts[:-1]):
            summaries.add(path.with_name("summary.json"))
    return sorted(summaries)


def _values(summaries: list[dict[str, Any]], read: Any) -> str:
    return ", ".join(sorted({str(read(summary)) for summary in summaries}))


def describe_runs(paths: Iterable[str | os.PathLike[str]]) -> str:
    """One sentence: how many runs, their data sets, label settings, variants, seeds, epochs and hardware.

    Missing summaries (runs not finished yet) give "runs not finished yet"; no run inputs give "".
    """
    summary_paths = run_summary_paths(paths)
    if not summary_paths:
        return ""
    if not all(path.is_file() for path in summary_paths):
        return "runs not finished yet"
    summaries = [json.loads(path.read_text()) for path in summary_paths]
    folders = [path.parent for path in summary_paths]
    return (
        f"Computed from {len(summaries)} training runs: data sets {_values(folders, lambda f: f.parts[-4])}; "
        f"label settings {_values(folders, lambda f: f.parts[-3])}; "
        f"variants {_values(folders, lambda f: f.parts[-2])}; "
        f"seeds {_values(summaries, lambda s: s.get('seed', '?'))}; "
        f"epochs {_values(summaries, lambda s: s.get('config', {}).get('epochs', '?'))}; "
        f"backbones {_values(summaries, lambda s: s.get('backbone', '?'))}; "
        f"{_inference(summaries, folders)}"
        f"execution {_values(summaries, lambda s: s.get('execution', 'contiguous, fp32'))}; "
        f"hardware {_values(summaries, _hardware)}."
    )


def _inference(summaries: list[dict[str, Any]], folders: list[Path]) -> str:
    """``inference of the two-network methods: fused (summed logits) (Co-Teaching, GSD-Net); `` or ``""``."""
    by_rule: dict[str, set[str]] = {}
    for summary, folder in zip(summaries, folders, strict=True):
        if summary.get("num_networks", 1) > 1:
            rule = summary.get("inference", "fused")
            by_rule.setdefault(INFERENCE_WORDS.get(rule, rule), set()).add(folder.parts[-2])
    if not by_rule:
        return ""
    rules = "; ".join(f"{rule} ({', '.join(sorted(variants))})" for rule, variants in sorted(by_rule.items()))
    return f"inference of the two-network methods: {rules}; "


#: Caption words of each two-network inference rule.
INFERENCE_WORDS = {"fused": "fused (argmax of the summed logits)", "net1": "network 1 alone"}


def _hardware(summary: dict[str, Any]) -> str:
    """``AMD EPYC (cpu, 1 threads)`` from a run summary."""
    return f"{summary.get('device', '?')} ({summary.get('device_type', '?')}, {summary.get('threads', '?')} threads)"


class RunDescription:
    """A rule param whose text (:func:`describe_runs` of the rule's inputs) is read when it is printed."""

    def __init__(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        self.paths = [str(path) for path in paths]

    def __str__(self) -> str:
        return describe_runs(self.paths)

    def __repr__(self) -> str:
        return f"RunDescription({len(self.paths)} input files)"
