"""The printed 评分细则, as LibreOffice prints it to PDF: legible, whole, fit to sign.

Checked on the PDF, not on the workbook's settings: page count, the smallest printed
font size (font size × the text's scale on the page), every seed line and every 得分说明
present, no text outside the page's margins, 合计 and the signature block on the page of
the last item, and the 暂定（待核实） mark on exactly the towns that are not 正常."""

from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import REPO
from pypdf import PdfReader

from qz_excel.pipeline import NORMAL, run_score
from qz_excel.results.office import convert, find_soffice
from qz_excel.results.town_sheet import MARGINS, PROVISIONAL
from qz_excel.rules.points import SCALE
from qz_excel.template.samples import GOOD
from qz_excel.template.writer import TemplateOptions, write_template

pytestmark = pytest.mark.skipif(find_soffice() is None, reason="LibreOffice is needed (.ci/run installs it)")
SAMPLES = REPO / "sample_workbooks"
LONG_TOWN = "经济技术开发区高新技术产业园区管理委员会暨综合保税区管理局"


def worst_case(rules) -> dict:
    """Every value typed in a form that earns a note, a veto and every bonus: the longest
    得分说明 the rules can produce."""
    values = {}
    for code, ind in rules.catalog.items():
        good = GOOD[code]
        if ind.type == "bool":
            values[code] = "√" if good == "是" else "×"
        elif ind.type == "count":
            values[code] = f"{int(good) + 7}次"
        else:
            values[code] = "99.5％"
    values.update(
        {
            "r7_major_case": "有",
            "r2_new_prov_brands": "9只",
            "r2_new_city_brands": "9只",
            "r6_licensed_failures": "12个",
            "r6_refusals": "11个",
        }
    )
    return values


@pytest.fixture(scope="module")
def printed(tmp_path_factory, rules):
    tmp = tmp_path_factory.mktemp("print")
    inbox = tmp / "inbox"
    inbox.mkdir()
    for path in (SAMPLES / "returned").iterdir():
        (inbox / path.name).write_bytes(path.read_bytes())
    write_template(
        rules, LONG_TOWN, inbox / "worst.xlsx", TemplateOptions(generated_at="2010-12-01"), prefill=worst_case(rules)
    )
    towns = tmp / "towns.csv"
    towns.write_text(
        (SAMPLES / "towns.csv").read_text(encoding="utf-8").rstrip("\n") + f"\n{LONG_TOWN},开发区,,\n", encoding="utf-8"
    )
    out = tmp / "out"
    report = run_score(inbox, towns, out, rules)
    sheets = sorted((out / "评分细则").glob("*.xlsx"))
    pdfs, failed = convert(sheets, "pdf", tmp / "pdf")
    assert not failed
    status = dict(zip(report.summary["单位名称"], report.summary["状态"]))
    return SimpleNamespace(pdfs={p.stem: p for p in pdfs}, status=status, report=report, out=out)


