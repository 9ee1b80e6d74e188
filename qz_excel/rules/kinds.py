"""The registry of sub-rule kinds.

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
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

import lazy_loader
from pydantic import BaseModel, ConfigDict, Field, field_validator

from qz_excel.rules.points import SCALE, Points, points_decimal, points_decimals
from qz_excel.rules.values import format_number, format_values

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

    def evaluate(self, values: pd.DataFrame, catalog: dict) -> Evaluation:
        """``catalog`` maps indicator id → its definition (``.type``, ``.unit``)."""
        raise NotImplementedError

    def explain_templates(self) -> dict[str, str]:
        return {**self.templates, **self.explain}


class Flag(RuleBase):
    kind: Literal["flag"]
    kind_label: ClassVar[str] = "是/否：选定答案得分"
    indicator: str
    points: Points = Field(ge=0)
    when: Literal["是", "否"] = "是"
    input_types: ClassVar[tuple[str, ...]] = ("bool",)
    templates: ClassVar[dict[str, str]] = {
        "met": "{{ label }}：{{ value }}，得{{ points }}分",
        "not_met": "{{ label }}：{{ value }}，不得分",
    }

    def inputs(self) -> list[str]:
        return [self.indicator]

    def evaluate(self, values, catalog):
        hit = Column.flag(values, self.indicator) == (self.when == "是")
        return Evaluation(
            points=np.where(hit, self.points, 0).astype(np.int64),
            outcome=np.where(hit, "met", "not_met"),
            context={"value": Column.text(values, self.indicator, catalog)},
        )


class AtLeast(RuleBase):
    """Points when a value (or the sum of several) reaches a threshold — a number, or
    another indicator such as a target handed down by the 考核办."""

    kind: Literal["at_least"]
    kind_label: ClassVar[str] = "达到门槛得分"
    indicator: str | None = None
    indicators: list[str] | None = None
    threshold: float | str
    points: Points = Field(ge=0)
    input_types: ClassVar[tuple[str, ...]] = ("count", "percent")
    templates: ClassVar[dict[str, str]] = {
        "met": "{{ label }}{{ value }}，达到{{ threshold }}，得{{ points }}分",
        "not_met": "{{ label }}{{ value }}，少于{{ threshold }}，不得分",
        "na": "{{ label }}不适用，视为达标，得{{ points }}分",
    }

    def summed(self) -> list[str]:
        return self.indicators or ([self.indicator] if self.indicator else [])

    def inputs(self) -> list[str]:
        extra = [self.threshold] if isinstance(self.threshold, str) else []
        return self.summed() + extra

    def evaluate(self, values, catalog):
        cols = self.summed()
        value = sum(Column.number(values, c) for c in cols)
        first = catalog[cols[0]]
        if isinstance(self.threshold, str):
            threshold = Column.number(values, self.threshold)
            threshold_text = Column.text(values, self.threshold, catalog)
        else:
            threshold = np.full(len(values), float(self.threshold))
            threshold_text = format_values(pd.Series([self.threshold]), first.type, first.unit)[0]
        na = np.isinf(value)
        met = na | (micro(value) >= micro(threshold))
        shown = format_values(pd.Series(value, index=values.index), first.type, first.unit)
        return Evaluation(
            points=np.where(met, self.points, 0).astype(np.int64),
            outcome=np.where(na, "na", np.where(met, "met", "not_met")),
            context={"value": shown, "threshold": threshold_text},
        )


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    indicator: str
    threshold: float
    label: str


class AllMet(RuleBase):
    kind: Literal["all_met"]
    kind_label: ClassVar[str] = "各项均达标得分"
    conditions: list[Condition] = Field(min_length=1)
    points: Points = Field(ge=0)
    input_types: ClassVar[tuple[str, ...]] = ("count", "percent")
    templates: ClassVar[dict[str, str]] = {
        "met": "{{ label }}均达标（{{ detail }}），得{{ points }}分",
        "not_met": "{{ label }}未全部达标（{{ detail }}），不得分",
    }

    def inputs(self) -> list[str]:
        return [c.indicator for c in self.conditions]

    def evaluate(self, values, catalog):
        all_met = np.ones(len(values), dtype=bool)
        pieces = []
        for c in self.conditions:
            v = Column.number(values, c.indicator)
            met = np.isinf(v) | (micro(v) >= micro(c.threshold))
            all_met &= met
            ind = catalog[c.indicator]
            bound = format_values(pd.Series([c.threshold]), ind.type, ind.unit)[0]
            verdict = np.where(met, "", f"，低于{bound}")
            pieces.append(c.label + Column.text(values, c.indicator, catalog) + verdict)
        detail = pieces[0]
        for piece in pieces[1:]:
            detail = detail + "；" + piece
        return Evaluation(
            points=np.where(all_met, self.points, 0).astype(np.int64),
            outcome=np.where(all_met, "met", "not_met"),
            context={"detail": detail},
        )


class PerUnit(RuleBase):
    """Points per unit counted: a bonus when positive, a deduction when negative."""

    kind: Literal["per_unit"]
    kind_label: ClassVar[str] = "按个数加分或扣分"
    indicator: str
    points: Points
    input_types: ClassVar[tuple[str, ...]] = ("count",)
    templates: ClassVar[dict[str, str]] = {
        "gain": "{{ label }}{{ value }}，加{{ points }}分",
        "loss": "{{ label }}{{ value }}，扣{{ -points }}分",
        "none": "{{ label }}{{ value }}，{{ '不加分' if per_unit > 0 else '不扣分' }}",
    }

    def default_part(self) -> Part:
        return "bonus" if self.points > 0 else "deduction"

    def max_points(self) -> int:
        return 0  # unbounded bonus or a deduction: neither fills the base

    def inputs(self) -> list[str]:
        return [self.indicator]

    def evaluate(self, values, catalog):
        n = np.nan_to_num(Column.number(values, self.indicator)).astype(np.int64)
        points = n * self.points
        outcome = np.where(points > 0, "gain", np.where(points < 0, "loss", "none"))
        return Evaluation(
            points=points,
            outcome=outcome,
            context={"value": Column.text(values, self.indicator, catalog), "per_unit": points_decimal(self.points)},
        )


class ShortfallSteps(RuleBase):
    """Full points at the target; one step's worth off per started step below it
    (「每项指标降一个百分点扣1分」, 「每少上报1条信息扣1分」), never below 0."""

    kind: Literal["shortfall_steps"]
    kind_label: ClassVar[str] = "低于目标按级扣分"
    indicator: str
    target: float
    step: float = Field(gt=0)
    points: Points = Field(ge=0)
    per_step: Points = Field(default=SCALE, ge=1)
    input_types: ClassVar[tuple[str, ...]] = ("count", "percent")
    templates: ClassVar[dict[str, str]] = {
        "met": "{{ label }}{{ value }}，达到{{ target }}，得{{ points }}分",
        "short": "{{ label }}{{ value }}，低于{{ target }}，扣{{ deduction }}分，得{{ points }}分",
        "na": "{{ label }}不适用，得{{ points }}分",
    }

    def inputs(self) -> list[str]:
        return [self.indicator]

    def evaluate(self, values, catalog):
        v = Column.number(values, self.indicator)
        na = np.isinf(v)
        shortfall = np.maximum(micro(self.target) - micro(v), 0)
        steps = np.where(na, 0, ceil_div(shortfall, int(micro(self.step))))
        deduction = np.minimum(steps * self.per_step, self.points)
        ind = catalog[self.indicator]
        return Evaluation(
            points=(self.points - deduction).astype(np.int64),
            outcome=np.where(na, "na", np.where(steps > 0, "short", "met")),
            context={
                "value": Column.text(values, self.indicator, catalog),
                "target": format_values(pd.Series([self.target]), ind.type, ind.unit)[0],
                "deduction": points_decimals(deduction),
            },
        )


class RatioSteps(RuleBase):
    """Like shortfall_steps on numerator / denominator × 100, computed exactly on
    integers. A numerator larger than the denominator is an invalid pair (0 points, the
    town is marked 待核实), also when the denominator is 0; otherwise a zero denominator
    means 不适用 (full points)."""

    kind: Literal["ratio_steps"]
    kind_label: ClassVar[str] = "按比例低于目标按级扣分"
    numerator: str
    denominator: str
    target: float = 100
    step: float = Field(gt=0)
    points: Points = Field(ge=0)
    input_types: ClassVar[tuple[str, ...]] = ("count",)
    templates: ClassVar[dict[str, str]] = {
        "met": "{{ label }}{{ numerator }}/{{ denominator }}，占{{ ratio }}，得{{ points }}分",
        "short": "{{ label }}{{ numerator }}/{{ denominator }}，占{{ ratio }}，"
        "低于{{ target }}，扣{{ deduction }}分，得{{ points }}分",
        "na": "{{ label }}：单位总数为0，不适用，得{{ points }}分",
        "invalid": "{{ label }}{{ numerator }}大于单位总数{{ denominator }}，数据有误，不得分（待核实）",
    }

    def inputs(self) -> list[str]:
        return [self.numerator, self.denominator]

    def evaluate(self, values, catalog):
        num = np.nan_to_num(Column.number(values, self.numerator)).astype(np.int64)
        den = np.nan_to_num(Column.number(values, self.denominator)).astype(np.int64)
        na = den == 0
        invalid = num > den
        safe_den = np.where(na, 1, den)
        # shortfall in millionths of a percent, times den, kept integral
        shortfall_x_den = np.maximum(micro(self.target) * safe_den - num * 100 * MICRO, 0)
        steps = ceil_div(shortfall_x_den, int(micro(self.step)) * safe_den)
        deduction = np.minimum(steps * SCALE, self.points)  # a point per started step
        # the invalid pair first: 纳入台帐 3 of 0 units is wrong data, not 不适用
        points = np.where(invalid, 0, np.where(na, self.points, self.points - deduction))
        ratio = pd.Series(np.round(num / safe_den * 100, 2), index=values.index)
        return Evaluation(
            points=points.astype(np.int64),
            outcome=np.where(invalid, "invalid", np.where(na, "na", np.where(steps > 0, "short", "met"))),
            context={
                "numerator": Column.text(values, self.numerator, catalog),
                "denominator": Column.text(values, self.denominator, catalog),
                "ratio": format_values(ratio, "percent"),
                "target": format_number(self.target) + "%",
                "deduction": points_decimals(deduction),
            },
        )


class Veto(RuleBase):
    """When the answer is ``when``, the whole item scores 0, bonus included."""

    kind: Literal["veto"]
    kind_label: ClassVar[str] = "一票否决"
    indicator: str
    when: Literal["是", "否"] = "是"
    clear_label: str = ""
    input_types: ClassVar[tuple[str, ...]] = ("bool",)
    templates: ClassVar[dict[str, str]] = {
        "fired": "否决：{{ label }}，本项不得分",
        "clear": "{{ clear_label or '未触发否决：' ~ label }}",
    }

    def default_part(self) -> Part:
        return "veto"

    def max_points(self) -> int:
        return 0

    def inputs(self) -> list[str]:
        return [self.indicator]

    def evaluate(self, values, catalog):
        fired = Column.flag(values, self.indicator) == (self.when == "是")
        return Evaluation(
            points=np.zeros(len(values), dtype=np.int64),
            outcome=np.where(fired, "fired", "clear"),
            context={"clear_label": self.clear_label},
        )


class Achieved(BaseModel):
    model_config = ConfigDict(extra="forbid")
    indicator: str
    points: Points = Field(ge=0)
    label: str


class ExcessOverTarget(RuleBase):
    """Bonus only for what lies beyond a target (「除完成任务外」). The target absorbs the
    achievements in ``absorb_order``; what is left earns each achievement's points."""

    kind: Literal["excess_over_target"]
    kind_label: ClassVar[str] = "超额完成目标加分"
    target: str
    achieved: list[Achieved] = Field(min_length=1)
    absorb_order: list[str]
    input_types: ClassVar[tuple[str, ...]] = ("count",)
    templates: ClassVar[dict[str, str]] = {
        "gain": "目标任务{{ target }}已完成，另新增{{ detail }}，加{{ points }}分",
        "none": "未超出目标任务{{ target }}，不加分",
    }

    @field_validator("absorb_order")
    @classmethod
    def _absorb_is_permutation(cls, order, info):
        achieved = info.data.get("achieved") or []
        if sorted(order) != sorted(a.indicator for a in achieved):
            raise ValueError("absorb_order must list each achieved indicator exactly once")
        return order

    def default_part(self) -> Part:
        return "bonus"

    def max_points(self) -> int:
        return 0

    def inputs(self) -> list[str]:
        return [self.target] + [a.indicator for a in self.achieved]

    def evaluate(self, values, catalog):
        remaining = np.nan_to_num(Column.number(values, self.target)).astype(np.int64)
        excess = {}
        for col in self.absorb_order:
            n = np.nan_to_num(Column.number(values, col)).astype(np.int64)
            absorbed = np.minimum(n, remaining)
            remaining = remaining - absorbed
            excess[col] = n - absorbed
        points = np.zeros(len(values), dtype=np.int64)
        detail = pd.Series("", index=values.index, dtype=object)
        for a in self.achieved:
            points = points + excess[a.indicator] * a.points
            e = pd.Series(excess[a.indicator], index=values.index)
            unit = catalog[a.indicator].unit
            piece = np.where(e > 0, a.label + e.astype(str) + unit, "")
            joiner = np.where((detail != "") & (piece != ""), "、", "")
            detail = detail + joiner + piece
        return Evaluation(
            points=points,
            outcome=np.where(points > 0, "gain", "none"),
            context={"target": Column.text(values, self.target, catalog), "detail": detail},
        )


SubRule = Annotated[
    Flag | AtLeast | AllMet | PerUnit | ShortfallSteps | RatioSteps | Veto | ExcessOverTarget,
    Field(discriminator="kind"),
]

#: kind name → model class; `qz rules kinds` prints this with each label
REGISTRY: dict[str, type[RuleBase]] = {
    cls.model_fields["kind"].annotation.__args__[0]: cls  # type: ignore[union-attr]
    for cls in (Flag, AtLeast, AllMet, PerUnit, ShortfallSteps, RatioSteps, Veto, ExcessOverTarget)
}

#: explanation for a sub-rule whose input cell was empty or invalid (overridable per rule)
MISSING_TEMPLATE = "{{ label }}：未填报或填报无效，不得分（待核实）"
MISSING_VETO_TEMPLATE = "{{ label }}：未填报或填报无效，无法判定是否否决（待核实）"
MISSING_DEDUCTION_TEMPLATE = "{{ label }}：未填报或填报无效，无法扣分（待核实）"

__all__ = ["REGISTRY", "SubRule", "Evaluation", "MICRO", "micro"]
