"""Kinds that scale points with a value: per unit counted, steps below a target, a
ratio's steps, the excess over a target."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

import lazy_loader
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from qz_excel.rules.base import MICRO, SCALE, Column, Evaluation, Part, RuleBase, ceil_div, micro
from qz_excel.rules.points import Points, points_decimal, points_decimals
from qz_excel.rules.values import format_number, format_values

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:
    np = lazy_loader.load("numpy")
    pd = lazy_loader.load("pandas")


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

    def unbounded(self) -> bool:
        return self.points > 0

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
    """Full points at the target; ``per_step`` off per started ``step`` below it
    (「每项指标降一个百分点扣1分」, 「每低1个百分点扣0.5分」), never below 0; below
    ``cutoff`` nothing at all (「低于30%不得分」)."""

    kind: Literal["shortfall_steps"]
    kind_label: ClassVar[str] = "低于目标按级扣分"
    indicator: str
    target: float
    step: float = Field(gt=0)
    points: Points = Field(ge=0)
    per_step: Points = Field(default=SCALE, ge=1)
    cutoff: float | None = None
    input_types: ClassVar[tuple[str, ...]] = ("count", "percent", "number")
    templates: ClassVar[dict[str, str]] = {
        "met": "{{ label }}{{ value }}，达到{{ target }}，得{{ points }}分",
        "short": "{{ label }}{{ value }}，低于{{ target }}，扣{{ deduction }}分，得{{ points }}分",
        "cut": "{{ label }}{{ value }}，低于{{ cutoff }}，不得分",
        "na": "{{ label }}不适用，得{{ points }}分",
    }

    @model_validator(mode="after")
    def _cutoff_below_target(self) -> ShortfallSteps:
        if self.cutoff is not None and self.cutoff > self.target:
            raise ValueError(f"cutoff {self.cutoff} 应低于 target {self.target}")
        return self

    def inputs(self) -> list[str]:
        return [self.indicator]

    def evaluate(self, values, catalog):
        v = Column.number(values, self.indicator)
        na = np.isinf(v)
        shortfall = np.maximum(micro(self.target) - micro(v), 0)
        steps = np.where(na, 0, ceil_div(shortfall, int(micro(self.step))))
        deduction = np.minimum(steps * self.per_step, self.points)
        cut = ~na & (micro(v) < micro(self.cutoff)) if self.cutoff is not None else np.zeros(len(v), dtype=bool)
        ind = catalog[self.indicator]
        shown = format_values(pd.Series([self.target, self.cutoff or 0]), ind.type, ind.unit)
        return Evaluation(
            points=np.where(cut, 0, self.points - deduction).astype(np.int64),
            outcome=np.where(na, "na", np.where(cut, "cut", np.where(steps > 0, "short", "met"))),
            context={
                "value": Column.text(values, self.indicator, catalog),
                "target": shown[0],
                "cutoff": shown[1],
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


class Proportional(RuleBase):
    """Points in proportion: done / assigned × points (完成数 / 任务数 × 30), rounded to
    hundredths by ``rounding``, computed on integers. Nothing assigned is 不适用 (full
    points); more done than assigned is an invalid pair (0 points, 待核实), checked first."""

    kind: Literal["proportional"]
    kind_label: ClassVar[str] = "按比例得分"
    numerator: str
    denominator: str
    points: Points = Field(ge=0)
    rounding: Literal["half_up", "down", "up"] = "half_up"
    input_types: ClassVar[tuple[str, ...]] = ("count",)
    templates: ClassVar[dict[str, str]] = {
        "met": "{{ label }}{{ numerator }}/{{ denominator }}，按比例得{{ points }}分",
        "na": "{{ label }}：任务数为0，不适用，得{{ points }}分",
        "invalid": "{{ label }}{{ numerator }}大于{{ denominator }}，数据有误，不得分（待核实）",
    }

    def inputs(self) -> list[str]:
        return [self.numerator, self.denominator]

    def evaluate(self, values, catalog):
        num = np.nan_to_num(Column.number(values, self.numerator)).astype(np.int64)
        den = np.nan_to_num(Column.number(values, self.denominator)).astype(np.int64)
        invalid, na = num > den, den == 0
        safe = np.where(na, 1, den)
        product = num * self.points  # hundredths × count: exact
        if self.rounding == "half_up":
            share = (2 * product + safe) // (2 * safe)
        elif self.rounding == "down":
            share = product // safe
        else:
            share = ceil_div(product, safe)
        points = np.where(invalid, 0, np.where(na, self.points, share))
        return Evaluation(
            points=points.astype(np.int64),
            outcome=np.where(invalid, "invalid", np.where(na, "na", "met")),
            context={
                "numerator": Column.text(values, self.numerator, catalog),
                "denominator": Column.text(values, self.denominator, catalog),
            },
        )
