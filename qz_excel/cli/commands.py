"""The `qz` command: `template`, `score`, `rules` here, `mail` in :mod:`qz_excel.cli.mail`,
what they share in :mod:`qz_excel.cli.common`, click's own words in Chinese from
:mod:`qz_excel.cli.zh`. These are the only modules that print or exit: they turn the
library's exceptions into one-line Chinese messages that say how to fix the problem.

Exit codes (documented in the README):
0 all went well; 1 the run finished but found problems; 2 usage errors (bad options,
unreadable towns or rules file); 3 results could not be written (disk full, a file open
in Excel, no permission, another run writing into the same folder); 4 an internal error
(the details are saved to a file for support); 130 interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import traceback
from datetime import datetime
from pathlib import Path

import click

from qz_excel import __version__
from qz_excel.cli import zh as cli_zh
from qz_excel.cli.campaign import FROM_CAMPAIGN, campaign_of, init, needed, status
from qz_excel.cli.common import (
    DATE,
    DEFAULT_MAKER,
    INTERNAL_ERROR,
    INTERRUPTED,
    NOT_WRITTEN,
    fail,
    load_rules_or_fail,
    load_towns,
    loading,
    need_folder,
    not_written,
    progress_bar,
    rules_option,
    towns_option,
)
from qz_excel.cli.fetch import fetch
from qz_excel.cli.mail import mail
from qz_excel.cli.web import web

cli_zh.install()  # click's own words in Chinese (usage, errors, prompts)

# Only click and the standard library at import: `qz --help` answers at once. Each
# command imports what it uses (pandas alone takes 0.4 s).

INTERRUPTED_MESSAGE = (
    "已中断：已写好的结果是完整的，未完成的部分没有留下（结果目录仍是上一次或本次的完整结果）；重新运行同一命令即可。"
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="qz", message="%(prog)s 版本 %(version)s", help="显示版本号并退出。")
@click.option(
    "-C",
    "campaign_dir",
    type=click.Path(file_okay=False),
    metavar="目录",
    help="在这个考核年度工作目录中运行（默认：当前目录）",
)
@click.pass_context
def main(ctx, campaign_dir):
    """质量工作考核：生成填报模板、汇总评分。在 qz init 建立的考核年度工作目录中运行时，各命令不用写选项。"""
    ctx.obj = {"campaign_dir": campaign_dir}


def run(argv: list[str] | None = None) -> None:
    """The `qz` console command: :data:`main` with our own endings for an interrupt (click
    would print 「Aborted!」 and exit 1, the code for 「finished with problems」), a
    termination request (turned into KeyboardInterrupt by :mod:`qz_excel.__main__`) and
    an unforeseen error (one sentence, never a traceback)."""
    try:
        code = main.main(args=argv, prog_name="qz", standalone_mode=False)
    except SystemExit:
        _done()
        raise
    except (KeyboardInterrupt, click.Abort):
        _done()  # stopping already: a second Ctrl-C must not kill the exit itself
        _forget_pool_threads()
        click.echo("\n" + INTERRUPTED_MESSAGE, err=True)
        sys.exit(INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 — a bug of ours: one sentence, details to a file
        if os.environ.get("QZ_DEBUG"):
            raise
        click.echo(
            f"错误：程序内部出错（{type(exc).__name__}: {str(exc)[:200]}）。结果目录不受影响；"
            f"请把 {_save_traceback()} 发给技术支持。",
            err=True,
        )
        sys.exit(INTERNAL_ERROR)
    _done()
    sys.exit(code if isinstance(code, int) else 0)


def _done() -> None:
    """The command has finished or is stopping: an interrupt now would change nothing, and
    must not turn the exit into one killed by a signal while Python shuts down."""
    for name in ("SIGINT", "SIGTERM"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    # A Ctrl-C that landed inside a string exec (dataclasses and pydantic build methods
    # that way while a command imports them) leaves CPython's "unhandled KeyboardInterrupt"
    # flag set even though we caught it; under `python -m qz_excel` the interpreter then
    # kills itself with SIGINT after exiting 130. Each string exec clears the flag first.
    exec("None")


def _forget_pool_threads() -> None:
    """An interrupted run's worker pool is already being torn down (its workers killed or
    dying with us). Before Python 3.12 the exit hook of concurrent.futures can then race
    the pool's own closing and print 「Exception ignored … Bad file descriptor」 (seen on
    3.10 under load): the hook is given nothing left to wake."""
    process = sys.modules.get("concurrent.futures.process")
    wakeups = getattr(process, "_threads_wakeups", None)
    if sys.version_info < (3, 12) and wakeups is not None:
        wakeups.clear()


def _save_traceback() -> str:
    path = Path(tempfile.gettempdir()) / f"qz-错误报告-{datetime.now():%Y%m%d-%H%M%S}.txt"
    try:
        path.write_text(" ".join(sys.argv) + "\n\n" + traceback.format_exc(), encoding="utf-8")
    except OSError:
        return "屏幕上的这条信息"
    return str(path)


@main.command()
@towns_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="模板输出目录（考核目录中默认：模板/）")
@rules_option
@click.option("--deadline", default=None, help="报送截止日期，写入填报说明")
@click.option("--contact", default=None, help="联系人及电话，写入填报说明")
@click.option(
    "--generated-at",
    type=DATE,
    default=None,
    help="模板生成日期，写入模板的隐藏信息（默认今天），如 2010-12-01；固定它，重新生成的文件逐字节相同",
)
@click.pass_context
def template(ctx, towns_file, out_dir, rules_file, deadline, contact, generated_at):
    """为名单中的每个单位生成一份填报模板。"""
    campaign = campaign_of(ctx)
    with loading():
        from qz_excel.template.writer import TemplateOptions, write_templates

    options = None
    if campaign is not None:
        from qz_excel.campaign.making import template_options

        towns_file = towns_file or str(campaign.towns_file)
        out_dir = out_dir or str(campaign.templates)
        rules_file = rules_file or campaign.rules
        options = template_options(campaign, deadline, contact, generated_at)
    towns_file = needed(towns_file, "单位名单", "--towns 名单文件")
    out_dir = needed(out_dir, "模板输出目录", "--out 目录")
    rules = load_rules_or_fail(rules_file)
    towns = load_towns(towns_file)
    options = options or TemplateOptions(
        deadline=deadline or "", contact=contact or "", generated_at=generated_at.isoformat() if generated_at else ""
    )
    try:
        if sys.stderr.isatty():
            with progress_bar("生成模板", len(towns)) as bar:
                paths = write_templates(rules, towns, Path(out_dir), options, progress=bar.update)
        else:
            paths = write_templates(rules, towns, Path(out_dir), options)
    except OSError as exc:
        not_written(exc, out_dir)
    click.echo(f"已生成 {len(paths)} 份 {rules.year} 年填报模板：{Path(out_dir).resolve()}")


@main.command()
@click.argument("inbox", type=click.Path(file_okay=False), metavar="[收件箱]", required=False)
@towns_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="结果输出目录（考核目录中默认：结果/）")
@rules_option
@click.option("--strict", is_flag=True, help="有错误的单位不参加排名")
@click.option("--per-town-sheets", is_flag=True, help="在汇总.xlsx 中为每个单位附一张评分细则")
@click.option("--pdf", is_flag=True, help="另用 LibreOffice 生成 PDF（汇总排名、各单位评分细则和打印汇编）")
@click.option("--maker", default=None, help=f"制表单位，印在汇总排名上 [默认：{DEFAULT_MAKER}]")
@click.option("--made-on", type=DATE, default=None, help="制表日期，印在汇总排名上（默认今天），如 2010-12-30")
@click.option(
    "--review",
    "review_file",
    type=click.Path(dir_okay=False),
    default=None,
    is_flag=False,
    flag_value=FROM_CAMPAIGN,
    metavar="[核定表]",
    help="采用考核组填好的核定表（上次评分生成的 核定表.xlsx，可另存为 .xls/.ods、改名）；考核目录中不写文件名即用 结果/核定表.xlsx",
)
@click.pass_context
def score(ctx, inbox, towns_file, out_dir, rules_file, strict, per_town_sheets, pdf, maker, made_on, review_file):
    """读取收件箱中的全部回报文件，评分并生成汇总排名和各单位评分细则。"""
    campaign = campaign_of(ctx)
    with loading():
        from qz_excel.pipeline import OutInInbox, ScoreOptions, check_folders, run_score
        from qz_excel.results.office import find_soffice
        from qz_excel.results.publish import ResultsBusy

    last_year = None
    if campaign is not None:
        inbox = inbox or str(campaign.inbox)
        towns_file = towns_file or str(campaign.towns_file)
        out_dir = out_dir or str(campaign.results)
        rules_file = rules_file or campaign.rules
        maker = maker or campaign.settings.maker or None
        if review_file == FROM_CAMPAIGN:
            review_file = str(campaign.review_table)
        last_year = _last_year_of(campaign)
    if review_file == FROM_CAMPAIGN:
        fail("--review 后面要写核定表文件（在考核年度工作目录中可以不写，默认用 结果/核定表.xlsx）")
    inbox = needed(inbox, "收件箱", "收件箱目录（qz score 收件箱 --towns 名单 --out 结果目录）")
    towns_file = needed(towns_file, "单位名单", "--towns 名单文件")
    out_dir = needed(out_dir, "结果输出目录", "--out 目录")
    maker = maker or DEFAULT_MAKER

    need_folder(inbox, "收件箱", "请把各单位报回的文件放在一个文件夹里，再把该文件夹的路径写在 qz score 后面")
    try:
        check_folders(Path(inbox), Path(out_dir))
    except OutInInbox as exc:
        fail(str(exc))
    rules = load_rules_or_fail(rules_file)
    towns = load_towns(towns_file)  # fail fast, before reading the inbox
    review = None
    if review_file:
        from qz_excel.followup.review import ReviewError, read_review

        try:
            review = read_review(Path(review_file), rules)  # read now: the run may replace this very file
        except ReviewError as exc:
            fail(str(exc))
    if pdf and find_soffice() is None:
        fail(
            "--pdf 需要 LibreOffice，但没有找到 soffice：请安装 LibreOffice（https://zh-cn.libreoffice.org）"
            "后重试，或去掉 --pdf 只生成 Excel 结果"
        )
    try:
        report = run_score(
            Path(inbox),
            towns,
            Path(out_dir),
            rules,
            ScoreOptions(
                strict=strict,
                per_town_sheets=per_town_sheets,
                pdf=pdf,
                maker=maker,
                made_on=made_on,
                last_year=last_year,
            ),
            progress=progress_bar if sys.stderr.isatty() else None,
            review=review,
        )
    except ResultsBusy as exc:
        fail(f"另一个 qz score 正在向 {exc.folder} 写结果：请等它结束后再运行，或换一个 --out 目录", NOT_WRITTEN)
    except OSError as exc:
        not_written(exc, out_dir)
    _print_score(report, inbox, towns_file, out_dir, pdf, campaign)
    sys.exit(1 if report.has_problems else 0)


def _last_year_of(campaign):
    """Last year's results named in qz.toml, read now: a file that is not one stops here."""
    from qz_excel.campaign.scoring import last_year_of
    from qz_excel.results.last_year import LastYearError

    try:
        return last_year_of(campaign)
    except LastYearError as exc:
        fail(str(exc))


