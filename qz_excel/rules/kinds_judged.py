"""Kinds that decide rather than count: a veto (of the item, of the grade), and points the
考核组 awards itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

import lazy_loader
from pydantic import Field, model_validator

from qz_excel.rules.base import SCALE, Column, Evaluation, Part, RuleBase, micro
from qz_excel.rules.points import Points, points_decimal

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_loader.load("numpy")


class Veto(RuleBase):
    """When the answer is ``when``: the whole item scores 0, bonus included (unless
    ``zero_item: false``), and the town's 等级 is ``grade`` whatever its total (一律为D级)."""

    kind: Literal["veto"]
    kind_label: ClassVar[str] = "一票否决"
    indicator: str
    when: Literal["是", "否"] = "是"
    clear_label: str = ""
    zero_item: bool = True
    grade: str | None = None
    input_types: ClassVar[tuple[str, ...]] = ("bool",)
    templates: ClassVar[dict[str, str]] = {
        "fired": "否决：{{ label }}，{{ consequence }}",
        "clear": "{{ clear_label or '未触发否决：' ~ label }}",
    }

    @model_validator(mode="after")
    def _does_something(self) -> Veto:
        if not self.zero_item and self.grade is None:
            raise ValueError("否决既不使本项得0分（zero_item: false），也不定等级（grade），没有作用")
        return self

    def default_part(self) -> Part:
        return "veto"

    def max_points(self) -> int:
        return 0

    def inputs(self) -> list[str]:
        return [self.indicator]

    def check(self, catalog, grades):
        if self.grade is not None and self.grade not in grades:
            listed = "、".join(grades) or "（规则文件没有设等级 settings.grades）"
            return [("grade", f"grade “{self.grade}” 不是规则文件的等级：{listed}")]
        return []

    def evaluate(self, values, catalog):
        fired = Column.flag(values, self.indicator) == (self.when == "是")
        consequence = "、".join(
            ([] if not self.zero_item else ["本项不得分"]) + ([f"等级为{self.grade}"] if self.grade else [])
        )
        return Evaluation(
            points=np.zeros(len(values), dtype=np.int64),
            outcome=np.where(fired, "fired", "clear"),
            context={"clear_label": self.clear_label, "consequence": consequence},
        )


class Assessed(RuleBase):
    """Points the 考核组 awards itself (综合评定, 酌情给分): entered in the 核定表 as the
    value of an ``assessed`` indicator, never on the town's form; up to ``points`` in
    steps of ``step``. Until entered the town is 待核实 (待考核组评定)."""

    kind: Literal["assessed"]
    kind_label: ClassVar[str] = "考核组评定给分"
    indicator: str
    points: Points = Field(ge=0)
    step: Points = Field(default=SCALE // 2, ge=1)
    input_types: ClassVar[tuple[str, ...]] = ("number",)
    handles_missing: ClassVar[bool] = True
    templates: ClassVar[dict[str, str]] = {
        "met": "{{ label }}：考核组评定，得{{ points }}分",
        "pending": "{{ label }}：待考核组评定（待核实）",
        "rejected": "{{ label }}：评定分值不是0～{{ most }}分之间{{ step }}分的整数倍，不得分（待核实）",
    }

    def inputs(self) -> list[str]:
        return [self.indicator]

    def check(self, catalog, grades):
        ind = catalog.get(self.indicator)
        if ind is not None and not ind.assessed:
            return [("indicator", f"指标 {ind.id} 应标明 assessed: true（由考核组在核定表中填写，不出现在填报表上）")]
        return []

    def evaluate(self, values, catalog):
        v = Column.number(values, self.indicator)
        pending = np.isnan(v)
        hundredths = micro(v) // (1_000_000 // SCALE)  # exact: the value was rounded to 6 decimals
        exact = micro(v) % (1_000_000 // SCALE) == 0
        valid = ~pending & exact & (hundredths >= 0) & (hundredths <= self.points) & (hundredths % self.step == 0)
        return Evaluation(
            points=np.where(valid, hundredths, 0).astype(np.int64),
            outcome=np.where(pending, "pending", np.where(valid, "met", "rejected")),
            context={"most": points_decimal(self.points), "step": points_decimal(self.step)},
        )
