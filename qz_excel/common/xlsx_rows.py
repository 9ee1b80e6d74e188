"""Long plain tables streamed into a constant-memory worksheet, a column at a time.

The audit trail (评分明细) and the 核定表 of 2,000 towns are 88,000 and 96,000 rows; cell
by cell, XlsxWriter spends about 5 µs a cell checking, escaping and formatting what is
the same few hundred strings again and again — more than all the rest of a run's main
process. Here each distinct string is escaped once, by XlsxWriter's own functions, and
each column's cells are made in one pass; the rows go into the worksheet's own row file,
exactly where and as XlsxWriter would have put them (a test compares the two sheets'
XML byte for byte, so a new XlsxWriter that writes cells differently is caught there).

Only what those tables need: strings, numbers and formatted blanks, in rows without a
height or format of their own, below everything written before them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xlsxwriter.utility import _preserve_whitespace, _utf16_len, _utf16_truncate, xl_col_to_name
from xlsxwriter.xmlwriter import XMLwriter

ROWS_PER_WRITE = 2_000  # rows joined into one string before it goes to the row file
_ESCAPER = XMLwriter()


@dataclass(frozen=True)
class Texts:
    """A column of strings: ``codes[i]`` indexes ``uniques``, ``styles`` the format of
    each unique (None: the column's). Code -1 is no value: an empty string cell, as
    ``write_string("")`` writes, or no cell at all with ``skip_missing``."""

    codes: Sequence[int]
    uniques: Sequence[str]
    styles: Sequence[object | None]
    skip_missing: bool = False


@dataclass(frozen=True)
class Numbers:
    """A column of numbers; NaN is a blank, written only when ``blank`` gives it a format.
    ``styles``: a format for each value, in place of ``style`` (None: ``style``)."""

    values: Sequence[float]
    style: object | None = None
    blank: object | None = None
    styles: Sequence[object | None] | None = None


def texts(
    values: Sequence[str], style: object | None = None, quoted: object | None = None, skip_empty: bool = False
) -> Texts:
    """Strings as written by ``write_string``; ``quoted``: the format of one that starts like
    a formula (FORMULA_START), so Excel shows it as typed; ``skip_empty``: no cell for ''."""
    index: dict[str, int] = {}
    codes = [-1 if skip_empty and not v else index.setdefault(v, len(index)) for v in values]
    uniques = list(index)
    starts = ("=", "+", "-", "@")
    styles = [quoted if quoted is not None and u.startswith(starts) else style for u in uniques]
    return Texts(codes, uniques, styles, skip_empty)


def repeated(text: str, count: int, style: object | None = None) -> Texts:
    """One string in every row."""
    return Texts([0] * count, [text], [style])


def _style_attr(ws, col: int, style) -> str:
    """The cell's s attribute as XlsxWriter writes it: its own format, else the column's."""
    if style is None:
        info = ws.col_info.get(col)
        style = info.column_format if info is not None else None
    return f' s="{style._get_xf_index()}"' if style is not None else ""


def _text_cell(ws, col: int, text: str, style) -> str:
    """Everything of a string cell after its row number: XlsxWriter's inline string."""
    if len(text) > ws.xls_strmax // 2 and _utf16_len(text) > ws.xls_strmax:
        text = _utf16_truncate(text, ws.xls_strmax)
    text = _ESCAPER._escape_control_characters(text)
    space = ' xml:space="preserve"' if _preserve_whitespace(text) else ""
    return f'"{_style_attr(ws, col, style)} t="inlineStr"><is><t{space}>{_ESCAPER._escape_data(text)}</t></is></c>'


def _column_cells(ws, col: int, column, rows: range) -> list[str]:
    """Each row's cell of one column, as XML ('' where the row has none)."""
    start = f'<c r="{xl_col_to_name(col)}'
    if isinstance(column, Numbers):
        blank = f'"{_style_attr(ws, col, column.blank)}/>' if column.blank is not None else None
        attrs = {id(column.style): _style_attr(ws, col, column.style)}
        for style in column.styles or ():
            if id(style) not in attrs:
                attrs[id(style)] = _style_attr(ws, col, style if style is not None else column.style)
        styles = column.styles or [column.style] * len(column.values)
        return [
            (f"{start}{r}{blank}" if blank else "") if v != v else f'{start}{r}"{attrs[id(s)]}><v>{v:.16G}</v></c>'
            for r, v, s in zip(rows, column.values, styles)
        ]
    tails = [_text_cell(ws, col, u, s) for u, s in zip(column.uniques, column.styles)]
    tails.append("" if column.skip_missing else _text_cell(ws, col, "", None))  # code -1
    return [f"{start}{r}{tails[k]}" if tails[k] else "" for r, k in zip(rows, column.codes)]


def stream_rows(ws, first_row: int, columns: Sequence[Texts | Numbers | None], count: int, first_col: int = 0) -> None:
    """Rows ``first_row`` … ``first_row + count - 1`` (0-based) of ``ws`` from ``columns``
    (one per column from ``first_col``; None: no cells there). In a constant-memory
    worksheet nothing may have been written at or below ``first_row``; writing may go on
    below. A worksheet kept in memory gets the cells through XlsxWriter's own calls."""
    if count <= 0:
        return
    if not ws.constant_memory:  # a small sheet kept in memory: XlsxWriter's own calls
        for i in range(count):
            write_cells(ws, first_row + i, columns, i, first_col)
        return
    last_row = first_row + count - 1
    if first_row < ws.previous_row or (ws.table and first_row == ws.previous_row):
        raise ValueError(f"row {first_row + 1} is above what the worksheet has written")
    if ws.excel_version != 2007 or ws.default_row_height != ws.original_row_height:
        raise ValueError("stream_rows writes rows as an Excel 2007 worksheet of default row height has them")
    if any(first_row <= r <= last_row for r in ws.row_info):
        raise ValueError("stream_rows writes rows without a height or format of their own")
    present = [c for c, column in enumerate(columns) if column is not None]
    if not present:
        return
    # what XlsxWriter holds of its current row goes out first, as its next write would do
    ws._write_single_row(first_row)
    ws._check_dimensions(first_row, first_col + present[0])
    ws._check_dimensions(last_row, first_col + present[-1])
    numbers = range(first_row + 1, last_row + 2)  # XML rows count from 1
    cells = [_column_cells(ws, first_col + c, columns[c], numbers) for c in present]
    fh = ws.fh
    for start in range(0, count, ROWS_PER_WRITE):
        rows = ("".join(cell[i] for cell in cells) for i in range(start, min(count, start + ROWS_PER_WRITE)))
        # a row without cells is not written at all, as in XlsxWriter
        fh.write("".join(f'<row r="{n}">{row}</row>' for n, row in zip(numbers[start:], rows) if row))
    ws.previous_row = last_row + 1  # XlsxWriter's writing goes on from the next row


def sliced(column: Texts | Numbers | None, start: int, stop: int) -> Texts | Numbers | None:
    """Rows ``start`` … ``stop - 1`` of a column."""
    if isinstance(column, Texts):
        return Texts(column.codes[start:stop], column.uniques, column.styles, column.skip_missing)
    if isinstance(column, Numbers):
        styles = column.styles[start:stop] if column.styles is not None else None
        return Numbers(column.values[start:stop], column.style, column.blank, styles)
    return None


def write_cells(ws, row: int, columns: Sequence[Texts | Numbers | None], i: int, first_col: int = 0) -> None:
    """Item ``i`` of each column written at ``row`` through XlsxWriter's own calls, for a
    row that :func:`stream_rows` does not take (one with a height of its own)."""
    for c, column in enumerate(columns, start=first_col):
        if isinstance(column, Texts):
            k = column.codes[i]
            if k >= 0:
                ws.write_string(row, c, column.uniques[k], column.styles[k])
            elif not column.skip_missing:
                ws.write_string(row, c, "")
        elif isinstance(column, Numbers):
            v = column.values[i]
            if v != v:
                if column.blank is not None:
                    ws.write_blank(row, c, None, column.blank)
            else:
                style = column.styles[i] if column.styles is not None else None
                ws.write_number(row, c, v, style if style is not None else column.style)
