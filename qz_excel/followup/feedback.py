"""反馈: a correction request per town, on the town's own workbook.

For every town whose accepted file has a problem the town can fix, ``qz score`` writes
``反馈/<单位名称>.xlsx``: the town's template again with every cell as the town typed it
(填报人, 联系电话, 填报日期 and each value, whatever format the file came back in), each
cell to correct in red with a 批注 saying what is wrong and what to type, and a first sheet
「请修改」 listing them, each row a link to its cell. The hidden metadata, validation and
protection are the template's, so the town corrects it in Excel, WPS or LibreOffice and
sends it straight back; intake reads it like any return.

The workbook is rebuilt from the rules rather than edited in place: it is the same
template the town filled (same cells, same metadata), a rebuilt one is byte-identical
between runs, a file that came back as .xls or .ods is converted on the way, and stale
marks from an earlier round cannot survive.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qz_excel.common.files import clean_text
from qz_excel.common.problems import Problem
from qz_excel.common.xlsx import FONT, Formats, atomic_workbook, print_a4, row_height
from qz_excel.intake.changes import EMPTY
from qz_excel.intake.read import Returned, as_text
from qz_excel.rules.ruleset import Rules
from qz_excel.template.writer import FORMATS as TEMPLATE_FORMATS
from qz_excel.template.writer import Filled, TemplateOptions, add_template_sheets, type_advice, value_cells

SHEET = "请修改"
#: problems a town fixes by editing its workbook; the others are the bureau's to resolve
#: (another year's template, an unknown town, a rules file changed after mailing…)
FIXABLE = (
    "MISSING_VALUE",
    "FORMULA_ERROR",
    "FORMULA_UNCALCULATED",
    "INVALID_VALUE",
    "OUT_OF_RANGE",
    "INVALID_PAIR",
    "MISSING_INDICATOR",
    "DUPLICATE_INDICATOR",
)
COLUMNS = {"序号": 5, "单元格": 8, "指标": 34, "填写的内容": 14, "问题和改法": 52}
BORDER: dict[str, Any] = {"border": 1, "valign": "vcenter", "font_size": 10, "font_name": FONT, "text_wrap": True}
FORMATS: dict[str, dict[str, Any]] = {
    "title": {"bold": True, "font_size": 14, "font_name": FONT, "valign": "vcenter"},
    "intro": {"font_size": 10, "font_name": FONT, "text_wrap": True, "valign": "top"},
    "header": {**BORDER, "bold": True, "align": "center", "bg_color": "#D9E1F2"},
    "cell": {**BORDER, "align": "center"},
    "link": {**BORDER, "align": "center", "font_color": "#0563C1", "underline": 1},
    "text": BORDER,
}


@dataclass(frozen=True)
class Fix:
    """One thing to correct: where, which indicator(s), what was typed, what to do."""

    indicators: tuple[str, ...]
    label: str
    typed: str
    advice: str


@dataclass(frozen=True)
class Request:
    """Everything a town's correction request holds (made in the main process, written in
    a worker)."""

    town: str
    file: str  # the returned file it corrects
    values: dict[str, object]
    header: tuple
    generated_at: str
    fixes: tuple[Fix, ...]


def request_for(ret: Returned, rules: Rules, skip: AbstractSet[str] = frozenset()) -> Request:
    """The correction request of an accepted return (call before its values are released);
    problems on the indicators in ``skip`` (values the bureau has verified) are left out."""
    typed = dict(zip(ret.codes, ret.typed))
    fixes = sorted(
        (_fix(p, rules, typed) for p in ret.problems if p.code in FIXABLE and not set(p.indicator.split(",")) <= skip),
        key=lambda fix: rules.position[fix.indicators[0]],
    )  # in the order of the form
    return Request(
        town=ret.town,
        file=ret.file,
        values={k: v for k, v in typed.items() if v is not None},
        header=ret.header,
        generated_at=ret.template_made,
        fixes=tuple(fixes),
    )


def _typed_text(value) -> str:
    text = as_text(value).strip()
    return text or EMPTY


def _fix(p: Problem, rules: Rules, typed: dict[str, object]) -> Fix:
    codes = tuple(sorted(p.indicator.split(","), key=rules.position.__getitem__))
    labels = "；".join(rules.catalog[c].label for c in codes)
    advice = type_advice(rules.catalog[codes[0]])
    what = {
        "MISSING_VALUE": f"未填写，该项按0分计。{advice}",
        "FORMULA_ERROR": f"原表中这里是公式，结果为错误（{p.value}），已清空。请直接填写数值：{advice}",
        "FORMULA_UNCALCULATED": f"原表中这里是公式，但文件里没有计算结果，已清空。请直接填写数值：{advice}",
        "INVALID_VALUE": _with_advice(p.detail, advice),
        "OUT_OF_RANGE": _with_advice(p.detail, advice),
        "INVALID_PAIR": f"{p.detail}。请核实这两项，改正其中填错的一项。",
        "MISSING_INDICATOR": f"原表中缺少这一行，已按模板补上。{advice}",
        "DUPLICATE_INDICATOR": "原表中这一指标出现了多次，已保留第一次填写的值，请核对是否正确。",
    }[p.code]
    return Fix(codes, labels, "；".join(_typed_text(typed.get(c)) for c in codes), what)


def _with_advice(detail: str, advice: str) -> str:
    """What is wrong, and what to type unless the message already says it."""
    return f"{detail}。" if "请" in detail else f"{detail}。{advice}"


def write_request(path: Path, rules: Rules, request: Request, author: str = "县质量技术监督局") -> Path:
    """``反馈/<单位名称>.xlsx``: 请修改 first, then the template sheets with the town's cells."""
    cells = value_cells(rules)
    flagged: dict[str, str] = {}
    for fix in request.fixes:
        for code in fix.indicators:
            flagged[code] = f"{flagged[code]}\n{fix.advice}" if code in flagged else fix.advice
    town = clean_text(request.town)
    with atomic_workbook(path, title=f"{rules.spec.form_title}（{town}）请修改") as wb:
        fmt = Formats(wb, FORMATS)
        _fixes_sheet(wb, fmt, rules, town, request, cells)
        add_template_sheets(
            wb,
            Formats(wb, TEMPLATE_FORMATS),
            rules,
            town,
            TemplateOptions(),
            request.generated_at or "",
            Filled(request.values, request.header, flagged, author),
        )
    return path


