"""What every sub-rule kind is: the protocol the engine calls, and its shared tools.

Each kind is a pydantic model (its parameters, validated when a rules file loads) with a
label and one vectorised ``evaluate`` over the whole values frame: one row per town, one
column per indicator. ``evaluate`` returns points, an outcome key per row and the per-row
context its explanation templates need. Rows with an empty input are handled once, by the
engine (:mod:`qz_excel.scoring.engine`), so the kinds see complete values only where it matters.

Value conventions (see :mod:`qz_excel.rules.values`): bool columns hold True/False, count columns
whole numbers, percent columns percent units (98.5 means 98.5 %) with ``NOT_APPLICABLE``
(+inf) for 无/不适用 — a rate that does not apply compares as met against any threshold.
Comparisons are done on integers in millionths, i.e. after rounding to 6 decimals, so 0.99
read as a fraction is exactly 99 %.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal

import lazy_loader
from pydantic import BaseModel, ConfigDict, Field

from qz_excel.rules.points import SCALE
from qz_excel.rules.values import format_values

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:  # loaded on first use: `qz rules check` and `qz --help` never need them
    np = lazy_loader.load("numpy")
    pd = lazy_loader.load("pandas")

MICRO = 1_000_000
Part = Literal["base", "deduction", "bonus", "veto"]
IndicatorType = Literal["bool", "count", "percent"]


@dataclass
class Evaluation:
    """What one sub-rule gives every town before the engine masks empty inputs."""

    points: np.ndarray  # int64, one per town
    outcome: np.ndarray  # str key into the kind's explanation templates
    context: dict[str, object] = field(default_factory=dict)  # per-row Series or constants


def micro(x: np.ndarray | float) -> np.ndarray:
    """Value in millionths as int64 (NaN and ±inf become 0: callers mask them first)."""
    arr = np.asarray(x, dtype=float)
    arr = np.where(np.isfinite(arr), arr, 0.0)
    return np.rint(arr * MICRO).astype(np.int64)


def ceil_div(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    return -(-a // b)


class Column:
    """Typed access to one indicator column of the values frame."""

    @staticmethod
    def text(values: pd.DataFrame, col: str, catalog: dict) -> pd.Series:
        ind = catalog[col]
        return format_values(values[col], ind.type, ind.unit)

    @staticmethod
    def number(values: pd.DataFrame, col: str) -> np.ndarray:
        return values[col].to_numpy(dtype=float, na_value=np.nan)

    @staticmethod
    def flag(values: pd.DataFrame, col: str) -> np.ndarray:
        return values[col].to_numpy(dtype=float, na_value=np.nan) == 1.0

    @staticmethod
    def choice(values: pd.DataFrame, col: str) -> np.ndarray:
        """The options chosen (object array; None where empty)."""
        return values[col].astype(object).where(values[col].notna(), None).to_numpy(dtype=object)


class RuleBase(BaseModel):
    """Fields every sub-rule has. ``explain`` overrides the kind's templates per outcome."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(min_length=1)
    part: Part | None = None
    explain: dict[str, str] = {}
    #: the number of the 评分方法 line this sub-rule scores (「5．」); inferred when absent
    line: int | None = Field(default=None, ge=1)

    kind_label: ClassVar[str] = ""
    templates: ClassVar[dict[str, str]] = {}
    #: indicator type(s) each input must have
    input_types: ClassVar[tuple[str, ...]] = ("bool", "count", "percent")
    #: the kind judges empty inputs itself (「A或B」: one met is enough when the other is
    #: empty); otherwise the engine scores a sub-rule with an empty input 0, outcome missing
    handles_missing: ClassVar[bool] = False

    # --- what the engine and the checker ask of every kind -------------------------------
    def inputs(self) -> list[str]:
        raise NotImplementedError

    def default_part(self) -> Part:
        return "base"

    @property
    def effective_part(self) -> Part:
        return self.part or self.default_part()

    def max_points(self) -> int:
        """The most this sub-rule can give, in hundredths (0 for deductions and vetoes)."""
        return int(getattr(self, "points", 0))

    def unbounded(self) -> bool:
        """Whether the sub-rule can give any number of points (per unit counted)."""
        return False

    def evaluate(self, values: pd.DataFrame, catalog: dict) -> Evaluation:
        """``catalog`` maps indicator id → its definition (``.type``, ``.unit``)."""
        raise NotImplementedError

    def explain_templates(self) -> dict[str, str]:
        return {**self.templates, **self.explain}

    def check(self, catalog: dict, grades: list[str]) -> list[tuple[str | tuple, str]]:
        """Mistakes only the whole file shows (an option its indicator lacks, bands out of
        order), as (the field they are in — a name or a path like ("bands", 2, "at_least")
        —, what is wrong in Chinese); ``grades``: the rules file's grade names."""
        return []


#: explanation for a sub-rule whose input cell was empty or invalid (overridable per rule)
MISSING_TEMPLATE = "{{ label }}：未填报或填报无效，不得分（待核实）"
MISSING_VETO_TEMPLATE = "{{ label }}：未填报或填报无效，无法判定是否否决（待核实）"
MISSING_DEDUCTION_TEMPLATE = "{{ label }}：未填报或填报无效，无法扣分（待核实）"

__all__ = ["SCALE", "Column", "Evaluation", "MICRO", "Part", "RuleBase", "ceil_div", "micro"]
