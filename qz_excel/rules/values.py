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


@dataclass(frozen=True)
class Domain:
    """What an indicator's type allows beyond the type itself: a choice's options, a
    number's range (and a count's own upper bound)."""

    options: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None


NO_DOMAIN = Domain()


def parse_value(raw: Any, kind: str, count_max: int = COUNT_MAX, domain: Domain = NO_DOMAIN) -> Parsed:
    """One non-empty cell value → its canonical value; raises ValueRejected."""
    # the type is part of the cache key: True == 1 == 1.0 must not share an answer
    return _parse_cached(type(raw).__name__, raw, kind, count_max, domain)


@lru_cache(maxsize=65536)
def _parse_cached(_type: str, raw: Any, kind: str, count_max: int, domain: Domain) -> Parsed:
    if kind == "bool":
        return _parse_bool(raw)
    if kind == "count":
        high = count_max if domain.high is None else min(count_max, int(domain.high))
        return _within(_parse_count(raw), raw, high)
    if kind == "percent":
        return _parse_percent(raw)
    if kind == "choice":
        return _parse_choice(raw, domain.options)
    if kind == "number":
        return _parse_number(raw, domain)
    raise ValueError(f"unknown indicator type {kind!r}")


def _parse_choice(raw: object, options: tuple[str, ...]) -> Parsed:
    """One of fixed options, typed or picked from the dropdown: spaces and full-width
    forms do not matter (「 纳入部门规划 」, 「未纳入」 in full-width brackets…)."""
    text = _clean(_shown(raw))
    for option in options:
        if _clean(option) == text:
            note = "" if str(raw).strip() == option else f"「{_shown(raw).strip()}」视为“{option}”"
            return Parsed(option, note)
    listed = "、".join(f"“{o}”" for o in options)
    raise ValueRejected("INVALID_VALUE", f"「{_shown(raw)}」不是可选的答案，请从下拉列表选择：{listed}")


def _parse_number(raw: object, domain: Domain) -> Parsed:
    """A signed decimal (「-3.5」「－3.5」「12分钟」 is refused: numbers only), within its range."""
    if isinstance(raw, bool):
        raise ValueRejected("INVALID_VALUE", f"「{raw}」不是数字，请只填写数字，如 12.5；下降填负数，如 -3")
    if isinstance(raw, (int, float)):
        value, note = float(raw), ""
    else:
        text = _clean(str(raw)).replace("−", "-")
        if not _NUMBER_RE.match(text):
            raise ValueRejected("INVALID_VALUE", f"「{raw}」不是数字，请只填写数字，如 12.5；下降填负数，如 -3")
        value = float(text)
        note = f"「{str(raw).strip()}」视为{format_number(value)}"
    if not math.isfinite(value):
        raise ValueRejected("INVALID_VALUE", f"「{_shown(raw)}」不是数字，请只填写数字，如 12.5")
    value = round(value, 6)
    low, high = domain.low, domain.high
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"{format_number(low) if low is not None else '不限'}～{format_number(high) if high is not None else '不限'}"
        raise ValueRejected("OUT_OF_RANGE", f"「{_shown(raw).strip()}」不在 {bounds} 之间，请核实后填写")
    return Parsed(value, note)


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
    if kind == "choice":
        return str(value)
    return format_number(value) + unit


def format_values(series: pd.Series, kind: str, unit: str = "") -> pd.Series:
    """Display text for a column, formatting each distinct value once."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    texts = np.array([format_one(u, kind, unit) for u in uniques] + ["未填报"], dtype=object)
    return pd.Series(texts[codes], index=series.index)
