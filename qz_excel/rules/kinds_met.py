"""Kinds that give points when a condition is met: a yes/no answer, a threshold, every
or any of several conditions."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

import lazy_loader
from pydantic import BaseModel, ConfigDict, Field

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
