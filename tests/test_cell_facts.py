"""What calamine does not say about a cell, on real files: formulas without a stored result
(saved by a library), formula errors (#DIV/0!) as Excel, WPS or LibreOffice store them in
.xlsx, .ods and .xls, number formats, and workbooks saved with a password."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from _office import LibreOffice

from qz_excel.common.problems import REJECTED, SCORED
from qz_excel.intake.read import read_return
from qz_excel.results.office import convert, find_soffice
from qz_excel.template.samples import GOOD, fill_workbook
from qz_excel.template.writer import TemplateOptions, write_template

needs_office = pytest.mark.skipif(find_soffice() is None, reason="LibreOffice is needed (.ci/run installs it)")
FORMULAS = {"r1_meetings": "=1/0", "r10_trainings": "=1+1", "r8_registration_rate": 1}


def problems(ret) -> dict[str, tuple[str, str]]:
    return {p.indicator: (p.code, p.value) for p in ret.problems}


@pytest.fixture(scope="module")
def library_saved(tmp_path_factory, rules) -> Path:
    """A town's return typed through openpyxl: formulas with no stored result."""
    tmp = tmp_path_factory.mktemp("formulas")
    template = write_template(
        rules, "青石镇", tmp / "template.xlsx", TemplateOptions(generated_at="2010-12-01"), prefill=GOOD
    )
    return fill_workbook(template, tmp / "青石镇.xlsx", {**GOOD, **FORMULAS})


def test_a_formula_without_a_stored_result_is_its_own_problem(library_saved, rules):
    ret = read_return(library_saved, rules)
    assert ret.status == SCORED
    found = problems(ret)
    assert found["r1_meetings"][0] == "FORMULA_UNCALCULATED"
    assert found["r10_trainings"][0] == "FORMULA_UNCALCULATED"
    assert "MISSING_VALUE" not in {code for code, _ in found.values()}
    message = next(p.message for p in ret.problems if p.indicator == "r1_meetings")
    assert "公式未计算" in message and "未填写" not in message


@needs_office
@pytest.mark.parametrize("target", ["xlsx", "ods", "xls"])
def test_an_office_suite_stores_results_and_errors(library_saved, rules, tmp_path, target):
    """Saved by LibreOffice (as by Excel or WPS): each formula has its result; 1/0 is an error."""
    (saved,), failed = convert([library_saved], target, tmp_path)
    assert not failed
    ret = read_return(saved, rules)
    found = problems(ret)
    assert found["r1_meetings"] == ("FORMULA_ERROR", "#DIV/0!")
    message = next(p.message for p in ret.problems if p.indicator == "r1_meetings")
    assert "公式结果为错误（#DIV/0!）" in message
    assert ret.values["r10_trainings"] == 2 and "r10_trainings" not in found  # the stored result is used
    assert "r8_registration_rate" not in ret.notes  # 1 in a %-formatted cell is 100% as shown


@needs_office
@pytest.mark.parametrize("target", ["xlsx", "ods", "xls"])
def test_a_bare_1_in_an_unformatted_rate_cell_is_annotated(tmp_path, rules, target):
    template = write_template(
        rules, "青石镇", tmp_path / "t.xlsx", TemplateOptions(generated_at="2010-12-01"), prefill=GOOD
    )
    path = fill_workbook(template, tmp_path / "青石镇.xlsx", {**GOOD, "r8_registration_rate": 1})
    wb = openpyxl.load_workbook(path)
    ws = wb["填报表"]
    cell = next(row[4] for row in ws.iter_rows() if row[1].value == "r8_registration_rate")
    cell.number_format = "General"
    wb.save(path)
    source = path
    if target != "xlsx":
        (source,), _ = convert([path], target, tmp_path / target)
    ret = read_return(source, rules)
    assert ret.values["r8_registration_rate"] == 100
    assert ret.notes["r8_registration_rate"] == "「1」按比例读作100%"


@pytest.fixture(scope="module")
def save_with_password(tmp_path_factory):
    """LibreOffice saving a file with a password to open, as a town would from 文件 → 另存为."""
    return LibreOffice(tmp_path_factory.mktemp("lo-profile")).save_with_password


@needs_office
@pytest.mark.parametrize("suffix, filter_name", [(".ods", "calc8"), (".xls", "MS Excel 97")])
def test_a_password_protected_ods_or_xls_is_encrypted_not_corrupt(
    library_saved, rules, tmp_path, save_with_password, suffix, filter_name
):
    saved = save_with_password(library_saved, tmp_path / f"加密{suffix}", filter_name)
    ret = read_return(saved, rules)
    assert ret.status == REJECTED
    assert [p.code for p in ret.problems] == ["ENCRYPTED"]
    renamed = saved.with_name("改了名.xlsx")  # the format is judged from the bytes, not the name
    saved.rename(renamed)
    assert [p.code for p in read_return(renamed, rules).problems] == ["ENCRYPTED"]
