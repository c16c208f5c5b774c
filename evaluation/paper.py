"""The GSD-Net paper's published numbers (Tables 3-10), as data in ``evaluation/paper_numbers.csv``.

The CSV has columns ``table,row,column,mean,std`` (``std`` empty where the paper gives none); values are as
printed (Dice in points, 0-100). The extracted paper text dropped the ± sign ("66.864.46" = 66.86 ± 4.46).
Naming scheme per table:

- Table 3 (Dice between simulated noisy and clean masks): rows ``S_R``, ``S_E``, ``S_DE``; columns ``Kvasir``,
  ``Shenzhen``, ``BU_SUC``, ``BraTS2020``. The table's header says "BraTS2019" but the text (Sec. 4.1) uses
  BraTS2020, so the column is recorded as ``BraTS2020``. No std.
- Table 4 (2D simulated noise): rows = method names as printed (``CE Loss``, ``GCE Loss``, ``RCE Loss``, ``RMD``,
  ``ADELE``, ``CDR``, ``Co-Teaching``, ``IDMPS``, ``JoCoR``, ``SP-Guide``, ``MSA``, ``T-Loss``, ``Ours``);
  columns ``"{dataset} {setting}"`` for dataset in Kvasir, Shenzhen, BU_SUC and setting in S_R, S_E, S_DE.
- Table 5 (BraTS2020): rows = methods as printed; columns ``S_R``, ``S_E``, ``S_DE``.
- Table 6 (LIDC, MMIS-2024): rows ``"{method} {rater}"`` for single-rater training (``CE Loss A1`` ..
  ``Ours A4``), ``"{method} Sample {images %}"`` for one sampled rater per image (``CE Loss Sample 25``,
  ``Ours Sample 100``, ``RMD Sample 100``, ...) and ``"D-Persona All {images %}"`` (printed "D-person") for
  training on all raters. The paper prints ``CE Loss Sample 100`` and ``Ours Sample 100`` twice with identical
  values; they are stored once. Columns ``"LIDC Dice_A1"`` .. ``"LIDC Dice_A4"``, ``"LIDC Dice_mean"`` and the
  same with ``MMIS`` (MMIS-2024). As printed, ``Dice_mean`` is the mean of the four raters in every row but
  two: MMIS of ``CE Loss Sample 25`` (raters average 72.28, printed 74.78) and ``CE Loss Sample 50`` (73.79 vs
  75.29); the printed values are kept.
- Table 7 (ablation on Kvasir): rows ``"1"`` .. ``"6"`` (the settings' numbers; the module check marks were
  lost in extraction, row 6 is the full GSD-Net); columns ``S_R``, ``S_E``, ``S_DE``.
- Table 8 (backbones): rows ``"GSD-Net {backbone}"`` and ``"CE Loss {backbone}"`` for backbone in ``UNet++``,
  ``ViT U-Net``, ``U-Net``; columns as Table 4.
- Table 9 (clean subsets vs noisy labels, GSD-Net): rows ``Kvasir``, ``Shenzhen``, ``BU_SUC``; columns
  ``clean 100%``, ``clean 50%``, ``clean 25%``, ``clean 12.5%``, ``noisy S_DE 100%``.
- Table 10 (cost): rows = methods under Table 4's names (printed there as "CE", "GCE", "RCE", "Jocor",
  "SP-guide", "T-loss"); columns ``Training time Kvasir (min)``, ``Training time Shenzhen (min)``,
  ``Training time BU_SUC (min)``, ``Max GPU memory (GB)``, ``Inference (ms/img)``. Not Dice; no std.

Which paper data set a data set of ours is compared with: its config key ``paper_data_set`` if set, else the
table's name mapping (:func:`compared_data_set`). A paper value reached through ``paper_data_set`` (a generated
stand-in's) is a reference, not a reproduction check: the data set is labelled ``synthetic [Kvasir reference]``
in the table (:func:`dataset_label`), and the reproduction summary leaves such cells out
(:func:`is_reference_label`).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import pandas as pd

from common.errors import InputError

#: The CSV of the paper's numbers shipped with the package.
PAPER_NUMBERS_CSV = Path(__file__).with_name("paper_numbers.csv")

#: Tables whose values are Dice scores in points.
DICE_TABLES = ("3", "4", "5", "6", "7", "8", "9")

#: The paper's data sets as named in the CSV's columns: the values of config key ``datasets.<d>.paper_data_set``.
PAPER_DATA_SETS = ("Kvasir", "Shenzhen", "BU_SUC", "BraTS2020", "LIDC", "MMIS")

#: A data set label marked as a stand-in's reference (:func:`dataset_label`), found anywhere in a header or cell.
_REFERENCE_LABEL = re.compile(r"\[(?:" + "|".join(PAPER_DATA_SETS) + r") reference\]")


def load_paper_numbers(path: str | Path = PAPER_NUMBERS_CSV) -> pd.DataFrame:
    """The paper's numbers: ``table``, ``row``, ``column`` (str), ``mean``, ``std`` (float; NaN where not given)."""
    return _load(str(path)).copy()


