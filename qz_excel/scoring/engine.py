"""The scoring engine: rules × one frame of normalised values → scores. Pure pandas/numpy,
no I/O, no printing, no per-town Python loop.

Input: ``values``, one row per town (the index names the town), one column per indicator,
holding the canonical values of :mod:`qz_excel.rules.values` (True/False, whole numbers, percent
units with NOT_APPLICABLE for 不适用) and NA where a cell was empty or invalid. Optionally
``notes``, a frame of the same shape saying how a non-canonical form was read; it prefixes
the explanation of every sub-rule that uses that value.

Item score = clamp(base + deductions, 0, 标准分) + bonus (capped when the rules file says
so), or 0 when a veto fires. Total = Σ items. Rank is the competition rank (1, 2, 2, 4).
All arithmetic is on integers: points in hundredths.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from jinja2 import Environment, StrictUndefined

from qz_excel.rules.kinds import MISSING_DEDUCTION_TEMPLATE, MISSING_TEMPLATE, MISSING_VETO_TEMPLATE
from qz_excel.rules.model import Group, Item
from qz_excel.rules.points import points_decimals
from qz_excel.rules.ruleset import PLAIN_FIELD, Rules, is_plain_template

_ENV = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)

#: outcomes that leave the town 待核实: an empty or invalid input, a contradictory pair, points
#: the 考核组 has yet to award (or awarded off its steps)
REVIEW_OUTCOMES = ("missing", "invalid", "pending", "rejected")


@dataclass
class ScoreResult:
    """Every point in these frames is in hundredths (:mod:`qz_excel.rules.points`)."""

    #: one row per town × sub-rule: town, item, rule, label, part, points, outcome, explanation
    details: pd.DataFrame
    #: one row per town × item: town, item, base_raw, base, bonus, vetoed, score
    items: pd.DataFrame
    #: one row per town (index: town): a column per item number, 加分合计, 总分, 排名, 待核实,
    #: and 等级 when the rules file sets grades
    summary: pd.DataFrame
    #: one row per town × group (二级指标) when the rules file has groups: town, item,
    #: group, raw (before the clamp), score
    groups: pd.DataFrame | None = None

    def counted_bonus(self) -> pd.DataFrame:
        """Bonus points inside each item's score (none where a veto fired): town × item."""
        counted = self.items.assign(bonus=self.items["bonus"].where(~self.items["vetoed"], 0))
        return counted.pivot(index="town", columns="item", values="bonus")


@lru_cache(maxsize=1024)
def _compile(text: str) -> Callable[[dict], str]:
    """A template as a function of its context. Templates made only of text and
    ``{{ name }}`` / ``{{ -name }}`` fields (all of 2010's) become str.format calls, which
    give the same text as jinja at a tenth of the cost; anything else renders through jinja."""
    if is_plain_template(text):
        fields = PLAIN_FIELD.findall(text)  # (sign, name) pairs
        literals = PLAIN_FIELD.split(text)[::3]  # split() interleaves literals, signs and names
        escaped = [part.replace("{", "{{").replace("}", "}}") for part in literals]
        pattern = escaped[0] + "".join("{" + str(k) + "}" + lit for k, lit in enumerate(escaped[1:]))

        def render(ctx: dict, _pattern=pattern, _fields=fields) -> str:
            return _pattern.format(*(_jinja_str(-ctx[n] if sign else ctx[n]) for sign, n in _fields))

        return render
    return _ENV.from_string(text).render


def _jinja_str(value) -> str:
    # jinja prints None as "None" and numbers with str(); match it exactly
    return str(value)


def _combine_codes(columns: list[np.ndarray]) -> np.ndarray:
    """One code per distinct row of the given columns, in order of first appearance."""
    codes = np.zeros(len(columns[0]), dtype=np.int64)
    for col in columns:
        c, uniques = pd.factorize(col)
        codes, _ = pd.factorize(codes * (len(uniques) + 1) + c)
    return codes


