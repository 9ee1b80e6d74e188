"""Render the README's pictures: LibreOffice prints our workbooks to PDF, pdftoppm turns
the first page into a PNG.

    python scripts/render_pictures.py        # writes docs/*.png
"""

import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qz_excel.followup.review import read_review  # noqa: E402
from qz_excel.pipeline import ScoreOptions, run_score  # noqa: E402
from qz_excel.results.office import convert  # noqa: E402
from qz_excel.rules.ruleset import load_rules  # noqa: E402
from qz_excel.template.writer import TemplateOptions, write_template  # noqa: E402


def png(pdf: Path, out: Path, resolution: int = 80, crop: tuple[int, int, int, int] | None = None) -> None:
    """The first page of ``pdf`` as ``out``; ``crop``: (x, y, width, height) in pixels."""
    stem = out.with_suffix("")
    area = ["-x", str(crop[0]), "-y", str(crop[1]), "-W", str(crop[2]), "-H", str(crop[3])] if crop else []
    subprocess.run(
        ["pdftoppm", "-png", "-r", str(resolution), "-f", "1", "-l", "1", "-singlefile", *area, str(pdf), str(stem)],
        check=True,
    )
    print(out.relative_to(REPO))


REVIEWED = {  # (town, indicator) → (核定值, 核定理由, 核定人), and two rows a reviewer got wrong
    ("城关镇", "r1_meetings"): (1, "会议记录仅1次", "王科长"),
    ("东港街道", "r1_annual_plan"): ("是", "查有实施计划文件", "王科长"),
    ("临河镇", "r1_meetings"): ("三次", "x", ""),
    ("北湖街道", "r1_meetings"): (5, "", ""),
}


def fill_review(table: Path, out: Path) -> Path:
    import openpyxl

    wb = openpyxl.load_workbook(table)
    for row in wb["核定"].iter_rows(min_row=2):
        entry = REVIEWED.get((row[0].value, row[2].value))
        if entry:
            for cell, value in zip(row[5:8], entry):
                cell.value = value or None
    wb.save(out)
    return out


def main() -> None:
    rules = load_rules()
    docs = REPO / "docs"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        template = write_template(
            rules,
            "城关镇",
            tmp / "template.xlsx",
            TemplateOptions(deadline="2010年12月25日", contact="县质监局 王科长", generated_at="2010-12-01"),
        )
        (pdf,), _ = convert([template], "pdf", tmp)
        png(pdf, docs / "template.png")
        samples = REPO / "sample_workbooks"
        run_score(samples / "returned", samples / "towns.csv", tmp / "results", rules, ScoreOptions(pdf=True))
        png(tmp / "results" / "pdf" / "城关镇.pdf", docs / "town-sheet.png")
        png(tmp / "results" / "pdf" / "汇总排名.pdf", docs / "ranking.png")
        (pdf,), _ = convert([tmp / "results" / "反馈" / "东港街道.xlsx"], "pdf", tmp / "feedback")
        png(pdf, docs / "feedback.png", crop=(0, 0, 935, 330))
        review = fill_review(tmp / "results" / "核定表.xlsx", tmp / "核定表（已填）.xlsx")
        run_score(
            samples / "returned", samples / "towns.csv", tmp / "reviewed", rules, review=read_review(review, rules)
        )
        (pdf,), _ = convert([tmp / "reviewed" / "核定表.xlsx"], "pdf", tmp / "review")
        png(pdf, docs / "review-table.png", crop=(0, 40, 935, 300))
        (pdf,), _ = convert([tmp / "reviewed" / "评分细则" / "城关镇.xlsx"], "pdf", tmp / "town")
        png(pdf, docs / "town-sheet-reviewed.png", crop=(0, 0, 662, 300))


if __name__ == "__main__":
    main()
