import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qz_excel.rules.values import NOT_APPLICABLE, Parsed, ValueRejected, format_number, parse_value


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("是", True),
        ("否", False),
        ("有", True),
        ("无", False),
        ("√", True),
        ("×", False),
        ("✓", True),
        ("✗", False),
        ("Y", True),
        ("n", False),
        ("yes", True),
        ("No", False),
        ("true", True),
        ("FALSE", False),
        ("1", True),
        ("0", False),
        (1, True),
        (0.0, False),
        (True, True),
        (False, False),
        (" 是 ", True),
        ("ｙｅｓ", True),
        ("Ｙ", True),
    ],
)
def test_bool_accepted(raw, expected):
    assert parse_value(raw, "bool").value is expected


def test_bool_noncanonical_is_noted_canonical_is_not():
    assert parse_value("是", "bool").note == ""
    assert parse_value("√", "bool").note == "「√」视为“是”"


@pytest.mark.parametrize("raw", ["是的", "对", "2", 2, "", "不适用", "x"])
def test_bool_rejected(raw):
    with pytest.raises(ValueRejected) as err:
        parse_value(raw, "bool")
    assert err.value.code == "INVALID_VALUE"


@pytest.mark.parametrize(
    "raw, expected",
    [
        (3, 3),
        (3.0, 3),
        ("3", 3),
        ("3次", 3),
        ("3 条", 3),
        ("３", 3),
        ("３次", 3),
        ("0", 0),
        ("12家", 12),
        ("2.0", 2),
    ],
)
def test_count_accepted(raw, expected):
    parsed = parse_value(raw, "count")
    assert parsed.value == expected and isinstance(parsed.value, int)


@pytest.mark.parametrize(
    "raw, code",
    [
        (-1, "OUT_OF_RANGE"),
        ("-2", "OUT_OF_RANGE"),
        (2.5, "INVALID_VALUE"),
        ("2.5次", "INVALID_VALUE"),
        ("三次", "INVALID_VALUE"),
        ("many", "INVALID_VALUE"),
        (True, "INVALID_VALUE"),
    ],
)
def test_count_rejected(raw, code):
    with pytest.raises(ValueRejected) as err:
        parse_value(raw, "count")
    assert err.value.code == code


def test_true_and_one_do_not_share_a_cache_entry():
    assert parse_value(1, "count").value == 1
    with pytest.raises(ValueRejected):
        parse_value(True, "count")
    assert parse_value(1, "bool").note != parse_value(True, "bool").note


@pytest.mark.parametrize(
    "raw, expected",
    [
        (0.985, 98.5),
        (98.5, 98.5),
        ("98.5%", 98.5),
        ("98.5％", 98.5),
        ("９８.５％", 98.5),
        (1, 100.0),
        (0.99, 99.0),
        (0, 0.0),
        (100, 100.0),
        ("0.5%", 0.5),
        ("0.5", 50.0),
        (" 92 % ", 92.0),
    ],
)
def test_percent_accepted(raw, expected):
    assert parse_value(raw, "percent").value == expected


def test_percent_fraction_is_exact_after_rounding():
    # 0.99 * 100 is 98.99999999999999 in binary floating point; the reading rounds to 6 places
    assert parse_value(0.99, "percent").value == 99.0
    assert parse_value(0.995, "percent").value == 99.5


@pytest.mark.parametrize("raw", ["不适用", "无", "/", "／", " 不适用 "])
def test_percent_not_applicable(raw):
    assert parse_value(raw, "percent").value == NOT_APPLICABLE


@pytest.mark.parametrize(
    "raw, code",
    [
        (-0.1, "OUT_OF_RANGE"),
        (100.5, "OUT_OF_RANGE"),
        ("101%", "OUT_OF_RANGE"),
        ("-5%", "OUT_OF_RANGE"),
        ("百分之九十", "INVALID_VALUE"),
        ("是", "INVALID_VALUE"),
        (True, "INVALID_VALUE"),
        ("98.5%%", "INVALID_VALUE"),
    ],
)
def test_percent_rejected(raw, code):
    with pytest.raises(ValueRejected) as err:
        parse_value(raw, "percent")
    assert err.value.code == code


def test_percent_readings_are_recorded():
    assert parse_value(98.5, "percent").note == "「98.5」视为98.5%"
    assert parse_value("98.5%", "percent").note == "「98.5%」视为98.5%"
    assert parse_value(1, "percent").note == "「1」按比例读作100%"
    assert parse_value(0.985, "percent").note == ""  # what a %-formatted cell stores


def test_format_number():
    assert format_number(98.5) == "98.5"
    assert format_number(99.0) == "99"
    assert format_number(0.1 + 0.2) == "0.3"


cell_values = st.one_of(
    st.text(max_size=12),
    st.integers(-(10**6), 10**6),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["是", "否", "98.5%", "３次", "不适用", "1", "0.5"]),
)


@given(raw=cell_values, kind=st.sampled_from(["bool", "count", "percent"]))
def test_parser_returns_canonical_or_raises_its_own_error(raw, kind):
    try:
        parsed = parse_value(raw, kind)
    except ValueRejected as err:
        assert err.code in ("INVALID_VALUE", "OUT_OF_RANGE") and err.message
        return
    assert isinstance(parsed, Parsed)
    v = parsed.value
    if kind == "bool":
        assert v is True or v is False
    elif kind == "count":
        assert type(v) is int and v >= 0
    else:
        assert v == NOT_APPLICABLE or (isinstance(v, float) and 0 <= v <= 100 and round(v, 6) == v)
        assert not (isinstance(v, float) and math.isnan(v))


@pytest.mark.parametrize(
    "raw", [1_000_001, 1_000_001.0, "1000001", "1000001次", 9_223_372_036_855, "9223372036855", 10**30, "1" + "0" * 40]
)
def test_counts_above_the_bound_are_out_of_range(raw):
    with pytest.raises(ValueRejected) as err:
        parse_value(raw, "count")
    assert err.value.code == "OUT_OF_RANGE" and "上限" in err.value.message


def test_the_bound_is_the_callers():
    assert parse_value(1_000_000, "count").value == 1_000_000
    assert parse_value(50, "count", count_max=100).value == 50
    with pytest.raises(ValueRejected):
        parse_value(101, "count", count_max=100)
