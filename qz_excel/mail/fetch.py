"""`qz fetch` (收取回件): the towns' returned workbooks from the bureau's mailbox into the
inbox folder, never twice, nothing lost, the mailbox unchanged.

Every attachment that is a workbook by its content (.xlsx, .xlsm, .xls, .ods — whatever
its name says) is checked as intake checks a return, then saved as
``<收信日期>_<单位名称或发件人>_<原文件名>``; a .zip is opened within intake's limits and its
workbooks saved the same way. What brings no usable workbook is listed with what to ask
the town (a .rar, a winmail.dat, an attachment too large, a letter without attachment, a
message that cannot be read).

A fetch log in the inbox (JSON lines, one per message, appended and synced as each message
is done) records the message (its Message-ID, or a digest of its bytes) and the content
hash of every file saved: a rerun reads only new mail, the same file sent twice is saved
once, and a run cut off mid-way resumes where it stopped.
"""

from __future__ import annotations

import email
import email.header
import email.message
import email.policy
import email.utils
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePosixPath

from qz_excel.common.files import atomic_write_bytes, safe_file_stem, unique_path
from qz_excel.intake.read import FETCH_LOG, OLE_MAGIC
from qz_excel.intake.safety import LIMITS, ZIP_MAGIC, Unsafe, check_size, check_zip
from qz_excel.mail.imap import ImapDropped, ImapStop, Mailbox

RETRIES = 3  # reconnections after a dropped connection before the run stops
_RAR, _7Z = b"Rar!\x1a\x07", b"7z\xbc\xaf\x27\x1c"
_WORKBOOK_STREAM = "Workbook".encode("utf-16-le")  # an .xls's OLE directory names it (Book: Excel 5)
_CHINESE_CHARSETS = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030"}
_ASK = {
    "no_attachment": "有来信但没有附件，请补发填好的填报表",
    "no_workbook": "附件中没有工作簿，请补发填好的填报表（.xlsx）",
    "archive": "附件是 RAR/7z 压缩包，程序打不开：请改发 .xlsx 或 .zip",
    "tnef": "附件是 winmail.dat（Outlook 的 RTF 格式）：请在 Outlook 中改用 HTML 或纯文本格式重发",
    "too_large": "附件太大：请只发填报表，或压缩后重发",
    "unsafe": "附件不能安全打开：请用 Excel/WPS 重新保存后再发",
    "broken": "邮件无法读取：请重发一次",
    "empty_zip": "压缩包里没有工作簿：请改发填好的 .xlsx",
}


@dataclass
class Saved:
    file: Path
    town: str
    sender: str
    original: str


@dataclass
class Unusable:
    sender: str
    town: str
    subject: str
    what: str  # the attachment, or "" for the letter itself
    ask: str  # what to ask the town


@dataclass
class FetchReport:
    messages: int = 0  # new messages read this run
    seen_before: int = 0  # messages an earlier fetch already read
    saved: list[Saved] = field(default_factory=list)
    duplicates: int = 0  # the same file again: saved once
    unusable: list[Unusable] = field(default_factory=list)
    unknown_senders: list[str] = field(default_factory=list)  # no town's 邮箱


class FetchLog:
    """What earlier fetches read: message keys and file hashes, from the inbox's log."""

    def __init__(self, path: Path):
        self.path = path
        self.messages: set[str] = set()
        self.hashes: set[str] = set()
        self.uids: set[str] = set()  # 「folder:uidvalidity/uid」 already read
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:  # a line cut off by a crash: that message is read again
                    continue
                self.messages.add(entry["message"])
                self.hashes.update(entry.get("hashes", []))
                self.uids.add(str(entry.get("uid", "")))

    def record(self, entry: dict) -> None:
        """One message done: appended and synced before the next one is read."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.messages.add(entry["message"])
        self.hashes.update(entry.get("hashes", []))
        self.uids.add(str(entry.get("uid", "")))


def message_key(raw: bytes, message) -> str:
    found = message.get("Message-ID") if message is not None else None
    return str(found).strip() if found else "sha256:" + hashlib.sha256(raw).hexdigest()


def decoded_name(part) -> str:
    """An attachment's name as Outlook (RFC 2047 in quotes, GB2312 meaning GBK), Foxmail and
    web mail (RFC 2231) write it; "" when it has none."""
    raw = part.get_param("filename", header="content-disposition") or part.get_param("name", header="content-type")
    if raw is None:
        return ""
    if isinstance(raw, tuple):  # RFC 2231: (charset, language, text) as the parser left it
        charset, _, text = raw
        data = text.encode("latin-1", "replace") if isinstance(text, str) else text
        charset = _CHINESE_CHARSETS.get((charset or "utf-8").lower(), charset or "utf-8")
        name = data.decode(charset, "replace")
    else:
        name = email.utils.collapse_rfc2231_value(raw)
    if "=?" in name:  # encoded words inside a quoted parameter (Outlook, QQ Mail)
        pieces = []
        for text, charset in email.header.decode_header(name):
            if isinstance(text, bytes):
                charset = _CHINESE_CHARSETS.get((charset or "ascii").lower(), charset or "ascii")
                text = text.decode(charset, "replace")
            pieces.append(text)
        name = "".join(pieces)
    return PurePosixPath(name.replace("\\", "/")).name.strip()


def kind_of(data: bytes) -> str:
    """What bytes hold: xlsx, ods, xls, zip, rar, other."""
    if data[:4] == ZIP_MAGIC:
        try:
            names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
        except (zipfile.BadZipFile, ValueError, OSError):
            return "other"
        if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
            return "xlsx"
        if "mimetype" in names and "content.xml" in names:
            return "ods"
        return "zip"
    if data[:8] == OLE_MAGIC:
        return "xls" if _WORKBOOK_STREAM in data or "Book".encode("utf-16-le") in data else "other"
    if data[:6] == _RAR or data[:6] == _7Z:
        return "rar"
    return "other"


_SUFFIX = {"xlsx": ".xlsx", "ods": ".ods", "xls": ".xls"}


def _zip_member_name(info: zipfile.ZipInfo) -> str:
    """A member's name: UTF-8 when the archive says so, else (Windows' zip in China) GBK."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("gb18030")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _sender(message) -> str:
    """The From address, however the header was written (RFC 2047 names, raw UTF-8)."""
    header = message.get("From")
    addresses = getattr(header, "addresses", None)
    if addresses:
        return addresses[0].addr_spec.lower()
    _, address = email.utils.parseaddr(str(header or ""))
    return address.lower()


