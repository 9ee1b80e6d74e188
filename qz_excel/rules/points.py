"""Points as exact integers: hundredths of a point.

Rules files write points as people do (2, 0.5, 0.25): :data:`Points` reads them into whole
hundredths when a rules file loads, refusing a third decimal, so every sum, clamp, cap and
step in the engine is integer arithmetic and 0.1 + 0.2 is exactly 0.3. Points leave the
engine as hundredths too; only what is shown converts: :func:`points_text` for words
(「4.5」「10」「0.25」, never a trailing zero) and :func:`points_number` for a cell (a whole
number stays an int, so a whole-point year writes exactly the cells it always wrote).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated

import lazy_loader
from pydantic import BeforeValidator

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_loader.load("numpy")

#: hundredths of a point: the unit of every point inside qz
SCALE = 100
DECIMALS = 2


def parse_points(raw: object) -> int:
    """2 → 200, 0.5 → 50, "0.25" → 25; a third decimal, a bool or text is refused."""
    if isinstance(raw, bool) or raw is None:
        raise ValueError("分值应是数字，如 2、0.5、0.25")
    if isinstance(raw, int):
        return raw * SCALE
    try:
        # str() first: YAML's 0.1 is a binary float whose repr is the decimal typed
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValueError(f"分值应是数字，如 2、0.5、0.25，而不是 “{raw}”") from None
    if not value.is_finite():
        raise ValueError(f"分值应是有限的数字，而不是 “{raw}”")
    hundredths = value * SCALE
    if hundredths != hundredths.to_integral_value():
        raise ValueError(f"分值最多两位小数（如 0.5、0.25），而不是 “{raw}”")
    return int(hundredths)


#: a point value in a rules file, held as whole hundredths (``ge=0`` etc. apply to those)
Points = Annotated[int, BeforeValidator(parse_points)]


def points_decimal(hundredths: int) -> Decimal:
    """Exact, and printed without trailing zeros: 450 → Decimal('4.5'), 1000 → Decimal('10')."""
    return Decimal(int(hundredths)) / SCALE


def points_text(hundredths: int) -> str:
    return str(points_decimal(hundredths))


def points_number(hundredths: int) -> int | float:
    """What a cell holds: an int for whole points, else the float nearest the decimal (its
    shortest repr is that decimal, which is what the workbook stores)."""
    hundredths = int(hundredths)
    return hundredths // SCALE if hundredths % SCALE == 0 else hundredths / SCALE


def _mapped(values, convert) -> np.ndarray:
    """``convert`` applied once per distinct value: towns share a handful of point values."""
    array = np.asarray(values, dtype=np.int64)
    uniques, inverse = np.unique(array, return_inverse=True)
    return np.array([convert(u) for u in uniques.tolist()] + [None], dtype=object)[:-1][inverse.reshape(array.shape)]


def points_texts(values) -> np.ndarray:
    """:func:`points_text` of every element (object array of str)."""
    return _mapped(values, points_text)


def points_decimals(values) -> np.ndarray:
    """:func:`points_decimal` of every element (object array), for explanation contexts:
    jinja prints them as written, and they compare and negate exactly."""
    return _mapped(values, points_decimal)


def points_numbers(values) -> np.ndarray:
    """:func:`points_number` of every element (object array of int or float)."""
    return _mapped(values, points_number)
