"""Each kind of the grown rules language against a small reference written here, over
hypothesis-drawn values: decimals, boundaries, 不适用 and empty cells."""

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

import pandas as pd
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qz_excel.intake.read import DTYPES
from qz_excel.rules.points import points_decimal
from qz_excel.rules.ruleset import load_rules
from qz_excel.rules.values import NOT_APPLICABLE
from qz_excel.scoring.engine import score

D = Decimal
CHECK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def one_item(tmp_path, indicators: list[dict], body: dict, standard=10, extra: dict | None = None):
    """A rules file of one item (plus ``extra`` top-level keys), loaded."""
    spec = {
        "year": 2020,
        "title": "测试细则",
        "form_title": "2020年测试考核填报表",
        "template_version": 1,
        "items": [
            {"number": 1, "name": "测试", "standard": standard, "indicators": indicators, **body},
        ],
        **(extra or {}),
    }
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return load_rules(path)


def scored(rules, rows: list[dict]):
    frame = pd.DataFrame(
        {c: pd.array([r.get(c) for r in rows], dtype=DTYPES[i.type]) for c, i in rules.catalog.items()},
        index=[f"t{k}" for k in range(len(rows))],
    )
    return score(rules, frame)


def points_of(result) -> list[Decimal]:
    return [points_decimal(p) for p in result.details["points"]]


def hundredths(low, high):
    return st.integers(low, high).map(lambda k: float(D(k) / 100))


PERCENT = st.one_of(st.none(), st.just(NOT_APPLICABLE), hundredths(0, 10000), st.sampled_from([85.0, 90.0, 95.0]))


@CHECK
@given(st.lists(st.one_of(st.none(), st.sampled_from(["健全", "不健全", "未建立"])), min_size=1, max_size=8))
def test_graded(tmp_path, chosen):
    rules = one_item(
        tmp_path,
        [{"id": "x", "label": "机制", "type": "choice", "options": ["健全", "不健全", "未建立"]}],
        {
            "rules": [
                {
                    "id": "g",
                    "kind": "graded",
                    "indicator": "x",
                    "label": "机制",
                    "points": {"健全": 10, "不健全": 6.5, "未建立": 0},
                }
            ]
        },
    )
    table = {"健全": D(10), "不健全": D("6.5"), "未建立": D(0), None: D(0)}
    result = scored(rules, [{"x": c} for c in chosen])
    assert points_of(result) == [table[c] for c in chosen]
    assert result.summary["待核实"].tolist() == [c is None for c in chosen]


@CHECK
@given(st.lists(PERCENT, min_size=1, max_size=8))
def test_bands_upward(tmp_path, rates):
    bands = [{"at_least": 95, "points": 8}, {"at_least": 90, "points": 6}, {"at_least": 85, "points": 3.5}]
    rules = one_item(
        tmp_path,
        [{"id": "x", "label": "合格率", "type": "percent"}],
        {
            "rules": [
                {"id": "b", "kind": "bands", "indicator": "x", "label": "合格率", "bands": bands, "otherwise": 0.5}
            ]
        },
    )

    def expected(v):
        if v is None:
            return D(0)
        if v == NOT_APPLICABLE or D(str(v)) >= 95:
            return D(8)
        return D(6) if D(str(v)) >= 90 else D("3.5") if D(str(v)) >= 85 else D("0.5")

    assert points_of(scored(rules, [{"x": v} for v in rates])) == [expected(v) for v in rates]


@CHECK
@given(
    st.lists(st.one_of(st.none(), hundredths(0, 6000), st.sampled_from([15.0, 30.0, 15.01])), min_size=1, max_size=8)
)
def test_bands_downward(tmp_path, minutes):
    rules = one_item(
        tmp_path,
        [{"id": "x", "label": "响应时间", "type": "number", "min": 0, "max": 100}],
        {
            "rules": [
                {
                    "id": "b",
                    "kind": "bands",
                    "indicator": "x",
                    "label": "响应",
                    "bands": [{"at_most": 15, "points": 2}, {"at_most": 30, "points": 1.2}],
                }
            ]
        },
    )

    def expected(v):
        return D(0) if v is None else D(2) if D(str(v)) <= 15 else D("1.2") if D(str(v)) <= 30 else D(0)

    assert points_of(scored(rules, [{"x": v} for v in minutes])) == [expected(v) for v in minutes]


