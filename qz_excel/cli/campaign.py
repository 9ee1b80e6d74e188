"""`qz init` and `qz status`, and how every command finds its campaign folder.

Inside a campaign (the current folder, a folder above it, or one named by ``qz -C 目录``)
a command takes what it needs from qz.toml and the folder's layout; an option typed on the
command line still wins. Outside one, every command works as before, with its options.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import click

from qz_excel.cli.common import USAGE_ERROR, fail, load_towns, loading

#: `--remind` / `--corrections` / `--review` typed without a value: the campaign's own
FROM_CAMPAIGN = "<考核目录中的>"


def campaign_of(ctx: click.Context):
    """The campaign this command runs in, or None; a broken one stops the command with a
    sentence naming the file, line and key."""
    from qz_excel.campaign.folder import CampaignError, find_campaign, open_campaign
    from qz_excel.campaign.settings import SettingsError

    root = (ctx.find_root().obj or {}).get("campaign_dir")
    try:
        campaign = open_campaign(Path(root)) if root else find_campaign(Path.cwd())
    except (CampaignError, SettingsError) as exc:
        fail(str(exc))
    if campaign is not None:
        for problem in campaign.missing_parts():
            fail(f"考核年度工作目录不完整：{problem}")
    return campaign


def needed(value, what: str, option: str):
    """An option's value, or a sentence saying how to give it outside a campaign."""
    if value in (None, ""):
        fail(f"缺少{what}：请在考核年度工作目录中运行（先用 qz init 目录 建立），或加上 {option}")
    return value


@click.command(short_help="建立一年的考核年度工作目录（设置、名单、模板、收件箱、结果）。")
@click.argument("folder", type=click.Path(file_okay=False), metavar="目录")
@click.option("--year", type=click.IntRange(2000, 2100), default=None, help="考核年度（默认：规则文件的年度）")
@click.option("--towns", "towns_file", type=click.Path(exists=True, dir_okay=False), help="单位名单（复制进目录）")
@click.option("--rules", "rules_file", help="规则：随程序提供的规则名（qz rules list）或规则文件（复制进目录）")
@click.option("--maker", default="", help="制表单位（也是邮件落款），如 县质量技术监督局")
def init(folder, year, towns_file, rules_file, maker):
    """建立考核年度工作目录：设置文件 qz.toml（带中文注释）、单位名单、模板/收件箱/结果文件夹。之后在该目录里运行各命令，不用再写选项。"""
    with loading():
        from qz_excel.campaign.folder import CampaignError, init_campaign
        from qz_excel.rules.ruleset import RulesError, load_rules

    try:
        rules = load_rules(rules_file if rules_file else year)
    except (RulesError, FileNotFoundError) as exc:
        fail(str(exc))
    if towns_file:
        load_towns(towns_file)  # a towns list that cannot be read is refused before anything is made
    try:
        campaign, done = init_campaign(
            Path(folder), year or rules.year, Path(towns_file) if towns_file else None, rules_file, maker
        )
    except CampaignError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"无法建立 {folder}：{exc.strerror or exc}")
    click.echo(f"已建立 {campaign.settings.year} 年考核年度工作目录：{campaign.root}")
    for line in done:
        click.echo(f"  {line}")
    click.echo(f"下一步：cd {folder}，然后 qz template 生成填报表；qz status 随时查看进度")


@click.command(short_help="进度：谁已报送、谁要修改、核定到哪了，以及下一步做什么。")
@click.option(
    "--format",
    "output",
    type=click.Choice(["text", "csv"]),
    default="text",
    help="输出格式：text 或 csv（可用 Excel 打开）",
)
@click.pass_context
def status(ctx, output):
    """进度：按本目录里的名单、发送记录、收件箱和最近一次评分结果，列出各单位的情况和下一步要运行的命令（不连网）。"""
    campaign = campaign_of(ctx)
    if campaign is None:
        fail("qz status 要在考核年度工作目录中运行：先用 qz init 目录 建立，或用 qz -C 目录 status", USAGE_ERROR)
    with loading():
        from qz_excel.campaign.status import COLUMNS, COUNTS, campaign_status

    towns = load_towns(str(campaign.towns_file))
    state = campaign_status(campaign, list(towns["单位名称"]))
    if output == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(COLUMNS)
        writer.writerows(row.cells() for row in state.rows)
        # with a BOM, Excel opens the Chinese as UTF-8
        sys.stdout.buffer.write(("\ufeff" + buffer.getvalue()).encode("utf-8"))
        return
    click.echo(f"{campaign.settings.year} 年考核进度（{campaign.root}）")
    click.echo("　".join(f"{name} {state.counts[name]}" for name in COUNTS))
    click.echo(f"最近一次评分：{state.scored_at or '还没有评分'}")
    click.echo("")
    widths = (16, 10, 24, 10, 4, 10, 6, 7, 4)
    click.echo(" ".join(_cell(name, w) for name, w in zip(COLUMNS, widths)))
    for row in state.rows:
        click.echo(" ".join(_cell(str(value), w) for value, w in zip(row.cells(), widths)))
    click.echo("")
    click.echo("下一步：")
    for what, command in state.next_steps:
        click.echo(f"  {what}：{command}")


def _cell(text: str, width: int) -> str:
    """Left-aligned to ``width`` display columns (CJK counts two), cut with … when longer."""
    from qz_excel.common.textwidth import display_width

    if display_width(text) > width:
        while text and display_width(text) > width - 1:
            text = text[:-1]
        text += "…"
    return text + " " * (width - display_width(text))
