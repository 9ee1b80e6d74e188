"""Generated templates read back with openpyxl: contract, validation, protection, print."""

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from qz_excel.cli.commands import main
from qz_excel.template import form
from qz_excel.template.writer import TemplateOptions, write_template, write_templates


@pytest.fixture(scope="module")
def generated(tmp_path_factory, rules):
    out = tmp_path_factory.mktemp("tpl")
    path = write_template(
        rules,
        "城关镇",
        out / "t.xlsx",
        TemplateOptions(deadline="2010年12月25日", contact="王科长 0512-1234567", generated_at="2010-12-01"),
    )
    return path


def value_rows(ws):
    """(row, indicator id) for every indicator row under the header."""
    header = next(r for r in range(1, 30) if ws.cell(r, 2).value == form.CODE_HEADER)
    assert ws.cell(header, 5).value == form.VALUE_HEADER
    return header, [(r, ws.cell(r, 2).value) for r in range(header + 1, ws.max_row + 1) if ws.cell(r, 2).value]


def test_every_indicator_once_with_empty_value(generated, rules):
    ws = openpyxl.load_workbook(generated)[form.FORM_SHEET]
    header, rows = value_rows(ws)
    assert [ws.cell(header, c).value for c in range(1, 8)] == list(form.COLUMNS)
    assert [code for _, code in rows] == list(rules.catalog)
    assert all(ws.cell(r, 5).value is None for r, _ in rows)
    assert ws["A1"].value == "2010年质量振兴工作考核填报表"


def test_town_prefilled_and_locked(generated):
    ws = openpyxl.load_workbook(generated)[form.FORM_SHEET]
    assert ws["A2"].value == form.TOWN_LABEL and ws["D2"].value == "城关镇"
    assert ws["D2"].protection.locked


def test_validation_per_type(generated, rules):
    ws = openpyxl.load_workbook(generated)[form.FORM_SHEET]
    _, rows = value_rows(ws)
    by_cell = {}
    for dv in ws.data_validations.dataValidation:
        for rng in dv.sqref.ranges:
            by_cell[rng.coord] = dv
    for r, code in rows:
        ind = rules.catalog[code]
        dv = by_cell[f"E{r}"]
        assert dv.showErrorMessage and dv.errorStyle in (None, "stop")
        assert dv.prompt and len(dv.prompt) <= 255 and dv.error and len(dv.error) <= 224
        assert dv.promptTitle and dv.errorTitle == "填报值不正确"
        if ind.type == "bool":
            assert dv.type == "list" and dv.formula1 == '"是,否"'
        elif ind.type == "count":
            assert dv.type == "whole" and dv.operator == "greaterThanOrEqual" and dv.formula1 == "0"
        else:
            assert dv.type == "custom"
            assert f"E{r}>=0" in dv.formula1 and f"E{r}<=1" in dv.formula1 and "不适用" in dv.formula1
            assert "%" in ws.cell(r, 5).number_format


def test_locking_and_protection(generated):
    ws = openpyxl.load_workbook(generated)[form.FORM_SHEET]
    assert ws.protection.sheet and not ws.protection.password
    _, rows = value_rows(ws)
    for r, _ in rows:
        assert not ws.cell(r, 5).protection.locked
        assert ws.cell(r, 5).fill.fgColor.rgb.endswith("FFF2CC")
        for c in (1, 2, 3, 4, 6, 7):
            assert ws.cell(r, c).protection.locked
    # the filler's own fields are open too
    assert not ws["D3"].protection.locked and not ws["F3"].protection.locked and not ws["D4"].protection.locked
    # signed and stamped on paper: labelled, locked, left blank
    assert ws["E4"].value == "单位负责人\n（签字）" and ws["F4"].protection.locked and ws["F4"].value is None
    assert ws["A5"].value == "填报单位\n（盖章）" and ws["D5"].protection.locked and ws["D5"].value is None


def test_print_settings(generated):
    ws = openpyxl.load_workbook(generated)[form.FORM_SHEET]
    assert ws.page_setup.paperSize == 9 and ws.page_setup.orientation == "portrait"
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    # OOXML's default fitToWidth is 1, which XlsxWriter leaves implicit
    assert ws.page_setup.fitToWidth in (None, 1) and ws.page_setup.fitToHeight == 0
    assert ws.print_title_rows == "$6:$6"
    assert ws.oddFooter.center.text == "第 &P 页 共 &N 页"
    assert "城关镇" in ws.oddHeader.left.text  # every printed page names the town
    assert ws.column_dimensions["B"].hidden  # indicator codes: for intake, not for the printed form
    # wrapped label rows are taller than one line
    _, rows = value_rows(ws)
    tall = [ws.row_dimensions[r].height for r, code in rows if code == "r5_two_free_controlled"]
    assert tall[0] > 30


