"""The 汇总 workbook: 汇总排名 with its chart, the 评分明细 audit trail, 问题清单, 文件清单,
and optionally every town's 评分细则 as a sheet.

Tens of thousands of rows (the audit trail of 2,000 towns is 88,000), so the workbook is
streamed to disk row by row (XlsxWriter's constant-memory mode) and each column is
prepared once, vectorised, before the loop hands its cells to the writer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from xlsxwriter.utility import xl_rowcol_to_cell

from qz_excel.common.files import clean_text
from qz_excel.common.textwidth import display_width
from qz_excel.common.xlsx import FORMULA_START, Formats, atomic_workbook, row_height, safe_sheet_name, two_lines
from qz_excel.common.xlsx_rows import Numbers, Texts, sliced, stream_rows, write_cells
from qz_excel.intake.changes import changes_frame
from qz_excel.results.town_sheet import FORMATS, TOWNS_PER_SLICE, write_town_sheet
from qz_excel.rules.points import SCALE, points_number, points_text
from qz_excel.rules.ruleset import Rules
from qz_excel.rules.values import format_values

RANKING_SHEET = "汇总排名"
CHANGES_SHEET = "变更记录"
REVIEWS_SHEET = "核定记录"
CHANGE_WIDTHS = {"单位名称": 16, "指标": 40, "原值": 17, "新值": 17, "原文件": 27, "采用的文件": 27, "指标代码": 20}
REVIEW_COLUMNS = {
    "单位名称": 14,
    "考核项目": 10,
    "指标": 34,
    "自报值": 10,
    "核定值": 10,
    "核定理由": 30,
    "核定人": 9,
    "核定前该项得分": 8,
    "核定后该项得分": 8,
    "核定前总分": 7,
    "核定后总分": 7,
}
SHEET_ROWS_MAX = 1_048_576  # Excel's limit, header row included

TRAIL_COLUMNS = {"单位名称": 16, "项目": 14, "细则": 22, "自报值": 16, "核定值": 12, "得分": 6, "得分说明": 60}


def audit_trail(rules: Rules, details: pd.DataFrame, values: pd.DataFrame, reviewed: pd.DataFrame | None = None):
    """评分明细: one row per town × sub-rule with the self-reported values it used and,
    where the 考核组 corrected one of them, the reviewed values (``reviewed``: the values
    frame after :func:`qz_excel.followup.review.apply_review`, NA where nothing was reviewed) —
    yielded as frames of :data:`TOWNS_PER_SLICE` towns (88,000 rows for 2,000 towns are
    written as they are made, never held at once)."""
    r = len(rules.subrules())
    headers = {i.number: i.header for i in rules.items}
    for start in range(0, len(values), TOWNS_PER_SLICE):
        part = values.iloc[start : start + TOWNS_PER_SLICE]
        rows = details.iloc[start * r : (start + len(part)) * r]
        used = _used_values(rules, part)
        if reviewed is not None:
            checked = reviewed.iloc[start : start + TOWNS_PER_SLICE]
            marks = checked.notna()
            after = _used_values(rules, checked.where(marks, part))
            any_checked = np.stack(
                [marks[rule.inputs()].any(axis=1).to_numpy() for _, rule in rules.subrules()], axis=1
            ).reshape(-1)
            verified = np.where(any_checked, np.stack(after, axis=1).reshape(-1), "")
        else:
            verified = np.full(len(rows), "", dtype=object)
        yield pd.DataFrame(
            {
                "单位名称": rows["town"].astype(object).to_numpy(),
                "项目": rows["item"].map(headers).to_numpy(),
                "细则": rows["label"].astype(object).to_numpy(),
                "自报值": np.stack(used, axis=1).reshape(-1),
                "核定值": verified,
                "得分": rows["points"].to_numpy() / SCALE,  # exact to the 16 digits a cell keeps
                "得分说明": rows["explanation"].astype(object).to_numpy(),
            }
        )


def _used_values(rules: Rules, part: pd.DataFrame) -> list[np.ndarray]:
    """Per sub-rule, the text of the values it used (「4次；40家」), one per town."""
    shown = {
        code: format_values(part[code], ind.type, ind.unit).to_numpy(dtype=object)
        for code, ind in rules.catalog.items()
    }
    used = []
    for _, rule in rules.subrules():
        inputs = rule.inputs()
        text = shown[inputs[0]]
        for code in inputs[1:]:
            text = text + "；" + shown[code]
        used.append(text)
    return used


def _write_table(
    ws,
    fmt: Formats,
    frame: pd.DataFrame,
    widths: Mapping[str, float],
    text_columns=(),
    header_height: float | None = None,
    fit_rows: bool = False,
):
    """A header row and the frame's rows, top to bottom (constant-memory safe).
    ``fit_rows``: each row as tall as its wrapped text columns need (LibreOffice and WPS
    do not fit heights on opening); for the short lists that are printed."""
    _write_header(ws, fmt, list(frame.columns), widths, header_height)
    if fit_rows and text_columns:
        texts = [frame[c].fillna("").astype(str).tolist() for c in text_columns]
        for r in range(len(frame)):
            ws.set_row(r + 1, row_height([(t[r], widths.get(c, 10), 10) for t, c in zip(texts, text_columns)]))
    _write_rows(ws, fmt, frame, 1, text_columns)
    _finish_table(ws, len(frame), len(frame.columns))


def _print_list(ws, title: str) -> None:
    """A list for the file: A4 landscape, one page wide, its title on every page above the
    repeated header row, page numbers below."""
    ws.set_paper(9)
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    ws.set_margins(left=0.4, right=0.4, top=0.7, bottom=0.6)
    ws.repeat_rows(0)
    ws.set_header(f'&C&"宋体,Bold"&14 {title}', {"margin": 0.3})  # the space ends the font size
    ws.set_footer("&C第 &P 页 共 &N 页", {"margin": 0.3})


def _write_header(
    ws, fmt: Formats, columns: list[str], widths: Mapping[str, float], header_height: float | None = None
) -> None:
    if header_height:
        ws.set_row(0, header_height)
    for c, name in enumerate(columns):
        ws.write_string(0, c, str(name), fmt["header"])
        ws.set_column(c, c, widths.get(name, 10))


def _write_rows(ws, fmt: Formats, frame: pd.DataFrame, first_row: int, text_columns=()) -> None:
    """The frame's rows from ``first_row`` down, styled, each column prepared once; row by
    row, as these short lists may have rows of their own height."""
    columns = [_styled_column(fmt, frame[name], "plain" if name in text_columns else "center") for name in frame]
    for r in range(len(frame)):
        write_cells(ws, first_row + r, columns, r)


def _finish_table(ws, rows: int, columns: int) -> None:
    ws.freeze_panes(1, 0)
    if rows:
        ws.autofilter(0, 0, rows, columns - 1)


def _write_trail(wb, fmt: Formats, slices) -> None:
    """评分明细 from frames of rows, streamed; past Excel's row limit (about 23,800 towns)
    it continues on 评分明细(2), … A data sheet for filtering, written plain: a format on
    each of its half a million cells would cost a fifth of writing the whole 汇总 workbook."""
    count = 0

    def new_sheet():
        nonlocal count
        count += 1
        ws = wb.add_worksheet("评分明细" if count == 1 else f"评分明细({count})")
        _write_header(ws, fmt, list(TRAIL_COLUMNS), TRAIL_COLUMNS)
        return ws

    ws, used = new_sheet(), 0
    first = ws
    for frame in slices:
        start = 0
        while start < len(frame):
            if used == SHEET_ROWS_MAX - 1:
                _finish_table(ws, used, len(TRAIL_COLUMNS))
                ws, used = new_sheet(), 0
            take = min(len(frame) - start, SHEET_ROWS_MAX - 1 - used)
            part = frame.iloc[start : start + take]
            stream_rows(ws, used + 1, [_plain_column(fmt, part[name]) for name in part.columns], take)
            used, start = used + take, start + take
    _finish_table(ws, used, len(TRAIL_COLUMNS))
    # a data sheet, but printable when asked: landscape, one page wide, header repeated
    # (its cells stay unwrapped: a format on each of half a million would cost too much)
    for sheet in wb.worksheets()[wb.worksheets().index(first) :]:
        _print_list(sheet, "评分明细")


def _plain_column(fmt: Formats, column: pd.Series) -> Numbers | Texts:
    """A column of the audit trail as :func:`stream_rows` takes it, unstyled but for the
    quote prefix: the trail repeats town names, labels and explanations thousands of
    times, so each distinct text is cleaned once."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return Numbers(column.astype("Float64").to_numpy(dtype=float, na_value=np.nan).tolist())
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    cleaned = [clean_text(u) for u in uniques]
    return Texts(
        codes.tolist(), cleaned, [fmt.quoted("bare") if t.startswith(FORMULA_START) else None for t in cleaned]
    )


