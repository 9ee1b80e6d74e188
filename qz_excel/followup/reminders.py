"""Who to follow up after a `qz score`, read back from its results folder.

The results folder is the record the clerk has: its 汇总.xlsx lists every town with its
status (未报送 are the ones to remind, with the files of theirs that could not be used and
why), its 反馈/ holds the correction requests of this run only (a run replaces the folder
whole). Reading the folder rather than rescoring means a reminder goes to exactly the
towns the clerk saw listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import python_calamine

from qz_excel.common.problems import NOT_RETURNED_STATUS
from qz_excel.followup import feedback
from qz_excel.intake.read import as_text, read_meta
from qz_excel.results.summary import RANKING_SHEET

SUMMARY_NAME = "汇总.xlsx"
FEEDBACK_DIR = "反馈"
PROBLEMS_SHEET = "问题清单"


class ResultsError(Exception):
    """The results folder cannot be read: the message says which file and what to do."""


@dataclass(frozen=True)
class Unused:
    """A file of a town not returned that the run could not use, and why."""

    file: str
    reason: str


@dataclass(frozen=True)
class FixRow:
    """One line of a correction request's 请修改 sheet."""

    cell: str
    label: str
    typed: str
    advice: str


def _table(book, sheet: str, path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    if sheet not in book.sheet_names:
        raise ResultsError(f"{path} 中没有“{sheet}”工作表：请指定 qz score 的结果目录（--out）")
    rows = book.get_sheet_by_name(sheet).to_python()
    for k, row in enumerate(rows[:10]):
        header = [as_text(c).replace("\n", "") for c in row]
        if all(c in header for c in columns):
            at = {c: header.index(c) for c in columns}
            return [{c: as_text(r[at[c]]).strip() if at[c] < len(r) else "" for c in columns} for r in rows[k + 1 :]]
    raise ResultsError(
        f"{path} 的“{sheet}”工作表缺少表头（{'、'.join(columns)}）：请不要改动汇总表的结构，或重新运行 qz score"
    )


def _summary_book(results: Path):
    path = results / SUMMARY_NAME
    if not path.is_file():
        raise ResultsError(f"{results} 中没有 {SUMMARY_NAME}：请指定 qz score 的结果目录（--out），或先运行 qz score")
    try:
        return path, python_calamine.CalamineWorkbook.from_path(str(path))
    except (OSError, python_calamine.CalamineError) as exc:
        raise ResultsError(f"无法读取 {path}（{exc}）：请关闭正在编辑它的程序，或重新运行 qz score") from None


def not_returned(results: Path) -> dict[str, list[Unused]]:
    """Towns listed 未报送 in the run's 汇总排名, in its order, each with the files of its
    that were received but not used (a blank template, another year's template…)."""
    path, book = _summary_book(results)
    towns = [
        r["单位名称"]
        for r in _table(book, RANKING_SHEET, path, ("单位名称", "状态"))
        if r["状态"] == NOT_RETURNED_STATUS and r["单位名称"]
    ]
    unused: dict[str, list[Unused]] = {t: [] for t in towns}
    for r in _table(book, PROBLEMS_SHEET, path, ("文件", "单位名称", "问题代码", "说明")):
        if r["单位名称"] in unused and r["文件"] and r["问题代码"] != "NOT_RETURNED":
            unused[r["单位名称"]].append(Unused(r["文件"], r["说明"]))
    return unused


def workbooks_by_town(folder: Path) -> tuple[dict[str, Path], list[tuple[str, str]]]:
    """Workbooks we generated in ``folder``, by the town in their hidden metadata (never by
    file name), and the towns with more than one."""
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.glob("*.xlsx")):
        meta = read_meta(path)
        if meta.get("town"):
            found.setdefault(meta["town"], []).append(path)
    clashes = [
        (town, f"{folder} 中有 {len(paths)} 个该单位的工作簿（{'、'.join(p.name for p in paths)}），请只保留一个")
        for town, paths in found.items()
        if len(paths) > 1
    ]
    return {t: p[0] for t, p in found.items() if len(p) == 1}, clashes


def correction_requests(results: Path) -> tuple[dict[str, Path], list[tuple[str, str]]]:
    """The run's 反馈 workbooks by town ({} when no town had anything to correct)."""
    _summary_book(results)  # a results folder, not any folder
    folder = results / FEEDBACK_DIR
    return workbooks_by_town(folder) if folder.is_dir() else ({}, [])


def fixes_listed(path: Path) -> list[FixRow]:
    """The rows of a correction request's 请修改 sheet, for the letter that goes with it."""
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    rows = _table(book, feedback.SHEET, path, tuple(feedback.COLUMNS)[1:])
    return [FixRow(r["单元格"], r["指标"], r["填写的内容"], r["问题和改法"]) for r in rows if r["单元格"]]


def summary_sheets(results: Path, names: tuple[str, ...]) -> dict[str, list[dict]]:
    """Sheets of a results folder's 汇总.xlsx as records (header cells with their line
    breaks removed, whole numbers as ints), the workbook opened once; {} for each sheet
    when there are no results yet."""
    path = results / SUMMARY_NAME
    if not path.is_file():
        return {name: [] for name in names}
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    sheets = {}
    for name in names:
        rows = book.get_sheet_by_name(name).to_python() if name in book.sheet_names else []
        header = [str(h).replace("\n", "") for h in rows[0]] if rows else []
        sheets[name] = [dict(zip(header, (_whole(v) for v in row))) for row in rows[1:]]
    return sheets


def _whole(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value
