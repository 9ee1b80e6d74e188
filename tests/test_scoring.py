"""Every sub-rule at its boundaries, with the spec's examples, and the engine's invariants."""

import numpy as np
import pandas as pd
import pytest
from conftest import frame
from hypothesis import given, settings
from hypothesis import strategies as st

from qz_excel.intake.read import DTYPES
from qz_excel.rules.points import SCALE
from qz_excel.rules.values import NOT_APPLICABLE, parse_value
from qz_excel.scoring.engine import score


def scored(rules, values, notes=None):
    """The engine's result in whole points: 2010's rules give nothing finer, and the engine
    counts hundredths (an exact division is asserted, so a stray fraction would fail)."""
    result = score(rules, values, notes)
    point_columns = {
        "details": ["points"],
        "items": ["base_raw", "base", "bonus", "score"],
        "summary": [item.number for item in rules.items] + ["加分合计", "总分"],
    }
    for frame_name, columns in point_columns.items():
        table = getattr(result, frame_name)
        for column in columns:
            assert (table[column] % SCALE == 0).all(), (frame_name, column)
            table[column] = table[column] // SCALE
    return result


def one(rules, **overrides):
    """Score one town (GOOD with overrides); returns (details by rule id, summary row)."""
    result = scored(rules, frame(rules, {"甲": overrides}))
    return result.details.set_index("rule"), result.summary.loc["甲"], result


def points(rules, rule_id, **overrides):
    details, _, _ = one(rules, **overrides)
    return int(details.loc[rule_id, "points"])


def test_good_town_total(rules):
    _, summary, _ = one(rules)
    # GOOD misses item 5's 「两免费」 (5 points), but item 5 has 11 base points: 6 remain
    assert summary["总分"] == 96 and summary[5] == 6 and not summary["待核实"]


@pytest.mark.parametrize(
    "rate, expected",
    [
        (100, 2),
        (99.999999, 1),
        (99.9999999, 2),
        (99.5, 1),
        (99, 1),
        (98.5, 0),
        (98.2, 0),
        (98, 0),
        (50, 0),
        (NOT_APPLICABLE, 2),
    ],
)
def test_special_equipment_rate_steps(rules, rate, expected):
    """「每项指标降一个百分点扣1分」: ceil(100 − rate) after rounding to 6 decimals."""
    assert points(rules, "r8_registration_rate", r8_registration_rate=rate) == expected


def test_fraction_099_is_99_percent_and_loses_one_point(rules):
    rate = parse_value(0.99, "percent").value
    assert points(rules, "r8_inspection_rate", r8_inspection_rate=rate) == 1


def test_rate_explanation(rules):
    details, _, _ = one(rules, r8_registration_rate=98.5)
    assert details.loc["r8_registration_rate", "explanation"] == "使用登记率98.5%，低于100%，扣2分，得0分"


@pytest.mark.parametrize("n, expected", [(0, 0), (1, 0), (2, 1), (3, 2), (4, 3), (5, 3), (40, 3)])
def test_info_reports(rules, n, expected):
    """3 − min(3, max(0, 4 − n))."""
    assert points(rules, "r10_info_reports", r10_info_reports=n) == expected
    assert expected == 3 - min(3, max(0, 4 - n))


@pytest.mark.parametrize("meetings, expected", [(0, 0), (1, 0), (2, 2), (7, 2)])
def test_meetings_at_least_two(rules, meetings, expected):
    details, _, _ = one(rules, r1_meetings=meetings)
    assert int(details.loc["r1_meetings", "points"]) == expected
    if meetings == 1:
        assert details.loc["r1_meetings", "explanation"] == "专题会议1次，少于2次，不得分"


def spec_brand_bonus(target, prov, city):
    excess = max(0, prov + city - target)
    return 2 * min(excess, prov) + 1 * (excess - min(excess, prov))


