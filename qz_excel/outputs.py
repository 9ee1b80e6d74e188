"""Result workbooks: the filled 评分细则 per town and the 汇总 workbook.

Values only (no formulas), text from towns written as text, A4 print settings, byte-
identical for the same input (fixed document properties, deterministic order).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from qz_excel.rules import Rules
from qz_excel.values import format_values
from qz_excel.xlsx import (FORMULA_START, Formats, atomic_workbook, clean_text, print_a4, row_height,
                           safe_sheet_name, staged_workbook)

BORDER = {"border": 1, "valign": "vcenter", "font_size": 10}
FORMATS = {
    "title": {"bold": True, "font_size": 15, "align": "center", "valign": "vcenter", "text_wrap": True},
    "attachment": {"font_size": 11},
    "header": {**BORDER, "bold": True, "align": "center", "bg_color": "#D9E1F2", "text_wrap": True},
    "text": {**BORDER, "text_wrap": True, "valign": "top"},
    "small": {**BORDER, "text_wrap": True, "valign": "top", "font_size": 9},
    "center": {**BORDER, "align": "center"},
    "number": {**BORDER, "align": "center", "num_format": "0"},
    "total_label": {**BORDER, "bold": True, "align": "center"},
    "total": {**BORDER, "bold": True, "align": "center", "num_format": "0"},
    "sign": {"font_size": 11, "valign": "bottom"},
    "plain": {"valign": "top", "text_wrap": True, "font_size": 10},
}

RANKING_SHEET = "汇总排名"
SHEET_ROWS_MAX = 1_048_576  # Excel's limit, header row included

# 评分细则: the seed table's five columns plus 得分说明 (widths in Excel character units)
TOWN_COLUMNS = {"序号": 5, "考核内容": 30, "评分方法": 34, "标准分": 6.5, "实得分": 6.5, "得分说明": 38}


def item_explanations(rules: Rules, details: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """Per town (rows) and item (columns): the sub-rules' explanations, one numbered line
    each, then how the item score came out of them when a clamp, bonus or veto was involved.
    Column-wise string arithmetic, no per-town loop."""
    towns = details["town"].cat.categories
    n, r = len(towns), len(rules.subrules())
    codes = details["explanation"].cat.codes.to_numpy().reshape(n, r)
    texts = np.asarray(details["explanation"].cat.categories, dtype=object)[codes] if n else codes.astype(object)
    out, j = {}, 0
    for item in rules.items:
        block, j = texts[:, j:j + len(item.rules)], j + len(item.rules)
        text = "1．" + block[:, 0]
        for m in range(1, block.shape[1]):
            text = text + f"\n{m + 1}．" + block[:, m]
        mine = items[items["item"] == item.number]  # in town order
        raw, bonus, vetoed = (mine[c].to_numpy() for c in ("base_raw", "bonus", "vetoed"))
        tail = np.where(raw > item.standard, "\n基础分合计" + raw.astype(str) + f"分，超过标准分，按{item.standard}分计。",
                        np.where(raw < 0, "\n扣分后为负，按0分计。", ""))
        tail = np.where(bonus > 0, tail + np.where(tail == "", "\n", "") + "另加分" + bonus.astype(str) + "分。", tail)
        tail = np.where(vetoed, "\n触发否决，本项得0分。", tail)
        out[item.number] = text + tail.astype(object)
    return pd.DataFrame(out, index=towns)


def audit_trail(rules: Rules, details: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """评分明细: one row per town × sub-rule with the indicators and values it used."""
    shown = {code: format_values(values[code], ind.type, ind.unit).to_numpy(dtype=object)
             for code, ind in rules.catalog.items()}
    used = []
    for _, rule in rules.subrules():
        inputs = rule.inputs()
        text = shown[inputs[0]]
        for code in inputs[1:]:
            text = text + "；" + shown[code]
        used.append(text)
    n = len(values)
    used_flat = np.stack(used, axis=1).reshape(-1) if n else np.array([], dtype=object)
    headers = {i.number: i.header for i in rules.items}
    return pd.DataFrame({
        "单位名称": details["town"].astype(object).to_numpy(),
        "项目": details["item"].map(headers).to_numpy(),
        "细则": details["label"].astype(object).to_numpy(),
        "填报值": used_flat,
        "得分": details["points"].to_numpy(),
        "得分说明": details["explanation"].astype(object).to_numpy(),
    })


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
        ws.write_number(r, 3, item.standard, fmt["number"])
        ws.write_number(r, 4, int(scores[item.number]), fmt["number"])
        fmt.text(ws, r, 5, explanation, "small")
        ws.set_row(r, row_height([(item.content, widths[1], 10), (item.method, widths[2], 10),
                                  (explanation, widths[5] * 10 / 9, 9)]))
    r = 3 + len(rules.items)
    ws.merge_range(r, 0, r, 2, "合计", fmt["total_label"])
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
    is swapped in as a whole (:func:`qz_excel.xlsx.swap_folder`)."""
    with staged_workbook(path, title=f"{rules.year}年{town}质量振兴工作考核评分细则") as wb:
        write_town_sheet(wb, Formats(wb, FORMATS), "评分细则", rules, town, scores, explanations, total)
    return path


