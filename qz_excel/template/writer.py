"""`qz template`: one input workbook per town, generated from the year's rules file.

Sheet 填报表: the town's name locked in, one typed, validated, unlocked (yellow) value cell
per indicator under its item's heading; everything else locked (no password). Sheet 填报说明
from a jinja2 template. A very hidden sheet carries the year, town and rules fingerprint
that intake uses to identify the file whatever it has been renamed to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from xlsxwriter.utility import xl_rowcol_to_cell

from qz_excel import __version__
from qz_excel.common import resources
from qz_excel.common.files import clean_text, safe_file_stem, unique_path
from qz_excel.common.parallel import map_chunks
from qz_excel.common.xlsx import FONT, Formats, atomic_workbook, print_a4, row_height, two_lines
from qz_excel.rules.points import points_text
from qz_excel.rules.ruleset import Indicator, Rules
from qz_excel.rules.values import format_number
from qz_excel.template import form

# Column widths in Excel character units; the row-height estimate uses the same numbers.
# The indicator codes are for intake, not for the town: their column is hidden (and so
# not printed); the others share the page.
WIDTHS = {"序号": 5, form.CODE_HEADER: 21, "考核项目": 9, "指标": 34, form.VALUE_HEADER: 11, "单位": 6, "填报说明": 33}
COL = {name: i for i, name in enumerate(form.COLUMNS)}
HEADER_ROW = 5  # 0-based; the rows above hold the title, the filler's details and signatures
HINT = "黄色单元格为填报区域，选中单元格可见填写提示"
INPUT_TITLE_MAX, ERROR_MESSAGE_MAX = 32, 224  # Excel's limits for validation prompts

# Formats, declared once.
BORDER: dict[str, Any] = {"border": 1, "valign": "vcenter", "font_size": 10}
FORMATS: dict[str, dict[str, Any]] = {
    "title": {"bold": True, "font_size": 16, "align": "center", "valign": "vcenter"},
    "label": {**BORDER, "bold": True, "align": "center", "bg_color": "#F2F2F2"},
    "label_wrap": {**BORDER, "bold": True, "align": "center", "bg_color": "#F2F2F2", "text_wrap": True},
    "fixed": {**BORDER, "text_wrap": True},
    "fixed_center": {**BORDER, "align": "center", "text_wrap": True},
    "code": {**BORDER, "font_size": 8, "font_color": "#595959"},
    "header": {**BORDER, "bold": True, "align": "center", "bg_color": "#D9E1F2", "text_wrap": True},
    "group": {**BORDER, "bold": True, "bg_color": "#EDEDED"},
    "hint": {"font_size": 9, "font_color": "#C00000", "valign": "vcenter", "text_wrap": True},
    "help": {**BORDER, "font_size": 9, "text_wrap": True, "font_color": "#404040"},
    "input": {**BORDER, "locked": False, "bg_color": "#FFF2CC", "align": "center"},
    "input_percent": {**BORDER, "locked": False, "bg_color": "#FFF2CC", "align": "center", "num_format": "0.0%"},
    "input_count": {**BORDER, "locked": False, "bg_color": "#FFF2CC", "align": "center", "num_format": "0"},
    "input_date": {**BORDER, "locked": False, "bg_color": "#FFF2CC", "align": "center", "num_format": "yyyy-mm-dd"},
    "input_number": {**BORDER, "locked": False, "bg_color": "#FFF2CC", "align": "center", "num_format": "General"},
    "para": {"text_wrap": True, "valign": "top", "font_size": 11},
    "para_title": {"bold": True, "font_size": 14},
}
FORMATS = {name: {"font_name": FONT, **spec} for name, spec in FORMATS.items()}
VALUE_FORMAT = {
    "bool": "input",
    "count": "input_count",
    "percent": "input_percent",
    "choice": "input",
    "number": "input_number",
}
#: a value cell a correction request asks the town to change: red, still unlocked
FLAGGED = "flagged_"
FORMATS.update(
    {
        FLAGGED + name: {**FORMATS[name], "bg_color": "#FFC7CE", "font_color": "#9C0006", "bold": True}
        for name in (*VALUE_FORMAT.values(), "input_date")
    }
)
#: what to type in a value cell, by indicator type (validation alerts, correction requests)
TYPE_ADVICE = {
    "bool": "请从下拉列表选择“是”或“否”。",
    "count": "请填写0或正整数（只填数字，如 3）。",
    "percent": "请填写0%～100%之间的百分比，如 98.5；没有相关企业或设备的填“不适用”。",
}


def type_advice(ind: Indicator) -> str:
    """What to type in this indicator's value cell: its type's advice, with a choice's
    options and a number's or count's own range."""
    if ind.type == "choice":
        return "请从下拉列表选择：" + "、".join(f"“{o}”" for o in ind.options) + "。"
    if ind.type == "number":
        low = "不限" if ind.min is None else format_number(ind.min)
        high = "不限" if ind.max is None else format_number(ind.max)
        return f"请填写 {low}～{high} 之间的数字（可有小数，下降或减少填负数，如 -3）。"
    if ind.type == "count" and ind.max is not None:
        return f"请填写0～{format_number(ind.max)}之间的整数（只填数字，如 3）。"
    return TYPE_ADVICE[ind.type]


UNIT_SHOWN = {"bool": "是/否", "percent": "%", "choice": "选择"}
DATE_VALIDATION = {
    "validate": "date",
    "criteria": "between",
    "minimum": datetime(2000, 1, 1),
    "maximum": datetime(2100, 12, 31),
    "input_title": form.DATE_LABEL,
    "input_message": "如 2010-12-20",
    "error_title": "日期不正确",
    "error_message": "请填写日期，如 2010-12-20。",
}


COMMENT = {"x_scale": 2.4, "y_scale": 1.8, "font_name": FONT, "font_size": 10}


@dataclass(frozen=True)
class TemplateOptions:
    deadline: str = ""
    contact: str = ""
    generated_at: str = ""  # ISO date; default today (kept to the day so reruns match)


def value_validation(ind: Indicator, cell: str) -> dict:
    """Excel data validation for one value cell, with a prompt and a Chinese alert."""
    title = _input_title(ind.label)
    message = ind.help or ind.label
    if title != ind.label:  # the whole label where the title could not hold it
        message = f"{ind.label}。{message}" if ind.help else ind.label
    common = {"input_title": title, "input_message": message[:255], "error_title": "填报值不正确", "error_type": "stop"}
    spec: dict[str, Any]
    advice = type_advice(ind)
    if ind.type == "bool":
        spec = {"validate": "list", "source": ["是", "否"], "error_message": advice}
    elif ind.type == "choice":
        spec = {"validate": "list", "source": list(ind.options), "error_message": advice}
    elif ind.type == "count":
        if ind.max is None:
            spec = {"validate": "integer", "criteria": ">=", "value": 0, "error_message": advice}
        else:
            bounds = {"minimum": 0, "maximum": int(ind.max)}
            spec = {"validate": "integer", "criteria": "between", **bounds, "error_message": advice}
    elif ind.type == "number":
        low = -1e15 if ind.min is None else ind.min
        high = 1e15 if ind.max is None else ind.max
        spec = {"validate": "decimal", "criteria": "between", "minimum": low, "maximum": high, "error_message": advice}
    else:
        # 0–100 % (stored as 0–1 in a %-formatted cell), or 不适用 when nothing applies
        spec = {
            "validate": "custom",
            "value": f'=OR(AND(ISNUMBER({cell}),{cell}>=0,{cell}<=1),{cell}="不适用")',
            "error_message": TYPE_ADVICE["percent"],
        }
    if len(spec["error_message"]) > ERROR_MESSAGE_MAX:
        raise ValueError(f"{ind.id}: error message longer than Excel's {ERROR_MESSAGE_MAX} characters")
    return {**common, **spec}


def _input_title(label: str) -> str:
    """Excel cuts an input message's title at 32 characters: a longer label is cut at its
    last phrase boundary that fits (a 、，（ or space) and ends in …, never mid-word."""
    if len(label) <= INPUT_TITLE_MAX:
        return label
    room = label[: INPUT_TITLE_MAX - 1]
    cut = max(room.rfind(mark) for mark in "、，,（(；; ")
    return (room[:cut] if cut >= 8 else room).rstrip("、，,（(；; ") + "…"


@cache
def _instructions_template(templates_dir: Path):
    env = Environment(loader=FileSystemLoader(templates_dir), undefined=StrictUndefined)
    return env.get_template("instructions.txt.j2")


def render_instructions(rules: Rules, town: str, options: TemplateOptions) -> str:
    spec = rules.spec
    return _instructions_template(resources.templates_dir()).render(
        form_title=spec.form_title,
        title=spec.title,
        attachment=spec.attachment,
        year=spec.year,
        town=town,
        items=spec.items,
        standard_total=points_text(sum(i.standard for i in spec.items)),
        deadline=options.deadline,
        contact=options.contact,
    )


@dataclass(frozen=True)
class PlannedRow:
    """One row under the header: an item heading (ind is None) or an indicator."""

    row: int
    height: float
    text: str = ""  # the heading
    number: str = ""  # 序号
    item_name: str = ""
    ind: Indicator | None = None
    validation: dict | None = None


@lru_cache(maxsize=8)
def plan_form(rules: Rules) -> tuple[PlannedRow, ...]:
    """Everything about the 填报表's rows that does not depend on the town, computed once
    per rules file (row heights and validations are the costly parts)."""
    planned, row = [], HEADER_ROW + 1
    value_col = COL[form.VALUE_HEADER]
    for item in rules.items:
        cap = rules.spec.settings.bonus_total_cap
        shown = points_text(cap) if item.bonus and cap is not None else "" if item.bonus else points_text(item.standard)
        planned.append(PlannedRow(row, 20, text=form.item_heading(item.number, item.name, shown, item.bonus)))
        row += 1
        # an indicator of a group (二级指标) shows the group's name, which says more than the item's
        group_of = {code: g.name for g in item.groups for rule in g.rules for code in rule.inputs()}
        # the 考核组's own indicators (assessed) are entered in the 核定表, not here
        for k, ind in enumerate((i for i in item.indicators if not i.assessed), start=1):
            height = row_height(
                [(ind.label, WIDTHS["指标"]), (ind.help, WIDTHS["填报说明"] * 1.1), (item.name, WIDTHS["考核项目"])]
            )
            planned.append(
                PlannedRow(
                    row,
                    height,
                    number=f"{item.number}.{k}",
                    item_name=group_of.get(ind.id, item.name),
                    ind=ind,
                    validation=value_validation(ind, xl_rowcol_to_cell(row, value_col)),
                )
            )
            row += 1
    return tuple(planned)


def write_template(
    rules: Rules, town: str, path: Path, options: TemplateOptions, prefill: dict[str, object] | None = None
) -> Path:
    """One town's workbook. ``prefill`` (indicator → cell value) fills value cells, e.g.
    with last year's figures, or for benchmarks that need thousands of filled returns."""
    town = clean_text(town)
    generated_at = options.generated_at or date.today().isoformat()
    with atomic_workbook(path, title=f"{rules.spec.form_title}（{town}）") as wb:
        fmt = Formats(wb, FORMATS)
        add_template_sheets(wb, fmt, rules, town, options, generated_at, Filled(prefill or {}))
    return path