class _Message:
    """One message's workbooks saved and its unusable parts listed."""

    def __init__(self, fetcher: Fetcher, raw: bytes, day: str):
        self.fetcher, self.raw, self.day = fetcher, raw, day
        self.saved: list[Saved] = []
        self.hashes: list[str] = []
        self.unusable: list[Unusable] = []
        self.message: email.message.EmailMessage | None = None
        self.sender = self.town = self.subject = ""

    def parse(self) -> None:
        try:
            message = email.message_from_bytes(self.raw, policy=email.policy.default)
            self.message = message  # type: ignore[assignment]
            self.sender = _sender(message)
            self.subject = str(message.get("Subject", ""))[:80]
            self.town = self.fetcher.town_of.get(self.sender, "")
        except Exception:  # noqa: BLE001 — a malformed message is listed, the rest fetched
            self.message = None

    def collect(self) -> None:
        parts = None
        if self.message is not None:
            try:
                parts = list(self.message.iter_attachments())
            except Exception:  # noqa: BLE001 — a malformed message is listed, the rest fetched
                parts = None
        if parts is None:
            self._refuse("", _ASK["broken"])
            return
        if not parts:
            self._refuse("", _ASK["no_attachment"])
            return
        offered = len(self.unusable)
        found_any = False
        for part in parts:
            found_any |= self._attachment(part)
        if not found_any and len(self.unusable) == offered:
            self._refuse("、".join(decoded_name(p) or "（无名附件）" for p in parts), _ASK["no_workbook"])

    def _refuse(self, what: str, ask: str) -> None:
        self.unusable.append(Unusable(self.sender, self.town, self.subject, what, ask))

    def _attachment(self, part) -> bool:
        """Saves what the attachment holds; True when it held a workbook."""
        name = decoded_name(part)
        data = part.get_payload(decode=True) or b""
        if name.lower() == "winmail.dat" or part.get_content_type() == "application/ms-tnef":
            self._refuse(name or "winmail.dat", _ASK["tnef"])
            return False
        try:
            check_size(len(data), self.fetcher.limits)
        except Unsafe as exc:
            self._refuse(name, f"{_ASK['too_large']}（{exc.detail}）")
            return False
        kind = kind_of(data)
        if kind == "rar" or name.lower().endswith((".rar", ".7z")):
            self._refuse(name, _ASK["archive"])
            return False
        if kind in _SUFFIX:
            return self._workbook(name, data, kind)
        if kind == "zip":
            return self._archive(name, data)
        return False

    def _archive(self, name: str, data: bytes) -> bool:
        try:
            check_zip(data, self.fetcher.limits)  # sizes, counts and ratios before anything inflates
            archive = zipfile.ZipFile(io.BytesIO(data))
        except (Unsafe, zipfile.BadZipFile) as exc:
            self._refuse(name, f"{_ASK['unsafe']}（{getattr(exc, 'detail', exc)}）")
            return False
        found = False
        for info in archive.infolist():
            if info.is_dir():
                continue
            member = archive.read(info)
            kind = kind_of(member)
            if kind in _SUFFIX:
                found |= self._workbook(PurePosixPath(_zip_member_name(info)).name, member, kind)
        if not found:
            self._refuse(name, _ASK["empty_zip"])
        return found

    def _workbook(self, name: str, data: bytes, kind: str) -> bool:
        if data[:4] == ZIP_MAGIC:
            try:
                check_zip(data, self.fetcher.limits)  # a hostile workbook never reaches the disk
            except Unsafe as exc:
                self._refuse(name, f"{_ASK['unsafe']}（{exc.detail}）")
                return True
        digest = hashlib.sha256(data).hexdigest()
        self.hashes.append(digest)
        if digest in self.fetcher.log.hashes or digest in self.fetcher.taken_hashes:
            self.fetcher.report.duplicates += 1
            return True
        self.fetcher.taken_hashes.add(digest)
        original = name or f"附件{_SUFFIX[kind]}"
        stem, suffix = os.path.splitext(original)
        if suffix.lower() not in (".xlsx", ".xlsm", ".xls", ".ods"):
            stem, suffix = original, _SUFFIX[kind]  # a name without (or with a wrong) extension
        who = self.town or self.sender.split("@")[0] or "未知发件人"
        path = unique_path(
            self.fetcher.inbox, safe_file_stem(f"{self.day}_{who}_{stem}"), suffix.lower(), self.fetcher.taken_names
        )
        atomic_write_bytes(path, data)
        self.saved.append(Saved(path, self.town, self.sender, original))
        return True


