"""`qz fetch` against a real IMAP server (Dovecot): replies as Outlook, Foxmail and web mail
write them become files in the inbox, a second fetch saves nothing, the mailbox is
unchanged, and every message that brought no usable workbook is named with what to ask."""

from __future__ import annotations

import base64
import io
import socket
import threading
import time
import zipfile
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr
from urllib.parse import quote

import pytest
from _dovecot import PASSWORD, USER, Dovecot, dovecot_binary, must_run_in_ci
from click.testing import CliRunner
from conftest import REPO

from qz_excel.cli.commands import main
from qz_excel.intake.read import FETCH_LOG

SAMPLES = REPO / "sample_workbooks"
RETURNED = SAMPLES / "returned"

if dovecot_binary() is None and not must_run_in_ci():
    pytest.skip("Dovecot is needed (.ci/run installs it)", allow_module_level=True)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    import trustme

    folder = tmp_path_factory.mktemp("certs")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(str(folder / "server.pem"))
    return folder / "ca.pem", folder / "server.pem"


@pytest.fixture(scope="module")
def server(certificates):
    dovecot = Dovecot(certificates)
    yield dovecot
    dovecot.stop()


def letter(sender: str, subject: str, *parts) -> MIMEMultipart:
    message = MIMEMultipart()
    message["From"] = sender
    message["To"] = USER
    message["Subject"] = subject
    message["Message-ID"] = f"<{abs(hash((sender, subject)))}@{sender.split('@')[1]}>"
    message.attach(MIMEText("附件是我单位的填报表，请查收。", "plain", "utf-8"))
    for part in parts:
        message.attach(part)
    return message


def attachment(data: bytes, disposition: str) -> MIMEApplication:
    part = MIMEApplication(data, "octet-stream")
    part.add_header("Content-Disposition", "attachment")
    part.replace_header("Content-Disposition", disposition)
    return part


def outlook_gbk(name: str) -> str:
    """Outlook: an RFC 2047 word inside the quotes, labelled GB2312, bytes in GBK."""
    return f'attachment; filename="=?GB2312?B?{base64.b64encode(name.encode("gbk")).decode()}?="'


def rfc2231(name: str, charset: str) -> str:
    return f"attachment; filename*={charset}''{quote(name.encode(charset))}"


class _GbkName(zipfile.ZipInfo):
    """A member name as Windows' built-in zip writes it in China: GBK bytes, no UTF-8 flag."""

    def _encodeFilenameFlags(self):  # noqa: N802 — zipfile's own hook
        return self.filename.encode("gbk"), self.flag_bits


def zipped(members: dict[str, bytes], utf8: bool) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name) if utf8 else _GbkName(name), data)
    return buffer.getvalue()