def render_explanations(
    templates: dict[str, str],
    outcome: np.ndarray,
    per_row: dict[str, np.ndarray],
    constants: dict,
    note: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render each row's template (chosen by its outcome) once per distinct context.

    Returns (codes, texts): row i's explanation is ``texts[codes[i]]``. Towns share few
    distinct contexts (a flag has three), so this costs a handful of renders per sub-rule
    however many towns there are. ``note`` (how a value was read) prefixes the text.
    """
    columns = [outcome] + list(per_row.values()) + ([note] if note is not None else [])
    codes = _combine_codes(columns)
    _, first = np.unique(codes, return_index=True)
    texts = np.empty(len(first), dtype=object)
    for code, row in enumerate(first):  # np.unique sorts codes 0..k-1: `code` is the code
        ctx = {**constants, **{name: _plain(col[row]) for name, col in per_row.items()}}
        text = _compile(templates[outcome[row]])(ctx)
        texts[code] = f"{note[row]}；{text}" if note is not None and note[row] else text
    return codes, texts


def _plain(x):
    return x.item() if isinstance(x, np.generic) else x


def _check_frame(rules: Rules, values: pd.DataFrame) -> None:
    absent = [i for i in rules.catalog if i not in values.columns]
    if absent:
        raise ValueError(f"values frame lacks indicator columns: {', '.join(absent)}")
    if not values.index.is_unique:
        raise ValueError("values frame has duplicate towns in its index")


def score(rules: Rules, values: pd.DataFrame, notes: pd.DataFrame | None = None) -> ScoreResult:
    _check_frame(rules, values)
    n = len(values)
    pairs = rules.subrules()
    points = np.zeros((n, len(pairs)), dtype=np.int64)
    outcomes = np.empty((n, len(pairs)), dtype=object)
    text_codes = np.zeros((n, len(pairs)), dtype=np.int64)
    texts: list[np.ndarray] = []
    empty = values.isna()

    for j, (_, rule) in enumerate(pairs):
        ev = rule.evaluate(values, rules.catalog)
        if rule.handles_missing:  # 「A或B」: the kind says when an empty input matters
            missing = np.asarray(ev.outcome) == "missing"
        else:
            missing = empty[rule.inputs()].any(axis=1).to_numpy()
        outcome = np.where(missing, "missing", ev.outcome).astype(object)
        points[:, j] = np.where(missing, 0, ev.points)
        outcomes[:, j] = outcome

        missing = {"veto": MISSING_VETO_TEMPLATE, "deduction": MISSING_DEDUCTION_TEMPLATE}
        templates = {"missing": missing.get(rule.effective_part, MISSING_TEMPLATE), **rule.explain_templates()}
        per_row = {k: np.asarray(v, dtype=object) for k, v in ev.context.items() if np.ndim(v) == 1 and len(v) == n}
        constants = {"label": rule.label, **{k: v for k, v in ev.context.items() if k not in per_row}}
        per_row["points"] = points_decimals(points[:, j])  # 4.5, not 450 hundredths
        codes, unique_texts = render_explanations(
            templates, outcome, per_row, constants, _notes_for(notes, rule.inputs(), n)
        )
        text_codes[:, j] = codes + sum(len(t) for t in texts)
        texts.append(unique_texts)

    items, summary, groups = _items_and_totals(rules, pairs, points, outcomes, values.index)
    all_texts = np.concatenate(texts) if texts else np.array([], dtype=object)
    details = _details_frame(values.index, pairs, points, outcomes, text_codes, all_texts)
    return ScoreResult(details=details, items=items, summary=summary, groups=groups)


def _notes_for(notes: pd.DataFrame | None, inputs: list[str], n: int) -> np.ndarray | None:
    """The notes of a sub-rule's inputs, joined per town; None when there are none."""
    if notes is None:
        return None
    cols = [notes[c].fillna("").to_numpy(dtype=object) for c in inputs if c in notes.columns]
    if not cols:
        return None
    joined = cols[0]
    for col in cols[1:]:
        # the same note for several inputs (three rates typed as text alike) is said once
        fresh = (col != "") & np.array([c not in j.split("；") for c, j in zip(col, joined)], dtype=bool)
        joined = np.where((joined != "") & fresh, joined + "；" + col, np.where(fresh, joined + col, joined))
    return joined if (joined != "").any() else None


def _groups_of(item: Item) -> list[tuple[Group | None, np.ndarray]]:
    """(group or None, mask over the item's sub-rules): an item without groups is one
    group of its own, with the item's 标准分."""
    if not item.groups:
        return [(None, np.ones(len(item.rules), dtype=bool))]
    group_of = item.group_of()
    return [(group, np.array([group_of[r.id] is group for r in item.rules])) for group in item.groups]


def _item_parts(item: Item, points: np.ndarray, parts: np.ndarray, bonus_cap: int | None):
    """One item's base_raw, base and bonus per town (hundredths), and its groups' scores.

    A group's base and deductions are clamped to [0, its 标准分] (a start_full group starts
    at its 标准分 and only deducts); bonus parts are added after. In a bonus item (加分项)
    every group is bonus, capped by its own cap. The item's base is clamped to its 标准分,
    its bonus to ``bonus_cap``."""
    n = points.shape[0]
    base_raw = np.zeros(n, dtype=np.int64)
    bonus = np.zeros(n, dtype=np.int64)
    group_scores = []
    counted = np.isin(parts, ("base", "deduction"))
    for group, mask in _groups_of(item):
        if item.bonus:
            earned = points[:, mask].sum(axis=1)
            cap = group.cap if group is not None else None
            group_bonus = np.clip(earned, 0, cap) if cap is not None else np.maximum(earned, 0)
            group_raw, group_base = earned, np.zeros(n, dtype=np.int64)
        else:
            group_raw = points[:, mask & counted].sum(axis=1)
            group_bonus = points[:, mask & (parts == "bonus")].sum(axis=1)
            if group is None:
                group_base = group_raw  # clamped with the item below, as 2010 has it
            else:
                start = group.standard if group.start_full else 0
                group_raw = group_raw + start
                group_base = np.clip(group_raw, 0, group.standard)
        base_raw += group_base if group is not None else group_raw
        bonus += group_bonus
        if group is not None:
            group_scores.append((group, group_raw, group_base + group_bonus))
    if bonus_cap is not None:
        bonus = np.minimum(bonus, bonus_cap)
    base = np.clip(base_raw, 0, item.standard)
    return base_raw, base, bonus, group_scores


def _cap_total_bonus(bonuses: list[np.ndarray], cap: int | None) -> list[np.ndarray]:
    """The whole bonus at most ``cap``: what lies beyond it is taken from the last items'
    bonus first, so each item's printed score still adds up to the total."""
    if cap is None or not bonuses:
        return bonuses
    excess = np.maximum(np.sum(bonuses, axis=0) - cap, 0)
    capped = []
    for bonus in reversed(bonuses):
        taken = np.minimum(bonus, excess)
        capped.append(bonus - taken)
        excess = excess - taken
    return capped[::-1]


def _grades(rules, totals: np.ndarray, forced: list[np.ndarray]) -> np.ndarray | None:
    """等级 per town from its total (A ≥ 90 …), or the grade a fired veto sets (the lowest
    such grade when several fire); None when the rules file sets no grades."""
    grades = rules.spec.settings.grades
    if not grades:
        return None
    rank_of = {g.name: k for k, g in enumerate(grades)}
    level = np.full(len(totals), len(grades) - 1, dtype=np.int64)
    for k in range(len(grades) - 2, -1, -1):
        level = np.where(totals >= grades[k].min, k, level)
    for grade, fired in forced:
        level = np.where(fired, np.maximum(level, rank_of[grade]), level)
    return np.array([g.name for g in grades], dtype=object)[level]


def _items_and_totals(rules, pairs, points, outcomes, towns):
    parts = np.array([rule.effective_part for _, rule in pairs])
    item_of = np.array([item.number for item, _ in pairs])
    settings = rules.spec.settings
    n = len(towns)
    column_of = {rule.id: k for k, (_, rule) in enumerate(pairs)}
    results, forced = [], []
    for item in rules.items:
        in_item = item_of == item.number
        base_raw, base, bonus, group_scores = _item_parts(item, points[:, in_item], parts[in_item], settings.bonus_cap)
        vetoes = [rule for rule in item.rules if rule.kind == "veto"]
        fired = {rule.id: outcomes[:, column_of[rule.id]] == "fired" for rule in vetoes}
        zeroed = np.zeros(n, dtype=bool)
        for rule in vetoes:
            if rule.zero_item:
                zeroed |= fired[rule.id]
            if rule.grade is not None:
                forced.append((rule.grade, fired[rule.id]))
        results.append((item, base_raw, base, np.where(zeroed, 0, bonus), zeroed, group_scores))
    capped = _cap_total_bonus([bonus for _, _, _, bonus, _, _ in results], settings.bonus_total_cap)
    scores, rows, group_rows = {}, [], []
    for (item, base_raw, base, _, vetoed, group_scores), bonus in zip(results, capped):
        score = np.where(vetoed, 0, base + bonus)
        scores[item.number] = score
        rows.append(
            pd.DataFrame(
                {
                    "town": towns,
                    "item": item.number,
                    "base_raw": base_raw,
                    "base": base,
                    "bonus": bonus,
                    "vetoed": vetoed,
                    "score": score,
                }
            )
        )
        for group, raw, group_score in group_scores:
            group_rows.append(
                pd.DataFrame(
                    {
                        "town": towns,
                        "item": item.number,
                        "group": group.number,
                        "raw": raw,
                        "score": np.where(vetoed, 0, group_score),
                    }
                )
            )
    summary = pd.DataFrame(scores, index=towns)
    summary["加分合计"] = np.sum(capped, axis=0) if capped else 0
    summary["总分"] = summary[[item.number for item in rules.items]].sum(axis=1)
    summary["排名"] = summary["总分"].rank(method="min", ascending=False).astype(np.int64)
    summary["待核实"] = np.isin(outcomes, REVIEW_OUTCOMES).any(axis=1)
    grades = _grades(rules, summary["总分"].to_numpy(), forced)
    if grades is not None:
        summary["等级"] = grades
    items = pd.concat(rows, ignore_index=True)
    groups = pd.concat(group_rows, ignore_index=True) if group_rows else None
    return items, summary, groups


def _details_frame(towns, pairs, points, outcomes, text_codes, texts) -> pd.DataFrame:
    """Town × sub-rule rows, town-major. Repeated strings are categoricals, so a frame of
    10,000 towns × 44 sub-rules is built from integer codes, not 440,000 Python strings."""
    n, r = points.shape

    def tiled(per_rule: list) -> pd.Categorical:
        codes, categories = pd.factorize(np.asarray(per_rule, dtype=object))
        return pd.Categorical.from_codes(np.tile(codes, n), categories=categories)

    def coded(values: np.ndarray) -> pd.Categorical:
        codes, categories = pd.factorize(values)
        return pd.Categorical.from_codes(codes, categories=categories)

    text_map, unique_texts = pd.factorize(texts)
    return pd.DataFrame(
        {
            "town": pd.Categorical.from_codes(np.repeat(np.arange(n), r), categories=towns),
            "item": np.tile([item.number for item, _ in pairs], n),
            "rule": tiled([rule.id for _, rule in pairs]),
            "label": tiled([rule.label for _, rule in pairs]),
            "part": tiled([rule.effective_part for _, rule in pairs]),
            "points": points.reshape(-1),
            "outcome": coded(outcomes.reshape(-1)),
            "explanation": pd.Categorical.from_codes(text_map[text_codes.reshape(-1)], categories=unique_texts),
        }
    )
