"""Real-client tests: our template opened and re-saved by LibreOffice, and printed to PDF.

These need LibreOffice (soffice) and poppler (pdftotext, pdfinfo); .ci/run installs them.
"""

import re
import shutil
import subprocess

import pytest

from qz_excel.common.problems import SCORED
from qz_excel.intake import read as intake
from qz_excel.results.office import convert, find_soffice
from qz_excel.template.samples import GOOD, fill_workbook
from qz_excel.template.writer import TemplateOptions, write_template

pytestmark = pytest.mark.skipif(
    find_soffice() is None or shutil.which("pdftotext") is None,
    reason="LibreOffice and poppler are needed (.ci/run installs them)",
)

TOWN = "城关镇"
# a few non-canonical forms too, so the round trip carries text as well as numbers
FILLED = {**GOOD, "r8_registration_rate": 0.995, "r6_food_pass_rate": "不适用", "r1_meetings": 3}


@pytest.fixture(scope="module")
def original(tmp_path_factory, rules):
    tmp = tmp_path_factory.mktemp("lo")
    template = write_template(rules, TOWN, tmp / "template" / "城关镇.xlsx", TemplateOptions(generated_at="2010-12-01"))
    filled = fill_workbook(template, tmp / "filled" / "城关镇.xlsx", FILLED, filler="张明")
    return template, filled, tmp


@pytest.fixture(scope="module")
def converted(original):
    _, filled, tmp = original
    out = {}
    for target in ("xlsx", "xls", "ods"):
        done, failed = convert([filled], target, tmp / target)
        assert not failed, f"LibreOffice did not convert to {target}"
        out[target] = done[0]
    return out


@pytest.mark.parametrize("target", ["xlsx", "xls", "ods"])
def test_libreoffice_saved_copies_read_back_identically(original, converted, rules, target):
    _, filled, _ = original
    before = intake.read_return(filled, rules)
    after = intake.read_return(converted[target], rules)
    assert before.status == after.status == SCORED
    assert after.town == TOWN
    codes = [p.code for p in after.problems]
    assert "NO_METADATA" not in codes and "MISSING_INDICATOR" not in codes, codes
    assert after.values == before.values
    assert set(after.cells) == set(rules.catalog)  # every indicator ID still readable


@pytest.mark.parametrize("target", ["xls", "ods"])
def test_format_decided_by_content(original, converted, rules, target, tmp_path):
    """A LibreOffice .xls or .ods renamed to .xlsx still reads."""
    renamed = tmp_path / "renamed.xlsx"
    renamed.write_bytes(converted[target].read_bytes())
    assert intake.read_return(renamed, rules).values == intake.read_return(original[1], rules).values


def pdf_pages(pdf):
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    size = re.search(r"Page size:\s+([\d.]+) x ([\d.]+)", info)
    texts = [
        subprocess.run(
            ["pdftotext", "-layout", "-f", str(k), "-l", str(k), str(pdf), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for k in range(1, pages + 1)
    ]
    return (float(size.group(1)), float(size.group(2))), texts


def test_template_prints_one_page_wide_on_a4(original, rules):
    template, _, tmp = original
    done, failed = convert([template], "pdf", tmp / "pdf")
    assert not failed
    (width, height), pages = pdf_pages(done[0])
    assert abs(width - 595) < 3 and abs(height - 842) < 3  # A4 portrait, in points
    seen = set()
    form_pages = [p for p in pages if "填报值" in re.sub(r"\s+", "", p)]
    for text in pages:
        flat = re.sub(r"\s+", "", text)
        assert "城关镇" in flat  # every page names the town
        for ind in rules.catalog.values():
            if re.sub(r"\s+", "", ind.label)[:8] in flat:
                seen.add(ind.id)
                # one page wide: the row's rightmost column (填报说明) is on the same page
                # as its label, not on a page of its own to the right
                assert re.sub(r"\s+", "", ind.help)[:6] in flat, ind.id
        assert not any(ind.id in flat for ind in rules.catalog.values())  # codes are not printed
    for text in form_pages:  # the header row repeats on every page of the form
        assert "考核项目" in text and "填报说明" in text
    assert seen == set(rules.catalog)
    assert any("第1页共" in re.sub(r"\s+", "", t) for t in pages)