class Fetcher:
    def __init__(self, inbox: Path, town_of: dict[str, str], limits=LIMITS):
        self.inbox, self.town_of, self.limits = inbox, town_of, limits
        self.log = FetchLog(inbox / FETCH_LOG)
        self.mailbox_id = ""  # folder and UIDVALIDITY: a UID logged under them is not fetched again
        self.report = FetchReport()
        self.taken_names: set[str] = {p.name for p in inbox.iterdir()} if inbox.is_dir() else set()
        self.taken_hashes: set[str] = set()

    def message(self, uid: int, raw: bytes, day: str, folder: str) -> None:
        one = _Message(self, raw, day)
        one.parse()
        key = message_key(raw, one.message)
        if key in self.log.messages:  # read before, perhaps under another UID or folder
            self.report.seen_before += 1
            self.log.record({"message": key, "uid": self._uid_key(uid), "hashes": []})
            return
        one.collect()
        self.report.messages += 1
        self.report.saved += one.saved
        self.report.unusable += one.unusable
        if one.sender and not one.town and one.sender not in self.report.unknown_senders:
            self.report.unknown_senders.append(one.sender)
        self.log.record(
            {
                "message": key,
                "uid": self._uid_key(uid),
                "folder": folder,
                "from": one.sender,
                "town": one.town,
                "files": [s.file.name for s in one.saved],
                "hashes": one.hashes,
                "at": datetime.now().isoformat(timespec="seconds"),
            }
        )

    def _uid_key(self, uid: int) -> str:
        return f"{self.mailbox_id}/{uid}"

    def known(self, uid: int) -> bool:
        return self._uid_key(uid) in self.log.uids


def fetch_mail(
    connect: Callable[[], Mailbox],
    folder: str,
    since: date,
    inbox: Path,
    town_of: dict[str, str],
    progress: Callable[[int, int], None] | None = None,
) -> FetchReport:
    """Read the folder's messages since ``since`` into ``inbox``; ``town_of``: 邮箱 → town.
    A dropped connection is retried :data:`RETRIES` times, resuming after the last message
    done; :class:`ImapStop` ends the run with what was saved kept and logged."""
    inbox.mkdir(parents=True, exist_ok=True)
    fetcher = Fetcher(inbox, town_of)
    done: set[int] = set()
    drops, connected = 0, False
    while True:
        try:
            box = connect()
            connected = True
            try:
                fetcher.mailbox_id = f"{folder}:{box.examine(folder)}"
                uids = box.uids_since(since)
                for k, uid in enumerate(uids, start=1):
                    if uid not in done and not fetcher.known(uid):  # a rerun fetches only new mail
                        raw, day = box.fetch(uid)
                        fetcher.message(uid, raw, day or since.strftime("%Y%m%d"), folder)
                        done.add(uid)
                    if progress:
                        progress(k, len(uids))
            finally:
                box.close()
            return fetcher.report
        except ImapDropped as exc:
            if not connected:  # never reached: a wrong address or port, not a flaky line
                raise ImapStop(
                    f"{exc}：请检查收信服务器的地址、端口和加密方式（993 用 ssl，143 用 starttls）"
                ) from None
            drops += 1
            if drops > RETRIES:
                raise ImapStop(
                    f"与收信服务器的连接中断了 {drops} 次（{exc}）：已收取的 {len(fetcher.report.saved)} 个工作簿已保存，"
                    "稍后重新运行 qz fetch 会从中断处继续"
                ) from None


__all__ = ["FetchLog", "FetchReport", "ImapStop", "decoded_name", "fetch_mail", "kind_of"]
