"""What python-calamine does not say about a cell: whether it holds a formula, whether the
formula has a stored result, whether its value is an error (#DIV/0!), whether its number
format shows a percentage.

calamine gives an empty value both for a formula nobody calculated (a workbook saved by a
library, not an office suite) and for an error value, so a town that sees a filled cell
would be told it left it empty. Only the few cells that need it are looked up here, in the
file's own bytes: the worksheet XML of .xlsx, content.xml of .ods, and the BIFF records of
.xls through xlrd. Called inside the intake's worker processes, after the safety checks.
"""

from __future__ import annotations

import html
import io
import posixpath
import re
import zipfile
import zlib
from dataclasses import dataclass
from functools import lru_cache
from xml.etree import ElementTree

from xlsxwriter.utility import xl_cell_to_rowcol

from qz_excel.intake.safety import read_part as _read_part

OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_CALCEXT = "{urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0}"
_ATTR = re.compile(rb'\b(r|s|t)="([^"]*)"')


_CELL_START = re.compile(rb"<(?:\w+:)?c\s")
_CELL_END = re.compile(rb"</(?:\w+:)?c>")


def _cell(xml: bytes, ref: bytes) -> tuple[bytes, bytes] | None:
    """(attributes, content) of the cell element ``ref`` (prefixes allowed), found by its
    address with plain byte searches: walking every cell of the sheet with a regex cost
    a millisecond a file, and this runs for most files."""
    key = b'r="' + ref + b'"'
    at = xml.find(key)
    while at != -1:
        start = xml.rfind(b"<", 0, at)
        if xml[at - 1 : at].isspace() and _CELL_START.match(xml, start):
            close = xml.find(b">", at)
            if xml[close - 1 : close] == b"/":
                return xml[start:close], b""
            end = _CELL_END.search(xml, close)
            return xml[start:close], xml[close + 1 : end.start() if end else len(xml)]
        at = xml.find(key, at + 1)
    return None


_FORMULA = re.compile(rb"<(?:\w+:)?f\b")
_VALUE = re.compile(rb"<(?:\w+:)?v>(.*?)</(?:\w+:)?v>", re.S)
_QUOTED = re.compile(r'"[^"]*"|\\.')
PERCENT_FORMATS = {9, 10}  # Excel's built-in 0% and 0.00%


@dataclass(frozen=True)
class CellFacts:
    formula: bool = False  # the cell holds a formula
    cached: bool = True  # … and the formula's result is stored in the file
    error: str = ""  # the error value shown (#DIV/0!, #N/A …), "" for none
    percent: bool = False  # the number format shows a percentage


def inspect(data: bytes, sheet: str, cells: list[str], checked=None) -> dict[str, CellFacts]:
    """Facts for ``cells`` (A1 addresses) of ``sheet``; cells that hold nothing special are
    left out. A file this cannot read says nothing (calamine has read it already).
    ``checked``: what the safety check opened (:class:`qz_excel.intake.safety.Checked`), so the
    zip is not opened and its worksheet not inflated a second time."""
    if not cells:
        return {}
    try:
        if data[:8] == OLE_MAGIC:
            return _xls(data, sheet, cells)
        archive = checked.archive if checked else zipfile.ZipFile(io.BytesIO(data))
        names = set(archive.namelist())
        if "content.xml" in names:
            return _ods(archive, sheet, cells)
        if "xl/workbook.xml" in names:
            return _xlsx(archive, sheet, cells, checked.worksheets if checked else {}, data if checked else None)
    except (
        zipfile.BadZipFile,
        KeyError,
        ElementTree.ParseError,
        ValueError,
        IndexError,
        zlib.error,
        NotImplementedError,
    ):
        pass
    return {}


def is_encrypted_xls(data: bytes) -> bool:
    """An .xls saved with a password to open (its BIFF stream carries FILEPASS)."""
    import xlrd

    try:
        xlrd.open_workbook(file_contents=data, on_demand=True).release_resources()
    except xlrd.XLRDError as exc:
        return "encrypted" in str(exc).lower()
    except Exception:  # noqa: BLE001 — not an .xls xlrd knows: not ours to judge here
        return False
    return False


