"""`qz mail` inside a campaign, for the web page: the plan of letters of one kind (下发,
催报, 反馈) as a dry run, and sending it — through the same library calls as the command."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from qz_excel.campaign.folder import Campaign
from qz_excel.common.towns import read_towns
from qz_excel.mail import letters as m
from qz_excel.mail.smtp import Smtp
from qz_excel.rules.ruleset import load_rules

KINDS = (m.TEMPLATE, m.REMINDER, m.CORRECTION)


def plan_sender_name(campaign: Campaign) -> str:
    return campaign.settings.maker or m.MailContext.sender_name


def campaign_plan(campaign: Campaign, kind: str) -> tuple[m.Plan, m.SendLog]:
    """The letters of ``kind`` as `qz mail` plans them, each marked with what the send log
    says (already sent, changed since)."""
    settings = campaign.settings
    rules = load_rules(campaign.rules)
    towns = read_towns(campaign.towns_file)
    ctx = m.MailContext(
        deadline=settings.deadline_text,
        bureau_contact=settings.contact,
        sender_name=plan_sender_name(campaign),
    )
    results = None if kind == m.TEMPLATE else campaign.results
    plan = m.plan_letters(campaign.templates, towns, ctx, rules.year, kind, results, assessment=rules.assessment)
    log = m.SendLog(campaign.templates / m.MAIL_DIR / m.LOG_NAME)
    m.mark_already_sent(plan, log, resend=False)
    return plan, log


def campaign_smtp(campaign: Campaign, password: str, ca_file: Path | None = None, timeout: float = 15) -> Smtp:
    """The SMTP connection qz.toml describes; the password is the one typed in, kept in
    memory for this send only."""
    mail = campaign.settings.mail
    host, _, port = mail.smtp.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError('qz.toml 的 [mail] smtp 要写成 主机:端口，如 "smtp.qq.com:465"')
    return Smtp(
        host=host,
        port=int(port),
        security=mail.security or ("ssl" if port == "465" else "starttls"),
        user=mail.user,
        password=password,
        timeout=timeout,
        ca_file=ca_file,
    )


def send_campaign(
    campaign: Campaign, kind: str, password: str, progress: Callable[[m.Letter], None] | None = None, ca_file=None
) -> tuple[m.Plan, str]:
    """Sends the letters of ``kind`` not sent before; returns the plan (each letter with its
    status) and why the run stopped ("" when every letter was tried)."""
    plan, log = campaign_plan(campaign, kind)
    mail = campaign.settings.mail
    sender = mail.sender or mail.user
    if not sender:
        raise ValueError("qz.toml 的 [mail] 还没有写发件人（sender 或 user）")
    smtp = campaign_smtp(campaign, password, ca_file)
    stopped = m.send_letters(plan, smtp, sender, plan_sender_name(campaign), log, progress=progress)
    return plan, stopped
