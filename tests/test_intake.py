"""Intake of returned workbooks made from the real template and edited as users do."""

import io
import zipfile

import openpyxl
import pytest

from qz_excel.common.problems import REJECTED, SCORED, SKIPPED, SUPERSEDED
from qz_excel.intake import read as intake
from qz_excel.template import form
from qz_excel.template.samples import GOOD, fill_workbook
from qz_excel.template.writer import TemplateOptions, write_template

TOWNS = ["城关镇", "南山街道", "新城关镇"]


@pytest.fixture(scope="module")
def templates(tmp_path_factory, rules):
    tmp = tmp_path_factory.mktemp("tpl")
    return {t: write_template(rules, t, tmp / f"{t}.xlsx", TemplateOptions(generated_at="2010-12-01")) for t in TOWNS}


def filled(templates, tmp_path, town, name=None, values=None, filled_on="2010-12-20", edit=None):
    path = fill_workbook(
        templates[town],
        tmp_path / (name or f"{town}.xlsx"),
        {**GOOD, **(values or {})},
        filler="某人",
        filled_on=filled_on,
    )
    if edit:
        wb = openpyxl.load_workbook(path)
        edit(wb)
        wb.save(path)
    return path


def codes(ret):
    return [p.code for p in ret.problems]


def set_meta(key, value):
    def edit(wb):
        ws = wb[form.META_SHEET]
        for row in ws.iter_rows(min_row=2):
            if row[0].value == key:
                row[1].value = value

    return edit


def test_good_return(templates, tmp_path, rules):
    ret = intake.read_return(filled(templates, tmp_path, "城关镇", name="随便起的名字.xlsx"), rules)
    assert ret.status == SCORED and ret.town == "城关镇" and ret.problems == []
    assert ret.values["r1_meetings"] == 2 and ret.values["r6_rectification_rate"] == 100.0
    assert ret.cells["r1_dedicated_staff"].startswith("E")


def test_other_year_is_rejected(templates, tmp_path, rules):
    ret = intake.read_return(filled(templates, tmp_path, "城关镇", edit=set_meta("year", "2009")), rules)
    assert ret.status == REJECTED and codes(ret) == ["WRONG_TEMPLATE"]
    assert "2009年度" in ret.problems[0].message


def test_rules_changed_after_mailing_is_a_warning(templates, tmp_path, rules):
    ret = intake.read_return(filled(templates, tmp_path, "城关镇", edit=set_meta("rules_fingerprint", "0" * 16)), rules)
    assert ret.status == SCORED and codes(ret) == ["RULES_CHANGED"]


def test_lost_metadata_falls_back_to_town_cell(templates, tmp_path, rules):
    ret = intake.read_return(
        filled(templates, tmp_path, "南山街道", edit=lambda wb: wb.remove(wb[form.META_SHEET])), rules
    )
    assert ret.status == SCORED and ret.town == "南山街道" and codes(ret) == ["NO_METADATA"]


def test_workbook_without_form_is_rejected(templates, tmp_path, rules):
    def break_header(wb):
        for row in wb[form.FORM_SHEET].iter_rows():
            for cell in row:
                if cell.value == form.CODE_HEADER:
                    cell.value = "代码"

    ret = intake.read_return(filled(templates, tmp_path, "城关镇", edit=break_header), rules)
    assert ret.status == REJECTED and codes(ret) == ["NO_FORM_SHEET"]


def test_unknown_town_rejected(templates, tmp_path, rules):
    ret = intake.read_return(filled(templates, tmp_path, "城关镇"), rules)
    intake.choose_among_duplicates([ret], ["南山街道"], rules)
    assert ret.status == REJECTED and codes(ret) == ["UNKNOWN_TOWN"]


def test_file_named_for_another_town(templates, tmp_path, rules):
    ret = intake.read_return(filled(templates, tmp_path, "城关镇", name="南山街道报表.xlsx"), rules)
    intake.choose_among_duplicates([ret], TOWNS, rules)
    assert ret.status == SCORED and ret.town == "城关镇" and codes(ret) == ["TOWN_MISMATCH"]
    assert "文件名指向“南山街道”" in ret.problems[0].message
    # 新城关镇 contains 城关镇: its own file is not "named for another town"
    own = intake.read_return(filled(templates, tmp_path, "新城关镇", name="新城关镇.xlsx"), rules)
    intake.choose_among_duplicates([own], TOWNS, rules)
    assert codes(own) == []


def test_duplicates_latest_filled_date_wins(templates, tmp_path, rules):
    older = intake.read_return(
        filled(templates, tmp_path, "城关镇", name="a.xlsx", filled_on="2010-12-20", values={"r1_meetings": 5}), rules
    )
    newer = intake.read_return(filled(templates, tmp_path, "城关镇", name="b.xlsx", filled_on="2010-12-22"), rules)
    accepted = intake.choose_among_duplicates([newer, older], TOWNS, rules)
    assert accepted == [newer] and older.status == SUPERSEDED
    assert codes(older) == ["DUPLICATE"]
    label = rules.catalog["r1_meetings"].label
    base = intake.read_return(filled(templates, tmp_path, "城关镇", name="c.xlsx"), rules)
    old_count = base.values["r1_meetings"]
    # the note names the indicator by its label, with old → new, and never its code
    message = older.problems[0].message
    assert f"「{label}」5次 → {old_count}次" in message and "b.xlsx" in message, message
    assert "r1_meetings" not in message
    assert [(c.indicator, c.old, c.new, c.old_file, c.new_file) for c in older.changes] == [
        ("r1_meetings", "5次", f"{old_count}次", "a.xlsx", "b.xlsx")
    ]


