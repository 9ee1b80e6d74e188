"""Last year beside this year: 上年总分, 上年名次, 名次变化 and the 同比 of each item.

Last year's results are read from its 汇总.xlsx (the 汇总排名 sheet), whatever rules that
year used: totals and ranks always compare; items only where both years have an item of
the same name. Towns are matched by name, through the 更名 list for renamed or merged
towns (this year's name → last year's); a town matched by nothing is 新参加, never
dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from qz_excel.rules.points import SCALE

RANKING_SHEET = "汇总排名"
NEW = "新参加"
UNRANKED = "上年未排名"
COMPARED = ("上年总分", "上年名次", "名次变化")


class LastYearError(Exception):
    """Last year's file cannot be used; the message says what to give instead."""


@dataclass(frozen=True)
class LastYear:
    path: Path
    totals: dict[str, float]  # last year's name → 总分 (towns not ranked have none)
    ranks: dict[str, int]
    items: dict[str, dict[str, float]]  # item name (without its number) → town → score
    renamed: dict[str, str]  # this year's name → last year's

    def name_of(self, town: str) -> str:
        return self.renamed.get(town, town)


def _item_name(header: str) -> str | None:
    """「3 质量\\n管理」 → 「质量管理」; None for a column that is no item."""
    flat = header.replace("\n", "")
    match = re.match(r"^\d+\s+(.+)$", flat)
    return match.group(1).strip() if match else None


def read_last_year(path: Path, renamed: dict[str, str] | None = None) -> LastYear:
    from python_calamine import CalamineWorkbook

    if not path.is_file():
        raise LastYearError(
            f"找不到上一年的汇总表 {path}：请在 qz.toml 的 [last_year] results 写上一年的考核目录或其汇总.xlsx"
        )
    try:
        book = CalamineWorkbook.from_path(str(path))
        rows = book.get_sheet_by_name(RANKING_SHEET).to_python()
    except Exception:  # noqa: BLE001 — any unreadable file or missing sheet: one sentence
        raise LastYearError(
            f"{path} 不是 qz 生成的汇总表（没有“{RANKING_SHEET}”工作表）：请指定上一年 qz score 结果目录中的 汇总.xlsx"
        ) from None
    header = [str(h).replace("\n", "") for h in rows[0]] if rows else []
    if not {"单位名称", "总分", "排名"} <= set(header):
        raise LastYearError(
            f"{path} 的“{RANKING_SHEET}”没有 单位名称、总分、排名 三列：请指定 qz score 生成的 汇总.xlsx"
        )
    at = {name: k for k, name in enumerate(header)}
    totals: dict[str, float] = {}
    ranks: dict[str, int] = {}
    items: dict[str, dict[str, float]] = {}
    item_cols = {k: name for k, h in enumerate(rows[0]) if (name := _item_name(str(h)))}
    for row in rows[1:]:
        town = str(row[at["单位名称"]]).strip()
        if not town:
            continue
        if row[at["总分"]] != "":
            totals[town] = float(str(row[at["总分"]]))
        if row[at["排名"]] != "":
            ranks[town] = int(float(str(row[at["排名"]])))
        for k, name in item_cols.items():
            if row[k] != "":
                items.setdefault(name, {})[town] = float(str(row[k]))
    return LastYear(path=path, totals=totals, ranks=ranks, items=items, renamed=dict(renamed or {}))


def rank_change(this: object, last: int | None, known: bool) -> str:
    """↑3, ↓2, 持平; 新参加 for a town last year did not have; 上年未排名 when it did not rank."""
    if not known:
        return NEW
    if last is None:
        return UNRANKED
    if this is None or pd.isna(this):
        return ""
    change = last - int(this)  # type: ignore[call-overload]
    return "持平" if change == 0 else f"↑{change}" if change > 0 else f"↓{-change}"


def add_last_year(ranking: pd.DataFrame, last: LastYear) -> pd.DataFrame:
    """汇总排名 with 上年总分, 上年名次 and 名次变化 after 总分."""
    names = ranking["单位名称"].map(last.name_of)
    known = names.isin(set(last.totals) | set(last.ranks) | {t for scores in last.items.values() for t in scores})
    table = ranking.copy()
    table["上年总分"] = pd.array([last.totals.get(n) for n in names], dtype="Float64")
    table["上年名次"] = pd.array([last.ranks.get(n) for n in names], dtype="Int64")
    table["名次变化"] = [rank_change(r, last.ranks.get(n), k) for r, n, k in zip(ranking["排名"], names, known)]
    columns = list(ranking.columns)
    at = columns.index("总分") + 1
    return table[columns[:at] + list(COMPARED) + columns[at:]]


def year_on_year(ranking: pd.DataFrame, item_headers: list[str], last: LastYear) -> pd.DataFrame:
    """同比: one row per town and item both years have (by item name), and the totals."""
    rows = []
    for record in ranking.to_dict("records"):
        town, before = record["单位名称"], last.name_of(record["单位名称"])
        for header in [*item_headers, "总分"]:
            name = "总分" if header == "总分" else _item_name(header)
            now = record.get(header)
            was = last.totals.get(before) if header == "总分" else last.items.get(name or "", {}).get(before)
            if name is None or (header != "总分" and name not in last.items):
                continue
            if now is None or pd.isna(now) or was is None:
                change = None
            else:
                change = (round(float(now) * SCALE) - round(was * SCALE)) / SCALE
            rows.append({"单位名称": town, "项目": name, "本年": now, "上年": was, "变化": change})
    return pd.DataFrame(rows, columns=["单位名称", "项目", "本年", "上年", "变化"])
