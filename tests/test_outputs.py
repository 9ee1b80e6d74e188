"""Result workbooks read back: numbers against the engine, print settings, chart, safety
of town-supplied text, and (with LibreOffice) the printed 评分细则."""

import re
import shutil
import subprocess
import zipfile

import openpyxl
import pytest
from click.testing import CliRunner
from conftest import REPO
from python_calamine import CalamineWorkbook

from qz_excel.cli.commands import main
from qz_excel.common.xlsx import safe_sheet_name
from qz_excel.results.office import find_soffice
from qz_excel.template.samples import GOOD, fill_workbook
from qz_excel.template.writer import TemplateOptions, write_template

SAMPLES = REPO / "sample_workbooks"
HOSTILE = '=HYPERLINK("x")'


def rows(path, sheet):
    """A sheet's rows by header; a header printed on two lines is read as one."""
    data = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()
    return [dict(zip([str(h).replace("\n", "") for h in data[0]], r)) for r in data[1:]]


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory, rules):
    """Two towns, one with a name that looks like a formula and one with a path in it."""
    tmp = tmp_path_factory.mktemp("hostile")
    names = [HOSTILE, "../上级/镇", "城关镇"]
    towns = tmp / "towns.csv"
    towns.write_text(
        "单位名称\n"
        + "\n".join(f'"{n}"' if '"' in n else n for n in names).replace('"=HYPERLINK("x")"', '"=HYPERLINK(""x"")"')
        + "\n",
        encoding="utf-8",
    )
    for k, town in enumerate(names):
        template = write_template(rules, town, tmp / "tpl" / f"{k}.xlsx", TemplateOptions())
        fill_workbook(template, tmp / "inbox" / f"{k}.xlsx", {**GOOD, "r1_meetings": k})
    out = tmp / "out"
    result = CliRunner().invoke(
        main, ["score", str(tmp / "inbox"), "--towns", str(towns), "--out", str(out), "--per-town-sheets"]
    )
    assert result.exit_code == 0, result.output
    return out


def test_formula_like_town_name_is_text_with_quote_prefix(hostile_run, rules):
    wb = openpyxl.load_workbook(hostile_run / "汇总.xlsx")
    ws = wb["汇总排名"]
    cells = [c for c in ws["B"] if c.value == HOSTILE]
    assert len(cells) == 1 and cells[0].data_type == "s" and cells[0].quotePrefix
    # the audit trail is written plain, but never as a formula: one row per sub-rule
    trail = [c for c in wb["评分明细"]["A"] if c.value == HOSTILE]
    assert len(trail) == len(rules.subrules()) and all(c.data_type == "s" and c.quotePrefix for c in trail)
    assert not any(c.quotePrefix for c in wb["评分明细"]["A"][1:] if c.value != HOSTILE)


def test_file_and_sheet_names_stay_inside_out_dir(hostile_run):
    files = sorted(p.relative_to(hostile_run).as_posix() for p in hostile_run.rglob("*.xlsx"))
    assert all(f.startswith(("评分细则/", "反馈/")) or f in ("汇总.xlsx", "核定表.xlsx") for f in files)
    town_files = [f for f in files if f.startswith("评分细则/")]
    assert len(town_files) == 3  # three towns, none escaped upwards
    sheets = openpyxl.load_workbook(hostile_run / "汇总.xlsx").sheetnames
    assert sheets[:7] == ["汇总排名", "总分图", "评分明细", "问题清单", "文件清单", "变更记录", "核定记录"]
    assert len(sheets) == 10 and all(len(s) <= 31 and not set(s) & set("[]:*?/\\") for s in sheets)


@pytest.fixture(scope="module")
def sample_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    CliRunner().invoke(
        main, ["score", str(SAMPLES / "returned"), "--towns", str(SAMPLES / "towns.csv"), "--out", str(out)]
    )
    return out


