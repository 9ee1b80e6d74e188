"""The `qz` command. The only module that prints or exits: it turns the library's
exceptions into one-line Chinese messages that say how to fix the problem.

Exit codes (documented in the README):
0 all went well; 1 the run finished but found problems; 2 usage errors (bad options,
unreadable towns or rules file); 3 results could not be written (disk full, a file open
in Excel, no permission, another run writing into the same folder); 4 an internal error
(the details are saved to a file for support); 130 interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import errno
import os
import re
import signal
import sys
import tempfile
import traceback
from datetime import date, datetime
from pathlib import Path

import click

from qz_excel import __version__, cli_zh

cli_zh.install()  # click's own words in Chinese (usage, errors, prompts)

# Only click and the standard library at import: `qz --help` answers at once. Each
# command imports what it uses (pandas alone takes 0.4 s).

EXIT_PROBLEMS, USAGE_ERROR, NOT_WRITTEN, INTERNAL_ERROR, INTERRUPTED = 1, 2, 3, 4, 130
INTERRUPTED_MESSAGE = (
    "已中断：已写好的结果是完整的，未完成的部分没有留下（结果目录仍是上一次或本次的完整结果）；重新运行同一命令即可。"
)


def _fail(message: str, code: int = USAGE_ERROR) -> None:
    click.echo(f"错误：{message}", err=True)
    sys.exit(code)


def _load(rules_file: str | None):
    from qz_excel.rules import RulesError, load_rules

    try:
        return load_rules(rules_file)
    except RulesError as exc:
        _fail(str(exc) + "\n请修改规则文件后重试（qz rules check 可逐条检查）")
    except FileNotFoundError as exc:
        _fail(str(exc))


def _write_error(exc: OSError, out_dir: str) -> str:
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
    cause = _ERRNO_WORDS.get(exc.errno or 0, f"系统错误 {exc.errno}：{exc.strerror or exc}")
    return f"无法写入 {where}（{cause}）：请检查 --out 目录后重试（{kept}）"


#: what a failed write means, for the errors a clerk's machine gives besides those above
_ERRNO_WORDS = {
    errno.EFBIG: "文件超过了系统允许的大小",
    errno.EIO: "磁盘读写出错，可能是移动硬盘或网络盘断开",
    errno.ENAMETOOLONG: "路径太长，请换一个短一些的 --out 目录",
    errno.ENOENT: "目录不存在或已被移走",
    errno.EMFILE: "同时打开的文件太多",
}


def _not_written(exc: OSError, out_dir: str) -> None:
    _fail(_write_error(exc, out_dir), NOT_WRITTEN)


def _folder(path: str, what: str, hint: str) -> None:
    if not Path(path).is_dir():
        _fail(f"找不到{what} {path}：{hint}")


def _towns(path: str):
    from qz_excel.towns import TownsError, read_towns

    try:
        towns = read_towns(path)
    except TownsError as exc:
        _fail(str(exc))
    for note in towns.attrs.get("notes", []):
        click.echo(f"单位名单提示：{note}", err=True)
    return towns


def _progress_bar(label: str, total: int):
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
    "--rules", "rules_file", type=click.Path(dir_okay=False), help="规则文件（YAML）；默认用随程序提供的最新年度规则"
)
towns_option = click.option(
    "--towns",
    "towns_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="单位名单：CSV（UTF-8 或 GBK）或 .xlsx，须有“单位名称”列",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="qz", message="%(prog)s 版本 %(version)s", help="显示版本号并退出。")
def main():
    """质量振兴工作考核：生成填报模板、汇总评分。"""


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


def _save_traceback() -> str:
    path = Path(tempfile.gettempdir()) / f"qz-错误报告-{datetime.now():%Y%m%d-%H%M%S}.txt"
    try:
        path.write_text(" ".join(sys.argv) + "\n\n" + traceback.format_exc(), encoding="utf-8")
    except OSError:
        return "屏幕上的这条信息"
    return str(path)


@main.command()
@towns_option
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="模板输出目录")
@rules_option
@click.option("--deadline", default="", help="报送截止日期，写入填报说明")
@click.option("--contact", default="", help="联系人及电话，写入填报说明")
@click.option(
    "--generated-at",
    type=DATE,
    default=None,
    help="模板生成日期，写入模板的隐藏信息（默认今天），如 2010-12-01；固定它，重新生成的文件逐字节相同",
)
def template(towns_file, out_dir, rules_file, deadline, contact, generated_at):
    """为名单中的每个单位生成一份填报模板。"""
    from qz_excel.template import TemplateOptions, write_templates

    rules = _load(rules_file)
    towns = _towns(towns_file)
    options = TemplateOptions(
        deadline=deadline, contact=contact, generated_at=generated_at.isoformat() if generated_at else ""
    )
    try:
        if sys.stderr.isatty():
            with _progress_bar("生成模板", len(towns)) as bar:
                paths = write_templates(rules, towns, Path(out_dir), options, progress=bar.update)
        else:
            paths = write_templates(rules, towns, Path(out_dir), options)
    except OSError as exc:
        _not_written(exc, out_dir)
    click.echo(f"已生成 {len(paths)} 份 {rules.year} 年填报模板：{Path(out_dir).resolve()}")


@main.command()
@click.argument("inbox", type=click.Path(file_okay=False), metavar="收件箱")
@towns_option
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="结果输出目录")
@rules_option
@click.option("--strict", is_flag=True, help="有错误的单位不参加排名")
@click.option("--per-town-sheets", is_flag=True, help="在汇总.xlsx 中为每个单位附一张评分细则")
@click.option("--pdf", is_flag=True, help="另用 LibreOffice 生成 PDF（汇总排名、各单位评分细则和打印汇编）")
@click.option("--maker", default="县质量技术监督局", show_default=True, help="制表单位，印在汇总排名上")
@click.option("--made-on", type=DATE, default=None, help="制表日期，印在汇总排名上（默认今天），如 2010-12-30")
@click.option(
    "--review",
    "review_file",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="核定表",
    help="采用考核组填好的核定表（上次评分生成的 核定表.xlsx，可另存为 .xls/.ods、改名）",
)
def score(inbox, towns_file, out_dir, rules_file, strict, per_town_sheets, pdf, maker, made_on, review_file):
    """读取收件箱中的全部回报文件，评分并生成汇总排名和各单位评分细则。"""
    from qz_excel.office import find_soffice
    from qz_excel.pipeline import OutInInbox, ScoreOptions, check_folders, run_score
    from qz_excel.publish import ResultsBusy

    _folder(inbox, "收件箱", "请把各单位报回的文件放在一个文件夹里，再把该文件夹的路径写在 qz score 后面")
    try:
        check_folders(Path(inbox), Path(out_dir))
    except OutInInbox as exc:
        _fail(str(exc))
    rules = _load(rules_file)
    towns = _towns(towns_file)  # fail fast, before reading the inbox
    review = None
    if review_file:
        from qz_excel.review import ReviewError, read_review

        try:
            review = read_review(Path(review_file), rules)  # read now: the run may replace this very file
        except ReviewError as exc:
            _fail(str(exc))
    if pdf and find_soffice() is None:
        _fail(
            "--pdf 需要 LibreOffice，但没有找到 soffice：请安装 LibreOffice（https://zh-cn.libreoffice.org）"
            "后重试，或去掉 --pdf 只生成 Excel 结果"
        )
    try:
        report = run_score(
            Path(inbox),
            towns,
            Path(out_dir),
            rules,
            ScoreOptions(strict=strict, per_town_sheets=per_town_sheets, pdf=pdf, maker=maker, made_on=made_on),
            progress=_progress_bar if sys.stderr.isatty() else None,
            review=review,
        )
    except ResultsBusy as exc:
        _fail(f"另一个 qz score 正在向 {exc.folder} 写结果：请等它结束后再运行，或换一个 --out 目录", NOT_WRITTEN)
    except OSError as exc:
        _not_written(exc, out_dir)
    _print_score(report, inbox, towns_file, out_dir, pdf)
    sys.exit(1 if report.has_problems else 0)


def _print_score(report, inbox: str, towns_file: str, out_dir: str, pdf: bool) -> None:
    from qz_excel.problems import ERROR, SKIPPED, SUPERSEDED, WARNING, counted

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
    mail = f"qz mail 模板目录 --towns {_quoted(towns_file)}"
    if report.requests:
        click.echo(
            f"需要修改的 {len(report.requests)} 个单位：{_some(list(report.requests))}；"
            f"修改通知（反馈）：{(Path(out_dir) / '反馈').resolve()}"
        )
        click.echo(f"  发送修改通知：{mail} --corrections {_quoted(out_dir)}")
    if report.not_returned:
        click.echo(f"未报送的 {len(report.not_returned)} 个单位：{_some(report.not_returned)}")
        click.echo(f"  催报：{mail} --remind {_quoted(out_dir)}")
    if report.requests or report.not_returned:
        click.echo("  （“模板目录”换成 qz template 生成模板的目录；先演练、看草稿，确认后再加 --send）")


def _some(names: list[str], limit: int = 20) -> str:
    """All the names, or the first ``limit`` and how many more."""
    shown = "、".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} 等 {len(names)} 个"


def _quoted(path: str) -> str:
    """A path as typed into a command line (Windows cmd and POSIX shells alike)."""
    return f'"{path}"' if any(ch in path for ch in " &()'\"") else path


@main.command(short_help="发送填报模板、催报和修改通知（默认先演练）。")
@click.argument("outbox", type=click.Path(file_okay=False), metavar="模板目录")
@towns_option
@rules_option
@click.option("--send", is_flag=True, help="真正发送（默认只生成 .eml 草稿供检查）")
@click.option("--smtp", "smtp_address", default="", metavar="主机:端口", help="发信服务器，如 smtp.qq.com:465")
@click.option(
    "--security",
    type=click.Choice(["ssl", "starttls", "none"]),
    default=None,
    help="加密方式；默认端口 465 用 ssl，其余用 starttls",
)
@click.option("--user", default="", help="SMTP 登录名；密码只从环境变量 QZ_SMTP_PASSWORD 或提示输入读取")
@click.option("--sender", default="", help="发件人邮箱（默认同 --user）")
@click.option("--sender-name", default="县质量技术监督局", show_default=True, help="发件人名称，也用于正文落款")
@click.option("--deadline", default="", help="报送截止日期，写入正文")
@click.option("--contact", "bureau_contact", default="", help="局里的联系人及电话，写入正文")
@click.option(
    "--ca-file",
    type=click.Path(exists=True, dir_okay=False),
    help="信任这个 CA 或服务器证书（PEM 文件），用于局里自建、证书不被系统认可的邮件服务器",
)
@click.option(
    "--no-verify", is_flag=True, help="不验证服务器证书（仅限可信的内部网络：否则可能把授权码发给冒充的服务器）"
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=15,
    show_default=True,
    help="连接和等待服务器答复的秒数；连续 3 次连不上即停止",
)
@click.option("--resend", is_flag=True, help="模板有改动的单位重新发送")
@click.option(
    "--remind",
    "remind_results",
    type=click.Path(file_okay=False),
    metavar="结果目录",
    help="催报：只发给该次 qz score 结果中“未报送”的单位，再附上它的模板（同一天不重复催报）",
)
@click.option(
    "--corrections",
    "correction_results",
    type=click.Path(file_okay=False),
    metavar="结果目录",
    help="发送修改通知：把该次 qz score 结果“反馈”文件夹中的工作簿发给各单位，正文列出要改的地方",
)
@click.option(
    "--mail-templates",
    type=click.Path(exists=True, file_okay=False),
    help="自定义邮件模板目录（subject.txt.j2、body.txt.j2，催报用 remind_*.txt.j2，修改通知用 correct_*.txt.j2）",
)
def mail(
    outbox,
    towns_file,
    rules_file,
    send,
    smtp_address,
    security,
    user,
    sender,
    sender_name,
    deadline,
    bureau_contact,
    ca_file,
    no_verify,
    timeout,
    resend,
    remind_results,
    correction_results,
    mail_templates,
):
    """把每个单位的填报模板发到它的邮箱（默认先演练，生成 .eml 草稿）；加 --remind 催报未报送的单位，加 --corrections 把修改通知发给有问题的单位。"""
    from jinja2 import TemplateError

    from qz_excel import mail as m
    from qz_excel.followup import ResultsError
    from qz_excel.smtp import Smtp

    if remind_results and correction_results:
        _fail("--remind 和 --corrections 一次只能用一个：请分两次运行")
    results = remind_results or correction_results
    kind = m.REMINDER if remind_results else m.CORRECTION if correction_results else m.TEMPLATE
    _folder(outbox, "模板目录", "请先运行 qz template --out 该目录 生成模板")
    if results:
        _folder(results, "结果目录", "请写 qz score 的 --out 目录")
    rules = _load(rules_file)
    towns = _towns(towns_file)
    outbox = Path(outbox)
    sender = sender or user
    ctx = m.MailContext(
        deadline=deadline,
        bureau_contact=bureau_contact,
        sender_name=sender_name,
        templates=Path(mail_templates) if mail_templates else None,
    )
    try:
        plan = m.plan_letters(outbox, towns, ctx, rules.year, kind, Path(results) if results else None)
    except TemplateError as exc:
        _fail(f"邮件模板有误：{exc}；请修改 {'、'.join(m.TEMPLATE_FILES[kind])} 后重试")
    except ResultsError as exc:
        _fail(str(exc))
    if kind != m.TEMPLATE and not plan.letters and not plan.excluded:
        click.echo(
            "没有要催报的单位：该次评分结果中没有“未报送”的单位"
            if kind == m.REMINDER
            else "没有要发送的修改通知：该次评分结果中没有需要各单位修改的问题"
        )
        sys.exit(0)
    log = m.SendLog(outbox / m.MAIL_DIR / m.LOG_NAME)
    m.mark_already_sent(plan, log, resend)
    for town, reason in plan.excluded:
        click.echo(f"不发送  {town}：{reason}")
    for letter in plan.letters:
        click.echo(
            f"{letter.status:　<8} {letter.town}  →  {', '.join(letter.to)}  附件：{letter.filename}"
            + (f"（{letter.detail}）" if letter.detail else "")
        )
    if not send:
        folder, drafts = m.write_drafts(plan, outbox / m.MAIL_DIR, sender, sender_name)
        click.echo(f"演练：已生成 {len(drafts)} 封{kind}邮件草稿（.eml）：{folder.resolve()}；确认无误后加 --send 发送")
        if not sender:
            click.echo("（草稿的发件人只写了“" + sender_name + "”：发送时用 --sender 或 --user 写上发件邮箱）")
        sys.exit(1 if plan.excluded else 0)
    if not smtp_address or ":" not in smtp_address:
        _fail("发送需要 --smtp 主机:端口，如 --smtp smtp.qq.com:465")
    if not sender:
        _fail("发送需要发件人：请加 --sender 邮箱地址（或 --user）")
    host, _, port = smtp_address.rpartition(":")
    if not port.isdigit():
        _fail(f"--smtp 的端口不是数字：{port}")
    password = ""
    if user:
        password = os.environ.get("QZ_SMTP_PASSWORD", "")
        if not password and not sys.stdin.isatty():
            _fail("没有授权码：请先设置环境变量 QZ_SMTP_PASSWORD（邮箱的授权码），或在命令行窗口中运行以便输入")
        password = password or click.prompt(f"{user} 的授权码（输入时不显示）", hide_input=True)
    smtp = Smtp(
        host=host,
        port=int(port),
        security=security or ("ssl" if port == "465" else "starttls"),
        user=user,
        password=password,
        timeout=timeout,
        ca_file=Path(ca_file) if ca_file else None,
        verify=not no_verify,
    )
    with click.progressbar(length=len(plan.letters), label="发送中", file=sys.stderr) as bar:
        stopped = m.send_letters(plan, smtp, sender, sender_name, log, progress=lambda _letter: bar.update(1))
    counts = {
        status: sum(letter.status == status for letter in plan.letters)
        for status in (m.SENT, m.ALREADY_SENT, m.SENT_TODAY, m.CHANGED, m.FAILED)
    }
    for letter in plan.letters:
        if letter.status == m.FAILED or (letter.status == m.SENT and letter.detail):
            click.echo(f"{letter.status}  {letter.town}：{letter.detail}")
    if stopped:
        not_tried = [letter.town for letter in plan.letters if letter.status == m.READY]
        click.echo(f"错误：{stopped}", err=True)
        click.echo(f"未发送 {len(not_tried)} 个单位：{'、'.join(not_tried[:20])}{' 等' if len(not_tried) > 20 else ''}")
    click.echo(
        f"已发送 {counts[m.SENT]}，跳过 {counts[m.ALREADY_SENT] + counts[m.SENT_TODAY] + counts[m.CHANGED]}"
        f"（其中文件有变更 {counts[m.CHANGED]}），失败 {counts[m.FAILED]}，未发送 {len(plan.excluded)}；"
        f"发送记录：{log.path.resolve()}"
    )
    if stopped:
        sys.exit(NOT_WRITTEN)
    sys.exit(1 if counts[m.FAILED] or plan.excluded or counts[m.CHANGED] else 0)


@main.group()
def rules():
    """检查规则文件。"""


@rules.command("check")
@click.argument("rules_file", required=False, type=click.Path(dir_okay=False), metavar="[规则文件]")
def rules_check(rules_file):
    """检查规则文件（默认检查随程序提供的最新年度规则）。"""
    from qz_excel.rules import check_rules

    loaded = _load(rules_file)
    warnings = check_rules(loaded)
    for warning in warnings:
        click.echo(f"警告：{warning}")
    items = loaded.items
    click.echo(
        f"{loaded.path}：{loaded.year} 年，{len(items)} 项，{len(loaded.catalog)} 个指标，"
        f"{len(loaded.subrules())} 条细则，标准分合计 {sum(i.standard for i in items)}；"
        f"{len(warnings)} 条警告；指纹 {loaded.fingerprint}"
    )


@rules.command("kinds")
def rules_kinds():
    """列出可用的细则类型。"""
    from qz_excel.kinds import REGISTRY

    for name, cls in REGISTRY.items():
        click.echo(f"{name:<20} {cls.kind_label}")


cli_zh.localize(main)
