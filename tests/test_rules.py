import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import REPO

from qz_excel.cli.commands import main
from qz_excel.rules.points import SCALE
from qz_excel.rules.ruleset import RulesError, check_rules, load_rules

SEED = REPO / "templates" / "rules" / "2010.seed.txt"


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_bundled_rules_load(rules):
    assert rules.year == 2010
    assert [i.number for i in rules.items] == list(range(1, 11))
    assert sum(i.standard for i in rules.items) == 100 * SCALE  # hundredths
    assert len(rules.catalog) == 48
    assert len(rules.fingerprint) == 16


def test_seed_text_is_verbatim(rules):
    """Every 考核内容 and 评分方法 stands in the official seed, wording untouched (only
    line breaks of the copy may differ)."""
    seed = squash(SEED.read_text(encoding="utf-8"))
    for item in rules.items:
        assert squash(item.content) in seed, f"item {item.number} content"
        assert squash(item.method) in seed, f"item {item.number} method"


def test_seed_copy_matches_shared_seed():
    shared = REPO.parent / "shared" / "seed" / "000_1987ca907eaf26b8.txt"
    if not shared.exists():
        pytest.skip("shared/ seed not beside this checkout")
    assert shared.read_bytes() == SEED.read_bytes()


def test_indicator_ids_match_the_spec(rules):
    spec = REPO.parent / "shared" / "spec" / "scoring-2010.md"
    if not spec.exists():
        pytest.skip("shared/ spec not beside this checkout")
    ids = set(re.findall(r"^\| (r\d+_[a-z0-9_]+) \|", spec.read_text(encoding="utf-8"), re.M))
    assert ids == set(rules.catalog)


def test_item5_inconsistency_is_reported(rules):
    warnings = check_rules(rules)
    assert len(warnings) == 1
    assert "第5项（计量）" in warnings[0] and "11" in warnings[0] and "10" in warnings[0]


def test_rules_check_cli_reports_item5():
    result = CliRunner().invoke(main, ["rules", "check"])
    assert result.exit_code == 0
    assert "第5项（计量）：基础分细则合计 11 分，标准分为 10 分" in result.output


def _broken(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load((REPO / "templates" / "rules" / "2010.yaml").read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d["items"][4]["rules"][1].update(kind="no_such_kind"), "第5项（计量）细则 r5_supervision_support"),
        (
            lambda d: d["items"][0]["rules"][1].update(indicator="r1_nothing"),
            "第1项（组织领导）细则 r1_meetings：引用了不存在的指标 r1_nothing",
        ),
        (
            lambda d: d["items"][0]["rules"][0].update(kind="at_least", threshold=1),
            "第1项（组织领导）细则 r1_dedicated_staff：at_least 细则不能用 bool",
        ),
        (
            lambda d: d["items"][7]["rules"][1].update(points="two"),
            "第8项（特种设备监管网络）细则 r8_registration_rate 的 points",
        ),
        (
            lambda d: d["items"][9]["rules"][0].update(explain={"met": "{{ label"}),
            "第10项（宣传）细则 r10_trainings：说明模板 met 有语法错误",
        ),
        (
            lambda d: d["items"][2]["indicators"][0].update(help="长" * 256),
            "第3项（质量管理）指标 r3_excellence_training_rate 的 help",
        ),
        (
            lambda d: d["items"][1]["rules"][4].update(absorb_order=["r2_new_city_brands"]),
            "第2项（名牌战略）细则 r2_brand_excess 的 absorb_order",
        ),
    ],
)
def test_invalid_rules_name_item_and_rule(tmp_path, mutate, expected):
    with pytest.raises(RulesError) as err:
        load_rules(_broken(tmp_path, mutate))
    assert any(expected in p for p in err.value.problems), err.value.problems


def test_rules_check_cli_fails_with_usage_code(tmp_path):
    path = _broken(tmp_path, lambda d: d["items"][0]["rules"][1].update(indicator="r1_nothing"))
    result = CliRunner().invoke(main, ["rules", "check", str(path)])
    assert result.exit_code == 2
    assert "r1_nothing" in result.output


# which 评分方法 line each sub-rule scores, read off the official text (附件2)
SEED_LINES = {
    1: [1, 2, 3, 4, 5],
    2: [1, 2, 3, 4, 5],
    3: [1, 2, 3, 3],
    4: [1, 2, 3, 4, 4],
    5: [1, 2, 3, 4, 5],
    6: [1, 2, 3, 4, 5, 5],
    7: [1, 2, 3, 4],
    8: [1, 2, 2, 2],
    9: [1, 1, 2, 3],
    10: [1, 2],
}


def test_each_sub_rule_is_numbered_as_its_method_line(rules):
    found = {item.number: [rules.method_number[r.id] for r in item.rules] for item in rules.items}
    assert found == SEED_LINES


def test_a_sub_rules_line_can_be_set_in_the_rules_file(tmp_path):
    import yaml

    from qz_excel.rules.ruleset import load_rules

    data = yaml.safe_load((REPO / "templates" / "rules" / "2010.yaml").read_text(encoding="utf-8"))
    item9 = next(i for i in data["items"] if i["number"] == 9)
    for rule in item9["rules"]:
        rule["line"] = 3 if rule["id"] == "r9_timely_reporting" else None
        if rule["line"] is None:
            del rule["line"]
    path = tmp_path / "lines.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    numbers = load_rules(path).method_number
    assert [numbers[r["id"]] for r in item9["rules"]] == [1, 3, 3, 3]  # order kept around the fixed line
