"""Cell values → canonical indicator values, and back to display text.

The value-type table of scoring-2010.md, in code. ``parse_value`` either returns a canonical
value (with a note when the form typed was not the canonical one, so nothing is guessed
silently) or raises :class:`ValueRejected` with a stable code and a Chinese message that
tells the filler what to type instead.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import lazy_loader

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:  # loaded on first use: `qz rules check` and `qz --help` never need them
    np = lazy_loader.load("numpy")
    pd = lazy_loader.load("pandas")

#: 无 / 不适用 for a rate: compares as met against any threshold
NOT_APPLICABLE = math.inf

_TRUE = {"是", "有", "√", "✓", "✔", "y", "yes", "true", "1"}
_FALSE = {"否", "无", "×", "✗", "✘", "n", "no", "false", "0"}
_NOT_APPLICABLE = {"不适用", "无", "/", "／"}
_COUNT_UNITS = "次|条|个|家次|家|只|人|项|名|件|起|户"
_COUNT_RE = re.compile(rf"^(\d+)(?:\.0+)?(?:{_COUNT_UNITS})?$")
#: the largest count accepted unless the rules file says otherwise (settings.count_max): no
#: town holds a million meetings or units, and counts stay far from where exact integer
#: arithmetic in millionths (int64) would overflow (about 9.2×10¹²)
COUNT_MAX = 1_000_000
_NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")


class ValueRejected(ValueError):
    """A cell value that cannot be read as its indicator's type."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Parsed:
    value: Any  # bool | int | float (percent units, or NOT_APPLICABLE)
    note: str = ""  # how a non-canonical form was read; "" for the canonical form


def is_empty(raw: object) -> bool:
    if raw is None:
        return True
    if isinstance(raw, float) and math.isnan(raw):
        return True
    return isinstance(raw, str) and _clean(raw) == ""


def _clean(text: str) -> str:
    """NFKC folds full-width digits, letters and ％; spaces inside are dropped."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


def _shown(raw: object) -> str:
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw)


def format_number(x: float) -> str:
    """98.5 → '98.5', 99.0 → '99', rounded to 6 decimals."""
    text = f"{round(float(x), 6):.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def parse_value(raw: Any, kind: str, count_max: int = COUNT_MAX) -> Parsed:
    """One non-empty cell value → its canonical value; raises ValueRejected."""
    # the type is part of the cache key: True == 1 == 1.0 must not share an answer
    return _parse_cached(type(raw).__name__, raw, kind, count_max)


@lru_cache(maxsize=65536)
def _parse_cached(_type: str, raw: Any, kind: str, count_max: int) -> Parsed:
    if kind == "bool":
        return _parse_bool(raw)
    if kind == "count":
        return _within(_parse_count(raw), raw, count_max)
    if kind == "percent":
        return _parse_percent(raw)
    raise ValueError(f"unknown indicator type {kind!r}")


def _parse_bool(raw: object) -> Parsed:
    if isinstance(raw, bool):
        return Parsed(raw)
    text = _clean(_shown(raw)) if isinstance(raw, (int, float)) else _clean(str(raw))
    if text in _TRUE or text in _FALSE:
        value = text in _TRUE
        canonical = "是" if value else "否"
        note = "" if str(raw).strip() == canonical else f"「{_shown(raw).strip()}」视为“{canonical}”"
        return Parsed(value, note)
    raise ValueRejected("INVALID_VALUE", f"「{_shown(raw)}」不是有效的是/否答案，请从下拉列表选择“是”或“否”")


def _parse_count(raw: object) -> Parsed:
    if isinstance(raw, bool):
        raise ValueRejected("INVALID_VALUE", f"「{raw}」不是数量，请填写0或正整数")
    if isinstance(raw, (int, float)):
        value, note = float(raw), ""
    else:
        text = _clean(str(raw))
        match = _COUNT_RE.match(text)
        if match:
            value = int(match.group(1))
            return Parsed(value, f"「{str(raw).strip()}」视为{value}")
        if not _NUMBER_RE.match(text):
            raise ValueRejected("INVALID_VALUE", f"「{raw}」不是数量，请只填写阿拉伯数字（整数），如 3")
        value, note = float(text), f"「{str(raw).strip()}」视为{format_number(float(text))}"
    if not math.isfinite(value) or value < 0:
        raise ValueRejected("OUT_OF_RANGE", f"「{_shown(raw)}」小于0，数量应为0或正整数")
    if not value.is_integer():
        raise ValueRejected("INVALID_VALUE", f"「{_shown(raw)}」不是整数，数量应为0或正整数")
    return Parsed(int(value), note)


def _within(parsed: Parsed, raw: object, count_max: int) -> Parsed:
    if parsed.value > count_max:
        raise ValueRejected(
            "OUT_OF_RANGE", f"「{_shown(raw).strip()}」超过了合理的上限 {count_max}，请核实后填写实际数量"
        )
    return parsed


def _percent_from_number(value: float, raw: object, from_text: bool) -> Parsed:
    """0 ≤ v ≤ 1 is a fraction (what a %-formatted cell stores); 1 < v ≤ 100 percent units."""
    if not math.isfinite(value) or value < 0 or value > 100:
        raise ValueRejected("OUT_OF_RANGE", f"「{_shown(raw)}」不在0%～100%之间，请填写正确的百分比")
    shown = _shown(raw).strip()
    if value <= 1:
        pct = round(value * 100, 6)
        note = f"「{shown}」按比例读作{format_number(pct)}%" if from_text or value == 1 else ""
        return Parsed(pct, note)
    pct = round(value, 6)
    return Parsed(pct, f"「{shown}」视为{format_number(pct)}%")


def _parse_percent(raw: object) -> Parsed:
    if isinstance(raw, bool):
        raise ValueRejected("INVALID_VALUE", f"「{raw}」不是百分比，请填写如 98.5% 的百分比")
    if isinstance(raw, (int, float)):
        return _percent_from_number(float(raw), raw, from_text=False)
    text = _clean(str(raw))
    if text in _NOT_APPLICABLE:
        note = "" if text == "不适用" else f"「{str(raw).strip()}」视为“不适用”"
        return Parsed(NOT_APPLICABLE, note)
    if text.endswith("%") and _NUMBER_RE.match(text[:-1]):
        value = float(text[:-1])
        if value < 0 or value > 100:
            raise ValueRejected("OUT_OF_RANGE", f"「{raw}」不在0%～100%之间，请填写正确的百分比")
        pct = round(value, 6)
        return Parsed(pct, f"「{str(raw).strip()}」视为{format_number(pct)}%")
    if _NUMBER_RE.match(text):
        return _percent_from_number(float(text), raw, from_text=True)
    raise ValueRejected(
        "INVALID_VALUE", f"「{raw}」不是百分比，请填写如 98.5% 的百分比；没有相关企业或设备的填“不适用”"
    )


def format_one(value: Any, kind: str, unit: str) -> str:
    if kind == "bool":
        return "是" if value else "否"
    if kind == "percent":
        return "不适用" if value == NOT_APPLICABLE else format_number(value) + "%"
    return format_number(value) + unit


def format_values(series: pd.Series, kind: str, unit: str = "") -> pd.Series:
    """Display text for a column, formatting each distinct value once."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    texts = np.array([format_one(u, kind, unit) for u in uniques] + ["未填报"], dtype=object)
    return pd.Series(texts[codes], index=series.index)
