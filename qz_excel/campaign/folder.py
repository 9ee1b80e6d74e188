"""A campaign folder (考核年度工作目录): everything of one year's assessment in one place.

::

    2010年考核/
      qz.toml          the settings (rules, 制表单位, dates, mail and mailbox, last year)
      单位名单.xlsx     the towns list
      规则.yaml         the rules file, when the year does not use a bundled one
      模板/             qz template writes here; qz mail keeps its drafts and send log in 模板/mail
      收件箱/           returned workbooks (saved by hand, dropped in the web page, or qz fetch)
      结果/             qz score's results, 核定表.xlsx among them

Every path in qz.toml is relative to the folder, so it can be copied to another PC as is.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from qz_excel.campaign.settings import SETTINGS_NAME, CampaignSettings, load_settings, settings_text

TEMPLATES_DIR = "模板"
INBOX_DIR = "收件箱"
RESULTS_DIR = "结果"
TOWNS_STEM = "单位名单"
RULES_COPY = "规则.yaml"
BLANK_TOWNS_HEADER = ("单位名称", "类别", "联系人", "邮箱")
BLANK_TOWNS_EXAMPLE = ("城关镇（示例，请改为实际单位）", "镇", "张三", "zhangsan@example.cn")


class CampaignError(Exception):
    """A campaign folder that cannot be used as it is; the message says how to mend it."""


@dataclass(frozen=True)
class Campaign:
    root: Path
    settings: CampaignSettings

    @property
    def settings_file(self) -> Path:
        return self.root / SETTINGS_NAME

    @property
    def towns_file(self) -> Path:
        return self.root / self.settings.towns

    @property
    def templates(self) -> Path:
        return self.root / TEMPLATES_DIR

    @property
    def inbox(self) -> Path:
        return self.root / INBOX_DIR

    @property
    def results(self) -> Path:
        return self.root / RESULTS_DIR

    @property
    def review_table(self) -> Path:
        return self.results / "核定表.xlsx"

    @property
    def rules(self) -> str:
        """A bundled rules name (「2010」) or the path of the folder's own rules file."""
        own = self.root / self.settings.rules
        return str(own) if own.suffix in (".yaml", ".yml") or own.is_file() else self.settings.rules

    @property
    def last_year(self) -> Path | None:
        """Last year's 汇总.xlsx, from a campaign folder, a results folder or the file."""
        named = self.settings.last_year.results
        if not named:
            return None
        path = (self.root / named).resolve()
        for candidate in (path / RESULTS_DIR / "汇总.xlsx", path / "汇总.xlsx", path):
            if candidate.is_file():
                return candidate
        return path  # missing: the reader says so, with the path as written

    def missing_parts(self) -> list[str]:
        """What is not there, each with how to mend it."""
        missing = []
        if not self.towns_file.is_file():
            missing.append(f"单位名单 {self.towns_file.name} 不在 {self.root}：请把名单放进来，或改 qz.toml 的 towns")
        own = self.root / self.settings.rules
        if own.suffix in (".yaml", ".yml") and not own.is_file():
            missing.append(
                f"规则文件 {own.name} 不在 {self.root}：请放进来，或把 qz.toml 的 rules 改为 qz rules list 中的名字"
            )
        for folder in (self.templates, self.inbox, self.results):
            if folder.exists() and not folder.is_dir():
                missing.append(f"{folder} 应是文件夹：请改名或删掉这个文件")
        return missing


def find_campaign(start: Path) -> Campaign | None:
    """The campaign ``start`` is in (it or a folder above it holds qz.toml), or None."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / SETTINGS_NAME).is_file():
            return Campaign(folder, load_settings(folder / SETTINGS_NAME))
    return None


def open_campaign(root: Path) -> Campaign:
    """The campaign at ``root`` (``qz -C 目录``): it must hold qz.toml."""
    if not (root / SETTINGS_NAME).is_file():
        raise CampaignError(f"{root} 不是考核年度工作目录（没有 {SETTINGS_NAME}）：请先运行 qz init {root}")
    return Campaign(root.resolve(), load_settings(root / SETTINGS_NAME))


def init_campaign(
    root: Path, year: int, towns: Path | None = None, rules: str | None = None, maker: str = ""
) -> tuple[Campaign, list[str]]:
    """Make a campaign folder; returns it and what was done, in Chinese, for the clerk.
    ``rules``: a bundled name or a rules file, copied in so the folder travels whole."""
    if (root / SETTINGS_NAME).exists():
        raise CampaignError(
            f"{root} 已经是考核年度工作目录（有 {SETTINGS_NAME}）：不会覆盖；直接在其中运行 qz 的命令即可"
        )
    if root.exists() and not root.is_dir():
        raise CampaignError(f"{root} 是一个文件，不是文件夹：请换一个名字")
    done = []
    root.mkdir(parents=True, exist_ok=True)
    for name in (TEMPLATES_DIR, INBOX_DIR, RESULTS_DIR):
        (root / name).mkdir(exist_ok=True)
    done.append(f"文件夹：{TEMPLATES_DIR}/、{INBOX_DIR}/、{RESULTS_DIR}/")
    if towns is not None:
        towns_name = TOWNS_STEM + towns.suffix.lower()
        shutil.copyfile(towns, root / towns_name)
        done.append(f"单位名单：已从 {towns} 复制为 {towns_name}")
    else:
        towns_name = TOWNS_STEM + ".xlsx"
        _blank_towns(root / towns_name)
        done.append(f"单位名单：{towns_name} 是空白名单（表头和一行示例），请填上各单位后再生成模板")
    rules_name = rules or str(year)
    if rules and Path(rules).is_file():
        shutil.copyfile(rules, root / RULES_COPY)
        rules_name = RULES_COPY
        done.append(f"规则：已从 {rules} 复制为 {RULES_COPY}")
    else:
        done.append(f"规则：随程序提供的 {rules_name}")
    (root / SETTINGS_NAME).write_text(settings_text(year, rules_name, towns_name, maker), encoding="utf-8")
    done.append(f"设置：{SETTINGS_NAME}（用记事本打开，按注释填写制表单位、截止日期、邮箱服务器等）")
    return Campaign(root.resolve(), load_settings(root / SETTINGS_NAME)), done


def _blank_towns(path: Path) -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("单位名单")
    bold = wb.add_format({"bold": True, "bg_color": "#D9E1F2", "border": 1})
    ws.write_row(0, 0, BLANK_TOWNS_HEADER, bold)
    ws.write_row(1, 0, BLANK_TOWNS_EXAMPLE)
    for col, width in enumerate((30, 10, 12, 28)):
        ws.set_column(col, col, width)
    ws.freeze_panes(1, 0)
    wb.close()
