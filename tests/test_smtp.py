"""`qz mail` against real SMTP servers on 127.0.0.1: aiosmtpd with STARTTLS or implicit TLS
(a CA and certificate made in the test by trustme), AUTH required, 451 replies; raw
sockets for a server that drops the connection and one that never answers."""

from __future__ import annotations

import socket
import ssl
import threading
import time

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from click.testing import CliRunner
from test_mail import Recorder, free_port

from qz_excel.cli.commands import main
from qz_excel.mail.letters import split_addresses
from qz_excel.mail.smtp import LetterFailed, Session, Smtp, SmtpStop

# the implicit-TLS server is encrypted although aiosmtpd cannot tell (see tls_server)
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

USER, PASSWORD = "bureau@example.com", "授权码-Ü-2010"  # not ASCII: sent as UTF-8
TOWNS = {
    "城关镇": "chengguan@example.com",
    "南山街道": "张三 <nanshan@example.com>",
    "白沙镇": "baisha@example.com；bs2@example.com",
    "青石镇": "张三",
    "东港街道": "donggang@example.com",
}


class Authenticator:
    def __init__(self):
        self.attempts = 0

    def __call__(self, server, session, envelope, mechanism, auth_data):
        self.attempts += 1
        ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
        return AuthResult(success=ok, handled=False)  # handled=True would mean "I replied myself"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """The bureau's own CA, unknown to the system, and the server's certificate from it."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    ca_file = tmp_path_factory.mktemp("ca") / "bureau-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return server_context, ca_file


def tls_server(certificates, implicit: bool):
    handler, auth = Recorder(()), Authenticator()
    context, _ = certificates
    # aiosmtpd cannot tell that an implicit-TLS connection is encrypted: it would never
    # offer AUTH there if it required TLS for it
    tls = (
        {"ssl_context": context, "auth_require_tls": False}
        if implicit
        else {"tls_context": context, "require_starttls": True}
    )
    controller = Controller(
        handler, hostname="127.0.0.1", port=free_port(), auth_required=True, authenticator=auth, **tls
    )
    controller.start()
    return controller, handler, auth


@pytest.fixture(params=["starttls", "ssl"])
def secure_server(request, certificates):
    controller, handler, auth = tls_server(certificates, implicit=request.param == "ssl")
    yield request.param, controller.port, handler, auth
    controller.stop()