def hostile_workbook() -> bytes:
    """Looks like an .xlsx; its workbook part declares an entity (billion laughs)."""
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><workbook>&a;</workbook>'
    return zipped({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": bomb}, utf8=True)


def read(name: str) -> bytes:
    return (RETURNED / name).read_bytes()


def replies() -> list[bytes]:
    """The mailbox after a round of `qz mail --send`: replies as real mail clients write them."""
    mails = [
        letter(
            formataddr(("张明", "chengguan@example.com"), "gbk"),
            "城关镇报表",
            attachment(read("城关镇质量考核（已填）.xlsx"), outlook_gbk("城关镇质量考核（已填）.xlsx")),
        ),
        letter(
            "qingshi@example.com",
            "青石镇",
            attachment(read("2010年质量振兴考核填报表_青石镇.xlsx"), rfc2231("青石镇填报表.xlsx", "utf-8")),
        ),
        letter(
            "baisha@example.com", "白沙镇", attachment(read("baisha.xlsx"), rfc2231("白沙镇（修改后）.xlsx", "gbk"))
        ),
        letter(
            "linhe@example.com",
            "臨河鎮",
            attachment(
                read("临河镇.xlsx"),
                f'attachment; filename="=?big5?B?{base64.b64encode("臨河鎮.xlsx".encode("big5")).decode()}?="',
            ),
        ),
        letter(
            "nanshan@example.com",
            "南山街道（压缩包）",
            attachment(
                zipped({"南山街道填报表.xlsx": read("南山街道-质量振兴.xlsx")}, utf8=False),
                rfc2231("南山街道.zip", "utf-8"),
            ),
        ),
        letter("beihu@example.com", "北湖街道", attachment(read("北湖街道.xlsx"), rfc2231("北湖街道.xlsx", "utf-8"))),
        letter(
            "beihu@example.com",
            "北湖街道（再发一次）",
            attachment(read("北湖街道.xlsx"), rfc2231("北湖街道.xlsx", "utf-8")),
        ),
        letter("donggang@example.com", "东港街道的表（忘了附件）"),
        letter("stranger@other.cn", "开发区转来的表", attachment(read("开发区.xlsx"), rfc2231("开发区.xlsx", "utf-8"))),
        letter(
            "gaoxin@example.com", "高新园区", attachment(read("高新园区质量考核.xlsx"), 'attachment; filename="报表"')
        ),
        letter(
            "shuangqiao@example.com",
            "双桥镇",
            attachment(b"Rar!\x1a\x07\x00" + b"\x00" * 64, rfc2231("双桥镇.rar", "utf-8")),
        ),
        letter(
            "shuangqiao@example.com",
            "双桥镇（Outlook）",
            attachment(b"\x78\x9f\x3e\x22" + b"\x00" * 64, 'attachment; filename="winmail.dat"'),
        ),
        letter(
            "chengguan@example.com", "城关镇另一份", attachment(hostile_workbook(), rfc2231("城关镇2.xlsx", "utf-8"))
        ),
    ]
    raws = [m.as_bytes() for m in mails]
    # a message whose MIME is broken: a multipart that never closes, an attachment that is no base64
    broken = (
        b"From: gaoxin@example.com\r\nTo: clerk@bureau.cn\r\nSubject: broken\r\nMessage-ID: <broken@example.com>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="XX"\r\n\r\n--XX\r\n'
        b'Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="a.xlsx"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n%%%% not base64 %%%%\r\n"
    )
    return [*raws, broken]


def fetch(*args, inbox, port, security="ssl", ca=None, password=PASSWORD):
    return CliRunner().invoke(
        main,
        [
            "fetch",
            "--imap",
            f"127.0.0.1:{port}",
            "--security",
            security,
            "--user",
            USER,
            "--inbox",
            str(inbox),
            "--towns",
            str(SAMPLES / "towns.csv"),
            "--since",
            "2000-01-01",
            *(["--ca-file", str(ca)] if ca else []),
            *args,
        ],
        env={"QZ_IMAP_PASSWORD": password},
    )


@pytest.fixture
def mailbox(server):
    server.clear()
    for raw in replies():
        server.append(raw)
    return server


def test_replies_become_files_once_and_the_mailbox_is_unchanged(mailbox, certificates, tmp_path):
    inbox = tmp_path / "收件箱"
    before = mailbox.snapshot()
    result = fetch(inbox=inbox, port=mailbox.implicit, ca=certificates[0])
    assert result.exit_code == 1, result.output  # some replies need a word with their town
    saved = sorted(p.name for p in inbox.iterdir() if p.name != FETCH_LOG)
    day = time.strftime("%Y%m%d")
    assert saved == sorted(
        [
            f"{day}_城关镇_城关镇质量考核（已填）.xlsx",  # Outlook, GB2312-labelled GBK in RFC 2047
            f"{day}_青石镇_青石镇填报表.xlsx",  # RFC 2231 UTF-8
            f"{day}_白沙镇_白沙镇（修改后）.xlsx",  # RFC 2231 GBK
            f"{day}_临河镇_臨河鎮.xlsx",  # Big5
            f"{day}_南山街道_南山街道填报表.xlsx",  # from a .zip with GBK member names
            f"{day}_北湖街道_北湖街道.xlsx",  # sent twice, saved once
            f"{day}_stranger_开发区.xlsx",  # an unknown sender: saved, named by the address
            f"{day}_高新技术产业园区_报表.xlsx",  # no extension: a workbook by its content
        ]
    ), result.output
    assert (inbox / f"{day}_北湖街道_北湖街道.xlsx").read_bytes() == read("北湖街道.xlsx")
    out = result.output
    assert "东港街道" in out and "有来信但没有附件，请补发" in out
    assert "双桥镇.rar" in out and "请改发 .xlsx 或 .zip" in out
    assert "winmail.dat" in out
    assert "城关镇2.xlsx" in out and "不能安全打开" in out  # refused before it was written
    assert "邮件无法读取" in out or "附件中没有工作簿" in out  # the broken message, listed
    assert "stranger@other.cn" in out and "不在单位名单上" in out
    assert "收到 14 封来信，8 个工作簿已存入收件箱" in out and "重复发来的 1 个文件只存了一次" in out
    assert "qz score" in out
    assert mailbox.snapshot() == before  # EXAMINE and BODY.PEEK: nothing changed, no flag set

    again = fetch(inbox=inbox, port=mailbox.implicit, ca=certificates[0])
    assert again.exit_code == 0, again.output
    assert "收到 0 封来信，0 个工作簿已存入收件箱" in again.output
    assert sorted(p.name for p in inbox.iterdir() if p.name != FETCH_LOG) == saved
    # the files fetched are what qz score reads: every returned town scored
    scored = CliRunner().invoke(
        main, ["score", str(inbox), "--towns", str(SAMPLES / "towns.csv"), "--out", str(tmp_path / "结果")]
    )
    assert "已评分" in scored.output and "北湖街道" in scored.output and FETCH_LOG not in scored.output


def test_starttls_and_a_new_reply(mailbox, certificates, tmp_path):
    inbox = tmp_path / "收件箱"
    assert fetch(inbox=inbox, port=mailbox.starttls, security="starttls", ca=certificates[0]).exit_code == 1
    from qz_excel.rules.ruleset import load_rules
    from qz_excel.template.samples import GOOD
    from qz_excel.template.writer import TemplateOptions, write_template

    filled = write_template(load_rules(2010), "双桥镇", tmp_path / "双桥镇.xlsx", TemplateOptions(), prefill=GOOD)
    reply = letter(
        "shuangqiao@example.com", "双桥镇补发", attachment(filled.read_bytes(), rfc2231("双桥镇.xlsx", "utf-8"))
    )
    mailbox.append(reply.as_bytes())
    result = fetch(inbox=inbox, port=mailbox.starttls, security="starttls", ca=certificates[0])
    assert "收到 1 封来信，1 个工作簿已存入收件箱" in result.output, result.output


def test_a_wrong_password_is_one_attempt(mailbox, certificates, tmp_path):
    result = fetch(inbox=tmp_path / "i", port=mailbox.implicit, ca=certificates[0], password="wrong")
    assert result.exit_code == 3 and "登录失败" in result.output and "只试了这一次" in result.output
    assert not (tmp_path / "i" / FETCH_LOG).exists()


def test_a_folder_that_does_not_exist_is_named(mailbox, certificates, tmp_path):
    result = fetch("--folder", "回件", inbox=tmp_path / "i", port=mailbox.implicit, ca=certificates[0])
    assert result.exit_code == 3 and "没有“回件”这个文件夹" in result.output and "INBOX" in result.output


def test_an_untrusted_certificate_stops_with_a_sentence(mailbox, tmp_path):
    result = fetch(inbox=tmp_path / "i", port=mailbox.implicit)
    assert result.exit_code == 3 and "证书不被信任" in result.output and "--ca-file" in result.output


def test_a_server_that_is_not_imap(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def smtp_like():
        conn, _ = listener.accept()
        conn.sendall(b"220 mail.example.cn ESMTP ready\r\n")
        time.sleep(0.5)
        conn.close()

    threading.Thread(target=smtp_like, daemon=True).start()
    result = fetch(inbox=tmp_path / "i", port=listener.getsockname()[1], security="none")
    listener.close()
    assert result.exit_code == 3 and "不是收信（IMAP）服务器" in result.output, result.output


class DroppingProxy:
    """A TCP relay to the server that cuts its first connection once a few kilobytes have
    gone to the client: a connection dropped mid-fetch, as a flaky network does it."""

    def __init__(self, port: int, cut_after: int):
        self.target, self.cut_after, self.connections = port, cut_after, 0
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(5)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(("127.0.0.1", self.target))
            limit = self.cut_after if self.connections == 1 else None
            threading.Thread(target=self._pipe, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, limit), daemon=True).start()

    @staticmethod
    def _pipe(source, sink, limit):
        sent = 0
        try:
            while data := source.recv(4096):
                sink.sendall(data)
                sent += len(data)
                if limit is not None and sent > limit:
                    break
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def test_a_dropped_connection_resumes_where_it_stopped(mailbox, certificates, tmp_path):
    proxy = DroppingProxy(mailbox.implicit, cut_after=60_000)
    inbox = tmp_path / "收件箱"
    result = fetch(inbox=inbox, port=proxy.port, ca=certificates[0])
    assert proxy.connections >= 2, result.output  # it was cut, and reconnected
    assert "收到 14 封来信，8 个工作簿已存入收件箱" in result.output, result.output
    log = (inbox / FETCH_LOG).read_text(encoding="utf-8").splitlines()
    assert len(log) == 14  # each message once, nothing lost, nothing twice


def fill_mailbox(folder, port: int) -> None:
    """qz.toml's [mailbox] as a clerk fills it in for the test server."""
    settings = folder / "qz.toml"
    text = settings.read_text(encoding="utf-8")
    section = text[text.index("[mailbox]") : text.index("[last_year]")]
    filled = (
        section.replace('imap = ""', f'imap = "127.0.0.1:{port}"')
        .replace('security = ""', 'security = "ssl"')
        .replace('user = ""', f'user = "{USER}"')
    )
    settings.write_text(text.replace(section, filled), encoding="utf-8")


def test_inside_a_campaign_with_no_options(mailbox, certificates, tmp_path):
    folder = tmp_path / "2010年考核"
    assert CliRunner().invoke(main, ["init", str(folder), "--towns", str(SAMPLES / "towns.csv")]).exit_code == 0
    fill_mailbox(folder, mailbox.implicit)
    result = CliRunner().invoke(
        main,
        ["-C", str(folder), "fetch", "--ca-file", str(certificates[0]), "--since", "2000-01-01", "--score"],
        env={"QZ_IMAP_PASSWORD": PASSWORD},
    )
    assert "8 个工作簿已存入收件箱" in result.output, result.output
    assert (folder / "结果" / "汇总.xlsx").exists()  # --score ran qz score on the campaign


def test_fetch_from_the_web_page(mailbox, certificates, tmp_path):
    """收取回件 on the board: the same fetch, with the password typed in the page."""
    import ssl

    from test_web import Running, csrf_of, wait_for_job

    folder = tmp_path / "2010年考核"
    assert CliRunner().invoke(main, ["init", str(folder), "--towns", str(SAMPLES / "towns.csv")]).exit_code == 0
    assert CliRunner().invoke(main, ["-C", str(folder), "template"]).exit_code == 0
    fill_mailbox(folder, mailbox.implicit)
    # the test CA is trusted the way a bureau installs its own CA: system-wide for this process
    os_default = ssl.create_default_context

    def trusting(*args, **kwargs):
        context = os_default(*args, **kwargs)
        context.load_verify_locations(cafile=str(certificates[0]))
        return context

    ssl.create_default_context = trusting
    server = Running(folder)
    try:
        client = server.session()
        token = csrf_of(client.get("/board").text)
        assert client.post("/fetch", data={"csrf": token, "password": PASSWORD}).headers["location"] == "/job"
        outcome = wait_for_job(client, "已存入收件箱")
        assert "8 个工作簿已存入收件箱" in outcome, outcome
        assert "有来信但没有附件，请补发" in outcome
    finally:
        ssl.create_default_context = os_default
        server.stop()
