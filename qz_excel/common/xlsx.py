"""What every workbook we write shares: atomic, deterministic writing; Excel's limits
checked before writing; sheet names made safe; row heights for wrapped Chinese text.

LibreOffice and WPS do not auto-fit row heights on open, so wrapped cells get an explicit
height computed from the text's display width (CJK characters count two columns).
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.exceptions import FileCreateError

from qz_excel.common.files import atomic_write_bytes, clean_text
from qz_excel.common.textwidth import display_width

SHEET_NAME_MAX = 31
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
FORMULA_START = ("=", "+", "-", "@")
#: a font every Chinese Windows has; LibreOffice elsewhere substitutes one of the same
#: width (CJK glyphs are one em wide in all of them), so computed row heights hold
FONT = "宋体"
LINE_HEIGHT_PT = 14.5  # one wrapped line at 10–11 pt, with room for CJK fonts' ascent


def line_height(font_size: float) -> float:
    """Points one wrapped line of CJK text takes at ``font_size``: Excel lays 宋体 out at
    1.25×, LibreOffice with its substitute at about 1.17×; 1.3× leaves room for both."""
    return font_size * 1.3


def fixed_timestamp() -> datetime:
    """The documents' creation time: SOURCE_DATE_EPOCH if set, else a fixed date, so the
    same input gives byte-identical files."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), tz=timezone.utc).replace(tzinfo=None)
    return datetime(2000, 1, 1)


@lru_cache(maxsize=1024)  # the seed texts recur in every town's sheet; explanations rarely do
def line_count(text: str, width: float, font_size: float | None = None) -> int:
    """Lines a wrapped cell of ``width`` Excel columns needs. With ``font_size``, by
    Excel's metrics (a column is 7·width + 5 px, less 6 px of cell padding; a CJK glyph
    is one em, 4/3 px a point; LibreOffice with Calibri's metric twin Carlito lays out the
    same or a little wider); without, the rough rule for 10–11 pt text."""
    if font_size is None:
        usable = max(1.0, width - 1.5)  # in display columns (CJK = 2)
    else:
        usable = max(1.0, (7 * width + 5 - 6) / (font_size * 2 / 3))  # half-em units
    return sum(
        max(math.ceil(display_width(part) / usable), _wrapped_lines(part, usable)) for part in str(text).split("\n")
    )


#: what an office suite will not break: a run of Latin letters and digits (「9993」, 「0.5」,
#: 「98.5%」) with the punctuation that may not start a line (，。；：、）」 …) kept on its end
_UNBREAKABLE = re.compile(r"[A-Za-z0-9.%％/+\-]+[，。；：、）」』”？！,.;:)]*|.[，。；：、）」』”？！,.;:)]*")


def _wrapped_lines(part: str, usable: float) -> int:
    """Lines a greedy line-breaker fills when words and closing punctuation do not split:
    a number pushed whole to the next line leaves the end of this one empty."""
    lines, used = 1, 0.0
    for match in _UNBREAKABLE.finditer(part):
        width = display_width(match.group())
        if used and used + width > usable:
            lines, used = lines + 1, 0
        used += width
        while used > usable:  # a word longer than a line breaks where it must
            lines, used = lines + 1, used - usable
    return lines


def row_height(cells: list[tuple], minimum: float = 18.0) -> float:
    """Height for a row of wrapped cells: (text, column width[, font size]) each."""
    # a sized line's pitch already has room to spare: 2 pt of padding; the rough rule, 4
    heights = [
        line_count(cell[0], cell[1], cell[2]) * line_height(cell[2]) + 2
        if len(cell) > 2
        else line_count(cell[0], cell[1]) * LINE_HEIGHT_PT + 4
        for cell in cells
    ]
    return max([minimum, *heights])


def two_lines(name: str, first: int = 4) -> str:
    """A long Chinese name on two lines broken between words rather than wherever the
    cell's edge falls: item and column names here are four-character words and a tail."""
    return f"{name[:first]}\n{name[first:]}" if len(name) > first + 1 else name


def safe_sheet_name(name: str, taken: set[str]) -> str:
    """Excel sheet name: ≤ 31 chars, none of []:*?/\\, not quoted, unique (case-blind:
    ``taken`` holds the lower-cased names in use, and gets this one)."""
    base = _SHEET_FORBIDDEN.sub("_", clean_text(name)).strip("'") or "Sheet"
    candidate, k = base[:SHEET_NAME_MAX], 1
    while candidate.lower() in taken:
        k += 1
        suffix = f"({k})"
        candidate = base[: SHEET_NAME_MAX - len(suffix)] + suffix
    taken.add(candidate.lower())
    return candidate


