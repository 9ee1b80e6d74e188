"""The rules file as pydantic models: what a year's 评分细则 is made of.

A rules file has items (一级, each with its 标准分), each either with its sub-rules directly
(2010) or with groups (二级, each with its own 标准分 and clamp) holding them; indicators
are what a town fills (or, ``assessed``, what the 考核组 enters in the 核定表); settings hold
caps and grades. Every point is :data:`~qz_excel.rules.points.Points` (whole hundredths).
Cross-references (an indicator a rule names, a choice's options) are checked after this
validation, by :mod:`qz_excel.rules.ruleset`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from qz_excel.rules.kinds import SubRule
from qz_excel.rules.points import Points
from qz_excel.rules.values import COUNT_MAX, Domain

# Excel's limit for data-validation prompts (the help text becomes the input message)
INPUT_MESSAGE_MAX = 255
#: Excel's limit for a dropdown's list written inline (all options, separated by commas)
LIST_SOURCE_MAX = 255
IndicatorType = Literal["bool", "count", "percent", "choice", "number"]


class Indicator(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(min_length=1)
    type: IndicatorType
    unit: str = ""
    help: str = Field(default="", max_length=INPUT_MESSAGE_MAX)
    #: choice: the fixed answers, in the dropdown's order
    options: tuple[str, ...] = ()
    #: number (and count): the range a value must lie in; outside it is OUT_OF_RANGE
    min: float | None = None
    max: float | None = None
    #: entered by the 考核组 in the 核定表, never on the town's form
    assessed: bool = False

    @model_validator(mode="after")
    def _domain_fits_type(self) -> Indicator:
        if self.type == "choice":
            if len(self.options) < 2:
                raise ValueError("choice 类型的指标至少要有两个选项（options）")
            if len(set(self.options)) != len(self.options):
                raise ValueError("options 中有重复的选项")
            if any("," in o or not o.strip() for o in self.options):
                raise ValueError("选项不能为空，也不能含英文逗号")
            if len(",".join(self.options)) > LIST_SOURCE_MAX:
                raise ValueError(f"全部选项合计超过 Excel 下拉列表的 {LIST_SOURCE_MAX} 个字符")
        elif self.options:
            raise ValueError("只有 choice 类型的指标可以有 options")
        if (self.min is not None or self.max is not None) and self.type not in ("number", "count"):
            raise ValueError("只有 number、count 类型的指标可以有 min/max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} 大于 max {self.max}")
        if self.type == "count" and self.min is not None:
            raise ValueError("count 类型的指标下限总是 0，不能设 min")
        return self

    @property
    def domain(self) -> Domain:
        return Domain(options=self.options, low=self.min, high=self.max)


class Group(BaseModel):
    """二级指标: its rules' points are summed and clamped to [0, 标准分] (or to ``cap`` in a
    bonus item); ``start_full``: the sum starts at the 标准分 and the rules deduct from it
    (发现一次扣2分，扣完为止)."""

    model_config = ConfigDict(extra="forbid")

    number: str = Field(min_length=1)  # as the document numbers it: 「1.1」「（一）」
    name: str = Field(min_length=1)
    standard: Points | None = Field(default=None, ge=0)
    cap: Points | None = Field(default=None, ge=0)  # a bonus group's own cap
    start_full: bool = False
    method: str = ""  # the group's 评分方法 text, printed beside it
    rules: list[SubRule] = Field(min_length=1)


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: int = Field(ge=1)
    name: str
    standard: Points = Field(default=0, ge=0)  # 标准分, in hundredths
    content: str = ""
    method: str = ""
    #: 加分项: outside the 100; its groups are clamped to their caps, its score is bonus
    bonus: bool = False
    indicators: list[Indicator]
    groups: list[Group] = []
    rules: list[SubRule] = []

    @model_validator(mode="after")
    def _rules_or_groups(self) -> Item:
        if self.groups and self.rules:
            raise ValueError("一项要么直接写 rules，要么写 groups（二级指标），不能两者都写")
        if not self.groups and not self.rules:
            raise ValueError("没有细则：请写 rules 或 groups")
        if self.groups:
            # the engine and every output walk item.rules: the groups' rules, in order
            self.rules = [rule for group in self.groups for rule in group.rules]
        if self.bonus and self.standard:
            raise ValueError("加分项（bonus: true）在满分之外，不设 standard；每组的上限写 cap")
        if self.bonus:
            for group in self.groups:
                if group.standard is not None:
                    raise ValueError(f"加分项的二级指标 {group.number} 用 cap 设上限，不用 standard")
        else:
            for group in self.groups:
                if group.standard is None:
                    raise ValueError(f"二级指标 {group.number}（{group.name}）缺少 standard（标准分）")
                if group.cap is not None:
                    raise ValueError(f"二级指标 {group.number} 不是加分项，不能设 cap")
        return self

    @property
    def header(self) -> str:
        """The item's column header in the results: starts with its number (「1 组织领导」)."""
        return f"{self.number} {self.name}"

    def group_of(self) -> dict[str, Group]:
        """Sub-rule id → its group (empty for an item without groups)."""
        return {rule.id: group for group in self.groups for rule in group.rules}


class Grade(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=4)  # A, B, 优秀 …
    min: Points | None = Field(default=None, ge=0)  # the lowest total of this grade; None: the rest


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: cap on each item's bonus points (hundredths); None: uncapped (the 2010 seed states no cap)
    bonus_cap: Points | None = Field(default=None, ge=0)
    #: cap on the whole bonus of a town, all items together; None: uncapped
    bonus_total_cap: Points | None = Field(default=None, ge=0)
    #: the largest count a town may report (the spec sets none); larger is OUT_OF_RANGE.
    #: At most 10⁹, so exact integer scoring in millionths stays far inside int64
    count_max: int = Field(default=COUNT_MAX, ge=1, le=1_000_000_000)
    #: grades on the total, best first (A ≥ 90, B ≥ 75 …); the last one has no min
    grades: list[Grade] = []

    @model_validator(mode="after")
    def _grades_in_order(self) -> Settings:
        if not self.grades:
            return self
        *ranked, last = self.grades
        if last.min is not None:
            raise ValueError(f"最后一个等级 {last.name} 是其余所有总分，不写 min")
        mins = [g.min for g in ranked]
        if any(m is None for m in mins):
            raise ValueError("除最后一个等级外，每个等级都要写 min（该等级的最低总分）")
        if any(a <= b for a, b in zip(mins, mins[1:])):  # type: ignore[operator]
            raise ValueError("等级要从高到低排列，min 逐级减小")
        if len({g.name for g in self.grades}) != len(self.grades):
            raise ValueError("等级名称重复")
        return self


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=2000, le=2100)
    title: str  # 「2010年各镇、街道、园区办质量振兴工作考核评分细则」
    #: what the assessment is called in titles, file names and letters (「质量工作考核」);
    #: by default the form title without its year and 「填报表」 (:attr:`assessment`)
    name: str | None = None
    attachment: str = ""
    form_title: str
    template_version: int = Field(ge=1)
    settings: Settings = Settings()
    items: list[Item] = Field(min_length=1)

    @property
    def assessment(self) -> str:
        """「2010年质量振兴工作考核填报表」 → 「质量振兴工作考核」, unless ``name`` says it."""
        if self.name:
            return self.name
        text = re.sub(rf"^\s*{self.year}\s*年度?", "", self.form_title)
        text = re.sub(r"[（(][^）)]*[）)]\s*$", "", text.strip())  # 「（示例）」
        return re.sub(r"填报表$", "", text.strip()) or self.form_title
