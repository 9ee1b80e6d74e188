"""核定 from the web page: the rows of the campaign's 核定表 to look at first, and values
entered in the page written into that same table (checked as `--review` checks them), so
the rescoring that follows is exactly `qz score --review`."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from qz_excel.campaign.folder import Campaign
from qz_excel.common.files import atomic_write_bytes
from qz_excel.followup.review import SHEET
from qz_excel.rules.ruleset import Rules, load_rules
from qz_excel.rules.values import ValueRejected, is_empty, parse_value


@dataclass
class Entry:
    town: str
    code: str
    value: str
    reason: str
    reviewer: str


def _table(campaign: Campaign):
    import openpyxl

    path = campaign.review_table
    if not path.is_file():
        raise FileNotFoundError("还没有核定表：请先评分（结果/核定表.xlsx 由每次评分生成）")
    book = openpyxl.load_workbook(path)
    sheet = book[SHEET]
    header = [str(c.value or "") for c in sheet[1]]
    return book, sheet, {name: k for k, name in enumerate(header)}


def rows_to_check(campaign: Campaign) -> list[dict]:
    """Rows with a 核查提示 or already filled: what the 考核组 looks at first."""
    _, sheet, at = _table(campaign)
    rows = []
    for row in sheet.iter_rows(min_row=2, values_only=True):
        record = {name: ("" if row[k] is None else row[k]) for name, k in at.items() if k < len(row)}
        if record.get("核查提示") or any(record.get(n) not in ("", None) for n in ("核定值", "核定理由")):
            rows.append(record)
    return rows


def check_entry(rules: Rules, entry: Entry, towns: set[str]) -> str:
    """What is wrong with one entry, in Chinese ("" when it can be applied)."""
    ind = rules.catalog.get(entry.code)
    if entry.town not in towns:
        return f"{entry.town}：不在名单中"
    if ind is None:
        return f"{entry.town}：没有指标 {entry.code}"
    if is_empty(entry.value):
        return f"{entry.town}“{ind.label}”：没有填写核定值"
    try:
        parse_value(entry.value, ind.type, rules.spec.settings.count_max, ind.domain)
    except ValueRejected as exc:
        return f"{entry.town}“{ind.label}”：{exc.message}"
    if not entry.reason.strip():
        return f"{entry.town}“{ind.label}”：请写核定理由"
    return ""


def enter_reviews(campaign: Campaign, entries: list[Entry]) -> list[str]:
    """Writes the entries into 结果/核定表.xlsx when every one is right; else returns what
    is wrong with each (and writes nothing)."""
    from qz_excel.common.towns import read_towns

    rules = load_rules(campaign.rules)
    towns = set(read_towns(campaign.towns_file)["单位名称"])
    problems = [p for p in (check_entry(rules, e, towns) for e in entries) if p]
    if problems:
        return problems
    book, sheet, at = _table(campaign)
    wanted = {(e.town, e.code): e for e in entries}
    for row in sheet.iter_rows(min_row=2):
        key = (row[at["单位名称"]].value, row[at["指标代码"]].value)
        entry = wanted.get(key)
        if entry is not None:
            value: object = entry.value
            try:  # a number typed in the page is stored as a number, as Excel would
                value = float(entry.value) if "." in entry.value else int(entry.value)
            except ValueError:
                pass
            row[at["核定值"]].value = value
            row[at["核定理由"]].value = entry.reason
            row[at["核定人"]].value = entry.reviewer
    buffer = io.BytesIO()
    book.save(buffer)
    atomic_write_bytes(Path(campaign.review_table), buffer.getvalue())
    return []
