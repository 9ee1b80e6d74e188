"""The IMAP connection `qz fetch` reads the bureau's mailbox through, read-only, and what
its failures mean in Chinese.

- implicit TLS (993) by default, or STARTTLS; ``ca_file`` trusts a bureau's own CA,
  ``verify=False`` is the explicit opt-in for an internal server;
- one login, one attempt (a wrong password must not lock the account);
- the folder is opened with EXAMINE and every body fetched with BODY.PEEK: no flag is
  changed, nothing moved or deleted;
- a dropped connection is an :class:`ImapDropped` the caller may retry; everything else
  that stops the run is an :class:`ImapStop` with one sentence.
"""

from __future__ import annotations

import imaplib
import re
import ssl
from dataclasses import dataclass
from pathlib import Path


class ImapStop(Exception):
    """The mailbox cannot be read at all (login refused, no such folder, not IMAP)."""


class ImapDropped(Exception):
    """The connection broke mid-way: reconnect and resume."""


@dataclass(frozen=True)
class Imap:
    host: str
    port: int = 993
    security: str = "ssl"  # ssl | starttls | none
    user: str = ""
    password: str = ""
    timeout: float = 30
    ca_file: Path | None = None
    verify: bool = True

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def connect(self) -> Mailbox:
        where = f"{self.host}:{self.port}"
        client: imaplib.IMAP4
        try:
            if self.security == "ssl":
                client = imaplib.IMAP4_SSL(self.host, self.port, ssl_context=self._context(), timeout=self.timeout)
            else:
                client = imaplib.IMAP4(self.host, self.port, timeout=self.timeout)
                if self.security == "starttls":
                    client.starttls(ssl_context=self._context())
        except ssl.SSLCertVerificationError as exc:
            raise ImapStop(
                f"{where} 的证书不被信任（{exc.verify_message}）：局里自建的服务器请用 --ca-file 指定其证书，"
                "确认是内部网络时才可用 --no-verify"
            ) from None
        except imaplib.IMAP4.abort as exc:
            if "unexpected response" in str(exc):  # it greets, but not as IMAP does (an SMTP server, say)
                raise ImapStop(
                    f"{where} 不是收信（IMAP）服务器（它说：{str(exc)[-60:]}）：请检查服务器地址和端口"
                ) from None
            raise ImapStop(
                f"{where} 的连接失败（{exc}）：请检查端口和加密方式（993 用 ssl，143 用 starttls）"
            ) from None
        except ssl.SSLError as exc:
            raise ImapStop(
                f"{where} 的加密连接失败（{exc}）：请检查端口和加密方式（993 用 ssl，143 用 starttls）"
            ) from None
        except imaplib.IMAP4.error as exc:
            raise ImapStop(
                f"{where} 不是收信（IMAP）服务器，或不支持所选的加密方式（{exc}）：请检查服务器地址和端口"
            ) from None
        except TimeoutError:
            raise ImapDropped(f"连接 {where} 超时") from None
        except OSError as exc:
            raise ImapDropped(f"连不上 {where}（{exc.strerror or exc}）") from None
        try:
            if "AUTH=PLAIN" in client.capabilities:
                # RFC 4616 in UTF-8: a Chinese login name or 授权码 goes as typed (LOGIN is ASCII only)
                secret = b"\0" + self.user.encode("utf-8") + b"\0" + self.password.encode("utf-8")
                client.authenticate("PLAIN", lambda _challenge: secret)
            else:
                client.login(self.user, self.password)
        except imaplib.IMAP4.error:
            _close(client)
            raise ImapStop(
                "收信邮箱登录失败：请检查登录名和授权码（不是登录密码）；为免账号被锁定，只试了这一次"
            ) from None
        except (imaplib.IMAP4.abort, OSError) as exc:
            raise ImapDropped(f"登录时连接中断（{exc}）") from None
        return Mailbox(client)