def _percent_code(code: str) -> bool:
    """A number format code that shows a percentage (a % outside quotes and escapes)."""
    return "%" in _QUOTED.sub("", code)


# .xlsx ---------------------------------------------------------------------------------

_SHEET = re.compile(rb"<(?:\w+:)?sheet\s[^>]*>")
_RELATIONSHIP = re.compile(rb"<(?:\w+:)?Relationship\s[^>]*>")
_ANY_ATTR = re.compile(rb'([\w:]+)="([^"]*)"')


def _elements(xml: bytes, pattern: re.Pattern) -> list[dict[bytes, bytes]]:
    return [dict(_ANY_ATTR.findall(m.group(0))) for m in pattern.finditer(xml)]


def _part(archive: zipfile.ZipFile, data: bytes | None, name: str) -> bytes:
    """A small part, inflated straight from the file's bytes when we have them (opening a
    member through zipfile costs more than inflating it); KeyError when it is missing."""
    info = archive.getinfo(name)
    if data is None:
        return archive.read(info)
    return _read_part(data, info, info.file_size + 1)  # never more than declared


def _sheet_part(archive: zipfile.ZipFile, sheet: str, data: bytes | None = None) -> str:
    """The worksheet part of the sheet named ``sheet``."""
    workbook, rels = _part(archive, data, "xl/workbook.xml"), _part(archive, data, "xl/_rels/workbook.xml.rels")
    return _sheet_parts(workbook, rels)[sheet]


@lru_cache(maxsize=32)  # every return of one template has the same two parts: read them once
def _sheet_parts(workbook: bytes, rels: bytes) -> dict[str, str]:
    """Sheet name → worksheet part (two small parts read with regexes: names are
    XML-escaped there)."""
    targets = {a.get(b"Id"): a[b"Target"].decode("utf-8") for a in _elements(rels, _RELATIONSHIP) if b"Target" in a}
    parts: dict[str, str] = {}
    for a in _elements(workbook, _SHEET):
        rel_id = a.get(b"r:id") or next((v for k, v in a.items() if k.endswith(b":id")), None)
        target, name = targets.get(rel_id), a.get(b"name")
        if target is None or name is None:
            continue
        text = html.unescape(name.decode("utf-8", "replace"))  # the XML escapes and character references
        parts.setdefault(
            text, target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        )
    return parts


_NUM_FMT = re.compile(rb"<(?:\w+:)?numFmt\s[^>]*>")
_CELL_XFS = re.compile(rb"<(?:\w+:)?cellXfs\b.*?</(?:\w+:)?cellXfs>", re.S)
_XF = re.compile(rb"<(?:\w+:)?xf\s[^>]*>")


def _percent_styles(archive: zipfile.ZipFile, data: bytes | None = None) -> frozenset[int]:
    """Indexes of the cell formats (cellXfs) whose number format shows a percentage."""
    try:
        return _percent_styles_of(_part(archive, data, "xl/styles.xml"))
    except KeyError:
        return frozenset()


@lru_cache(maxsize=32)  # the same styles part in every return of one template
def _percent_styles_of(styles: bytes) -> frozenset[int]:
    percent_ids = set(PERCENT_FORMATS)
    percent_ids |= {
        int(a.get(b"numFmtId", b"-1"))
        for a in _elements(styles, _NUM_FMT)
        if _percent_code(
            a.get(b"formatCode", b"").decode("utf-8", "replace").replace("&quot;", '"').replace("&amp;", "&")
        )
    }
    block = _CELL_XFS.search(styles)
    if block is None:
        return frozenset()
    return frozenset(
        k for k, a in enumerate(_elements(block.group(0), _XF)) if int(a.get(b"numFmtId", b"0")) in percent_ids
    )


