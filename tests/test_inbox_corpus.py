"""A whole inbox of what towns really send, built at test time from the real template:
office-suite copies, renamed and mislabelled files, duplicates, every value form, and
hostile files. `qz score` must finish, give every file exactly one status, name every
problem, leave the inputs untouched, and stay small."""

import hashlib
import io
import shutil
import subprocess
import sys
import zipfile

import openpyxl
import pytest
import xlsxwriter
from msoffcrypto.format.ooxml import OOXMLFile
from python_calamine import CalamineWorkbook

from qz_excel.common.problems import REJECTED, SCORED, SKIPPED, SUPERSEDED
from qz_excel.intake import read as intake
from qz_excel.results.office import convert, find_soffice
from qz_excel.template import form
from qz_excel.template.samples import GOOD, fill_workbook
from qz_excel.template.writer import TemplateOptions, write_template

needs_office = pytest.mark.skipif(find_soffice() is None, reason="LibreOffice is needed (.ci/run installs it)")

TOWNS = [
    "城关镇",
    "南山街道",
    "北湖街道",
    "东港街道",
    "临河镇",
    "白沙镇",
    "青石镇",
    "高新技术产业园区",
    "双桥镇",
    "经济开发区管委会",
    "未报镇",
]

# (indicator, as typed) → canonical value: accepted forms, each noted in the explanation
ACCEPTED = {
    "r1_dedicated_staff": ("√", True),
    "r2_brand_plan": ("有", True),
    "r4_standardization": ("Y", True),
    "r7_responsibility": ("ｙｅｓ", True),
    "r6_major_accident": ("×", False),
    "r1_meetings": ("3次", 3),
    "r10_info_reports": ("４条", 4),
    "r7_verified_leads": (" 2 ", 2),
    "r3_excellence_training_rate": ("98.5%", 98.5),
    "r6_food_pass_rate": ("９２％", 92.0),
    "r8_registration_rate": (0.995, 99.5),
    "r8_inspection_rate": (98.2, 98.2),
    "r3_credit_eval_rate": ("不适用", float("inf")),
    "r6_rectification_rate": ("无", float("inf")),
    "r8_certified_rate": ("/", float("inf")),
}
# (indicator, as typed) → problem code
REJECTED_FORMS = {
    "r7_liaison": ("是的", "INVALID_VALUE"),
    "r10_trainings": (2.5, "INVALID_VALUE"),
    "r6_refusals": (-1, "OUT_OF_RANGE"),
    "r6_license_pass_rate": ("百分之九十", "INVALID_VALUE"),
    "r1_coordinators": ("三人", "INVALID_VALUE"),
    "r2_brand_applications": ("many", "INVALID_VALUE"),
    "r1_annual_plan": (None, "MISSING_VALUE"),
    "r9_accident_ledger": (None, "MISSING_VALUE"),
}


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rezip(src, dst, replace):
    """Copy an xlsx, replacing some parts' bytes (a crafted file)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, replace.get(info.filename, zin.read(info.filename)))


def set_meta(path, key, value):
    wb = openpyxl.load_workbook(path)
    for row in wb[form.META_SHEET].iter_rows(min_row=2):
        if row[0].value == key:
            row[1].value = value
    wb.save(path)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, rules):
    """Build the inbox; returns (inbox, towns.csv, expected {file: (status, codes)})."""
    tmp = tmp_path_factory.mktemp("corpus")
    inbox, work = tmp / "inbox", tmp / "work"
    inbox.mkdir()
    work.mkdir()
    tpl = {
        t: write_template(rules, t, work / "tpl" / f"{t}.xlsx", TemplateOptions(generated_at="2010-12-01"))
        for t in TOWNS + ["外县某镇"]
    }
    expected = {}

    def fill(town, name, values=None, filled_on="2010-12-20", folder=inbox):
        return fill_workbook(tpl[town], folder / name, {**GOOD, **(values or {})}, filler="某人", filled_on=filled_on)

    fill("城关镇", "城关镇.xlsx")
    expected["城关镇.xlsx"] = (SCORED, [])
    # LibreOffice-saved copies
    for town, target in (("南山街道", "xlsx"), ("北湖街道", "xls"), ("东港街道", "ods")):
        source = fill(town, f"{town}.xlsx", folder=work / "lo-src")
        (done,), _ = convert([source], target, work / f"lo-{target}")
        name = f"{town}-LibreOffice.{target}"
        shutil.copy(done, inbox / name)
        expected[name] = (SCORED, [])
    # an .xls renamed to .xlsx; a file renamed to something meaningless
    (xls,), _ = convert([fill("白沙镇", "白沙镇.xlsx", folder=work / "xls-src")], "xls", work / "xls")
    shutil.copy(xls, inbox / "白沙镇.xlsx")
    expected["白沙镇.xlsx"] = (SCORED, [])
    fill("临河镇", "新建 Microsoft Excel 工作表 (2).xlsx")
    expected["新建 Microsoft Excel 工作表 (2).xlsx"] = (SCORED, [])
    # duplicates: the later 填报日期 wins
    fill("青石镇", "青石镇-第一次.xlsx", {"r1_meetings": 5}, filled_on="2010-12-20")
    fill("青石镇", "青石镇-修改后.xlsx", filled_on="2010-12-22")
    expected["青石镇-第一次.xlsx"] = (SUPERSEDED, ["DUPLICATE"])
    expected["青石镇-修改后.xlsx"] = (SCORED, [])
    # wrong town: one not in the list; one named for another town
    fill("外县某镇", "外县某镇.xlsx")
    expected["外县某镇.xlsx"] = (REJECTED, ["UNKNOWN_TOWN"])
    fill("高新技术产业园区", "双桥镇报表.xlsx")
    expected["双桥镇报表.xlsx"] = (SCORED, ["TOWN_MISMATCH"])
    # another year's template
    set_meta(fill("双桥镇", "双桥镇2009.xlsx"), "year", "2009")
    expected["双桥镇2009.xlsx"] = (REJECTED, ["WRONG_TEMPLATE"])
    # every accepted and rejected value form, and empty cells
    forms = {k: v[0] for k, v in ACCEPTED.items()} | {k: v[0] for k, v in REJECTED_FORMS.items()}
    fill("经济开发区管委会", "开发区.xlsx", forms)
    expected["开发区.xlsx"] = (SCORED, sorted(code for _, code in REJECTED_FORMS.values()))

    good = (inbox / "城关镇.xlsx").read_bytes()
    # encrypted (password on open)
    office_file = OOXMLFile(io.BytesIO(good))
    with open(inbox / "加密.xlsx", "wb") as fh:
        office_file.encrypt("1234", fh)
    expected["加密.xlsx"] = (REJECTED, ["ENCRYPTED"])
    # truncated in transit
    (inbox / "截断.xlsx").write_bytes(good[: len(good) // 2])
    expected["截断.xlsx"] = (REJECTED, ["CORRUPT"])
    # a zip bomb: one part declaring 400 MB (of spaces) in well under 1 MB
    with zipfile.ZipFile(inbox / "炸弹.xlsx", "w", zipfile.ZIP_DEFLATED) as bomb:
        bomb.writestr("[Content_Types].xml", zipfile.ZipFile(io.BytesIO(good)).read("[Content_Types].xml"))
        with bomb.open("xl/worksheets/sheet1.xml", "w") as part:
            block = b" " * (1024 * 1024)
            for _ in range(400):
                part.write(block)
    expected["炸弹.xlsx"] = (REJECTED, ["TOO_LARGE"])
    # cells at A1 and XFD1048576 (python-calamine would allocate the whole grid)
    far = xlsxwriter.Workbook(str(inbox / "远处单元格.xlsx"))
    sheet = far.add_worksheet(form.FORM_SHEET)
    sheet.write(0, 0, "x")
    sheet.write(1048575, 16383, "y")
    far.close()
    expected["远处单元格.xlsx"] = (REJECTED, ["TOO_LARGE"])
    # billion laughs in the sheet XML
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10)
        )
        + b']><worksheet><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c>'
        + b"</row></sheetData></worksheet>"
    )
    rezip(inbox / "城关镇.xlsx", inbox / "笑话.xlsx", {"xl/worksheets/sheet1.xml": laughs})
    expected["笑话.xlsx"] = (REJECTED, ["UNSAFE_XML"])
    # an Office lock file and a note
    (inbox / "~$城关镇.xlsx").write_bytes(b"\x05\x00\x00\x00" + "某人".encode("utf-16-le") + b"\x00" * 150)
    expected["~$城关镇.xlsx"] = (SKIPPED, ["LOCK_FILE"])
    (inbox / "说明.txt").write_text("附件是我们的报表", encoding="utf-8")
    expected["说明.txt"] = (SKIPPED, ["NOT_WORKBOOK"])

    towns = tmp / "towns.csv"
    towns.write_text("单位名称\n" + "\n".join(TOWNS) + "\n", encoding="utf-8-sig")
    return inbox, towns, expected, tmp


@pytest.fixture(scope="module")
def run(corpus):
    inbox, towns, expected, tmp = corpus
    before = {p.name: sha(p) for p in inbox.iterdir()}
    # a wrapper process, so RUSAGE_CHILDREN measures this run alone (workers included)
    wrapper = (
        "import resource, subprocess, sys;"
        "r = subprocess.run(sys.argv[1:]);"
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    outs = []
    for k in (1, 2):
        out = tmp / f"out{k}"
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                wrapper,
                sys.executable,
                "-m",
                "qz_excel",
                "score",
                str(inbox),
                "--towns",
                str(towns),
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=600,
        )
        code, peak_kib = map(int, result.stdout.strip().splitlines()[-1].split())
        outs.append((out, code, peak_kib, result.stdout))
    after = {p.name: sha(p) for p in inbox.iterdir()}
    return outs, before, after


def rows(path, sheet):
    data = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()
    return [dict(zip(data[0], r)) for r in data[1:]]


@needs_office
def test_batch_finishes_with_problems(run):
    (out, code, _, stdout), _ = run[0][0], None
    assert code == 1 and (out / "汇总.xlsx").exists(), stdout


@needs_office
def test_inputs_unchanged(run):
    _, before, after = run
    assert before == after


@needs_office
def test_every_file_once_with_its_status_and_codes(run, corpus):
    _, _, expected, _ = corpus
    out = run[0][0][0]
    files = rows(out / "汇总.xlsx", "文件清单")
    assert sorted(f["文件"] for f in files) == sorted(expected)  # each exactly once
    problems = rows(out / "汇总.xlsx", "问题清单")
    for f in files:
        status, codes = expected[f["文件"]]
        got = sorted(p["问题代码"] for p in problems if p["文件"] == f["文件"])
        assert (f["状态"], got) == (status, codes), f["文件"]


@needs_office
def test_value_forms_named_by_cell(run, corpus, rules):
    inbox, _, _, _ = corpus
    out = run[0][0][0]
    problems = {p["指标代码"]: p for p in rows(out / "汇总.xlsx", "问题清单") if p["文件"] == "开发区.xlsx"}
    for code, (typed, problem) in REJECTED_FORMS.items():
        p = problems[code]
        assert p["问题代码"] == problem and p["工作表"] == "填报表" and p["单元格"].startswith("E")
        if typed is not None:
            assert p["填报内容"] == ("2.5" if typed == 2.5 else str(typed))
    ret = intake.read_return(inbox / "开发区.xlsx", rules)
    for code, (_typed, value) in ACCEPTED.items():
        assert ret.values[code] == value, code
    # every non-canonical form is noted; the canonical ones (不适用, a fraction in a %-cell) are not
    canonical = {
        k for k, (typed, _) in ACCEPTED.items() if typed == "不适用" or (isinstance(typed, float) and typed <= 1)
    }
    noted = set(ACCEPTED) - canonical
    assert set(ret.notes) & set(ACCEPTED) == noted
    # the notes reach the audit trail
    details = rows(out / "汇总.xlsx", "评分明细")
    trail = " ".join(d["得分说明"] for d in details if d["单位名称"] == "经济开发区管委会")
    assert "「98.5%」视为98.5%" in trail and "「3次」视为3" in trail


@needs_office
def test_peak_memory_under_1_gib(run):
    for _, _, peak_kib, _ in run[0]:
        assert peak_kib < 1024 * 1024, f"peak RSS {peak_kib} KiB"


@needs_office
def test_rerun_gives_identical_results(run):
    (out1, _, _, _), (out2, _, _, _) = run[0]
    files1 = sorted(p.relative_to(out1) for p in out1.rglob("*.xlsx"))
    assert files1 == sorted(p.relative_to(out2) for p in out2.rglob("*.xlsx"))
    for rel in files1:
        assert (out1 / rel).read_bytes() == (out2 / rel).read_bytes(), rel