def page_texts(pdf: Path) -> list[str]:
    return [
        subprocess.run(
            ["pdftotext", "-raw", "-f", str(k), "-l", str(k), str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        for k in range(1, len(PdfReader(pdf).pages) + 1)
    ]


def squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


def printed_font_sizes(pdf: Path) -> list[float]:
    sizes = []

    def visit(text, cm, tm, _font, size):
        if text.strip():
            c = tm[2] * cm[0] + tm[3] * cm[2]
            d = tm[2] * cm[1] + tm[3] * cm[3]
            sizes.append(size * math.hypot(c, d))

    for page in PdfReader(pdf).pages:
        page.extract_text(visitor_text=visit)
    return sizes


def word_boxes(pdf: Path, pages: list[int] | None = None) -> list[tuple[float, float, float, float, float, float]]:
    """(xMin, yMin, xMax, yMax, page width, page height) of every word (of ``pages``)."""
    html = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    boxes = []
    for k, page in enumerate(re.finditer(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', html, re.S)):
        if pages is not None and k not in pages:
            continue
        width, height = float(page.group(1)), float(page.group(2))
        for w in re.finditer(r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)"', page.group(3)):
            boxes.append((*map(float, w.groups()), width, height))
    return boxes


def test_every_town_prints_on_at_most_two_legible_a4_pages(printed):
    """Including the worst case: a long name, every value typed in a form that earns a
    note, a veto and every bonus."""
    pdfs = printed.pdfs
    assert any(name.startswith(LONG_TOWN[:20]) for name in pdfs)
    for name, pdf in pdfs.items():
        reader = PdfReader(pdf)
        assert 1 <= len(reader.pages) <= 2, name
        for page in reader.pages:
            assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (595, 842)  # A4
        assert min(printed_font_sizes(pdf)) >= 9 - 0.05, name


def test_nothing_prints_outside_the_margins(printed):
    pdfs = printed.pdfs
    side = MARGINS["left"] * 72 - 1
    for name, pdf in pdfs.items():
        for x0, y0, x1, y1, width, height in word_boxes(pdf):
            assert side <= x0 and x1 <= width - side, (name, x0, x1)
            assert 0 < y0 and y1 < height, (name, y0, y1)


def test_every_seed_line_and_every_explanation_is_printed_whole(printed, rules):
    pdfs = printed.pdfs
    for name, pdf in pdfs.items():
        whole = squeezed("".join(page_texts(pdf)))
        for item in rules.items:
            for line in (item.content + "\n" + item.method).splitlines():
                assert squeezed(line) in whole, (name, line)
        assert "合计" in whole and "考核人（签字）" in whole and "考核单位（盖章）" in whole
        town = next(t for t in printed.status if name.startswith(t[:20]))
        assert squeezed(f"{rules.year}年{town}质量振兴工作考核评分细则") in whole  # the title, whole


def test_the_worst_case_explanations_are_all_printed(printed, rules):
    """Every note, the veto and the bonuses of the longest 得分说明 reach the paper."""
    pdfs = printed.pdfs
    pdf = next(p for name, p in pdfs.items() if name.startswith(LONG_TOWN[:20]))
    whole = squeezed("".join(page_texts(pdf)))
    assert whole.count("视为") >= 20  # the notes on non-canonical forms
    assert "触发否决" in whole


def test_total_and_signatures_stand_with_the_last_item(printed, rules):
    pdfs = printed.pdfs
    last = squeezed(rules.items[-1].method.splitlines()[-1])
    for name, pdf in pdfs.items():
        pages = [squeezed(t) for t in page_texts(pdf)]
        (with_last,) = [k for k, text in enumerate(pages) if last in text]
        assert "合计" in pages[with_last] and "考核人（签字）" in pages[with_last], name
        assert "复核人（签字）" in pages[with_last] and "年月日" in pages[with_last], name
        for k, text in enumerate(pages):  # the header row and the footer on every page
            assert "得分说明" in text and f"第{k + 1}页共{len(pages)}页" in text, name


def test_provisional_mark_exactly_on_towns_not_normal(printed):
    pdfs, status = printed.pdfs, printed.status
    assert {s for s in status.values()} >= {NORMAL, "待核实"}
    for name, pdf in pdfs.items():
        town = next(t for t in status if name.startswith(t[:20]))
        pages = [squeezed(t) for t in page_texts(pdf)]
        marked = [PROVISIONAL in text for text in pages]
        assert marked == [status[town] != NORMAL] * len(pages), (name, status[town])


def test_the_problem_and_file_lists_print_titled_numbered_and_whole(printed, tmp_path):
    report, out = printed.report, printed.out
    (pdf,), failed = convert([out / "汇总.xlsx"], "pdf", tmp_path)
    assert not failed
    texts = page_texts(pdf)
    reader = PdfReader(pdf)
    lists = {
        name: [k for k, t in enumerate(texts) if f"2010年质量振兴工作考核{name}" in t]
        for name in ("问题清单", "文件清单")
    }
    for name, pages in lists.items():
        assert pages, name
        for k in pages:
            page = reader.pages[k]
            assert float(page.mediabox.width) > float(page.mediabox.height)  # landscape
            assert re.search(r"第\s*\d+\s*页\s*共\s*\d+\s*页", texts[k])
    printed_problems = squeezed("".join(texts[k] for k in lists["问题清单"]))
    for problem in report.problems:
        assert squeezed(problem.message) in printed_problems, problem.message
    printed_files = squeezed("".join(texts[k] for k in lists["文件清单"]))
    assert "数值无效2处、未填写2处、数据矛盾1处" in printed_files
    inside_the_margins(pdf, 0.4, lists["问题清单"] + lists["文件清单"])


def ranking_of(rules, n: int):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(n)
    items = {i.header: rng.integers(0, i.standard // SCALE + 1, n) for i in rules.items}
    table = pd.DataFrame(
        {
            "排名": pd.array(np.arange(1, n + 1), dtype="Int64"),
            "单位名称": [f"第{k:04d}号镇" for k in range(1, n + 1)],
            "类别": "镇",
            **items,
        }
    )
    table["加分合计"] = 0
    table["总分"] = table[[i.header for i in rules.items]].sum(axis=1).sort_values(ascending=False).to_numpy()
    table["状态"] = NORMAL
    return table


@pytest.mark.parametrize("n", [9, 2000])
def test_the_ranking_and_its_chart_print_apart_and_readable(rules, tmp_path, n):
    """The table's pages, then the chart's: 40 towns a page, each page with its axis and
    every town's label, never the table's header on a chart page."""
    from qz_excel.results.summary import TOWNS_PER_CHART, write_ranking_print

    book = write_ranking_print(tmp_path / "汇总排名.xlsx", rules, ranking_of(rules, n))
    (pdf,), failed = convert([book], "pdf", tmp_path)
    assert not failed
    texts = page_texts(pdf)
    table_pages = [k for k, t in enumerate(texts) if "单位名称" in t]
    chart_pages = [k for k, t in enumerate(texts) if "考核总分" in t]
    assert table_pages == list(range(len(table_pages)))  # the table first, whole
    assert chart_pages == list(range(len(table_pages), len(texts)))  # then the charts, alone
    assert len(chart_pages) == -(-n // TOWNS_PER_CHART)
    for k, page in enumerate(chart_pages):
        first, last = k * TOWNS_PER_CHART + 1, min((k + 1) * TOWNS_PER_CHART, n)
        words = texts[page].split()
        assert "0" in words  # the axis
        shown = squeezed(texts[page])
        assert all(f"第{t:04d}号镇" in shown for t in range(first, last + 1)), (page, first, last)
    for k in table_pages:
        assert "制表单位" in texts[k] and "汇总排名" in texts[k]
    inside_the_margins(pdf, 0.4)
    for town in ranking_of(rules, n)["单位名称"]:  # every town in the table, whole
        assert town in squeezed("".join(texts[k] for k in table_pages))


def inside_the_margins(pdf: Path, side_inches: float, pages: list[int] | None = None) -> None:
    """Every word (of ``pages``, 0-based; default all) inside the page's side margins."""
    boxes = word_boxes(pdf, pages)
    assert boxes
    for x0, y0, x1, y1, width, height in boxes:
        assert side_inches * 72 - 1 <= x0 and x1 <= width - side_inches * 72 + 1, (pdf.name, x0, x1)
        assert 0 < y0 and y1 < height, (pdf.name, y0, y1)


def test_the_booklet_is_bound_numbered_and_bookmarked(printed, rules, tmp_path):
    from qz_excel.results.booklet import Entry, build_booklet
    from qz_excel.results.summary import ReportInfo

    report = printed.report
    ranking = report.summary[report.summary["状态"] != "未报送"]
    entries = []
    for rank, town in zip(ranking["排名"], ranking["单位名称"]):
        pdf = next(p for name, p in printed.pdfs.items() if name.startswith(town[:20]))
        entries.append(
            Entry("" if rank is None or str(rank) == "<NA>" else str(int(rank)), town, pdf, len(PdfReader(pdf).pages))
        )
    booklet = build_booklet(tmp_path / "汇编.pdf", rules, ReportInfo(maker="某县质量技术监督局"), entries, tmp_path)
    reader = PdfReader(booklet)
    texts = page_texts(booklet)
    assert len(texts) == 1 + 1 + sum(e.pages for e in entries)  # cover, contents, the towns
    assert all(float(p.mediabox.width) < float(p.mediabox.height) for p in reader.pages)  # one orientation
    cover = squeezed(texts[0])
    assert "评分细则汇编" in cover and "某县质量技术监督局" in cover and "制表日期" in cover
    for k, text in enumerate(texts[1:], start=1):  # numbered through, the cover aside
        assert f"—{k}—" in squeezed(text), k
    outline = {o.title: reader.get_destination_page_number(o) for o in reader.outline}
    contents = texts[1]
    for entry in entries:
        page = outline[f"{entry.rank} {entry.town}".strip()]
        assert squeezed(f"{rules.year}年{entry.town}质量振兴工作考核评分细则") in squeezed(texts[page])
        listed = re.search(rf"{re.escape(entry.town)}\s+(\d+)", contents)
        assert listed and int(listed.group(1)) == page  # the contents' page is the printed number


def test_the_template_prints_whole_inside_its_margins(rules, tmp_path):
    """填报表 and 填报说明 as a town prints them: every instruction line and every label
    present (nothing cut at the edges: 「2010年」 once printed as 「10年」), every word inside
    the page's side margins, the town on every page."""
    from qz_excel.template.writer import TemplateOptions, render_instructions, write_template

    options = TemplateOptions(
        generated_at="2010-12-01", deadline="2010年12月25日", contact="县质监局 王科长 0512-1234567"
    )
    book = write_template(rules, "城关镇", tmp_path / "城关镇.xlsx", options)
    (pdf,), failed = convert([book], "pdf", tmp_path)
    assert not failed
    texts = page_texts(pdf)
    whole = squeezed("".join(texts))
    for line in render_instructions(rules, "城关镇", options).splitlines():
        assert squeezed(line) in whole, line
    for ind in rules.catalog.values():
        assert squeezed(ind.label) in whole, ind.label
    assert all("城关镇" in text for text in texts)
    for x0, _, x1, _, width, _ in word_boxes(pdf):
        assert 0.4 * 72 - 1 <= x0 and x1 <= width - 0.4 * 72 + 1, (x0, x1)


@pytest.mark.parametrize("n", [10, 200])
def test_every_score_with_its_bonus_prints_in_full(rules, tmp_path, n):
    """「23（含加13）」: item columns as wide as their longest text, never ### in its place."""
    import numpy as np
    import pandas as pd

    from qz_excel.results.summary import ReportInfo, write_ranking_print

    ranking = ranking_of(rules, n)
    rng = np.random.default_rng(n)
    bonuses = pd.DataFrame({i.number: rng.integers(0, 14, n) for i in rules.items}, index=ranking["单位名称"])
    for item in rules.items:  # the score includes its bonus
        ranking[item.header] = ranking[item.header] + bonuses[item.number].to_numpy()
    # ReportInfo takes the engine's bonuses, in hundredths of a point
    info = ReportInfo(bonuses=bonuses * 100)
    book = write_ranking_print(tmp_path / "汇总排名.xlsx", rules, ranking, info)
    (pdf,), failed = convert([book], "pdf", tmp_path)
    assert not failed
    printed = squeezed("".join(t for t in page_texts(pdf) if "单位名称" in t))
    assert "###" not in printed
    for item in rules.items:
        for score, bonus in zip(ranking[item.header], bonuses[item.number]):
            if bonus:
                assert f"{score}（含加{bonus}）" in printed
    inside_the_margins(pdf, 0.4)


def test_a_long_town_name_prints_whole_in_the_ranking(rules, tmp_path):
    """汇总排名 with a 30-character name among short ones: it wraps in its cell, its row
    grows, and every character is printed (on one line it was cut off at both ends)."""
    from qz_excel.results.summary import write_ranking_print

    ranking = ranking_of(rules, 12)
    ranking.loc[5, "单位名称"] = LONG_TOWN
    book = write_ranking_print(tmp_path / "汇总排名.xlsx", rules, ranking)
    (pdf,), failed = convert([book], "pdf", tmp_path)
    assert not failed
    table = squeezed(page_texts(pdf)[0])
    assert LONG_TOWN in table and all(f"第{k:04d}号镇" in table for k in (1, 2, 12))
    inside_the_margins(pdf, 0.4, pages=[0])
