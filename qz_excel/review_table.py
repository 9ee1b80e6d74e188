"""核定表.xlsx: what the 考核组 fills to correct self-reported values (see :mod:`qz_excel.review`).

Sheet 核定: one row per scored town × indicator, grouped by indicator (so each indicator's
核定值 cells form one range carrying the template's own validation, dropdown and prompt),
towns in the towns file's order. Only 核定值, 核定理由 and 核定人 can be edited; 核查提示
marks the rows to look at first (empty or invalid values, contradictory pairs, vetoes,
bonuses), shaded and filterable. Rows filled in the review this run applied are carried
forward as typed, with 核定问题 saying why a row was not applied. A very hidden sheet
carries the year and rules fingerprint, as the templates do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from xlsxwriter.utility import xl_rowcol_to_cell

from qz_excel import __version__, form
from qz_excel.files import clean_text
from qz_excel.review import COLUMNS, KIND, SHEET, ReviewRow
from qz_excel.rules import Rules
from qz_excel.scoring import ScoreResult
from qz_excel.template import value_validation
from qz_excel.xlsx import FONT, Formats, atomic_workbook, row_height

EXTRA = ("核查提示", "核定问题")
WIDTHS = {"单位名称": 14, "考核项目": 10, "指标代码": 13, "指标": 32, "自报值": 9, "核定值": 9, "核定理由": 22,
          "核定人": 8, "核查提示": 16, "核定问题": 34}
BASE = {"font_name": FONT, "font_size": 10, "valign": "vcenter"}
EDIT = {**BASE, "locked": False, "bg_color": "#FFF2CC", "border": 1, "border_color": "#BFBFBF"}
MARK = {"bg_color": "#FCE4D6"}  # a row to look at first
FORMATS = {
    "header": {**BASE, "bold": True, "align": "center", "bg_color": "#D9E1F2", "border": 1, "text_wrap": True},
    "plain": BASE, "marked": {**BASE, **MARK},
    "edit": EDIT, "edit_count": {**EDIT, "num_format": "0"}, "edit_percent": {**EDIT, "num_format": "0.0%"},
    "problem": {**BASE, "font_color": "#C00000", "text_wrap": True},
}
VALUE_FORMAT = {"bool": "edit", "count": "edit_count", "percent": "edit_percent"}


def review_hints(rules: Rules, result: ScoreResult, values: pd.DataFrame, notes: pd.DataFrame) -> pd.DataFrame:
    """核查提示 per town × indicator: why a reviewer should look at it ("" for most)."""
    hints = pd.DataFrame("", index=values.index, columns=list(rules.catalog), dtype=object)

    def add(code: str, mask: np.ndarray, text) -> None:
        col = hints[code].to_numpy(dtype=object)
        hints[code] = np.where(mask, np.where(col == "", text, col + "；" + text), col)

    for code in rules.catalog:
        empty = values[code].isna().to_numpy()
        note = notes[code].to_numpy(dtype=object)
        invalid = np.array([str(n).startswith("填写“") for n in note], dtype=bool)
        add(code, empty & invalid, note)
        add(code, empty & ~invalid, "未填写")
    details = result.details
    r = len(rules.subrules())
    for j, (_, rule) in enumerate(rules.subrules()):
        rows = details.iloc[j::r]  # town-major: this sub-rule's row for each town
        outcome = rows["outcome"].astype(object).to_numpy()
        points = rows["points"].to_numpy()
        part = rule.effective_part
        for code in rule.inputs():
            add(code, outcome == "invalid", "数据矛盾")
            if part == "veto":
                add(code, outcome == "fired", "否决")
            if part == "bonus":
                add(code, points > 0, np.char.add("加", points.astype(str)) + "分")
    return hints


def write_review_table(path: Path, rules: Rules, self_texts: pd.DataFrame, hints: pd.DataFrame,
                       carried: dict[tuple[str, str], tuple[ReviewRow, str]],
                       stray: list[tuple[ReviewRow, str]]) -> Path:
    # constant memory: 2,000 towns make 96,000 rows
    with atomic_workbook(path, title=f"{rules.year}年质量振兴工作考核核定表", constant_memory=True) as wb:
        fmt = Formats(wb, FORMATS)
        ws = wb.add_worksheet(SHEET)
        columns = (*COLUMNS, *EXTRA)
        for c, name in enumerate(columns):
            ws.write_string(0, c, name, fmt["header"])
            ws.set_column(c, c, WIDTHS[name])
        ws.set_row(0, 22)
        towns = list(self_texts.index)
        row = 1
        value_col = COLUMNS.index("核定值")
        for item in rules.items:
            for ind in item.indicators:
                first = row
                texts, marks = self_texts[ind.id].tolist(), hints[ind.id].tolist()
                for town, text, mark in zip(towns, texts, marks):
                    style = "marked" if mark else "plain"
                    entry, problem = carried.get((town, ind.id), (None, ""))
                    if problem:  # rows are streamed: a row's height is set before its cells
                        ws.set_row(row, row_height([(problem, WIDTHS["核定问题"], 10)]))
                    fmt.text(ws, row, 0, town, style)
                    ws.write_string(row, 1, item.name, fmt[style])
                    ws.write_string(row, 2, ind.id, fmt[style])
                    ws.write_string(row, 3, ind.label, fmt[style])
                    fmt.text(ws, row, 4, text, style)
                    _editable(ws, fmt, row, entry, VALUE_FORMAT[ind.type])
                    if mark:
                        ws.write_string(row, 8, mark, fmt[style])
                    if problem:
                        fmt.text(ws, row, 9, problem, "problem")
                    row += 1
                if row > first:
                    spec = value_validation(ind, xl_rowcol_to_cell(first, value_col))
                    ws.data_validation(first, value_col, row - 1, value_col, spec)
        for entry, problem in stray:  # rows that match no scored town × indicator: kept as typed
            ws.set_row(row, row_height([(problem, WIDTHS["核定问题"], 10)]))
            for c, text in enumerate((entry.town, "", entry.indicator, entry.label, entry.self_text)):
                fmt.text(ws, row, c, text, "plain")
            _editable(ws, fmt, row, entry, "edit")
            fmt.text(ws, row, 9, problem, "problem")
            row += 1
        ws.freeze_panes(1, 1)
        ws.autofilter(0, 0, max(row - 1, 1), len(columns) - 1)
        ws.set_paper(9)
        ws.set_landscape()
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(0)
        ws.set_header(f'&C&"宋体,Bold"&12 {rules.year}年质量振兴工作考核核定表', {"margin": 0.3})
        ws.set_footer("&C第 &P 页 共 &N 页", {"margin": 0.3})
        ws.protect("", {"autofilter": True, "sort": True, "format_columns": True, "format_rows": True})
        ws.activate()
        _meta_sheet(wb, rules)
    return path


def _editable(ws, fmt: Formats, row: int, entry: ReviewRow | None, value_style: str) -> None:
    """核定值, 核定理由, 核定人: blank and unlocked, or as the reviewer typed them."""
    raw = entry.raw if entry else None
    if raw is None or raw == "":
        ws.write_blank(row, 5, None, fmt[value_style])
    elif isinstance(raw, bool):
        ws.write_boolean(row, 5, raw, fmt[value_style])
    elif isinstance(raw, (int, float)):
        ws.write_number(row, 5, raw, fmt[value_style])
    else:
        fmt.text(ws, row, 5, clean_text(raw), value_style)
    for col, text in ((6, entry.reason if entry else ""), (7, entry.reviewer if entry else "")):
        if text:
            fmt.text(ws, row, col, text, "edit")
        else:
            ws.write_blank(row, col, None, fmt["edit"])


def _meta_sheet(wb, rules: Rules) -> None:
    ws = wb.add_worksheet(form.META_SHEET)
    ws.write_string(0, 0, form.META_MARK)
    for r, (key, value) in enumerate((("kind", KIND), ("year", str(rules.year)),
                                      ("rules_fingerprint", rules.fingerprint), ("tool_version", __version__)),
                                     start=1):
        ws.write_string(r, 0, key)
        ws.write_string(r, 1, value)
    ws.very_hidden()
    ws.protect("")
