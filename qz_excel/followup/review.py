"""核定: the bureau's verified values, read from a filled 核定表 and applied before scoring.

Every `qz score` writes `核定表.xlsx` (:mod:`qz_excel.followup.review_table`): one row per town ×
indicator with the self-reported value. The 考核组 types a 核定值, a 核定理由 and its name
where the evidence says otherwise; ``qz score --review FILE`` reads those rows back
(:func:`read_review`) and :func:`apply_review` puts the reviewed values into the values
frame before scoring, so a reviewed value scores exactly as if the town had reported it.
Each applied value says so in the 得分说明: 「自报4次，核定2次（理由：会议记录仅2次）」.

A row that cannot be applied is a problem (never silent) and is kept: the next 核定表
carries every filled row forward, so nothing a reviewer typed is lost between rounds.
File-level faults (unreadable, no 核定 sheet, another year's table) raise ReviewError
before anything is read or written.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import python_calamine

from qz_excel.common.problems import Problem
from qz_excel.common.towns import clean_name
from qz_excel.intake import safety
from qz_excel.intake.read import as_text, workbook_meta
from qz_excel.rules.points import points_number
from qz_excel.rules.ruleset import Rules
from qz_excel.rules.values import ValueRejected, format_one, format_values, is_empty, parse_value
from qz_excel.template import form

if TYPE_CHECKING:
    from qz_excel.scoring.engine import ScoreResult

REVIEW_NAME = "核定表.xlsx"
SHEET = "核定"
KIND = "核定表"  # the hidden metadata's kind, telling a 核定表 from a template
COLUMNS = ("单位名称", "考核项目", "指标代码", "指标", "自报值", "核定值", "核定理由", "核定人")
EDITABLE = ("核定值", "核定理由", "核定人")
HEADER_SCAN_ROWS = 10
INITIAL, VERIFIED_STAGE = "初评", "核定"


class ReviewError(Exception):
    """The review file as a whole cannot be used; the message says what to do."""


@dataclass(frozen=True)
class ReviewRow:
    """One filled row of a 核定表, as typed."""

    row: int  # 1-based row in the sheet
    town: str
    indicator: str  # as typed: a code, or the label when the code column is gone
    label: str
    self_text: str  # the 自报值 the table showed
    raw: object  # 核定值 as typed
    reason: str
    reviewer: str

    @property
    def filled(self) -> bool:
        return not is_empty(self.raw) or bool(self.reason or self.reviewer)


@dataclass
class Review:
    file: str
    sheet: str
    rows: list[ReviewRow]
    value_column: str  # the 核定值 column's letter, for problem locations
    warnings: list[Problem] = field(default_factory=list)


def _open(path: Path):
    try:
        size = path.stat().st_size
        safety.check_size(size)
        data = path.read_bytes()
        if data[:4] == safety.ZIP_MAGIC:
            safety.check_zip(data)
        return python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except FileNotFoundError:
        raise ReviewError(f"找不到核定表 {path}：请写 qz score 生成的 核定表.xlsx 的路径") from None
    except safety.Unsafe as exc:
        raise ReviewError(f"核定表 {path} 被拒收：{exc.detail}") from None
    except (OSError, python_calamine.CalamineError, ValueError) as exc:
        raise ReviewError(
            f"无法读取核定表 {path}（{type(exc).__name__}）：请用 Excel/WPS/LibreOffice 打开并另存为 .xlsx 后重试"
        ) from None


def read_review(path: Path, rules: Rules) -> Review:
    """The filled rows of a 核定表 (.xlsx/.xls/.ods, any name, rows in any order, any of
    them deleted). Raises ReviewError when the file as a whole cannot be used."""
    book = _open(path)
    meta = workbook_meta(book)
    if meta.get("kind") and meta["kind"] != KIND:
        raise ReviewError(f"{path.name} 不是核定表（是{meta['kind'] or '其他文件'}）：请写 qz score 生成的 核定表.xlsx")
    if meta.get("year") and meta["year"] != str(rules.year):
        raise ReviewError(
            f"{path.name} 是{meta['year']}年度的核定表，本次按{rules.year}年度规则评分：请使用本年度的核定表"
        )
    sheet = SHEET if SHEET in book.sheet_names else None
    for name in ([sheet] if sheet else []) + [n for n in book.sheet_names if n not in (SHEET, form.META_SHEET)]:
        rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        for head, row in enumerate(rows[:HEADER_SCAN_ROWS]):
            texts = [as_text(c).strip() for c in row]
            if "单位名称" in texts and "核定值" in texts and ("指标代码" in texts or "指标" in texts):
                review = Review(path.name, name, [], "", [])
                _rows(review, rows, head, texts)
                _file_warnings(review, meta, rules)
                return review
    raise ReviewError(
        f"{path.name} 中找不到“{SHEET}”表及其表头（单位名称、指标代码、核定值、核定理由、核定人）："
        f"请使用 qz score 生成的 核定表.xlsx，不要删除表头"
    )


def _rows(review: Review, rows: list[list], head: int, header: list[str]) -> None:
    from xlsxwriter.utility import xl_col_to_name

    at = {name: header.index(name) for name in (*COLUMNS, "指标") if name in header}
    review.value_column = xl_col_to_name(at["核定值"])

    def cell(row: list, name: str):
        k = at.get(name)
        return row[k] if k is not None and k < len(row) else None

    for r in range(head + 1, len(rows)):
        row = rows[r]
        entry = ReviewRow(
            row=r + 1,
            town=clean_name(cell(row, "单位名称")),
            indicator=as_text(cell(row, "指标代码")).strip() or as_text(cell(row, "指标")).strip(),
            label=as_text(cell(row, "指标")).strip(),
            self_text=as_text(cell(row, "自报值")).strip(),
            raw=cell(row, "核定值"),
            reason=as_text(cell(row, "核定理由")).strip(),
            reviewer=as_text(cell(row, "核定人")).strip(),
        )
        if entry.filled and (entry.town or entry.indicator):
            review.rows.append(entry)


def _file_warnings(review: Review, meta: dict[str, str], rules: Rules) -> None:
    if not meta:
        review.warnings.append(Problem("REVIEW_NO_METADATA", file=review.file, sheet=review.sheet))
    elif meta.get("rules_fingerprint") != rules.fingerprint:
        review.warnings.append(
            Problem(
                "REVIEW_RULES_CHANGED",
                file=review.file,
                sheet=review.sheet,
                detail=f"{meta.get('rules_fingerprint')}，当前 {rules.fingerprint}",
            )
        )


def self_report_texts(rules: Rules, values: pd.DataFrame) -> pd.DataFrame:
    """The 自报值 as the 核定表 shows it: each accepted value formatted, "" where none."""
    return pd.DataFrame(
        {
            code: format_values(values[code], ind.type, ind.unit).where(values[code].notna(), "")
            for code, ind in rules.catalog.items()
        },
        index=values.index,
    )


@dataclass(frozen=True)
class Reviewed:
    """A reviewed value applied: for 核定记录 and the 评分明细."""

    town: str
    indicator: str
    self_text: str
    value_text: str
    reason: str
    reviewer: str


@dataclass
class Applied:
    values: pd.DataFrame  # the values frame with the reviewed values in place
    notes: pd.DataFrame
    records: list[Reviewed]
    problems: list[Problem]
    #: (town, indicator) → (row, problem text): what to carry into the next 核定表
    carried: dict[tuple[str, str], tuple[ReviewRow, str]]
    #: filled rows that match no scored town × indicator, carried with their problem
    stray: list[tuple[ReviewRow, str]]

    @property
    def reviewed(self) -> dict[str, set[str]]:
        """town → the indicators given a reviewed value."""
        by_town: dict[str, set[str]] = {}
        for r in self.records:
            by_town.setdefault(r.town, set()).add(r.indicator)
        return by_town


def apply_review(
    review: Review,
    rules: Rules,
    values: pd.DataFrame,
    notes: pd.DataFrame,
    self_texts: pd.DataFrame,
    known_towns: set[str],
) -> Applied:
    """Reviewed values in place of the self-reported ones (only where a row is valid).
    ``known_towns``: the towns file's towns; ``values``' index: the towns scored;
    ``self_texts``: :func:`self_report_texts` of the self-reported values."""
    applied = Applied(values.copy(), notes.copy(), [], list(review.warnings), {}, [])
    by_label = {ind.label: code for code, ind in rules.catalog.items()}
    seen: dict[tuple[str, str], ReviewRow] = {}
    for row in sorted(review.rows, key=lambda r: r.row):
        code = (
            row.indicator if row.indicator in rules.catalog else by_label.get(row.indicator) or by_label.get(row.label)
        )
        label = rules.catalog[code].label if code else row.label or row.indicator
        where = {
            "file": review.file,
            "sheet": review.sheet,
            "cell": f"{review.value_column}{row.row}",
            "town": row.town,
            "indicator": code or row.indicator,
            "label": label,
            "value": as_text(row.raw).strip(),
        }
        key = (row.town, code or row.indicator)
        previous = seen.get(key)
        if previous is not None and previous.raw == row.raw and previous.reason == row.reason:
            continue  # the same row twice (copied, or filtered views pasted back)
        problem = _row_problem(row, code, rules, self_texts, known_towns, previous, where)
        if problem is not None:
            applied.problems.append(problem)
        if problem is not None and problem.code != "REVIEW_STALE":
            if code and row.town in self_texts.index:
                applied.carried.setdefault(key, (row, problem.message))
            else:
                applied.stray.append((row, problem.message))
            continue
        applied.carried[key] = (row, problem.message if problem else "")
        if is_empty(row.raw):
            continue  # a reason or a name without a value: kept, nothing to apply
        seen[key] = row
        assert code is not None  # rows without a known indicator were set aside above
        ind = rules.catalog[code]
        value = parse_value(row.raw, ind.type, rules.spec.settings.count_max, ind.domain).value
        applied.values.at[row.town, code] = value
        current, shown = self_texts.at[row.town, code], format_one(value, ind.type, ind.unit)
        applied.notes.at[row.town, code] = f"自报{current or '未填报'}，核定{shown}（理由：{row.reason}）"
        applied.records.append(Reviewed(row.town, code, current, shown, row.reason, row.reviewer))
    town_at = {town: k for k, town in enumerate(values.index)}
    applied.records.sort(key=lambda r: (town_at[r.town], rules.position[r.indicator]))  # whatever the rows' order
    return applied


def _row_problem(
    row: ReviewRow,
    code: str | None,
    rules: Rules,
    self_texts: pd.DataFrame,
    known_towns: set[str],
    previous: ReviewRow | None,
    where: dict,
) -> Problem | None:
    """What is wrong with one filled row, or None. REVIEW_STALE is the one problem that
    does not stop the value from applying."""
    if row.town not in known_towns:
        return Problem("REVIEW_UNKNOWN_TOWN", **where)
    if code is None:
        return Problem("REVIEW_UNKNOWN_INDICATOR", **where)
    if row.town not in self_texts.index:
        return Problem("REVIEW_NOT_SCORED", **where)
    if is_empty(row.raw):
        return None
    if not row.reason:
        return Problem("REVIEW_NO_REASON", **where)
    try:
        parse_value(row.raw, rules.catalog[code].type, rules.spec.settings.count_max, rules.catalog[code].domain)
    except ValueRejected as exc:
        return Problem("REVIEW_INVALID_VALUE", **{**where, "detail": exc.message})
    if previous is not None:
        return Problem("REVIEW_DUPLICATE", **{**where, "detail": f"第{previous.row}行"})
    current = self_texts.at[row.town, code]
    if row.self_text != current:
        return Problem(
            "REVIEW_STALE",
            **{**where, "detail": f"核定表中的自报值是“{row.self_text or '空'}”，现在是“{current or '空'}”"},
        )
    return None


def review_records(rules: Rules, applied: Applied, before: ScoreResult, after: ScoreResult) -> pd.DataFrame:
    """核定记录: each applied value with its item's points and the total before and after."""
    item_of = {ind.id: item for item in rules.items for ind in item.indicators}
    rows = []
    for r in applied.records:
        item = item_of[r.indicator]
        rows.append(
            {
                "单位名称": r.town,
                "考核项目": item.name,
                "指标": rules.catalog[r.indicator].label,
                "自报值": r.self_text or "未填报",
                "核定值": r.value_text,
                "核定理由": r.reason,
                "核定人": r.reviewer,
                "核定前该项得分": points_number(before.summary.at[r.town, item.number]),
                "核定后该项得分": points_number(after.summary.at[r.town, item.number]),
                "核定前总分": points_number(before.summary.at[r.town, "总分"]),
                "核定后总分": points_number(after.summary.at[r.town, "总分"]),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "单位名称",
            "考核项目",
            "指标",
            "自报值",
            "核定值",
            "核定理由",
            "核定人",
            "核定前该项得分",
            "核定后该项得分",
            "核定前总分",
            "核定后总分",
        ],
    )


def reviewed_mask(values: pd.DataFrame, reviewed: dict[str, set[str]]) -> pd.DataFrame:
    """True where the 考核组 gave a value (:attr:`Applied.reviewed`)."""
    mask = pd.DataFrame(False, index=values.index, columns=values.columns)
    for town, codes in reviewed.items():
        mask.loc[town, list(codes)] = True
    return mask
