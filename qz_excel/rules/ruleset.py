"""Load and check a year's rules file (templates/rules/<year>.yaml).

Loading validates the whole file and raises :class:`RulesError` carrying every problem,
each naming the item and sub-rule it is about. :func:`check_rules` adds the warnings a
clerk should see but that do not stop scoring (e.g. 2010's item 5, whose base sub-rules add
up to 11 while its 标准分 is 10).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import cached_property
from pathlib import Path

import yaml
from pydantic import ValidationError

from qz_excel.common import resources
from qz_excel.rules.kinds import REGISTRY
from qz_excel.rules.model import Indicator, Item, RulesFile
from qz_excel.rules.points import SCALE, points_text


class RulesError(Exception):
    """A rules file that cannot be used; ``problems`` lists every reason."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__(f"规则文件 {path} 有 {len(problems)} 处错误：\n" + "\n".join(problems))


@dataclass(frozen=True, eq=False)
class Rules:
    """A loaded, checked rules file. Hashed by identity, so per-rules work (the form's
    layout, say) can be cached for the life of the object."""

    spec: RulesFile
    path: Path
    fingerprint: str  # sha256 of the file's bytes, first 16 hex digits

    @property
    def year(self) -> int:
        return self.spec.year

    @property
    def items(self) -> list[Item]:
        return self.spec.items

    @cached_property
    def catalog(self) -> dict[str, Indicator]:
        """Every indicator by id, in form order."""
        return {ind.id: ind for item in self.items for ind in item.indicators}

    @cached_property
    def assessed(self) -> frozenset[str]:
        """Indicators the 考核组 enters in the 核定表: never on a town's form."""
        return frozenset(code for code, ind in self.catalog.items() if ind.assessed)

    @property
    def assessment(self) -> str:
        """What this assessment is called in titles, file names and letters."""
        return self.spec.assessment

    @property
    def grades(self) -> list[str]:
        return [g.name for g in self.spec.settings.grades]

    @cached_property
    def codes(self) -> tuple[str, ...]:
        """The indicator ids in form order: the layout of a returned file's values."""
        return tuple(self.catalog)

    @cached_property
    def position(self) -> dict[str, int]:
        """Indicator id → its place in :attr:`codes`."""
        return {code: k for k, code in enumerate(self.codes)}

    def subrules(self):
        """(item, sub-rule) pairs in rules-file order."""
        return [(item, rule) for item in self.items for rule in item.rules]

    @cached_property
    def method_number(self) -> dict[str, int]:
        """Sub-rule id → the number of the 评分方法 line it scores, so 得分说明 is numbered as
        the official text is (item 6 has six sub-rules for five lines)."""
        return {rule_id: number for item in self.items for rule_id, number in method_lines(item).items()}


_NUMBERED_LINE = re.compile(r"^\s*(\d+)\s*[．.、]")


def _overlap(a: str, b: str) -> int:
    """Length of the longest common run of characters."""
    return SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b)).size


def method_lines(item: Item) -> dict[str, int]:
    """Which numbered 评分方法 line each sub-rule scores: a sub-rule's own ``line`` if set;
    otherwise the assignment that keeps the sub-rules in the method's order, gives every
    line at least one sub-rule when there are enough, and best matches the sub-rules'
    labels to the lines' words."""
    lines = [(int(hit.group(1)), text) for text in item.method.splitlines() if (hit := _NUMBERED_LINE.match(text))]
    rules = item.rules
    if not lines:
        return {rule.id: k for k, rule in enumerate(rules, start=1)}
    numbers = [n for n, _ in lines]
    fixed = {k: rule.line for k, rule in enumerate(rules) if rule.line is not None}
    n, m = len(rules), len(lines)
    # every line gets a sub-rule (steps of 0 or 1 line) unless the file fixes some itself
    covering = n >= m and not fixed
    minus = float("-inf")

    def gain(i: int, j: int) -> float:
        if i in fixed:
            return 1000.0 if fixed[i] == numbers[j] else minus
        return float(_overlap(rules[i].label, lines[j][1]))

    best = [[minus] * m for _ in range(n)]
    back = [[0] * m for _ in range(n)]
    for j in range(m):
        if not covering or j == 0:
            best[0][j] = gain(0, j)
    for i in range(1, n):
        for j in range(m):
            previous = [j - 1, j] if covering else list(range(j + 1))
            candidates = [(best[i - 1][p], p) for p in previous if p >= 0 and best[i - 1][p] > minus]
            if candidates:
                score, p = max(candidates)
                best[i][j], back[i][j] = score + gain(i, j), p
    end = m - 1 if covering else max(range(m), key=lambda j: best[n - 1][j])
    if best[n - 1][end] == minus:  # fixed lines out of order: number by position
        return {rule.id: k for k, rule in enumerate(rules, start=1)}
    chosen = [end]
    for i in range(n - 1, 0, -1):
        chosen.append(back[i][chosen[-1]])
    return {rule.id: numbers[j] for rule, j in zip(rules, reversed(chosen))}