def _styled_column(fmt: Formats, column: pd.Series, style: str) -> Numbers | Texts:
    """A column of a styled table as :func:`stream_rows` takes it: numbers and blanks centred, text
    in format ``style`` (a quote prefix where it starts like a formula)."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        numbers = column.astype("Float64").to_numpy(dtype=float, na_value=np.nan).tolist()
        return Numbers(numbers, fmt["center"], fmt["center"])
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    texts = [clean_text(u) for u in uniques] + [""]  # code -1 (no value) → ""
    styles = [fmt.quoted(style) if t.startswith(FORMULA_START) else fmt[style] for t in texts]
    return Texts([len(uniques) if k < 0 else k for k in codes.tolist()], texts, styles)


@dataclass(frozen=True)
class ReportInfo:
    """What the printed 汇总排名 says about itself."""

    maker: str = "县质量技术监督局"  # 制表单位
    made_on: date | None = None  # 制表日期; None: today
    bonuses: pd.DataFrame | None = None  # town × item: bonus points inside each item score
    stage: str = "初评"  # 初评: the self-reports as scored; 核定: with the 考核组's reviewed values

    @property
    def date_text(self) -> str:
        day = self.made_on or date.today()
        return f"{day.year}年{day.month}月{day.day}日"


RANKING_KEY = (
    "状态：正常＝数据完整；已核定＝经考核组核定；待核实＝有缺项、无效或矛盾的数据，成绩暂定；未报送＝未收到文件。"
    "各项得分已含加分（括号内注明），故可高于标准分。\n"  # two lines: one would run under the page number
    "颜色按得分占该项标准分的比例：红＝不足60%，黄＝60%以上未满分，绿＝满分，蓝＝含加分超过满分。"
)
#: the colours of 汇总排名's item scores, by their share of the item's 标准分
SHARE_COLOURS = {
    "above": {"bg_color": "#BDD7EE"},  # 含加分超过满分
    "full": {"bg_color": "#C6EFCE"},  # 满分
    "most": {"bg_color": "#FFEB9C"},  # 60% 以上未满分
    "low": {"bg_color": "#FFC7CE"},  # 不足 60%
}
LOW_SHARE = 0.6
CHART_SHEET = "总分图"
TOWNS_PER_CHART = 40  # bars a printed A4 page holds legibly
CHART_PAGE_ROWS = 50  # default rows (20 px) a chart page spans: a page break after each


def _header_text(header: str) -> str:
    """「8 特种设备监管网络」 → 「8 特种设备」 over 「监管网络」: broken between words."""
    number, space, name = header.partition(" ")
    return f"{number} {two_lines(name)}" if space else header


def _ranking_sheet(wb, fmt: Formats, rules: Rules, ranking: pd.DataFrame, info: ReportInfo) -> None:
    """汇总排名 as a report page: landscape A4, one page wide, the title, 制表单位 and
    制表日期 above and a key below on every page; each item score shows the bonus inside
    it (「21（含加6）」, still a number for sorting and the colour scale)."""
    ws = wb.add_worksheet(RANKING_SHEET)
    widths = {"排名": 5, "单位名称": 18, "类别": 8, "加分合计": 9, "总分": 6, "等级": 5, "状态": 7}
    item_cols = [c for c in ranking.columns if c[:1].isdigit()]
    columns = list(ranking.columns)
    with_bonus = _bonus_cells(wb, ranking, item_cols, rules, info.bonuses)
    # an item column as wide as its longest 「23（含加13）」: a narrower one shows ### instead
    for (_, c), (_, _, shown) in with_bonus.items():
        widths[columns[c]] = max(widths.get(columns[c], 11), display_width(shown) + 1)
    for c, name in enumerate(columns):
        ws.write_string(0, c, _header_text(name), fmt["header"])
        ws.set_column(c, c, widths.get(name, 11))
    ws.set_row(0, 30)
    # a name longer than its column wraps, its row grows (centred on one line, LibreOffice
    # and Excel print a long 单位名称 cut off at both ends)
    names = ranking["单位名称"].astype(str).tolist()
    name_width = widths["单位名称"]
    long_names = any(display_width(name) > name_width - 1 for name in names)
    cells = [
        _styled_column(fmt, ranking[name], "wrapped" if name == "单位名称" and long_names else "center")
        for name in columns
    ]
    for (r, c), (value, cell_format, _) in with_bonus.items():  # a number format names the bonus
        column = cells[c]
        assert isinstance(column, Numbers)
        if column.styles is None:
            cells[c] = column = Numbers(list(column.values), column.style, column.blank, [None] * len(column.values))
        column.values[r], column.styles[r] = value, cell_format  # type: ignore[index]
    # rows stream top to bottom; a name too long for one line gets its row's height first
    tall = [r for r in range(len(ranking)) if display_width(names[r]) > name_width - 1]
    start = 0
    for r in [*tall, len(ranking)]:
        stream_rows(ws, start + 1, [sliced(column, start, r) for column in cells], r - start)
        if r < len(ranking):
            ws.set_row(r + 1, row_height([(names[r], name_width, 10)]))
            write_cells(ws, r + 1, cells, r)
        start = r + 1
    _finish_table(ws, len(ranking), len(columns))
    n = len(ranking)
    standards = {item.header: item.standard for item in rules.items}
    colours = {share: wb.add_format(spec) for share, spec in SHARE_COLOURS.items()}
    for name in item_cols if n else []:
        _share_colours(ws, 1, columns.index(name), n, standards[name], colours)
    ws.set_paper(9)
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    ws.set_margins(left=0.4, right=0.4, top=0.8, bottom=0.7)
    ws.repeat_rows(0)
    title = f"{rules.year}年{rules.assessment}汇总排名（{info.stage}）"
    ws.set_header(
        f'&L&9 制表单位：{info.maker.replace("&", "&&")[:60]}&C&"宋体,Bold"&14 {title}&R&9 制表日期：{info.date_text}',
        {"margin": 0.3},
    )
    ws.set_footer(f"&L&8 {RANKING_KEY}&R&9 第 &P 页 共 &N 页", {"margin": 0.3})


def _share_colours(ws, first: int, col: int, last: int, standard: int, colours: dict) -> None:
    """An item's scores coloured by their share of its 标准分 (hundredths): a score at full
    marks is green, never red, whatever the other towns scored; an empty cell (未报送) is
    not coloured. A bonus item (标准分 0) is blue where it added anything."""
    cell = xl_rowcol_to_cell(first, col, row_abs=False, col_abs=True)
    full, low = points_number(standard), points_number(int(standard * LOW_SHARE))
    rules = [("above", f"{cell}>{full}")]
    if standard > 0:
        rules += [("full", f"{cell}={full}"), ("most", f"{cell}>={low}"), ("low", f"{cell}<{low}")]
    for share, test in rules:
        ws.conditional_format(
            first,
            col,
            last,
            col,
            {
                "type": "formula",
                "criteria": f"=AND(ISNUMBER({cell}),{test})",
                "format": colours[share],
                "stop_if_true": True,
            },
        )


def _bonus_cells(
    wb, ranking: pd.DataFrame, item_cols: list[str], rules: Rules, bonuses: pd.DataFrame | None
) -> dict[tuple[int, int], tuple[int | float, object, str]]:
    """(row, column) → (score, format, text shown) for item scores that include a bonus: a
    number format names the bonus, one format for each bonus value."""
    if bonuses is None:
        return {}
    columns, made, cells = list(ranking.columns), {}, {}
    numbers = {item.header: item.number for item in rules.items}
    plain = {item.header for item in rules.items if item.bonus}  # a bonus item is all bonus: no 「含加」
    towns = ranking["单位名称"]
    found: list[tuple[int, int, int, float]] = []  # (row, column, bonus, score shown)
    for name in item_cols:
        if name in plain:
            continue
        if numbers[name] not in bonuses.columns:  # no town scored (an empty inbox)
            continue
        bonus = bonuses[numbers[name]].reindex(towns).to_numpy(dtype=float, na_value=np.nan)
        shown = ranking[name].to_numpy(dtype=float, na_value=np.nan)
        found += [(int(r), columns.index(name), int(bonus[r]), shown[r]) for r in np.flatnonzero(bonus > 0)]
    for r, c, bonus, points in sorted(found):  # formats made in reading order, as the file lists them
        score = round(points * SCALE)  # the table shows points
        # whole scores keep the plain 0 format; a score in tenths shows its decimals
        digits = "0" if score % SCALE == 0 else "0.0#"
        shown_bonus = points_text(bonus)
        if (digits, bonus) not in made:
            made[(digits, bonus)] = wb.add_format(
                {**FORMATS["center"], "num_format": f'{digits}"（含加{shown_bonus}）"'}
            )
        cells[(r, c)] = (points_number(score), made[(digits, bonus)], f"{points_text(score)}（含加{shown_bonus}）")
    return cells


def _chart_sheet(wb, rules: Rules, ranking: pd.DataFrame) -> None:
    """总分图: the totals as horizontal bars in rank order, TOWNS_PER_CHART to a printed page,
    every page with its own axis on one scale, so 10 towns or 2,000 print readably."""
    scored = int(ranking["排名"].notna().sum())
    if not scored:
        return
    ws = wb.add_worksheet(CHART_SHEET)
    total_col = list(ranking.columns).index("总分")
    name_col = list(ranking.columns).index("单位名称")
    top = int(-(-float(ranking["总分"].max()) // 10) * 10) or 10
    pages = -(-scored // TOWNS_PER_CHART)
    for k in range(pages):
        first, last = k * TOWNS_PER_CHART + 1, min((k + 1) * TOWNS_PER_CHART, scored)
        chart = wb.add_chart({"type": "bar"})
        chart.add_series(
            {
                "name": "总分",
                "categories": [RANKING_SHEET, first, name_col, last, name_col],
                "values": [RANKING_SHEET, first, total_col, last, total_col],
                "data_labels": {"value": True},
                "fill": {"color": "#4472C4"},
                "gap": 60,
            }
        )
        where = f"（第 {first}–{last} 名）" if pages > 1 else ""
        chart.set_title(
            {"name": f"{rules.year}年{rules.assessment}总分{where}", "name_font": {"size": 12, "name": "宋体"}}
        )
        chart.set_legend({"none": True})
        chart.set_y_axis({"reverse": True, "num_font": {"size": 9, "name": "宋体"}})  # rank 1 at the top
        chart.set_x_axis({"min": 0, "max": top, "major_gridlines": {"visible": True}, "num_font": {"size": 9}})
        chart.set_size({"width": 680, "height": min(CHART_PAGE_ROWS * 20 - 20, 110 + 22 * (last - first + 1))})
        ws.insert_chart(k * CHART_PAGE_ROWS, 0, chart, {"object_position": 3})
    ws.set_h_pagebreaks([k * CHART_PAGE_ROWS for k in range(1, pages)])
    ws.set_paper(9)
    ws.set_portrait()
    ws.fit_to_pages(1, 0)
    ws.set_margins(left=0.5, right=0.5, top=0.5, bottom=0.6)
    ws.print_area(0, 0, pages * CHART_PAGE_ROWS - 1, 10)  # 11 default columns: 704 px, the chart 680
    ws.set_footer("&C&9 第 &P 页 共 &N 页", {"margin": 0.3})


def write_ranking_print(path: Path, rules: Rules, ranking: pd.DataFrame, info: ReportInfo = ReportInfo()) -> Path:
    """汇总排名 and 总分图 alone, for printing to PDF without the long audit sheets."""
    with atomic_workbook(path, title=f"{rules.year}年{rules.assessment}汇总排名") as wb:
        _ranking_sheet(wb, Formats(wb, FORMATS), rules, ranking, info)
        _chart_sheet(wb, rules, ranking)
    return path


def write_summary(
    path: Path,
    rules: Rules,
    ranking: pd.DataFrame,
    trail,
    problems: pd.DataFrame,
    files: pd.DataFrame,
    town_pages=(),
    info: ReportInfo = ReportInfo(),
    changes: pd.DataFrame | None = None,
    reviews: pd.DataFrame | None = None,
    year_on_year: pd.DataFrame | None = None,
) -> Path:
    """汇总.xlsx: 汇总排名, 评分明细 (``trail``: frames of rows, see :func:`audit_trail`),
    问题清单, 文件清单, 变更记录 (what each resubmission changed, :mod:`qz_excel.intake.changes`),
    and with ``town_pages`` one 评分细则 sheet per town."""
    with atomic_workbook(path, title=f"{rules.year}年{rules.assessment}汇总", constant_memory=True) as wb:
        fmt = Formats(wb, FORMATS)
        _ranking_sheet(wb, fmt, rules, ranking, info)
        _chart_sheet(wb, rules, ranking)
        _write_trail(wb, fmt, trail)
        # widths for A4 landscape at about 90 %: 说明 wraps rather than pushing columns off
        problem_widths = {
            "文件": 22,
            "单位名称": 14,
            "工作表": 8,
            "单元格": 7,
            "指标代码": 20,
            "填报内容": 12,
            "问题代码": 17,
            "级别": 5,
            "说明": 52,
        }
        lists = [
            ("问题清单", problems, problem_widths, ("说明", "文件", "单元格", "指标代码")),
            ("文件清单", files, {"文件": 40, "状态": 10, "单位名称": 22, "说明": 60}, ("文件", "说明")),
            (
                CHANGES_SHEET,
                changes if changes is not None else changes_frame([]),
                CHANGE_WIDTHS,
                ("指标", "原值", "新值", "原文件", "采用的文件"),
            ),
            (
                REVIEWS_SHEET,
                reviews if reviews is not None else pd.DataFrame(columns=list(REVIEW_COLUMNS)),
                REVIEW_COLUMNS,
                ("指标", "核定理由", "自报值", "核定值"),
            ),
        ]
        if year_on_year is not None:  # last year beside this year, item by item
            lists.append(
                ("同比", year_on_year, {"单位名称": 20, "项目": 24, "本年": 10, "上年": 10, "变化": 10}, ("项目",))
            )
        for name, frame, widths, text_columns in lists:
            ws = wb.add_worksheet(name)
            _write_table(ws, fmt, frame, widths, text_columns=text_columns, fit_rows=True)
            _print_list(ws, f"{rules.year}年{rules.assessment}{name}")
        taken = {name.lower() for name in wb.sheetnames}
        for town, *page in town_pages:
            write_town_sheet(wb, fmt, safe_sheet_name(town, taken), rules, town, *page)
    return path
