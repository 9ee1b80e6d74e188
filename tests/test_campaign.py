"""A year's assessment as one folder: `qz init`, every command with no options inside it,
`qz status` after each step, last year beside this year, and each bad settings file."""

from __future__ import annotations

import csv
import io
import re
import shutil

import openpyxl
import pytest
from click.testing import CliRunner
from conftest import REPO
from python_calamine import CalamineWorkbook

from qz_excel.cli.commands import main

SAMPLES = REPO / "sample_workbooks"


def qz(*args, cwd=None):
    """`qz` as a clerk types it: inside the campaign folder (``-C`` stands for cd)."""
    prefix = ["-C", str(cwd)] if cwd else []
    return CliRunner().invoke(main, prefix + [str(a) for a in args])


def rows_of(path, sheet):
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()
    header = [str(h).replace("\n", "") for h in rows[0]]
    return [dict(zip(header, r)) for r in rows[1:]]


def counts(folder) -> dict[str, int]:
    result = qz("status", cwd=folder)
    assert result.exit_code == 0, result.output
    line = result.output.splitlines()[1]
    return {pair.split(" ")[0]: int(pair.split(" ")[1]) for pair in line.split("　")}


def status_rows(folder) -> dict[str, dict]:
    result = CliRunner().invoke(main, ["-C", str(folder), "status", "--format", "csv"])
    assert result.exit_code == 0, result.output
    text = result.stdout_bytes.decode("utf-8-sig")
    return {row["单位名称"]: row for row in csv.DictReader(io.StringIO(text))}


@pytest.fixture
def campaign(tmp_path):
    folder = tmp_path / "2010年考核"
    result = qz("init", folder, "--towns", SAMPLES / "towns.csv", "--maker", "县质量技术监督局")
    assert result.exit_code == 0, result.output
    return folder


def test_init_makes_a_folder_that_holds_the_year(campaign):
    assert sorted(p.name for p in campaign.iterdir()) == ["qz.toml", "单位名单.csv", "收件箱", "模板", "结果"]
    text = (campaign / "qz.toml").read_text(encoding="utf-8")
    assert 'rules = "2010"' in text and "# 制表单位" in text
    assert not re.search(r"(?im)^\s*\w*(password|passwd|授权码)\w*\s*=", text)  # never a password
    again = qz("init", campaign)
    assert again.exit_code == 2 and "不会覆盖" in again.output


def test_a_blank_towns_list_when_none_is_given(tmp_path):
    folder = tmp_path / "新的一年"
    assert qz("init", folder, "--rules", "2016-example").exit_code == 0
    sheet = openpyxl.load_workbook(folder / "单位名单.xlsx").active
    assert [c.value for c in sheet[1]] == ["单位名称", "类别", "联系人", "邮箱"] and "示例" in sheet["A2"].value
    assert "year = 2016" in (folder / "qz.toml").read_text(encoding="utf-8")


