"""`qz mail` against a real SMTP server (aiosmtpd on 127.0.0.1): the right workbook to the
right town, Chinese file names that decode, reruns that send nothing, failures contained."""

import socket
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from qz_excel.cli.commands import main
from qz_excel.intake.read import read_meta

TOWNS = {
    "城关镇": "chengguan@example.com",
    "高新技术产业园区管理委员会": "gaoxin@example.com; gx2@example.com",
    "南山街道": "reject@example.com",
    "白沙镇": "",
}


class Recorder:
    """Accepts everything but the addresses it is told to refuse."""

    def __init__(self, refuse):
        self.refuse, self.messages = set(refuse), []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server():
    handler = Recorder({"reject@example.com"})
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


@pytest.fixture
def outbox(tmp_path):
    towns = tmp_path / "towns.csv"
    towns.write_text(
        "单位名称,联系人,邮箱\n" + "".join(f"{t},联系人{k},{m}\n" for k, (t, m) in enumerate(TOWNS.items())),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    assert CliRunner().invoke(main, ["template", "--towns", str(towns), "--out", str(out)]).exit_code == 0
    return out, towns


def send(outbox, towns, port, *extra):
    return CliRunner().invoke(
        main,
        [
            "mail",
            str(outbox),
            "--towns",
            str(towns),
            "--send",
            "--smtp",
            f"127.0.0.1:{port}",
            "--security",
            "none",
            "--sender",
            "bureau@example.com",
            "--deadline",
            "2010年12月25日",
            *extra,
        ],
    )


def attachments(raw):
    msg = message_from_bytes(raw, policy=policy.default)
    return msg, [(part.get_filename(), part.get_content()) for part in msg.iter_attachments()]


def test_each_town_gets_its_own_workbook(server, outbox, tmp_path):
    handler, port = server
    out, towns = outbox
    result = send(out, towns, port)
    assert result.exit_code == 1  # one refused address, one town without an address
    assert "南山街道" in result.output and "550" in result.output
    assert "白沙镇：单位名单中没有邮箱" in result.output
    assert len(handler.messages) == 2
    for rcpt, raw in handler.messages:
        town = next(t for t, m in TOWNS.items() if rcpt[0] in m)
        assert sorted(rcpt) == sorted(a.strip() for a in TOWNS[town].split(";"))
        msg, files = attachments(raw)
        ((name, data),) = files
        assert name == f"2010年质量振兴工作考核填报表_{town}.xlsx"  # the Chinese name decodes
        saved = tmp_path / "received.xlsx"
        saved.write_bytes(data)
        assert read_meta(saved)["town"] == town  # the right workbook, by its metadata
        assert town in msg["Subject"] and "2010年12月25日" in msg.get_body().get_content()
    # the name= parameter is RFC 2047 encoded words, the filename* parameter RFC 2231
    raw = handler.messages[0][1].decode("ascii")
    assert 'name="=?utf-8?b?' in raw and "filename*0*=utf-8''" in raw


def test_rerun_sends_nothing_and_resend_only_changed(server, outbox):
    handler, port = server
    out, towns = outbox
    send(out, towns, port)
    first = len(handler.messages)
    again = send(out, towns, port)
    assert len(handler.messages) == first
    assert "已发送 0" in again.output
    # a changed workbook waits for --resend
    changed = next(p for p in out.glob("*城关镇.xlsx"))
    CliRunner().invoke(main, ["template", "--towns", str(towns), "--out", str(out), "--deadline", "改了"])
    assert "文件已变更" in send(out, towns, port).output
    assert len(handler.messages) == first
    resent = send(out, towns, port, "--resend")
    # every generated workbook changed (new deadline), so both reachable towns get it again
    assert len(handler.messages) == first + 2, resent.output
    assert changed.exists()


def test_dry_run_eml_equals_what_is_sent(server, outbox):
    handler, port = server
    out, towns = outbox
    dry = CliRunner().invoke(
        main,
        ["mail", str(out), "--towns", str(towns), "--deadline", "2010年12月25日", "--sender", "bureau@example.com"],
    )
    assert "演练" in dry.output and not handler.messages
    drafts = {p.stem: p.read_bytes() for p in (out / "mail").glob("*.eml")}
    assert set(drafts) == {"城关镇", "高新技术产业园区管理委员会", "南山街道"}
    send(out, towns, port)
    for rcpt, raw in handler.messages:
        sent_msg, sent_files = attachments(raw)
        town = next(t for t, m in TOWNS.items() if rcpt[0] in m)
        draft_msg, draft_files = attachments(drafts[town])
        assert draft_files == sent_files
        assert draft_msg["Subject"] == sent_msg["Subject"] and draft_msg["To"] == sent_msg["To"]
        assert draft_msg.get_body().get_content() == sent_msg.get_body().get_content()


def test_template_typo_is_an_error_not_a_blank(outbox, tmp_path):
    out, towns = outbox
    custom = tmp_path / "mailtpl"
    custom.mkdir()
    (custom / "subject.txt.j2").write_text("{{ twon }} 的考核表", encoding="utf-8")
    (custom / "body.txt.j2").write_text("{{ town }}", encoding="utf-8")
    result = CliRunner().invoke(main, ["mail", str(out), "--towns", str(towns), "--mail-templates", str(custom)])
    assert result.exit_code == 2 and "twon" in result.output
    assert not (out / "mail").exists()


def test_password_never_on_the_command_line():
    result = CliRunner().invoke(main, ["mail", "--help"])
    assert "--password" not in result.output and "QZ_SMTP_PASSWORD" in result.output


def test_problems_listed_before_sending(server, outbox):
    handler, port = server
    out, _ = outbox
    towns = out.parent / "more-towns.csv"
    towns.write_text(
        "单位名称,邮箱\n城关镇,not-an-address\n双桥镇,sq@example.com\n南山街道,ok@example.com\n", encoding="utf-8"
    )
    result = send(out, towns, port)
    lines = result.output.splitlines()
    assert "城关镇：邮箱格式不正确：not-an-address" in lines[0]
    assert "双桥镇：模板目录中没有该单位的工作簿" in lines[1]
    assert len(handler.messages) == 1 and handler.messages[0][0] == ["ok@example.com"]