def test_hidden_metadata(generated, rules):
    wb = openpyxl.load_workbook(generated)
    meta = wb[form.META_SHEET]
    assert meta.sheet_state == "veryHidden"
    values = {meta.cell(r, 1).value: meta.cell(r, 2).value for r in range(2, meta.max_row + 1)}
    assert meta["A1"].value == form.META_MARK
    assert values["year"] == "2010" and values["town"] == "城关镇"
    assert values["rules_fingerprint"] == rules.fingerprint
    assert values["template_version"] == "1" and values["generated_at"] == "2010-12-01"
    assert wb.active.title == form.FORM_SHEET


def test_instructions_rendered_from_template(generated):
    ws = openpyxl.load_workbook(generated)[form.INSTRUCTIONS_SHEET]
    text = "\n".join(str(c.value) for c in ws["A"] if c.value)
    assert "2010年12月25日" in text and "王科长 0512-1234567" in text and "城关镇" in text
    assert ws.protection.sheet


def test_generation_is_deterministic(tmp_path, rules):
    options = TemplateOptions(generated_at="2010-12-01")
    a = write_template(rules, "城关镇", tmp_path / "a.xlsx", options).read_bytes()
    b = write_template(rules, "城关镇", tmp_path / "b.xlsx", options).read_bytes()
    assert a == b


def test_file_names_are_safe_and_unique(tmp_path, rules):
    towns = pd.DataFrame({"单位名称": ["城关镇", "a/b:c", "..\\evil", "A/B:C"]})
    paths = write_templates(rules, towns, tmp_path)
    assert len(set(paths)) == 4
    assert all(p.parent == tmp_path and p.exists() for p in paths)
    assert "城关镇" in paths[0].name


def test_template_cli_reads_gbk_towns(tmp_path):
    towns = tmp_path / "towns.csv"
    towns.write_bytes("单位名称,类别\n城关镇,镇\n南山街道,街道\n".encode("gbk"))
    result = CliRunner().invoke(main, ["template", "--towns", str(towns), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["2010年质量振兴工作考核填报表_南山街道.xlsx", "2010年质量振兴工作考核填报表_城关镇.xlsx"]


def test_prefilled_values_read_back(tmp_path, rules):
    from qz_excel.intake import read as intake

    path = write_template(
        rules,
        "城关镇",
        tmp_path / "p.xlsx",
        TemplateOptions(),
        prefill={
            "r1_meetings": 3,
            "r1_dedicated_staff": "是",
            "r8_registration_rate": 0.995,
            "r3_credit_eval_rate": "不适用",
        },
    )
    ret = intake.read_return(path, rules)
    assert ret.values["r1_meetings"] == 3 and ret.values["r1_dedicated_staff"] is True
    assert ret.values["r8_registration_rate"] == 99.5 and ret.values["r3_credit_eval_rate"] == float("inf")
    assert sum(p.code == "MISSING_VALUE" for p in ret.problems) == len(rules.catalog) - 4


def test_input_titles_are_cut_between_phrases_and_messages_keep_the_label(generated, rules):
    """Excel shows at most 32 characters of an input message's title."""
    ws = openpyxl.load_workbook(generated)[form.FORM_SHEET]
    _, rows = value_rows(ws)
    by_cell = {rng.coord: dv for dv in ws.data_validations.dataValidation for rng in dv.sqref.ranges}
    cut = 0
    for r, code in rows:
        label, dv = rules.catalog[code].label, by_cell[f"E{r}"]
        assert len(dv.promptTitle) <= 32
        if dv.promptTitle != label:
            cut += 1
            assert dv.promptTitle.endswith("…") and label.startswith(dv.promptTitle[:-1])
            assert label[len(dv.promptTitle) - 1] in "、，,（(；; " or len(dv.promptTitle) == 32
            assert label in dv.prompt
    assert cut  # the 2010 rules have labels longer than 32 characters


def test_instructions_say_help_shows_when_a_cell_is_selected(generated):
    ws = openpyxl.load_workbook(generated)[form.INSTRUCTIONS_SHEET]
    text = "\n".join(str(c.value) for c in ws["A"] if c.value)
    assert "选中单元格时" in text and "鼠标" not in text
    assert "城关镇" in ws.oddHeader.left.text
