"""Town names of any length and characters become file names every file system takes:
within 255 bytes (ext4, APFS) and 255 UTF-16 units (NTFS), no reserved Windows names,
inside --out, unique."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from qz_excel.common.files import STEM_BYTES_MAX, STEM_UNITS_MAX, safe_file_stem, unique_path
from qz_excel.template.samples import GOOD
from qz_excel.template.writer import TemplateOptions, write_template

LONG = "青石山区" * 30  # 120 characters, 360 bytes
NAMES = [
    LONG + "甲镇",
    LONG + "乙镇",  # the same first 120 characters: cut names must stay apart
    "镇" * 86,
    "镇" * 85,  # around the length that broke qz score
    "CON",
    "nul",
    "Com1.工业园",
    "LPT9",  # reserved device names on Windows
    "../../逃逸镇",
    "东/西\\街道",
    "城关:镇*?",
    "结尾的点...",
    " 前后空格 ",
    "表情😀园区" * 20,
    "A" * 300,
    "城关镇",
    "城关镇 ",  # the last two: same after cleaning
]
WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{k}" for k in range(1, 10)), *(f"LPT{k}" for k in range(1, 10))}


def acceptable_everywhere(name: str) -> bool:
    stem = name.split(".")[0].strip().upper()
    return (
        len(name.encode("utf-8")) <= 255
        and len(name.encode("utf-16-le")) // 2 <= 255
        and stem not in WINDOWS_RESERVED
        and not name.endswith((".", " "))
        and not any(ch in name for ch in '\\/:*?"<>|')
    )


@pytest.mark.parametrize("name", NAMES)
def test_a_stem_fits_every_file_system(name):
    stem = safe_file_stem(name)
    assert stem and acceptable_everywhere(stem + ".xlsx")
    assert len(stem.encode("utf-8")) <= STEM_BYTES_MAX and len(stem.encode("utf-16-le")) // 2 <= STEM_UNITS_MAX
    if len(name.encode("utf-8")) > STEM_BYTES_MAX:
        assert stem.endswith("…") and name.startswith(stem[:-1][:10])


def test_cut_names_stay_apart(tmp_path):
    taken: set[str] = set()
    paths = [unique_path(tmp_path, safe_file_stem(n), ".xlsx", taken) for n in NAMES]
    assert len({p.name.lower() for p in paths}) == len(NAMES)


def qz(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qz_excel", *map(str, args)], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def towns_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("names") / "towns.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["单位名称", "邮箱"])
        for k, name in enumerate(NAMES[:-1]):  # "城关镇 " is "城关镇" once cleaned: one town
            writer.writerow([name, f"town{k}@example.cn"])
    return path


def listed_names(out: Path) -> list[str]:
    return [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()]


def test_template_score_and_mail_write_one_file_per_town(tmp_path, towns_file, rules):
    towns = NAMES[:-1]
    templates = tmp_path / "模板"
    made = qz("template", "--towns", towns_file, "--out", templates)
    assert made.returncode == 0, made.stderr
    files = sorted(templates.glob("*.xlsx"))
    assert len(files) == len(towns)
    assert all(acceptable_everywhere(p.name) and p.parent == templates for p in files)

    inbox = tmp_path / "收件箱"
    for k, town in enumerate(towns):
        write_template(
            rules, town.strip(), inbox / f"{k:02d}.xlsx", TemplateOptions(generated_at="2010-12-01"), prefill=GOOD
        )
    out = tmp_path / "结果"
    scored = qz("score", inbox, "--towns", towns_file, "--out", out)
    assert scored.returncode in (0, 1), scored.stderr
    assert "Traceback" not in scored.stderr
    town_sheets = sorted((out / "评分细则").glob("*.xlsx"))
    assert len(town_sheets) == len(towns)
    assert all(acceptable_everywhere(p.name) for p in town_sheets)
    assert not (tmp_path / "逃逸镇.xlsx").exists() and not (tmp_path.parent / "逃逸镇.xlsx").exists()

    drafts = qz("mail", templates, "--towns", towns_file)
    assert drafts.returncode == 0, drafts.stderr
    emls = sorted((templates / "mail").glob("*.eml"))
    assert len(emls) == len(towns) and all(acceptable_everywhere(p.name) for p in emls)
