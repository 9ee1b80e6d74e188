"""`qz score` end to end on real workbooks: the bundled samples and freshly filled ones."""

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from conftest import REPO
from python_calamine import CalamineWorkbook

from qz_excel.cli.commands import main
from qz_excel.intake import read as intake
from qz_excel.results.cache import CACHE_DIR
from qz_excel.results.publish import LOCK_NAME
from qz_excel.rules.points import points_number
from qz_excel.scoring.engine import score
from qz_excel.template.samples import GOOD, SAMPLE_TOWNS, fill_workbook, make_samples
from qz_excel.template.writer import TemplateOptions, write_template

SAMPLES = REPO / "sample_workbooks"


def digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    before = digest(SAMPLES)
    result = CliRunner().invoke(
        main, ["score", str(SAMPLES / "returned"), "--towns", str(SAMPLES / "towns.csv"), "--out", str(out)]
    )
    assert digest(SAMPLES) == before, "inputs must never be modified"
    return result, out


def sheet_rows(path: Path, sheet: str) -> list[list]:
    return CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()


def table(path: Path, sheet: str) -> list[dict]:
    """A sheet's rows by header; a header printed on two lines is read as one."""
    rows = sheet_rows(path, sheet)
    return [dict(zip([str(h).replace("\n", "") for h in rows[0]], row)) for row in rows[1:]]


def test_sample_run_exit_code_and_message(sample_run):
    result, out = sample_run
    assert result.exit_code == 1  # the samples include empty and invalid cells
    assert str((out / "汇总.xlsx").resolve()) in result.output
    # problems per file in words and counted, not as codes
    assert "东港街道（数值无效 2 处、未填写 2 处、数据矛盾 1 处）" in result.output
    assert "MISSING_VALUE" not in result.output


def test_file_list_explains_in_counted_words_and_both_lists_print_as_a4_landscape(sample_run):
    _, out = sample_run
    files = {r[0]: r for r in sheet_rows(out / "汇总.xlsx", "文件清单")[1:]}
    assert files["东港街道报表.xlsx"][3] == "数值无效 2 处、未填写 2 处、数据矛盾 1 处"
    wb = openpyxl.load_workbook(out / "汇总.xlsx")
    for name in ("问题清单", "文件清单"):
        ws = wb[name]
        assert ws.page_setup.paperSize == 9 and ws.page_setup.orientation == "landscape"
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth in (None, 1)
        assert ws.page_setup.fitToHeight == 0 and ws.print_title_rows == "$1:$1"
        assert f"2010年质量振兴工作考核{name}" in ws.oddHeader.center.text and "&P" in ws.oddFooter.center.text


def test_summary_matches_the_engine(sample_run, rules):
    _, out = sample_run
    ranking = table(out / "汇总.xlsx", "汇总排名")
    header = [str(h).replace("\n", "") for h in sheet_rows(out / "汇总.xlsx", "汇总排名")[0]]
    assert header[:3] == ["排名", "单位名称", "类别"] and header[-2:] == ["总分", "状态"]
    item_headers = header[3:13]
    assert [h.split(" ")[0] for h in item_headers] == [str(i) for i in range(1, 11)]

    # the engine on the same files, independently of the pipeline
    returns = [intake.read_return(p, rules) for p in intake.inbox_files(SAMPLES / "returned")]
    accepted = intake.choose_among_duplicates(returns, [t[0] for t in SAMPLE_TOWNS], rules)
    values, notes = intake.values_frames(accepted, rules)
    summary = score(rules, values, notes).summary
    by_town = {row["单位名称"]: row for row in ranking}
    for town in summary.index:
        row = by_town[town]
        assert row["总分"] == points_number(summary.loc[town, "总分"])
        assert [row[h] for h in item_headers] == [points_number(summary.loc[town, i]) for i in range(1, 11)]
    ranks = [row["排名"] for row in ranking if row["排名"] != ""]
    assert ranks == sorted(ranks)


