"""What every `qz` command shares: exit codes, one-line Chinese failures, reading the rules
and towns files with their errors turned into sentences, option types for dates.

Only click and the standard library at import (see :mod:`qz_excel.cli.commands`)."""

from __future__ import annotations

import errno
import re
import sys
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import click

EXIT_PROBLEMS, USAGE_ERROR, NOT_WRITTEN, INTERNAL_ERROR, INTERRUPTED = 1, 2, 3, 4, 130
#: 制表单位 and the letters' signature when neither the command nor qz.toml names one
DEFAULT_MAKER = "县质量技术监督局"


def fail(message: str, code: int = USAGE_ERROR) -> None:
    click.echo(f"错误：{message}", err=True)
    sys.exit(code)


@contextmanager
def loading():
    """Libraries load and the rules are validated. A Ctrl-C landing in an import's weakref
    callback or in pydantic's C code could only be printed as 「Exception ignored」 while
    the command carried on to the end: it is held until loading is over, then stops the
    command like any other."""
    from qz_excel.results.publish import signals_held

    with signals_held():
        yield


def load_rules_or_fail(rules_file: str | None):
    with loading():
        from qz_excel.rules.ruleset import RulesError, load_rules

        try:
            return load_rules(rules_file)
        except RulesError as exc:
            fail(str(exc) + "\n请修改规则文件后重试（qz rules check 可逐条检查）")
        except FileNotFoundError as exc:
            fail(str(exc))


def write_error(exc: OSError, out_dir: str) -> str:
    """One sentence for a failed write: what happened, where, what to do."""
    where = str(exc.filename2 or exc.filename or out_dir)  # os.replace: filename2 is the target
    if ".qz-" in where:  # a staging name means nothing to the clerk: name the folder
        where = out_dir
    kept = "结果目录仍是上一次的完整结果"
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return f"磁盘空间不足，无法写入 {where}：请清理磁盘或换一个有空间的 --out 目录后重试（{kept}）"
    if exc.errno == errno.EROFS:
        return f"{where} 所在的磁盘是只读的：请换一个 --out 目录后重试（{kept}）"
    if isinstance(exc, PermissionError):
        return f"无法写入 {where}：文件可能正在 Excel/WPS 中打开，或没有写入权限；请关闭文件后重试（{kept}）"
    cause = ERRNO_WORDS.get(exc.errno or 0, f"系统错误 {exc.errno}：{exc.strerror or exc}")
    return f"无法写入 {where}（{cause}）：请检查 --out 目录后重试（{kept}）"


#: what a failed write means, for the errors a clerk's machine gives besides those above
ERRNO_WORDS = {
    errno.EFBIG: "文件超过了系统允许的大小",
    errno.EIO: "磁盘读写出错，可能是移动硬盘或网络盘断开",
    errno.ENAMETOOLONG: "路径太长，请换一个短一些的 --out 目录",
    errno.ENOENT: "目录不存在或已被移走",
    errno.EMFILE: "同时打开的文件太多",
}


def not_written(exc: OSError, out_dir: str) -> None:
    fail(write_error(exc, out_dir), NOT_WRITTEN)


def password_for(user: str, variable: str, what: str) -> str:
    """A mail password (授权码): from ``variable`` in the environment, else typed at a prompt
    that does not echo; never an option, never stored. No login name, no password."""
    import os

    if not user:
        return ""
    password = os.environ.get(variable, "")
    if not password and not sys.stdin.isatty():
        fail(f"没有{what}的授权码：请先设置环境变量 {variable}，或在命令行窗口中运行以便输入")
    return password or click.prompt(f"{user} 的授权码（输入时不显示）", hide_input=True)


def need_folder(path: str, what: str, hint: str) -> None:
    if not Path(path).is_dir():
        fail(f"找不到{what} {path}：{hint}")


def load_towns(path: str):
    with loading():  # pandas loads here
        from qz_excel.common.towns import TownsError, read_towns

        try:
            towns = read_towns(path)
        except TownsError as exc:
            fail(str(exc))
    for note in towns.attrs.get("notes", []):
        click.echo(f"单位名单提示：{note}", err=True)
    return towns


def progress_bar(label: str, total: int):
    """A progress bar on the terminal (stderr, so redirected output stays clean)."""
    return click.progressbar(length=total, label=label, file=sys.stderr)


class DateParam(click.ParamType):
    """A date as a clerk types it: 2010-12-01, 2010/12/01, 2010.12.1, 2010年12月1日."""

    name = "日期"
    metavar_zh = "日期"
    _FORM = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*$")

    def convert(self, value, param, ctx):
        if isinstance(value, date):
            return value
        match = self._FORM.match(str(value))
        try:
            if match:
                return date(*map(int, match.groups()))
        except ValueError:
            pass
        self.fail(f"“{value}”不是有效日期：请写成 2010-12-01、2010/12/01 或 2010年12月1日", param, ctx)


DATE = DateParam()

rules_option = click.option(
    "--rules",
    "rules_file",
    type=click.Path(dir_okay=False),
    help="规则文件（YAML），或随程序提供的规则名（见 qz rules list）；默认用最新年度规则",
)
towns_option = click.option(
    "--towns",
    "towns_file",
    type=click.Path(dir_okay=False),
    help="单位名单：CSV（UTF-8 或 GBK）或 .xlsx，须有“单位名称”列",
)