@pytest.fixture(scope="module")
def outbox(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("outbox")
    towns = tmp / "towns.csv"
    towns.write_text("单位名称,联系人,邮箱\n" + "".join(f"{t},某人,{m}\n" for t, m in TOWNS.items()), encoding="utf-8")
    out = tmp / "out"
    assert CliRunner().invoke(main, ["template", "--towns", str(towns), "--out", str(out)]).exit_code == 0
    return out, towns


def mail(outbox, port, security, *extra, password=PASSWORD):
    out, towns = outbox
    (out / "mail" / "sent-log.jsonl").unlink(missing_ok=True)
    env = {"QZ_SMTP_PASSWORD": password} if password else {}
    return CliRunner(env=env).invoke(
        main,
        [
            "mail",
            str(out),
            "--towns",
            str(towns),
            "--send",
            "--smtp",
            f"127.0.0.1:{port}",
            "--security",
            security,
            "--user",
            USER,
            "--timeout",
            "5",
            *extra,
        ],
    )


def test_the_bureaus_own_ca_is_trusted_when_given(secure_server, outbox, certificates):
    security, port, handler, auth = secure_server
    result = mail(outbox, port, security, "--ca-file", str(certificates[1]))
    assert result.exit_code == 1, result.output  # 青石镇's 邮箱 is a name, not an address
    assert sorted(r for rcpt, _ in handler.messages for r in rcpt) == sorted(
        [
            "chengguan@example.com",
            "nanshan@example.com",
            "baisha@example.com",
            "bs2@example.com",
            "donggang@example.com",
        ]
    )
    assert auth.attempts == 1  # one login for the whole run
    assert "青石镇：邮箱格式不正确：张三；“邮箱”列只填地址" in result.output


def test_an_unknown_certificate_stops_with_a_chinese_sentence(secure_server, outbox):
    security, port, handler, auth = secure_server
    result = mail(outbox, port, security)
    assert result.exit_code == 3
    assert "无法验证服务器" in result.output and "--ca-file" in result.output and "--no-verify" in result.output
    assert "不是系统认可的机构签发" in result.output
    assert "CERTIFICATE_VERIFY_FAILED" not in result.output and "Traceback" not in result.output
    assert handler.messages == [] and auth.attempts == 0  # the password never left


def test_no_verify_is_an_explicit_choice(secure_server, outbox):
    security, port, handler, _ = secure_server
    assert mail(outbox, port, security, "--no-verify").exit_code == 1
    assert len(handler.messages) == 4


def test_a_wrong_password_stops_after_one_login(secure_server, outbox, certificates):
    security, port, handler, auth = secure_server
    result = mail(outbox, port, security, "--ca-file", str(certificates[1]), password="wrong")
    assert result.exit_code == 3
    assert "登录失败：请检查邮箱账号和授权码（不是登录密码）" in result.output, result.output[-600:]
    assert auth.attempts == 1 and handler.messages == []
    assert "未发送 4 个单位" in result.output
    # the closing tally counts the four the stop left unsent and the one with a bad address
    assert "已发送 0，跳过 0（其中文件有变更 0），失败 0，未发送 5；" in result.output


def test_no_password_without_a_terminal_is_a_sentence_not_a_prompt(outbox, certificates):
    out, towns = outbox
    result = CliRunner().invoke(
        main, ["mail", str(out), "--towns", str(towns), "--send", "--smtp", "127.0.0.1:9", "--user", USER]
    )
    assert result.exit_code == 2
    assert "没有发信邮箱的授权码：请先设置环境变量 QZ_SMTP_PASSWORD" in result.output
    assert "Aborted" not in result.output and "Warning" not in result.output


@pytest.mark.parametrize(
    "text, good, bad",
    [
        ("张三 <a@b.cn>", ["a@b.cn"], []),
        ("张三＜a@b.cn＞；李四 <c@d.cn>", ["a@b.cn", "c@d.cn"], []),
        ("a@b.cn, c@d.cn  e@f.cn", ["a@b.cn", "c@d.cn", "e@f.cn"], []),
        ("ａ＠ｂ.ｃｎ", ["a@b.cn"], []),
        ("张三", [], ["张三"]),
        ("张三 a@b.cn", ["a@b.cn"], ["张三"]),
        ("", [], []),
    ],
)
def test_addresses_in_a_cell(text, good, bad):
    assert split_addresses(text) == (good, bad)


# -- the library's session against misbehaving servers -----------------------------------

FAST = {"retry_delays": (0.05, 0.05, 0.05), "timeout": 1.0, "security": "none"}


class Flaky(Recorder):
    """451 for an address until it has been refused ``times`` times; 451 for ever for
    addresses starting with "busy"."""

    def __init__(self, times: int):
        super().__init__(())
        self.times, self.refusals = times, {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        count = self.refusals.get(address, 0)
        if address.startswith("busy") or count < self.times:
            self.refusals[address] = count + 1
            return "451 4.7.1 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def flaky():
    handler = Flaky(times=2)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


def test_a_temporary_refusal_is_retried_for_its_recipients_only(flaky):
    handler, port = flaky
    session = Session(Smtp("127.0.0.1", port, **FAST))
    try:
        delivery = session.send("bureau@example.com", ["town@example.com", "busy@example.com"], b"Subject: x\r\n\r\nx")
        assert delivery.accepted == ["town@example.com"]
        assert "暂时被拒收" in delivery.refused["busy@example.com"] and "451" in delivery.refused["busy@example.com"]
        assert handler.refusals == {"town@example.com": 2, "busy@example.com": 4}  # 1 try + 3 retries
        assert len(handler.messages) == 1  # delivered once, not once per try
        with pytest.raises(LetterFailed, match="暂时被拒收"):
            session.send("bureau@example.com", ["busy2@example.com"], b"Subject: x\r\n\r\nx")
    finally:
        session.close()


class RawServer:
    """A TCP server on 127.0.0.1 that either closes each connection at once or holds it
    and never says a word."""

    def __init__(self, behaviour: str):
        self.behaviour, self.connections = behaviour, 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.port, self.held, self.running = self.sock.getsockname()[1], [], True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            if self.behaviour == "drop":
                conn.close()
            else:
                self.held.append(conn)

    def stop(self):
        self.running = False
        self.thread.join()
        for conn in self.held:
            conn.close()
        self.sock.close()


@pytest.mark.parametrize("behaviour, words", [("drop", "服务器断开了连接"), ("silent", "1 秒内没有响应")])
def test_an_unreachable_server_stops_the_run_soon(behaviour, words):
    server = RawServer(behaviour)
    session = Session(Smtp("127.0.0.1", server.port, **FAST))
    started = time.monotonic()
    try:
        with pytest.raises(SmtpStop) as stop:
            for _ in range(5):  # five towns' letters
                session.send("bureau@example.com", ["town@example.com"], b"Subject: x\r\n\r\nx")
    finally:
        session.close()
        server.stop()
    assert f"连续 3 次无法连接或没有响应（{words}）" in str(stop.value)
    assert server.connections == 3
    assert time.monotonic() - started < 3 * FAST["timeout"] + 2  # not 30 s a town


def test_an_unreachable_server_through_the_command(outbox):
    server = RawServer("drop")
    try:
        result = mail(outbox, server.port, "none", password="")
    finally:
        server.stop()
    assert result.exit_code in (2, 3)
    out, towns = outbox
    result = CliRunner(env={"QZ_SMTP_PASSWORD": "x"}).invoke(
        main,
        [
            "mail",
            str(out),
            "--towns",
            str(towns),
            "--send",
            "--smtp",
            "127.0.0.1:1",
            "--security",
            "none",
            "--sender",
            USER,
            "--timeout",
            "1",
        ],
    )
    assert result.exit_code == 3
    assert "无法连接或没有响应（连接被拒绝，端口可能不对）" in result.output and "Traceback" not in result.output
