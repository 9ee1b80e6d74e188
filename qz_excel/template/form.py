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

DIGITS = "零一二三四五六七八九"


def chinese_numeral(n: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 20 → 二十, 105 → 一百零五: items numbered as a
    document numbers them, however many there are."""
    if n < 10:
        return DIGITS[n]
    if n < 20:
        return "十" + (DIGITS[n % 10] if n % 10 else "")
    if n < 100:
        return DIGITS[n // 10] + "十" + (DIGITS[n % 10] if n % 10 else "")
    if n < 1000:
        rest = n % 100
        tail = (
            ""
            if not rest
            else ("零" + DIGITS[rest] if rest < 10 else ("一" if rest < 20 else "") + chinese_numeral(rest))
        )
        return DIGITS[n // 100] + "百" + tail
    return str(n)


def item_heading(number: int, name: str, standard: str, bonus: bool = False) -> str:
    """「一、组织领导（标准分10分）」; ``standard`` as shown (「10」「4.5」); a bonus item
    (加分项) has a cap instead: 「四、加分项（加分，最多加10分）」 (``standard``: the cap, or "")."""
    if bonus:
        return f"{chinese_numeral(number)}、{name}（加分{'，最多加' + standard + '分' if standard else ''}）"
    return f"{chinese_numeral(number)}、{name}（标准分{standard}分）"