def _write_table(ws, fmt: Formats, frame: pd.DataFrame, widths: dict[str, float], text_columns=(),
                 header_height: float | None = None):
    """A header row and the frame's rows, top to bottom (constant-memory safe).

    Tens of thousands of rows (the audit trail of 2,000 towns is 88,000), so each column is
    prepared once — numbers, or cleaned text with the formula-like cells picked out — and
    the loop only hands cells to the writer."""
    if header_height:
        ws.set_row(0, header_height)
    for c, name in enumerate(frame.columns):
        ws.write_string(0, c, str(name), fmt["header"])
        ws.set_column(c, c, widths.get(name, 10))
    writers = [_column_writer(ws, fmt, frame[name], "plain" if name in text_columns else "center")
               for name in frame.columns]
    for r in range(len(frame)):
        for c, write in enumerate(writers):
            write(r + 1, c, r)
    ws.freeze_panes(1, 0)
    if len(frame):
        ws.autofilter(0, 0, len(frame), len(frame.columns) - 1)


def _column_writer(ws, fmt: Formats, column: pd.Series, style: str):
    """A function (row, col, i) writing item i of ``column``: a number, text or a blank."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        numbers = column.astype("Float64").to_numpy(dtype=float, na_value=np.nan).tolist()
        number, blank = fmt["number"], fmt["center"]

        def write(row, col, i):
            value = numbers[i]
            if value != value:  # NaN: no value
                ws.write_blank(row, col, None, blank)
            else:
                ws.write_number(row, col, value, number)
        return write
    # each distinct value cleaned once: the trail repeats town names, labels and
    # explanations thousands of times, and the cells then share those strings
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    texts = [clean_text(u) for u in uniques] + [""]  # code -1 (no value) → ""
    styles = [fmt.quoted(style) if t.startswith(FORMULA_START) else fmt[style] for t in texts]
    codes = codes.tolist()

    def write(row, col, i):
        k = codes[i]
        ws.write_string(row, col, texts[k], styles[k])
    return write


def _ranking_sheet(wb, fmt: Formats, rules: Rules, ranking: pd.DataFrame) -> None:
    """汇总排名: the table (frozen header, colour scale on item scores) and a bar chart of
    the totals beside it; landscape A4, one page wide."""
    ws = wb.add_worksheet(RANKING_SHEET)
    widths = {"排名": 6, "单位名称": 18, "类别": 8, "加分合计": 8, "总分": 8, "状态": 8}
    item_cols = [c for c in ranking.columns if c[:1].isdigit()]
    _write_table(ws, fmt, ranking, {**widths, **{name: 9 for name in item_cols}}, header_height=30)
    n = len(ranking)
    scored = int(ranking["排名"].notna().sum())
    for name in item_cols if n else []:
        # one scale per item: items have different 标准分 (item 10's full marks are 5)
        col = ranking.columns.get_loc(name)
        ws.conditional_format(1, col, n, col, {"type": "3_color_scale"})
    if scored:
        total_col = ranking.columns.get_loc("总分")
        name_col = ranking.columns.get_loc("单位名称")
        chart = wb.add_chart({"type": "bar"})
        chart.add_series({"name": "总分",
                          "categories": [RANKING_SHEET, 1, name_col, scored, name_col],
                          "values": [RANKING_SHEET, 1, total_col, scored, total_col],
                          "data_labels": {"value": True}, "fill": {"color": "#4472C4"}})
        chart.set_title({"name": f"{rules.year}年质量振兴工作考核总分"})
        chart.set_legend({"none": True})
        chart.set_y_axis({"reverse": True})  # rank 1 at the top, as in the table
        # below the table, as wide as it, so the printed page keeps the table legible
        chart.set_size({"width": 980, "height": max(280, 20 * scored + 90)})
        ws.insert_chart(n + 2, 0, chart)
    print_a4(ws, 0)
    ws.set_landscape()
    ws.set_header(f"&C&14 {rules.year}年质量振兴工作考核汇总排名")  # the space ends the font size


def write_ranking_print(path: Path, rules: Rules, ranking: pd.DataFrame) -> Path:
    """汇总排名 alone, for printing to PDF without the long audit sheets."""
    with atomic_workbook(path, title=f"{rules.year}年质量振兴工作考核汇总排名") as wb:
        _ranking_sheet(wb, Formats(wb, FORMATS), rules, ranking)
    return path


def write_summary(path: Path, rules: Rules, ranking: pd.DataFrame, details: pd.DataFrame,
                  problems: pd.DataFrame, files: pd.DataFrame,
                  town_pages: list[tuple[str, dict, dict, int]] = ()) -> Path:
    with atomic_workbook(path, title=f"{rules.year}年质量振兴工作考核汇总", constant_memory=True) as wb:
        fmt = Formats(wb, FORMATS)
        _ranking_sheet(wb, fmt, rules, ranking)
        # 44 rows per town: past ~23,800 towns the trail continues on 评分明细(2), …
        for k, start in enumerate(range(0, max(len(details), 1), SHEET_ROWS_MAX - 1)):
            ws = wb.add_worksheet("评分明细" if k == 0 else f"评分明细({k + 1})")
            _write_table(ws, fmt, details.iloc[start:start + SHEET_ROWS_MAX - 1],
                         {"单位名称": 16, "项目": 14, "细则": 22, "填报值": 16, "得分": 6, "得分说明": 60},
                         text_columns=("得分说明", "填报值"))
        ws = wb.add_worksheet("问题清单")
        _write_table(ws, fmt, problems, {"文件": 30, "单位名称": 16, "工作表": 10, "单元格": 8,
                                          "指标代码": 24, "填报内容": 14, "问题代码": 18, "级别": 6,
                                          "说明": 60}, text_columns=("说明", "文件"))
        ws = wb.add_worksheet("文件清单")
        _write_table(ws, fmt, files, {"文件": 40, "状态": 10, "单位名称": 16, "说明": 40},
                     text_columns=("文件", "说明"))
        taken = set(wb.sheetnames)
        for town, scores, explanations, total in town_pages:
            write_town_sheet(wb, fmt, safe_sheet_name(town, taken), rules, town, scores,
                             explanations, total)
    return path