def test_sample_semantics(sample_run):
    _, out = sample_run
    by_town = {row["单位名称"]: row for row in table(out / "汇总.xlsx", "汇总排名")}
    assert by_town["双桥镇"]["状态"] == "未报送" and by_town["双桥镇"]["排名"] == ""
    assert by_town["东港街道"]["状态"] == "待核实"
    assert by_town["青石镇"]["6 产品质量"] == 0 and by_town["青石镇"]["7 打假"] == 0  # vetoes
    assert by_town["北湖街道"]["5 计量"] == 12  # capped at 10, then +2
    assert by_town["城关镇"]["2 名牌战略"] > 15  # bonus above 标准分

    assert by_town["北湖街道"]["总分"] == by_town["高新技术产业园区"]["总分"]
    assert by_town["北湖街道"]["排名"] == by_town["高新技术产业园区"]["排名"]
    assert by_town["临河镇"]["8 特种设备监管网络"] == 4 + 1 + 0 + 1


def test_ranking_prints_as_a_report_with_bonus_and_key(sample_run):
    """The printed 汇总排名 names its maker and date, keys its colours and statuses, shows the
    bonus inside each item score (the cell stays a number), and breaks headers between words."""
    _, out = sample_run
    ws = openpyxl.load_workbook(out / "汇总.xlsx")["汇总排名"]
    header = ws.oddHeader
    assert "2010年质量振兴工作考核汇总排名" in header.center.text
    assert "制表单位：县质量技术监督局" in header.left.text and "制表日期：" in header.right.text
    assert "待核实" in ws.oddFooter.left.text and "含加分" in ws.oddFooter.left.text
    assert ws["K1"].value == "8 特种设备\n监管网络" and ws["E1"].value == "2 名牌战略"
    town = next(r for r in ws.iter_rows(min_row=2) if r[1].value == "城关镇")
    bonus_cell = town[4]  # 2 名牌战略
    assert isinstance(bonus_cell.value, (int, float)) and bonus_cell.value > 15
    assert "（含加" in bonus_cell.number_format


def test_problem_list_names_file_sheet_cell(sample_run):
    _, out = sample_run
    problems = table(out / "汇总.xlsx", "问题清单")
    missing = [p for p in problems if p["问题代码"] == "MISSING_VALUE"]
    assert {(p["文件"], p["工作表"], p["指标代码"]) for p in missing} == {
        ("东港街道报表.xlsx", "填报表", "r1_annual_plan"),
        ("东港街道报表.xlsx", "填报表", "r3_credit_eval_rate"),
    }
    assert all(p["单元格"].startswith("E") for p in missing)
    invalid = {p["指标代码"]: p for p in problems if p["问题代码"] == "INVALID_VALUE"}
    assert invalid["r7_liaison"]["填报内容"] == "是的" and invalid["r10_trainings"]["填报内容"] == "2.5"
    assert any(p["问题代码"] == "NOT_RETURNED" and p["单位名称"] == "双桥镇" for p in problems)
    # two cells that contradict each other: both named, on the sheet the form was read from
    pair = [p for p in problems if p["问题代码"] == "INVALID_PAIR"]
    assert [(p["文件"], p["工作表"], p["指标代码"]) for p in pair] == [
        ("东港街道报表.xlsx", "填报表", "r9_units_in_ledger,r9_units_total")
    ]
    assert re.fullmatch(r"E\d+,E\d+", pair[0]["单元格"])


def test_town_sheets_are_filled(sample_run, rules):
    _, out = sample_run
    by_town = {row["单位名称"]: row for row in table(out / "汇总.xlsx", "汇总排名")}
    files = sorted((out / "评分细则").glob("*.xlsx"))
    assert len(files) == 9
    for path in files:
        rows = sheet_rows(path, "评分细则")
        town = path.stem
        assert rows[1][0] == f"2010年{town}质量振兴工作考核评分细则"
        assert rows[2] == ["序号", "考核内容", "评分方法", "标准分", "实得分", "得分说明"]
        for item, row in zip(rules.items, rows[3:13]):
            assert row[1] == item.content and row[2] == item.method and row[3] == points_number(item.standard)
            assert row[4] == by_town[town][f"{item.number} {item.name}"]
        assert rows[13][4] == by_town[town]["总分"]


def test_values_stored_not_formulas(sample_run):
    _, out = sample_run
    wb = openpyxl.load_workbook(out / "汇总.xlsx")
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{ws.title}!{cell.coordinate}"


