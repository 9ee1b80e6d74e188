"""核定: the 核定表 every run writes, a filled one applied with --review, and the rounds.

The sample inbox is scored; the 核定表 is filled as a reviewer fills it (openpyxl standing
in for Excel, LibreOffice for itself), applied, and every document is read back."""

from __future__ import annotations

import random
import shutil

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import REPO, frame, result_digests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook

from qz_excel.cli.commands import main
from qz_excel.followup.review import Review, ReviewRow, apply_review, self_report_texts
from qz_excel.results.office import find_soffice
from qz_excel.rules.values import parse_value
from qz_excel.scoring.engine import score
from qz_excel.template import form

SAMPLES = REPO / "sample_workbooks"
needs_office = pytest.mark.skipif(find_soffice() is None, reason="LibreOffice is needed (.ci/run installs it)")

#: (town, indicator) → (核定值, 核定理由, 核定人) as a reviewer types them
FILLED = {
    ("城关镇", "r1_meetings"): (1, "会议记录仅1次", "王科长"),  # a 正常 town corrected
    ("东港街道", "r1_annual_plan"): ("是", "查有实施计划文件", "王科长"),  # every reason 东港街道 was 待核实 …
    ("东港街道", "r3_credit_eval_rate"): (0.5, "抽查台帐", "李明"),
    ("东港街道", "r7_liaison"): ("是", "有联络员任命文件", "李明"),
    ("东港街道", "r10_trainings"): (2, "培训签到表2次", "李明"),
    ("东港街道", "r9_units_in_ledger"): (40, "台帐核对为40家", "李明"),
}
BAD = {
    ("临河镇", "r1_meetings"): ("三次", "记录", "李明"),  # does not parse as a count
    ("北湖街道", "r1_meetings"): (5, "", "李明"),  # no reason
}


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def score_samples(out, *extra):
    return run("score", SAMPLES / "returned", "--towns", SAMPLES / "towns.csv", "--out", out, *extra)


def rows_of(path, sheet):
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def fill(table, target, entries: dict, keep_only: bool = False):
    """Type ``entries`` into a 核定表 (openpyxl standing in for Excel); ``keep_only``: delete
    every other row, as a reviewer may, and shuffle the rest."""
    wb = openpyxl.load_workbook(table)
    ws = wb["核定"]
    found = {}
    header = [c.value for c in ws[1]]
    town, code, value = header.index("单位名称"), header.index("指标代码"), header.index("核定值")
    for row in ws.iter_rows(min_row=2):
        key = (row[town].value, row[code].value)
        if key in entries:
            for cell, typed in zip(row[value : value + 3], entries[key]):
                cell.value = typed if typed != "" else None
            found[key] = [c.value for c in row]
    assert set(found) == set(entries), set(entries) - set(found)
    if keep_only:
        kept = list(found.values())
        random.Random(7).shuffle(kept)
        ws.delete_rows(2, ws.max_row)
        for r, values in enumerate(kept, start=2):
            for c, value in enumerate(values, start=1):
                ws.cell(r, c).value = value
    wb.save(target)
    return target


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    out = tmp_path_factory.mktemp("review") / "结果"
    assert score_samples(out).exit_code == 1
    return out