class Mailbox:
    """One logged-in connection, reading one folder without changing anything."""

    def __init__(self, client: imaplib.IMAP4):
        self.client = client

    def examine(self, folder: str) -> str:
        """Opens ``folder`` read-only; returns its UIDVALIDITY (UIDs mean the same messages
        while it stays the same)."""
        try:
            typ, _ = self.client.select(_quoted(folder), readonly=True)  # readonly: EXAMINE
        except imaplib.IMAP4.abort as exc:
            raise ImapDropped(str(exc)) from None
        if typ != "OK":
            raise ImapStop(
                f"邮箱里没有“{folder}”这个文件夹：有的是 {'、'.join(self.folders()) or '（无）'}；请用 --folder 指定"
            )
        _, validity = self.client.response("UIDVALIDITY")
        return (validity[0] or b"").decode() if validity and validity[0] else ""

    def folders(self) -> list[str]:
        typ, lines = self.client.list()
        names = []
        for line in lines if typ == "OK" else []:
            text = line.decode("utf-8", "replace") if isinstance(line, bytes) else str(line)
            match = re.search(r'"([^"]*)"\s*$|(\S+)\s*$', text)
            if match:
                names.append(_decoded_folder(match.group(1) or match.group(2)))
        return names

    def uids_since(self, day) -> list[int]:
        """The UIDs of messages received on or after ``day``, oldest first."""
        try:
            typ, data = self.client.uid("SEARCH", "SINCE", day.strftime("%d-%b-%Y"))
        except imaplib.IMAP4.abort as exc:
            raise ImapDropped(str(exc)) from None
        if typ != "OK":
            raise ImapStop(f"收信服务器拒绝了查询：{data}")
        return sorted(int(u) for u in (data[0] or b"").split())

    def fetch(self, uid: int) -> tuple[bytes, str]:
        """A message's bytes and the day the server received it (YYYYMMDD); BODY.PEEK
        leaves its \\Seen flag as it was."""
        try:
            typ, data = self.client.uid("FETCH", str(uid), "(INTERNALDATE BODY.PEEK[])")
        except (imaplib.IMAP4.abort, OSError) as exc:
            raise ImapDropped(str(exc)) from None
        if typ != "OK":
            raise ImapStop(f"读取第 {uid} 封信失败：{data}")
        parts = [d for d in data if isinstance(d, tuple)]
        if not parts:
            return b"", ""
        head, body = parts[0]
        internal = imaplib.Internaldate2tuple(head if isinstance(head, bytes) else head.encode())
        day = f"{internal.tm_year:04d}{internal.tm_mon:02d}{internal.tm_mday:02d}" if internal else ""
        return body, day

    def close(self) -> None:
        _close(self.client)


def _close(client: imaplib.IMAP4) -> None:
    try:
        client.logout()
    except Exception:  # noqa: BLE001 — a connection that is already gone closes quietly
        pass


def _quoted(folder: str) -> str:
    """A folder name as IMAP wants it: modified UTF-7 for Chinese names, quoted."""
    return '"' + _utf7(folder).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _utf7(text: str) -> str:
    """RFC 3501 modified UTF-7 (「收件箱」 → &ZTZO9nux-)."""
    import base64

    out: list[str] = []
    pending: list[str] = []

    def flush():
        if pending:
            encoded = base64.b64encode("".join(pending).encode("utf-16-be")).decode().rstrip("=").replace("/", ",")
            out.append("&" + encoded + "-")
            pending.clear()

    for ch in text:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def _decoded_folder(name: str) -> str:
    import base64

    def decode(match: re.Match) -> str:
        chunk = match.group(1)
        if not chunk:
            return "&"
        padded = chunk.replace(",", "/") + "=" * (-len(chunk) % 4)
        return base64.b64decode(padded).decode("utf-16-be", "replace")

    return re.sub(r"&([^-]*)-", decode, name)
