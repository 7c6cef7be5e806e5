"""What Excel would see in a workbook, read from its OOXML parts with lxml (not openpyxl, not our builder).

`snapshot(path)` gives the structure (VBA project hash, dynamic-array metadata and the cells' cm flags,
form-control buttons and their macros, tables, defined names, data validation, conditional formats,
frozen panes, code names, content types and workbook relationships) and every cell's formula, value and
number format. `changes(before, after, allowed)` lists every difference outside the cells a path means to
change (`allowed`: sheet -> A1 ranges, written literally in the tests).
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import zipfile
from pathlib import Path
from typing import Any

from lxml import etree
from openpyxl.styles.numbers import BUILTIN_FORMATS  # ECMA-376 18.8.30: the built-in format codes

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS = {"m": MAIN, "r": REL, "p": "http://schemas.openxmlformats.org/package/2006/relationships",
      "ct": "http://schemas.openxmlformats.org/package/2006/content-types",
      "x": "urn:schemas-microsoft-com:office:excel", "v": "urn:schemas-microsoft-com:vml"}
DYNAMIC_ARRAY_URI = "{bdbb8cdc-fa1e-496e-a857-3c3f30c029c3}"


def _rels(parts: dict[str, bytes], part: str) -> dict[str, tuple[str, str]]:
    folder, name = posixpath.split(part)
    data = parts.get(posixpath.join(folder, "_rels", name + ".rels"))
    if data is None:
        return {}
    return {r.get("Id"): (r.get("Type").rsplit("/", 1)[-1], _target(folder, r.get("Target")))
            for r in etree.fromstring(data).iterfind("p:Relationship", NS)}


def _target(folder: str, target: str) -> str:
    """A relationship target as a part name (relative to the source part's folder, or absolute from the root)."""
    return target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))


def _canonical(element: Any) -> str:
    return "" if element is None else etree.tostring(element, method="c14n").decode()


def col_row(ref: str) -> tuple[int, int]:
    letters, digits = re.fullmatch(r"\$?([A-Z]+)\$?(\d+)", ref).groups()  # type: ignore[union-attr]
    col = 0
    for char in letters:
        col = col * 26 + ord(char) - 64
    return col, int(digits)


def in_range(ref: str, area: str) -> bool:
    first, _, last = area.partition(":")
    (c1, r1), (c2, r2), (c, r) = col_row(first), col_row(last or first), col_row(ref)
    return c1 <= c <= c2 and r1 <= r <= r2


def _text(element: Any) -> str:
    return "".join(t.text or "" for t in element.iterfind(".//m:t", NS))