def _xlsx(
    archive: zipfile.ZipFile, sheet: str, cells: list[str], inflated: dict[str, bytes], data: bytes | None = None
) -> dict[str, CellFacts]:
    part = _sheet_part(archive, sheet, data)
    xml = inflated.get(part) or _part(archive, data, part)
    percent_styles: frozenset[int] | None = None
    facts = {}
    for ref in (c.encode("ascii") for c in cells):
        found = _cell(xml, ref)
        if found is None:
            continue
        attrs = dict(_ATTR.findall(found[0]))
        content = found[1]
        value = _VALUE.search(content)
        formula = bool(_FORMULA.search(content))
        kind = attrs.get(b"t", b"")
        if percent_styles is None:
            percent_styles = _percent_styles(archive, data)
        fact = CellFacts(
            formula=formula,
            cached=not formula or kind == b"str" or bool(value and value.group(1).strip()),
            error=value.group(1).decode("utf-8", "replace").strip() if kind == b"e" and value else "",
            percent=int(attrs.get(b"s", b"0") or 0) in percent_styles,
        )
        if fact != CellFacts():
            facts[ref.decode("ascii")] = fact
    return facts


# .ods ----------------------------------------------------------------------------------


def _ods(archive: zipfile.ZipFile, sheet: str, cells: list[str]) -> dict[str, CellFacts]:
    wanted = {xl_cell_to_rowcol(c): c for c in cells}
    last_row = max(r for r, _ in wanted)
    root = ElementTree.fromstring(archive.read("content.xml"))
    table = next(t for t in root.iter(f"{_TABLE}table") if t.get(f"{_TABLE}name") == sheet)
    facts: dict[str, CellFacts] = {}
    row = 0
    for row_element in table.iter(f"{_TABLE}table-row"):
        repeat = int(row_element.get(f"{_TABLE}number-rows-repeated", 1))
        if row <= last_row:
            for r in range(row, min(row + repeat, last_row + 1)):
                _ods_row(row_element, r, wanted, facts)
        row += repeat
        if row > last_row:
            break
    return facts


def _ods_row(row_element, row: int, wanted: dict, facts: dict) -> None:
    col = 0
    for cell in row_element:
        if cell.tag not in (f"{_TABLE}table-cell", f"{_TABLE}covered-table-cell"):
            continue
        repeat = int(cell.get(f"{_TABLE}number-columns-repeated", 1))
        for c in range(col, col + min(repeat, 1000)):
            if (row, c) in wanted:
                fact = _ods_cell(cell)
                if fact != CellFacts():
                    facts[wanted[(row, c)]] = fact
        col += repeat


def _ods_cell(cell) -> CellFacts:
    formula = cell.get(f"{_TABLE}formula") is not None
    value_type = cell.get(f"{_OFFICE}value-type")
    text = "".join(p.text or "" for p in cell.iter(f"{_TEXT}p")).strip()
    error = text if cell.get(f"{_CALCEXT}value-type") == "error" else ""
    return CellFacts(
        formula=formula, cached=not formula or value_type is not None, error=error, percent=value_type == "percentage"
    )


# .xls ----------------------------------------------------------------------------------


def _xls(data: bytes, sheet: str, cells: list[str]) -> dict[str, CellFacts]:
    """BIFF stores a formula's result with the formula, so an .xls formula is always
    calculated; errors and formats are what xlrd adds here."""
    import xlrd

    try:
        book = xlrd.open_workbook(file_contents=data, formatting_info=True, on_demand=True)
    except (xlrd.XLRDError, NotImplementedError):
        return {}
    try:
        ws = book.sheet_by_name(sheet)
        facts = {}
        for ref in cells:
            r, c = xl_cell_to_rowcol(ref)
            if r >= ws.nrows or c >= ws.ncols:
                continue
            cell = ws.cell(r, c)
            error = xlrd.error_text_from_code.get(cell.value, "#N/A") if cell.ctype == xlrd.XL_CELL_ERROR else ""
            fmt = book.format_map.get(book.xf_list[cell.xf_index].format_key)
            fact = CellFacts(error=error, formula=bool(error), percent=bool(fmt and _percent_code(fmt.format_str)))
            if fact != CellFacts():
                facts[ref] = fact
        return facts
    finally:
        book.release_resources()
