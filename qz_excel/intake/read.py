"""Returned workbooks → one tidy values frame + every problem, never losing a file.

Each file is read once into memory (inputs are never opened for writing), its format
decided from its first bytes, its town from the hidden metadata (falling back to the
pre-filled 单位名称 cell), its values normalised by :mod:`qz_excel.rules.values`. Every file ends
with exactly one status: 已评分 / 已被取代 / 未采用 / 已跳过.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import python_calamine
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

from qz_excel.common.parallel import map_isolated
from qz_excel.common.problems import REJECTED, SCORED, SKIPPED, SUPERSEDED, Problem
from qz_excel.common.towns import clean_name
from qz_excel.intake import cellfacts, safety
from qz_excel.intake.changes import Change, changes_between, describe
from qz_excel.rules.ruleset import Rules
from qz_excel.rules.values import ValueRejected, format_number, is_empty, parse_value
from qz_excel.template import form

OLE_MAGIC = cellfacts.OLE_MAGIC
# An OLE container holding these streams is an encrypted OOXML file (MS-OFFCRYPTO).
ENCRYPTED_STREAMS = ("EncryptedPackage".encode("utf-16-le"), "EncryptionInfo".encode("utf-16-le"))
HEADER_SCAN_ROWS = 30
#: `qz fetch`'s record of the messages it read, kept in the inbox it fills (never scored)
FETCH_LOG = ".qz-收取记录.jsonl"
DTYPES = {"bool": "boolean", "count": "Int64", "percent": "Float64", "number": "Float64", "choice": "object"}


@dataclass(slots=True)
class Returned:
    """One input file after reading.

    What the form held is kept compact, one entry per indicator in the rules' order: a
    province's thousands of records come back from the worker processes through a pipe and
    stay in memory until scored. :attr:`values` and :attr:`cells` give them by indicator."""

    file: str
    status: str = REJECTED
    town: str = ""
    filled_on: str = ""  # 填报日期 as ISO text, for choosing among duplicates
    town_cell: str = ""  # the pre-filled 单位名称 as found in the sheet
    mtime: float = 0.0
    codes: tuple[str, ...] = ()  # the rules' indicator ids (one tuple shared by every file)
    found: tuple = ()  # canonical value per indicator; None where empty, invalid or absent
    rows: tuple[int, ...] = ()  # 1-based sheet row of each indicator's value cell; 0 if absent
    sheet: str = ""  # the sheet the form was found on
    value_column: str = ""  # the value cells' column letter
    notes: dict[str, str] = field(default_factory=dict)  # indicator → how it was read
    #: each indicator's cell as the town typed it (None where absent), and 填报人, 联系电话,
    #: 填报日期: a correction request gives the town back exactly what it typed
    typed: tuple = ()
    header: tuple = ()
    template_made: str = ""  # the hidden metadata's generated_at, kept in a correction request
    problems: list[Problem] = field(default_factory=list)
    reason: str = ""
    changes: list[Change] = field(default_factory=list)  # a superseded file: what the accepted one changed

    @property
    def values(self) -> dict[str, object]:
        """indicator → canonical value, for the indicators that have one."""
        return {code: v for code, v in zip(self.codes, self.found) if v is not None}

    @property
    def cells(self) -> dict[str, str]:
        """indicator → A1 address of its value cell, for the indicators found."""
        return {code: f"{self.value_column}{r}" for code, r in zip(self.codes, self.rows) if r}

    def release_values(self) -> None:
        """Drop what the form held once scoring (and the correction request) has what it
        needs from it."""
        self.found, self.rows, self.notes, self.typed, self.header = (), (), {}, (), ()

    def problem(self, code: str, **kw) -> Problem:
        p = Problem(code, file=self.file, town=kw.pop("town", self.town), **kw)
        self.problems.append(p)
        return p


def as_text(raw: object) -> str:
    if isinstance(raw, float):
        return format_number(raw)
    if isinstance(raw, (datetime, date)):
        return raw.isoformat()
    return "" if raw is None else str(raw)


def _open(data: bytes, ret: Returned):
    """The workbook, or None with the reason recorded."""
    if data[:8] == OLE_MAGIC and any(s in data for s in ENCRYPTED_STREAMS):
        ret.problem("ENCRYPTED")
        return None
    if data[:4] != safety.ZIP_MAGIC and data[:8] != OLE_MAGIC:
        ret.status, ret.reason = SKIPPED, "不是工作簿"
        ret.problem("NOT_WORKBOOK")
        return None
    try:
        return python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except python_calamine.PasswordError:
        ret.problem("ENCRYPTED")
    except Exception as exc:  # calamine's errors for broken zips, XML, records
        # calamine's format sniffing hides an .xls's own 「password」 error
        if data[:8] == OLE_MAGIC and cellfacts.is_encrypted_xls(data):
            ret.problem("ENCRYPTED")
        else:
            ret.problem("CORRUPT", detail=f"{type(exc).__name__}: {str(exc)[:120]}")
    return None


def _read_sheet(book, name: str) -> list[list]:
    return book.get_sheet_by_name(name).to_python(skip_empty_area=False)


def workbook_meta(book) -> dict[str, str]:
    """The hidden metadata sheet of an open workbook ({} when it has none)."""
    if form.META_SHEET not in book.sheet_names:
        return {}
    rows = _read_sheet(book, form.META_SHEET)
    if not rows or as_text(rows[0][0]) != form.META_MARK:
        return {}
    return {as_text(r[0]): as_text(r[1]) for r in rows[1:] if len(r) >= 2}


INVALID_NOTE = "填写“{}”，无效"  # the note of a value that could not be read


def invalid_note(raw) -> str:
    return INVALID_NOTE.format(as_text(raw))


def is_invalid_note(note: object) -> bool:
    """Whether a note says the cell held something that could not be read (not a blank)."""
    head, _, tail = INVALID_NOTE.partition("{}")
    return isinstance(note, str) and note.startswith(head) and note.endswith(tail)


def read_meta(path: Path) -> dict[str, str]:
    """The hidden metadata of a workbook we generated ({} when it has none or is unreadable)."""
    try:
        safety.check_size(path.stat().st_size)
        return workbook_meta(python_calamine.CalamineWorkbook.from_path(str(path)))
    except (safety.Unsafe, OSError, python_calamine.CalamineError):
        return {}


def _texts(row: list) -> list[str]:
    return [as_text(c).strip() for c in row]


def _find_header(rows: list[list]) -> tuple[int, int, int] | None:
    for r, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        texts = _texts(row)
        if form.CODE_HEADER in texts and form.VALUE_HEADER in texts:
            return r, texts.index(form.CODE_HEADER), texts.index(form.VALUE_HEADER)
    return None


def _labelled(rows: list[list], label: str, texts_above: list[list[str]]):
    """The first non-empty cell right of ``label`` in the rows above the table (whose texts
    are ``texts_above``)."""
    for row, texts in zip(rows, texts_above):
        if label in texts:
            for cell in row[texts.index(label) + 1 :]:
                if not is_empty(cell):
                    return cell
    return None


def _form_rows(book) -> tuple[str, list[list], tuple[int, int, int]] | None:
    names = [form.FORM_SHEET] + [n for n in book.sheet_names if n not in (form.FORM_SHEET, form.META_SHEET)]
    for name in names:
        if name in book.sheet_names:
            rows = _read_sheet(book, name)
            header = _find_header(rows)
            if header:
                return name, rows, header
    return None


def read_return(path: Path, rules: Rules, display_name: str | None = None) -> Returned:
    """Read one returned file. Never raises for a bad file: the result says what is wrong.
    Call it through :func:`read_returns` for files from outside: that adds the worker
    process that contains what a native reader might do to a hostile file."""
    ret = Returned(file=display_name or path.name)
    if path.name.startswith("~$"):
        ret.status, ret.reason = SKIPPED, "临时锁定文件"
        ret.problem("LOCK_FILE")
        return ret
    try:
        stat = path.stat()
        ret.mtime = stat.st_mtime
        safety.check_size(stat.st_size)
        with open(path, "rb") as fh:  # read-only, once; the parser works on this copy
            data = fh.read()
        checked = safety.check_zip(data) if data[:4] == safety.ZIP_MAGIC else None
    except safety.Unsafe as exc:
        ret.problem(exc.code, detail=exc.detail)
        return ret
    except OSError as exc:
        ret.problem("CORRUPT", detail=f"{UNREADABLE}{exc.strerror or exc}")
        return ret
    book = _open(data, ret)
    if book is None:
        return ret
    try:
        _read_form(book, data, rules, ret, checked)
    except python_calamine.CalamineError as exc:  # a malformed part found reading cells
        ret.problem("CORRUPT", detail=f"{type(exc).__name__}: {str(exc)[:120]}")
        ret.status = REJECTED
    except Exception as exc:  # our own bug on a file nobody foresaw: cost one file, not the batch
        ret.problem("READ_FAILED", detail=f"{type(exc).__name__}: {str(exc)[:120]}")
        ret.status = REJECTED
    return ret


def _read_form(book, data: bytes, rules: Rules, ret: Returned, checked: safety.Checked | None = None) -> None:
    located = _form_rows(book)
    if located is None:
        ret.problem("NO_FORM_SHEET")
        return
    sheet, rows, (head, code_col, value_col) = located
    meta = workbook_meta(book)
    above = [_texts(row) for row in rows[:head]]  # the labelled cells above the table, read once
    town_cell = ret.town_cell = clean_name(_labelled(rows, form.TOWN_LABEL, above))
    filled = _labelled(rows, form.DATE_LABEL, above)
    # to the day: Excel stores a datetime, LibreOffice's .ods a date; the same day must tie
    ret.filled_on = (
        (filled.date() if isinstance(filled, datetime) else filled).isoformat()
        if isinstance(filled, (date, datetime))
        else as_text(filled)
    )
    ret.header = (_labelled(rows, form.FILLER_LABEL, above), _labelled(rows, form.PHONE_LABEL, above), filled)
    if meta:
        ret.town = clean_name(meta.get("town"))
        ret.template_made = meta.get("generated_at", "")
        if meta.get("year") != str(rules.year):
            ret.problem(
                "WRONG_TEMPLATE",
                detail=f"这是{meta.get('year') or '未知'}年度的模板，请使用{rules.year}年度下发的模板重新填写",
            )
            return
        if meta.get("rules_fingerprint") != rules.fingerprint:
            ret.problem("RULES_CHANGED", detail=f"{meta.get('rules_fingerprint')}，当前 {rules.fingerprint}")
        if town_cell and town_cell != ret.town:
            ret.problem("TOWN_MISMATCH", sheet=sheet, detail=f"表内单位名称是“{town_cell}”")
    elif town_cell:
        ret.town = town_cell
        ret.problem("NO_METADATA", sheet=sheet)
    if not ret.town:
        ret.problem("NO_TOWN", sheet=sheet)
        return

    codes, position = rules.codes, rules.position
    found: list = [None] * len(codes)
    typed: list = [None] * len(codes)
    rows_of: list[int] = [0] * len(codes)
    looked_at: dict[str, tuple[str, bool]] = {}  # cell → (indicator, empty): calamine cannot tell all
    filled = 0
    value_letters = xl_col_to_name(value_col)
    for r in range(head + 1, len(rows)):
        row = rows[r]
        text = as_text(row[code_col]).strip() if code_col < len(row) else ""
        if not text:
            continue
        k = position.get(text)
        if k is not None and codes[k] in rules.assessed:
            continue  # the 考核组 awards these points: a town cannot fill them in
        if k is None:
            if text.isascii() and "_" in text:  # looks like an indicator code, not a note
                ret.problem("UNKNOWN_INDICATOR", sheet=sheet, cell=xl_rowcol_to_cell(r, code_col), indicator=text)
            continue
        code, cell = codes[k], f"{value_letters}{r + 1}"  # the rules' own id object: shared
        if rows_of[k]:
            ret.problem("DUPLICATE_INDICATOR", sheet=sheet, cell=cell, indicator=code, label=rules.catalog[code].label)
            continue
        rows_of[k] = r + 1
        raw = typed[k] = row[value_col] if value_col < len(row) else None
        empty = is_empty(raw)
        filled += not empty
        # empty cells are judged with what the file says about them (_check_looked_at)
        found[k] = None if empty else _take_value(ret, rules, code, raw, sheet, cell)
        if empty or (rules.catalog[code].type == "percent" and _is_one(raw)):
            looked_at[cell] = (code, empty)
    ret.codes, ret.found, ret.rows, ret.typed = codes, tuple(found), tuple(rows_of), tuple(typed)
    ret.sheet, ret.value_column = sheet, value_letters
    if any(rows_of) and not filled and not _has_formulas(data, sheet, looked_at, checked):
        # a blank template sent back (or the templates folder scored by mistake): one
        # problem, not one per indicator, and the town has still not reported
        ret.problem("UNFILLED", sheet=sheet)
        ret.reason = "模板未填写"
        return
    _check_looked_at(ret, rules, data, sheet, looked_at, checked)
    for code, r in zip(codes, rows_of):
        if not r and code not in rules.assessed:
            ret.problem("MISSING_INDICATOR", sheet=sheet, indicator=code, label=rules.catalog[code].label)
    ret.status = SCORED


def _is_one(raw) -> bool:
    return isinstance(raw, (int, float)) and not isinstance(raw, bool) and raw == 1


def _has_formulas(data: bytes, sheet: str, cells: dict, checked: safety.Checked | None) -> bool:
    return any(f.formula or f.error for f in cellfacts.inspect(data, sheet, list(cells), checked).values())


def _check_looked_at(
    ret: Returned,
    rules: Rules,
    data: bytes,
    sheet: str,
    looked_at: dict[str, tuple[str, bool]],
    checked: safety.Checked | None = None,
) -> None:
    """Empty-looking cells: really empty (MISSING_VALUE), or a formula whose result is an
    error or was never calculated, each its own problem. A 1 in a rate cell formatted as a
    percentage is 100% as the town sees it: no note that it was read as a fraction."""
    facts = cellfacts.inspect(data, sheet, list(looked_at), checked)
    for cell, (code, empty) in looked_at.items():
        fact = facts.get(cell, cellfacts.CellFacts())
        if not empty:
            if fact.percent:
                ret.notes.pop(code, None)
            continue
        where = {"sheet": sheet, "cell": cell, "indicator": code, "label": rules.catalog[code].label}
        if fact.error:
            ret.problem("FORMULA_ERROR", value=fact.error, **where)
            ret.notes[code] = f"公式结果为错误（{fact.error}）"
        elif fact.formula and not fact.cached:
            ret.problem("FORMULA_UNCALCULATED", **where)
            ret.notes[code] = "公式未计算"
        else:
            ret.problem("MISSING_VALUE", **where)


def _take_value(ret: Returned, rules: Rules, code: str, raw, sheet: str, cell: str):
    """The canonical value of one cell that is not empty, or None with the problem recorded."""
    ind = rules.catalog[code]
    where = {"sheet": sheet, "cell": cell, "indicator": code, "label": ind.label}
    try:
        parsed = parse_value(raw, ind.type, rules.spec.settings.count_max, ind.domain)
    except ValueRejected as exc:
        ret.problem(exc.code, value=as_text(raw), detail=exc.message, **where)
        ret.notes[code] = invalid_note(raw)  # so 得分说明 tells wrong from blank
        return None
    if parsed.note:
        ret.notes[code] = parsed.note
    return parsed.value


UNREADABLE = "无法读取："  # the file could not be read from disk this time


def is_settled(ret: Returned) -> bool:
    """Whether the file's content alone decided this record, so the same content under the
    same name reads the same next time: not a worker that crashed or ran out of time, not
    a read the disk refused."""
    return not any(
        p.code == "READ_FAILED" or (p.code == "CORRUPT" and p.detail.startswith(UNREADABLE)) for p in ret.problems
    )


def _read_chunk(jobs: list[tuple[Path, str]], rules: Rules) -> list[Returned]:
    return [read_return(path, rules, name) for path, name in jobs]


def _failed(job: tuple[Path, str], reason: str) -> Returned:
    path, name = job
    ret = Returned(file=name, status=REJECTED)
    detail = "读取超时" if reason == "timeout" else "读取进程异常退出，文件内容可能有问题"
    ret.problem("READ_FAILED", detail=detail)
    return ret


def read_returns(paths: list[Path], rules: Rules, names: list[str] | None = None, progress=None) -> list[Returned]:
    """Read many files in worker processes (memory-capped, timed); results in order."""
    jobs = list(zip(paths, names or [p.name for p in paths]))
    return map_isolated(_read_chunk, jobs, rules, on_failure=_failed, progress=progress)


def inbox_files(inbox: Path) -> list[Path]:
    """Every file under the inbox, in a stable order (hidden dot-files included: nothing
    in the inbox goes unreported), but `qz fetch`'s own log."""
    return sorted(
        (p for p in inbox.rglob("*") if p.is_file() and not (p.name == FETCH_LOG and p.parent == inbox)),
        key=lambda p: p.relative_to(inbox).as_posix(),
    )


