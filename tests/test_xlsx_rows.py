"""Streamed rows (common.xlsx_rows) are the rows XlsxWriter writes itself, byte for byte."""

from __future__ import annotations

import io
import math
import zipfile

import pytest
import xlsxwriter
from hypothesis import given, settings
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook

from qz_excel.common.xlsx_rows import Numbers, sliced, stream_rows, texts, write_cells

TRICKY = st.sampled_from(
    [
        "",
        " 前后空格 ",
        "a & b < c > d",
        '引号"',
        "=1+1",
        "-3",
        "@x",
        "_x0041_",
        "控制\x01字符",
        "换\n行",
        "城关镇",
        "\t",
    ]
)
STRINGS = st.one_of(TRICKY, st.text(max_size=12))
NUMBERS = st.one_of(
    st.integers(-(10**9), 10**9).map(float),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.just(math.nan),
    st.sampled_from([0.1, 0.25, 1e20, -0.0, 12.5]),
)


def _books(columns_data, column_formats: list[bool], quote: bool):
    """The same table written cell by cell by XlsxWriter and streamed: the two sheets' XML."""
    out = []
    for streamed in (False, True):
        buffer = io.BytesIO()
        wb = xlsxwriter.Workbook(buffer, {"constant_memory": True, "strings_to_numbers": False})
        plain, quoted, blank = wb.add_format({"border": 1}), wb.add_format({"quote_prefix": True}), wb.add_format()
        for f in (plain, quoted, blank):
            f._get_xf_index()  # one order of formats in both books
        ws = wb.add_worksheet("表")
        for c, has in enumerate(column_formats):
            ws.set_column(c, c, 12, plain if has else None)
            ws.write_string(0, c, f"列{c}")
        rows = len(columns_data[0][1])
        if streamed:
            columns = [
                Numbers(values, None, blank if c % 2 else None, _styles(values, plain) if c % 3 == 0 else None)
                if kind == "n"
                else texts(values, None, quoted if quote else None)
                for c, (kind, values) in enumerate(columns_data)
            ]
            stream_rows(ws, 1, columns, rows)
        else:
            for r in range(rows):
                for c, (kind, values) in enumerate(columns_data):
                    v = values[r]
                    if kind == "n":
                        if v != v:
                            ws.write_blank(r + 1, c, None, blank if c % 2 else None)
                        else:
                            ws.write_number(r + 1, c, v, _styles(values, plain)[r] if c % 3 == 0 else None)
                    else:
                        ws.write_string(r + 1, c, v, quoted if quote and v.startswith(("=", "+", "-", "@")) else None)
        ws.write_string(rows + 1, 0, "合计")  # XlsxWriter's own writing goes on below
        ws.autofilter(0, 0, rows + 1, len(columns_data) - 1)
        wb.close()
        with zipfile.ZipFile(buffer) as z:
            out.append((z.read("xl/worksheets/sheet1.xml"), buffer.getvalue()))
    return out


def _styles(values, style):
    """A format of its own on every other number (as 汇总排名's 含加 cells have)."""
    return [style if k % 2 else None for k in range(len(values))]


@st.composite
def tables(draw):
    rows = draw(st.integers(1, 12))
    kinds = draw(st.lists(st.sampled_from("ns"), min_size=1, max_size=6))
    return [(k, draw(st.lists(NUMBERS if k == "n" else STRINGS, min_size=rows, max_size=rows))) for k in kinds], draw(
        st.lists(st.booleans(), min_size=len(kinds), max_size=len(kinds))
    )


@settings(max_examples=60, deadline=None)
@given(tables(), st.booleans())
def test_streamed_rows_are_xlsxwriters_own(table, quote):
    columns_data, column_formats = table
    (ours_xml, ours), (theirs_xml, _) = _books(columns_data, column_formats, quote)[::-1]
    assert ours_xml == theirs_xml
    # and a reader sees every value
    rows = CalamineWorkbook.from_filelike(io.BytesIO(ours)).get_sheet_by_name("表").to_python(skip_empty_area=False)
    for c, (kind, values) in enumerate(columns_data):
        for r, v in enumerate(values, start=1):
            if kind == "n" and v == v:
                assert rows[r][c] == float(f"{v:.16G}")  # the 16 digits XlsxWriter writes


def test_rows_already_written_are_refused():
    wb = xlsxwriter.Workbook(io.BytesIO(), {"constant_memory": True})
    ws = wb.add_worksheet()
    ws.write_string(5, 0, "x")
    with pytest.raises(ValueError, match="above"):
        stream_rows(ws, 3, [texts(["a"])], 1)
    with pytest.raises(ValueError, match="above"):
        stream_rows(ws, 5, [texts(["a"])], 1)
    ws.set_row(8, 30)
    with pytest.raises(ValueError, match="height"):
        stream_rows(ws, 7, [texts(["a", "b"])], 2)
    wb.close()


def test_a_sheet_kept_in_memory_gets_the_same_cells():
    buffer = io.BytesIO()
    wb = xlsxwriter.Workbook(buffer)
    stream_rows(wb.add_worksheet("表"), 1, [texts(["甲", "乙"]), Numbers([1.0, math.nan])], 2)
    wb.close()
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(buffer.getvalue())).get_sheet_by_name("表")
    assert sheet.to_python(skip_empty_area=False)[1:] == [["甲", 1.0], ["乙", ""]]


def test_a_row_written_cell_by_cell_between_streamed_ones():
    """write_cells writes a row as stream_rows would, through XlsxWriter's own calls."""
    books = []
    for split in (False, True):
        buffer = io.BytesIO()
        wb = xlsxwriter.Workbook(buffer, {"constant_memory": True})
        plain = wb.add_format({"border": 1})
        plain._get_xf_index()
        ws = wb.add_worksheet("表")
        columns = [texts(["甲", "=乙", "", "丁"], plain, plain), Numbers([1.0, math.nan, 3.5, 4.0], plain, plain)]
        if split:
            stream_rows(ws, 0, [sliced(c, 0, 2) for c in columns], 2)
            write_cells(ws, 2, columns, 2)
            stream_rows(ws, 3, [sliced(c, 3, 4) for c in columns], 1)
        else:
            stream_rows(ws, 0, columns, 4)
        wb.close()
        with zipfile.ZipFile(buffer) as z:
            books.append(z.read("xl/worksheets/sheet1.xml"))
    assert books[0] == books[1]
