"""Cell edits written straight into a saved workbook's sheet XML, every other part kept byte for byte.

openpyxl rewrites the whole package when it saves: it drops `xl/metadata.xml` and the `cm="1"` flag that
makes ATLAS_SCHEDULE / ATLAS_PROJECTION dynamic-array (spilling) formulas in Excel 365, the shared strings,
the cached results of every formula, and renumbers the styles. The macros' file implementation (FileBook)
therefore reads through openpyxl but writes through this module: the parts it does not touch (VBA project,
buttons, metadata, styles, other sheets) are copied unchanged, and in a touched sheet only the written
cells, the rows it removes and the `<dimension>` change. Text goes in as inline strings (never a formula);
formula-like text also gets a quotePrefix style (a clone of the cell's style), as Excel does for `'=...`.
"""

from __future__ import annotations

import datetime as dt
import io
import posixpath
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from atlas_xl.errors import ArgumentError
from atlas_xl.outputs.xlsafe import MAX_CELL_TEXT, UNWRITABLE, UnwritableTextError, is_formula_like

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
NS = {"m": MAIN, "r": REL, "p": PKG_REL}
EPOCH = dt.datetime(1899, 12, 30)
_REF = re.compile(r"([A-Z]+)(\d+)")


def column_letter(index: int) -> str:
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def split_ref(ref: str) -> tuple[int, int]:
    """'C12' -> (12, 3)."""
    found = _REF.fullmatch(ref.replace("$", ""))
    if not found:
        raise ArgumentError(f"{ref!r} is not a cell reference")
    col = 0
    for char in found.group(1):
        col = col * 26 + ord(char) - 64
    return int(found.group(2)), col


def _q(tag: str) -> str:
    return f"{{{MAIN}}}{tag}"


@dataclass
class SheetEdits:
    """What one sheet gets: cell values (row, col) -> value, None = blank) and the rows / columns to cut."""

    cells: dict[tuple[int, int], Any] = field(default_factory=dict)
    styles: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)  # cell -> take style of cell
    keep_rows: int | None = None  # rows after this one are removed
    keep_cols: int | None = None  # columns after this one are removed
    tables: dict[str, str] = field(default_factory=dict)  # table name -> new ref


class Package:
    """A saved .xlsx / .xlsm as its parts; `sheet_part(name)` finds a worksheet's part by its sheet name."""

    def __init__(self, data: bytes) -> None:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            self.infos = archive.infolist()
            self.parts = {info.filename: archive.read(info.filename) for info in self.infos}
        workbook = etree.fromstring(self.parts["xl/workbook.xml"])
        rels = self._rels("xl/workbook.xml")
        self.sheets = {s.get("name"): rels[s.get(f"{{{REL}}}id")] for s in workbook.iterfind("m:sheets/m:sheet", NS)}

    def _rels(self, part: str) -> dict[str, str]:
        folder, name = posixpath.split(part)
        rels_part = posixpath.join(folder, "_rels", name + ".rels")
        if rels_part not in self.parts:
            return {}
        root = etree.fromstring(self.parts[rels_part])
        return {rel.get("Id"): _target(folder, rel.get("Target"))
                for rel in root.iterfind("p:Relationship", NS) if rel.get("TargetMode") != "External"}

    def sheet_part(self, name: str) -> str:
        if name not in self.sheets:
            raise ArgumentError(f"workbook has no sheet {name!r}; expected the operations workbook's sheets")
        return self.sheets[name]

    def apply(self, sheet: str, edits: SheetEdits) -> None:
        part = self.sheet_part(sheet)
        root = etree.fromstring(self.parts[part])
        _SheetWriter(self, root).write(edits)
        self.parts[part] = _xml(root)
        if edits.tables:
            for target in self._rels(part).values():
                if target.startswith("xl/tables/"):
                    table = etree.fromstring(self.parts[target])
                    ref = edits.tables.get(table.get("name"))
                    if ref is not None and ref != table.get("ref"):
                        table.set("ref", ref)
                        auto = table.find("m:autoFilter", NS)
                        if auto is not None:
                            auto.set("ref", ref)
                        self.parts[target] = _xml(table)

    def quote_prefix_style(self, style: int) -> int:
        """The index of a cell style equal to `style` plus quotePrefix (added to styles.xml when missing)."""
        root = etree.fromstring(self.parts["xl/styles.xml"])
        xfs = root.find("m:cellXfs", NS)
        assert xfs is not None
        items = list(xfs)
        base = items[style] if style < len(items) else items[0]
        if base.get("quotePrefix") == "1":
            return style
        wanted = {**dict(base.attrib), "quotePrefix": "1"}
        for i, xf in enumerate(items):
            if dict(xf.attrib) == wanted and len(xf) == len(base):
                return i
        clone = etree.fromstring(etree.tostring(base))
        clone.set("quotePrefix", "1")
        xfs.append(clone)
        xfs.set("count", str(len(items) + 1))
        self.parts["xl/styles.xml"] = _xml(root)
        return len(items)

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            for info in self.infos:  # the original order, names, dates and compression
                copy = zipfile.ZipInfo(info.filename, info.date_time)
                copy.compress_type, copy.external_attr = info.compress_type, info.external_attr
                archive.writestr(copy, self.parts[info.filename])
        return out.getvalue()


