"""The second ruleset (templates/rules/examples/2016-example.yaml) scored exactly as
scoring-2016-example.md says, against a reference written here from the spec's own words,
in Decimal arithmetic, over hypothesis-drawn towns (decimals, boundaries, 不适用, empty)."""

from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qz_excel.common.resources import templates_dir
from qz_excel.intake.read import DTYPES
from qz_excel.rules.points import points_decimal
from qz_excel.rules.ruleset import check_rules, load_rules
from qz_excel.rules.values import NOT_APPLICABLE
from qz_excel.scoring.engine import score

EXAMPLE = templates_dir() / "rules" / "examples" / "2016-example.yaml"
D = Decimal
NA = NOT_APPLICABLE


@pytest.fixture(scope="module")
def example():
    return load_rules(EXAMPLE)


def ceil(x: Decimal) -> Decimal:
    return x.to_integral_value(rounding=ROUND_CEILING)


def clamp(x: Decimal, low: Decimal, high: Decimal) -> Decimal:
    return max(low, min(high, x))


def reference(v: dict) -> dict:
    """Items 1–4 (4 = bonus), total, grade and 待核实 of one town, from the spec's text."""
    review = False

    def get(key):
        nonlocal review
        if v.get(key) is None:
            review = True
        return v.get(key)

    def graded(key, table):
        x = get(key)
        return D(0) if x is None else D(str(table[x]))

    # 一 质量建设机制
    policy = get("m_policy_aspects")
    g11 = (
        graded("m_plan_level", {"纳入国民经济和社会发展规划": 1, "纳入部门规划": "0.5", "未纳入": 0})
        + graded("m_gov_report", {"有体现": 1, "体现不充分": "0.5", "无体现": 0})
        + (D("0.5") if get("m_five_year_plan") else 0)
        + (D("0.5") if get("m_annual_scheme") else 0)
        + (D(0) if not policy else D(1) - D("0.1") * (6 - policy))
    )
    g12 = graded("m_mechanism", {"健全且运行良好": 10, "不健全或运行一般": 6, "未建立": 0})
    g13 = graded("m_incentive", {"出台综合性激励政策": 4, "出台专项激励政策": 3, "未出台": 0})
    g14 = graded("m_reporting", {"按时上报": 3, "未按时上报": 2, "未上报": 0})
    meetings, staff = get("m_meetings"), get("m_staff")
    g15 = (
        (D(4) if meetings is not None and meetings >= 2 else 0)
        + (D(2) if staff is not None and staff >= 1 else 0)
        + (D(3) if get("m_annual_plan") else 0)
    )
    item1 = clamp(g11, D(0), D(4)) + g12 + g13 + g14 + clamp(g15, D(0), D(9))

    # 二 质量工作成效
    rate = get("e_verification_rate")
    if rate is None:
        g21 = D(0)
    elif rate == NA or D(str(rate)) >= 98:
        g21 = D(5)
    else:
        g21 = max(D(0), D(5) - D("0.5") * ceil(98 - D(str(rate))))
    share = get("e_brand_share")
    if share is None:
        g22 = D(0)
    elif share == NA or D(str(share)) >= 50:
        g22 = D(2)
    elif D(str(share)) < 30:
        g22 = D(0)
    else:
        g22 = D(2) - D("0.2") * ceil((50 - D(str(share))) / 10)
    passed = get("e_pass_rate")
    if passed is None:
        g23 = D(0)
    elif passed == NA or D(str(passed)) >= 95:
        g23 = D(8)
    else:
        g23 = D(6) if D(str(passed)) >= 90 else D(3) if D(str(passed)) >= 85 else D(0)
    minutes = get("e_response_minutes")
    g24 = D(0) if minutes is None else D(2) if D(str(minutes)) <= 15 else D("1.2") if D(str(minutes)) <= 30 else D(0)
    assigned, done = get("e_tasks_assigned"), get("e_tasks_done")
    if assigned is None or done is None:
        g25 = D(0)
    elif done > assigned:
        g25, review = D(0), True
    elif assigned == 0:
        g25 = D(30)
    else:
        g25 = (D(done) * 30 / D(assigned)).quantize(D("0.01"), rounding=ROUND_HALF_UP)
    coverage, growth = v.get("e_coverage_rate"), v.get("e_coverage_growth")
    met = (coverage is not None and (coverage == NA or D(str(coverage)) >= 70)) or (
        growth is not None and D(str(growth)) >= 10
    )
    if not met and (coverage is None or growth is None):
        review = True
    g26 = D(3) if met else D(0)
    item2 = g21 + g22 + g23 + g24 + g25 + g26

    # 三 质量安全水平
    batches, labels = v.get("s_failed_batches"), v.get("s_label_issues")
    if batches is None or labels is None:
        review = True
    g31 = clamp(D(15) - 2 * D(batches or 0) - D("0.5") * D(labels or 0), D(0), D(15))
    assessed = v.get("s_assessment")
    if assessed is None:
        review, g32 = True, D(0)
    else:
        g32 = D(str(assessed))
    incident = get("s_major_incident")
    vetoed = incident is True
    item3 = D(0) if vetoed else g31 + g32

    # 加分项: groups capped, then the whole bonus at most 10
    def count(key):
        x = get(key)
        return D(0) if x is None else D(x)

    g41 = 2 * count("b_award_national") + D("0.5") * count("b_award_provincial") + D("0.2") * count("b_award_city")
    g42 = min(D(6), 2 * count("b_media_national") + count("b_media_provincial"))
    bonus = min(D(10), g41 + g42)

    total = item1 + item2 + item3 + bonus
    grade = "D" if vetoed else "A" if total >= 90 else "B" if total >= 75 else "C" if total >= 60 else "D"
    return {1: item1, 2: item2, 3: item3, 4: bonus, "总分": total, "等级": grade, "待核实": review}