def test_audit_trail_adds_up(sample_out, rules):
    ranking = {r["单位名称"]: r for r in rows(sample_out / "汇总.xlsx", "汇总排名")}
    trail = rows(sample_out / "汇总.xlsx", "评分明细")
    assert len(trail) == 9 * len(rules.subrules())
    bonus_rules = {rule.label for _, rule in rules.subrules() if rule.effective_part == "bonus"}
    for town, row in ranking.items():
        if row["状态"] == "未报送":
            continue
        mine = [t for t in trail if t["单位名称"] == town]
        bonus = {}
        for t in mine:
            if t["细则"] in bonus_rules:
                bonus[t["项目"]] = bonus.get(t["项目"], 0) + t["得分"]
        vetoed = {h for h in bonus if row[h] == 0}
        assert row["加分合计"] == sum(v for h, v in bonus.items() if h not in vetoed)
        assert all(t["得分说明"] and t["自报值"] and t["核定值"] == "" for t in mine)


def test_ranking_sheet_layout_and_chart(sample_out):
    wb = openpyxl.load_workbook(sample_out / "汇总.xlsx")
    ws = wb["汇总排名"]
    assert ws.freeze_panes == "A2"
    # each item coloured by its share of its own 标准分: full marks green, never red
    colours = {
        str(rng.sqref): [(r.formula[0], r.dxf.fill.bgColor.rgb) for r in rng.rules] for rng in ws.conditional_formatting
    }
    assert set(colours) == {f"{col}2:{col}11" for col in "DEFGHIJKLM"}  # one set per item column
    assert colours["D2:D11"] == [
        ("AND(ISNUMBER($D2),$D2>10)", "FFBDD7EE"),
        ("AND(ISNUMBER($D2),$D2=10)", "FFC6EFCE"),
        ("AND(ISNUMBER($D2),$D2>=6)", "FFFFEB9C"),
        ("AND(ISNUMBER($D2),$D2<6)", "FFFFC7CE"),
    ]
    assert colours["M2:M11"][1] == ("AND(ISNUMBER($M2),$M2=5)", "FFC6EFCE")  # item 10: 5 points is full
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.paperSize == 9
    with zipfile.ZipFile(sample_out / "汇总.xlsx") as z:
        charts = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
        assert len(charts) == 1
        xml = z.read(charts[0]).decode("utf-8")
    assert "<c:barChart>" in xml
    # names (B) and 总分 (O) of the nine ranked towns, not the unranked one
    assert "汇总排名!$B$2:$B$10" in xml and "汇总排名!$O$2:$O$10" in xml


def test_town_sheet_print_settings(sample_out):
    ws = openpyxl.load_workbook(sample_out / "评分细则" / "城关镇.xlsx")["评分细则"]
    assert ws.page_setup.paperSize == 9 and ws.page_setup.orientation == "portrait"
    # printed at 100 %: a 9 pt body stays 9 pt (never shrunk to fit a page)
    assert not ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.scale in (None, 100)  # 100: the default
    assert ws.print_title_rows == "$3:$3"
    assert ws.oddFooter.left.text == "城关镇" and "&P" in ws.oddFooter.right.text
    assert ws["A1"].value == "附件2："
    texts = [str(c.value) for row in ws.iter_rows() for c in row if c.value]
    for words in ("考核人（签字）：", "复核人（签字）：", "考核单位（盖章）：", "年　　月　　日"):
        assert words in texts
    breaks = [b.id for b in ws.row_breaks.brk]
    assert all(4 <= b <= 13 for b in breaks)  # between items only
    # every row is tall enough for at least its explicit lines of 评分方法 and 得分说明
    for r in range(4, 14):
        lines = max(str(ws.cell(r, 3).value).count("\n"), str(ws.cell(r, 6).value).count("\n")) + 1
        assert ws.row_dimensions[r].height >= 12 * lines


needs_office = pytest.mark.skipif(
    find_soffice() is None or shutil.which("pdftotext") is None,
    reason="LibreOffice and poppler are needed (.ci/run installs them)",
)


