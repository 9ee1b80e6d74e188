"""The towns file: who is assessed this year, as clerks keep it.

CSV (UTF-8 with or without BOM, or GBK/GB18030 as Excel on Chinese Windows saves it) or a
workbook (the first sheet). The header row is found among the first rows (a title such as
「2010年各镇街道园区名单」, blank rows or merged title cells above it are fine); the name
column may be called 单位名称 or one of its common names (单位, 镇（街道）, 乡镇, 名称 …),
said in a note. Optional: 类别, 联系人, 邮箱 (also by their common names). Merged cells
(a 类别 spanning several towns) count for every row they cover; numbers are read as
typed (1, not 1.0). A row with no name but other data is reported, never dropped silently.
"""

from __future__ import annotations

import csv
import difflib
import io
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

REQUIRED = "单位名称"
OPTIONAL = ("类别", "联系人", "邮箱")
HEADER_SCAN_ROWS = 10
#: the names a clerk gives each column (compared after NFKC: full-width brackets, spaces)
ALIASES = {
    "单位名称": (
        "单位名称",
        "单位",
        "名称",
        "单位名",
        "考核单位",
        "被考核单位",
        "镇(街道)",
        "镇(街道)名称",
        "镇街",
        "镇街名称",
        "镇街道",
        "乡镇",
        "乡镇名称",
        "乡镇(街道)",
        "乡镇(街道)名称",
        "镇、街道、园区",
        "镇街园区",
        "乡镇街道",
        "镇(街道、园区)",
    ),
    "类别": ("类别", "类型", "分类", "单位类别", "单位类型"),
    "联系人": ("联系人", "联系人姓名", "负责人", "填报人"),
    "邮箱": ("邮箱", "电子邮箱", "邮件", "电子邮件", "邮箱地址", "email", "e-mail", "mail"),
}


class TownsError(Exception):
    """The towns file cannot be used; the message says how to fix it."""


def clean_name(text: object) -> str:
    """Town names as people type them: NFKC (full-width forms), inner spaces kept once;
    a number as typed (1, not 1.0)."""
    if text is None or (isinstance(text, float) and text != text):
        return ""
    if isinstance(text, float) and text.is_integer():
        text = int(text)
    return " ".join(unicodedata.normalize("NFKC", str(text)).split())


def _key(header: str) -> str:
    return clean_name(header).replace(" ", "").lower()


_ALIAS_OF = {_key(alias): column for column, aliases in ALIASES.items() for alias in aliases}


def _decode(data: bytes, path: Path) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise TownsError(f"{path}：无法识别文件编码，请在 Excel 中另存为“CSV UTF-8”后重试")


def _rows(path: Path) -> list[list]:
    """The first sheet (or the CSV) as rows of cells, merged cells filled from their first."""
    data = path.read_bytes()
    if data[:4] == b"PK\x03\x04" or data[:8] == bytes.fromhex("D0CF11E0A1B11AE1"):
        from python_calamine import CalamineWorkbook

        sheet = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0)
        rows = sheet.to_python(skip_empty_area=False)
        top, left = getattr(sheet, "start", (0, 0)) or (0, 0)
        for (r0, c0), (r1, c1) in getattr(sheet, "merged_cell_ranges", None) or []:
            r0, r1, c0, c1 = r0 - top, r1 - top, c0 - left, c1 - left
            if 0 <= r0 < len(rows) and 0 <= c0 < len(rows[r0]):
                value = rows[r0][c0]
                for r in range(r0, min(r1, len(rows) - 1) + 1):
                    for c in range(c0, min(c1, len(rows[r]) - 1) + 1):
                        rows[r][c] = value
        return rows
    return list(csv.reader(io.StringIO(_decode(data, path))))


def _header(rows: list[list], path: Path) -> tuple[int, dict[str, int], list[str]]:
    """(row of the header, column → index, notes). The header is the first of the top rows
    with a name column; a title merged across the columns is not one (all its cells agree)."""
    for r, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        texts = [clean_name(c) for c in row]
        if len({t for t in texts if t}) < 2 and len([t for t in texts if t]) > 1:
            continue  # a merged title row: the same words in every cell
        found: dict[str, int] = {}
        notes = []
        for c, text in enumerate(texts):
            column = _ALIAS_OF.get(_key(text))
            if column and column not in found:
                found[column] = c
                if text != column:
                    notes.append(f"以“{text}”列作为“{column}”")
        if REQUIRED in found:
            return r, found, notes
    # the likely header: the first row with two different words (not a title, not blank)
    candidates = [[t for t in (clean_name(c) for c in row) if t] for row in rows[:HEADER_SCAN_ROWS]]
    headers = next((c for c in candidates if len(set(c)) >= 2), next((c for c in candidates if c), []))
    near = difflib.get_close_matches(REQUIRED, headers, n=1, cutoff=0.3)
    hint = f"；找到的列有：{'、'.join(dict.fromkeys(headers[:15]))}" if headers else "；文件前几行是空的"
    if near:
        hint += f"。是“{near[0]}”吗？请把它改成“{REQUIRED}”"
    raise TownsError(
        f"{path}：找不到“{REQUIRED}”列（前 {HEADER_SCAN_ROWS} 行中应有表头，如：单位名称,类别,联系人,邮箱）{hint}"
    )


def read_towns(path: str | Path) -> pd.DataFrame:
    """Towns in file order: columns 单位名称, 类别, 联系人, 邮箱 (empty string when absent).
    ``.attrs["notes"]``: what was read in a way the clerk should know (an aliased column,
    rows without a name)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise TownsError(f"找不到单位名单文件 {path}")
    try:
        rows = _rows(path)
    except TownsError:
        raise
    except Exception as exc:  # a broken workbook or CSV: say which file, not a traceback
        raise TownsError(f"{path}：无法读取单位名单（{type(exc).__name__}）：请用 Excel/WPS 打开并另存后重试") from None
    head, at, notes = _header(rows, path)
    records, nameless = [], []
    for r in range(head + 1, len(rows)):
        row = rows[r]
        cells = {col: clean_name(row[k]) if k < len(row) else "" for col, k in at.items()}
        if not cells[REQUIRED]:
            if any(clean_name(c) for c in row):
                nameless.append(r + 1)
            continue
        records.append({col: cells.get(col, "") for col in (REQUIRED, *OPTIONAL)})
    if nameless:
        shown = "、".join(str(n) for n in nameless[:10]) + (" 等" if len(nameless) > 10 else "")
        notes.append(f"第 {shown} 行没有单位名称但有其他内容，已跳过；如是漏填，请补上单位名称")
    towns = pd.DataFrame(records, columns=[REQUIRED, *OPTIONAL], dtype=object)
    if towns.empty:
        raise TownsError(f"{path}：名单中没有任何单位")
    dup = towns[REQUIRED][towns[REQUIRED].duplicated()].unique()
    if len(dup):
        raise TownsError(f"{path}：单位名称重复：{'、'.join(dup)}；每个单位只能出现一次")
    towns.attrs["notes"] = notes
    return towns