def snapshot(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    workbook = etree.fromstring(parts["xl/workbook.xml"])
    book_rels = _rels(parts, "xl/workbook.xml")
    shared = [_text(si) for si in etree.fromstring(parts["xl/sharedStrings.xml"]).iterfind("m:si", NS)] \
        if "xl/sharedStrings.xml" in parts else []
    styles = etree.fromstring(parts["xl/styles.xml"])
    codes = dict(BUILTIN_FORMATS)
    codes |= {int(f.get("numFmtId")): f.get("formatCode") for f in styles.iterfind("m:numFmts/m:numFmt", NS)}
    xfs = list(styles.iterfind("m:cellXfs/m:xf", NS))
    dxfs = [_canonical(d) for d in styles.iterfind("m:dxfs/m:dxf", NS)]
    types = etree.fromstring(parts["[Content_Types].xml"])
    out: dict[str, Any] = {
        "vba_sha256": hashlib.sha256(parts["xl/vbaProject.bin"]).hexdigest() if "xl/vbaProject.bin" in parts
        else None,
        "metadata": parts.get("xl/metadata.xml"),
        "content_types": sorted((o.get("PartName"), o.get("ContentType"))
                                for o in types.iterfind("ct:Override", NS)),
        "workbook_relations": sorted(book_rels.values()),
        "workbook_code_name": workbook.find("m:workbookPr", NS).get("codeName"),  # type: ignore[union-attr]
        "names": {d.get("name"): d.text for d in workbook.iterfind("m:definedNames/m:definedName", NS)},
        "sheets": {}, "cells": {}, "tables": {}, "buttons": [], "form_controls": [],
    }
    for sheet in workbook.iterfind("m:sheets/m:sheet", NS):
        name = sheet.get("name")
        part = book_rels[sheet.get(f"{{{REL}}}id")][1]
        root = etree.fromstring(parts[part])
        pr = root.find("m:sheetPr", NS)
        pane = root.find("m:sheetViews/m:sheetView/m:pane", NS)
        out["sheets"][name] = {
            "code_name": None if pr is None else pr.get("codeName"),
            "pane": None if pane is None else dict(pane.attrib),
            "validations": _canonical(root.find("m:dataValidations", NS)),
            "conditional": [(cf.get("sqref"), [(dict(rule.attrib) | {"dxf": dxfs[int(rule.get("dxfId"))]
                                                                     if rule.get("dxfId") else None},
                                                [f.text for f in rule.iterfind("m:formula", NS)])
                                               for rule in cf.iterfind("m:cfRule", NS)])
                            for cf in root.iterfind("m:conditionalFormatting", NS)],
            "columns": _canonical(root.find("m:cols", NS)),
        }
        for c in root.iterfind("m:sheetData/m:row/m:c", NS):
            f = c.find("m:f", NS)
            v = c.find("m:v", NS)
            kind = c.get("t", "n")
            value: Any = None
            if kind == "s" and v is not None:
                value = shared[int(v.text)]
            elif kind == "inlineStr":
                value = None if c.find("m:is", NS) is None else _text(c.find("m:is", NS))
            elif v is not None and v.text is not None:
                value = v.text if kind in ("str", "e") else (v.text == "1" if kind == "b" else float(v.text))
            xf = xfs[int(c.get("s", "0"))]
            out["cells"][(name, c.get("r"))] = {
                "formula": None if f is None else (f.text, f.get("t"), f.get("ref")),
                "cm": c.get("cm"), "value": value, "number_format": codes.get(int(xf.get("numFmtId", "0"))),
            }
        for rel_type, target in _rels(parts, part).values():
            if rel_type == "table":
                table = etree.fromstring(parts[target])
                out["tables"][table.get("name")] = {
                    "sheet": name, "ref": table.get("ref"), "display": table.get("displayName"),
                    "columns": [c.get("name") for c in table.iterfind("m:tableColumns/m:tableColumn", NS)],
                    "style": _canonical(table.find("m:tableStyleInfo", NS)),
                    "filter": _canonical(table.find("m:autoFilter", NS))}
            elif rel_type == "vmlDrawing":
                vml = etree.fromstring(parts[target])
                for shape in vml.iterfind(".//v:shape", NS):
                    data = shape.find("x:ClientData", NS)
                    if data is not None and data.get("ObjectType") == "Button":
                        out["buttons"].append({
                            "sheet": name, "macro": data.findtext("x:FmlaMacro", namespaces=NS),
                            "anchor": data.findtext("x:Anchor", namespaces=NS),
                            "caption": "".join(shape.find("v:textbox", NS).itertext()).strip()})
            elif rel_type == "ctrlProp":
                prop = etree.fromstring(parts[target])
                out["form_controls"].append({"sheet": name, "type": prop.get("objectType"),
                                             "macro": prop.get("macro")})
    return out


def dynamic_array_cells(snap: dict[str, Any]) -> dict[tuple[str, str], str]:
    """{(sheet, cell): formula} of every cell Excel 365 reads as a dynamic-array (spilling) formula: an array
    formula whose cm flag points at the XLDAPR cell metadata with fDynamic=1 in xl/metadata.xml."""
    if snap["metadata"] is None:
        return {}
    meta = etree.fromstring(snap["metadata"])
    types = [t.get("name") for t in meta.iterfind("m:metadataTypes/m:metadataType", NS)]
    dynamic = []
    for bk in meta.iterfind("m:futureMetadata[@name='XLDAPR']/m:bk", NS):
        props = bk.find(".//{http://schemas.microsoft.com/office/spreadsheetml/2017/dynamicarray}"
                        "dynamicArrayProperties")
        dynamic.append(props is not None and props.get("fDynamic") == "1")
    cell_meta = []  # cm is 1-based into cellMetadata; each bk's rc names a type (1-based) and an index (0-based)
    for bk in meta.iterfind("m:cellMetadata/m:bk", NS):
        rc = bk.find("m:rc", NS)
        cell_meta.append(types[int(rc.get("t")) - 1] == "XLDAPR" and dynamic[int(rc.get("v"))])
    related = ("/xl/metadata.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheetMetadata+xml")
    if related not in snap["content_types"] or ("sheetMetadata", "xl/metadata.xml") not in snap["workbook_relations"]:
        return {}  # Excel never reads a metadata part the package does not declare
    return {at: cell["formula"][0] for at, cell in snap["cells"].items()
            if cell["cm"] and cell["formula"] and cell["formula"][1] == "array" and cell_meta[int(cell["cm"]) - 1]}


def changes(before: dict[str, Any], after: dict[str, Any], allowed: dict[str, list[str]]) -> list[str]:
    """Every difference, except in the cells of `allowed` (sheet -> A1 ranges)."""
    found = [f"{key} differs" for key in before if key != "cells" and before[key] != after[key]]

    def free(at: tuple[str, str]) -> bool:
        return any(in_range(at[1], area) for area in allowed.get(at[0], []))

    for at in sorted(set(before["cells"]) | set(after["cells"])):
        old, new = before["cells"].get(at), after["cells"].get(at)
        if old != new and not free(at):
            found.append(f"{at[0]}!{at[1]}: {old} -> {new}")
    return found
