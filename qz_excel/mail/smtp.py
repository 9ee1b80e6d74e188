"""The SMTP connection `qz mail` sends through, and what its failures mean in Chinese.

What a bureau's mail server does to a batch of letters, and what happens here:
- a certificate the system does not trust (the bureau's own CA, a self-signed server):
  ``ca_file`` adds a CA or certificate to the trusted ones; ``verify=False`` is the
  explicit, opt-in way to skip the check for an internal server;
- a refused login stops the run at once (QQ Mail and others lock an account after a few
  failed logins: one wrong password must not be tried once per town);
- non-ASCII user names or passwords are sent as UTF-8 (RFC 4616 for PLAIN), which
  smtplib refuses to do;
- a temporary reply (4xx: 421, 450, 451, 452) is retried with growing pauses, only for the
  recipients it concerned, and reported as temporary if it persists;
- a server that cannot be reached, drops the connection or never answers costs at most
  ``timeout`` seconds an attempt, and ``max_unreachable`` attempts in a row stop the run.
"""

from __future__ import annotations

import base64
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path


class SmtpStop(Exception):
    """Nothing more can be sent this run; the message says why and what to do (Chinese)."""


class LetterFailed(Exception):
    """This letter could not be delivered; the next one may be (Chinese message)."""


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    security: str = "starttls"  # ssl | starttls | none
    user: str = ""
    password: str = ""
    timeout: float = 15.0  # seconds for connecting and for each reply
    ca_file: Path | None = None  # a CA or server certificate to trust besides the system's
    verify: bool = True  # False: do not check the server's certificate (opt-in, internal servers)
    retry_delays: tuple[float, ...] = (2.0, 5.0, 15.0)  # pauses before retrying a temporary refusal
    max_unreachable: int = 3  # failed connection attempts in a row that stop the run

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.ca_file:
            try:
                context.load_verify_locations(cafile=str(self.ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise SmtpStop(f"无法读取证书文件 {self.ca_file}（{exc}）：请指定 PEM 格式的 CA 或服务器证书") from None
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def open(self) -> smtplib.SMTP:
        """A connected, secured and logged-in session. Raises SmtpStop for what no retry can
        fix, OSError/SMTPException for what a retry might."""
        context = self.tls_context() if self.security in ("ssl", "starttls") else None
        try:
            server: smtplib.SMTP
            if self.security == "ssl":
                server = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                server = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except ssl.SSLCertVerificationError as exc:
            raise SmtpStop(self._certificate_words(exc)) from None
        except ssl.SSLError as exc:
            raise SmtpStop(
                f"与 {self.address} 建立加密连接失败（{exc.reason or exc}）：端口 465 一般用 --security ssl，"
                f"587 和 25 一般用 starttls，请核对"
            ) from None
        try:
            if self.security == "starttls":
                self._starttls(server, context)
            if self.user:
                self._login(server)
        except BaseException:
            _close(server)
            raise
        return server

    def _starttls(self, server: smtplib.SMTP, context: ssl.SSLContext | None) -> None:
        try:
            server.starttls(context=context)
        except ssl.SSLCertVerificationError as exc:
            raise SmtpStop(self._certificate_words(exc)) from None
        except smtplib.SMTPNotSupportedError:
            raise SmtpStop(
                f"服务器 {self.address} 不支持 STARTTLS 加密：请改用 --security ssl（端口 465），或确认服务器地址"
            ) from None

    def _login(self, server: smtplib.SMTP) -> None:
        try:
            _login(server, self.user, self.password)
        except smtplib.SMTPAuthenticationError as exc:
            raise SmtpStop(f"登录失败：请检查邮箱账号和授权码（不是登录密码）（服务器答复 {exc.smtp_code}）") from None
        except smtplib.SMTPNotSupportedError:
            raise SmtpStop(f"服务器 {self.address} 不提供登录（AUTH）：如果它不需要登录，请去掉 --user") from None
        except smtplib.SMTPResponseException:
            raise  # 4xx/5xx to AUTH itself: the caller decides (temporary or not)
        except smtplib.SMTPException as exc:  # e.g. no authentication method in common
            raise SmtpStop(f"无法登录服务器 {self.address}（{exc}）：请询问邮件服务器管理员支持的登录方式") from None

    def _certificate_words(self, exc: ssl.SSLCertVerificationError) -> str:
        why = _CERTIFICATE_PROBLEMS.get(exc.verify_code, f"证书无效：{exc.verify_message or exc}")
        return (
            f"无法验证服务器 {self.address} 的证书（{why}）：如果是局里自建的邮件服务器，"
            f"请用 --ca-file 指定它的证书；确认网络可信时也可加 --no-verify 跳过验证（不推荐）"
        )


#: OpenSSL's verify codes (x509_vfy.h) a clerk meets, in words
_CERTIFICATE_PROBLEMS = {
    10: "证书已过期",
    9: "证书尚未生效",
    18: "证书是自签名的，不是公认机构签发",
    19: "证书链中有自签名证书，不是公认机构签发",
    20: "证书不是系统认可的机构签发（如局里自建的 CA）",
    21: "证书不是系统认可的机构签发（如局里自建的 CA）",
    62: "证书上的名称与服务器地址不符",
}


def _login(server: smtplib.SMTP, user: str, password: str) -> None:
    """One login attempt with one mechanism, credentials in UTF-8 (RFC 4616). smtplib's own
    login tries every mechanism in turn, so a wrong password counted as several failed
    logins, and it encodes credentials as ASCII only."""
    server.ehlo_or_helo_if_needed()
    if not server.has_extn("auth"):
        raise smtplib.SMTPNotSupportedError("no AUTH")
    methods = server.esmtp_features["auth"].upper().split()
    b64 = lambda data: base64.b64encode(data).decode("ascii")  # noqa: E731
    if "PLAIN" in methods:
        code, reply = server.docmd("AUTH", "PLAIN " + b64(b"\0" + user.encode() + b"\0" + password.encode()))
    elif "LOGIN" in methods:
        code, reply = server.docmd("AUTH", "LOGIN")
        if code == 334:
            code, reply = server.docmd(b64(user.encode()))
        if code == 334:
            code, reply = server.docmd(b64(password.encode()))
    else:
        raise SmtpStop("服务器不支持用账号和授权码登录（AUTH PLAIN/LOGIN）：请确认服务器地址，或询问邮件服务器管理员")
    if code not in (235, 503):  # 503: already authenticated
        if _temporary(code):
            raise smtplib.SMTPResponseException(code, reply)  # 454: try again later
        raise smtplib.SMTPAuthenticationError(code, reply)


def _close(server: smtplib.SMTP) -> None:
    try:
        server.quit()
    except (smtplib.SMTPException, OSError):
        server.close()


def _reply(code: int, text: bytes | str) -> str:
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"服务器答复 {code}：{' '.join(words.split())}"


def _temporary(code: int) -> bool:
    return 400 <= code < 500


@dataclass
class Delivery:
    """How one letter went: to whom it was delivered, and why not to the others."""

    accepted: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # address → Chinese reason


class Session:
    """One connection, reused letter after letter, reopened after a failure."""

    def __init__(self, smtp: Smtp, sleep=time.sleep):
        self.smtp, self.sleep = smtp, sleep
        self.server: smtplib.SMTP | None = None
        self.unreachable = 0  # failed connection attempts in a row

    def send(self, sender: str, recipients: list[str], message: bytes) -> Delivery:
        """Deliver to every recipient it can; a temporary refusal is retried for the
        recipients it concerned. Raises LetterFailed (nobody got it) or SmtpStop."""
        delivery, pending = Delivery(), list(recipients)
        waits = list(self.smtp.retry_delays)
        while pending:
            temporary = self._attempt(sender, pending, message, delivery)
            pending = list(temporary)
            if not pending:
                break
            if not waits:
                for address, reason in temporary.items():
                    delivery.refused[address] = (
                        f"暂时被拒收（{reason}），已重试 {len(self.smtp.retry_delays)} 次："
                        f"请稍后重新运行 qz mail，已送达的不会重发"
                    )
                break
            self.sleep(waits.pop(0))
        if not delivery.accepted:
            raise LetterFailed("；".join(f"{a} {r}" for a, r in delivery.refused.items()))
        return delivery

    def _attempt(self, sender: str, recipients: list[str], message: bytes, delivery: Delivery) -> dict[str, str]:
        """One try; returns the recipients refused for now (address → reply)."""
        try:
            if self.server is None:
                self.server = self.smtp.open()
            refused = self.server.sendmail(sender, recipients, message)
        except smtplib.SMTPRecipientsRefused as exc:  # every recipient refused
            refused = exc.recipients
        except smtplib.SMTPSenderRefused as exc:
            self._drop()
            if _temporary(exc.smtp_code):
                return {r: _reply(exc.smtp_code, exc.smtp_error) for r in recipients}
            raise SmtpStop(
                f"服务器拒绝以 {exc.sender} 的名义发信（{_reply(exc.smtp_code, exc.smtp_error)}）："
                f"请用 --sender 填写与登录账号一致的发件地址"
            ) from None
        except smtplib.SMTPResponseException as exc:  # 4xx/5xx at DATA, or 421 on connecting
            self._drop()
            if _temporary(exc.smtp_code):
                return {r: _reply(exc.smtp_code, exc.smtp_error) for r in recipients}
            raise LetterFailed(f"服务器拒收了这封信（{_reply(exc.smtp_code, exc.smtp_error)}）") from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:  # dropped, timed out, refused, unknown host
            self._drop()
            self.unreachable += 1
            if self.unreachable >= self.smtp.max_unreachable:
                raise SmtpStop(
                    f"邮件服务器 {self.smtp.address} 连续 {self.unreachable} 次无法连接或没有响应"
                    f"（{_network_words(exc, self.smtp.timeout)}）：已停止发送。请检查 --smtp 地址、端口和网络，"
                    f"稍后重新运行 qz mail，已发出的不会重发"
                ) from None
            return {r: _network_words(exc, self.smtp.timeout) for r in recipients}
        except smtplib.SMTPException as exc:  # anything else smtplib says: this letter only
            self._drop()
            raise LetterFailed(f"发送出错（{exc}）") from None
        self.unreachable = 0
        temporary = {}
        for address in recipients:
            if address in refused:
                code, text = refused[address]
                if _temporary(code):
                    temporary[address] = _reply(code, text)
                else:
                    delivery.refused[address] = f"被拒收（{_reply(code, text)}）：请核对该邮箱地址"
            else:
                delivery.accepted.append(address)
        return temporary

    def _drop(self) -> None:
        if self.server is not None:
            _close(self.server)
        self.server = None

    def close(self) -> None:
        self._drop()


def _network_words(exc: BaseException, timeout: float) -> str:
    if isinstance(exc.__context__, OSError):  # smtplib reports a timed-out reply as a disconnection
        exc = exc.__context__
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"{timeout:g} 秒内没有响应"
    if isinstance(exc, ConnectionRefusedError):
        return "连接被拒绝，端口可能不对"
    if isinstance(exc, socket.gaierror):
        return "找不到该服务器，请检查地址和网络"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "服务器断开了连接"
    return f"网络错误：{exc}"


__all__ = ["Smtp", "Session", "Delivery", "SmtpStop", "LetterFailed"]
