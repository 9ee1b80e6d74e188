"""`qz rules new`: next year's rules file, started from last year's.

The copy is made on the text, not by re-dumping YAML, so every comment and the layout a
bureau chose survive; only the year changes — in ``year:`` and in the titles that carry it
— and a header says what to edit. The result is validated before it is written.
"""

from __future__ import annotations

import re

HEADER = """# {year}年规则文件：由 {source} 复制而来（qz rules new），年份与标题已改为 {year} 年。
# 请按今年印发的考核细则逐项核对后再用：
#   1. title、form_title、attachment：今年文件的标题与附件号；
#   2. 每一项（items）的 standard（标准分）、content（考核内容）、method（评分方法，照抄原文）；
#   3. 指标（indicators）：去年有、今年没有的删掉，新增的照样写一条；id 一经发出填报表就不要再改；
#   4. 细则（rules）的分值、门槛和种类（kind）；`qz rules kinds` 列出全部种类，docs/rules.md 有说明和例子；
#   5. 改完运行 qz rules check 本文件，逐条看错误和警告（会写明第几行）。
"""
_YEAR_KEY = re.compile(r"^(year\s*:\s*)(\d{4})(\s*(?:#.*)?)$", re.M)
_TITLED = re.compile(r"^((?:title|form_title|name|attachment)\s*:.*)$", re.M)


def next_year_text(text: str, year: int, source: str) -> str:
    """Last year's rules file text → this year's: ``year:`` set, the old year replaced in
    the titles, a header on what to check. Raises ValueError when the text has no year."""
    found = _YEAR_KEY.search(text)
    if found is None:
        raise ValueError("规则文件中没有 year: 一行")
    old = found.group(2)
    text = _YEAR_KEY.sub(lambda m: f"{m.group(1)}{year}{m.group(3)}", text, count=1)
    text = _TITLED.sub(lambda m: m.group(1).replace(old, str(year)), text)
    # an earlier copy's header is replaced, not stacked
    body = re.sub(r"\A(?:# .*由 .* 复制而来（qz rules new）.*\n(?:#.*\n)*)", "", text)
    return HEADER.format(year=year, source=source) + body
