"""What a spreadsheet cell can hold and what Excel would take for a formula: the rules the loader checks
input text against and the writers guard output text with (outputs/xlsafe.py), stated once.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

# openpyxl's ILLEGAL_CHARACTERS_RE (C0 controls other than tab, LF and CR), written out so that the domain
# needs no workbook library; tests/test_report_cells.py checks it equals openpyxl's.
CONTROL_CHARACTERS = r"[\000-\010]|[\013-\014]|[\016-\037]"
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# the same set as a regex character class, for vectorised (Arrow / pandas) guarding of whole columns
FORMULA_TRIGGER_CLASS = "[" + "".join(re.escape(t) for t in FORMULA_TRIGGERS) + "]"
MAX_CELL_TEXT = 32_767  # Excel's limit; openpyxl cuts longer text to it
# What a cell cannot hold: openpyxl's refused control characters, plus what XML 1.0 cannot carry at all
# (lone surrogates, U+FFFE, U+FFFF), which would otherwise fail deep inside the XML writer.
UNWRITABLE = re.compile(CONTROL_CHARACTERS + "|[\ud800-\udfff\ufffe\uffff]")
# The same for Arrow's RE2 over UTF-8 text, which cannot hold a lone surrogate (tests compare every code point).
UNWRITABLE_RE2 = CONTROL_CHARACTERS + r"|[\x{FFFE}\x{FFFF}]"


def joined_text(texts: pa.Array) -> pa.Array:
    """One value: the texts of a (large_)string array end to end, sharing its buffer (no copy). For whole-column
    scans: one regex run over a column costs a fraction of one run per value."""
    width = np.int64 if pa.types.is_large_string(texts.type) else np.int32
    offsets = np.frombuffer(texts.buffers()[1], width)[[texts.offset, texts.offset + len(texts)]] if len(texts) \
        else np.zeros(2, width)
    return pa.Array.from_buffers(texts.type, 1, [None, pa.py_buffer(offsets), texts.buffers()[2]])


def text_bytes(texts: pa.Array) -> bytes:
    """The UTF-8 of a (large_)string array's texts end to end."""
    return joined_text(texts)[0].as_buffer().to_pybytes() if len(texts) else b""


