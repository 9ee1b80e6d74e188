"""The contract between the template a town receives and the intake that reads it back.

Intake finds things by these labels, not by fixed addresses, so a workbook re-saved by WPS
or LibreOffice (or with a row inserted above the table) still reads.
"""

FORM_SHEET = "填报表"
INSTRUCTIONS_SHEET = "填报说明"
META_SHEET = "_qz_meta"

CODE_HEADER = "指标代码"
VALUE_HEADER = "填报值"
COLUMNS = ("序号", CODE_HEADER, "考核项目", "指标", VALUE_HEADER, "单位", "填报说明")

TOWN_LABEL = "单位名称"
FILLER_LABEL = "填报人"
PHONE_LABEL = "联系电话"
DATE_LABEL = "填报日期"

#: the hidden sheet's first cell, so intake knows the sheet is ours
META_MARK = "qz_excel 模板元数据（请勿修改）"
META_KEYS = ("year", "town", "rules_fingerprint", "template_version", "generated_at", "tool_version")

CHINESE_NUMERALS = "一二三四五六七八九十"


def item_heading(number: int, name: str, standard: str) -> str:
    """「一、组织领导（标准分10分）」; ``standard`` as shown (「10」「4.5」)."""
    numeral = CHINESE_NUMERALS[number - 1] if 1 <= number <= 10 else str(number)
    return f"{numeral}、{name}（标准分{standard}分）"