def line_index(data: bytes) -> dict[tuple, int]:
    """Every mapping key and list entry of a YAML document → its line (1-based), keyed by
    path: ``("items", 4, "rules", 2, "points")``. Built from yaml's node tree, so a message
    can say 「第57行」 where the bureau's own file has the mistake."""
    try:
        root = yaml.compose(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return {}
    lines: dict[tuple, int] = {}

    def walk(node, path: tuple) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                here = (*path, key.value)
                lines[here] = key.start_mark.line + 1
                walk(value, here)
        elif isinstance(node, yaml.SequenceNode):
            for k, value in enumerate(node.value):
                walk(value, (*path, k))

    if root is not None:
        walk(root, ())
    return lines


def _line_of(lines: dict[tuple, int], loc: tuple) -> str:
    """「第57行」 of the deepest part of ``loc`` the file has (a missing key: its mapping)."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return f"第{lines[loc[:end]]}行"
    return ""


def _where(raw: dict, loc: tuple, lines: dict[tuple, int] | None = None) -> str:
    """A pydantic error location → 「第57行，第5项（计量）细则 r5_x 的 points」."""
    # drop the union's tag: the kind pydantic inserts right after a rule's index (a field
    # may share a kind's name: bands.bands)
    loc = tuple(part for k, part in enumerate(loc) if not (part in REGISTRY and k >= 2 and loc[k - 2] == "rules"))
    line = _line_of(lines or {}, loc)
    prefix = f"{line}，" if line else ""
    items = raw.get("items") if isinstance(raw, dict) else None
    if (
        not loc
        or loc[0] != "items"
        or len(loc) < 2
        or not isinstance(loc[1], int)
        or not isinstance(items, list)
        or loc[1] >= len(items)
    ):
        return prefix + "字段 " + ".".join(map(str, loc))
    item = items[loc[1]] if isinstance(items[loc[1]], dict) else {}
    head = f"第{item.get('number', loc[1] + 1)}项（{item.get('name', '?')}）"
    rest, holder = loc[2:], item
    if len(rest) >= 2 and rest[0] == "groups" and isinstance(rest[1], int):
        groups = item.get("groups") or []
        holder = groups[rest[1]] if rest[1] < len(groups) and isinstance(groups[rest[1]], dict) else {}
        head += f"二级指标 {holder.get('number', '#' + str(rest[1] + 1))}"
        rest = rest[2:]
    if len(rest) >= 2 and rest[0] in ("rules", "indicators") and isinstance(rest[1], int):
        entries = holder.get(rest[0]) or []
        entry = entries[rest[1]] if rest[1] < len(entries) and isinstance(entries[rest[1]], dict) else {}
        noun = "细则" if rest[0] == "rules" else "指标"
        head += f"{noun} {entry.get('id', '#' + str(rest[1] + 1))}"
        rest = rest[2:]
    return prefix + head + (" 的 " + ".".join(map(str, rest)) if rest else "")


def _rule_paths(spec: RulesFile) -> dict[str, tuple]:
    """Sub-rule id → its path in the file (in a group or straight under its item)."""
    paths: dict[str, tuple] = {}
    for i, item in enumerate(spec.items):
        if item.groups:
            for g, group in enumerate(item.groups):
                for j, rule in enumerate(group.rules):
                    paths.setdefault(rule.id, ("items", i, "groups", g, "rules", j))
        else:
            for j, rule in enumerate(item.rules):
                paths.setdefault(rule.id, ("items", i, "rules", j))
    return paths


PLAIN_FIELD = re.compile(r"\{\{\s*(-?)\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")  # {{ name }}, {{ -name }}


def is_plain_template(text: str) -> bool:
    """Text and ``{{ name }}`` or ``{{ -name }}`` fields only (every 2010 explanation):
    valid without jinja2, and rendered by str.format (:mod:`qz_excel.scoring.engine`)."""
    rest = PLAIN_FIELD.sub("", text)
    return "{%" not in text and "{#" not in text and "{{" not in rest and "}}" not in rest


def _template_problem(text: str) -> str | None:
    """The syntax error of an explanation template, or None. jinja2 is imported only for a
    template that uses more than plain fields: `qz rules check` answers sooner without it."""
    if is_plain_template(text):
        return None
    from jinja2 import Environment, TemplateSyntaxError

    try:
        Environment().parse(text)  # syntax only: compiling would cost more
    except TemplateSyntaxError as exc:
        return exc.message or "语法错误"
    return None


def _cross_check(spec: RulesFile, lines: dict[tuple, int]) -> list[str]:
    """What one field's validation cannot see: ids, references, types, options, grades,
    templates. Each problem starts with its line in the file."""
    problems: list[str] = []
    catalog: dict[str, Indicator] = {}
    seen_items: set[int] = set()
    rule_ids: set[str] = set()
    grades = [g.name for g in spec.settings.grades]
    for i, item in enumerate(spec.items):
        head = f"{_line_of(lines, ('items', i))}，第{item.number}项（{item.name}）"
        if item.number in seen_items:
            problems.append(f"{head}：序号 {item.number} 重复")
        seen_items.add(item.number)
        for k, ind in enumerate(item.indicators):
            if ind.id in catalog:
                problems.append(f"{_line_of(lines, ('items', i, 'indicators', k))}，指标 {ind.id}：指标代码重复")
            catalog[ind.id] = ind
    paths = _rule_paths(spec)
    assessed_by = {
        ref for item in spec.items for rule in item.rules if rule.kind == "assessed" for ref in rule.inputs()
    }
    for item in spec.items:
        for rule in item.rules:
            where = f"{_line_of(lines, paths.get(rule.id, ()))}，第{item.number}项（{item.name}）细则 {rule.id}"
            if rule.id in rule_ids:
                problems.append(f"{where}：细则代码重复")
            rule_ids.add(rule.id)
            for ref in rule.inputs():
                if ref not in catalog:
                    problems.append(f"{where}：引用了不存在的指标 {ref}")
                elif catalog[ref].type not in rule.input_types:
                    problems.append(
                        f"{where}：{rule.kind} 细则不能用 {catalog[ref].type} 类型的指标 {ref}"
                        f"（可用：{'/'.join(rule.input_types)}）"
                    )
                elif catalog[ref].assessed and ref not in assessed_by:
                    problems.append(f"{where}：指标 {ref} 由考核组评定，只能用于 assessed 细则")
            for field, text in rule.check(catalog, grades):
                key = field if isinstance(field, tuple) else (field,)
                line = _line_of(lines, (*paths.get(rule.id, ()), *key))
                problems.append(f"{line}，第{item.number}项（{item.name}）细则 {rule.id} 的 {key[0]}：{text}")
            for outcome, text in rule.explain_templates().items():
                error = _template_problem(text)
                if error:
                    problems.append(f"{where}：说明模板 {outcome} 有语法错误：{error}")
    return problems


#: pydantic's English for the mistakes a bureau makes most, in Chinese
_MESSAGES = {
    "missing": "缺少这一项",
    "extra_forbidden": "不认识这个键（拼写错了？）",
    "union_tag_invalid": "不认识的细则种类（kind）；`qz rules kinds` 列出全部种类",
    "union_tag_not_found": "缺少 kind（细则种类）",
    "int_parsing": "应是整数",
    "float_parsing": "应是数字",
    "bool_parsing": "应是 true 或 false",
    "string_type": "应是文字",
    "list_type": "应是列表",
    "dict_type": "应是映射（键: 值）",
    "literal_error": "不是可选的值",
    "greater_than_equal": "太小了",
    "less_than_equal": "太大了",
    "greater_than": "应大于下限",
    "too_short": "不能为空",
}


def _message(error) -> str:
    """A pydantic error in Chinese: our own validators' words as they are, pydantic's
    common ones translated (with pydantic's text after them for the details)."""
    text = str(error.get("msg", ""))
    if error.get("type") == "value_error":
        return text.removeprefix("Value error, ")
    known = _MESSAGES.get(str(error.get("type")))
    if error.get("type") == "union_tag_invalid":
        return f"{known}（写的是 {error.get('input', {}).get('kind') if isinstance(error.get('input'), dict) else ''}）"
    return f"{known}（{text}）" if known else text


def load_rules(source: str | Path | int | None = None) -> Rules:
    """Load a rules file by path, by the name of a bundled one (「2016-example」), or the
    bundled one for a year (default: the latest year)."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        shipped = resources.bundled_rules()
        if isinstance(source, str) and not path.exists() and source in shipped:
            path = shipped[source]  # a bundled file by name: 「2010」, 「2016-example」
    else:
        path = resources.rules_path(source)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RulesError(str(path), [f"无法读取：{exc.strerror or exc}"]) from None
    try:
        # libyaml's loader when PyYAML has it: 10× the pure-Python one, same result
        raw = yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise RulesError(str(path), [f"YAML 格式错误：{exc}"]) from None
    if not isinstance(raw, dict):
        raise RulesError(str(path), ["文件内容应是一个映射（year, items, …）"])
    try:
        spec = RulesFile.model_validate(raw)
    except ValidationError as exc:
        lines = line_index(data)
        problems = [f"{_where(raw, tuple(e['loc']), lines)}：{_message(e)}" for e in exc.errors()]
        raise RulesError(str(path), problems) from None
    problems = _cross_check(spec, line_index(data))
    if problems:
        raise RulesError(str(path), problems)
    return Rules(spec=spec, path=path, fingerprint=hashlib.sha256(data).hexdigest()[:16])


def _reach(rules: list) -> tuple[int, bool]:
    """What base rules can add up to (hundredths), and whether some have no upper bound (a
    per_unit base rule reaches any 标准分 with enough units)."""
    base = [r for r in rules if r.effective_part == "base"]
    return sum(r.max_points() for r in base), any(r.unbounded() for r in base)


def _reach_warning(head: str, rules: list, standard: int, start_full: bool = False) -> str | None:
    if start_full:
        return None  # starts at its 标准分 and only deducts
    total, unbounded = _reach(rules)
    total_text, standard_text = points_text(total), points_text(standard)
    if total > standard:
        return (
            f"{head}：基础分细则合计 {total_text} 分，标准分为 {standard_text} 分；"
            f"评分时基础分封顶 {standard_text} 分（加分另计）"
        )
    if total < standard and not unbounded:
        return f"{head}：基础分细则合计 {total_text} 分，低于标准分 {standard_text} 分，本项无法得满分"
    return None


def check_rules(rules: Rules) -> list[str]:
    """Warnings about a valid rules file: things a clerk should know before scoring."""
    warnings: list[str] = []
    used = {ref for _, rule in rules.subrules() for ref in rule.inputs()}
    for item in rules.items:
        head = f"第{item.number}项（{item.name}）"
        if item.groups and not item.bonus:
            group_total = sum(g.standard or 0 for g in item.groups)
            if group_total != item.standard:
                warnings.append(
                    f"{head}：各二级指标标准分合计 {points_text(group_total)} 分，"
                    f"与本项标准分 {points_text(item.standard)} 分不一致"
                )
            for group in item.groups:
                where = f"{head}二级指标 {group.number}（{group.name}）"
                warning = _reach_warning(where, group.rules, group.standard or 0, group.start_full)
                if warning:
                    warnings.append(warning)
        elif not item.bonus:
            warning = _reach_warning(head, item.rules, item.standard)
            if warning:
                warnings.append(warning)
        for ind in item.indicators:
            if ind.id not in used:
                warnings.append(f"{head}指标 {ind.id}：没有任何细则使用该指标")
    standard_total = sum(item.standard for item in rules.items)
    if standard_total != 100 * SCALE:
        warnings.append(f"各项标准分合计 {points_text(standard_total)} 分，不是 100 分")
    return warnings
