"""`qz fetch` inside a campaign, for the web page: qz.toml's [mailbox], the campaign's
inbox and towns list, the password typed in (kept in memory for this fetch only)."""

from __future__ import annotations

from collections.abc import Callable

from qz_excel.campaign.folder import Campaign
from qz_excel.common.towns import read_towns
from qz_excel.mail.fetch import FetchReport, fetch_mail
from qz_excel.mail.imap import Imap
from qz_excel.mail.letters import towns_by_address


def fetch_campaign(
    campaign: Campaign, password: str, progress: Callable[[int, int], None] | None = None
) -> FetchReport:
    box = campaign.settings.mailbox
    host, _, port = box.imap.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError('qz.toml 的 [mailbox] imap 要写成 主机:端口，如 "imap.qq.com:993"')
    if campaign.settings.generated_at is None:
        raise ValueError("还不知道从哪天收起：请先生成填报表（生成的日期记在 qz.toml 的 generated_at）")
    town_of = towns_by_address(read_towns(campaign.towns_file))
    imap = Imap(
        host=host,
        port=int(port),
        security=box.security or ("ssl" if port == "993" else "starttls"),
        user=box.user,
        password=password,
    )
    return fetch_mail(
        imap.connect, box.folder or "INBOX", campaign.settings.generated_at, campaign.inbox, town_of, progress
    )
