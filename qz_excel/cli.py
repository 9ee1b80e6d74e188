"""The `qz` command. The only module that prints or exits: it turns the library's
exceptions into one-line Chinese messages that say how to fix the problem.

Exit codes: 0 all went well; 1 the run finished but found problems; 2 usage errors
(bad options, unreadable towns or rules file).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from qz_excel import __version__
from qz_excel.kinds import REGISTRY
from qz_excel.problems import ERROR, WARNING
from qz_excel.rules import RulesError, check_rules, load_rules
from qz_excel.towns import TownsError, read_towns

USAGE_ERROR = 2


def _fail(message: str) -> None:
    click.echo(f"错误：{message}", err=True)
    sys.exit(USAGE_ERROR)


def _load(rules_file: str | None):
    try:
        return load_rules(rules_file)
    except RulesError as exc:
        _fail(str(exc) + "\n请修改规则文件后重试（qz rules check 可逐条检查）")
    except FileNotFoundError as exc:
        _fail(str(exc))


def _towns(path: str):
    try:
        return read_towns(path)
    except TownsError as exc:
        _fail(str(exc))


rules_option = click.option("--rules", "rules_file", type=click.Path(dir_okay=False),
                            help="规则文件（YAML）；默认用随程序提供的最新年度规则")
towns_option = click.option("--towns", "towns_file", required=True, type=click.Path(dir_okay=False),
                            help="单位名单：CSV（UTF-8 或 GBK）或 .xlsx，须有“单位名称”列")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="qz")
def main():
    """质量振兴工作考核：生成填报模板、汇总评分。"""


@main.command()
@towns_option
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="模板输出目录")
@rules_option
@click.option("--deadline", default="", help="报送截止日期，写入填报说明")
@click.option("--contact", default="", help="联系人及电话，写入填报说明")
@click.option("--generated-at", default="", help="模板生成日期（YYYY-MM-DD），默认今天")
def template(towns_file, out_dir, rules_file, deadline, contact, generated_at):
    """为名单中的每个单位生成一份填报模板。"""
    from qz_excel.template import TemplateOptions, write_templates

    rules = _load(rules_file)
    towns = _towns(towns_file)
    paths = write_templates(rules, towns, Path(out_dir),
                            TemplateOptions(deadline=deadline, contact=contact, generated_at=generated_at))
    click.echo(f"已生成 {len(paths)} 份 {rules.year} 年填报模板：{Path(out_dir).resolve()}")


@main.command()
@click.argument("inbox", type=click.Path(exists=True, file_okay=False))
@towns_option
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="结果输出目录")
@rules_option
@click.option("--strict", is_flag=True, help="有错误的单位不参加排名")
@click.option("--per-town-sheets", is_flag=True, help="在汇总.xlsx 中为每个单位附一张评分细则")
@click.option("--pdf", is_flag=True, help="另用 LibreOffice 生成 PDF（汇总排名、各单位评分细则和打印汇编）")
def score(inbox, towns_file, out_dir, rules_file, strict, per_town_sheets, pdf):
    """读取收件箱中的全部回报文件，评分并生成汇总排名和各单位评分细则。"""
    from qz_excel.office import find_soffice
    from qz_excel.pipeline import ScoreOptions, run_score

    rules = _load(rules_file)
    _towns(towns_file)  # fail fast, before reading the inbox
    if pdf and find_soffice() is None:
        _fail("--pdf 需要 LibreOffice，但没有找到 soffice：请安装 LibreOffice（https://zh-cn.libreoffice.org）"
              "后重试，或去掉 --pdf 只生成 Excel 结果")
    report = run_score(Path(inbox), Path(towns_file), Path(out_dir), rules,
                       ScoreOptions(strict=strict, per_town_sheets=per_town_sheets, pdf=pdf))
    for warning in report.warnings:
        click.echo(f"规则提示：{warning}")
    for row in report.files.itertuples(index=False):
        codes = report.codes_for(row.文件)
        tail = f"（{len(codes)} 个问题：{'、'.join(sorted(set(codes)))}）" if codes else ""
        click.echo(f"{row.状态:　<4} {row.文件}  {row.单位名称}{tail}")
    errors = sum(p.severity == ERROR for p in report.problems)
    warnings = sum(p.severity == WARNING for p in report.problems)
    summary = report.summary
    click.echo(f"共 {len(report.files)} 个文件；{int(summary['排名'].notna().sum())} 个单位参加排名，"
               f"{int((summary['状态'] == '未报送').sum())} 个未报送；错误 {errors} 个，警告 {warnings} 个")
    click.echo(f"结果：{Path(report.outputs[0]).resolve()}（问题清单见其中“问题清单”工作表）")
    click.echo(f"各单位评分细则：{(Path(out_dir) / '评分细则').resolve()}")
    if pdf:
        click.echo(f"PDF 及打印汇编：{(Path(out_dir) / 'pdf').resolve()}")
    sys.exit(1 if report.has_problems else 0)


@main.group()
def rules():
    """检查规则文件。"""


@rules.command("check")
@click.argument("rules_file", required=False, type=click.Path(dir_okay=False))
def rules_check(rules_file):
    """检查规则文件（默认检查随程序提供的最新年度规则）。"""
    loaded = _load(rules_file)
    warnings = check_rules(loaded)
    for warning in warnings:
        click.echo(f"警告：{warning}")
    items = loaded.items
    click.echo(f"{loaded.path}：{loaded.year} 年，{len(items)} 项，{len(loaded.catalog)} 个指标，"
               f"{len(loaded.subrules())} 条细则，标准分合计 {sum(i.standard for i in items)}；"
               f"{len(warnings)} 条警告；指纹 {loaded.fingerprint}")


@rules.command("kinds")
def rules_kinds():
    """列出可用的细则类型。"""
    for name, cls in REGISTRY.items():
        click.echo(f"{name:<20} {cls.kind_label}")
