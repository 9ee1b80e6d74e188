"""What a resubmission changed: the 变更记录 of a town that sent more than one file.

When a corrected file arrives beside the old one, the newest is scored (see
:func:`qz_excel.intake.read.choose_among_duplicates`); each file it supersedes is compared
with it indicator by indicator. Values are compared as read (「3次」 and 3 are the same
value) and shown as the town typed them when they could not be read.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from qz_excel.rules.ruleset import Rules
from qz_excel.rules.values import format_one, is_empty

EMPTY = "（空）"


@dataclass(frozen=True, slots=True)
class Change:
    town: str
    indicator: str
    label: str
    old: str
    new: str
    old_file: str
    new_file: str


def shown(value: object, typed: object, kind: str, unit: str) -> str:
    """A value for people: as read, or as typed with 「（无效）」, or 「（空）」."""
    if value is not None:
        return format_one(value, kind, unit)
    if is_empty(typed):
        return EMPTY
    return f"“{typed}”（无效）"


def changes_between(rules: Rules, old, new) -> list[Change]:
    """Indicators whose value differs between two :class:`~qz_excel.intake.read.Returned` of
    one town, in the rules' order."""
    changes = []
    old_typed = old.typed or (None,) * len(old.found)
    new_typed = new.typed or (None,) * len(new.found)
    for k, code in enumerate(new.codes):
        before, after = old.found[k], new.found[k]
        if before is not None and before == after:
            continue
        ind = rules.catalog[code]
        was, now = shown(before, old_typed[k], ind.type, ind.unit), shown(after, new_typed[k], ind.type, ind.unit)
        if was != now:
            changes.append(Change(new.town, code, ind.label, was, now, old.file, new.file))
    return changes


def describe(changes: list[Change], limit: int = 10) -> str:
    """「改动了 2 项：「label」3 → 4、「label」否 → 是」 for notes and messages."""
    if not changes:
        return "两个文件的填报值相同"
    listed = "、".join(f"「{c.label}」{c.old} → {c.new}" for c in changes[:limit])
    more = f" 等（共 {len(changes)} 项，见汇总表“变更记录”）" if len(changes) > limit else ""
    return f"改动了 {len(changes)} 项：{listed}{more}"


CHANGE_COLUMNS = {
    "town": "单位名称",
    "label": "指标",
    "old": "原值",
    "new": "新值",
    "old_file": "原文件",
    "new_file": "采用的文件",
    "indicator": "指标代码",
}


def changes_frame(changes: list[Change]) -> pd.DataFrame:
    rows = [{col: getattr(c, attr) for attr, col in CHANGE_COLUMNS.items()} for c in changes]
    return pd.DataFrame(rows, columns=list(CHANGE_COLUMNS.values()))