def column_words(pdf, header):
    """Words printed below the header word ``header``, in its column, top to bottom, page
    after page (the header row repeats on every page)."""
    found, every = [], []
    pages = int(
        re.search(
            r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
        ).group(1)
    )
    for page in range(1, pages + 1):
        tsv = subprocess.run(
            ["pdftotext", "-tsv", "-f", str(page), "-l", str(page), str(pdf), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        words = [dict(zip(tsv[0].split("\t"), line.split("\t"))) for line in tsv[1:]]
        words = [w for w in words if w["conf"] != "-1" and w["text"].strip()]
        head = next(w for w in words if w["text"] == header)
        left, right = float(head["left"]) - 4, float(head["left"]) + float(head["width"]) + 4
        below = [
            w
            for w in words
            if float(w["top"]) > float(head["top"]) + 2 and left <= float(w["left"]) + float(w["width"]) / 2 <= right
        ]
        found += [w["text"] for w in sorted(below, key=lambda w: float(w["top"]))]
        every += words
    return found, every


@needs_office
def test_printed_town_sheet_with_every_score(tmp_path, rules):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["score", str(SAMPLES / "returned"), "--towns", str(SAMPLES / "towns.csv"), "--out", str(out), "--pdf"]
    )
    assert result.exit_code == 1, result.output
    ranking = {r["单位名称"]: r for r in rows(out / "汇总.xlsx", "汇总排名")}
    for town in ("城关镇", "青石镇", "北湖街道"):
        pdf = out / "pdf" / f"{town}.pdf"
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
        assert re.search(r"Page size:\s+595\.\d+ x 841\.\d+", info)  # A4 portrait
        scores, words = column_words(pdf, "实得分")
        expected = [str(int(ranking[town][f"{i.number} {i.name}"])) for i in rules.items] + [
            str(int(ranking[town]["总分"]))
        ]
        assert scores == expected
        assert any(w["text"] == "得分说明" for w in words)  # the rightmost column is on this page
    booklet = out / "pdf" / "评分细则汇编.pdf"

    def count(pdf):
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
        return int(re.search(r"Pages:\s+(\d+)", info).group(1))

    towns = [p for p in (out / "pdf").glob("*.pdf") if p.name not in ("汇总排名.pdf", "评分细则汇编.pdf")]
    # a cover, one contents page, every town's pages once (the landscape 汇总排名 apart)
    assert len(towns) == 9 and count(booklet) == 1 + 1 + sum(count(p) for p in towns)


def test_pdf_without_libreoffice_is_a_clear_usage_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no soffice on this PATH
    monkeypatch.setattr("qz_excel.results.office.WINDOWS_PATHS", ())
    result = CliRunner().invoke(
        main,
        [
            "score",
            str(SAMPLES / "returned"),
            "--towns",
            str(SAMPLES / "towns.csv"),
            "--out",
            str(tmp_path / "out"),
            "--pdf",
        ],
    )
    assert result.exit_code == 2 and "LibreOffice" in result.output
    assert not (tmp_path / "out").exists()


def test_audit_trail_continues_past_the_sheet_row_limit(tmp_path, monkeypatch, rules):
    """Excel sheets stop at 1,048,576 rows (~23,800 towns here); the trail goes on in
    评分明细(2), … — shown with the limit lowered to 100 rows."""
    monkeypatch.setattr("qz_excel.results.summary.SHEET_ROWS_MAX", 100)
    out = tmp_path / "out"
    CliRunner().invoke(
        main,
        [
            "score",
            str(SAMPLES / "returned"),
            "--towns",
            str(SAMPLES / "towns.csv"),
            "--out",
            str(out),
            "--per-town-sheets",
        ],
    )
    book = CalamineWorkbook.from_path(str(out / "汇总.xlsx"))
    trail_sheets = [s for s in book.sheet_names if s.startswith("评分明细")]
    assert trail_sheets == ["评分明细"] + [f"评分明细({k})" for k in range(2, 5)]
    rows_written = [len(book.get_sheet_by_name(s).to_python()) - 1 for s in trail_sheets]
    assert rows_written == [99, 99, 99, 9 * len(rules.subrules()) - 297]
    assert (
        len(book.sheet_names) == len(trail_sheets) + 6 + 9
    )  # + 汇总排名, 总分图, 问题清单, 文件清单, 变更记录, 核定记录, towns


def test_results_do_not_depend_on_how_towns_are_sliced(tmp_path, monkeypatch):
    """The audit trail and the 评分细则 texts are composed a slice of towns at a time; the
    slices (here two towns, against the default 250) must not show in the results."""

    def run(out):
        result = CliRunner().invoke(
            main,
            [
                "score",
                str(SAMPLES / "returned"),
                "--towns",
                str(SAMPLES / "towns.csv"),
                "--out",
                str(out),
                "--per-town-sheets",
            ],
        )
        assert result.exit_code == 1, result.output  # the samples carry problems on purpose
        return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.xlsx"))}

    whole = run(tmp_path / "whole")
    monkeypatch.setattr("qz_excel.results.summary.TOWNS_PER_SLICE", 2)
    monkeypatch.setattr("qz_excel.results.town_sheet.TOWNS_PER_SLICE", 2)
    sliced = run(tmp_path / "sliced")
    assert len(whole) == 12 and sliced == whole  # 汇总, 核定表, 9 评分细则, 1 反馈


def test_sheet_names_unique_case_blind_and_within_excel_limits():
    taken = {"汇总排名"}
    names = [safe_sheet_name(n, taken) for n in ["Abc", "abc", "ABC", "汇总排名", "长" * 40, "长" * 40, "a[b]:c"]]
    assert names[:4] == ["Abc", "abc(2)", "ABC(3)", "汇总排名(2)"]
    assert names[4] == "长" * 31 and names[5] == "长" * 28 + "(2)"
    assert names[6] == "a_b__c"
    assert len({n.lower() for n in names}) == len(names) and all(len(n) <= 31 for n in names)


def test_explanations_read_naturally(tmp_path, rules):
    """得分说明 as a reader needs it: what was typed when it was rejected, a deduction that
    cannot be made says so, the brand excess counts what lies beyond the target, 另加N分."""
    inbox = tmp_path / "inbox"
    values = {
        **GOOD,
        "r1_meetings": "三次",
        "r6_refusals": "两个",
        "r2_brand_target": 2,
        "r2_new_prov_brands": 3,
        "r2_new_city_brands": 1,
    }
    write_template(rules, "城关镇", inbox / "城关镇.xlsx", TemplateOptions(generated_at="2010-12-01"), prefill=values)
    towns = tmp_path / "towns.csv"
    towns.write_text("单位名称\n城关镇\n", encoding="utf-8")
    out = tmp_path / "out"
    CliRunner().invoke(main, ["score", str(inbox), "--towns", str(towns), "--out", str(out)])
    ws = openpyxl.load_workbook(out / "评分细则" / "城关镇.xlsx")["评分细则"]
    text = {ws.cell(r, 1).value: ws.cell(r, 6).value for r in range(4, 14)}
    assert "填写“三次”，无效" in text[1] and "不得分（待核实）" in text[1]
    assert "填写“两个”，无效" in text[6] and "无法扣分（待核实）" in text[6]
    # the target absorbs the municipal brand first (the rules' absorb_order), then one provincial
    assert "目标任务2只已完成，另新增省名牌2只，加4分" in text[2]
    assert "另加4分。" in text[2] and "另加分" not in "".join(text.values())


def test_explanation_lines_are_numbered_as_the_method_numbers_them(sample_out, rules):
    ws = openpyxl.load_workbook(sample_out / "评分细则" / "城关镇.xlsx")["评分细则"]
    for r, item in enumerate(rules.items, start=4):
        lines = str(ws.cell(r, 6).value).splitlines()
        numbered = [line.split("．")[0] for line in lines if "．" in line[:3]]
        assert numbered == [str(rules.method_number[rule.id]) for rule in item.rules], item.number
