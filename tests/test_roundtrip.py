"""The round trip with the towns: qz score finds problems → 反馈 workbooks → corrected in
LibreOffice → returned beside the old files → rescored: the problems gone, the changes
listed. Reminders and correction requests go through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import shutil
import time
from email import message_from_bytes, policy
from pathlib import Path

import openpyxl
import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from conftest import result_digests
from python_calamine import CalamineWorkbook
from test_mail import Recorder, free_port

from qz_excel.cli.commands import main
from qz_excel.intake.read import read_meta
from qz_excel.results.office import convert, find_soffice
from qz_excel.template import form
from qz_excel.template.samples import GOOD, fill_workbook
from qz_excel.template.writer import template_file_name

needs_office = pytest.mark.skipif(find_soffice() is None, reason="LibreOffice is needed (.ci/run installs it)")

TOWNS = {
    "甲镇": "jia@example.com",
    "乙镇": "yi@example.com",
    "丙镇": "bing@example.com",
    "丁镇": "ding@example.com",
    "戊镇": "wu@example.com",
}
# 乙镇 (.xlsx) and 丙镇 (saved by LibreOffice as .ods) have problems a town can fix;
# 丁镇 sends its blank template back; 戊镇 sends nothing
PROBLEMS = {
    "乙镇": {
        "r1_annual_plan": None,
        "r7_liaison": "是的",
        "r10_trainings": 2.5,
        "r9_units_in_ledger": 45,
        "r3_credit_eval_rate": "六成",
    },
    "丙镇": {"r1_meetings": "三次", "r6_food_pass_rate": None},
}
FIXED = {  # what the towns type into their 反馈 workbooks, by indicator
    "乙镇": {
        "r1_annual_plan": "是",
        "r7_liaison": "是",
        "r10_trainings": 3,
        "r9_units_in_ledger": 38,
        "r3_credit_eval_rate": 0.6,
    },
    "丙镇": {"r1_meetings": 3, "r6_food_pass_rate": 0.9},
}


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def score(inbox: Path, towns: Path, out: Path):
    return invoke("score", inbox, "--towns", towns, "--out", out)


@pytest.fixture(scope="module")
def loop(tmp_path_factory, rules):
    """Templates made, returns filled (one as .ods), scored once."""
    tmp = tmp_path_factory.mktemp("loop")
    towns = tmp / "towns.csv"
    towns.write_text(
        "单位名称,联系人,邮箱\n" + "".join(f"{t},联系人{t},{m}\n" for t, m in TOWNS.items()), encoding="utf-8"
    )
    tpl, inbox = tmp / "模板", tmp / "收件箱"
    assert invoke("template", "--towns", towns, "--out", tpl, "--generated-at", "2010-12-01").exit_code == 0
    template = {t: tpl / f"{template_file_name(rules, t)}.xlsx" for t in TOWNS}
    fill_workbook(template["甲镇"], inbox / "甲镇.xlsx", GOOD, filler="甲")
    fill_workbook(template["乙镇"], inbox / "乙镇.xlsx", {**GOOD, **PROBLEMS["乙镇"]}, filler="乙填报人")
    shutil.copy(template["丁镇"], inbox / "丁镇.xlsx")
    if find_soffice():
        filled = fill_workbook(template["丙镇"], tmp / "丙镇.xlsx", {**GOOD, **PROBLEMS["丙镇"]}, filler="丙")
        (ods,), failed = convert([filled], "ods", inbox)
        assert not failed
    else:
        fill_workbook(template["丙镇"], inbox / "丙镇.xlsx", {**GOOD, **PROBLEMS["丙镇"]}, filler="丙")
    (inbox / "回复：填报表.eml").write_bytes(b"From: a@b.cn\r\n\r\nhello\r\n")  # mail saved into the inbox
    out = tmp / "结果"
    result = score(inbox, towns, out)
    assert result.exit_code == 1, result.output
    return {
        "tmp": tmp,
        "towns": towns,
        "tpl": tpl,
        "inbox": inbox,
        "out": out,
        "output": result.output,
        "template": template,
    }


def value_cells(ws) -> dict[str, openpyxl.cell.Cell]:
    """indicator → its value cell on a 填报表 sheet."""
    head = next(r for r in ws.iter_rows(max_row=30) if any(c.value == form.CODE_HEADER for c in r))
    code_col = next(c.column for c in head if c.value == form.CODE_HEADER)
    value_col = next(c.column for c in head if c.value == form.VALUE_HEADER)
    return {
        ws.cell(r, code_col).value: ws.cell(r, value_col)
        for r in range(head[0].row + 1, ws.max_row + 1)
        if ws.cell(r, code_col).value
    }


def test_score_names_the_towns_not_returned_and_how_to_remind_them(loop):
    output = loop["output"]
    assert "未报送的 2 个单位：丁镇、戊镇" in output
    assert f"催报：qz mail 模板目录 --towns {loop['towns']} --remind {loop['out']}" in output
    assert "需要修改的 2 个单位：乙镇、丙镇" in output and "--corrections" in output
    # the .eml is skipped quietly, not counted as a return
    assert "共 4 个工作簿（另有 1 个不是工作簿，已跳过）" in output
    ranking = {
        r[1]: r[-1]
        for r in CalamineWorkbook.from_path(str(loop["out"] / "汇总.xlsx"))
        .get_sheet_by_name("汇总排名")
        .to_python()[1:]
    }
    assert ranking["丁镇"] == "未报送" and ranking["戊镇"] == "未报送" and ranking["甲镇"] == "正常"


def test_a_blank_template_is_one_problem_and_not_a_return(loop):
    rows = CalamineWorkbook.from_path(str(loop["out"] / "汇总.xlsx")).get_sheet_by_name("问题清单").to_python()
    header = rows[0]
    ding = [dict(zip(header, r)) for r in rows[1:] if r[header.index("单位名称")] == "丁镇"]
    assert sorted(r["问题代码"] for r in ding) == ["NOT_RETURNED", "UNFILLED"]
    assert next(r for r in ding if r["问题代码"] == "UNFILLED")["文件"] == "丁镇.xlsx"


def test_correction_requests_only_for_towns_with_something_to_fix(loop):
    assert sorted(p.name for p in (loop["out"] / "反馈").iterdir()) == ["丙镇.xlsx", "乙镇.xlsx"]


@pytest.mark.parametrize("town", ["乙镇", "丙镇"])
def test_a_correction_request_is_the_towns_workbook_marked_up(loop, rules, town):
    request = loop["out"] / "反馈" / f"{town}.xlsx"
    wb = openpyxl.load_workbook(request)
    assert wb.sheetnames == ["请修改", form.FORM_SHEET, form.INSTRUCTIONS_SHEET, form.META_SHEET]
    assert wb.active.title == "请修改"
    # the template's hidden metadata, validation and protection
    template = openpyxl.load_workbook(loop["template"][town])
    assert wb[form.META_SHEET].sheet_state == "veryHidden"
    meta, original = read_meta(request), read_meta(loop["template"][town])
    assert meta == original and meta["town"] == town
    ws, tws = wb[form.FORM_SHEET], template[form.FORM_SHEET]
    assert ws.protection.sheet and ws.protection.password is None
    assert sorted(str(v.sqref) for v in ws.data_validations.dataValidation) == sorted(
        str(v.sqref) for v in tws.data_validations.dataValidation
    )
    # every cell the town typed is kept, typed as typed
    typed = {**GOOD, **PROBLEMS[town]}
    cells = value_cells(ws)
    for code, value in typed.items():
        kept = cells[code].value
        if isinstance(value, float) and isinstance(kept, float):
            assert kept == pytest.approx(value), code
        else:
            assert kept == value, (code, kept, value)
    assert ws["D3"].value == {"乙镇": "乙填报人", "丙镇": "丙"}[town]  # 填报人
    # each problem cell: red, unlocked, with a 批注 in Chinese; the other cells untouched
    flagged = {code for code in PROBLEMS[town]}
    if town == "乙镇":
        flagged.add("r9_units_total")  # the other half of the contradictory pair
    for code, cell in cells.items():
        if code in flagged:
            assert cell.fill.fgColor.rgb == "FFFFC7CE" and cell.protection.locked is False, code
            assert cell.comment is not None and "请" in cell.comment.text, code
        else:
            assert cell.comment is None and cell.fill.fgColor.rgb != "FFFFC7CE", code
    # 请修改 lists each problem: cell (a link to it), label, what was typed, what to do
    rows = list(wb["请修改"].iter_rows(min_row=4, values_only=True))
    listed = {r[1]: r for r in rows if r[1]}
    for code in PROBLEMS[town]:
        address = cells[code].coordinate
        key = next(k for k in listed if address in k)
        assert rules.catalog[code].label in listed[key][2]
        assert not any(code in str(v) for v in listed[key])  # labels, never internal codes
    assert all(
        c.hyperlink is not None and c.hyperlink.location.startswith("'填报表'!")
        for c in wb["请修改"]["B"][3:]
        if c.value
    )
    if town == "乙镇":
        assert ("E48", "明确打假工作联络员，积极配合违法案件查处，督促帮助企业整改", "是的") == listed["E48"][1:4]
        assert listed[f"{cells['r9_units_total'].coordinate}、{cells['r9_units_in_ledger'].coordinate}"][3] == "40；45"


def test_reruns_are_byte_identical_including_correction_requests(loop, tmp_path):
    again = tmp_path / "again"
    assert score(loop["inbox"], loop["towns"], again).exit_code == 1
    first, second = result_digests(loop["out"]), result_digests(again)
    assert any(name.startswith("反馈/") for name in first)
    assert first == second


@pytest.fixture(scope="module")
def server():
    handler = Recorder(())
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


def mail(loop, port, *extra):
    return invoke(
        "mail",
        loop["tpl"],
        "--towns",
        loop["towns"],
        "--smtp",
        f"127.0.0.1:{port}",
        "--security",
        "none",
        "--sender",
        "bureau@example.com",
        *extra,
    )


def received(handler, since: int) -> dict[str, tuple]:
    """town → (message, attachments) of the messages received after ``since``."""
    got = {}
    for rcpt, raw in handler.messages[since:]:
        msg = message_from_bytes(raw, policy=policy.default)
        town = next(t for t, m in TOWNS.items() if m == rcpt[0])
        got[town] = (msg, [(p.get_filename(), p.get_content()) for p in msg.iter_attachments()])
    return got


def sent_log(loop) -> list[dict]:
    path = loop["tpl"] / "mail" / "sent-log.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_reminders_go_to_exactly_the_towns_not_returned(loop, server):
    handler, port = server
    assert mail(loop, port, "--send").exit_code == 0  # the templates went out first
    dry = mail(loop, port, "--remind", loop["out"])
    assert dry.exit_code == 0, dry.output
    drafts = loop["tpl"] / "mail" / "催报"
    assert sorted(p.name for p in drafts.iterdir()) == ["丁镇.eml", "戊镇.eml"]
    before = len(handler.messages)
    result = mail(loop, port, "--remind", loop["out"], "--send")
    assert result.exit_code == 0, result.output
    got = received(handler, before)
    assert sorted(got) == ["丁镇", "戊镇"]
    for town, (msg, files) in got.items():
        assert msg["Subject"].startswith("催报：") and town in msg["Subject"]
        ((name, data),) = files
        assert name == loop["template"][town].name and data == loop["template"][town].read_bytes()
    body = got["丁镇"][0].get_body(("plain",)).get_content()
    assert "丁镇.xlsx" in body and "模板未填写" in body  # why the file it sent was not used
    # the same day, a rerun sends nothing twice
    rerun = mail(loop, port, "--remind", loop["out"], "--send")
    assert len(handler.messages) == before + 2 and "今天已催报过" in rerun.output
    assert [e["town"] for e in sent_log(loop) if e["kind"] == "催报"] == ["丁镇", "戊镇"]


def test_correction_requests_are_mailed_once_with_their_problems(loop, server, rules):
    handler, port = server
    before = len(handler.messages)
    result = mail(loop, port, "--corrections", loop["out"], "--send")
    assert result.exit_code == 0, result.output
    got = received(handler, before)
    assert sorted(got) == ["丙镇", "乙镇"]
    for town, (msg, files) in got.items():
        ((name, data),) = files
        assert name == f"{town}.xlsx" and data == (loop["out"] / "反馈" / name).read_bytes()
        body = msg.get_body(("plain",)).get_content()
        for code in PROBLEMS[town]:
            assert rules.catalog[code].label in body and code not in body
    rerun = mail(loop, port, "--corrections", loop["out"], "--send")
    assert len(handler.messages) == before + 2 and "已发送过" in rerun.output


@needs_office
def test_corrected_in_libreoffice_and_rescored(loop, tmp_path, rules):
    """The towns correct their 反馈 workbooks in LibreOffice and send them back beside the
    old files: rescored, their problems are gone and 变更记录 lists what changed."""
    from _office import LibreOffice

    office = LibreOffice(tmp_path / "profile")
    inbox = tmp_path / "收件箱"
    shutil.copytree(loop["inbox"], inbox)
    cells = value_cells(openpyxl.load_workbook(loop["out"] / "反馈" / "乙镇.xlsx")[form.FORM_SHEET])
    time.sleep(1.1)  # the corrected files are newer than the first ones
    for town, suffix, filter_name in (("乙镇", ".xlsx", "Calc MS Excel 2007 XML"), ("丙镇", ".ods", "calc8")):
        office.correct(
            loop["out"] / "反馈" / f"{town}.xlsx",
            inbox / f"{town}（已修改）{suffix}",
            filter_name,
            {cells[code].coordinate: value for code, value in FIXED[town].items()},
        )
    out = tmp_path / "结果"
    shutil.copytree(loop["out"], out)  # the first round's results, 反馈 included, rescored in place
    result = score(inbox, loop["towns"], out)
    problems = CalamineWorkbook.from_path(str(out / "汇总.xlsx")).get_sheet_by_name("问题清单").to_python()
    header = problems[0]
    towns_with_problems = {
        r[header.index("单位名称")] for r in problems[1:] if r[header.index("级别")] in ("错误", "警告")
    }
    assert towns_with_problems == {"丁镇", "戊镇"}, problems  # 乙镇 and 丙镇 are clean now
    assert not (out / "反馈").exists()  # nothing left to correct, no stale request
    dry = invoke("mail", loop["tpl"], "--towns", loop["towns"], "--corrections", out)
    assert dry.exit_code == 0 and "没有要发送的修改通知" in dry.output
    ranking = {
        r[1]: r[-1]
        for r in CalamineWorkbook.from_path(str(out / "汇总.xlsx")).get_sheet_by_name("汇总排名").to_python()[1:]
    }
    assert ranking["乙镇"] == ranking["丙镇"] == "正常"
    changes = CalamineWorkbook.from_path(str(out / "汇总.xlsx")).get_sheet_by_name("变更记录").to_python()
    assert changes[0] == ["单位名称", "指标", "原值", "新值", "原文件", "采用的文件", "指标代码"]
    by_key = {(r[0], r[6]): r for r in changes[1:]}
    assert set(by_key) == {(t, code) for t in FIXED for code in FIXED[t]}
    yi = by_key[("乙镇", "r10_trainings")]
    assert yi[1] == rules.catalog["r10_trainings"].label and yi[2:6] == [
        "“2.5”（无效）",
        "3次",
        "乙镇.xlsx",
        "乙镇（已修改）.xlsx",
    ]
    assert by_key[("乙镇", "r1_annual_plan")][2:4] == ["（空）", "是"]
    assert by_key[("丙镇", "r1_meetings")][2:6] == ["“三次”（无效）", "3次", "丙镇.ods", "丙镇（已修改）.ods"]
    files = {
        r[0]: r
        for r in CalamineWorkbook.from_path(str(out / "汇总.xlsx")).get_sheet_by_name("文件清单").to_python()[1:]
    }
    assert files["乙镇.xlsx"][1] == "已被取代"
    note = files["乙镇.xlsx"][3]
    assert "乙镇（已修改）.xlsx" in note and f"「{rules.catalog['r10_trainings'].label}」“2.5”（无效） → 3次" in note
    assert result.exit_code == 1  # 丁镇 and 戊镇 have still not reported
    # printed for the file: titled, landscape, every change whole, inside the margins
    from test_print import inside_the_margins, page_texts, squeezed

    (pdf,), failed = convert([out / "汇总.xlsx"], "pdf", tmp_path / "pdf")
    assert not failed
    texts = page_texts(pdf)
    pages = [k for k, t in enumerate(texts) if "2010年质量振兴工作考核变更记录" in t]
    printed = squeezed("".join(texts[k] for k in pages))
    for row in changes[1:]:
        assert all(squeezed(str(v)) in printed for v in row), row
    inside_the_margins(pdf, 0.4, pages)


def test_out_inside_the_inbox_is_refused_before_anything_is_read(loop):
    for out in (loop["inbox"], loop["inbox"] / "结果"):
        result = score(loop["inbox"], loop["towns"], out)
        assert result.exit_code == 2 and "不能是收件箱，也不能在收件箱里面" in result.output
        assert not (loop["inbox"] / "结果").exists() and not (loop["inbox"] / "汇总.xlsx").exists()


def test_an_empty_inbox_says_so_and_lists_every_town_not_returned(loop, tmp_path):
    empty = tmp_path / "空收件箱"
    empty.mkdir()
    result = score(empty, loop["towns"], tmp_path / "out")
    assert result.exit_code == 1 and "收件箱里没有文件" in result.output
    ranking = CalamineWorkbook.from_path(str(tmp_path / "out" / "汇总.xlsx")).get_sheet_by_name("汇总排名").to_python()
    assert [r[-1] for r in ranking[1:]] == ["未报送"] * len(TOWNS)


def test_scoring_the_templates_folder_by_mistake(loop, tmp_path):
    result = score(loop["tpl"], loop["towns"], tmp_path / "out")
    assert "都是未填写的模板" in result.output
    assert result.output.count("模板未填写 1 处") == len(TOWNS)
    assert "0 个单位参加排名" in result.output


def test_nothing_to_remind_or_correct(loop, tmp_path, server):
    _, port = server
    done = tmp_path / "全部报齐"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for town in TOWNS:
        fill_workbook(loop["template"][town], inbox / f"{town}.xlsx", GOOD)
    assert score(inbox, loop["towns"], done).exit_code == 0
    assert "没有要催报的单位" in mail(loop, port, "--remind", done).output
    assert "没有要发送的修改通知" in mail(loop, port, "--corrections", done).output
    wrong = mail(loop, port, "--remind", loop["tpl"])
    assert wrong.exit_code == 2 and "没有 汇总.xlsx" in wrong.output


@needs_office
def test_a_correction_request_prints_its_list_whole(loop, tmp_path):
    """请修改 printed as a town prints it: landscape, titled, every row's cell, label and
    advice there in full, nothing outside the margins; the 填报表 after it as the template."""
    from pypdf import PdfReader
    from test_print import inside_the_margins, page_texts, squeezed

    from qz_excel.followup import feedback

    request = loop["out"] / "反馈" / "乙镇.xlsx"
    (pdf,), failed = convert([request], "pdf", tmp_path)
    assert not failed
    texts = page_texts(pdf)
    first = PdfReader(pdf).pages[0]
    assert float(first.mediabox.width) > float(first.mediabox.height)
    listed = squeezed(texts[0])
    assert "乙镇：2010年质量振兴工作考核填报表有5处需要修改" in listed
    rows = CalamineWorkbook.from_path(str(request)).get_sheet_by_name(feedback.SHEET).to_python()[3:]
    assert len(rows) == 5  # the contradictory pair is one problem in two cells
    for row in rows:
        for text in row[1:]:
            assert squeezed(str(text)) in listed, text
    inside_the_margins(pdf, 0.5)
    assert any("乙镇" in t and "填报人" in t for t in texts[1:])
