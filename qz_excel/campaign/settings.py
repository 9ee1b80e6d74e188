"""qz.toml: a campaign's settings, written with Chinese comments, read back strictly.

A clerk edits this file in Notepad: an unknown key (a typo), a wrong type or a date that
is no date is refused with the file, the line and the key, in Chinese. No password is ever
written here: the mail and mailbox passwords come from the environment or a prompt.
"""

from __future__ import annotations

import re
import sys
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover — the standard library has it from 3.11
    import tomli as tomllib

SETTINGS_NAME = "qz.toml"
_DATE = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*$")
Security = Literal["", "ssl", "starttls", "none"]


class SettingsError(Exception):
    """A settings file that cannot be used; ``problems`` names each line and key."""

    def __init__(self, path: Path, problems: list[str]):
        self.path, self.problems = path, problems
        super().__init__(f"设置文件 {path} 有 {len(problems)} 处错误：\n" + "\n".join(problems))


def parse_date(value: object) -> date | None:
    """A date as a clerk writes it (2010-12-20, 2010/12/20, 2010年12月20日, a TOML date);
    "" is none."""
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    match = _DATE.match(str(value))
    if match:
        try:
            return date(*map(int, match.groups()))
        except ValueError:
            pass
    raise ValueError(f'“{value}”不是有效日期：请写成 "2010-12-20" 或 "2010年12月20日"')


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MailSettings(_Section):
    smtp: str = ""  # 主机:端口
    security: Security = ""
    user: str = ""
    sender: str = ""


class MailboxSettings(_Section):
    imap: str = ""
    security: Security = ""
    user: str = ""
    folder: str = "INBOX"


class LastYearSettings(_Section):
    results: str = ""  # last year's campaign folder, or its 汇总.xlsx
    renamed: dict[str, str] = {}  # this year's name → last year's


class CampaignSettings(_Section):
    year: int = Field(ge=2000, le=2100)
    rules: str = Field(min_length=1)
    towns: str = Field(min_length=1)
    maker: str = ""
    deadline: date | None = None
    contact: str = ""
    generated_at: date | None = None
    mail: MailSettings = MailSettings()
    mailbox: MailboxSettings = MailboxSettings()
    last_year: LastYearSettings = LastYearSettings()

    @field_validator("deadline", "generated_at", mode="before")
    @classmethod
    def _dates(cls, value: object) -> date | None:
        return parse_date(value)

    @property
    def deadline_text(self) -> str:
        day = self.deadline
        return f"{day.year}年{day.month}月{day.day}日" if day else ""


_KEY_WORDS = {
    "extra_forbidden": "不认识这个设置（拼写错了？可用的设置见文件里的注释）",
    "int_parsing": "应是整数，如 2010",
    "int_type": "应是整数，如 2010",
    "string_type": '应是文字，写在英文双引号里，如 "县质量技术监督局"',
    "literal_error": '只能是 "ssl"、"starttls"、"none" 或空 ""',
    "greater_than_equal": "年度应在 2000 到 2100 之间",
    "less_than_equal": "年度应在 2000 到 2100 之间",
    "missing": "缺少这一项",
    "too_short": "不能为空",
    "dict_type": '应是一组 "今年名称" = "去年名称"',
}


def _line_of(text: str, loc: tuple) -> int | None:
    """The line a key is set on: within its [section] when it has one."""
    section, key = (loc[0], loc[1]) if len(loc) > 1 and loc[0] in ("mail", "mailbox", "last_year") else (None, loc[0])
    current = None
    for k, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.match(r"^\[([^\]]+)\]", stripped)
        if header:
            current = header.group(1).strip()
            continue
        if re.match(rf"^\"?{re.escape(str(key))}\"?\s*=", stripped) and (
            current == section or (section and current and current.startswith(section))
        ):
            return k
    return None