@dataclass(frozen=True)
class Filled:
    """What goes into a template's cells besides the rules: values as the town typed them
    (indicator → cell value), 填报人 / 联系电话 / 填报日期, and the value cells flagged
    with a comment (indicator → 批注) in a correction request."""

    values: dict[str, object]
    header: tuple = ()
    flagged: dict[str, str] | None = None
    comment_author: str = ""


def add_template_sheets(
    wb, fmt: Formats, rules: Rules, town: str, options: TemplateOptions, generated_at: str, filled: Filled
) -> None:
    """填报表, 填报说明 and the hidden metadata, added to ``wb`` after any sheet it has."""
    _form_sheet(wb, fmt, rules, town, filled)
    _instructions_sheet(wb, fmt, render_instructions(rules, town, options), town, rules.spec.form_title)
    _meta_sheet(wb, rules, town, generated_at)


def value_cells(rules: Rules) -> dict[str, str]:
    """indicator → A1 address of its value cell on the 填报表."""
    col = COL[form.VALUE_HEADER]
    return {p.ind.id: xl_rowcol_to_cell(p.row, col) for p in plan_form(rules) if p.ind is not None}


def _write_typed(ws, fmt: Formats, row: int, col: int, value, style: str) -> None:
    """A cell as the town typed it: numbers, dates and 是/否 keep their type."""
    if value is None or value == "":
        ws.write_blank(row, col, None, fmt[style])
    elif isinstance(value, bool):
        ws.write_boolean(row, col, value, fmt[style])
    elif isinstance(value, (int, float)):
        ws.write_number(row, col, value, fmt[style])
    elif isinstance(value, (datetime, date)):
        ws.write_datetime(row, col, value, fmt[style])
    else:
        fmt.text(ws, row, col, value, style)


