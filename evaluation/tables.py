"""Table rendering: one DataFrame of formatted strings -> Markdown, CSV and LaTeX (booktabs).

Dice values in tables are in points (0-100) with two decimals, written ``mean ± std``. A comparison with the
paper uses three cells per entry: ours, the paper's, and the signed difference ours - paper in Dice points.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping

import pandas as pd

from common.atomic import write_text

#: Cell text where a value is absent.
MISSING = "—"

#: The paper's settings first, in its order; other settings follow alphabetically.
SETTING_ORDER = ("S_R", "S_E", "S_DE")

#: Output formats produced by :func:`render_table`.
FORMATS = ("md", "csv", "tex")

_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "%": r"\%", "_": r"\_", "&": r"\&", "#": r"\#", "$": r"\$", "{": r"\{",
    "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$", "—": "---",
}


#: Suffix of the 3D (BraTS) variants of the paper's settings: S_R_3D is the paper's S_R column for BraTS.
SETTING_3D_SUFFIX = "_3D"


def paper_setting(setting: str) -> str:
    """The paper's name of a noise setting: ``S_R_3D`` -> ``S_R`` (and S_E_3D, S_DE_3D); others unchanged."""
    base = setting.removesuffix(SETTING_3D_SUFFIX)
    return base if base in SETTING_ORDER else setting


def setting_sort_key(setting: str) -> tuple[int, str]:
    """Sort key putting S_R, S_E, S_DE (and their 3D variants) first (paper order), then others alphabetically."""
    if paper_setting(setting) in SETTING_ORDER:
        return SETTING_ORDER.index(paper_setting(setting)), setting
    return len(SETTING_ORDER), setting


def _is_missing(value: float | None) -> bool:
    """True for None or NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_mean_std(mean: float | None, std: float | None, digits: int = 2) -> str:
    """``"80.04 ± 0.42"``; just the mean when ``std`` is None/NaN; ``"—"`` when ``mean`` is None/NaN."""
    if _is_missing(mean):
        return MISSING
    if _is_missing(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def comparison_columns(ours_mean: float | None, ours_std: float | None, paper_mean: float | None,
                       paper_std: float | None) -> dict[str, str]:
    """Cells ``ours``, ``paper`` and ``diff`` (ours - paper, signed, Dice points; ``"—"`` if either is absent)."""
    diff = MISSING if _is_missing(ours_mean) or _is_missing(paper_mean) else f"{ours_mean - paper_mean:+.2f}"
    return {"ours": format_mean_std(ours_mean, ours_std), "paper": format_mean_std(paper_mean, paper_std),
            "diff": diff}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters; ``±`` becomes ``$\\pm$`` and ``—`` becomes ``---``."""
    return "".join(_LATEX_SPECIALS.get(char, char) for char in text)


def _markdown_cell(text: str) -> str:
    """Markdown-safe cell text (pipes escaped, newlines flattened)."""
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(frame: pd.DataFrame, title: str, caption: str) -> str:
    """A Markdown table with a bold title line above and the caption below."""
    header = "| " + " | ".join(_markdown_cell(str(column)) for column in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(_markdown_cell(str(cell)) for cell in row) + " |"
            for row in frame.itertuples(index=False)]
    parts = [f"**{title}**", "", header, rule, *body]
    if caption:
        parts += ["", caption]
    return "\n".join(parts) + "\n"


def render_csv(frame: pd.DataFrame) -> str:
    """The frame as CSV (no index); title and caption are not part of the data."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def render_latex(frame: pd.DataFrame, title: str, caption: str) -> str:
    """A booktabs ``table`` environment; the caption is the title followed by the caption text."""
    column_spec = "l" + "r" * (len(frame.columns) - 1)
    header = " & ".join(latex_escape(str(column)) for column in frame.columns) + r" \\"
    body = [" & ".join(latex_escape(str(cell)) for cell in row) + r" \\" for row in frame.itertuples(index=False)]
    full_caption = latex_escape(f"{title}. {caption}" if caption else title)
    lines = [
        r"\begin{table}[t]", r"\centering", rf"\caption{{{full_caption}}}", rf"\begin{{tabular}}{{{column_spec}}}",
        r"\toprule", header, r"\midrule", *body, r"\bottomrule", r"\end{tabular}", r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def render_table(frame: pd.DataFrame, title: str, caption: str) -> dict[str, str]:
    """Render a frame of formatted strings as ``{"md": ..., "csv": ..., "tex": ...}`` (the index is ignored)."""
    if frame.columns.empty:
        raise ValueError("cannot render a table without columns")
    return {"md": render_markdown(frame, title, caption), "csv": render_csv(frame),
            "tex": render_latex(frame, title, caption)}


def write_table(outputs: Mapping[str, str], paths: Mapping[str, str | os.PathLike[str]]) -> None:
    """Write each rendered format to its path atomically; ``paths`` has keys ``md``, ``csv``, ``tex``."""
    missing = [key for key in FORMATS if key not in paths or key not in outputs]
    if missing:
        raise ValueError(f"write_table needs formats {list(FORMATS)}; missing {missing}")
    for key in FORMATS:
        write_text(paths[key], outputs[key])