@functools.lru_cache(maxsize=4)
def _load(path: str) -> pd.DataFrame:
    """Read and validate the CSV once per path."""
    try:
        frame = pd.read_csv(path, dtype={"table": str, "row": str, "column": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise InputError(f"{path}: cannot read paper numbers ({error})") from error
    expected = ["table", "row", "column", "mean", "std"]
    if list(frame.columns) != expected:
        raise InputError(f"{path}: expected columns {expected}, found {list(frame.columns)}")
    if not pd.api.types.is_numeric_dtype(frame["mean"]) or frame["mean"].isna().any():
        raise InputError(f"{path}: column 'mean' must be numeric and complete")
    if frame.duplicated(["table", "row", "column"]).any():
        raise InputError(f"{path}: duplicate (table, row, column) entries")
    frame["std"] = pd.to_numeric(frame["std"], errors="raise").astype(float)
    frame["mean"] = frame["mean"].astype(float)
    return frame


def paper_value(table: str | int, row: str, column: str) -> tuple[float, float | None] | None:
    """The paper's ``(mean, std)`` for one cell (``std`` None where not given), or None if the paper has no cell."""
    frame = _load(str(PAPER_NUMBERS_CSV))
    hit = frame[(frame["table"] == str(table)) & (frame["row"] == row) & (frame["column"] == column)]
    if hit.empty:
        return None
    mean, std = float(hit["mean"].iloc[0]), float(hit["std"].iloc[0])
    return mean, None if math.isnan(std) else std


def compared_data_set(dataset: str, paper_data_sets: Mapping[str, str | None],
                      by_name: Callable[[str], str | None]) -> str | None:
    """The paper data set ``dataset`` is compared with: its ``paper_data_set`` (config) if set, else
    ``by_name(dataset)`` (the table's name mapping), else None."""
    return paper_data_sets.get(dataset) or by_name(dataset)


def dataset_label(dataset: str, paper_data_sets: Mapping[str, str | None]) -> str:
    """``dataset`` as tables name it: ``synthetic [Kvasir reference]`` where its paper values come from its
    ``paper_data_set``, else the name itself."""
    reference = paper_data_sets.get(dataset)
    return f"{dataset} [{reference} reference]" if reference else dataset


def is_reference_label(text: str) -> bool:
    """Whether a table header or cell carries a stand-in's reference label (:func:`dataset_label`)."""
    return bool(_REFERENCE_LABEL.search(text))


def reference_caption(datasets: Iterable[str], paper_data_sets: Mapping[str, str | None]) -> str:
    """A caption sentence on the stand-ins among ``datasets``, with a leading space to append to a caption; empty
    when there are none."""
    stand_ins = [f"{dataset} for {paper_data_sets[dataset]}" for dataset in dict.fromkeys(datasets)
                 if paper_data_sets.get(dataset)]
    if not stand_ins:
        return ""
    return (f" Stand-ins, marked [X reference]: {', '.join(stand_ins)}. Their paper values are X's published "
            "numbers, shown for reference only: their diff is not a reproduction check, and the reproduction "
            "summary does not count it.")
