"""The 2016 example ruleset through the whole path: `qz template` → towns fill their
workbooks in LibreOffice (choices picked from the dropdown lists, a number with a minus,
saved as .xlsx and .ods) → `qz score` → every town's items, total and 等级 as the spec's
reference computes them → the 考核组's assessed points through the 核定表 and --review."""

from __future__ import annotations

from decimal import Decimal

import openpyxl
import pytest
from click.testing import CliRunner
from python_calamine import CalamineWorkbook
from test_rules_2016 import CHOICES, NA, reference

from qz_excel.cli.commands import main
from qz_excel.results.office import find_soffice
from qz_excel.template import form

pytestmark = pytest.mark.skipif(find_soffice() is None, reason="LibreOffice is needed (.ci/run installs it)")

RULES = "2016-example"
#: what each town types: choices by their place in the dropdown (1 = first), rates as a
#: %-formatted cell stores them, the growth with a minus
TOWNS = {
    "东湖镇": {
        "m_plan_level": 2, "m_gov_report": 1, "m_mechanism": 1, "m_incentive": 2, "m_reporting": 1,
        "m_five_year_plan": "是", "m_annual_scheme": "否", "m_annual_plan": "是", "s_major_incident": "否",
        "m_policy_aspects": 4, "m_meetings": 3, "m_staff": 2,
        "e_verification_rate": 0.97, "e_brand_share": 0.45, "e_pass_rate": 0.93, "e_response_minutes": 12.5,
        "e_tasks_assigned": 7, "e_tasks_done": 5, "e_coverage_rate": 0.6, "e_coverage_growth": -3,
        "s_failed_batches": 2, "s_label_issues": 3,
        "b_award_national": 1, "b_award_provincial": 3, "b_award_city": 2, "b_media_national": 2, "b_media_provincial": 4,
    },
    "西山镇": {
        "m_plan_level": 1, "m_gov_report": 2, "m_mechanism": 2, "m_incentive": 1, "m_reporting": 2,
        "m_five_year_plan": "是", "m_annual_scheme": "是", "m_annual_plan": "否", "s_major_incident": "是",
        "m_policy_aspects": 6, "m_meetings": 1, "m_staff": 0,
        "e_verification_rate": "不适用", "e_brand_share": 0.299, "e_pass_rate": 0.85, "e_response_minutes": 30,
        "e_tasks_assigned": 0, "e_tasks_done": 0, "e_coverage_rate": 0.3, "e_coverage_growth": 12.5,
        "s_failed_batches": 9, "s_label_issues": 0,
        "b_award_national": 4, "b_award_provincial": 0, "b_award_city": 0, "b_media_national": 3, "b_media_provincial": 1,
    },
    "南河街道": {
        "m_plan_level": 3, "m_gov_report": 3, "m_mechanism": 3, "m_incentive": 3, "m_reporting": 3,
        "m_five_year_plan": "否", "m_annual_scheme": "否", "m_annual_plan": "否", "s_major_incident": "否",
        "m_policy_aspects": 0, "m_meetings": 2, "m_staff": 1,
        "e_verification_rate": 0.5, "e_brand_share": 1, "e_pass_rate": 0.9, "e_response_minutes": 45,
        "e_tasks_assigned": 3, "e_tasks_done": 2, "e_coverage_rate": 0.7, "e_coverage_growth": -12,
        "s_failed_batches": 0, "s_label_issues": 1,
        "b_award_national": 0, "b_award_provincial": 0, "b_award_city": 1, "b_media_national": 0, "b_media_provincial": 0,
    },
}  # fmt: skip
SAVED_AS = {
    "东湖镇": (".xlsx", "Calc MS Excel 2007 XML"),
    "西山镇": (".ods", "calc8"),
    "南河街道": (".xlsx", "Calc MS Excel 2007 XML"),
}
ASSESSED = {"东湖镇": 4.5, "西山镇": 3}  # 南河街道 left for later: it stays 待核实


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def as_reported(typed: dict) -> dict:
    """What the town typed, in the reference's terms: options by name, percent units."""
    values = {}
    for code, value in typed.items():
        if code in CHOICES:
            values[code] = CHOICES[code][value - 1]
        elif value in ("是", "否"):
            values[code] = value == "是"
        elif code.endswith(("_rate", "_share")):
            values[code] = NA if value == "不适用" else float(Decimal(str(value)) * 100)
        else:
            values[code] = value
    return values