@pytest.mark.parametrize(
    "target, prov, city",
    [
        (0, 0, 0),
        (2, 1, 1),
        (2, 3, 2),
        (2, 1, 3),
        (3, 1, 1),
        (0, 2, 1),
        (1, 0, 4),
        (5, 5, 0),
        (1, 2, 0),
    ],
)
def test_brand_task_and_excess(rules, target, prov, city):
    details, _, _ = one(rules, r2_brand_target=target, r2_new_prov_brands=prov, r2_new_city_brands=city)
    assert int(details.loc["r2_brand_task", "points"]) == (5 if prov + city >= target else 0)
    assert int(details.loc["r2_brand_excess", "points"]) == spec_brand_bonus(target, prov, city)


def test_brand_bonus_goes_above_standard(rules):
    _, summary, _ = one(rules, r2_brand_target=2, r2_new_prov_brands=3, r2_new_city_brands=2)
    assert summary[2] == 15 + 6


@pytest.mark.parametrize(
    "over, expected",
    [
        ({}, 5),
        ({"r6_license_pass_rate": 92.0}, 5),
        ({"r6_license_pass_rate": 91.999999}, 0),
        ({"r6_license_pass_rate": 91.9999999}, 5),
        ({"r6_food_pass_rate": 89.9}, 0),
        ({"r6_rectification_rate": 99.9}, 0),
        ({"r6_rectification_rate": NOT_APPLICABLE}, 5),
        ({"r6_license_pass_rate": NOT_APPLICABLE, "r6_food_pass_rate": NOT_APPLICABLE}, 5),
    ],
)
def test_rates_all_met(rules, over, expected):
    assert points(rules, "r6_rates", **over) == expected


@pytest.mark.parametrize(
    "rate, threshold_rule, expected",
    [
        (90.0, "r3_excellence_training_rate", 5),
        (89.999999, "r3_excellence_training_rate", 0),
        (NOT_APPLICABLE, "r3_excellence_training_rate", 5),
        (50.0, "r3_credit_eval_rate", 5),
        (49.5, "r3_credit_eval_rate", 0),
    ],
)
def test_quality_management_rates(rules, rate, threshold_rule, expected):
    assert points(rules, threshold_rule, **{threshold_rule: rate}) == expected


def test_veto_zeroes_item_including_bonus(rules):
    _, summary, result = one(rules, r7_major_case=True, r7_verified_leads=3)
    assert summary[7] == 0
    details = result.details.set_index("rule")
    assert details.loc["r7_major_case", "explanation"].startswith("否决：")
    assert summary["加分合计"] == 0


@pytest.mark.parametrize("over", [{"r6_major_accident": True}, {"r6_responsibility": False}])
def test_item6_vetoes(rules, over):
    _, summary, _ = one(rules, **over)
    assert summary[6] == 0


def test_item5_base_capped_before_bonus(rules):
    _, summary, result = one(rules, r5_two_free_controlled=True, r5_prov_demo_units=2)
    items = result.items.set_index("item")
    assert items.loc[5, "base_raw"] == 11 and items.loc[5, "base"] == 10 and items.loc[5, "bonus"] == 2
    assert summary[5] == 12


def test_deductions_never_take_an_item_below_zero(rules):
    _, summary, _ = one(rules, r6_licensed_failures=10, r6_refusals=3)
    assert summary[6] == 0


def test_deduction_within_item(rules):
    _, summary, _ = one(rules, r6_licensed_failures=1)
    assert summary[6] == 8


@pytest.mark.parametrize(
    "total, in_ledger, expected, outcome",
    [
        (0, 0, 2, "na"),
        (100, 100, 2, "met"),
        (100, 96, 1, "short"),
        (100, 95, 1, "short"),
        (100, 94, 0, "short"),
        (100, 90, 0, "short"),
        (3, 2, 0, "short"),
        (40, 39, 1, "short"),
        (100, 101, 0, "invalid"),
        (0, 3, 0, "invalid"),
        (0, 1, 0, "invalid"),  # wrong data, not 不适用
    ],
)
def test_coverage_every_five_percent(rules, total, in_ledger, expected, outcome):
    details, summary, _ = one(rules, r9_units_total=total, r9_units_in_ledger=in_ledger)
    assert int(details.loc["r9_coverage", "points"]) == expected
    assert details.loc["r9_coverage", "outcome"] == outcome
    assert bool(summary["待核实"]) == (outcome == "invalid")