def _print_score(report, inbox: str, towns_file: str, out_dir: str, pdf: bool, campaign=None) -> None:
    from qz_excel.common.problems import ERROR, SKIPPED, SUPERSEDED, WARNING, counted

    for warning in report.warnings:
        click.echo(f"规则提示：{warning}")
    codes_by_file = report.codes_by_file()
    for row in report.files.itertuples(index=False):
        codes = codes_by_file.get(row.文件, [])
        tail = f"（{row.说明}）" if row.状态 == SUPERSEDED else f"（{counted(codes)}）" if codes else ""
        click.echo(f"{row.状态:　<4} {row.文件}  {row.单位名称}{tail}")
    skipped = int((report.files["状态"] == SKIPPED).sum())
    workbooks = len(report.files) - skipped
    if not len(report.files):
        click.echo(
            f"收件箱里没有文件：{Path(inbox).resolve()}；请把各单位报回的文件放进这个文件夹后重新运行。"
            f"汇总表照常生成，所有单位都列为未报送。"
        )
    elif not workbooks:
        click.echo(f"收件箱里没有工作簿文件（{skipped} 个文件都不是 Excel/WPS/LibreOffice 工作簿，已跳过）")
    elif codes_by_file and all(
        "UNFILLED" in codes_by_file.get(f, []) for f in report.files.loc[report.files["状态"] != SKIPPED, "文件"]
    ):
        click.echo("收件箱里的工作簿都是未填写的模板：是不是把模板目录当成了收件箱？")
    errors = sum(p.severity == ERROR for p in report.problems)
    warnings = sum(p.severity == WARNING for p in report.problems)
    summary = report.summary
    skipped_text = f"（另有 {skipped} 个不是工作簿，已跳过）" if skipped and workbooks else ""
    click.echo(
        f"共 {workbooks} 个工作簿{skipped_text}；{int(summary['排名'].notna().sum())} 个单位参加排名，"
        f"{len(report.not_returned)} 个未报送；错误 {errors} 个，警告 {warnings} 个"
    )
    if report.reused.get("回报文件"):  # a rerun: say that unchanged work was not done again
        kept = "、".join(f"{kind} {n} 份" for kind, n in report.reused.items() if kind != "回报文件" and n)
        click.echo(
            f"与上次评分相同、未重新读取的文件 {report.reused['回报文件']} 个"
            + (f"；内容未变、沿用上次的{kept}" if kept else "")
        )
    click.echo(f"结果：{Path(report.outputs[0]).resolve()}（问题清单见其中“问题清单”工作表）")
    verified = len(report.reviews) if report.reviews is not None else 0
    stage = f"核定结果：采用核定值 {verified} 个" if verified else "初评结果（未采用核定值）"
    click.echo(
        f"{stage}；核定表：{(Path(out_dir) / '核定表.xlsx').resolve()}"
        f"（考核组填写“核定值、核定理由、核定人”后，加 --review 该文件 重新评分）"
    )
    click.echo(f"各单位评分细则：{(Path(out_dir) / '评分细则').resolve()}")
    if pdf:
        click.echo(f"PDF 及打印汇编：{(Path(out_dir) / 'pdf').resolve()}")
    # inside a campaign the follow-up commands need nothing more; outside, the towns file
    # and results folder are known, the templates folder is not
    in_campaign = campaign is not None and Path(out_dir).resolve() == campaign.results
    mail = "qz mail" if in_campaign else f"qz mail 模板目录 --towns {_quoted(towns_file)}"
    results_arg = "" if in_campaign else f" {_quoted(out_dir)}"
    if report.requests:
        click.echo(
            f"需要修改的 {len(report.requests)} 个单位：{_some(list(report.requests))}；"
            f"修改通知（反馈）：{(Path(out_dir) / '反馈').resolve()}"
        )
        click.echo(f"  发送修改通知：{mail} --corrections{results_arg}")
    if report.not_returned:
        click.echo(f"未报送的 {len(report.not_returned)} 个单位：{_some(report.not_returned)}")
        click.echo(f"  催报：{mail} --remind{results_arg}")
    if report.requests or report.not_returned:
        tail = "" if in_campaign else "“模板目录”换成 qz template 生成模板的目录；"
        click.echo(f"  （{tail}先演练、看草稿，确认后再加 --send）")


