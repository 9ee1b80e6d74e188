"""核定表.xlsx: what the 考核组 fills to correct self-reported values (see :mod:`qz_excel.followup.review`).

Sheet 核定: one row per scored town × indicator, grouped by indicator (so each indicator's
核定值 cells form one range carrying the template's own validation, dropdown and prompt),
towns in the towns file's order. Only 核定值, 核定理由 and 核定人 can be edited; 核查提示
marks the rows to look at first (empty or invalid values, contradictory pairs, vetoes,
bonuses), shaded and filterable. Rows filled in the review this run applied are carried
forward as typed, with 核定问题 saying why a row was not applied. A very hidden sheet
carries the year and rules fingerprint, as the templates do.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from xlsxwriter.utility import xl_rowcol_to_cell

from qz_excel import __version__
from qz_excel.common.files import clean_text
from qz_excel.common.xlsx import FONT, FORMULA_START, Formats, atomic_workbook, row_height
from qz_excel.common.xlsx_rows import Numbers, Texts, repeated, stream_rows, texts
from qz_excel.followup.review import EDITABLE, KIND, SHEET, ReviewRow
from qz_excel.intake.read import is_invalid_note
from qz_excel.rules.points import points_texts
from qz_excel.rules.ruleset import Rules
from qz_excel.scoring.engine import ScoreResult
from qz_excel.template.writer import value_validation, write_meta_sheet

EXTRA = ("核查提示", "核定问题")
#: a clerk's sheet: what is checked first (item, group, indicator), then the town and its
#: value, the cells to fill, why to look; the internal indicator code last, in grey
LAYOUT = ("考核项目", "二级指标", "指标", "单位名称", "自报值", "核定值", "核定理由", "核定人", *EXTRA, "指标代码")
WIDTHS = {
    "二级指标": 12,
    "单位名称": 14,
    "考核项目": 10,
    "指标代码": 13,
    "指标": 32,
    "自报值": 9,
    "核定值": 9,
    "核定理由": 22,
    "核定人": 8,
    "核查提示": 16,
    "核定问题": 34,
}
BASE: dict[str, Any] = {"font_name": FONT, "font_size": 10, "valign": "vcenter"}
EDIT: dict[str, Any] = {**BASE, "locked": False}
FORMATS: dict[str, dict[str, Any]] = {
    "header": {**BASE, "bold": True, "align": "center", "bg_color": "#D9E1F2", "border": 1, "text_wrap": True},
    "plain": BASE,
    "edit": EDIT,
    "edit_count": {**EDIT, "num_format": "0"},
    "edit_percent": {**EDIT, "num_format": "0.0%"},
    "edit_number": {**EDIT, "num_format": "General"},
    "problem": {**BASE, "font_color": "#C00000", "text_wrap": True},
    "code": {**BASE, "font_color": "#A6A6A6", "font_size": 8},
    # conditional formats: the cells to fill, and the rows to check first
    "to_fill": {"bg_color": "#FFF2CC", "border": 1, "border_color": "#BFBFBF"},
    "to_check": {"bg_color": "#FCE4D6"},
}
VALUE_FORMAT = {
    "bool": "edit",
    "count": "edit_count",
    "percent": "edit_percent",
    "choice": "edit",
    "number": "edit_number",
}


def review_hints(rules: Rules, result: ScoreResult, values: pd.DataFrame, notes: pd.DataFrame) -> pd.DataFrame:
    """核查提示 per town × indicator: why a reviewer should look at it ("" for most)."""
    hints = pd.DataFrame("", index=values.index, columns=list(rules.catalog), dtype=object)

    def add(code: str, mask: np.ndarray, text) -> None:
        col = hints[code].to_numpy(dtype=object)
        hints[code] = np.where(mask, np.where(col == "", text, col + "；" + text), col)

    for code in rules.catalog:
        empty = values[code].isna().to_numpy()
        if code in rules.assessed:  # the 考核组's own points: nothing for the town to fill
            add(code, empty, "待考核组评定")
            continue
        note = notes[code].to_numpy(dtype=object)
        invalid = np.array([is_invalid_note(n) for n in note], dtype=bool)
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
            add(code, outcome == "rejected", "评定分值不在可选范围内")
            if part == "veto":
                add(code, outcome == "fired", "否决")
            if part == "bonus":
                add(code, points > 0, "加" + points_texts(points).astype(str) + "分")
    return hints


def write_review_table(
    path: Path,
    rules: Rules,
    self_texts: pd.DataFrame,
    hints: pd.DataFrame,
    carried: dict[tuple[str, str], tuple[ReviewRow, str]],
    stray: list[tuple[ReviewRow, str]],
) -> Path:
    """2,000 towns make 96,000 rows: the sheet is streamed (constant memory), most cells are
    written without a format of their own (the column's applies), and the yellow of the
    cells to fill and the shade of the rows to check come from two conditional formats,
    not from a format on each cell."""
    with atomic_workbook(path, title=f"{rules.year}年{rules.assessment}核定表", constant_memory=True) as wb:
        fmt = Formats(wb, FORMATS)
        ws = wb.add_worksheet(SHEET)
        grouped = any(item.groups for item in rules.items)
        columns = [name for name in LAYOUT if grouped or name != "二级指标"]
        at = {name: c for c, name in enumerate(columns)}
        for c, name in enumerate(columns):
            style = "edit" if name in EDITABLE else "code" if name == "指标代码" else "plain"
            ws.set_column(c, c, WIDTHS[name], fmt[style])
            ws.write_string(0, c, name, fmt["header"])
        ws.set_row(0, 22)
        towns = [clean_text(t) for t in self_texts.index]
        formula_like = any(t.startswith(FORMULA_START) for t in towns)  # the format only when used
        town_column = texts(towns, quoted=fmt.quoted("plain") if formula_like else None)
        row = 1
        for item in rules.items:
            group_of = {
                rule_input: group for group in item.groups for rule in group.rules for rule_input in rule.inputs()
            }
            for ind in item.indicators:
                group = group_of.get(ind.id)
                block = _Block(
                    ws,
                    fmt,
                    at,
                    {
                        "考核项目": item.name,
                        "二级指标": f"{group.number} {group.name}" if group is not None else "",
                        "指标": ind.label,
                        "指标代码": ind.id,
                    },
                    town_column,
                    self_texts[ind.id].tolist(),
                    hints[ind.id].tolist(),
                    fmt["edit_percent"] if ind.type == "percent" else None,
                )
                # most rows are alike and streamed; a row carried from the review applied
                # (typed entries, perhaps a problem and its height) is written cell by cell
                special = sorted(k for k, town in enumerate(self_texts.index) if (town, ind.id) in carried)
                start = 0
                for k in [*special, len(towns)]:
                    block.stream(row + start, start, k)
                    if k < len(towns):
                        block.carried(row + k, k, *carried[(self_texts.index[k], ind.id)], VALUE_FORMAT[ind.type])
                    start = k + 1
                if towns:
                    spec = value_validation(ind, xl_rowcol_to_cell(row, at["核定值"]))
                    ws.data_validation(row, at["核定值"], row + len(towns) - 1, at["核定值"], spec)
                row += len(towns)
        for entry, problem in stray:  # rows that match no scored town × indicator: kept as typed
            ws.set_row(row, row_height([(problem, WIDTHS["核定问题"], 10)]))
            typed = {
                "单位名称": entry.town,
                "指标代码": entry.indicator,
                "指标": entry.label,
                "自报值": entry.self_text,
            }
            for name, text in typed.items():
                fmt.text(ws, row, at[name], text, "plain")
            _editable(ws, fmt, row, at, entry, "edit")
            fmt.text(ws, row, at["核定问题"], problem, "problem")
            row += 1
        last = max(row - 1, 1)
        fill_first, fill_last = at["核定值"], at["核定人"]
        ws.conditional_format(
            1, fill_first, last, fill_last, {"type": "formula", "criteria": "=TRUE", "format": fmt["to_fill"]}
        )
        hint = xl_rowcol_to_cell(1, at["核查提示"], col_abs=True)
        for first_col, last_col in ((0, fill_first - 1), (at["核查提示"], at["核定问题"])):
            ws.conditional_format(
                1, first_col, last, last_col, {"type": "formula", "criteria": f'={hint}<>""', "format": fmt["to_check"]}
            )
        ws.freeze_panes(1, at["单位名称"] + 1)
        ws.autofilter(0, 0, last, len(columns) - 1)
        ws.set_paper(9)
        ws.set_landscape()
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(0)
        ws.set_header(f'&C&"宋体,Bold"&12 {rules.year}年{rules.assessment}核定表', {"margin": 0.3})
        ws.set_footer("&C第 &P 页 共 &N 页", {"margin": 0.3})
        ws.protect("", {"autofilter": True, "sort": True, "format_columns": True, "format_rows": True})
        ws.activate()
        _meta_sheet(wb, rules)
    return path


class _Block:
    """One indicator's rows: a row per town, streamed (:func:`stream_rows`) in runs
    between the rows a review carries forward."""

    def __init__(self, ws, fmt: Formats, at: dict[str, int], fixed: dict[str, str], towns, values, marks, blank):
        self.ws, self.fmt, self.at, self.fixed = ws, fmt, at, fixed
        self.towns, self.values, self.marks, self.blank = towns, values, marks, blank

    def stream(self, row: int, start: int, stop: int) -> None:
        """Towns ``start`` … ``stop - 1`` from ``row`` down."""
        count = stop - start
        if count <= 0:
            return
        part = slice(start, stop)
        columns: list[Texts | Numbers | None] = [None] * len(self.at)
        for name, value in self.fixed.items():
            if name in self.at and value:
                columns[self.at[name]] = repeated(value, count)
        town = self.towns
        columns[self.at["单位名称"]] = Texts(town.codes[part], town.uniques, town.styles)
        columns[self.at["自报值"]] = texts(self.values[part])
        if self.blank is not None:
            columns[self.at["核定值"]] = Numbers([math.nan] * count, blank=self.blank)
        columns[self.at["核查提示"]] = texts(self.marks[part], skip_empty=True)
        stream_rows(self.ws, row, columns, count)

    def carried(self, row: int, k: int, entry: ReviewRow, problem: str, value_style: str) -> None:
        """Town ``k``'s row as the review typed it, with why it was not applied."""
        ws, at, fmt = self.ws, self.at, self.fmt
        if problem:  # rows are streamed: a row's height is set before its cells
            ws.set_row(row, row_height([(problem, WIDTHS["核定问题"], 10)]))
        for name, value in self.fixed.items():
            if name in at and value:
                ws.write_string(row, at[name], value)
        ws.write_string(
            row, at["单位名称"], self.towns.uniques[self.towns.codes[k]], self.towns.styles[self.towns.codes[k]]
        )
        ws.write_string(row, at["自报值"], self.values[k])
        _editable(ws, fmt, row, at, entry, value_style)
        if self.marks[k]:
            ws.write_string(row, at["核查提示"], self.marks[k])
        if problem:
            fmt.text(ws, row, at["核定问题"], problem, "problem")


def _editable(ws, fmt: Formats, row: int, at: dict[str, int], entry: ReviewRow, value_style: str) -> None:
    """核定值, 核定理由, 核定人 as the reviewer typed them."""
    raw, col = entry.raw, at["核定值"]
    if raw is None or raw == "":
        ws.write_blank(row, col, None, fmt[value_style])
    elif isinstance(raw, bool):
        ws.write_boolean(row, col, raw, fmt[value_style])
    elif isinstance(raw, (int, float)):
        ws.write_number(row, col, raw, fmt[value_style])
    else:
        fmt.text(ws, row, col, clean_text(raw), value_style)
    for name, text in (("核定理由", entry.reason), ("核定人", entry.reviewer)):
        if text:
            fmt.text(ws, row, at[name], text, "edit")


def _meta_sheet(wb, rules: Rules) -> None:
    write_meta_sheet(
        wb, {"kind": KIND, "year": rules.year, "rules_fingerprint": rules.fingerprint, "tool_version": __version__}
    )
