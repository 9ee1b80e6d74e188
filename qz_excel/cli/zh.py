"""click in Chinese: its usage lines, help headings, errors, suggestions and prompts.

click marks its user-facing text for gettext (``_()`` and ``ngettext()``, bound in each of
its modules at import). :func:`install` rebinds those names in click's modules to a lookup
in :data:`ZH`, so every word a clerk reads from `qz` is Chinese, click's included; a text
missing here (a newer click) stays English rather than failing. The placeholders are
click's own (``{name}``, ``{param_hint}``, …); ``!r`` is dropped so names are not quoted
the Python way.
"""

from __future__ import annotations

import gettext as _gettext
import re
import sys

from qz_excel.common.textwidth import display_width

ZH: dict[str, str] = {
    "Usage:": "用法：",
    "Options": "选项",
    "Commands": "命令",
    "Positional arguments": "参数",
    "Show this message and exit.": "显示本帮助并退出。",
    "Show the version and exit.": "显示版本号并退出。",
    "%(prog)s, version %(version)s": "%(prog)s 版本 %(version)s",
    "Aborted!": "已中断。",
    "Error: {message}": "错误：{message}",
    "Try '{command} {option}' for help.": "运行“{command} {option}”查看用法。",
    "No such option {name!r}.": "没有 {name} 这个选项。",
    "No such command {name!r}.": "没有 {name} 这个命令。",
    "Missing command.": "缺少命令。",
    "Missing option": "缺少必填的选项",
    "Missing argument": "缺少必填的参数",
    "Missing parameter": "缺少必填的参数",
    "Missing parameter: {param_name}": "缺少必填的参数：{param_name}",
    "Missing {param_type}": "缺少必填的选项或参数",
    "Invalid value for {param_hint}: {message}": "{param_hint} 的值不对：{message}",
    "Invalid value: {message}": "值不对：{message}",
    "Option {name!r} does not take a value.": "选项 {name} 后面不用跟值。",
    "Argument {name!r} takes {nargs} values.": "参数 {name} 要跟 {nargs} 个值。",
    "Invalid start character for option ({option})": "选项的开头字符不对（{option}）",
    "default: {default}": "默认：{default}",
    "required": "必填",
    "env var: {var}": "环境变量：{var}",
    "deprecated": "已停用",
    "(dynamic)": "（动态）",
    "Repeat for confirmation": "再输入一次确认",
    "Error: The two entered values do not match.": "错误：两次输入的不一致。",
    "Error: invalid input": "错误：输入无效",
    "Press any key to continue...": "按任意键继续……",
    "Do you want to continue?": "是否继续？",
    "Confirm the action without prompting.": "不再询问，直接确认。",
    "Choose from:\n\t{choices}": "可选：\n\t{choices}",
    "Could not open file {filename!r}: {message}": "无法打开文件“{filename}”：{message}",
    "{name} {filename!r} does not exist.": "{name}“{filename}”不存在。",
    "{name} {filename!r} is a directory.": "“{filename}”是文件夹，这里要的是文件。",
    "{name} {filename!r} is a file.": "“{filename}”是文件，这里要的是文件夹。",
    "{name} {filename!r} is not readable.": "{name}“{filename}”无法读取（没有权限）。",
    "{name} {filename!r} is not writable.": "{name}“{filename}”无法写入（没有权限）。",
    "{name} {filename!r} is not executable.": "{name}“{filename}”不能执行。",
    "file": "文件",
    "directory": "文件夹",
    "path": "路径",
    "{value!r} is not a valid {number_type}.": "“{value}”不是有效的数字。",
    "{value} is not in the range {range}.": "{value} 不在允许的范围内（{range}）。",
    "{value!r} is not a valid boolean. Recognized values: {states}": "“{value}”不是有效的是/否值。",
    "{value!r} is not a valid UUID.": "“{value}”不是有效的 UUID。",
    "Value must be an iterable.": "值必须是一组数据。",
    "unknown error": "未知错误",
}