def _some(names: list[str], limit: int = 20) -> str:
    """All the names, or the first ``limit`` and how many more."""
    shown = "、".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} 等 {len(names)} 个"


def _quoted(path: str) -> str:
    """A path as typed into a command line (Windows cmd and POSIX shells alike)."""
    return f'"{path}"' if any(ch in path for ch in " &()'\"") else path


@main.group()
def rules():
    """规则文件：检查、为新一年复制、列出细则种类。"""


@rules.command("check")
@click.argument("rules_file", required=False, type=click.Path(dir_okay=False), metavar="[规则文件]")
def rules_check(rules_file):
    """检查规则文件（默认检查随程序提供的最新年度规则）。"""
    from qz_excel.rules.points import points_text
    from qz_excel.rules.ruleset import check_rules

    loaded = load_rules_or_fail(rules_file)
    warnings = check_rules(loaded)
    for warning in warnings:
        click.echo(f"警告：{warning}")
    items = loaded.items
    click.echo(
        f"{loaded.path}：{loaded.year} 年，{len(items)} 项，{len(loaded.catalog)} 个指标，"
        f"{len(loaded.subrules())} 条细则，标准分合计 {points_text(sum(i.standard for i in items))}；"
        f"{len(warnings)} 条警告；指纹 {loaded.fingerprint}"
    )