def test_per_unit_bonus(rules):
    details, summary, _ = one(rules, r3_new_prov_quality_awards=2, r3_new_city_quality_awards=1)
    assert int(details.loc["r3_new_prov_quality_awards", "points"]) == 4
    assert summary[3] == 10 + 5
    assert details.loc["r3_new_prov_quality_awards", "explanation"] == "新增省质量奖2个，加4分"


def test_missing_value_earns_zero_and_marks_review(rules):
    details, summary, _ = one(rules, r1_annual_plan=None)
    assert int(details.loc["r1_annual_plan", "points"]) == 0
    assert details.loc["r1_annual_plan", "outcome"] == "missing"
    assert "未填报" in details.loc["r1_annual_plan", "explanation"]
    assert summary["待核实"]


def test_missing_veto_input_does_not_veto(rules):
    _, summary, _ = one(rules, r6_major_accident=None)
    assert summary[6] == 10 and summary["待核实"]


def test_notes_prefix_explanations(rules):
    values = frame(rules, {"甲": {}})
    notes = pd.DataFrame({"r1_meetings": ["「3次」视为3"]}, index=["甲"])
    result = scored(rules, values, notes)
    text = result.details.set_index("rule").loc["r1_meetings", "explanation"]
    assert text.startswith("「3次」视为3；专题会议")


def test_competition_ranking(rules):
    values = frame(
        rules,
        {
            "a": {},
            "b": {"r1_meetings": 0},
            "c": {"r1_annual_plan": False},
            "d": {"r1_accountability": False},
            "e": {"r5_prov_demo_units": 1},
        },
    )
    summary = scored(rules, values).summary
    assert summary["总分"].to_dict() == {"a": 96, "b": 94, "c": 94, "d": 93, "e": 97}
    assert summary["排名"].to_dict() == {"e": 1, "a": 2, "b": 3, "c": 3, "d": 5}


def test_values_frame_must_have_every_indicator(rules):
    values = frame(rules, {"a": {}}).drop(columns=["r1_meetings"])
    with pytest.raises(ValueError, match="r1_meetings"):
        scored(rules, values)


# ---- properties ---------------------------------------------------------------------


def column(kind):
    if kind == "bool":
        return st.sampled_from([True, False, None])
    if kind == "count":
        return st.one_of(st.none(), st.integers(0, 30))
    return st.one_of(st.none(), st.just(NOT_APPLICABLE), st.integers(0, 100_000_000).map(lambda m: m / 1_000_000))


