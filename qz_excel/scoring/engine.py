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
from qz_excel.rules.points import points_decimals
from qz_excel.rules.ruleset import PLAIN_FIELD, Rules, is_plain_template

_ENV = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)

#: outcomes that leave the town 待核实
REVIEW_OUTCOMES = ("missing", "invalid")


@dataclass
class ScoreResult:
    """Every point in these frames is in hundredths (:mod:`qz_excel.rules.points`)."""

    #: one row per town × sub-rule: town, item, rule, label, part, points, outcome, explanation
    details: pd.DataFrame
    #: one row per town × item: town, item, base_raw, base, bonus, vetoed, score
    items: pd.DataFrame
    #: one row per town (index: town): a column per item number, 加分合计, 总分, 排名, 待核实
    summary: pd.DataFrame

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

    items, summary = _items_and_totals(rules, pairs, points, outcomes, values.index)
    all_texts = np.concatenate(texts) if texts else np.array([], dtype=object)
    details = _details_frame(values.index, pairs, points, outcomes, text_codes, all_texts)
    return ScoreResult(details=details, items=items, summary=summary)


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


def _items_and_totals(rules, pairs, points, outcomes, towns):
    parts = np.array([rule.effective_part for _, rule in pairs])
    item_of = np.array([item.number for item, _ in pairs])
    cap = rules.spec.settings.bonus_cap
    n = len(towns)
    scores, rows = {}, []
    bonus_total = np.zeros(n, dtype=np.int64)
    for item in rules.items:
        in_item = item_of == item.number
        base_raw = points[:, in_item & np.isin(parts, ("base", "deduction"))].sum(axis=1)
        bonus = points[:, in_item & (parts == "bonus")].sum(axis=1)
        if cap is not None:
            bonus = np.minimum(bonus, cap)
        vetoed = (outcomes[:, in_item & (parts == "veto")] == "fired").any(axis=1)
        base = np.clip(base_raw, 0, item.standard)
        score = np.where(vetoed, 0, base + bonus)
        scores[item.number] = score
        bonus_total += np.where(vetoed, 0, bonus)
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
    summary = pd.DataFrame(scores, index=towns)
    summary["加分合计"] = bonus_total
    summary["总分"] = summary[[item.number for item in rules.items]].sum(axis=1)
    summary["排名"] = summary["总分"].rank(method="min", ascending=False).astype(np.int64)
    summary["待核实"] = np.isin(outcomes, REVIEW_OUTCOMES).any(axis=1)
    items = pd.concat(rows, ignore_index=True)
    return items, summary


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
