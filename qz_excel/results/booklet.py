"""评分细则汇编.pdf: every town's printed 评分细则 in ranking order, bound as one document
for the 考核组 — a cover, a contents page (名次, 单位名称, 页码), page numbers running
through the whole booklet, one bookmark per town, all A4 portrait (the landscape 汇总排名
keeps a PDF of its own).

Each 评分细则 keeps its own 「第 N 页 共 M 页」 (what a signed copy must show); the booklet's
numbers go in the middle of the same footer line. They come from a numbering sheet that
LibreOffice prints with as many pages as the booklet, laid over each page by pypdf.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

from qz_excel.common.files import atomic_write_bytes
from qz_excel.common.xlsx import FONT, Formats, atomic_workbook
from qz_excel.results import office
from qz_excel.results.summary import ReportInfo
from qz_excel.rules.ruleset import Rules

CONTENTS_ROWS = 36  # towns a contents page lists
NUMBER_PAGE_ROWS = 40  # rows a numbering page spans (page breaks between)
FORMATS = {
    "cover_title": {
        "font_name": FONT,
        "font_size": 26,
        "bold": True,
        "align": "center",
        "valign": "vcenter",
        "text_wrap": True,
    },
    "cover_line": {"font_name": FONT, "font_size": 14, "align": "center", "valign": "vcenter"},
    "contents_title": {"font_name": FONT, "font_size": 18, "bold": True, "align": "center", "valign": "vcenter"},
    "head": {
        "font_name": FONT,
        "font_size": 11,
        "bold": True,
        "align": "center",
        "valign": "vcenter",
        "border": 1,
        "bg_color": "#D9E1F2",
    },
    "cell": {"font_name": FONT, "font_size": 11, "align": "center", "valign": "vcenter", "border": 1},
    "name": {"font_name": FONT, "font_size": 11, "valign": "vcenter", "border": 1},
    "invisible": {"font_color": "#FFFFFF", "font_size": 1},
}


class BookletFailed(Exception):
    """LibreOffice did not print the cover, contents or page numbers."""


@dataclass(frozen=True)
class Entry:
    rank: str  # 名次 as printed ("" for a town not ranked)
    town: str
    pdf: Path
    pages: int


def _portrait(ws, top: float = 0.6, bottom: float = 0.6) -> None:
    ws.set_paper(9)
    ws.set_portrait()
    ws.set_margins(left=0.6, right=0.6, top=top, bottom=bottom)


def _front_matter(path: Path, rules: Rules, info: ReportInfo, entries: list[Entry], first_page: int) -> Path:
    """The cover and the contents, whose page numbers start at ``first_page``."""
    title = f"{rules.year}年{rules.assessment}\n评分细则汇编"
    with atomic_workbook(path, title=title.replace("\n", "")) as wb:
        fmt = Formats(wb, FORMATS)
        cover = wb.add_worksheet("封面")
        cover.set_column(0, 0, 90)
        cover.set_row(0, 200)
        cover.write_string(1, 0, title, fmt["cover_title"])
        cover.set_row(1, 120)
        cover.set_row(2, 300)
        cover.write_string(3, 0, f"制表单位：{info.maker}", fmt["cover_line"])
        cover.write_string(4, 0, f"制表日期：{info.date_text}", fmt["cover_line"])
        for r in (3, 4):
            cover.set_row(r, 30)
        _portrait(cover)
        cover.print_area(0, 0, 4, 0)

        contents = wb.add_worksheet("目录")
        for c, width in enumerate((10, 56, 12)):
            contents.set_column(c, c, width)
        contents.merge_range(0, 0, 0, 2, "目　录", fmt["contents_title"])
        contents.set_row(0, 36)
        for c, name in enumerate(("名次", "单位名称", "页码")):
            contents.write_string(1, c, name, fmt["head"])
        page = first_page
        for r, entry in enumerate(entries, start=2):
            contents.write_string(r, 0, entry.rank, fmt["cell"])
            fmt.text(contents, r, 1, entry.town, "name")
            contents.write_number(r, 2, page, fmt["cell"])
            contents.set_row(r, 18)
            page += entry.pages
        contents.set_h_pagebreaks([2 + k * CONTENTS_ROWS for k in range(1, math.ceil(len(entries) / CONTENTS_ROWS))])
        contents.repeat_rows(1)
        _portrait(contents)
    return path


def _numbers(path: Path, pages: int) -> Path:
    """``pages`` otherwise empty A4 pages numbered 「— k —」 in the middle of the footer line
    of the 评分细则 (same footer margin). A white dot on each keeps it from being skipped."""
    with atomic_workbook(path, title="页码") as wb:
        fmt = Formats(wb, FORMATS)
        ws = wb.add_worksheet("页码")
        for k in range(pages):
            ws.write_string(k * NUMBER_PAGE_ROWS, 0, ".", fmt["invisible"])
        ws.set_h_pagebreaks([k * NUMBER_PAGE_ROWS for k in range(1, pages)])
        _portrait(ws)
        ws.set_footer("&C&10 — &P —", {"margin": 0.3})
        ws.print_area(0, 0, pages * NUMBER_PAGE_ROWS - 1, 0)
    return path


def build_booklet(out: Path, rules: Rules, info: ReportInfo, entries: list[Entry], work: Path) -> Path:
    """评分细则汇编.pdf from the towns' printed PDFs (``entries``, in ranking order)."""
    from pypdf import PdfReader, PdfWriter

    contents_pages = max(1, math.ceil(len(entries) / CONTENTS_ROWS))
    numbered = contents_pages + sum(e.pages for e in entries)  # every page but the cover
    front = _front_matter(work / "汇编前页.xlsx", rules, info, entries, first_page=contents_pages + 1)
    numbers = _numbers(work / "汇编页码.xlsx", numbered)
    converted, failed = office.convert([front, numbers], "pdf", work)
    if failed:
        raise BookletFailed(", ".join(f.name for f in failed))
    by_stem = {p.stem: p for p in converted}
    writer = PdfWriter()
    writer.append(str(by_stem[front.stem]))  # cover, then contents
    for entry in entries:
        first = len(writer.pages)
        writer.append(str(entry.pdf), import_outline=False)
        writer.add_outline_item(title=f"{entry.rank} {entry.town}".strip(), page_number=first)
    overlay = PdfReader(by_stem[numbers.stem])
    for page, number in zip(writer.pages[1:], overlay.pages):
        page.merge_page(number)
    buffer = io.BytesIO()
    writer.write(buffer)
    atomic_write_bytes(out, buffer.getvalue())
    return out