def value_cells(template) -> dict[str, str]:
    ws = openpyxl.load_workbook(template)[form.FORM_SHEET]
    for row in ws.iter_rows(min_row=1, max_row=30):
        texts = [c.value for c in row]
        if form.CODE_HEADER in texts:
            header, code_col = row[0].row, texts.index(form.CODE_HEADER) + 1
            value_letter = openpyxl.utils.get_column_letter(texts.index(form.VALUE_HEADER) + 1)
            break
    return {
        ws.cell(r, code_col).value: f"{value_letter}{r}"
        for r in range(header + 1, ws.max_row + 1)
        if ws.cell(r, code_col).value
    }


def ranking(results) -> dict[str, dict]:
    rows = CalamineWorkbook.from_path(str(results / "汇总.xlsx")).get_sheet_by_name("汇总排名").to_python()
    header = [h.replace("\n", "") for h in rows[0]]  # headers are broken between words
    return {r[header.index("单位名称")]: dict(zip(header, r)) for r in rows[1:]}


def points(cell) -> Decimal:
    return Decimal(str(cell)).normalize() if cell != "" else Decimal(0)


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    from _office import LibreOffice

    tmp = tmp_path_factory.mktemp("example")
    towns = tmp / "单位名单.csv"
    towns.write_text(
        "单位名称,邮箱\n" + "".join(f"{t},{k}@example.cn\n" for k, t in enumerate(TOWNS)), encoding="utf-8"
    )
    assert run("template", "--rules", RULES, "--towns", towns, "--out", tmp / "模板").exit_code == 0
    office = LibreOffice(tmp / "profile")
    inbox = tmp / "收件箱"
    inbox.mkdir()
    for town, typed in TOWNS.items():
        (template,) = (tmp / "模板").glob(f"*_{town}.xlsx")
        cells = value_cells(template)
        assert "s_assessment" not in cells  # the 考核组's points are not on the town's form
        edits = {cells[code]: (f"#{v}" if code in CHOICES else v) for code, v in typed.items()}
        suffix, filter_name = SAVED_AS[town]
        office.correct(template, inbox / f"{town}回报{suffix}", filter_name, edits)
    first = run("score", inbox, "--rules", RULES, "--towns", towns, "--out", tmp / "初评")
    return tmp, towns, inbox, first


def test_libreoffice_returns_score_as_the_spec_says(scored):
    tmp, _, _, first = scored
    # no file has a problem; every town is 待核实 all the same: the assessed points are not in yet
    assert first.exit_code == 0, first.output
    table = ranking(tmp / "初评")
    for town, typed in TOWNS.items():
        expected = reference(as_reported(typed))
        row = table[town]
        got = [points(row[h]) for h in ("1 质量建设机制", "2 质量工作成效", "3 质量安全水平", "4 加分项", "总分")]
        assert got == [expected[k].normalize() for k in (1, 2, 3, 4, "总分")], town
        assert row["等级"] == expected["等级"] and row["状态"] == "待核实", town


def test_assessed_points_through_the_review_table(scored):
    tmp, towns, inbox, _ = scored
    wb = openpyxl.load_workbook(tmp / "初评" / "核定表.xlsx")
    ws = wb["核定"]
    header = [c.value for c in ws[1]]
    at = {
        name: header.index(name)
        for name in ("单位名称", "指标代码", "核定值", "核定理由", "核定人", "核查提示", "二级指标")
    }
    rows = [r for r in ws.iter_rows(min_row=2) if r[at["指标代码"]].value == "s_assessment"]
    assert {r[at["单位名称"]].value for r in rows} == set(TOWNS)
    assert all(
        r[at["核查提示"]].value == "待考核组评定" and r[at["二级指标"]].value == "3.2 考核组综合评定" for r in rows
    )
    for row in rows:
        town = row[at["单位名称"]].value
        if town in ASSESSED:
            row[at["核定值"]].value = ASSESSED[town]
            row[at["核定理由"]].value = "现场检查后综合评定"
            row[at["核定人"]].value = "考核组"
    filled = tmp / "核定表（已填）.xlsx"
    wb.save(filled)
    result = run("score", inbox, "--rules", RULES, "--towns", towns, "--out", tmp / "核定", "--review", filled)
    assert result.exit_code == 0, result.output
    table = ranking(tmp / "核定")
    for town, typed in TOWNS.items():
        expected = reference({**as_reported(typed), "s_assessment": ASSESSED.get(town)})
        assert points(table[town]["总分"]) == expected["总分"].normalize(), town
        assert table[town]["等级"] == expected["等级"]
    assert table["东湖镇"]["状态"] == "已核定" and table["南河街道"]["状态"] == "待核实"