def test_the_whole_cycle_with_no_options(campaign):
    # templates: the date is fixed in qz.toml the first time, so a rerun is byte-identical
    assert qz("template", cwd=campaign).exit_code == 0
    first = {p.name: p.read_bytes() for p in (campaign / "模板").glob("*.xlsx")}
    assert len(first) == 10 and 'generated_at = "' in (campaign / "qz.toml").read_text(encoding="utf-8")
    assert qz("template", cwd=campaign).exit_code == 0
    assert {p.name: p.read_bytes() for p in (campaign / "模板").glob("*.xlsx")} == first
    assert counts(campaign) == {
        "单位": 10,
        "已发模板": 0,
        "已报送": 0,
        "未报送": 10,
        "需修改": 0,
        "已发修改通知": 0,
        "已核定": 0,
        "待核实": 0,
    }

    dry = qz("mail", cwd=campaign)
    assert dry.exit_code == 0 and "演练：已生成 10 封下发邮件草稿" in dry.output, dry.output
    assert "落款" not in dry.output and len(list((campaign / "模板" / "mail").rglob("*.eml"))) == 10

    for path in (SAMPLES / "returned").iterdir():
        shutil.copy(path, campaign / "收件箱" / path.name)
    score = qz("score", cwd=campaign)
    assert score.exit_code == 1, score.output
    # the follow-up commands printed are exact inside a campaign
    assert "催报：qz mail --remind" in score.output and "发送修改通知：qz mail --corrections" in score.output
    assert "模板目录" not in score.output
    after = counts(campaign)
    assert after["已报送"] == 9 and after["未报送"] == 1 and after["需修改"] == 1 and after["待核实"] == 1
    rows = status_rows(campaign)
    assert rows["双桥镇"]["状态"] == "未报送" and rows["城关镇"]["报回文件"] == "城关镇质量考核（已填）.xlsx"
    assert rows["东港街道"]["状态"] == "待核实" and int(rows["东港街道"]["问题"]) > 0
    assert rows["城关镇"]["排名"] == "1"

    remind = qz("mail", "--remind", cwd=campaign)
    assert remind.exit_code == 0 and "双桥镇" in remind.output and "1 封催报" in remind.output, remind.output
    corrections = qz("mail", "--corrections", cwd=campaign)
    assert corrections.exit_code == 0 and "东港街道" in corrections.output and "1 封反馈" in corrections.output

    # 核定: the 考核组 fills the table in the results; `qz score --review` finds it there
    table = openpyxl.load_workbook(campaign / "结果" / "核定表.xlsx")
    ws = table["核定"]
    header = [c.value for c in ws[1]]
    at = {name: header.index(name) for name in ("单位名称", "指标代码", "核定值", "核定理由", "核定人")}
    # every reason 东港街道 is 待核实: empty, invalid and contradictory cells
    fixes = {
        "r1_annual_plan": "是",
        "r3_credit_eval_rate": 0.5,
        "r7_liaison": "是",
        "r10_trainings": 2,
        "r9_units_in_ledger": 40,
    }
    for row in ws.iter_rows(min_row=2):
        code = row[at["指标代码"]].value
        if row[at["单位名称"]].value == "东港街道" and code in fixes:
            row[at["核定值"]].value = fixes[code]
            row[at["核定理由"]].value = "查看原始记录"
            row[at["核定人"]].value = "考核组"
    table.save(campaign / "结果" / "核定表.xlsx")
    reviewed = qz("score", "--review", cwd=campaign)
    assert reviewed.exit_code in (0, 1), reviewed.output
    assert status_rows(campaign)["东港街道"]["状态"] == "已核定"
    assert counts(campaign)["已核定"] == 1


def test_an_option_still_wins_inside_a_campaign(campaign, tmp_path):
    elsewhere = tmp_path / "别处"
    assert qz("template", "--out", elsewhere, cwd=campaign).exit_code == 0
    assert len(list(elsewhere.glob("*.xlsx"))) == 10 and not list((campaign / "模板").glob("*.xlsx"))


