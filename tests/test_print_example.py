"""Every printed document of the 2016 example at 10 towns, and 2010's worst case with
counts in the thousands: A4, at least 9 pt, nothing outside the margins, every 评分细则 on
at most two pages with its three levels, 等级 and signatures."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypdf import PdfReader
from test_print import LONG_TOWN, inside_the_margins, page_texts, printed_font_sizes, squeezed, worst_case

from qz_excel.pipeline import run_score
from qz_excel.results.office import convert, find_soffice
from qz_excel.results.town_sheet import MARGINS
from qz_excel.rules.ruleset import load_rules
from qz_excel.template.writer import TemplateOptions, write_template

pytestmark = pytest.mark.skipif(find_soffice() is None, reason="LibreOffice is needed (.ci/run installs it)")

PLAIN = {
    "m_plan_level": "纳入部门规划", "m_gov_report": "有体现", "m_mechanism": "健全且运行良好",
    "m_incentive": "出台专项激励政策", "m_reporting": "按时上报", "m_five_year_plan": "是", "m_annual_scheme": "否",
    "m_annual_plan": "是", "s_major_incident": "否", "m_policy_aspects": 4, "m_meetings": 3, "m_staff": 2,
    "e_verification_rate": 0.97, "e_brand_share": 0.45, "e_pass_rate": 0.93, "e_response_minutes": 12.5,
    "e_tasks_assigned": 7, "e_tasks_done": 5, "e_coverage_rate": 0.6, "e_coverage_growth": -3,
    "s_failed_batches": 2, "s_label_issues": 3, "b_award_national": 1, "b_award_provincial": 3, "b_award_city": 2,
    "b_media_national": 2, "b_media_provincial": 4,
}  # fmt: skip
#: the longest 得分说明 the example can give: every value in a form that earns a note,
#: counts in the thousands, the veto
WORST = {
    **{k: f" {v} " for k, v in PLAIN.items() if isinstance(v, str)},
    **{k: f"{v + 9990}项" for k, v in PLAIN.items() if isinstance(v, int) and not isinstance(v, bool)},
    "m_policy_aspects": "4个",
    "s_major_incident": "有",
    "e_verification_rate": "96.5％",
    "e_brand_share": "39.9％",
    "e_pass_rate": "0.88",
    "e_coverage_rate": "不适用",
    "e_response_minutes": "２０",
    "e_coverage_growth": "－3.5",
}


def _print(rules, towns: dict[str, dict], tmp: Path):
    inbox = tmp / "inbox"
    for k, (town, values) in enumerate(towns.items()):
        options = TemplateOptions(generated_at=f"{rules.year}-12-01")
        write_template(rules, town, inbox / f"{k}.xlsx", options, prefill=values)
    towns_csv = tmp / "towns.csv"
    towns_csv.write_text("单位名称\n" + "\n".join(towns) + "\n", encoding="utf-8")
    report = run_score(inbox, towns_csv, tmp / "out", rules)
    sheets = sorted((tmp / "out" / "评分细则").glob("*.xlsx"))
    pdfs, failed = convert(sheets, "pdf", tmp / "pdf")
    assert not failed and len(pdfs) == len(towns)
    return report, {p.stem: p for p in pdfs}


def _legible(pdf: Path) -> None:
    reader = PdfReader(pdf)
    assert 1 <= len(reader.pages) <= 2, pdf.name
    for page in reader.pages:
        assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (595, 842)  # A4
    assert min(printed_font_sizes(pdf)) >= 9 - 0.05, pdf.name
    inside_the_margins(pdf, MARGINS["left"])


def test_the_example_prints_its_three_levels_on_two_pages(tmp_path):
    rules = load_rules("2016-example")
    towns = {f"示例镇{k}": {**PLAIN, "m_meetings": k, "b_media_national": k % 4} for k in range(8)}
    towns[LONG_TOWN] = WORST
    towns["否决镇"] = {**PLAIN, "s_major_incident": "是"}
    report, pdfs = _print(rules, towns, tmp_path)
    grades = dict(zip(report.summary["单位名称"], report.summary["等级"]))
    assert grades["否决镇"] == "D"
    for town, pdf in pdfs.items():
        _legible(pdf)
        whole = squeezed("".join(page_texts(pdf)))
        # three levels: every item's and every group's name and 标准分, the 等级, the signatures
        for item in rules.items:
            assert squeezed(item.name) in whole, (town, item.name)
            for group in item.groups:
                assert squeezed(f"{group.number}{group.name}") in whole, (town, group.number)
        assert f"等级：{grades[town]}" in whole and "考核人（签字）" in whole
    assert "扣完为止" in squeezed("".join(page_texts(pdfs[LONG_TOWN])))


def test_the_example_ranking_prints_with_its_grade_column(tmp_path):
    rules = load_rules("2016-example")
    towns = {f"示例镇{k}": {**PLAIN, "m_meetings": k} for k in range(10)}
    _print(rules, towns, tmp_path)
    from qz_excel.results.office import convert as to_pdf

    (pdf,), failed = to_pdf([tmp_path / "out" / "汇总.xlsx"], "pdf", tmp_path / "summary")
    assert not failed
    first = squeezed(page_texts(pdf)[0])
    assert "2016年质量工作考核汇总排名（初评）" in first and "等级" in first and "###" not in first
    inside_the_margins(pdf, 0.4, pages=[0])


def test_2010_worst_case_with_counts_in_the_thousands_prints_on_two_pages(tmp_path):
    """Tried as a new user would: every cell with a note and counts that earn bonuses in
    the thousands used to push the signatures to a third page."""
    rules = load_rules(2010)
    big = {
        code: (f"{int(v[:-1]) + 9000}次" if isinstance(v, str) and v.endswith("次") else v)
        for code, v in worst_case(rules).items()
    }
    big.update({"r2_new_prov_brands": "999只", "r2_new_city_brands": "999只"})
    _, pdfs = _print(rules, {LONG_TOWN: big, "城关镇": worst_case(rules)}, tmp_path)
    for pdf in pdfs.values():
        _legible(pdf)
        assert "###" not in "".join(page_texts(pdf))
