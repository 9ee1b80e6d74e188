"""`qz fetch` (收取回件): the returned workbooks from the bureau's mailbox into the inbox."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

import click

from qz_excel.cli.campaign import campaign_of, needed
from qz_excel.cli.common import DATE, NOT_WRITTEN, fail, load_towns, loading, password_for

#: how far back a fetch outside a campaign looks when no --since is given
DEFAULT_DAYS = 60


@click.command(short_help="收取回件：把各单位邮件里的工作簿存入收件箱（只读，不改动邮箱）。")
@click.option("--inbox", type=click.Path(file_okay=False), help="存到哪个收件箱目录（考核目录中默认：收件箱/）")
@click.option("--towns", "towns_file", type=click.Path(dir_okay=False), help="单位名单（用“邮箱”列认出发件单位）")
@click.option("--imap", "imap_address", default=None, metavar="主机:端口", help="收信服务器，如 imap.qq.com:993")
@click.option(
    "--security",
    type=click.Choice(["ssl", "starttls", "none"]),
    default=None,
    help="加密方式；默认端口 993 用 ssl，其余用 starttls",
)
@click.option("--user", default=None, help="登录名；密码只从环境变量 QZ_IMAP_PASSWORD 或提示输入读取")
@click.option("--folder", default=None, help="收件夹 [默认：INBOX]")
@click.option("--since", type=DATE, default=None, help="收取这一天以来的邮件（考核目录中默认：模板生成那天）")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), help="信任这个 CA 或服务器证书（PEM 文件）")
@click.option("--no-verify", is_flag=True, help="不验证服务器证书（仅限可信的内部网络）")
@click.option(
    "--timeout", type=click.FloatRange(min=1), default=30, show_default=True, help="连接和等待服务器答复的秒数"
)
@click.option("--score", "then_score", is_flag=True, help="收取后接着评分（qz score）")
@click.pass_context
def fetch(ctx, inbox, towns_file, imap_address, security, user, folder, since, ca_file, no_verify, timeout, then_score):
    """从局里的邮箱（IMAP）收取各单位报回的工作簿，存入收件箱：只读打开邮箱，不改任何标记；同一封信、同一个文件不会存两次；没有可用工作簿的来信逐一列出，并写明该请对方做什么。"""
    campaign = campaign_of(ctx)
    with loading():
        from qz_excel.mail.fetch import fetch_mail
        from qz_excel.mail.imap import Imap, ImapStop
        from qz_excel.mail.letters import towns_by_address

    if campaign is not None:
        box = campaign.settings.mailbox
        inbox = inbox or str(campaign.inbox)
        towns_file = towns_file or str(campaign.towns_file)
        imap_address = imap_address or box.imap
        security = security or box.security or None
        user = user or box.user
        folder = folder or box.folder
        since = since or campaign.settings.generated_at
    inbox = needed(inbox, "收件箱目录", "--inbox 目录")
    imap_address = needed(imap_address, "收信服务器", "--imap 主机:端口（如 imap.qq.com:993）")
    host, _, port = imap_address.rpartition(":")
    if not host or not port.isdigit():
        fail(f"--imap 应写成 主机:端口，如 imap.qq.com:993（写的是 {imap_address}）")
    since = since or date.today() - timedelta(days=DEFAULT_DAYS)
    town_of = towns_by_address(load_towns(towns_file)) if towns_file else {}
    password = password_for(user or "", "QZ_IMAP_PASSWORD", "收信邮箱")
    imap = Imap(
        host=host,
        port=int(port),
        security=security or ("ssl" if port == "993" else "starttls"),
        user=user or "",
        password=password,
        timeout=timeout,
        ca_file=Path(ca_file) if ca_file else None,
        verify=not no_verify,
    )
    click.echo(
        f"收取 {imap_address} 的“{folder or 'INBOX'}”中 {since.isoformat()} 以来的邮件 → {Path(inbox).resolve()}"
    )
    progress = None
    bar = None
    if sys.stderr.isatty():
        bar = click.progressbar(length=1, label="收取中", file=sys.stderr)
        bar.__enter__()

        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

    try:
        report = fetch_mail(imap.connect, folder or "INBOX", since, Path(inbox), town_of, progress)
    except ImapStop as exc:
        fail(str(exc), NOT_WRITTEN)
    except OSError as exc:
        fail(f"无法写入收件箱 {inbox}：{exc.strerror or exc}", NOT_WRITTEN)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    for saved in report.saved:
        click.echo(f"已保存  {saved.file.name}（{saved.town or saved.sender}，原名 {saved.original}）")
    for item in report.unusable:
        who = item.town or item.sender or "（发件人不明）"
        what = f"附件 {item.what}：" if item.what else ""
        click.echo(f"需联系  {who}（{item.subject or '无主题'}）：{what}{item.ask}")
    if report.unknown_senders:
        click.echo(
            f"不在单位名单上的发件人 {len(report.unknown_senders)} 个：{'、'.join(report.unknown_senders[:10])}"
            "（其工作簿已保存，评分时按表内的单位名称认定；可把这些邮箱补进名单的“邮箱”列）"
        )
    pieces = [f"收到 {report.messages} 封来信，{len(report.saved)} 个工作簿已存入收件箱"]
    if report.duplicates:
        pieces.append(f"重复发来的 {report.duplicates} 个文件只存了一次")
    if report.seen_before:
        pieces.append(f"{report.seen_before} 封以前已收取过")
    if report.unusable:
        pieces.append(f"{len(report.unusable)} 处没有可用的工作簿（见上面“需联系”）")
    click.echo("；".join(pieces) + "。")
    if then_score:
        from qz_excel.cli.commands import score

        ctx.invoke(score, inbox=inbox, towns_file=towns_file)
    elif campaign is not None:
        click.echo("下一步评分：qz score")
    else:
        click.echo(f"下一步评分：qz score {inbox} --towns {towns_file or '名单文件'} --out 结果目录")
    sys.exit(1 if report.unusable else 0)