def test_last_year_beside_this_year(tmp_path):
    """Last year under other rules (the 2016 example), a renamed town, a new one."""
    last = tmp_path / "上一年"
    assert qz("init", last, "--rules", "2016-example", "--towns", SAMPLES / "towns.csv").exit_code == 0
    from qz_excel.rules.ruleset import load_rules
    from qz_excel.template.writer import TemplateOptions, write_template

    example = load_rules("2016-example")
    values = {"m_meetings": 3, "m_mechanism": "健全且运行良好", "e_pass_rate": 0.96, "s_major_incident": "否"}
    for k, town in enumerate(["城关镇", "青石镇", "白沙镇"]):
        write_template(
            example,
            town,
            last / "收件箱" / f"{k}.xlsx",
            TemplateOptions("", "", "2016-12-01"),
            prefill={**values, "m_meetings": k},
        )
    assert qz("score", cwd=last).exit_code in (0, 1)
    last_rows = {r["单位名称"]: r for r in rows_of(last / "结果" / "汇总.xlsx", "汇总排名")}

    this = tmp_path / "今年"
    towns = tmp_path / "今年名单.csv"
    towns.write_text("单位名称\n城关街道\n青石镇\n白沙镇\n新城镇\n", encoding="utf-8")
    assert qz("init", this, "--towns", towns).exit_code == 0
    settings = this / "qz.toml"
    text = settings.read_text(encoding="utf-8").replace('results = ""', 'results = "../上一年"')
    text = text.replace('# "城东街道" = "城东镇"', '"城关街道" = "城关镇"')
    settings.write_text(text, encoding="utf-8")
    from qz_excel.template.samples import GOOD

    for k, town in enumerate(["城关街道", "青石镇", "白沙镇", "新城镇"]):
        write_template(
            load_rules(2010), town, this / "收件箱" / f"{k}.xlsx", TemplateOptions("", "", "2010-12-01"), prefill=GOOD
        )
    result = qz("score", cwd=this)
    assert result.exit_code in (0, 1), result.output
    ranking = {r["单位名称"]: r for r in rows_of(this / "结果" / "汇总.xlsx", "汇总排名")}
    assert ranking["城关街道"]["上年总分"] == last_rows["城关镇"]["总分"]  # matched through the 更名 list
    assert ranking["城关街道"]["上年名次"] == last_rows["城关镇"]["排名"]
    assert ranking["新城镇"]["名次变化"] == "新参加" and ranking["新城镇"]["上年总分"] == ""
    change = int(last_rows["青石镇"]["排名"]) - int(ranking["青石镇"]["排名"])
    assert ranking["青石镇"]["名次变化"] == ("持平" if change == 0 else f"↑{change}" if change > 0 else f"↓{-change}")
    # other rules last year: items compare only where names match (none here), totals always
    yoy = rows_of(this / "结果" / "汇总.xlsx", "同比")
    assert {r["项目"] for r in yoy} == {"总分"} and len(yoy) == 4
    sheet = openpyxl.load_workbook(this / "结果" / "评分细则" / "城关街道.xlsx").active
    assert any("上年总分" in str(c.value) for row in sheet.iter_rows() for c in row)


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda t: t.replace("maker = ", "makr = "), ["第9行", "设置 makr", "不认识这个设置"]),
        (lambda t: t.replace("year = 2010", 'year = "二〇一〇"'), ["第6行", "设置 year", "整数"]),
        (lambda t: t.replace('deadline = ""', 'deadline = "12月20号"'), ["第10行", "设置 deadline", "不是有效日期"]),
        (lambda t: t.replace('smtp = ""', "smtp = smtp.qq.com"), ["第15行", "格式不对"]),
        (lambda t: t.replace('security = ""', 'security = "tls"', 1), ["设置 mail.security", "starttls"]),
    ],
)
def test_each_bad_settings_file_is_named_with_line_and_key(campaign, edit, words):
    settings = campaign / "qz.toml"
    settings.write_text(edit(settings.read_text(encoding="utf-8")), encoding="utf-8")
    result = qz("template", cwd=campaign)
    assert result.exit_code == 2
    assert "qz.toml" in result.output
    for word in words:
        assert word in result.output, result.output


def test_missing_parts_and_outside_a_campaign(campaign, tmp_path, monkeypatch):
    (campaign / "单位名单.csv").unlink()
    result = qz("template", cwd=campaign)
    assert result.exit_code == 2 and "单位名单 单位名单.csv 不在" in result.output
    monkeypatch.chdir(tmp_path)  # no qz.toml here or above
    outside = qz("score", SAMPLES / "returned")
    assert outside.exit_code == 2 and "qz init" in outside.output and "--towns" in outside.output
    status = qz("status")
    assert status.exit_code == 2 and "qz init" in status.output


def test_last_years_file_that_is_no_summary_is_refused(campaign):
    settings = campaign / "qz.toml"
    settings.write_text(
        settings.read_text(encoding="utf-8").replace('results = ""', 'results = "单位名单.csv"'), encoding="utf-8"
    )
    shutil.copy(SAMPLES / "towns.csv", campaign / "单位名单.csv")
    result = qz("score", cwd=campaign)
    assert result.exit_code == 2 and "不是 qz 生成的汇总表" in result.output