def load_settings(path: Path) -> CampaignSettings:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(path, [f"无法读取：{getattr(exc, 'strerror', None) or exc}（请存为 UTF-8 文本）"]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # 「Invalid value (at line 15, column 8)」: the position is in the message before 3.14
        found = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        where = f"第{found.group(1)}行第{found.group(2)}列" if found else "某处"
        what = re.sub(r"\s*\(at line.*\)$", "", str(exc))
        raise SettingsError(
            path, [f'{where}：格式不对（{what}）；文字要写在英文双引号里，如 smtp = "smtp.qq.com:465"']
        ) from None
    try:
        return CampaignSettings.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(str(p) for p in error["loc"])
            line = _line_of(text, loc)
            words = _KEY_WORDS.get(error["type"]) or str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{'第' + str(line) + '行，' if line else ''}设置 {'.'.join(loc)}：{words}")
        raise SettingsError(path, problems) from None


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _aligned(text: str, column: int = 40) -> str:
    """Each line's 「# comment」 starting at one display column, so the file reads as a table."""
    from qz_excel.common.textwidth import display_width

    lines = []
    for line in text.splitlines():
        setting, mark, comment = line.partition("  # ")
        if mark and setting.strip() and not setting.startswith("#"):
            setting = setting.rstrip()
            line = setting + " " * max(2, column - display_width(setting)) + "# " + comment.strip()
        lines.append(line)
    return "\n".join(lines) + "\n"


def settings_text(year: int, rules: str, towns: str, maker: str = "") -> str:
    """A new qz.toml: every key with a Chinese comment saying what it does."""
    return _aligned(f"""# qz 考核年度工作目录的设置。可用记事本修改，保存为 UTF-8。
# 文字写在英文双引号里；不用的项留空 ""。这里从不保存密码：发信和收信的密码（授权码）
# 只在运行时输入，或放在环境变量 QZ_SMTP_PASSWORD / QZ_IMAP_PASSWORD 里。
# 在本目录里运行 qz 的各个命令时，都从这里取设置；命令行上写的选项优先。

year = {year}                       # 考核年度
rules = {_quoted(rules)}            # 规则：随程序提供的规则名（qz rules list），或本目录下的规则文件，如 "规则.yaml"
towns = {_quoted(towns)}            # 单位名单（本目录下的文件）：须有“单位名称”列，可有“类别、联系人、邮箱”
maker = {_quoted(maker)}            # 制表单位：印在汇总排名上，也是邮件的落款
deadline = ""                       # 报送截止日期，如 "{year}-12-20"：写入填报说明和邮件
contact = ""                        # 局里的联系人及电话：写入填报说明和邮件
generated_at = ""                   # 模板生成日期：第一次 qz template 时自动填上，之后重新生成的模板逐字节相同

[mail]                              # 发送模板、催报和修改通知（qz mail）
smtp = ""                           # 发信服务器，如 "smtp.qq.com:465"
security = ""                       # "ssl"、"starttls" 或 "none"；留空则端口 465 用 ssl，其余用 starttls
user = ""                           # 登录名（通常是邮箱地址）
sender = ""                         # 发件人邮箱；留空同 user

[mailbox]                           # 收取各单位的回件（qz fetch）
imap = ""                           # 收信服务器，如 "imap.qq.com:993"
security = ""                       # "ssl"、"starttls" 或 "none"；留空则端口 993 用 ssl，其余用 starttls
user = ""                           # 登录名
folder = "INBOX"                    # 收件夹

[last_year]                         # 与上一年比较：汇总排名加“上年总分、上年名次、名次变化”
results = ""                        # 上一年的考核目录或它的汇总.xlsx，如 "../{year - 1}年考核"

[last_year.renamed]                 # 更名或合并的单位，一行一个：今年名称 = 去年名称
# "城东街道" = "城东镇"
""")


#: what the web page's 设置 form may change: (section or "", key) → what the clerk reads
EDITABLE = {
    ("", "maker"): "制表单位",
    ("", "deadline"): "报送截止日期",
    ("", "contact"): "联系人及电话",
    ("mail", "smtp"): "发信服务器（主机:端口）",
    ("mail", "security"): "发信加密方式",
    ("mail", "user"): "发信登录名",
    ("mail", "sender"): "发件人邮箱",
    ("mailbox", "imap"): "收信服务器（主机:端口）",
    ("mailbox", "security"): "收信加密方式",
    ("mailbox", "user"): "收信登录名",
    ("mailbox", "folder"): "收件夹",
    ("last_year", "results"): "上一年的考核目录或汇总.xlsx",
}


def set_settings(path: Path, values: dict[tuple[str, str], str]) -> CampaignSettings:
    """Text settings changed in place, each in its own [section], comments and layout kept;
    the result is validated and the file left as it was when it does not validate."""
    text = path.read_text(encoding="utf-8-sig")
    section, lines = "", []
    for line in text.splitlines():
        header = re.match(r"^\s*\[([^\]]+)\]", line)
        if header:
            section = header.group(1).strip()
        else:
            for (where, key), value in values.items():
                if where == section and re.match(rf'^{re.escape(key)}\s*=\s*"', line):
                    parts = re.match(r'^(\S+\s*=\s*)"(?:[^"\\]|\\.)*"(.*)$', line)
                    if parts:  # the value replaced, its comment kept
                        line = parts.group(1) + _quoted(value) + parts.group(2)
        lines.append(line)
    from qz_excel.common.files import atomic_write_bytes

    new = "\n".join(lines) + "\n"
    atomic_write_bytes(path, new.encode("utf-8"))
    try:
        return load_settings(path)
    except SettingsError:
        atomic_write_bytes(path, text.encode("utf-8"))
        raise