@CHECK
@given(
    st.sampled_from(["half_up", "down", "up"]),
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), min_size=1, max_size=8),
)
def test_proportional(tmp_path, rounding, pairs):
    rules = one_item(
        tmp_path,
        [{"id": "done", "label": "完成", "type": "count"}, {"id": "all", "label": "任务", "type": "count"}],
        {
            "rules": [
                {
                    "id": "p",
                    "kind": "proportional",
                    "numerator": "done",
                    "denominator": "all",
                    "points": 30,
                    "rounding": rounding,
                    "label": "任务",
                }
            ]
        },
        standard=30,
    )
    mode = {"half_up": ROUND_HALF_UP, "down": ROUND_FLOOR, "up": ROUND_CEILING}[rounding]

    def expected(done, assigned):
        if done > assigned:
            return D(0), "invalid"
        if assigned == 0:
            return D(30), "na"
        return (D(done) * 30 / D(assigned)).quantize(D("0.01"), rounding=mode), "met"

    result = scored(rules, [{"done": d, "all": a} for d, a in pairs])
    assert list(zip(points_of(result), result.details["outcome"].astype(str))) == [expected(d, a) for d, a in pairs]


@CHECK
@given(
    st.lists(
        st.tuples(st.one_of(st.none(), PERCENT), st.one_of(st.none(), hundredths(-10000, 10000))),
        min_size=1,
        max_size=8,
    )
)
def test_any_of(tmp_path, pairs):
    rules = one_item(
        tmp_path,
        [
            {"id": "rate", "label": "覆盖率", "type": "percent"},
            {"id": "growth", "label": "增长", "type": "number", "min": -100, "max": 100},
        ],
        {
            "rules": [
                {
                    "id": "a",
                    "kind": "any_of",
                    "label": "覆盖",
                    "points": 3,
                    "conditions": [
                        {"indicator": "rate", "at_least": 70, "label": "覆盖率"},
                        {"indicator": "growth", "at_least": 10, "label": "增长"},
                    ],
                }
            ]
        },
    )

    def expected(rate, growth):
        met = (rate is not None and (rate == NOT_APPLICABLE or D(str(rate)) >= 70)) or (
            growth is not None and D(str(growth)) >= 10
        )
        pending = not met and (rate is None or growth is None)
        return (D(3) if met else D(0)), pending

    result = scored(rules, [{"rate": r, "growth": g} for r, g in pairs])
    assert list(zip(points_of(result), result.summary["待核实"])) == [expected(r, g) for r, g in pairs]


@CHECK
@given(st.lists(PERCENT, min_size=1, max_size=8))
def test_steps_with_decimal_steps_and_a_cutoff(tmp_path, shares):
    rules = one_item(
        tmp_path,
        [{"id": "x", "label": "占比", "type": "percent"}],
        {
            "rules": [
                {
                    "id": "s",
                    "kind": "shortfall_steps",
                    "indicator": "x",
                    "target": 50,
                    "step": 10,
                    "points": 2,
                    "per_step": 0.2,
                    "cutoff": 30,
                    "label": "占比",
                }
            ]
        },
    )

    def expected(v):
        if v is None:
            return D(0)
        if v == NOT_APPLICABLE or D(str(v)) >= 50:
            return D(2)
        if D(str(v)) < 30:
            return D(0)
        steps = ((50 - D(str(v))) / 10).to_integral_value(rounding=ROUND_CEILING)
        return max(D(0), D(2) - D("0.2") * steps)

    assert points_of(scored(rules, [{"x": v} for v in shares])) == [expected(v) for v in shares]


@CHECK
@given(
    st.lists(
        st.tuples(st.one_of(st.none(), st.integers(0, 12)), st.one_of(st.none(), st.integers(0, 40))),
        min_size=1,
        max_size=8,
    )
)
def test_start_full_group_deducts_to_zero_and_no_further(tmp_path, counts):
    rules = one_item(
        tmp_path,
        [{"id": "batches", "label": "批次", "type": "count"}, {"id": "labels", "label": "标识", "type": "count"}],
        {
            "groups": [
                {
                    "number": "3.1",
                    "name": "抽查",
                    "standard": 15,
                    "start_full": True,
                    "rules": [
                        {"id": "b", "kind": "per_unit", "indicator": "batches", "points": -2, "label": "批次"},
                        {"id": "l", "kind": "per_unit", "indicator": "labels", "points": -0.5, "label": "标识"},
                    ],
                }
            ]
        },
        standard=15,
    )
    result = scored(rules, [{"batches": b, "labels": c} for b, c in counts])
    expected = [max(D(0), D(15) - 2 * D(b or 0) - D("0.5") * D(c or 0)) for b, c in counts]
    assert [points_decimal(p) for p in result.summary[1]] == expected
    assert result.summary["待核实"].tolist() == [b is None or c is None for b, c in counts]


