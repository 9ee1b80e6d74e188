"""Points in hundredths: read exactly from a rules file, summed exactly, shown without
trailing zeros, and a whole-point year's cells unchanged."""

from decimal import Decimal

import numpy as np
import pytest
import yaml
from conftest import frame
from hypothesis import given
from hypothesis import strategies as st

from qz_excel.common.resources import rules_path
from qz_excel.rules.points import parse_points, points_number, points_text, points_texts
from qz_excel.rules.ruleset import RulesError, load_rules
from qz_excel.scoring.engine import score


@pytest.mark.parametrize(
    ("raw", "hundredths"),
    [(2, 200), (0, 0), (0.5, 50), (0.25, 25), ("0.1", 10), (0.1, 10), (-0.5, -50), ("1.50", 150), (Decimal("3"), 300)],
)
def test_points_read_exactly(raw, hundredths):
    assert parse_points(raw) == hundredths


@pytest.mark.parametrize("raw", [0.125, "0.001", True, None, "两分", float("inf"), "nan"])
def test_points_finer_than_hundredths_or_not_numbers_are_refused(raw):
    with pytest.raises(ValueError) as caught:
        parse_points(raw)
    assert "分值" in str(caught.value)


@pytest.mark.parametrize(
    ("hundredths", "text", "number"),
    [(450, "4.5", 4.5), (1000, "10", 10), (25, "0.25", 0.25), (-200, "-2", -2), (0, "0", 0), (30, "0.3", 0.3)],
)
def test_points_shown_without_trailing_zeros(hundredths, text, number):
    assert points_text(hundredths) == text
    assert points_number(hundredths) == number and type(points_number(hundredths)) is type(number)
    assert points_texts(np.array([hundredths, hundredths])).tolist() == [text, text]


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=30))
def test_sums_of_decimal_points_are_exact(hundredths):
    """Σ of tenths and hundredths, as the engine adds them, equals the decimal sum."""
    exact = sum(Decimal(h) / 100 for h in hundredths)
    shown = points_text(int(np.sum(np.array(hundredths, dtype=np.int64))))
    assert Decimal(shown) == exact
    assert not ("." in shown and shown.endswith("0")), shown  # 1.1, never 1.10


def _with_points(tmp_path, changes: dict) -> object:
    """The bundled 2010 rules with some sub-rules' points (and item 1's 标准分) changed."""
    raw = yaml.safe_load(rules_path(2010).read_text(encoding="utf-8"))
    for item in raw["items"]:
        for rule in item["rules"]:
            if rule["id"] in changes:
                rule["points"] = changes[rule["id"]]
    raw["items"][0]["standard"] = changes.get("standard_1", raw["items"][0]["standard"])
    path = tmp_path / "decimal.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return load_rules(path)


def test_decimal_points_score_exactly(tmp_path):
    rules = _with_points(tmp_path, {"r1_dedicated_staff": 0.1, "r1_meetings": 0.2, "r1_coordinators": 0.25})
    result = score(rules, frame(rules, {"甲": {}}))
    item1 = int(result.summary.loc["甲", 1])
    # 0.1 + 0.2 + 0.25 + 2 + 3: exactly 5.55, where binary floats give 5.550000000000001
    assert item1 == 555 and points_text(item1) == "5.55"
    details = result.details.set_index("rule")
    assert details.loc["r1_meetings", "explanation"].endswith("得0.2分")


def test_a_third_decimal_in_a_rules_file_names_the_rule(tmp_path):
    with pytest.raises(RulesError) as caught:
        _with_points(tmp_path, {"r1_meetings": 0.125})
    message = "\n".join(caught.value.problems)
    assert "r1_meetings" in message and "两位小数" in message
