"""Kinds that decide rather than count: a veto."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

import lazy_loader

from qz_excel.rules.base import Column, Evaluation, Part, RuleBase

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:
    np = lazy_loader.load("numpy")
    pd = lazy_loader.load("pandas")


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
