"""`qz rules check` for a bureau writing its own file: every mistake named in Chinese with
its line and key; warnings that are right (per-unit base rules reach any 标准分); and
`qz rules new` starting next year's file."""

import re

import pytest
from click.testing import CliRunner

from qz_excel.cli.commands import main
from qz_excel.common.resources import bundled_rules
from qz_excel.rules.ruleset import RulesError, check_rules, load_rules

EXAMPLE = bundled_rules()["2016-example"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def broken(tmp_path, old: str, new: str):
    """The example with one edit; the edit's line number, and the load error."""
    text = EXAMPLE.read_text(encoding="utf-8")
    assert old in text, old
    edited = text.replace(old, new, 1)
    line = edited[: edited.index(new)].count("\n") + 1
    path = tmp_path / "我的规则.yaml"
    path.write_text(edited, encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    return line, "\n".join(caught.value.problems), path


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        (
            "kind: graded, indicator: m_mechanism",
            "kind: gradde, indicator: m_mechanism",
            ["不认识的细则种类", "gradde"],
        ),
        ("纳入部门规划: 0.5", "纳入省级规划: 0.5", ["“纳入省级规划”不是指标 m_plan_level 的选项", "没有写分值"]),
        ("{at_least: 90, points: 6}", "{at_least: 96, points: 6}", ["第2档 96 应低于上一档的 95", "从高到低"]),
        ("per_step: 0.5, label: 周期受检率", "per_step: 0.125, label: 周期受检率", ["两位小数", "per_step"]),
        ("points: 4, label: 专题会议", "pionts: 4, label: 专题会议", ["不认识这个键", "pionts"]),
        ("indicator: m_staff, threshold: 1", "indicator: m_stafff, threshold: 1", ["不存在的指标 m_stafff"]),
        ("grade: D, label:", "grade: E, label:", ["“E” 不是规则文件的等级"]),
        (
            "kind: at_least, indicator: m_meetings",
            "kind: at_least, indicator: m_plan_level",
            ["at_least 细则不能用 choice 类型"],
        ),
        ("cap: 6", "cap: 6.001", ["两位小数"]),
    ],
)
def test_each_mistake_is_named_with_its_line(tmp_path, old, new, words):
    line, message, path = broken(tmp_path, old, new)
    assert f"第{line}行" in message, message
    for word in words:
        assert word in message, message
    result = run("rules", "check", path)
    assert result.exit_code == 2 and f"第{line}行" in result.output


def test_a_group_that_cannot_reach_its_standard_warns(tmp_path):
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "{id: m_staff, kind: at_least, indicator: m_staff, threshold: 1, points: 2,",
        "{id: m_staff, kind: at_least, indicator: m_staff, threshold: 1, points: 1.5,",
    )
    path = tmp_path / "r.yaml"
    path.write_text(text, encoding="utf-8")
    warnings = check_rules(load_rules(path))
    assert any("二级指标 1.5（组织保障）" in w and "8.5 分" in w and "低于标准分 9 分" in w for w in warnings), warnings


def test_a_per_unit_base_rule_reaches_any_standard(tmp_path):
    """「每项得1分，最多10分」 as a per_unit base rule: no 'cannot reach' warning."""
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "{id: m_staff, kind: at_least, indicator: m_staff, threshold: 1, points: 2, label: 质量工作人员}",
        "{id: m_staff, kind: per_unit, indicator: m_staff, points: 0.5, part: base, label: 质量工作人员}",
    )
    path = tmp_path / "r.yaml"
    path.write_text(text, encoding="utf-8")
    assert check_rules(load_rules(path)) == []


def test_rules_new_starts_next_year_from_last(tmp_path):
    out = tmp_path / "2017.yaml"
    result = run("rules", "new", 2017, "--from", EXAMPLE, "--out", out)
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# 2017年规则文件") and "qz rules check" in text.splitlines()[6]
    rules = load_rules(out)
    assert rules.year == 2017 and rules.spec.title.startswith("2017年度") and rules.spec.form_title.startswith("2017")
    # everything else as last year: the same indicators and points
    assert rules.catalog == load_rules(EXAMPLE).catalog
    assert re.sub(r"2017", "2016", text.split("\n", 7)[7]) == EXAMPLE.read_text(encoding="utf-8")
    again = run("rules", "new", 2017, "--from", EXAMPLE, "--out", out)
    assert again.exit_code == 2 and "不会覆盖" in again.output


def test_bundled_rules_by_name():
    result = run("rules", "list")
    assert "2016-example" in result.output and "（示例）" in result.output
    assert load_rules("2016-example").year == 2016


def test_the_rules_guide_documents_every_construct():
    """docs/rules.md is what a bureau writes its own file from: every kind has its section,
    every key of the rules file its mention, and every example snippet that stands alone
    is valid YAML."""
    import yaml
    from conftest import REPO

    from qz_excel.rules.base import RuleBase
    from qz_excel.rules.kinds import REGISTRY
    from qz_excel.rules.model import Grade, Group, Indicator, Item, RulesFile, Settings

    guide = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    for kind in REGISTRY:
        assert f"### {kind}：" in guide, kind
    for model in (RulesFile, Settings, Grade, Item, Group, Indicator, RuleBase, *REGISTRY.values()):
        for field in model.model_fields:
            assert f"`{field}`" in guide or f"{field}:" in guide, (model.__name__, field)
    for snippet in re.findall(r"```yaml\n(.*?)```", guide, re.S):
        if "……" not in snippet:
            yaml.safe_load(snippet)