def _fixes_sheet(wb, fmt: Formats, rules: Rules, town: str, request: Request, cells: dict[str, str]) -> None:
    ws = wb.add_worksheet(SHEET)
    ws.activate()
    for i, width in enumerate(COLUMNS.values()):
        ws.set_column(i, i, width)
    last = len(COLUMNS) - 1
    ws.merge_range(
        0, 0, 0, last, f"{town}：{rules.year}年{rules.assessment}填报表有 {len(request.fixes)} 处需要修改", fmt["title"]
    )
    ws.set_row(0, 26)
    intro = (
        f"这是贵单位报送的“{request.file}”。请在“填报表”工作表中改正下列标红的单元格（鼠标移到单元格上可看批注，"
        f"点击“单元格”一列可直接跳到该处），其他内容保持不变；改好后保存，把本文件作为附件发回即可，"
        f"文件名可以不改，本页也不用删除。"
    )
    ws.merge_range(1, 0, 1, last, intro, fmt["intro"])
    ws.set_row(1, row_height([(intro, sum(COLUMNS.values()), 10)]))
    for i, name in enumerate(COLUMNS):
        ws.write_string(2, i, name, fmt["header"])
    for k, fix in enumerate(request.fixes, start=1):
        row = 2 + k
        where = [cells[c] for c in fix.indicators]
        ws.write_number(row, 0, k, fmt["cell"])
        ws.write_url(row, 1, f"internal:'填报表'!{where[0]}", fmt["link"], "、".join(where), tip="跳到该单元格")
        fmt.text(ws, row, 2, fix.label, "text")
        fmt.text(ws, row, 3, fix.typed, "text")
        fmt.text(ws, row, 4, fix.advice, "text")
        ws.set_row(
            row,
            row_height(
                [
                    (fix.label, COLUMNS["指标"], 10),
                    (fix.advice, COLUMNS["问题和改法"], 10),
                    (fix.typed, COLUMNS["填写的内容"], 10),
                ]
            ),
        )
    print_a4(ws, 2)
    ws.set_landscape()
    ws.protect("")


__all__ = ["FIXABLE", "Request", "request_for", "write_request"]