#: (singular, plural) → (Chinese singular, Chinese plural)
ZH_PLURAL: dict[tuple[str, str], tuple[str, str]] = {
    ("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})"): (
        "多出了参数（{args}）",
        "多出了参数（{args}）",
    ),
    ("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)"): (
        "是不是 {possibility}？",
        "（是不是其中之一：{possibilities}？）",
    ),
    ("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments."): (
        "选项 {name} 后面要跟一个值。",
        "选项 {name} 后面要跟 {nargs} 个值。",
    ),
    ("{value!r} is not {choice}.", "{value!r} is not one of {choices}."): (
        "“{value}”不对，只能是 {choice}。",
        "“{value}”不对，只能是其中之一：{choices}。",
    ),
    ("{value!r} does not match the format {format}.", "{value!r} does not match the formats {formats}."): (
        "“{value}”的格式不对，应为 {format}。",
        "“{value}”的格式不对，应为其中之一：{formats}。",
    ),
    ("Takes {nargs} values but 1 was given.", "Takes {nargs} values but {len} were given."): (
        "要 {nargs} 个值，只给了 1 个。",
        "要 {nargs} 个值，给了 {len} 个。",
    ),
}


def gettext(message: str) -> str:
    return ZH.get(message, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    zh = ZH_PLURAL.get((singular, plural))
    if zh is None:
        return singular if n == 1 else plural
    return zh[0] if n == 1 else zh[1]


#: an ASCII word (never broken), a run of spaces, or any other single character
_TOKENS = re.compile(r"[!-~]+|\s+|.")


def wrap_text(
    text: str, width: int = 78, initial_indent: str = "", subsequent_indent: str = "", preserve_paragraphs: bool = False
) -> str:
    """click's help wrapping by display width: Chinese has no spaces to break at and each
    character takes two columns. Lines break between Chinese characters or at spaces,
    never inside an ASCII word such as an option name; paragraphs are kept."""
    out = []
    for paragraph in text.split("\n\n") if preserve_paragraphs else [text]:
        lines, line, indent = [], "", initial_indent
        for token in _TOKENS.findall(" ".join(paragraph.split("\n"))):
            if token.isspace():
                token = " "
            if line and display_width(indent + line + token) > width and not token.isspace():
                lines.append(indent + line.rstrip())
                line, indent = token, subsequent_indent
            elif line or not token.isspace():
                line += token
        lines.append(indent + line.rstrip())
        out.append("\n".join(lines))
        initial_indent = subsequent_indent
    return "\n\n".join(out)


def install() -> None:
    """Rebind click's ``_`` and ``ngettext`` in every click module already imported, and
    make its help layout measure Chinese by display width."""
    import click.formatting
    from click._compat import strip_ansi

    setattr(click.formatting, "term_len", lambda text: display_width(strip_ansi(text)))  # noqa: B010
    setattr(click.formatting, "wrap_text", wrap_text)  # noqa: B010
    for name, module in list(sys.modules.items()):
        if name == "click" or name.startswith("click."):
            if getattr(module, "_", None) is _gettext.gettext:
                setattr(module, "_", gettext)  # noqa: B010
            if getattr(module, "ngettext", None) is _gettext.ngettext:
                setattr(module, "ngettext", ngettext)  # noqa: B010


def localize(group) -> None:
    """Chinese placeholders in every usage line: [选项], 命令 [参数]..., and a name for each
    option's value (文件, 文件夹, 日期 …) instead of click's TEXT, PATH, FLOAT RANGE."""
    import click

    def value_name(param) -> str | None:
        kind = param.type
        if isinstance(kind, click.Path):
            return "文件夹" if not kind.file_okay else "文件" if not kind.dir_okay else "路径"
        if isinstance(kind, click.Choice):
            return None  # click lists the choices
        if isinstance(kind, (click.types.FloatParamType, click.types.IntParamType)):
            return "数字"
        return getattr(kind, "metavar_zh", None) or "文字"

    def walk(command) -> None:
        command.options_metavar = "[选项]"
        if isinstance(command, click.Group):
            command.subcommand_metavar = "命令 [参数]..."
            for sub in command.commands.values():
                walk(sub)
        for param in command.params:
            if isinstance(param, click.Option) and param.metavar is None and not param.is_flag:
                param.metavar = value_name(param)

    walk(group)