def _form_sheet(wb, fmt: Formats, rules: Rules, town: str, filled: Filled) -> None:
    ws = wb.add_worksheet(form.FORM_SHEET)
    if not filled.flagged:
        ws.activate()
    last = len(form.COLUMNS) - 1
    for name, i in COL.items():
        ws.set_column(i, i, WIDTHS[name])
    ws.merge_range(0, 0, 0, last, rules.spec.form_title, fmt["title"])
    ws.set_row(0, 30)
    # the filler's details; the town is pre-filled and locked. Labels span 序号, the
    # hidden code column and 考核项目; values start under 指标.
    ws.merge_range(1, 0, 1, 2, form.TOWN_LABEL, fmt["label"])
    fmt.merged_text(ws, 1, 3, 1, 4, town, "fixed_center")
    ws.write_string(1, 5, "年度", fmt["label"])
    ws.write_string(1, 6, f"{rules.year}年", fmt["fixed_center"])
    filler, phone, filled_on = (*filled.header, None, None, None)[:3]
    ws.merge_range(2, 0, 2, 2, form.FILLER_LABEL, fmt["label"])
    _write_typed(ws, fmt, 2, 3, filler, "input")
    ws.write_string(2, 4, form.PHONE_LABEL, fmt["label"])
    ws.merge_range(2, 5, 2, 6, "", fmt["input"])
    _write_typed(ws, fmt, 2, 5, phone, "input")
    ws.merge_range(3, 0, 3, 2, form.DATE_LABEL, fmt["label"])
    _write_typed(ws, fmt, 3, 3, filled_on, "input_date")
    ws.data_validation(3, 3, 3, 3, DATE_VALIDATION)
    # signed and stamped on paper, so left blank and locked
    ws.write_string(3, 4, "单位负责人\n（签字）", fmt["label_wrap"])
    ws.merge_range(3, 5, 3, 6, "", fmt["fixed"])
    ws.merge_range(4, 0, 4, 2, "填报单位\n（盖章）", fmt["label_wrap"])
    ws.write_blank(4, 3, None, fmt["fixed"])
    ws.merge_range(4, 4, 4, 6, HINT, fmt["hint"])
    for r, height in ((1, 24), (2, 24), (3, 34), (4, 56)):  # row 4: room for the stamp
        ws.set_row(r, height)
    for name, i in COL.items():
        ws.write_string(HEADER_ROW, i, name, fmt["header"])
    ws.set_row(HEADER_ROW, 22)

    value_col = COL[form.VALUE_HEADER]
    planned = plan_form(rules)
    for p in planned:
        if p.ind is None:
            ws.merge_range(p.row, 0, p.row, last, p.text, fmt["group"])
        else:
            ind = p.ind
            ws.write_string(p.row, COL["序号"], p.number, fmt["fixed_center"])
            ws.write_string(p.row, COL[form.CODE_HEADER], ind.id, fmt["code"])
            ws.write_string(p.row, COL["考核项目"], two_lines(p.item_name), fmt["fixed_center"])
            ws.write_string(p.row, COL["指标"], ind.label, fmt["fixed"])
            comment = (filled.flagged or {}).get(ind.id)
            style = (FLAGGED if comment else "") + VALUE_FORMAT[ind.type]
            _write_typed(ws, fmt, p.row, value_col, filled.values.get(ind.id), style)
            if comment:
                ws.write_comment(p.row, value_col, comment, COMMENT | {"author": filled.comment_author})
            ws.write_string(p.row, COL["单位"], UNIT_SHOWN.get(ind.type, ind.unit), fmt["fixed_center"])
            ws.write_string(p.row, COL["填报说明"], ind.help, fmt["help"])
            ws.data_validation(p.row, value_col, p.row, value_col, p.validation)
        ws.set_row(p.row, p.height)
    end = planned[-1].row
    ws.set_column(COL[form.CODE_HEADER], COL[form.CODE_HEADER], WIDTHS[form.CODE_HEADER], None, {"hidden": True})
    ws.freeze_panes(HEADER_ROW + 1, 0)
    print_a4(ws, HEADER_ROW)
    _town_on_every_page(ws, town, rules.spec.form_title)
    ws.print_area(0, 0, end, last)
    ws.protect("", {"format_rows": True, "format_columns": True})


