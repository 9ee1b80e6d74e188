"""Problems found in the inbox: records with a stable code and a location, and the
Report a scoring run hands to the CLI (and tests assert on).

Codes are stable: users filter the 问题清单 sheet by them. Each has a severity and a message
template; the message says what to do about it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI reads these codes without loading pandas
    import pandas as pd

ERROR, WARNING, INFO = "错误", "警告", "提示"

#: code → (severity, message template)
CODES: dict[str, tuple[str, str]] = {
    "MISSING_VALUE": (ERROR, "「{label}」未填写：该项按0分计，请补填后重新报送"),
    "FORMULA_ERROR": (ERROR, "「{label}」公式结果为错误（{value}）：该项按0分计，请改正公式或直接填写数值后重新报送"),
    "FORMULA_UNCALCULATED": (
        ERROR,
        "「{label}」公式未计算（文件里没有公式的结果，多见于程序生成的文件）：该项按0分计，"
        "请用 Excel/WPS 打开并保存后重新报送，或直接填写数值",
    ),
    "INVALID_VALUE": (ERROR, "{label}：{detail}"),
    "OUT_OF_RANGE": (ERROR, "{label}：{detail}"),
    "INVALID_PAIR": (ERROR, "{detail}；请核实这两项数据后重新报送"),
    "MISSING_INDICATOR": (ERROR, "表中找不到指标「{label}」：该项按缺项计，请使用下发的模板填写"),
    "DUPLICATE_INDICATOR": (ERROR, "指标「{label}」在表中出现了多次，已使用第一次出现的值，请删除多余的行"),
    "UNKNOWN_INDICATOR": (WARNING, "指标代码“{indicator}”不在本年度规则中，已忽略该行"),
    "UNFILLED": (ERROR, "模板未填写：文件里没有填写任何指标，按未报送处理；请填写后重新报送"),
    "NO_FORM_SHEET": (ERROR, "找不到“填报表”工作表或其表头（指标代码、填报值）：请使用下发的模板填写"),
    "NO_METADATA": (WARNING, "文件缺少模板的隐藏信息，已按表内单位名称“{town}”识别，请核对是否本单位报送"),
    "NO_TOWN": (ERROR, "无法识别报送单位（隐藏信息和单位名称单元格都没有）：请使用下发的模板重新填写"),
    "WRONG_TEMPLATE": (ERROR, "{detail}"),
    "RULES_CHANGED": (WARNING, "模板下发后规则文件有改动（模板指纹 {detail}）：已按当前规则评分，请核对"),
    "TOWN_MISMATCH": (WARNING, "这是“{town}”的模板，但{detail}：已按“{town}”评分，请核实是否发错了文件"),
    "UNKNOWN_TOWN": (ERROR, "单位“{town}”不在单位名单中：请核对名单或确认文件来源"),
    "DUPLICATE": (INFO, "同一单位报送了多个文件，本文件未采用，采用的是较新的 {detail}"),
    "NOT_WORKBOOK": (INFO, "不是 Excel/WPS/LibreOffice 工作簿，已跳过"),
    "LOCK_FILE": (INFO, "Office 临时锁定文件（~$开头），已跳过"),
    "TOO_LARGE": (ERROR, "文件被拒收：{detail}。请用下发的模板重新填写后报送"),
    "UNSAFE_XML": (ERROR, "文件被拒收：{detail}，可能是恶意构造的文件。请用下发的模板重新填写后报送"),
    "ENCRYPTED": (ERROR, "文件设有密码，请取消密码后重新报送"),
    "CORRUPT": (ERROR, "文件已损坏或不完整（{detail}）：请重新保存后报送"),
    "READ_FAILED": (ERROR, "读取时出现意外错误（{detail}）：请把该文件转给技术支持，其他文件不受影响"),
    "PDF_FAILED": (WARNING, "LibreOffice 未能把该表转换为 PDF：Excel 结果不受影响，可用 Excel/WPS 打开后打印"),
    "NOT_RETURNED": (WARNING, "未报送：单位名单中有该单位，但收件箱中没有它的文件"),
    "REVIEW_INVALID_VALUE": (ERROR, "核定表：「{label}」的核定值{detail}；该行未采用，请改正后重新运行"),
    "REVIEW_NO_REASON": (ERROR, "核定表：「{label}」的核定值“{value}”没有填写核定理由，未采用；请补上理由后重新运行"),
    "REVIEW_UNKNOWN_TOWN": (ERROR, "核定表：单位“{town}”不在单位名单中，该行未采用；请核对单位名称"),
    "REVIEW_UNKNOWN_INDICATOR": (ERROR, "核定表：指标“{indicator}”不在本年度规则中，该行未采用；请核对指标代码"),
    "REVIEW_NOT_SCORED": (
        ERROR,
        "核定表：“{town}”本次没有可评分的回报文件（未报送或文件未采用），"
        "「{label}」的核定值暂不采用，已保留在新的核定表中",
    ),
    "REVIEW_DUPLICATE": (ERROR, "核定表：「{label}」在核定表中出现了多次且内容不同，采用的是{detail}，本行未采用"),
    "REVIEW_STALE": (
        WARNING,
        "核定表：「{label}」的自报值已变（{detail}，单位重新报送过），仍采用核定值“{value}”，请核实",
    ),
    "REVIEW_RULES_CHANGED": (WARNING, "核定表是按另一版规则文件生成的（指纹 {detail}）：已按当前规则采用，请核对"),
    "REVIEW_NO_METADATA": (
        WARNING,
        "核定表缺少隐藏信息（不是 qz score 生成的，或被另存时丢失）：已按表中内容采用，请核对年度",
    ),
}


@dataclass(slots=True)  # thousands of them cross the worker pipe and stay until the end
class Problem:
    code: str
    file: str = ""
    sheet: str = ""
    cell: str = ""
    indicator: str = ""
    value: str = ""
    town: str = ""
    label: str = ""
    detail: str = ""
    severity: str = field(init=False)
    message: str = field(init=False)

    def __post_init__(self):
        self.severity, template = CODES[self.code]
        self.message = template.format(
            code=self.code,
            file=self.file,
            sheet=self.sheet,
            cell=self.cell,
            indicator=self.indicator,
            value=self.value,
            town=self.town,
            label=self.label,
            detail=self.detail,
        )


#: code → a few words for lists and counts (「未填写 3 处」)
CODE_NAMES: dict[str, str] = {
    "MISSING_VALUE": "未填写",
    "FORMULA_ERROR": "公式结果为错误",
    "FORMULA_UNCALCULATED": "公式未计算",
    "INVALID_VALUE": "数值无效",
    "OUT_OF_RANGE": "超出范围",
    "INVALID_PAIR": "数据矛盾",
    "MISSING_INDICATOR": "缺少指标行",
    "DUPLICATE_INDICATOR": "指标重复",
    "UNKNOWN_INDICATOR": "未知指标",
    "UNFILLED": "模板未填写",
    "NO_FORM_SHEET": "找不到填报表",
    "NO_METADATA": "缺少模板信息",
    "NO_TOWN": "无法识别单位",
    "WRONG_TEMPLATE": "模板不对",
    "RULES_CHANGED": "规则有改动",
    "TOWN_MISMATCH": "单位不符",
    "UNKNOWN_TOWN": "单位不在名单中",
    "DUPLICATE": "重复报送",
    "NOT_WORKBOOK": "不是工作簿",
    "LOCK_FILE": "临时锁定文件",
    "TOO_LARGE": "文件过大",
    "UNSAFE_XML": "可疑文件",
    "ENCRYPTED": "设有密码",
    "CORRUPT": "文件损坏",
    "READ_FAILED": "读取失败",
    "PDF_FAILED": "PDF 未生成",
    "NOT_RETURNED": "未报送",
    "REVIEW_INVALID_VALUE": "核定值无效",
    "REVIEW_NO_REASON": "核定无理由",
    "REVIEW_UNKNOWN_TOWN": "核定单位不明",
    "REVIEW_UNKNOWN_INDICATOR": "核定指标不明",
    "REVIEW_NOT_SCORED": "核定单位未报送",
    "REVIEW_DUPLICATE": "核定重复",
    "REVIEW_STALE": "自报值已变",
    "REVIEW_RULES_CHANGED": "核定表规则不同",
    "REVIEW_NO_METADATA": "核定表缺少信息",
}


def counted(codes: list[str]) -> str:
    """「未填写 3 处、数值无效 2 处」: each kind once, in order of first appearance."""
    tally: dict[str, int] = {}
    for code in codes:
        tally[code] = tally.get(code, 0) + 1
    return "、".join(f"{CODE_NAMES.get(code, code)} {n} 处" for code, n in tally.items())


PROBLEM_COLUMNS = {
    "file": "文件",
    "town": "单位名称",
    "sheet": "工作表",
    "cell": "单元格",
    "indicator": "指标代码",
    "value": "填报内容",
    "code": "问题代码",
    "severity": "级别",
    "message": "说明",
}

NOT_RETURNED_STATUS = "未报送"  # a town's status in the ranking

#: statuses of an input file in the report
SCORED, SUPERSEDED, REJECTED, SKIPPED = "已评分", "已被取代", "未采用", "已跳过"


def problems_frame(problems: list[Problem]) -> pd.DataFrame:
    import pandas as pd

    rows = [{col: getattr(p, attr) for attr, col in PROBLEM_COLUMNS.items()} for p in problems]
    return pd.DataFrame(rows, columns=list(PROBLEM_COLUMNS.values()))


@dataclass
class Report:
    """What a scoring run did, for the CLI to render and the tests to check."""

    files: pd.DataFrame  # 文件, 状态, 单位名称, 说明 — every input file exactly once
    problems: list[Problem]
    summary: pd.DataFrame  # the 汇总排名 table as written
    outputs: list[str]  # paths written
    warnings: list[str] = field(default_factory=list)  # rules-file warnings
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase
    changes: list = field(default_factory=list)  # what resubmissions changed (changes.Change)
    requests: dict[str, str] = field(default_factory=dict)  # town → its 反馈 workbook (correction request)
    reviews: pd.DataFrame | None = None  # 核定记录: the reviewed values applied (None: no --review)
    reused: dict[str, int] = field(default_factory=dict)  # what was taken over from the previous run, by kind

    @property
    def not_returned(self) -> list[str]:
        """Towns of the towns file with no accepted file, in towns-file order."""
        return list(self.summary.loc[self.summary["状态"] == NOT_RETURNED_STATUS, "单位名称"])

    @property
    def has_problems(self) -> bool:
        return any(p.severity in (ERROR, WARNING) for p in self.problems)

    def codes_by_file(self) -> dict[str, list[str]]:
        """Problem codes per input file (one pass, however many files)."""
        codes: dict[str, list[str]] = {}
        for p in self.problems:
            codes.setdefault(p.file, []).append(p.code)
        return codes