def test_unfilled_template_is_one_problem(templates, tmp_path, rules):
    """A blank template sent back: one UNFILLED, not a problem per indicator, and not scored."""
    blank = tmp_path / "空白.xlsx"
    blank.write_bytes(templates["城关镇"].read_bytes())
    ret = intake.read_return(blank, rules)
    assert ret.status == REJECTED and codes(ret) == ["UNFILLED"] and ret.town == "城关镇"
    assert "模板未填写" in ret.problems[0].message
    # one value typed, even an invalid one, is a return
    one = intake.read_return(fill_workbook(templates["城关镇"], tmp_path / "一项.xlsx", {"r1_meetings": "三次"}), rules)
    assert one.status == SCORED and "UNFILLED" not in codes(one)


def test_lock_file_and_text_file_skipped(tmp_path, rules):
    lock = tmp_path / "~$城关镇.xlsx"
    lock.write_bytes(b"\x00" * 165)
    note = tmp_path / "说明.txt"
    note.write_text("hello", encoding="utf-8")
    for path, code in ((lock, "LOCK_FILE"), (note, "NOT_WORKBOOK")):
        ret = intake.read_return(path, rules)
        assert ret.status == SKIPPED and codes(ret) == [code]


def test_values_frame_types(templates, tmp_path, rules):
    rets = [intake.read_return(filled(templates, tmp_path, t), rules) for t in ("城关镇", "南山街道")]
    accepted = intake.choose_among_duplicates(rets, TOWNS, rules)
    values, notes = intake.values_frames(accepted, rules)
    assert list(values.index) == ["城关镇", "南山街道"]
    assert str(values["r1_dedicated_staff"].dtype) == "boolean"
    assert str(values["r1_meetings"].dtype) == "Int64"
    assert str(values["r8_registration_rate"].dtype) == "Float64"
    assert notes.shape == values.shape


@pytest.mark.parametrize(
    "xml, far",
    [
        (b'<sheetData><row r="1"><c r="A1"/><c r="GR9999"/></row></sheetData>', None),
        (b'<sheetData><row r="1"><c r="A1"/><c r="GS1"/></row></sheetData>', "GS1"),
        (b'<sheetData><row r="1"><c r="XFD1048576"/></row></sheetData>', "XFD1048576"),
        (b'<sheetData><row r="10000"><c r="A10000"/></row></sheetData>', "10000"),
        (b'<dimension ref="A1:XFD1048576"/><sheetData/>', "XFD1048576"),
        (b'<x:dimension ref="B2"/><sheetData><row r="70" spans="1:7"><c r="H70"/></row></sheetData>', None),
        (b'<sheetData><row r="2"><c r="AA2"/><c r="ZZ2"/></row></sheetData>', "ZZ2"),
        (b'<sheetData><row r="2"><c\tr="A2"/><c\nr="XFD1"/></row></sheetData>', "XFD1"),
    ],
)
def test_bounds_check(xml, far):
    from qz_excel.intake.safety import Unsafe, _check_bounds

    if far is None:
        _check_bounds("sheet1.xml", xml)
    else:
        with pytest.raises(Unsafe) as err:
            _check_bounds("sheet1.xml", xml)
        assert far in err.value.detail and err.value.code == "TOO_LARGE"


def _workbook_zip(parts: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return buffer.getvalue()


SHEET = b'<?xml version="1.0"?><worksheet><sheetData><row r="1"><c r="A1"/></row></sheetData></worksheet>'


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_parts_are_checked_stored_or_deflated(compression):
    """The checks inflate parts straight from the archive's bytes: both storage methods."""
    from qz_excel.intake.safety import Unsafe, check_zip

    check_zip(_workbook_zip({"xl/worksheets/sheet1.xml": SHEET}, compression))
    far = SHEET.replace(b'r="A1"/>', b'r="A1"/><c r="XFD1048576"/>')
    with pytest.raises(Unsafe) as err:
        check_zip(_workbook_zip({"xl/worksheets/sheet1.xml": far}, compression))
    assert err.value.code == "TOO_LARGE" and "XFD1048576" in err.value.detail
    doctype = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><workbook/>'
    with pytest.raises(Unsafe) as err:
        check_zip(_workbook_zip({"xl/workbook.xml": doctype}, compression))
    assert err.value.code == "UNSAFE_XML"


def test_broken_or_unsupported_parts_are_corrupt():
    from qz_excel.intake.safety import Unsafe, check_zip

    data = bytearray(_workbook_zip({"xl/worksheets/sheet1.xml": SHEET}))
    data[0:4] = b"PK\x00\x00"  # the part's local header, not the directory, is broken
    with pytest.raises(Unsafe) as err:
        check_zip(bytes(data))
    assert err.value.code == "CORRUPT" and "sheet1.xml" in err.value.detail
    with pytest.raises(Unsafe) as err:
        check_zip(_workbook_zip({"xl/worksheets/sheet1.xml": SHEET}, zipfile.ZIP_BZIP2))
    assert err.value.code == "CORRUPT" and "压缩方式" in err.value.detail
