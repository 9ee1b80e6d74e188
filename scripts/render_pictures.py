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

from qz_excel.office import convert  # noqa: E402
from qz_excel.pipeline import ScoreOptions, run_score  # noqa: E402
from qz_excel.rules import load_rules  # noqa: E402
from qz_excel.template import TemplateOptions, write_template  # noqa: E402


def png(pdf: Path, out: Path, resolution: int = 80) -> None:
    stem = out.with_suffix("")
    subprocess.run(["pdftoppm", "-png", "-r", str(resolution), "-f", "1", "-l", "1", "-singlefile",
                    str(pdf), str(stem)], check=True)
    print(out.relative_to(REPO))


def main() -> None:
    rules = load_rules()
    docs = REPO / "docs"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        template = write_template(rules, "城关镇", tmp / "template.xlsx",
                                  TemplateOptions(deadline="2010年12月25日", contact="县质监局 王科长",
                                                  generated_at="2010-12-01"))
        (pdf,), _ = convert([template], "pdf", tmp)
        png(pdf, docs / "template.png")
        samples = REPO / "sample_workbooks"
        run_score(samples / "returned", samples / "towns.csv", tmp / "results", rules, ScoreOptions(pdf=True))
        png(tmp / "results" / "pdf" / "城关镇.pdf", docs / "town-sheet.png")
        png(tmp / "results" / "pdf" / "汇总排名.pdf", docs / "ranking.png")


if __name__ == "__main__":
    main()