@CHECK
@given(
    st.lists(
        st.one_of(st.none(), st.integers(0, 12).map(lambda k: k / 2), st.sampled_from([0.25, 2.2, 7.0])),
        min_size=1,
        max_size=8,
    )
)
def test_assessed(tmp_path, given_points):
    rules = one_item(
        tmp_path,
        [{"id": "x", "label": "综合评定", "type": "number", "min": 0, "max": 10, "assessed": True}],
        {"rules": [{"id": "a", "kind": "assessed", "indicator": "x", "points": 5, "step": 0.5, "label": "评定"}]},
        standard=5,
    )

    def expected(v):
        if v is None:
            return D(0), "pending"
        ok = D(str(v)) <= 5 and (D(str(v)) / D("0.5")) == (D(str(v)) / D("0.5")).to_integral_value()
        return (D(str(v)), "met") if ok else (D(0), "rejected")

    result = scored(rules, [{"x": v} for v in given_points])
    assert list(zip(points_of(result), result.details["outcome"].astype(str))) == [expected(v) for v in given_points]
    assert result.summary["待核实"].tolist() == [expected(v)[1] != "met" for v in given_points]


@CHECK
@given(st.lists(st.tuples(*[st.integers(0, 6)] * 3, st.booleans()), min_size=1, max_size=8))
def test_bonus_caps_grades_and_a_grade_veto(tmp_path, towns):
    """Two bonus groups (one capped at 6), the whole bonus capped at 10, grades on the
    total, and a veto that zeroes its item and sets the grade."""
    rules = one_item(
        tmp_path,
        [
            {"id": "base", "label": "基础", "type": "count"},
            {"id": "incident", "label": "事件", "type": "bool"},
        ],
        {
            "rules": [
                {"id": "p", "kind": "per_unit", "indicator": "base", "points": 20, "part": "base", "label": "基础"},
                {"id": "v", "kind": "veto", "indicator": "incident", "grade": "D", "label": "事件"},
            ]
        },
        standard=100,
        extra={
            "settings": {
                "bonus_total_cap": 10,
                "grades": [{"name": "A", "min": 90}, {"name": "B", "min": 75}, {"name": "C", "min": 60}, {"name": "D"}],
            }
        },
    )
    # a second item, the bonus section, added to the same file as data
    path = tmp_path / "rules.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["items"].append(
        {
            "number": 2,
            "name": "加分项",
            "bonus": True,
            "indicators": [
                {"id": "n", "label": "国家级", "type": "count"},
                {"id": "m", "label": "宣传", "type": "count"},
            ],
            "groups": [
                {
                    "number": "2.1",
                    "name": "创优",
                    "rules": [{"id": "bn", "kind": "per_unit", "indicator": "n", "points": 2, "label": "国家级"}],
                },
                {
                    "number": "2.2",
                    "name": "宣传",
                    "cap": 6,
                    "rules": [{"id": "bm", "kind": "per_unit", "indicator": "m", "points": 1.5, "label": "宣传"}],
                },
            ],
        }
    )
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    rules = load_rules(path)
    rows = [{"base": b, "n": n, "m": m, "incident": inc} for b, n, m, inc in towns]
    result = scored(rules, rows)
    for k, (b, n, m, inc) in enumerate(towns):
        item1 = D(0) if inc else min(D(100), D(20) * b)
        bonus = min(D(10), D(2) * n + min(D(6), D("1.5") * m))
        total = item1 + bonus
        grade = "D" if inc else "A" if total >= 90 else "B" if total >= 75 else "C" if total >= 60 else "D"
        row = result.summary.iloc[k]
        assert (points_decimal(row[1]), points_decimal(row[2]), points_decimal(row["总分"])) == (item1, bonus, total)
        assert row["等级"] == grade