@pytest.fixture(scope="module")
def reviewed(first, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reviewed")
    review = fill(first / "核定表.xlsx", tmp / "填好的核定表.xlsx", {**FILLED, **BAD})
    out = tmp / "结果"
    result = score_samples(out, "--review", review)
    assert result.exit_code == 1, result.output
    return out, review, result.output


def test_every_run_writes_a_review_table(first, rules):
    wb = openpyxl.load_workbook(first / "核定表.xlsx")
    ws = wb["核定"]
    header = [c.value for c in ws[1]]
    # a clerk's sheet: item and indicator first, the internal code last (2010 has no groups)
    assert header == [
        "考核项目",
        "指标",
        "单位名称",
        "自报值",
        "核定值",
        "核定理由",
        "核定人",
        "核查提示",
        "核定问题",
        "指标代码",
    ]
    TOWN, CODE, HINT = 2, 9, 7
    rows = list(ws.iter_rows(min_row=2))
    assert len(rows) == 9 * len(rules.catalog)  # nine towns scored × every indicator
    # only 核定值, 核定理由, 核定人 can be edited
    assert ws.protection.sheet and ws.protection.autoFilter is False  # filtering stays allowed
    # (empty cells take their column's format, as Excel, WPS and LibreOffice read it)
    locked = [wb._protections[ws.column_dimensions[letter]._style.protectionId].locked for letter in "ABCDEFGHIJ"]
    assert locked == [True] * 4 + [False] * 3 + [True] * 3
    for row in rows:
        assert all(c.protection.locked for c in row[:4] if c.value is not None)
        assert all(not c.protection.locked for c in row[4:7] if c.has_style and c.value is not None)
    # each indicator's 核定值 cells carry the template's validation for that indicator
    template = openpyxl.load_workbook(next((SAMPLES / "returned").glob("开发区.xlsx")))[form.FORM_SHEET]
    kinds = {str(v.sqref): (v.type, v.formula1) for v in template.data_validations.dataValidation}
    code_at = {c.row: c.value for c in template["B"] if c.value in rules.catalog}
    by_code = {
        code_at[int(ref[1:])]: kind for ref, kind in kinds.items() if ref[1:].isdigit() and int(ref[1:]) in code_at
    }
    validations = {min(r.min_row for r in v.sqref.ranges): v for v in ws.data_validations.dataValidation}
    for row in rows:
        if row[0].row in validations:
            v = validations[row[0].row]
            assert v.type == by_code[row[CODE].value][0], row[CODE].value
            if v.type != "custom":
                assert v.formula1 == by_code[row[CODE].value][1]
    assert len(validations) == len(rules.catalog)
    # hidden metadata, as the templates carry
    assert wb[form.META_SHEET].sheet_state == "veryHidden"
    meta = {r[0]: r[1] for r in wb[form.META_SHEET].iter_rows(min_row=2, values_only=True)}
    assert meta["kind"] == "核定表" and meta["year"] == "2010" and meta["rules_fingerprint"] == rules.fingerprint
    # the rows to look at first are marked and filterable
    hints = {(r[TOWN].value, r[CODE].value): r[HINT].value for r in rows if r[HINT].value}
    assert hints[("东港街道", "r1_annual_plan")] == "未填写"
    assert hints[("东港街道", "r7_liaison")] == "填写“是的”，无效"
    assert (
        "数据矛盾" in hints[("东港街道", "r9_units_total")] and "数据矛盾" in hints[("东港街道", "r9_units_in_ledger")]
    )
    assert "否决" in hints[("青石镇", "r6_major_accident")]
    assert hints[("城关镇", "r2_new_prov_brands")].startswith("加")
    shading = {
        str(cf.sqref): [(r.formula, r.dxf.fill.bgColor.rgb) for r in cf.rules] for cf in ws.conditional_formatting
    }
    last = len(rows) + 1
    assert shading[f"A2:D{last}"] == shading[f"H2:I{last}"] == [(['$H2<>""'], "FFFCE4D6")]  # marked rows shaded
    assert shading[f"E2:G{last}"] == [(["TRUE"], "FFFFF2CC")]  # the cells to fill, yellow
    assert ws.auto_filter.ref.startswith("A1:J")


def test_a_run_without_review_is_the_initial_result(first):
    ranking = CalamineWorkbook.from_path(str(first / "汇总.xlsx"))
    statuses = {r["单位名称"]: r["状态"] for r in rows_of(first / "汇总.xlsx", "汇总排名")}
    assert "已核定" not in statuses.values()
    assert rows_of(first / "汇总.xlsx", "核定记录") == []
    assert all(r["核定值"] == "" for r in rows_of(first / "汇总.xlsx", "评分明细"))
    assert "汇总排名" in ranking.sheet_names
    header = openpyxl.load_workbook(first / "汇总.xlsx")["汇总排名"].oddHeader.center.text
    assert "汇总排名（初评）" in header


def test_reviewed_values_are_scored_and_shown_everywhere(reviewed, first, rules):
    out, _, output = reviewed
    assert "核定结果：采用核定值 6 个" in output
    before = {r["单位名称"]: r for r in rows_of(first / "汇总.xlsx", "汇总排名")}
    after = {r["单位名称"]: r for r in rows_of(out / "汇总.xlsx", "汇总排名")}
    assert after["城关镇"]["状态"] == "已核定" and after["东港街道"]["状态"] == "已核定"
    assert before["东港街道"]["状态"] == "待核实" and after["临河镇"]["状态"] == "正常"
    assert after["城关镇"]["总分"] == before["城关镇"]["总分"] - 2  # 1 meeting instead of 2: item 1 loses 2
    header = openpyxl.load_workbook(out / "汇总.xlsx")["汇总排名"].oddHeader.center.text
    assert "汇总排名（核定）" in header
    records = rows_of(out / "汇总.xlsx", "核定记录")
    assert [(r["单位名称"], r["指标"]) for r in records] == [
        (t, rules.catalog[c].label) for t, c in sorted(FILLED, key=lambda k: (k[0] != "城关镇", rules.position[k[1]]))
    ]
    chengguan = records[0]
    assert (chengguan["自报值"], chengguan["核定值"], chengguan["核定理由"], chengguan["核定人"]) == (
        "2次",
        "1次",
        "会议记录仅1次",
        "王科长",
    )
    assert chengguan["核定后总分"] == chengguan["核定前总分"] - 2 == after["城关镇"]["总分"]
    trail = [r for r in rows_of(out / "汇总.xlsx", "评分明细") if r["单位名称"] == "城关镇" and r["核定值"]]
    assert [(r["自报值"], r["核定值"]) for r in trail] == [("2次", "1次")]
    assert trail[0]["得分说明"].startswith("自报2次，核定1次（理由：会议记录仅1次）")
    sheet = CalamineWorkbook.from_path(str(out / "评分细则" / "城关镇.xlsx"))
    texts = [str(c) for r in sheet.get_sheet_by_name(sheet.sheet_names[0]).to_python() for c in r]
    assert any("自报2次，核定1次（理由：会议记录仅1次）" in t for t in texts)
    # 东港街道: every reason it was 待核实 reviewed, so no correction request is left for it
    assert not (out / "反馈").exists()


def test_bad_review_rows_are_problems_and_carried_forward(reviewed):
    out, review, _ = reviewed
    problems = {(r["单位名称"], r["问题代码"]): r for r in rows_of(out / "汇总.xlsx", "问题清单")}
    invalid = problems[("临河镇", "REVIEW_INVALID_VALUE")]
    assert invalid["文件"] == review.name and invalid["工作表"] == "核定" and invalid["单元格"].startswith("E")
    assert "不是数量" in invalid["说明"] and "全年召开质量工作专题会议次数" in invalid["说明"]
    assert "没有填写核定理由" in problems[("北湖街道", "REVIEW_NO_REASON")]["说明"]
    table = {(r["单位名称"], r["指标代码"]): r for r in rows_of(out / "核定表.xlsx", "核定")}
    for key, (value, reason, who) in {**FILLED, **BAD}.items():
        row = table[key]
        assert (row["核定值"], row["核定理由"], row["核定人"]) == (value, reason, who), key
    assert "不是数量" in table[("临河镇", "r1_meetings")]["核定问题"]
    assert table[("城关镇", "r1_meetings")]["核定问题"] == ""


def test_the_next_round_reads_the_table_it_replaces(reviewed, tmp_path):
    """--review 结果/核定表.xlsx names the very file the run replaces: nothing typed is lost,
    and applying the same review again gives the same results."""
    out, _, _ = reviewed
    again = tmp_path / "结果"
    shutil.copytree(out, again)
    assert score_samples(again, "--review", again / "核定表.xlsx").exit_code == 1
    first, second = result_digests(out), result_digests(again)
    assert first["核定表.xlsx"] == second["核定表.xlsx"]
    assert {k: v for k, v in first.items() if k != "汇总.xlsx"} == {k: v for k, v in second.items() if k != "汇总.xlsx"}
    # 汇总 differs only in the review file's name in 问题清单
    assert [{**r, "文件": ""} for r in rows_of(out / "汇总.xlsx", "问题清单")] == [
        {**r, "文件": ""} for r in rows_of(again / "汇总.xlsx", "问题清单")
    ]
    third = tmp_path / "第三次"
    shutil.copytree(again, third)
    assert score_samples(third, "--review", third / "核定表.xlsx").exit_code == 1
    assert result_digests(third) == result_digests(again)  # byte-identical


def test_only_the_touched_rows_in_any_order(first, reviewed, tmp_path):
    out, _, _ = reviewed
    short = fill(first / "核定表.xlsx", tmp_path / "只留改过的行.xlsx", FILLED, keep_only=True)
    renamed = short.rename(tmp_path / "核定（改了名）.dat")
    result = score_samples(tmp_path / "结果", "--review", renamed)
    assert result.exit_code == 1, result.output
    assert rows_of(tmp_path / "结果" / "汇总.xlsx", "汇总排名") == rows_of(out / "汇总.xlsx", "汇总排名")
    assert rows_of(tmp_path / "结果" / "汇总.xlsx", "核定记录") == rows_of(out / "汇总.xlsx", "核定记录")


@pytest.mark.parametrize(
    "edit, code",
    [
        (lambda ws, wb: ws.append(_row("不存在镇", "r1_meetings", "", 3, "理由", "某")), "REVIEW_UNKNOWN_TOWN"),
        (lambda ws, wb: ws.append(_row("城关镇", "r99_nothing", "", 3, "理由", "某")), "REVIEW_UNKNOWN_INDICATOR"),
        (lambda ws, wb: ws.append(_row("双桥镇", "r1_meetings", "", 3, "理由", "某")), "REVIEW_NOT_SCORED"),
        (lambda ws, wb: ws.append(_row("城关镇", "r1_meetings", "2次", 3, "另一个理由", "某")), "REVIEW_DUPLICATE"),
        (lambda ws, wb: _set_self(ws, ("城关镇", "r1_meetings"), "4次"), "REVIEW_STALE"),
        (lambda ws, wb: _set_meta(wb, "rules_fingerprint", "0" * 16), "REVIEW_RULES_CHANGED"),
        (lambda ws, wb: wb.remove(wb[form.META_SHEET]), "REVIEW_NO_METADATA"),
    ],
)
def test_each_bad_review_is_named(first, tmp_path, edit, code):
    path = fill(first / "核定表.xlsx", tmp_path / "核定表.xlsx", FILLED)
    wb = openpyxl.load_workbook(path)
    edit(wb["核定"], wb)
    wb.save(path)
    out = tmp_path / "结果"
    result = score_samples(out, "--review", path)
    assert result.exit_code == 1, result.output
    found = [r for r in rows_of(out / "汇总.xlsx", "问题清单") if r["问题代码"] == code]
    assert len(found) == 1, code
    assert found[0]["说明"] and "REVIEW" not in found[0]["说明"]
    applied = rows_of(out / "汇总.xlsx", "核定记录")
    if code == "REVIEW_STALE":  # applied all the same, with a warning naming both values
        assert "“4次”" in found[0]["说明"] and "“2次”" in found[0]["说明"] and found[0]["级别"] == "警告"
    assert ("城关镇", "1次") in [(r["单位名称"], r["核定值"]) for r in applied]


def _row(town, code, self_text, value, reason, who):
    """A row in the 核定表's layout (考核项目, 指标, 单位名称, 自报值, 核定值, 核定理由, 核定人,
    核查提示, 核定问题, 指标代码), as a reviewer might type one at the bottom."""
    return ["", "", town, self_text, value, reason, who, "", "", code]


def _set_self(ws, key, text):
    for row in ws.iter_rows(min_row=2):
        if (row[2].value, row[9].value) == key:
            row[3].value = text


def _set_meta(wb, key, value):
    for row in wb[form.META_SHEET].iter_rows(min_row=2):
        if row[0].value == key:
            row[1].value = value


def test_another_years_review_is_refused_before_anything_is_written(first, tmp_path):
    path = fill(first / "核定表.xlsx", tmp_path / "核定表.xlsx", FILLED)
    wb = openpyxl.load_workbook(path)
    _set_meta(wb, "year", "2009")
    wb.save(path)
    result = score_samples(tmp_path / "结果", "--review", path)
    assert result.exit_code == 2 and "2009年度的核定表" in result.output
    assert not (tmp_path / "结果").exists()
    not_a_table = run(
        "score",
        SAMPLES / "returned",
        "--towns",
        SAMPLES / "towns.csv",
        "--out",
        tmp_path / "r",
        "--review",
        SAMPLES / "towns.csv",
    )
    assert not_a_table.exit_code == 2 and "核定表" in not_a_table.output


@needs_office
@pytest.mark.parametrize("suffix, filter_name", [(".ods", "calc8"), (".xls", "MS Excel 97")])
def test_a_review_filled_and_saved_in_libreoffice(first, reviewed, tmp_path, suffix, filter_name):
    from _office import LibreOffice

    out, _, _ = reviewed
    table = openpyxl.load_workbook(first / "核定表.xlsx")["核定"]
    at = {(r[2].value, r[9].value): r[0].row for r in table.iter_rows(min_row=2)}  # (单位名称, 指标代码)
    edits = {}
    for key, (value, reason, who) in FILLED.items():
        edits.update({f"E{at[key]}": value, f"F{at[key]}": reason, f"G{at[key]}": who})
    saved = LibreOffice(tmp_path / "profile").correct(
        first / "核定表.xlsx", tmp_path / f"核定表{suffix}", filter_name, edits, sheet="核定"
    )
    renamed = saved.rename(tmp_path / f"考核组改过的{suffix}.bin")
    result = score_samples(tmp_path / "结果", "--review", renamed)
    assert result.exit_code == 1, result.output
    assert rows_of(tmp_path / "结果" / "汇总.xlsx", "核定记录") == rows_of(out / "汇总.xlsx", "核定记录")
    assert rows_of(tmp_path / "结果" / "汇总.xlsx", "汇总排名") == rows_of(out / "汇总.xlsx", "汇总排名")


REVIEW_FORMS = {
    "bool": st.sampled_from(["是", "否", "√", "有", "无", True, False]),
    "count": st.one_of(st.integers(0, 30), st.integers(0, 30).map(lambda n: f"{n}次"), st.integers(0, 30).map(float)),
    "percent": st.one_of(
        st.integers(0, 1000).map(lambda n: n / 1000),
        st.sampled_from(["不适用", "98.5%", "99%"]),
        st.integers(0, 100).map(float),
    ),
}


@st.composite
def reviews(draw, rules):
    """A town's self-report and one reviewed value for any indicator, in any accepted form."""
    codes = list(rules.catalog)
    code = draw(st.sampled_from(codes))
    raw = draw(REVIEW_FORMS[rules.catalog[code].type])
    blank = draw(st.sampled_from([None, code]))  # sometimes the self-report left it empty
    return code, raw, blank


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_reviewed_value_scores_exactly_as_a_reported_one(rules, data):
    """Property: for every indicator (so every sub-rule kind), scoring the self-report with a
    reviewed value gives exactly the points the engine gives a town that reported that value."""
    code, raw, blank = data.draw(reviews(rules))
    values = frame(rules, {"甲镇": {blank: None} if blank else {}, "乙镇": {}})
    notes = pd.DataFrame("", index=values.index, columns=values.columns, dtype=object)
    texts = self_report_texts(rules, values)
    row = ReviewRow(
        row=2,
        town="甲镇",
        indicator=code,
        label="",
        self_text=texts.at["甲镇", code],
        raw=raw,
        reason="核查",
        reviewer="某",
    )
    applied = apply_review(Review("核定表.xlsx", "核定", [row], "F"), rules, values, notes, texts, {"甲镇", "乙镇"})
    assert applied.problems == [] and len(applied.records) == 1
    reported = frame(rules, {"甲镇": {code: parse_value(raw, rules.catalog[code].type).value}, "乙镇": {}})
    ours, theirs = score(rules, applied.values, applied.notes), score(rules, reported)
    pd.testing.assert_frame_equal(ours.summary, theirs.summary)
    assert (ours.details["points"].to_numpy() == theirs.details["points"].to_numpy()).all()
    explained = ours.details[(ours.details["town"] == "甲镇")]
    used = explained[[code in rule.inputs() for _, rule in rules.subrules()]]["explanation"]
    assert all(str(t).startswith("自报") and "核定" in str(t) and "（理由：核查）" in str(t) for t in used)


def test_a_partial_review_leaves_the_town_pending(first, tmp_path):
    """东港街道 was 待核实 for five reasons; a review of one of them does not make it final."""
    partial = {("东港街道", "r1_annual_plan"): FILLED[("东港街道", "r1_annual_plan")]}
    review = fill(first / "核定表.xlsx", tmp_path / "核定表.xlsx", partial)
    out = tmp_path / "结果"
    assert score_samples(out, "--review", review).exit_code == 1
    statuses = {r["单位名称"]: r["状态"] for r in rows_of(out / "汇总.xlsx", "汇总排名")}
    assert statuses["东港街道"] == "待核实"
    records = rows_of(out / "汇总.xlsx", "核定记录")
    assert [(r["单位名称"], r["核定值"]) for r in records] == [("东港街道", "是")]
    # its correction request still asks for the rest, no longer for what the bureau verified
    request = CalamineWorkbook.from_path(str(out / "反馈" / "东港街道.xlsx")).get_sheet_by_name("请修改").to_python()
    listed = [r[2] for r in request[3:]]
    assert "制定年度质量振兴工作实施计划" not in listed and len(listed) == 4


@needs_office
def test_the_review_record_prints_titled_and_whole(reviewed, tmp_path):
    from test_print import inside_the_margins, page_texts, squeezed

    from qz_excel.results.office import convert

    out, _, _ = reviewed
    (pdf,), failed = convert([out / "汇总.xlsx"], "pdf", tmp_path)
    assert not failed
    texts = page_texts(pdf)
    pages = [k for k, t in enumerate(texts) if "2010年质量振兴工作考核核定记录" in t]
    assert pages
    printed = squeezed("".join(texts[k] for k in pages))
    for record in rows_of(out / "汇总.xlsx", "核定记录"):
        for value in ("单位名称", "指标", "核定值", "核定理由", "核定人"):
            assert squeezed(str(record[value])) in printed, record[value]
    inside_the_margins(pdf, 0.4, pages)
    ranking = [k for k, t in enumerate(texts) if "汇总排名（核定）" in squeezed(t)]
    assert ranking  # the printed ranking says it is the 核定 result