def test_all_good_inbox_exits_zero(tmp_path, rules):
    towns = tmp_path / "towns.csv"
    towns.write_text("单位名称\n甲镇\n乙镇\n", encoding="utf-8")
    for town in ("甲镇", "乙镇"):
        template = write_template(rules, town, tmp_path / "tpl" / f"{town}.xlsx", TemplateOptions())
        fill_workbook(template, tmp_path / "inbox" / f"{town}.xlsx", GOOD, filler="某人")
    result = CliRunner().invoke(
        main, ["score", str(tmp_path / "inbox"), "--towns", str(towns), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    ranking = table(tmp_path / "out" / "汇总.xlsx", "汇总排名")
    assert [r["排名"] for r in ranking] == [1, 1] and {r["状态"] for r in ranking} == {"正常"}


@pytest.mark.parametrize(
    "towns_text, message",
    [
        ("区县\n甲镇\n", "找不到“单位名称”列"),
        ("单位名称\n甲镇\n甲镇\n", "单位名称重复"),
    ],
)
def test_bad_towns_file_is_a_usage_error(tmp_path, towns_text, message):
    towns = tmp_path / "towns.csv"
    towns.write_text(towns_text, encoding="utf-8")
    (tmp_path / "inbox").mkdir()
    result = CliRunner().invoke(
        main, ["score", str(tmp_path / "inbox"), "--towns", str(towns), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "out").exists()


def test_samples_do_not_drift_from_the_template(tmp_path, rules):
    """sample_workbooks/ is what scripts/make_samples.py makes from today's template."""
    make_samples(rules, tmp_path)
    assert (tmp_path / "towns.csv").read_bytes() == (SAMPLES / "towns.csv").read_bytes()
    fresh = sorted(p.name for p in (tmp_path / "returned").iterdir())
    assert fresh == sorted(p.name for p in (SAMPLES / "returned").iterdir())
    for name in fresh:
        a = CalamineWorkbook.from_path(str(tmp_path / "returned" / name))
        b = CalamineWorkbook.from_path(str(SAMPLES / "returned" / name))
        assert a.sheet_names == b.sheet_names
        for sheet in a.sheet_names:
            assert a.get_sheet_by_name(sheet).to_python() == b.get_sheet_by_name(sheet).to_python(), (
                f"{name}!{sheet} drifted: run python scripts/make_samples.py"
            )


def test_module_entry_point_from_another_folder(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "qz_excel", "rules", "check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        encoding="utf-8",
    )
    assert result.returncode == 0 and "2010 年，10 项" in result.stdout


def test_wheel_carries_templates(tmp_path):
    """A non-editable install must find the rules and jinja2 files inside the package."""
    import zipfile

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("qz_excel-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "qz_excel/templates/rules/2010.yaml",
        "qz_excel/templates/instructions.txt.j2",
        "qz_excel/cli/commands.py",
    ):
        assert needed in names


def test_strict_leaves_towns_with_errors_unranked(tmp_path):
    out = tmp_path / "strict"
    result = CliRunner().invoke(
        main, ["score", str(SAMPLES / "returned"), "--towns", str(SAMPLES / "towns.csv"), "--out", str(out), "--strict"]
    )
    assert result.exit_code == 1
    by_town = {row["单位名称"]: row for row in table(out / "汇总.xlsx", "汇总排名")}
    assert by_town["东港街道"]["状态"] == "待核实" and by_town["东港街道"]["排名"] == ""
    ranked = sorted((row["排名"], row["总分"]) for row in by_town.values() if row["排名"] != "")
    assert len(ranked) == 8 and ranked[0][0] == 1
    # ranks are recomputed among the ranked towns only: still a competition ranking
    totals = [t for _, t in ranked]
    assert [r for r, _ in ranked] == [1 + sum(u > t for u in totals) for t in totals]


def test_missing_inbox_is_a_chinese_usage_error(tmp_path):
    result = CliRunner().invoke(
        main, ["score", str(tmp_path / "nope"), "--towns", str(SAMPLES / "towns.csv"), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 2 and "找不到收件箱" in result.output


def test_rerun_replaces_the_town_folder_whole(tmp_path):
    """A town no longer in the run leaves no stale 评分细则 behind, and no staging folder
    is left over."""
    out = tmp_path / "out"
    stale = out / "评分细则" / "已撤销的镇.xlsx"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    CliRunner().invoke(
        main, ["score", str(SAMPLES / "returned"), "--towns", str(SAMPLES / "towns.csv"), "--out", str(out)]
    )
    assert not stale.exists()
    assert len(list((out / "评分细则").glob("*.xlsx"))) == 9
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == sorted([CACHE_DIR, LOCK_NAME])