@rules.command("new")
@click.argument("year", type=click.IntRange(2000, 2100), metavar="年份")
@click.option(
    "--from", "source", type=click.Path(dir_okay=False), help="从哪个规则文件复制（默认：随程序提供的最新年度规则）"
)
@click.option("--out", "out", type=click.Path(dir_okay=False), help="写到哪里（默认：当前目录下的 <年份>.yaml）")
def rules_new(year, source, out):
    """以去年的规则文件为底稿，写出新一年的规则文件（年份和标题已改，开头注明要核对什么）。"""
    from qz_excel.rules.new_year import next_year_text
    from qz_excel.rules.ruleset import RulesError, load_rules

    loaded = load_rules_or_fail(source)
    target = Path(out or f"{year}.yaml")
    if target.exists():
        fail(f"{target} 已存在：不会覆盖，请用 --out 指定另一个文件名")
    text = next_year_text(loaded.path.read_text(encoding="utf-8"), year, loaded.path.name)
    try:
        target.write_text(text, encoding="utf-8")
        load_rules(target)
    except OSError as exc:
        fail(f"无法写入 {target}：{exc.strerror or exc}")
    except RulesError as exc:
        fail(f"已写出 {target}，但它不能直接使用：\n{exc}")
    click.echo(
        f"已写出 {target}（{year} 年，由 {loaded.path.name} 复制）：请按文件开头的说明逐项核对，再运行 qz rules check {target}"
    )


@rules.command("list")
def rules_list():
    """列出随程序提供的规则文件（可直接写在 --rules 后面，如 --rules 2016-example）。"""
    from qz_excel.common.resources import bundled_rules
    from qz_excel.rules.ruleset import RulesError, load_rules

    for name, path in bundled_rules().items():
        try:
            title = load_rules(path).spec.title
        except RulesError:
            title = "（无法读取）"
        click.echo(f"{name:<16} {title}")


@rules.command("kinds")
def rules_kinds():
    """列出可用的细则类型。"""
    from qz_excel.rules.kinds import REGISTRY

    for name, cls in REGISTRY.items():
        click.echo(f"{name:<20} {cls.kind_label}")


main.add_command(mail)
main.add_command(init)
main.add_command(status)
main.add_command(fetch)
main.add_command(web)
cli_zh.localize(main)
