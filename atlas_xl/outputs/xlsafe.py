"""Writing outsiders' text into spreadsheets and CSV so that it is shown, never evaluated.

Excel treats a cell typed as `=`, `+`, `-`, `@` (and a leading tab / carriage return) as a formula.
openpyxl stores any str starting with "=" as a formula unless the cell type is forced to string.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from openpyxl.cell.cell import Cell, WriteOnlyCell
from openpyxl.utils.exceptions import IllegalCharacterError
from openpyxl.worksheet.worksheet import Worksheet

from atlas_xl.domain.cell_text import (  # noqa: F401 - re-exported for the writers
    FORMULA_TRIGGER_CLASS,
    FORMULA_TRIGGERS,
    MAX_CELL_TEXT,
    UNWRITABLE,
    UNWRITABLE_RE2,
    joined_text,
    text_bytes,
)
from atlas_xl.errors import BadInput


class UnwritableTextError(BadInput, IllegalCharacterError):
    """Text with a character no xlsx cell can hold. Also an IllegalCharacterError, which openpyxl raised before."""


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


def sheet_texts(texts: list[str], locate: Callable[[int], str]) -> tuple[list[str], list[bool]]:
    """`set_text` for a whole column at once: the texts as a cell stores them and which are formula-like.

    Same rules as openpyxl's per-cell check (text cut to 32,767 characters, then refused if it holds a
    character a cell cannot carry); a refusal names the cell via `locate(index)`.
    """
    if max(map(len, texts), default=0) > MAX_CELL_TEXT:
        texts = [t[:MAX_CELL_TEXT] for t in texts]
    # one scan of the joined column finds whether any text is bad (the joiner "\n" is a legal character)
    if UNWRITABLE.search("\n".join(texts)):
        index = next(i for i, t in enumerate(texts) if UNWRITABLE.search(t))
        bad = UNWRITABLE.search(texts[index])
        assert bad is not None
        raise UnwritableTextError(f"{locate(index)}: the text {texts[index]!r} holds the character "
                                  f"U+{ord(bad.group()):04X}, which a spreadsheet cell cannot hold")
    return texts, [t.startswith(FORMULA_TRIGGERS) for t in texts]


def sheet_text_array(texts: pa.Array, locate: Callable[[int], str]) -> tuple[pa.Array, pa.Array]:
    """`sheet_texts` for an Arrow string column (no nulls): the texts as cells store them and which are
    formula-like. The rare column with a text to cut or refuse goes through `sheet_texts` itself."""
    longest = pc.max(pc.utf8_length(texts)).as_py() or 0
    if longest > MAX_CELL_TEXT or pc.match_substring_regex(joined_text(texts), UNWRITABLE_RE2)[0].as_py():
        cut, quoted = sheet_texts(texts.to_pylist(), locate)
        return pa.array(cut, texts.type), pa.array(quoted, pa.bool_())
    return texts, pc.match_substring_regex(texts, "^" + FORMULA_TRIGGER_CLASS)


def csv_safe(text: str) -> str:
    """CSV has no cell types: prefix a formula-like text with an apostrophe (OWASP CSV injection rule)."""
    return "'" + text if is_formula_like(text) else text
