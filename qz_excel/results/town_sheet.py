"""The filled 评分细则 per town, laid out like 附件2, and what each one shows.

Values only (no formulas), text from towns written as text, A4 print settings, byte-
identical for the same input (fixed document properties, deterministic order). The 汇总
workbook is :mod:`qz_excel.results.summary`.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from pathlib import Path

import numpy as np

from qz_excel.common.textwidth import display_width
from qz_excel.common.xlsx import FONT, Formats, row_height, staged_workbook
from qz_excel.rules.points import points_number, points_text, points_texts
from qz_excel.rules.ruleset import Rules
from qz_excel.scoring.engine import ScoreResult

BODY_PT = 9  # the seed's table at 9 pt fits two A4 pages; printed at 100 %, never shrunk
BORDER = {"border": 1, "valign": "vcenter", "font_size": 10, "font_name": FONT}
FORMATS = {
    "title": {
        "bold": True,
        "font_size": 16,
        "align": "center",
        "valign": "vcenter",
        "font_name": FONT,
        "text_wrap": True,
    },  # a long town name wraps the title rather than clipping it
    "attachment": {"font_size": 10.5, "font_name": FONT, "valign": "bottom"},
    "mark": {
        "bold": True,
        "font_size": 12,
        "font_color": "#C00000",
        "align": "right",
        "valign": "bottom",
        "font_name": FONT,
    },
    "header": {**BORDER, "bold": True, "align": "center", "bg_color": "#D9E1F2", "text_wrap": True},
    "text": {**BORDER, "text_wrap": True, "valign": "top", "font_size": BODY_PT},
    "small": {**BORDER, "text_wrap": True, "valign": "top", "font_size": BODY_PT},
    "center": {**BORDER, "align": "center"},
    "wrapped": {**BORDER, "align": "center", "text_wrap": True},  # a cell whose text may need two lines
    "center_small": {**BORDER, "align": "center", "text_wrap": True, "font_size": BODY_PT},
    # runs inside one cell: each carries its own font (a run without one prints at 11 pt)
    "bold_run": {"bold": True, "font_size": BODY_PT, "font_name": FONT},
    "plain_run": {"font_size": BODY_PT, "font_name": FONT},
    "total": {**BORDER, "bold": True, "align": "center", "font_size": 10.5},
    "total_note": {**BORDER, "bold": True, "align": "center", "font_size": BODY_PT, "text_wrap": True},
    "sign": {"font_size": 10.5, "valign": "bottom", "font_name": FONT},
    "sign_line": {"font_size": 10.5, "valign": "bottom", "font_name": FONT, "bottom": 1},
    "date": {"font_size": 10.5, "valign": "bottom", "align": "right", "font_name": FONT},
    "plain": {**BORDER, "text_wrap": True},  # text cells of the printed lists
    "bare": {},  # unstyled long data sheets: only its quoted() variant is ever used
}

# 评分细则: the seed table's five columns plus 得分说明 (widths in Excel character units,
# 7·w + 5 pixels each): 674 px, inside the 717 px between A4 portrait's 0.4-inch margins;
# 标准分 and 实得分 just wide enough for their three characters in bold
TOWN_COLUMNS = {"序号": 4, "考核内容": 22, "评分方法": 28, "标准分": 6, "实得分": 6, "得分说明": 26}
#: the same total width shared out again, for a town whose 得分说明 would not fit two pages
WIDTH_PLANS = (
    TOWN_COLUMNS,
    {**TOWN_COLUMNS, "考核内容": 19, "评分方法": 26, "得分说明": 31},
    {**TOWN_COLUMNS, "考核内容": 17, "评分方法": 23, "得分说明": 36},
    {**TOWN_COLUMNS, "考核内容": 15, "评分方法": 21, "得分说明": 40},
)
PROVISIONAL = "暂定（待核实）"
MARGINS = {"left": 0.4, "right": 0.4, "top": 0.5, "bottom": 0.55}
#: points a page holds between the top and bottom margins (A4: 842 pt), less a safety
#: margin: page breaks are planned from the row heights set here
PAGE_BODY_PT = 842 - 72 * (MARGINS["top"] + MARGINS["bottom"]) - 12
TITLE_ROWS = (18, 34, 22)  # 附件2 line, title, header row (repeated on every page)
TAIL_ROWS = (24, 8, 30, 30, 30)  # 合计, a gap, 考核人, 复核人, 考核单位 and date (about 1 cm each to sign)


#: towns per slice of the audit trail and of the 评分细则 texts: results are composed a
#: slice at a time, so a province's run never holds every town's text at once
TOWNS_PER_SLICE = 250


class TownPages:
    """What each town's 评分细则 shows — item scores, 得分说明, total — composed for a slice
    of towns at a time (the 得分说明 of 2,000 towns take megabytes; of a slice, kilobytes).

    Built from the scoring result once; afterwards it holds numpy arrays and lists only, so
    a feeder thread may use it while the main thread writes the 汇总 workbook."""

    def __init__(
        self,
        rules: Rules,
        result: ScoreResult,
        provisional: AbstractSet[str] = frozenset(),
        notes: dict[str, str] | None = None,
    ) -> None:
        """``provisional``: towns whose result is not final (待核实): their pages say so;
        ``notes``: a line per town beside 合计 (last year's total and rank)."""
        self.notes = notes or {}
        details, items = result.details, result.items
        self.rules, self.provisional = rules, provisional
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
        self._groups = {}  # (item number, group number) → (raw, score), in town order
        if result.groups is not None:
            for (number, group), rows in result.groups.groupby(["item", "group"], sort=False):
                self._groups[(number, group)] = (rows["raw"].to_numpy(), rows["score"].to_numpy())
        grades = result.summary.get("等级")
        self._grades = None if grades is None else grades.loc[self.towns].to_numpy(dtype=object)

    def __len__(self) -> int:
        return len(self.towns)

    def explanations(self, start: int, stop: int) -> dict[int, np.ndarray]:
        """Item number → the 得分说明 of towns [start, stop): the sub-rules' explanations,
        one numbered line each, then how the item score came out of them when a clamp,
        bonus or veto was involved. Column-wise string arithmetic, no per-town loop."""
        texts = self._texts[self._codes[start:stop]]
        out, j = {}, 0
        for item in self.rules.items:
            block, j = texts[:, j : j + len(item.rules)], j + len(item.rules)
            raw, bonus, vetoed = (a[start:stop] for a in self._items[item.number])
            if item.groups:
                out.update(self._group_explanations(item, block, start, stop))
                tail = np.where(vetoed, "触发否决，本项得0分。", "")
                if item.bonus:  # the groups add up to more than the whole bonus may be
                    earned = sum(self._groups[(item.number, g.number)][1][start:stop] for g in item.groups)
                    cap = self.rules.spec.settings.bonus_total_cap
                    over = (
                        "各组合计"
                        + points_texts(earned).astype(str)
                        + f"分，加分最多{points_text(cap or 0)}分，按{points_text(cap or 0)}分计。"
                    )
                    tail = np.where(earned > bonus, over, tail)
                out[item.number] = tail.astype(object)
                continue
            # numbered as the 评分方法 numbers its lines (two sub-rules may share one)
            numbers = [self.rules.method_number[rule.id] for rule in item.rules]
            text = _numbered(block, numbers)
            standard = points_text(item.standard)
            tail = np.where(
                raw > item.standard,
                "\n基础分合计" + points_texts(raw).astype(str) + f"分，超过标准分，按{standard}分计。",
                np.where(raw < 0, "\n扣分后为负，按0分计。", ""),
            )
            tail = np.where(
                bonus > 0,
                tail + np.where(tail == "", "\n", "") + "另加" + points_texts(bonus).astype(str) + "分。",
                tail,
            )
            tail = np.where(vetoed, "\n触发否决，本项得0分。", tail)
            out[item.number] = text + tail.astype(object)
        return out

    def _group_explanations(self, item, block: np.ndarray, start: int, stop: int) -> dict:
        """(item, group) → the group's 得分说明: its sub-rules numbered from 1, then how the
        group score came out of them (a clamp to its 标准分 or cap, a start at full marks)."""
        out, k = {}, 0
        for group in item.groups:
            width = len(group.rules)
            text = _numbered(block[:, k : k + width], list(range(1, width + 1)))
            k += width
            raw, _ = (a[start:stop] for a in self._groups[(item.number, group.number)])
            if item.bonus:
                limit = group.cap
                over = "\n合计加" + points_texts(raw).astype(str) + f"分，本组最多加{points_text(limit or 0)}分。"
                tail = np.where(raw > limit, over, "") if limit is not None else np.full(len(raw), "")
            else:
                standard = group.standard or 0
                shown = points_text(standard)
                head = f"满分{shown}分起扣，" if group.start_full else "合计"
                tail = np.where(
                    raw > standard,
                    "\n" + head + points_texts(raw).astype(str) + f"分，超过标准分，按{shown}分计。",
                    np.where(raw < 0, "\n扣分后为负，按0分计。", ""),
                )
            out[(item.number, group.number)] = text + tail.astype(object)
        return out

    def pages(self, start: int, stop: int) -> list[tuple]:
        """(town, scores, 得分说明, total, provisional, grade) for towns [start, stop):
        ``scores`` and ``得分说明`` keyed by item number and, for groups, by (item, group);
        points in hundredths; grade None when the rules file sets none."""
        numbers = [item.number for item in self.rules.items]
        texts = self.explanations(start, stop)
        pages = []
        for t in range(start, stop):
            scores = dict(zip(numbers, self._scores[t].tolist()))
            scores.update({key: int(score[t]) for key, (_, score) in self._groups.items()})
            pages.append(
                (
                    self.towns[t],
                    scores,
                    {key: column[t - start] for key, column in texts.items()},
                    int(self._totals[t]),
                    self.towns[t] in self.provisional,
                    None if self._grades is None else self._grades[t],
                    self.notes.get(self.towns[t]),
                )
            )
        return pages

    def __iter__(self):
        for start in range(0, len(self), TOWNS_PER_SLICE):
            yield from self.pages(start, min(start + TOWNS_PER_SLICE, len(self)))


def _numbered(block: np.ndarray, numbers: list[int]) -> np.ndarray:
    """Each town's sub-rule explanations as numbered lines (「1．…\n2．…」)."""
    text = f"{numbers[0]}．" + block[:, 0]
    for m in range(1, block.shape[1]):
        text = text + f"\n{numbers[m]}．" + block[:, m]
    return text


def _row_texts(rules: Rules, explanations: dict) -> list[tuple[str, str, str]]:
    """(考核内容, 评分方法, 得分说明) of every body row, in order: what sets their heights."""
    rows = []
    for item in rules.items:
        if item.groups:
            rows.append((f"{item.name}\n{item.content}".strip(), item.method, explanations[item.number]))
            rows += [(g.name, g.method, explanations[(item.number, g.number)]) for g in item.groups]
        else:
            rows.append((item.content, item.method, explanations[item.number]))
    return rows


def plan_columns(rows: list[tuple[str, str, str]], longest_score: str, title_rows=TITLE_ROWS):
    """The column widths and row heights that print on at most two pages: the usual
    widths, else ones that give the 得分说明 more room (a town whose every cell carries a
    note and whose counts run to thousands), and a 实得分 column as wide as its longest
    number. The total width never changes: it is what A4 portrait holds at 9 pt."""
    score_width = max(TOWN_COLUMNS["实得分"], display_width(longest_score) * 1.15 + 1)
    extra = score_width - TOWN_COLUMNS["实得分"]
    for plan in WIDTH_PLANS:
        widths = {**plan, "实得分": score_width, "得分说明": plan["得分说明"] - extra}
        heights = [_row_height(*row, widths=widths) for row in rows]
        if len(page_breaks(heights, title_rows=title_rows)) <= 1:
            break
    return widths, heights


def _row_height(content: str, method: str, explanation: str, widths=TOWN_COLUMNS) -> float:
    return row_height(
        [
            (content, widths["考核内容"], BODY_PT),
            (method, widths["评分方法"], BODY_PT),
            (explanation, widths["得分说明"], BODY_PT),
        ]
    )


def page_breaks(heights: list[float], page: float = PAGE_BODY_PT, title_rows=TITLE_ROWS) -> list[int]:
    """Indexes of the items that start a new page: as many items a page as fit, and the
    last item always on the page of 合计 and the signatures (never those alone)."""
    repeat, tail = title_rows[-1], sum(TAIL_ROWS)
    breaks, used = [], sum(title_rows)
    for k, height in enumerate(heights):
        if used + height > page and used > sum(title_rows):
            breaks.append(k)
            used = repeat
        used += height
    if used + tail > page and (not breaks or breaks[-1] != len(heights) - 1):
        breaks.append(len(heights) - 1)
    return breaks


def write_town_sheet(
    wb,
    fmt: Formats,
    sheet_name: str,
    rules: Rules,
    town: str,
    scores: dict,
    explanations: dict,
    total: int,
    provisional: bool = False,
    grade: str | None = None,
    note: str | None = None,
) -> None:
    """One filled 评分细则 laid out like 附件2, for signing: legible (9 pt at 100 %), at
    most two A4 pages broken only between items, 合计 and the signatures with the last item.
    An item with groups (二级指标) gets a row of its own, then a row per group."""
    ws = wb.add_worksheet(sheet_name)
    last = len(TOWN_COLUMNS) - 1
    title = f"{rules.year}年{town}{rules.assessment}评分细则"
    # a long name wraps the title: its row grows with it
    title_rows = (
        TITLE_ROWS[0],
        max(TITLE_ROWS[1], row_height([(title, sum(TOWN_COLUMNS.values()), 16)])),
        TITLE_ROWS[2],
    )
    longest = max((points_text(s) for s in (*scores.values(), total)), key=display_width)
    widths, heights = plan_columns(_row_texts(rules, explanations), longest, title_rows)
    for i, width in enumerate(widths.values()):
        ws.set_column(i, i, width)
    ws.write_string(0, 0, f"{rules.spec.attachment}：", fmt["attachment"])
    if provisional:
        ws.merge_range(0, 3, 0, last, PROVISIONAL, fmt["mark"])
    fmt.merged_text(ws, 1, 0, 1, last, title, "title")
    for r, height in enumerate(title_rows):
        ws.set_row(r, height)
    for i, name in enumerate(TOWN_COLUMNS):
        ws.write_string(2, i, name, fmt["header"])
    r = 3
    for item in rules.items:
        # rows in order, each sized before its cells: a constant-memory workbook (汇总's
        # per-town sheets) writes a row once and moves on
        if item.groups:
            _grouped_rows(ws, fmt, r, rules, item, scores, explanations, heights[r - 3 : r - 2 + len(item.groups)])
            r += 1 + len(item.groups)
            continue
        ws.set_row(r, heights[r - 3])
        ws.write_number(r, 0, item.number, fmt["center"])
        ws.write_string(r, 1, item.content, fmt["text"])
        ws.write_string(r, 2, item.method, fmt["text"])
        ws.write_number(r, 3, points_number(item.standard), fmt["center"])
        ws.write_number(r, 4, points_number(scores[item.number]), fmt["center"])
        fmt.text(ws, r, 5, explanations[item.number], "small")
        r += 1
    ws.merge_range(r, 0, r, 2, "合计", fmt["total"])
    ws.write_number(r, 3, points_number(sum(i.standard for i in rules.items)), fmt["total"])
    ws.write_number(r, 4, points_number(total), fmt["total"])
    beside = "；".join(text for text in (f"等级：{grade}" if grade else "", note or "") if text)
    if beside:
        ws.write_string(r, 5, beside, fmt["total_note"] if note else fmt["total"])
    else:
        ws.write_blank(r, 5, None, fmt["total"])
    _signature_block(ws, fmt, r + 2)
    for k, height in enumerate(TAIL_ROWS):
        ws.set_row(r + k, height)
    ws.set_h_pagebreaks([3 + k for k in page_breaks(heights, title_rows=title_rows)])
    ws.set_paper(9)
    ws.set_portrait()
    ws.set_print_scale(100)
    ws.set_margins(**MARGINS)
    ws.center_horizontally()
    ws.repeat_rows(2)
    # '&' starts a control code in headers/footers; Excel caps them at 255 characters
    ws.set_footer("&L" + town[:60].replace("&", "&&") + "&R第 &P 页 共 &N 页", {"margin": 0.3})
    if provisional:
        ws.set_header("&R" + PROVISIONAL, {"margin": 0.25})
    ws.print_area(0, 0, r + len(TAIL_ROWS) - 1, last)


def _grouped_rows(
    ws, fmt: Formats, r: int, rules: Rules, item, scores: dict, explanations: dict, heights: list[float]
) -> None:
    """An item with groups: its own row (number, name and content, method, 标准分, 得分, what
    happened to the item as a whole), then one row per group (its number, name, method,
    标准分 or cap, 得分 and its sub-rules' explanations)."""
    ws.set_row(r, heights[0])
    ws.write_number(r, 0, item.number, fmt["center"])
    if item.content:  # the item's name in bold above its content
        ws.write_rich_string(r, 1, fmt["bold_run"], item.name, fmt["plain_run"], "\n" + item.content, fmt["text"])
    else:
        ws.write_string(r, 1, item.name, fmt["text"])
    ws.write_string(r, 2, item.method, fmt["text"])
    if item.bonus:
        cap = rules.spec.settings.bonus_total_cap
        ws.write_string(r, 3, f"最多加{points_text(cap)}" if cap is not None else "加分", fmt["center_small"])
    else:
        ws.write_number(r, 3, points_number(item.standard), fmt["center"])
    ws.write_number(r, 4, points_number(scores[item.number]), fmt["center"])
    fmt.text(ws, r, 5, explanations[item.number], "small")
    for k, group in enumerate(item.groups, start=1):
        r += 1
        ws.set_row(r, heights[k])
        explanation = explanations[(item.number, group.number)]
        ws.write_string(r, 0, group.number, fmt["center_small"])
        ws.write_string(r, 1, group.name, fmt["text"])
        ws.write_string(r, 2, group.method, fmt["text"])
        if item.bonus:
            limit = f"最多加{points_text(group.cap)}" if group.cap is not None else "—"
            ws.write_string(r, 3, limit, fmt["center_small"])
        else:
            ws.write_number(r, 3, points_number(group.standard or 0), fmt["center"])
        ws.write_number(r, 4, points_number(scores[(item.number, group.number)]), fmt["center"])
        fmt.text(ws, r, 5, explanation, "small")


def _signature_block(ws, fmt: Formats, row: int) -> None:
    """考核人 and 复核人 sign on lines of their own; the 考核单位 stamps beside its name;
    the date is written by hand."""
    for k, who in enumerate(("考核人（签字）：", "复核人（签字）：")):
        ws.merge_range(row + k, 0, row + k, 1, who, fmt["sign"])
        ws.write_blank(row + k, 2, None, fmt["sign_line"])
    ws.merge_range(row + 2, 0, row + 2, 1, "考核单位（盖章）：", fmt["sign"])
    ws.merge_range(row + 2, 3, row + 2, 5, "年　　月　　日", fmt["date"])


def write_town_workbook(
    path: Path,
    rules: Rules,
    town: str,
    scores: dict,
    explanations: dict,
    total: int,
    provisional: bool = False,
    grade: str | None = None,
    note: str | None = None,
) -> Path:
    """One town's 评分细则, written straight to ``path``: it lies in a staging folder that
    is published as a whole (:mod:`qz_excel.results.publish`)."""
    with staged_workbook(path, title=f"{rules.year}年{town}{rules.assessment}评分细则") as wb:
        write_town_sheet(
            wb, Formats(wb, FORMATS), "评分细则", rules, town, scores, explanations, total, provisional, grade, note
        )
    return path