@st.composite
def towns_frames(draw, rules):
    n = draw(st.integers(1, 12))
    data = {
        code: pd.array([draw(column(ind.type)) for _ in range(n)], dtype=DTYPES[ind.type])
        for code, ind in rules.catalog.items()
    }
    return pd.DataFrame(data, index=[f"t{i}" for i in range(n)])


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_score_invariants(rules, data):
    values = data.draw(towns_frames(rules))
    result = scored(rules, values)
    items, summary = result.items, result.summary
    standard = items["item"].map({i.number: i.standard // SCALE for i in rules.items})
    # every item score before bonus lies in [0, 标准分]
    assert ((items["base"] >= 0) & (items["base"] <= standard)).all()
    # a vetoed item is 0
    assert (items.loc[items["vetoed"], "score"] == 0).all()
    # unvetoed: base + bonus
    free = ~items["vetoed"]
    assert (items.loc[free, "score"] == items.loc[free, "base"] + items.loc[free, "bonus"]).all()
    # total equals the sum of items
    item_cols = [i.number for i in rules.items]
    assert (summary["总分"] == summary[item_cols].sum(axis=1)).all()
    # competition ranking: 1 + number of towns with a strictly higher total
    totals = summary["总分"].to_numpy()
    expected = np.array([1 + (totals > t).sum() for t in totals])
    assert (summary["排名"].to_numpy() == expected).all()
    # points of each sub-rule never exceed its maximum for base sub-rules
    details = result.details
    base = details[details["part"] == "base"]
    maxima = {rule.id: rule.max_points() // SCALE for _, rule in rules.subrules()}
    assert (base["points"] <= base["rule"].map(maxima)).all() and (base["points"] >= 0).all()


@given(target=st.integers(0, 20), prov=st.integers(0, 20), city=st.integers(0, 20))
@settings(max_examples=80, deadline=None)
def test_brand_excess_matches_spec_formula(rules, target, prov, city):
    values = frame(rules, {"t": {"r2_brand_target": target, "r2_new_prov_brands": prov, "r2_new_city_brands": city}})
    got = scored(rules, values).details.set_index("rule").loc["r2_brand_excess", "points"]
    assert int(got) == spec_brand_bonus(target, prov, city)


@given(label=st.text(max_size=8), value=st.one_of(st.text(max_size=8), st.integers()), points=st.integers(-5, 20))
@settings(max_examples=50, deadline=None)
def test_plain_template_fast_path_equals_jinja(rules, label, value, points):
    from qz_excel.scoring.engine import _ENV, _compile

    ctx = {
        "label": label,
        "value": value,
        "points": points,
        "threshold": "2次",
        "target": "100%",
        "deduction": 1,
        "detail": "x{y}",
        "numerator": "1家",
        "denominator": "2家",
        "ratio": "50%",
    }
    texts = {t for _, rule in rules.subrules() for t in rule.explain_templates().values()}
    texts |= {"{{ label }}{literal}}}{{value}}", "{{ label }}：未填报或填报无效，不得分（待核实）"}
    for text in texts:
        try:
            expected = _ENV.from_string(text).render(ctx)
        except Exception:
            continue  # needs context this test does not give (e.g. per_unit)
        assert _compile(text)(ctx) == expected, text


def test_bonus_cap_from_the_rules_file(tmp_path):
    import yaml
    from conftest import REPO

    from qz_excel.rules.ruleset import load_rules

    data = yaml.safe_load((REPO / "templates" / "rules" / "2010.yaml").read_text(encoding="utf-8"))
    data["settings"]["bonus_cap"] = 3
    path = tmp_path / "capped.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    capped = load_rules(path)
    values = frame(capped, {"t": {"r2_brand_target": 0, "r2_new_prov_brands": 4, "r2_new_city_brands": 0}})
    summary = scored(capped, values).summary
    assert summary.loc["t", 2] == 15 + 3 and summary.loc["t", "加分合计"] == 3  # 8 bonus points, capped at 3


def test_every_flag_rule_in_both_directions(rules):
    """Each 是/否 sub-rule gives its points for the scoring answer and nothing otherwise."""
    flags = [(item, rule) for item, rule in rules.subrules() if rule.kind == "flag"]
    assert len(flags) == 18  # 3 + 2 + 2 + 4 + 1 + 2 + 1 + 3 across items 1, 2, 4–9
    for _item, rule in flags:
        scoring_answer = rule.when == "是"
        for answer, expected in ((scoring_answer, rule.points // SCALE), (not scoring_answer, 0)):
            details, _, _ = one(rules, **{rule.indicator: answer})
            assert int(details.loc[rule.id, "points"]) == expected, rule.id


def test_an_invalid_pair_with_no_units_is_a_problem_not_full_points(rules, tmp_path):
    """单位总数 0 and 纳入台帐 3, end to end: INVALID_PAIR, 0 points, 待核实."""
    from qz_excel.intake.read import choose_among_duplicates, read_returns, values_frames
    from qz_excel.pipeline import _pair_problems
    from qz_excel.template.samples import GOOD
    from qz_excel.template.writer import TemplateOptions, write_template

    path = write_template(
        rules,
        "甲镇",
        tmp_path / "甲镇.xlsx",
        TemplateOptions(generated_at="2010-12-01"),
        prefill={**GOOD, "r9_units_total": 0, "r9_units_in_ledger": 3},
    )
    accepted = choose_among_duplicates(read_returns([path], rules), ["甲镇"], rules)
    result = scored(rules, *values_frames(accepted, rules))
    row = result.details.set_index("rule").loc["r9_coverage"]
    assert (int(row["points"]), row["outcome"]) == (0, "invalid")
    assert bool(result.summary.loc["甲镇", "待核实"])
    (problem,) = _pair_problems(result, rules, {"甲镇": accepted[0]})
    assert problem.code == "INVALID_PAIR" and "r9_units_in_ledger" in problem.indicator


INT64_MILLIONTHS_EDGE = 9_223_372_036_854  # the largest count whose millionths fit in int64


@pytest.mark.parametrize("count", [10**6 + 1, INT64_MILLIONTHS_EDGE, INT64_MILLIONTHS_EDGE + 1, 10**13])
def test_counts_beyond_the_bound_are_out_of_range_never_points(rules, tmp_path, count):
    """A count the rules do not allow is a problem on its cell; it earns nothing (the
    meetings sub-rule once gave 8 points for 10¹³ meetings through int64 overflow)."""
    from qz_excel.intake.read import read_return
    from qz_excel.template.samples import GOOD
    from qz_excel.template.writer import TemplateOptions, write_template

    for raw in (count, float(count), f"{count}次"):
        path = write_template(
            rules,
            "甲镇",
            tmp_path / "甲镇.xlsx",
            TemplateOptions(generated_at="2010-12-01"),
            prefill={**GOOD, "r1_meetings": raw},
        )
        ret = read_return(path, rules)
        (problem,) = [p for p in ret.problems if p.indicator == "r1_meetings"]
        assert problem.code == "OUT_OF_RANGE" and "上限 1000000" in problem.message
        assert "r1_meetings" not in ret.values


def test_the_count_bound_itself_is_accepted_and_scored_exactly(rules):
    assert parse_value(10**6, "count").value == 10**6
    assert points(rules, "r1_meetings", r1_meetings=10**6) == 2
    details, summary, _ = one(rules, r9_units_total=10**6, r9_units_in_ledger=10**6 - 1)
    assert int(details.loc["r9_coverage", "points"]) == 1  # 99.9999 %: one step of 5 % short


def test_count_max_is_a_rules_setting_bounded_to_stay_exact(tmp_path):
    import yaml
    from conftest import REPO
    from pydantic import ValidationError

    from qz_excel.rules.ruleset import RulesError, load_rules

    data = yaml.safe_load((REPO / "templates" / "rules" / "2010.yaml").read_text(encoding="utf-8"))
    data["settings"]["count_max"] = 5000
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert load_rules(path).spec.settings.count_max == 5000
    data["settings"]["count_max"] = INT64_MILLIONTHS_EDGE + 1
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises((RulesError, ValidationError), match="count_max"):
        load_rules(path)


def test_plain_templates_render_exactly_as_jinja(rules):
    """Explanations with only {{ name }} / {{ -name }} fields skip jinja; the text must not change."""
    import re

    from qz_excel.rules.ruleset import is_plain_template
    from qz_excel.scoring.engine import _ENV, _compile

    plain = 0
    for _, rule in rules.subrules():
        for text in rule.explain_templates().values():
            if is_plain_template(text):
                plain += 1
                for value in (-2, 0, 3, "3次", None):
                    ctx = {name: value for name in re.findall(r"[A-Za-z_]\w*", text)}
                    if any(f"-{name}" in text.replace(" ", "") for name in ctx) and not isinstance(value, int):
                        continue  # negation is for numbers
                    assert _compile(text)(ctx) == _ENV.from_string(text).render(ctx), text
    assert plain >= 90