def _target(folder: str, target: str) -> str:
    """A relationship target as a part name: relative to the source part's folder, or absolute (openpyxl)."""
    return target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))


def _xml(root: Any) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


class _SheetWriter:
    def __init__(self, package: Package, root: Any) -> None:
        self.package, self.root = package, root
        data = root.find("m:sheetData", NS)
        assert data is not None, "a worksheet part without sheetData"
        self.data = data
        self.rows = {int(row.get("r")): row for row in data.iterfind("m:row", NS)}

    def _cell(self, row: int, col: int) -> Any:
        return next((c for c in self._row(row, create=False) if split_ref(c.get("r"))[1] == col), None) \
            if row in self.rows else None

    def _row(self, row: int, create: bool = True) -> Any:
        if row not in self.rows and create:
            element = etree.Element(_q("row"), r=str(row))
            later = [r for r in self.rows if r > row]
            if later:
                self.rows[min(later)].addprevious(element)
            else:
                self.data.append(element)
            self.rows[row] = element
        return self.rows[row]

    def _style(self, row: int, col: int) -> str | None:
        cell = self._cell(row, col)
        return None if cell is None else cell.get("s")

    def write(self, edits: SheetEdits) -> None:
        styles = {at: self._style(*source) for at, source in edits.styles.items()}  # before anything changes
        if edits.keep_rows is not None:
            for r in [r for r in self.rows if r > edits.keep_rows]:
                self.data.remove(self.rows.pop(r))
        if edits.keep_cols is not None:
            for row in self.rows.values():
                for cell in [c for c in row if split_ref(c.get("r"))[1] > edits.keep_cols]:
                    row.remove(cell)
        for (row, col), value in sorted(edits.cells.items()):
            style = styles[(row, col)] if (row, col) in styles else self._style(row, col)
            self._put(row, col, value, style)
        for row in self.rows.values():
            row.attrib.pop("spans", None)  # optional; stale after cells move
        self._dimension()

    def _put(self, row: int, col: int, value: Any, style: str | None) -> None:
        ref = f"{column_letter(col)}{row}"
        element = self._row(row)
        old = self._cell(row, col)
        cell = etree.Element(_q("c"), r=ref)
        if style is not None and style != "0":
            cell.set("s", style)
        if value is None:
            pass
        elif isinstance(value, bool):
            cell.set("t", "b")
            etree.SubElement(cell, _q("v")).text = "1" if value else "0"
        elif isinstance(value, int | float):
            etree.SubElement(cell, _q("v")).text = repr(float(value)) if isinstance(value, float) else str(value)
        elif isinstance(value, dt.datetime | dt.date):
            moment = value if isinstance(value, dt.datetime) else dt.datetime.combine(value, dt.time())
            serial = (moment - EPOCH) / dt.timedelta(days=1)
            etree.SubElement(cell, _q("v")).text = repr(serial) if serial % 1 else str(int(serial))
        else:
            text = str(value)[:MAX_CELL_TEXT]
            bad = UNWRITABLE.search(text)
            if bad:
                raise UnwritableTextError(f"cell {ref}: the text {text!r} holds the character "
                                          f"U+{ord(bad.group()):04X}, which a spreadsheet cell cannot hold")
            cell.set("t", "inlineStr")
            if is_formula_like(text):
                cell.set("s", str(self.package.quote_prefix_style(int(style or 0))))
            t = etree.SubElement(etree.SubElement(cell, _q("is")), _q("t"))
            t.text = text
            if text != text.strip() or "\n" in text:
                t.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
        if old is not None:
            old.addprevious(cell)
            element.remove(old)
            return
        later = [c for c in element if split_ref(c.get("r"))[1] > col]
        if later:
            later[0].addprevious(cell)
        else:
            element.append(cell)

    def _dimension(self) -> None:
        refs = [split_ref(c.get("r")) for row in self.rows.values() for c in row]
        dimension = self.root.find("m:dimension", NS)
        if dimension is None or not refs:
            return
        top = min(r for r, _ in refs), min(c for _, c in refs)
        bottom = max(r for r, _ in refs), max(c for _, c in refs)
        first, last = f"{column_letter(top[1])}{top[0]}", f"{column_letter(bottom[1])}{bottom[0]}"
        dimension.set("ref", first if first == last else f"{first}:{last}")


def patched(data: bytes, edits: Iterable[tuple[str, SheetEdits]]) -> bytes:
    """The workbook `data` with each sheet's edits applied; every untouched part byte-identical."""
    package = Package(data)
    for sheet, sheet_edits in edits:
        package.apply(sheet, sheet_edits)
    return package.to_bytes()
