"""The towns file: who is assessed this year.

CSV (UTF-8 with or without BOM, or GBK/GB18030 as Excel on Chinese Windows saves it) or a
workbook, with a required column 单位名称 and optional 类别, 联系人, 邮箱.
"""

from __future__ import annotations

import io
import unicodedata
from pathlib import Path

import pandas as pd
from python_calamine import CalamineWorkbook

REQUIRED = "单位名称"
OPTIONAL = ("类别", "联系人", "邮箱")


class TownsError(Exception):
    """The towns file cannot be used; the message says how to fix it."""


def clean_name(text: object) -> str:
    """Town names as people type them: NFKC (full-width forms), inner spaces kept once."""
    if text is None or (isinstance(text, float) and pd.isna(text)):
        return ""
    return " ".join(unicodedata.normalize("NFKC", str(text)).split())


def _decode(data: bytes, path: Path) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise TownsError(f"{path}：无法识别文件编码，请在 Excel 中另存为“CSV UTF-8”后重试")


def _read_table(path: Path) -> pd.DataFrame:
    data = path.read_bytes()
    if data[:4] == b"PK\x03\x04" or data[:8] == bytes.fromhex("D0CF11E0A1B11AE1"):
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        rows = book.get_sheet_by_index(0).to_python(skip_empty_area=True)
        if not rows:
            raise TownsError(f"{path}：第一个工作表是空的")
        header = [clean_name(h) for h in rows[0]]
        return pd.DataFrame(rows[1:], columns=header).astype(object)
    text = _decode(data, path)
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)


def read_towns(path: str | Path) -> pd.DataFrame:
    """Towns in file order: columns 单位名称, 类别, 联系人, 邮箱 (empty string when absent)."""
    path = Path(path)
    if not path.is_file():
        raise TownsError(f"找不到单位名单文件 {path}")
    try:
        table = _read_table(path)
    except TownsError:
        raise
    except Exception as exc:  # a broken workbook or CSV: say which file, not a traceback
        raise TownsError(f"{path}：无法读取单位名单（{exc}）") from None
    table.columns = [clean_name(c) for c in table.columns]
    if REQUIRED not in table.columns:
        raise TownsError(f"{path}：缺少“{REQUIRED}”列；第一行应是表头，如：单位名称,类别,联系人,邮箱")
    towns = pd.DataFrame({col: table[col].map(clean_name) if col in table.columns else ""
                          for col in (REQUIRED, *OPTIONAL)})
    towns = towns[towns[REQUIRED] != ""].reset_index(drop=True)
    if towns.empty:
        raise TownsError(f"{path}：名单中没有任何单位")
    dup = towns[REQUIRED][towns[REQUIRED].duplicated()].unique()
    if len(dup):
        raise TownsError(f"{path}：单位名称重复：{'、'.join(dup)}；每个单位只能出现一次")
    return towns
