"""`qz mail`: the templates to every town, reminders (催报) and correction requests (反馈)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from qz_excel.cli.campaign import FROM_CAMPAIGN, campaign_of, needed
from qz_excel.cli.common import (
    DEFAULT_MAKER,
    NOT_WRITTEN,
    fail,
    load_rules_or_fail,
    load_towns,
    loading,
    need_folder,
    password_for,
    rules_option,
    towns_option,
)


@click.command(short_help="发送填报模板、催报和修改通知（默认先演练）。")
@click.argument("outbox", type=click.Path(file_okay=False), metavar="[模板目录]", required=False)
@towns_option
@rules_option
@click.option("--send", is_flag=True, help="真正发送（默认只生成 .eml 草稿供检查）")
@click.option("--smtp", "smtp_address", default=None, metavar="主机:端口", help="发信服务器，如 smtp.qq.com:465")
@click.option(
    "--security",
    type=click.Choice(["ssl", "starttls", "none"]),
    default=None,
    help="加密方式；默认端口 465 用 ssl，其余用 starttls",
)
@click.option("--user", default=None, help="SMTP 登录名；密码只从环境变量 QZ_SMTP_PASSWORD 或提示输入读取")
@click.option("--sender", default=None, help="发件人邮箱（默认同 --user）")
@click.option("--sender-name", default=None, help=f"发件人名称，也用于正文落款 [默认：{DEFAULT_MAKER}]")
@click.option("--deadline", default=None, help="报送截止日期，写入正文")
@click.option("--contact", "bureau_contact", default=None, help="局里的联系人及电话，写入正文")
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
    is_flag=False,
    flag_value=FROM_CAMPAIGN,
    metavar="[结果目录]",
    help="催报：只发给该次 qz score 结果中“未报送”的单位，再附上它的模板（同一天不重复催报）；考核目录中不写即用 结果/",
)
@click.option(
    "--corrections",
    "correction_results",
    type=click.Path(file_okay=False),
    is_flag=False,
    flag_value=FROM_CAMPAIGN,
    metavar="[结果目录]",
    help="发送修改通知：把该次 qz score 结果“反馈”文件夹中的工作簿发给各单位，正文列出要改的地方；考核目录中不写即用 结果/",
)
@click.option(
    "--mail-templates",
    type=click.Path(exists=True, file_okay=False),
    help="自定义邮件模板目录（subject.txt.j2、body.txt.j2，催报用 remind_*.txt.j2，修改通知用 correct_*.txt.j2）",
)
@click.pass_context
def mail(
    ctx,
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
    campaign = campaign_of(ctx)
    with loading():
        from jinja2 import TemplateError

        from qz_excel.followup.reminders import ResultsError
        from qz_excel.mail import letters as m
        from qz_excel.mail.smtp import Smtp

    if campaign is not None:
        settings = campaign.settings
        outbox = outbox or str(campaign.templates)
        towns_file = towns_file or str(campaign.towns_file)
        rules_file = rules_file or campaign.rules
        smtp_address = smtp_address or settings.mail.smtp
        security = security or settings.mail.security or None
        user = user or settings.mail.user
        sender = sender or settings.mail.sender
        sender_name = sender_name or settings.maker
        deadline = settings.deadline_text if deadline is None else deadline
        bureau_contact = settings.contact if bureau_contact is None else bureau_contact
        remind_results = str(campaign.results) if remind_results == FROM_CAMPAIGN else remind_results
        correction_results = str(campaign.results) if correction_results == FROM_CAMPAIGN else correction_results
    if FROM_CAMPAIGN in (remind_results, correction_results):
        fail("--remind / --corrections 后面要写 qz score 的结果目录（在考核年度工作目录中可以不写）")
    outbox = needed(outbox, "模板目录", "模板目录（qz mail 模板目录 --towns 名单）")
    towns_file = needed(towns_file, "单位名单", "--towns 名单文件")
    smtp_address, user, sender = smtp_address or "", user or "", sender or ""
    sender_name, deadline, bureau_contact = sender_name or DEFAULT_MAKER, deadline or "", bureau_contact or ""

    if remind_results and correction_results:
        fail("--remind 和 --corrections 一次只能用一个：请分两次运行")
    results = remind_results or correction_results
    kind = m.REMINDER if remind_results else m.CORRECTION if correction_results else m.TEMPLATE
    need_folder(outbox, "模板目录", "请先运行 qz template --out 该目录 生成模板")
    if results:
        need_folder(results, "结果目录", "请写 qz score 的 --out 目录")
    rules = load_rules_or_fail(rules_file)
    towns = load_towns(towns_file)
    outbox = Path(outbox)
    sender = sender or user
    ctx = m.MailContext(
        deadline=deadline,
        bureau_contact=bureau_contact,
        sender_name=sender_name,
        templates=Path(mail_templates) if mail_templates else None,
    )
    try:
        plan = m.plan_letters(
            outbox, towns, ctx, rules.year, kind, Path(results) if results else None, assessment=rules.assessment
        )
    except TemplateError as exc:
        fail(f"邮件模板有误：{exc}；请修改 {'、'.join(m.TEMPLATE_FILES[kind])} 后重试")
    except ResultsError as exc:
        fail(str(exc))
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
        fail("发送需要 --smtp 主机:端口，如 --smtp smtp.qq.com:465")
    if not sender:
        fail("发送需要发件人：请加 --sender 邮箱地址（或 --user）")
    host, _, port = smtp_address.rpartition(":")
    if not port.isdigit():
        fail(f"--smtp 的端口不是数字：{port}")
    password = password_for(user, "QZ_SMTP_PASSWORD", "发信邮箱")
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
    not_tried = [letter.town for letter in plan.letters if letter.status == m.READY]
    if stopped:
        click.echo(f"错误：{stopped}", err=True)
        click.echo(f"未发送 {len(not_tried)} 个单位：{'、'.join(not_tried[:20])}{' 等' if len(not_tried) > 20 else ''}")
    click.echo(  # 未发送: the towns that could not be sent to, and those the stop left untried
        f"已发送 {counts[m.SENT]}，跳过 {counts[m.ALREADY_SENT] + counts[m.SENT_TODAY] + counts[m.CHANGED]}"
        f"（其中文件有变更 {counts[m.CHANGED]}），失败 {counts[m.FAILED]}，未发送 {len(plan.excluded) + len(not_tried)}；"
        f"发送记录：{log.path.resolve()}"
    )
    if stopped:
        sys.exit(NOT_WRITTEN)
    sys.exit(1 if counts[m.FAILED] or plan.excluded or counts[m.CHANGED] else 0)
