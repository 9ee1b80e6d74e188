"""The filled 评分细则 per town, laid out like 附件2, and what each one shows.

Values only (no formulas), text from towns written as text, A4 print settings, byte-
identical for the same input (fixed document properties, deterministic order). The 汇总
workbook is :mod:`qz_excel.summary`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qz_excel.rules import Rules
from qz_excel.scoring import ScoreResult
from qz_excel.xlsx import Formats, print_a4, row_height, staged_workbook

BORDER = {"border": 1, "valign": "vcenter", "font_size": 10}
FORMATS = {
    "title": {"bold": True, "font_size": 15, "align": "center", "valign": "vcenter", "text_wrap": True},
    "attachment": {"font_size": 11},
    "header": {**BORDER, "bold": True, "align": "center", "bg_color": "#D9E1F2", "text_wrap": True},
    "text": {**BORDER, "text_wrap": True, "valign": "top"},
    "small": {**BORDER, "text_wrap": True, "valign": "top", "font_size": 9},
    "center": {**BORDER, "align": "center"},
    "total": {**BORDER, "bold": True, "align": "center"},
    "sign": {"font_size": 11, "valign": "bottom"},
    "plain": {"valign": "top", "text_wrap": True, "font_size": 10},
    "bare": {},  # unstyled long data sheets: only its quoted() variant is ever used
}

# 评分细则: the seed table's five columns plus 得分说明 (widths in Excel character units)
TOWN_COLUMNS = {"序号": 5, "考核内容": 30, "评分方法": 34, "标准分": 6.5, "实得分": 6.5, "得分说明": 38}

#: towns per slice of the audit trail and of the 评分细则 texts: results are composed a
#: slice at a time, so a province's run never holds every town's text at once
TOWNS_PER_SLICE = 250


class TownPages:
    """What each town's 评分细则 shows — item scores, 得分说明, total — composed for a slice
    of towns at a time (the 得分说明 of 2,000 towns take megabytes; of a slice, kilobytes).

    Built from the scoring result once; afterwards it holds numpy arrays and lists only, so
    a feeder thread may use it while the main thread writes the 汇总 workbook."""

    def __init__(self, rules: Rules, result: ScoreResult) -> None:
        details, items = result.details, result.items
        self.rules = rules
        self.towns = list(details["town"].cat.categories)
        n, r = len(self.towns), len(rules.subrules())
        self._codes = details["explanation"].cat.codes.to_numpy().reshape(n, r)
        self._texts = np.asarray(details["explanation"].cat.categories, dtype=object)
        numbers = [item.number for item in rules.items]
        self._scores = result.summary.loc[self.towns, numbers].to_numpy(dtype=np.int64)
        self._totals = result.summary.loc[self.towns, "总分"].to_numpy(dtype=np.int64)
        self._items = {}  # item number → (base_raw, bonus, vetoed), in town order
        for item in rules.items:
            mine = items[items["item"] == item.number]
            self._items[item.number] = tuple(mine[c].to_numpy() for c in ("base_raw", "bonus", "vetoed"))

    def __len__(self) -> int:
        return len(self.towns)

    def explanations(self, start: int, stop: int) -> dict[int, np.ndarray]:
        """Item number → the 得分说明 of towns [start, stop): the sub-rules' explanations,
        one numbered line each, then how the item score came out of them when a clamp,
        bonus or veto was involved. Column-wise string arithmetic, no per-town loop."""
        texts = self._texts[self._codes[start:stop]]
        out, j = {}, 0
        for item in self.rules.items:
            block, j = texts[:, j:j + len(item.rules)], j + len(item.rules)
            text = "1．" + block[:, 0]
            for m in range(1, block.shape[1]):
                text = text + f"\n{m + 1}．" + block[:, m]
            raw, bonus, vetoed = (a[start:stop] for a in self._items[item.number])
            tail = np.where(raw > item.standard,
                            "\n基础分合计" + raw.astype(str) + f"分，超过标准分，按{item.standard}分计。",
                            np.where(raw < 0, "\n扣分后为负，按0分计。", ""))
            tail = np.where(bonus > 0, tail + np.where(tail == "", "\n", "") + "另加分" + bonus.astype(str) + "分。",
                            tail)
            tail = np.where(vetoed, "\n触发否决，本项得0分。", tail)
            out[item.number] = text + tail.astype(object)
        return out

    def pages(self, start: int, stop: int) -> list[tuple[str, dict, dict, int]]:
        """(town, {item: score}, {item: 得分说明}, total) for towns [start, stop)."""
        numbers = [item.number for item in self.rules.items]
        texts = self.explanations(start, stop)
        return [(self.towns[t], dict(zip(numbers, self._scores[t].tolist())),
                 {number: texts[number][t - start] for number in numbers}, int(self._totals[t]))
                for t in range(start, stop)]

    def __iter__(self):
        for start in range(0, len(self), TOWNS_PER_SLICE):
            yield from self.pages(start, min(start + TOWNS_PER_SLICE, len(self)))


def write_town_sheet(wb, fmt: Formats, sheet_name: str, rules: Rules, town: str,
                     scores: dict, explanations: dict, total: int) -> None:
    """One filled 评分细则 laid out like 附件2."""
    ws = wb.add_worksheet(sheet_name)
    for i, width in enumerate(TOWN_COLUMNS.values()):
        ws.set_column(i, i, width)
    last = len(TOWN_COLUMNS) - 1
    ws.write_string(0, 0, f"{rules.spec.attachment}：", fmt["attachment"])
    fmt.merged_text(ws, 1, 0, 1, last, f"{rules.year}年{town}质量振兴工作考核评分细则", "title")
    ws.set_row(1, 36)
    for i, name in enumerate(TOWN_COLUMNS):
        ws.write_string(2, i, name, fmt["header"])
    ws.set_row(2, 22)
    widths = list(TOWN_COLUMNS.values())
    for r, item in enumerate(rules.items, start=3):
        explanation = explanations[item.number]
        ws.write_number(r, 0, item.number, fmt["center"])
        ws.write_string(r, 1, item.content, fmt["text"])
        ws.write_string(r, 2, item.method, fmt["text"])
        ws.write_number(r, 3, item.standard, fmt["center"])
        ws.write_number(r, 4, int(scores[item.number]), fmt["center"])
        fmt.text(ws, r, 5, explanation, "small")
        ws.set_row(r, row_height([(item.content, widths[1], 10), (item.method, widths[2], 10),
                                  (explanation, widths[5] * 10 / 9, 9)]))
    r = 3 + len(rules.items)
    ws.merge_range(r, 0, r, 2, "合计", fmt["total"])
    ws.write_number(r, 3, sum(i.standard for i in rules.items), fmt["total"])
    ws.write_number(r, 4, int(total), fmt["total"])
    ws.write_blank(r, 5, None, fmt["total"])
    ws.set_row(r, 22)
    ws.write_string(r + 2, 0, "考核人：                    复核人：                    日期：", fmt["sign"])
    ws.set_row(r + 2, 30)
    # '&' starts a control code in headers/footers; Excel caps them at 255 characters
    print_a4(ws, 2, footer="&L" + town[:60].replace("&", "&&") + "&R第 &P 页 共 &N 页")
    ws.print_area(0, 0, r + 2, last)


def write_town_workbook(path: Path, rules: Rules, town: str, scores: dict,
                        explanations: dict, total: int) -> Path:
    """One town's 评分细则, written straight to ``path``: it lies in a staging folder that
    is published as a whole (:mod:`qz_excel.publish`)."""
    with staged_workbook(path, title=f"{rules.year}年{town}质量振兴工作考核评分细则") as wb:
        write_town_sheet(wb, Formats(wb, FORMATS), "评分细则", rules, town, scores, explanations, total)
    return path