def _town_on_every_page(ws, town: str, form_title: str) -> None:
    ws.set_header(f"&L&9 {town[:60].replace('&', '&&')}&R&9 {form_title.replace('&', '&&')[:80]}", {"margin": 0.3})


def _instructions_sheet(wb, fmt, text: str, town: str, form_title: str) -> None:
    ws = wb.add_worksheet(form.INSTRUCTIONS_SHEET)
    width = 90
    ws.set_column(0, 0, width)
    lines = text.split("\n")
    ws.write_string(0, 0, lines[0], fmt["para_title"])
    ws.set_row(0, 24)
    for r, line in enumerate(lines[1:], start=1):
        if line.strip():
            ws.write_string(r, 0, line, fmt["para"])
            ws.set_row(r, row_height([(line, width, 11)], minimum=16))
    print_a4(ws, None)
    _town_on_every_page(ws, town, form_title)
    ws.protect("")


def _meta_sheet(wb, rules: Rules, town: str, generated_at: str) -> None:
    values = {
        "year": rules.year,
        "town": town,
        "rules_fingerprint": rules.fingerprint,
        "template_version": rules.spec.template_version,
        "generated_at": generated_at,
        "tool_version": __version__,
    }
    write_meta_sheet(wb, {key: values[key] for key in form.META_KEYS})