def _new_workbook(target, title: str, constant_memory: bool):
    mode = {"constant_memory": True} if constant_memory else {"in_memory": True}
    workbook = xlsxwriter.Workbook(
        target, {**mode, "strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False}
    )
    workbook.set_properties({"title": title, "author": "qz_excel", "created": fixed_timestamp()})
    return workbook


@contextmanager
def _workbook_bytes(title: str, constant_memory: bool):
    """A workbook whose zip XlsxWriter assembles in memory; the caller writes the bytes.
    A disk that fails under XlsxWriter's own zip writer leaves that writer open, and the
    interpreter later prints its failed clean-up as a traceback; failing in our own
    ``open`` is clean."""
    buffer = io.BytesIO()
    workbook = _new_workbook(buffer, title, constant_memory)
    try:
        yield workbook, buffer
    except BaseException:
        _discard(workbook)
        raise
    try:
        workbook.close()
    except FileCreateError as exc:  # constant-memory rows spill to temporary files
        cause = exc.args[0] if exc.args else None
        raise cause if isinstance(cause, OSError) else OSError(str(exc)) from None


def _discard(workbook) -> None:
    """Close a failed workbook's constant-memory row files now, quietly: left to the
    garbage collector on a full disk, their failing close prints a traceback."""
    for sheet in workbook.worksheets():
        handle = getattr(sheet, "row_data_fh", None)  # XlsxWriter's temporary file of rows
        if handle is not None:
            try:
                handle.close()
            except OSError:
                pass  # closed all the same; what it held is of no use


@contextmanager
def staged_workbook(path: Path, title: str = ""):
    """A workbook written to ``path`` in a staging folder that is published as a whole
    (:mod:`qz_excel.results.publish`), so it needs no temporary file of its own."""
    with _workbook_bytes(title, constant_memory=False) as (workbook, buffer):
        yield workbook
    path.write_bytes(buffer.getvalue())


@contextmanager
def atomic_workbook(path: Path, title: str = "", constant_memory: bool = False):
    """A workbook under ``path``, replaced atomically (:func:`atomic_write_bytes`): a crash
    never leaves a half-written file under the real name.

    ``constant_memory`` streams the sheets' rows to temporary files as they are written,
    for sheets as long as the audit trail of thousands of towns (rows must then be
    written top to bottom); only the compressed workbook is held in memory."""
    with _workbook_bytes(title, constant_memory) as (workbook, buffer):
        yield workbook
    atomic_write_bytes(path, buffer.getvalue())


def print_a4(sheet, repeat_row: int | None, footer: str = "&C第 &P 页 共 &N 页") -> None:
    """A4 portrait, one page wide, header row on every page, page numbers in the footer."""
    sheet.set_paper(9)
    sheet.set_portrait()
    sheet.fit_to_pages(1, 0)
    sheet.set_margins(left=0.5, right=0.5, top=0.6, bottom=0.7)
    sheet.center_horizontally()
    if repeat_row is not None:
        sheet.repeat_rows(repeat_row)
    sheet.set_footer(footer)


class Formats:
    """Formats declared once as dicts; each becomes an XlsxWriter format on first use.
    ``text`` writes town-supplied strings safely: cleaned, and with a quote prefix when
    they start like a formula, so Excel shows them as typed and never evaluates them."""

    def __init__(self, workbook, specs: Mapping[str, Mapping[str, Any]]):
        self._wb, self._specs = workbook, specs
        self._made: dict[tuple[str, bool], Any] = {}

    def __getitem__(self, name: str):
        return self._get(name, False)

    def quoted(self, name: str):
        """The format ``name`` with a quote prefix (text that looks like a formula)."""
        return self._get(name, True)

    def _get(self, name: str, quoted: bool):
        key = (name, quoted)
        if key not in self._made:
            spec = dict(self._specs[name], **({"quote_prefix": True} if quoted else {}))
            self._made[key] = self._wb.add_format(spec)
        return self._made[key]

    def text(self, sheet, row: int, col: int, value: object, name: str) -> None:
        text = clean_text(value)
        sheet.write_string(row, col, text, self._get(name, text.startswith(FORMULA_START)))

    def merged_text(self, sheet, first_row, first_col, last_row, last_col, value, name) -> None:
        text = clean_text(value)
        sheet.merge_range(
            first_row, first_col, last_row, last_col, text, self._get(name, text.startswith(FORMULA_START))
        )