def choose_among_duplicates(returns: list[Returned], towns: list[str], rules: Rules) -> list[Returned]:
    """Mark unknown towns rejected and all but one file per town superseded; returns the
    accepted ones in towns-file order. The latest 填报日期 wins, then the newest file.
    Each superseded file's :attr:`Returned.changes` says what the accepted one changed."""
    known = set(towns)
    name_lengths = sorted({len(t) for t in known if t}, reverse=True)
    by_town: dict[str, list[Returned]] = {}
    for ret in returns:
        if ret.status != SCORED:
            continue
        if ret.town not in known:
            ret.status = REJECTED
            ret.problem("UNKNOWN_TOWN")
            continue
        _check_file_name(ret, known, name_lengths)
        by_town.setdefault(ret.town, []).append(ret)
    accepted = []
    for town in towns:
        group = by_town.get(town)
        if not group:
            continue
        group.sort(key=lambda r: (r.filled_on, r.mtime, r.file), reverse=True)
        winner = group[0]
        for loser in group[1:]:
            loser.status = SUPERSEDED
            loser.changes = changes_between(rules, loser, winner)
            loser.reason = f"已由 {winner.file} 取代；{describe(loser.changes)}"
            # what was wrong in a file the town has since replaced is history, not a problem
            loser.problems = []
            loser.problem("DUPLICATE", detail=f"{winner.file}；{describe(loser.changes)}")
        accepted.append(winner)
    return accepted


