"""Kinds that give points when a condition is met: a yes/no answer, a threshold, every
or any of several conditions."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

import lazy_loader
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from qz_excel.rules.base import Column, Evaluation, RuleBase, micro
from qz_excel.rules.points import Points
from qz_excel.rules.values import format_values

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:
    np = lazy_loader.load("numpy")
    pd = lazy_loader.load("pandas")


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
    input_types: ClassVar[tuple[str, ...]] = ("count", "percent", "number")
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
    input_types: ClassVar[tuple[str, ...]] = ("count", "percent", "number")
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


class Graded(RuleBase):
    """Points by the option chosen (健全 10 / 不健全 6 / 未建立 0): every option of the
    indicator has its points."""

    kind: Literal["graded"]
    kind_label: ClassVar[str] = "按选项分档得分"
    indicator: str
    points: dict[str, Points]
    input_types: ClassVar[tuple[str, ...]] = ("choice",)
    templates: ClassVar[dict[str, str]] = {
        "met": "{{ label }}：{{ value }}，得{{ points }}分",
        "none": "{{ label }}：{{ value }}，不得分",
    }

    @field_validator("points")
    @classmethod
    def _no_negative_grade(cls, points: dict[str, int]) -> dict[str, int]:
        if not points:
            raise ValueError("points 应列出每个选项的分值")
        if any(v < 0 for v in points.values()):
            raise ValueError("选项的分值不能为负；扣分请用 per_unit 或 start_full 的二级指标")
        return points

    def inputs(self) -> list[str]:
        return [self.indicator]

    def max_points(self) -> int:
        return max(self.points.values())

    def check(self, catalog, grades):
        ind = catalog.get(self.indicator)
        if ind is None or ind.type != "choice":
            return []
        unknown = [o for o in self.points if o not in ind.options]
        missing = [o for o in ind.options if o not in self.points]
        problems = [
            ("points", f"points 中的选项“{o}”不是指标 {ind.id} 的选项（{'、'.join(ind.options)}）") for o in unknown
        ]
        problems += [("points", f"指标 {ind.id} 的选项“{o}”没有写分值（不得分也请写 0）") for o in missing]
        return problems

    def evaluate(self, values, catalog):
        chosen = Column.choice(values, self.indicator)
        table = self.points
        points = np.array([table.get(c, 0) if c is not None else 0 for c in chosen], dtype=np.int64)
        return Evaluation(
            points=points,
            outcome=np.where(points > 0, "met", "none"),
            context={"value": Column.text(values, self.indicator, catalog)},
        )


class Band(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at_least: float | None = None  # ≥ this …
    at_most: float | None = None  # … or ≤ this (one of the two)
    points: Points = Field(ge=0)

    @model_validator(mode="after")
    def _one_bound(self) -> Band:
        if (self.at_least is None) == (self.at_most is None):
            raise ValueError("每一档写 at_least（不低于）或 at_most（不超过）之一")
        return self

    @property
    def bound(self) -> float:
        return self.at_least if self.at_least is not None else self.at_most  # type: ignore[return-value]


class Bands(RuleBase):
    """The first band the value reaches gives its points (≥95 % → 8, ≥90 % → 6 …; or ≤15
    分钟 → 2, ≤30 → 1.2 …), ``otherwise`` below them all. 不适用 counts as the best band."""

    kind: Literal["bands"]
    kind_label: ClassVar[str] = "分档得分"
    indicator: str
    bands: list[Band] = Field(min_length=1)
    otherwise: Points = Field(default=0, ge=0)
    input_types: ClassVar[tuple[str, ...]] = ("count", "percent", "number")
    templates: ClassVar[dict[str, str]] = {
        "band": "{{ label }}{{ value }}，{{ reached }}，得{{ points }}分",
        "none": "{{ label }}{{ value }}，{{ reached }}，{{ '得' ~ points ~ '分' if points else '不得分' }}",
        "na": "{{ label }}不适用，视为达标，得{{ points }}分",
    }

    @field_validator("bands")
    @classmethod
    def _one_direction(cls, bands: list[Band]) -> list[Band]:
        if len({b.at_least is not None for b in bands}) > 1:
            raise ValueError("各档要同一方向：都写 at_least，或都写 at_most")
        return bands

    def check(self, catalog, grades):
        """Bands out of order, named at the band that breaks it (its own line)."""
        problems = []
        for k in range(1, len(self.bands)):
            before, band = self.bands[k - 1], self.bands[k]
            if band.at_least is not None and band.at_least >= before.bound:
                key, words = "at_least", f"应低于上一档的 {before.bound:g}（at_least 的各档从高到低排列）"
            elif band.at_most is not None and band.at_most <= before.bound:
                key, words = "at_most", f"应高于上一档的 {before.bound:g}（at_most 的各档从低到高排列）"
            else:
                continue
            problems.append((("bands", k, key), f"第{k + 1}档 {band.bound:g} {words}"))
        return problems

    def inputs(self) -> list[str]:
        return [self.indicator]

    def max_points(self) -> int:
        return max([b.points for b in self.bands] + [self.otherwise])

    def evaluate(self, values, catalog):
        v = Column.number(values, self.indicator)
        ind = catalog[self.indicator]
        na = np.isinf(v)
        points = np.full(len(v), self.otherwise, dtype=np.int64)
        reached = np.full(len(v), "", dtype=object)
        decided = na.copy()
        bounds = format_values(pd.Series([b.bound for b in self.bands]), ind.type, ind.unit).tolist()
        for band, shown in zip(self.bands, bounds):
            if band.at_least is not None:
                hit = ~decided & (micro(v) >= micro(band.at_least))
                words = f"达到{shown}"
            else:
                hit = ~decided & (micro(v) <= micro(band.at_most))
                words = f"不超过{shown}"
            points = np.where(hit, band.points, points)
            reached = np.where(hit, words, reached)
            decided |= hit
        last = self.bands[-1]
        missed = f"未达到{bounds[-1]}" if last.at_least is not None else f"超过{bounds[-1]}"
        reached = np.where(decided, reached, missed)
        points = np.where(na, self.bands[0].points, points)
        return Evaluation(
            points=points.astype(np.int64),
            outcome=np.where(na, "na", np.where(decided, "band", "none")),
            context={"value": Column.text(values, self.indicator, catalog), "reached": reached},
        )


class Threshold(BaseModel):
    model_config = ConfigDict(extra="forbid")
    indicator: str
    label: str
    at_least: float | None = None
    at_most: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Threshold:
        if (self.at_least is None) == (self.at_most is None):
            raise ValueError("每个条件写 at_least（不低于）或 at_most（不超过）之一")
        return self


class AnyOf(RuleBase):
    """Points when at least one condition is met (覆盖率≥70% 或 增长≥10个百分点): one met
    is enough even when the others are empty; none met with one empty is 待核实."""

    kind: Literal["any_of"]
    kind_label: ClassVar[str] = "任一条件达标得分"
    conditions: list[Threshold] = Field(min_length=2)
    points: Points = Field(ge=0)
    input_types: ClassVar[tuple[str, ...]] = ("count", "percent", "number")
    handles_missing: ClassVar[bool] = True
    templates: ClassVar[dict[str, str]] = {
        "met": "{{ label }}：{{ detail }}，达标，得{{ points }}分",
        "not_met": "{{ label }}：{{ detail }}，均未达标，不得分",
        "missing": "{{ label }}：{{ detail }}，无法判定（待核实）",
    }

    def inputs(self) -> list[str]:
        return [c.indicator for c in self.conditions]

    def evaluate(self, values, catalog):
        n = len(values)
        met_any, empty_any = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        pieces = []
        for c in self.conditions:
            v = Column.number(values, c.indicator)
            empty = np.isnan(v)
            ind = catalog[c.indicator]
            if c.at_least is not None:
                met = ~empty & (np.isinf(v) | (micro(v) >= micro(c.at_least)))
                bound = "≥" + format_values(pd.Series([c.at_least]), ind.type, ind.unit)[0]
            else:
                met = ~empty & (micro(v) <= micro(c.at_most))
                bound = "≤" + format_values(pd.Series([c.at_most]), ind.type, ind.unit)[0]
            met_any |= met
            empty_any |= empty
            verdict = np.where(empty, "", np.where(met, f"（{bound}）", f"（未达{bound}）"))
            pieces.append(c.label + Column.text(values, c.indicator, catalog) + verdict)
        detail = pieces[0]
        for piece in pieces[1:]:
            detail = detail + "；" + piece
        return Evaluation(
            points=np.where(met_any, self.points, 0).astype(np.int64),
            outcome=np.where(met_any, "met", np.where(empty_any, "missing", "not_met")),
            context={"detail": detail},
        )
