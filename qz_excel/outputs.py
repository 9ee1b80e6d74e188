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
from qz_excel.xlsx import Formats, atomic_workbook, print_a4, row_height, safe_sheet_name

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

# 评分细则: the seed table's five columns plus 得分说明 (widths in Excel character units)
TOWN_COLUMNS = {"序号": 5, "考核内容": 30, "评分方法": 34, "标准分": 6.5, "实得分": 6.5, "得分说明": 38}


def item_explanations(rules: Rules, details: pd.DataFrame, items: pd.DataFrame) -> pd.Series:
    """Per (town, item): the sub-rules' explanations, one per line, then how the item
    score came out of them when a clamp, bonus or veto was involved."""
    lines = details.groupby(["town", "item"], sort=False)["explanation"].agg(
        lambda s: "\n".join(f"{k}．{t}" for k, t in enumerate(s, start=1)))
    standard = items["item"].map({i.number: i.standard for i in rules.items})
    tail = pd.Series("", index=items.index, dtype=object)
    over = items["base_raw"] > standard
    tail[over] = "基础分合计" + items["base_raw"].astype(str) + "分，超过标准分，按" + standard.astype(str) + "分计。"
    tail[items["base_raw"] < 0] = "扣分后为负，按0分计。"
    bonus = (items["bonus"] > 0) & ~items["vetoed"]
    tail[bonus] = tail[bonus] + "另加分" + items["bonus"].astype(str) + "分。"
    tail[items["vetoed"]] = "触发否决，本项得0分。"
    key = pd.MultiIndex.from_frame(items[["town", "item"]])
    body = lines.reindex(key).to_numpy()
    text = pd.Series(body, index=items.index) + pd.Series(
        ["" if t == "" else "\n" + t for t in tail], index=items.index)
    return pd.Series(text.to_numpy(), index=key)


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
    codes_flat = np.tile([",".join(rule.inputs()) for _, rule in rules.subrules()], n)
    headers = {i.number: f"{i.number} {i.name}" for i in rules.items}
    return pd.DataFrame({
        "单位名称": details["town"].astype(object).to_numpy(),
        "项目": details["item"].map(headers).to_numpy(),
        "细则": details["label"].astype(object).to_numpy(),
        "指标代码": codes_flat,
        "填报值": used_flat,
        "得分": details["points"].to_numpy(),
        "得分说明": details["explanation"].astype(object).to_numpy(),
    })


def write_town_sheet(wb, fmt: Formats, sheet_name: str, rules: Rules, town: str,
                     scores: pd.Series, explanations: pd.Series, total: int) -> None:
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


def write_town_workbook(path: Path, rules: Rules, town: str, scores: pd.Series,
                        explanations: pd.Series, total: int) -> Path:
    with atomic_workbook(path, title=f"{rules.year}年{town}质量振兴工作考核评分细则") as wb:
        write_town_sheet(wb, Formats(wb, FORMATS), "评分细则", rules, town, scores, explanations, total)
    return path


def _write_table(ws, fmt: Formats, frame: pd.DataFrame, widths: dict[str, float], text_columns=()):
    for c, name in enumerate(frame.columns):
        ws.write_string(0, c, str(name), fmt["header"])
        ws.set_column(c, c, widths.get(name, 10))
    for r, row in enumerate(frame.itertuples(index=False), start=1):
        for c, value in enumerate(row):
            if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
                ws.write_blank(r, c, None, fmt["center"])
            elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
                ws.write_number(r, c, float(value), fmt["number"])
            else:
                fmt.text(ws, r, c, value, "plain" if frame.columns[c] in text_columns else "center")
    ws.freeze_panes(1, 0)
    if len(frame):
        ws.autofilter(0, 0, len(frame), len(frame.columns) - 1)


def _ranking_sheet(wb, fmt: Formats, rules: Rules, ranking: pd.DataFrame) -> None:
    """汇总排名: the table (frozen header, colour scale on item scores) and a bar chart of
    the totals beside it; landscape A4, one page wide."""
    ws = wb.add_worksheet(RANKING_SHEET)
    widths = {"排名": 6, "单位名称": 18, "类别": 8, "加分合计": 8, "总分": 8, "状态": 8}
    _write_table(ws, fmt, ranking, widths)
    item_cols = [c for c in ranking.columns if c[:1].isdigit()]
    for name in item_cols:
        col = ranking.columns.get_loc(name)
        ws.set_column(col, col, 9)
    ws.set_row(0, 30)
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
                  town_pages: list[tuple[str, pd.Series, pd.Series, int]] = ()) -> Path:
    with atomic_workbook(path, title=f"{rules.year}年质量振兴工作考核汇总") as wb:
        fmt = Formats(wb, FORMATS)
        _ranking_sheet(wb, fmt, rules, ranking)
        ws = wb.add_worksheet("评分明细")
        _write_table(ws, fmt, details, {"单位名称": 16, "项目": 14, "细则": 22, "指标代码": 26,
                                         "填报值": 16, "得分": 6, "得分说明": 60},
                     text_columns=("得分说明", "填报值"))
        ws = wb.add_worksheet("问题清单")
        _write_table(ws, fmt, problems, {"文件": 30, "单位名称": 16, "工作表": 10, "单元格": 8,
                                          "指标代码": 24, "填报内容": 14, "问题代码": 18, "级别": 6,
                                          "说明": 60}, text_columns=("说明", "文件"))
        ws = wb.add_worksheet("文件清单")
        _write_table(ws, fmt, files, {"文件": 40, "状态": 10, "单位名称": 16, "说明": 40},
                     text_columns=("文件", "说明"))
        taken = {RANKING_SHEET, "评分明细", "问题清单", "文件清单"}
        for town, scores, explanations, total in town_pages:
            write_town_sheet(wb, fmt, safe_sheet_name(town, taken), rules, town, scores,
                             explanations, total)
    return path