CHOICES = {
    "m_plan_level": ["纳入国民经济和社会发展规划", "纳入部门规划", "未纳入"],
    "m_gov_report": ["有体现", "体现不充分", "无体现"],
    "m_mechanism": ["健全且运行良好", "不健全或运行一般", "未建立"],
    "m_incentive": ["出台综合性激励政策", "出台专项激励政策", "未出台"],
    "m_reporting": ["按时上报", "未按时上报", "未上报"],
}
BOOLS = ["m_five_year_plan", "m_annual_scheme", "m_annual_plan", "s_major_incident"]
PERCENTS = ["e_verification_rate", "e_brand_share", "e_pass_rate", "e_coverage_rate"]
COUNTS = ["m_meetings", "m_staff", "e_tasks_assigned", "e_tasks_done", "s_failed_batches", "s_label_issues"]
COUNTS += ["b_award_national", "b_award_provincial", "b_award_city", "b_media_national", "b_media_provincial"]


def maybe(strategy):
    return st.one_of(st.none(), strategy) if True else strategy


def hundredths(low: int, high: int):
    return st.integers(low, high).map(lambda k: float(D(k) / 100))


town = st.fixed_dictionaries(
    {
        **{k: maybe(st.sampled_from(v)) for k, v in CHOICES.items()},
        **{k: maybe(st.booleans()) for k in BOOLS},
        **{
            k: maybe(
                st.one_of(
                    st.just(NA),
                    st.sampled_from([0.0, 29.99, 30.0, 39.9, 40.0, 45.0, 50.0, 69.99, 70.0, 85.0, 90.0, 95.0, 97.0]),
                    st.sampled_from([96.9, 97.5, 98.0, 99.99, 100.0]),
                    hundredths(0, 10000),
                )
            )
            for k in PERCENTS
        },
        "m_policy_aspects": maybe(st.integers(0, 6)),
        **{k: maybe(st.integers(0, 12)) for k in COUNTS},
        "e_response_minutes": maybe(st.one_of(st.sampled_from([0.0, 15.0, 15.01, 30.0, 30.5]), hundredths(0, 10000))),
        "e_coverage_growth": maybe(st.one_of(st.sampled_from([-3.0, 9.99, 10.0]), hundredths(-10000, 10000))),
        "s_assessment": maybe(st.integers(0, 10).map(lambda k: k / 2)),
    }
)


def values_frame(rules, towns: dict[str, dict]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            code: pd.array([towns[t].get(code) for t in towns], dtype=DTYPES[ind.type])
            for code, ind in rules.catalog.items()
        },
        index=list(towns),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(town, min_size=1, max_size=6))
def test_every_town_scores_as_the_spec_says(example, towns):
    frame = values_frame(example, {f"镇{k}": v for k, v in enumerate(towns)})
    result = score(example, frame)
    for k, values in enumerate(towns):
        expected = reference(values)
        row = result.summary.loc[f"镇{k}"]
        got = {n: points_decimal(row[n]) for n in (1, 2, 3, 4, "总分")}
        assert got == {n: expected[n] for n in (1, 2, 3, 4, "总分")}, values
        assert row["等级"] == expected["等级"], values
        assert bool(row["待核实"]) == expected["待核实"], values


def test_the_spec_examples(example):
    """The worked examples written into the spec: 97 → 4.5, 96.9 → 4; 45 → 1.8, 39.9 → 1.6."""
    base = {k: 0 for k in COUNTS} | {"m_policy_aspects": 6, "e_response_minutes": 10.0, "e_coverage_growth": 0.0}
    cases = {
        "97": {"e_verification_rate": 97.0},
        "96.9": {"e_verification_rate": 96.9},
        "45": {"e_brand_share": 45.0},
        "39.9": {"e_brand_share": 39.9},
        "30": {"e_brand_share": 30.0},
        "29.9": {"e_brand_share": 29.9},
    }
    frame = values_frame(example, {name: {**base, **case} for name, case in cases.items()})
    details = score(example, frame).details
    by = details.set_index(["town", "rule"])["points"]
    assert points_decimal(by[("97", "e_verification_rate")]) == D("4.5")
    assert points_decimal(by[("96.9", "e_verification_rate")]) == D("4")
    assert points_decimal(by[("45", "e_brand_share")]) == D("1.8")
    assert points_decimal(by[("39.9", "e_brand_share")]) == D("1.6")
    assert points_decimal(by[("30", "e_brand_share")]) == D("1.6")
    assert points_decimal(by[("29.9", "e_brand_share")]) == D("0")


def test_the_example_checks_clean(example):
    assert check_rules(example) == []
    assert example.spec.assessment == "质量工作考核"
    assert example.assessed == {"s_assessment"}