def write_meta_sheet(wb, values: dict[str, object]) -> None:
    """The very hidden sheet intake identifies our workbooks by (:func:`qz_excel.intake.read.workbook_meta`)."""
    ws = wb.add_worksheet(form.META_SHEET)
    ws.write_string(0, 0, form.META_MARK)
    for r, (key, value) in enumerate(values.items(), start=1):
        ws.write_string(r, 0, key)
        ws.write_string(r, 1, str(value))
    ws.very_hidden()
    ws.protect("")


def template_file_name(rules: Rules, town: str) -> str:
    return safe_file_stem(f"{rules.spec.form_title}_{town}")


def _write_chunk(jobs: list[tuple[str, Path]], rules: Rules, options: TemplateOptions) -> list[Path]:
    return [write_template(rules, town, path, options) for town, path in jobs]


def write_templates(
    rules: Rules,
    towns: pd.DataFrame,
    out_dir: Path,
    options: TemplateOptions = TemplateOptions(),
    progress: Callable[[int], None] | None = None,
) -> list[Path]:
    """One workbook per town in ``out_dir``; returns the paths in towns-file order."""
    taken: set[str] = set()
    jobs = [(town, unique_path(out_dir, template_file_name(rules, town), ".xlsx", taken)) for town in towns["单位名称"]]
    # the date is fixed here, not per worker, so a batch run across midnight agrees
    options = replace(options, generated_at=options.generated_at or date.today().isoformat())
    return map_chunks(_write_chunk, jobs, rules, options, progress=progress)
