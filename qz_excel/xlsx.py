"""What every workbook we write shares: atomic, deterministic writing; Excel's limits
checked before writing; names made safe; row heights for wrapped Chinese text.

LibreOffice and WPS do not auto-fit row heights on open, so wrapped cells get an explicit
height computed from the text's display width (CJK characters count two columns).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
import unicodedata
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import xlsxwriter

SHEET_NAME_MAX = 31
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_FILE_FORBIDDEN = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]')
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # XML 1.0 forbids them in cells
FORMULA_START = ("=", "+", "-", "@")
FILE_STEM_MAX = 100
LINE_HEIGHT_PT = 14.5  # one wrapped line at 10–11 pt, with room for CJK fonts' ascent


def line_height(font_size: float) -> float:
    """Points one wrapped line of CJK text takes at ``font_size`` (Excel, WPS and
    LibreOffice all fit in 1.35×)."""
    return font_size * 1.35


def fixed_timestamp() -> datetime:
    """The documents' creation time: SOURCE_DATE_EPOCH if set, else a fixed date, so the
    same input gives byte-identical files."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), tz=timezone.utc).replace(tzinfo=None)
    return datetime(2000, 1, 1)


def clean_text(text: object) -> str:
    """Text from a town's file, safe to put in a cell: control characters removed."""
    return _CONTROL.sub("", "" if text is None else str(text))


class _CharWidths(dict):
    """Character → display columns (CJK wide and fullwidth count two), each character
    looked up in unicodedata once: display_width then runs as one C-level map."""

    def __missing__(self, ch: str) -> int:
        width = self[ch] = 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        return width


_CHAR_WIDTHS = _CharWidths()


def display_width(text: str) -> int:
    return sum(map(_CHAR_WIDTHS.__getitem__, text))


@lru_cache(maxsize=1024)  # the seed texts recur in every town's sheet; explanations rarely do
def line_count(text: str, width: float) -> int:
    """Lines a wrapped cell of ``width`` Excel columns needs (a little slack per line)."""
    usable = max(1.0, width - 1.5)
    return sum(max(1, math.ceil(display_width(part) / usable)) for part in str(text).split("\n"))


def row_height(cells: list[tuple], minimum: float = 18.0) -> float:
    """Height for a row of wrapped cells: (text, column width[, font size]) each."""
    heights = [line_count(cell[0], cell[1]) * (line_height(cell[2]) if len(cell) > 2 else LINE_HEIGHT_PT)
               for cell in cells]
    return max([minimum, *(h + 4 for h in heights)])


def safe_file_stem(name: str, fallback: str = "未命名") -> str:
    """A file-name stem from a town name: no path separators or forbidden characters, no
    leading dots (so no ``..``), bounded length."""
    stem = _FILE_FORBIDDEN.sub("_", clean_text(name)).strip().lstrip(".").strip()
    return stem[:FILE_STEM_MAX] or fallback


def safe_sheet_name(name: str, taken: set[str]) -> str:
    """Excel sheet name: ≤ 31 chars, none of []:*?/\\, not quoted, unique (case-blind:
    ``taken`` holds the lower-cased names in use, and gets this one)."""
    base = _SHEET_FORBIDDEN.sub("_", clean_text(name)).strip("'") or "Sheet"
    candidate, k = base[:SHEET_NAME_MAX], 1
    while candidate.lower() in taken:
        k += 1
        suffix = f"({k})"
        candidate = base[:SHEET_NAME_MAX - len(suffix)] + suffix
    taken.add(candidate.lower())
    return candidate


def unique_path(directory: Path, stem: str, suffix: str, taken: set[str]) -> Path:
    """directory/stem.suffix, numbered when two towns' names clean to the same stem."""
    name, k = f"{stem}{suffix}", 1
    while name.lower() in taken:
        k += 1
        name = f"{stem}({k}){suffix}"
    taken.add(name.lower())
    return directory / name


def _new_workbook(path: str, title: str, constant_memory: bool):
    mode = {"constant_memory": True} if constant_memory else {"in_memory": True}
    workbook = xlsxwriter.Workbook(path, {**mode, "strings_to_numbers": False, "strings_to_formulas": False,
                                          "strings_to_urls": False})
    workbook.set_properties({"title": title, "author": "qz_excel", "created": fixed_timestamp()})
    return workbook


@contextmanager
def staged_workbook(path: Path, title: str = ""):
    """A workbook written straight to ``path``, for files inside a staging folder that
    :func:`swap_folder` moves into place as a whole."""
    workbook = _new_workbook(str(path), title, constant_memory=False)
    yield workbook
    workbook.close()


def swap_folder(staging: Path, target: Path) -> None:
    """Put a fully written folder in place of ``target``: old contents (including files of
    towns no longer in the run) go, and a crash midway leaves either the old or the new
    folder, never a mixture."""
    old = target.with_name(f".qz-old-{target.name}-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    try:
        os.replace(staging, target)
    except OSError:
        if old.exists():
            os.replace(old, target)
        raise
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_workbook(path: Path, title: str = "", constant_memory: bool = False):
    """An XlsxWriter workbook written to a temp file beside ``path``, then os.replace'd:
    a crash never leaves a half-written file under the real name.

    Small workbooks are assembled in memory (fastest); ``constant_memory`` streams rows to
    disk instead, for sheets as long as the audit trail of thousands of towns — rows must
    then be written top to bottom."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".qz-", suffix=".xlsx", dir=path.parent)
    os.close(fd)
    try:
        workbook = _new_workbook(tmp, title, constant_memory)
        yield workbook
        workbook.close()
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".qz-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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

    def __init__(self, workbook, specs: dict[str, dict]):
        self._wb, self._specs, self._made = workbook, specs, {}

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
        sheet.merge_range(first_row, first_col, last_row, last_col, text,
                          self._get(name, text.startswith(FORMULA_START)))