def _check_file_name(ret: Returned, towns: set[str], name_lengths: list[int]) -> None:
    """A file named after another town but carrying this town's workbook is most likely
    another town's return sent with the wrong attachment: score it as what it is (the
    metadata decides), and say so. (The file name's substrings are looked up among the
    towns, longest first: linear in the number of files, however many towns there are.)"""
    stem = Path(ret.file).stem
    if ret.town in stem:
        return
    named = next(
        (stem[i : i + n] for n in name_lengths for i in range(len(stem) - n + 1) if stem[i : i + n] in towns), None
    )
    if named:
        ret.problem("TOWN_MISMATCH", detail=f"文件名指向“{named}”")


def values_frames(accepted: list[Returned], rules: Rules) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The scoring engine's input: values (typed, NA where empty/invalid) and notes."""
    index = pd.Index([r.town for r in accepted], name="单位名称")
    columns = zip(*(r.found for r in accepted)) if accepted else ([] for _ in rules.codes)
    values = pd.DataFrame(
        {
            code: pd.array(list(column), dtype=DTYPES[rules.catalog[code].type])
            for code, column in zip(rules.codes, columns)
        },
        index=index,
    )
    notes = pd.DataFrame(
        {code: [r.notes.get(code, "") for r in accepted] for code in rules.codes}, index=index, dtype=object
    )
    return values, notes
