"""Writing outsiders' text into spreadsheets and CSV so that it is shown, never evaluated.

Excel treats a cell typed as `=`, `+`, `-`, `@` (and a leading tab / carriage return) as a formula.
openpyxl stores any str starting with "=" as a formula unless the cell type is forced to string.
"""

from __future__ import annotations

import re
from typing import Any

from openpyxl.cell.cell import Cell, WriteOnlyCell
from openpyxl.worksheet.worksheet import Worksheet

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# the same set as a regex character class, for vectorised (Arrow / pandas) guarding of whole columns
FORMULA_TRIGGER_CLASS = "[" + "".join(re.escape(t) for t in FORMULA_TRIGGERS) + "]"


def is_formula_like(text: str) -> bool:
    return text.startswith(FORMULA_TRIGGERS)


def set_text(cell: Cell | WriteOnlyCell, text: str) -> None:
    """Put `text` in a cell as a plain string (never a formula), shown exactly as given."""
    cell.value = text
    cell.data_type = "s"
    if is_formula_like(text):
        cell.quotePrefix = True  # Excel shows it as text and keeps it text when the cell is edited


def set_value(cell: Cell | WriteOnlyCell, value: Any) -> None:
    """Numbers, dates and booleans as themselves; every str as safe text."""
    if isinstance(value, str):
        set_text(cell, value)
    else:
        cell.value = value


def safe_cell(ws: Worksheet, value: Any) -> WriteOnlyCell:
    """A write-only cell holding `value` safely (for write-only worksheets)."""
    if isinstance(value, str):
        cell = WriteOnlyCell(ws)
        set_text(cell, value)
        return cell
    return WriteOnlyCell(ws, value)  # numbers, dates, None: bound once


def csv_safe(text: str) -> str:
    """CSV has no cell types: prefix a formula-like text with an apostrophe (OWASP CSV injection rule)."""
    return "'" + text if is_formula_like(text) else text
