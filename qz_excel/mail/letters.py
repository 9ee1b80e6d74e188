"""`qz mail`: each town gets its own workbook, exactly once.

Letters pair a town's 邮箱 with the workbook whose hidden metadata names that town (never
by file name). Subject and body come from jinja2 templates (StrictUndefined: a typo is an
error, not a blank). A dry run writes .eml files; sending records every delivery with the
attachment's hash in an append-only log, so a rerun skips what was already delivered and
only resends a changed workbook when asked to.

Chinese attachment names: RFC 2231 ``filename*`` (continued, split between characters) on
Content-Disposition and RFC 2047 encoded words in ``name=`` on Content-Type, the pair that
QQ Mail, Outlook and Foxmail all display correctly.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from email import encoders, policy
from email.header import Header
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from pathlib import Path
from urllib.parse import quote

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from qz_excel.common import resources
from qz_excel.common.files import atomic_write_bytes, replaced_folder, safe_file_stem, unique_path
from qz_excel.followup import reminders as followup
from qz_excel.mail.smtp import LetterFailed, Session, Smtp, SmtpStop

XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
MAIL_DIR = "mail"
LOG_NAME = "sent-log.jsonl"
_ADDRESS = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_SEPARATORS = re.compile(r"[;,，；、\n]+")
WIRE = policy.compat32.clone(linesep="\r\n", max_line_length=0)  # headers are folded by hand

# statuses of a letter
READY, SENT, ALREADY_SENT, CHANGED, FAILED = "待发送", "已发送", "已发送过（跳过）", "文件已变更（未重发）", "发送失败"
SENT_TODAY = "今天已催报过（跳过）"

# what a letter is: the template sent out, a reminder (催报), a correction request (反馈)
TEMPLATE, REMINDER, CORRECTION = "下发", "催报", "反馈"
#: jinja2 templates of each kind (subject, body) in templates/mail or --mail-templates
TEMPLATE_FILES = {
    TEMPLATE: ("subject.txt.j2", "body.txt.j2"),
    REMINDER: ("remind_subject.txt.j2", "remind_body.txt.j2"),
    CORRECTION: ("correct_subject.txt.j2", "correct_body.txt.j2"),
}
#: where each kind's dry-run drafts go, under the outbox's mail/ folder
DRAFT_DIRS = {TEMPLATE: "", REMINDER: "催报", CORRECTION: "反馈"}


@dataclass
class Letter:
    town: str
    to: list[str]
    path: Path
    data: bytes  # read once: the bytes hashed in the log are the bytes attached
    sha256: str
    subject: str = ""
    body: str = ""
    status: str = READY
    detail: str = ""
    kind: str = TEMPLATE

    @property
    def filename(self) -> str:
        return self.path.name


@dataclass
class Plan:
    letters: list[Letter]
    #: towns that get nothing, with the reason: no address, invalid address, no workbook…
    excluded: list[tuple[str, str]] = field(default_factory=list)
    kind: str = TEMPLATE


@dataclass(frozen=True)
class MailContext:
    deadline: str = ""
    bureau_contact: str = ""
    sender_name: str = "县质量技术监督局"
    templates: Path | None = None  # a folder with any of TEMPLATE_FILES, overriding ours


def towns_by_address(towns: pd.DataFrame) -> dict[str, str]:
    """Every address in the 邮箱 column (lower-cased) → its town: who a reply is from."""
    return {
        address.lower(): town
        for town, cell in zip(towns["单位名称"], towns["邮箱"])
        for address in split_addresses(str(cell))[0]
    }


def split_addresses(text: str) -> tuple[list[str], list[str]]:
    """The addresses in a 邮箱 cell, and what in it is not one. Separated by ; , 、 or
    spaces; 「张三 <a@b.cn>」 gives a@b.cn; full-width forms (＠ ＜＞ ；) are folded."""
    good: list[str] = []
    bad: list[str] = []
    for part in _SEPARATORS.split(unicodedata.normalize("NFKC", text).strip()):
        part = part.strip()
        if "<" in part or ">" in part:
            address = parseaddr(part)[1]
            (good if _ADDRESS.match(address) else bad).append(address if _ADDRESS.match(address) else part)
            continue
        for word in part.split():
            (good if _ADDRESS.match(word) else bad).append(word)
    return good, bad


def _templates(ctx: MailContext, kind: str):
    folders = [resources.templates_dir() / "mail"]
    if ctx.templates:
        folders.insert(0, ctx.templates)  # the clerk's own wording first, ours for the rest
    env = Environment(
        loader=FileSystemLoader([str(f) for f in folders]), undefined=StrictUndefined, keep_trailing_newline=True
    )
    return tuple(env.get_template(name) for name in TEMPLATE_FILES[kind])


def plan_letters(
    outbox: Path,
    towns: pd.DataFrame,
    ctx: MailContext,
    year: int,
    kind: str = TEMPLATE,
    results: Path | None = None,
    *,
    assessment: str,
) -> Plan:
    """Who gets what, before anything is sent. ``kind`` TEMPLATE: every town its workbook
    from ``outbox``; REMINDER: the towns ``results`` lists as 未报送, their workbook from
    ``outbox`` again; CORRECTION: the towns with a correction request in ``results``/反馈.
    Raises jinja2 errors for a broken template, ResultsError for an unreadable results folder."""
    subject_t, body_t = _templates(ctx, kind)
    extra: dict[str, dict] = {}
    if kind != TEMPLATE and results is None:
        raise ValueError(f"{kind}: a results folder is needed")
    if kind == CORRECTION:
        assert results is not None
        books, clashes = followup.correction_requests(results)
        wanted = set(books)
    else:
        books, clashes = followup.workbooks_by_town(outbox)
        wanted = set(towns["单位名称"])
        if kind == REMINDER:
            assert results is not None
            unused = followup.not_returned(results)
            wanted = set(unused)
            extra = {t: {"unused": u} for t, u in unused.items()}
    clashed = {t for t, _ in clashes}
    plan = Plan(letters=[], excluded=[c for c in clashes if c[0] in wanted], kind=kind)
    listed = set(towns["单位名称"])
    plan.excluded += [(t, "不在单位名单（--towns）中：请核对名单是否与评分时用的一致") for t in sorted(wanted - listed)]
    for row in towns.itertuples(index=False):
        town, email, contact = row.单位名称, row.邮箱, row.联系人
        if town in clashed or town not in wanted:
            continue
        if town not in books:
            plan.excluded.append((town, "模板目录中没有该单位的工作簿：请先运行 qz template"))
            continue
        addresses, bad = split_addresses(email)
        if bad:
            plan.excluded.append(
                (town, f"邮箱格式不正确：{'、'.join(bad)}；“邮箱”列只填地址（如 abc@163.com），多个地址用分号隔开")
            )
            continue
        if not addresses:
            plan.excluded.append((town, "单位名单中没有邮箱：请在“邮箱”列补上"))
            continue
        path = books[town]
        data = path.read_bytes()
        values = {
            "town": town,
            "contact": contact,
            "deadline": ctx.deadline,
            "year": year,
            "assessment": assessment,
            "bureau_contact": ctx.bureau_contact,
            "sender_name": ctx.sender_name,
            "file_name": path.name,
            "unused": [],
            "fixes": [],
            **extra.get(town, {}),
        }
        if kind == CORRECTION:
            values["fixes"] = followup.fixes_listed(path)
        plan.letters.append(
            Letter(
                town=town,
                to=addresses,
                path=path,
                data=data,
                sha256=hashlib.sha256(data).hexdigest(),
                subject=" ".join(subject_t.render(values).split()),
                body=body_t.render(values),
                kind=kind,
            )
        )
    return plan


def _rfc2231(param: str, text: str, width: int = 60) -> list[str]:
    """``param*0*=utf-8''…; param*1*=…``, split between characters, never inside one."""
    chunks, current = [], ""
    for ch in text:
        piece = quote(ch.encode("utf-8"), safe="")
        if current and len(current) + len(piece) > width:
            chunks.append(current)
            current = ""
        current += piece
    chunks.append(current)
    return [f"{param}*{k}*=" + ("utf-8''" if k == 0 else "") + c for k, c in enumerate(chunks)]


def attachment_part(data: bytes, filename: str) -> MIMEBase:
    part = MIMEBase(*XLSX_TYPE)
    part.set_payload(data)
    encoders.encode_base64(part)
    del part["Content-Type"]
    words = Header(filename, "utf-8").encode(maxlinelen=76).split()
    part["Content-Type"] = f'{"/".join(XLSX_TYPE)};\r\n name="' + "\r\n ".join(words) + '"'
    part["Content-Disposition"] = "attachment;\r\n " + ";\r\n ".join(_rfc2231("filename", filename))
    return part


def build_message(letter: Letter, sender: str, sender_name: str) -> bytes:
    msg = MIMEMultipart()
    msg["Subject"] = Header(letter.subject, "utf-8").encode()
    if sender:  # a dry run without --sender: no made-up address, the name alone
        msg["From"] = formataddr((sender_name, sender), charset="utf-8")
    else:
        msg["From"] = Header(sender_name, "utf-8").encode()
    msg["To"] = ", ".join(letter.to)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1] if "@" in sender else None)
    msg["X-QZ-Town-Sha256"] = letter.sha256
    msg.attach(MIMEText(letter.body, "plain", "utf-8"))
    msg.attach(attachment_part(letter.data, letter.filename))
    return msg.as_bytes(policy=WIRE)


def write_drafts(plan: Plan, mail_dir: Path, sender: str, sender_name: str) -> tuple[Path, list[Path]]:
    """The dry run: one .eml per letter, exactly what would be sent, in the folder of the
    plan's kind under ``mail_dir``. The reminders' and correction requests' folders are
    replaced whole, so they never hold a draft for a town no longer concerned."""
    folder = mail_dir / DRAFT_DIRS[plan.kind]
    if plan.kind == TEMPLATE:
        return folder, _drafts_into(plan, folder, folder, sender, sender_name)
    with replaced_folder(folder) as staging:
        paths = _drafts_into(plan, staging, folder, sender, sender_name)
    return folder, paths


def _drafts_into(plan: Plan, into: Path, final: Path, sender: str, sender_name: str) -> list[Path]:
    into.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    paths = []
    for letter in plan.letters:
        path = unique_path(into, safe_file_stem(letter.town), ".eml", taken)
        atomic_write_bytes(path, build_message(letter, sender, sender_name))
        paths.append(final / path.name)
    return paths


class SendLog:
    """Append-only JSON lines: one per delivered letter, with its kind (entries written
    before kinds existed are 下发). The last entry per kind and town counts."""

    def __init__(self, path: Path):
        self.path = path
        self.last: dict[tuple[str, str], dict] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    entry = json.loads(line)
                    self.last[(entry.get("kind", TEMPLATE), entry["town"])] = entry

    def record(self, letter: Letter, delivered_to: list[str]) -> None:
        entry = {
            "town": letter.town,
            "kind": letter.kind,
            "to": delivered_to,
            "file": letter.filename,
            "sha256": letter.sha256,
            "sent_at": datetime.now().isoformat(timespec="seconds"),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.last[(letter.kind, letter.town)] = entry


def mark_already_sent(plan: Plan, log: SendLog, resend: bool, today: date | None = None) -> None:
    """Nothing goes twice. A template delivered before is skipped (a changed one waits for
    ``resend``); a reminder, once a day; a correction request, once per version of it (a
    new run that finds other problems makes a new one, which goes)."""
    today_text = (today or date.today()).isoformat()
    for letter in plan.letters:
        previous = log.last.get((letter.kind, letter.town))
        if previous is None:
            continue
        if letter.kind == REMINDER:
            if previous["sent_at"][:10] == today_text:
                letter.status, letter.detail = SENT_TODAY, f"今天 {previous['sent_at'][11:16]} 已发过"
        elif previous["sha256"] == letter.sha256:
            letter.status = ALREADY_SENT
        elif letter.kind == TEMPLATE and not resend:
            letter.status, letter.detail = CHANGED, f"上次发送于 {previous['sent_at']}，加 --resend 重发"


def send_letters(
    plan: Plan,
    smtp: Smtp,
    sender: str,
    sender_name: str,
    log: SendLog,
    progress: Callable[[Letter], None] | None = None,
) -> str:
    """Send every READY letter over one connection; a letter that fails is recorded and
    the rest go on. Returns "" when every letter was tried, else why the run stopped (the
    letters not tried stay READY)."""
    session = Session(smtp)
    try:
        for letter in plan.letters:
            if letter.status == READY:
                try:
                    delivery = session.send(sender, letter.to, build_message(letter, sender, sender_name))
                except LetterFailed as exc:
                    letter.status, letter.detail = FAILED, str(exc)
                except SmtpStop as exc:
                    return str(exc)
                else:
                    letter.status = SENT
                    if delivery.refused:
                        letter.detail = "部分收件人未收到：" + "；".join(
                            f"{a} {r}" for a, r in delivery.refused.items()
                        )
                    log.record(letter, delivery.accepted)
            if progress:
                progress(letter)
    finally:
        session.close()
    return ""


__all__ = [
    "plan_letters",
    "write_drafts",
    "send_letters",
    "mark_already_sent",
    "SendLog",
    "MailContext",
    "split_addresses",
]
