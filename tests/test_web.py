"""`qz web` through real HTTP requests to a real server on 127.0.0.1 (uvicorn in a thread):
the guard (Host, one-time link, cookie, CSRF, Origin, upload limits, downloads only from
the campaign's index) and the pages; then the cycle in a real browser (Debian's chromium
driven by playwright through executable_path)."""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from conftest import REPO, result_digests

from qz_excel.campaign.folder import open_campaign
from qz_excel.cli.commands import main
from qz_excel.web.app import create_app
from qz_excel.web.security import COOKIE, Guard
from qz_excel.web.server import free_port

SAMPLES = REPO / "sample_workbooks"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Running:
    """A campaign's web server on a free port, for as long as the test needs it."""

    def __init__(self, folder: Path):
        import uvicorn

        self.port = free_port()
        self.guard = Guard(self.port)
        self.app = create_app(open_campaign(folder), self.guard, self.stop)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        for _ in range(100):
            if self.server.started:
                break
            time.sleep(0.05)
        self.base = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True

    def session(self) -> httpx.Client:
        """A client that opened the one-time link: it holds the session cookie."""
        client = httpx.Client(base_url=self.base, follow_redirects=False, timeout=30)
        response = client.get(f"/?token={self.guard.token}")
        assert response.status_code == 303 and response.headers["location"] == "/"
        assert COOKIE in response.cookies
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        return client


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


@pytest.fixture
def campaign(tmp_path):
    folder = tmp_path / "2010年考核"
    assert CliRunner().invoke(main, ["init", str(folder), "--towns", str(SAMPLES / "towns.csv")]).exit_code == 0
    assert CliRunner().invoke(main, ["-C", str(folder), "template"]).exit_code == 0
    return folder


@pytest.fixture
def running(campaign):
    server = Running(campaign)
    yield server
    server.stop()
    server.thread.join(timeout=10)


def test_the_guard(running, campaign):
    base = running.base
    # another Host (a DNS-rebinding page) → 400
    assert httpx.get(base + "/", headers={"Host": "evil.example:80"}).status_code == 400
    # no session → 403, with a sentence
    refused = httpx.get(base + "/board")
    assert refused.status_code == 403 and "qz web" in refused.text
    assert httpx.get(base + "/?token=wrong").status_code == 403
    client = running.session()
    # the link is one-time: a second opening is refused
    assert httpx.get(f"{base}/?token={running.guard.token}").status_code == 403
    page = client.get("/board")
    assert page.status_code == 200 and "报送情况" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text  # no inline script anywhere
    # POST without the CSRF token, or from another origin → 403
    assert client.post("/score", data={"pdf": ""}).status_code == 403
    token = csrf_of(page.text)
    assert client.post("/score", data={"csrf": token}, headers={"Origin": "http://evil.example"}).status_code == 403
    # an upload over the limit → 413, nothing written
    huge = b"x" * (51 * 1024 * 1024)
    assert client.post("/upload", data={"csrf": token}, files={"files": ("大.xlsx", huge)}).status_code == 413
    assert not any((campaign / "收件箱").iterdir())
    # downloads come only from the campaign's index: a path never reaches the disk
    assert client.get("/files/..%2F..%2Fqz.toml").status_code == 404
    assert client.get("/files/../qz.toml").status_code == 404
    assert client.get("/static/../../qz.toml").status_code == 404


def test_a_second_qz_web_on_the_same_campaign_is_refused(running, campaign):
    from qz_excel.web.server import LOCK_NAME, _claim

    _claim(open_campaign(campaign), running.port)  # this process holds the campaign now
    other = os.fork()
    if other == 0:  # a second process, as a second `qz web` would be
        from qz_excel.web.server import WebBusy

        try:
            _claim(open_campaign(campaign), 1234)
        except WebBusy:
            os._exit(0)
        os._exit(1)
    _, status = os.waitpid(other, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    (campaign / LOCK_NAME).unlink()


def test_pages_upload_score_and_download_as_the_cli_does(running, campaign, tmp_path):
    client = running.session()
    home = client.get("/")
    assert home.status_code == 200 and "本年度" in home.text and "单位名单" in home.text
    token = csrf_of(home.text)
    files = [("files", (p.name, p.read_bytes())) for p in sorted((SAMPLES / "returned").iterdir())]
    upload = client.post("/upload", data={"csrf": token}, files=files)
    assert upload.status_code == 303 and "已存入收件箱" in httpx.URL(upload.headers["location"]).params["msg"]
    assert len(list((campaign / "收件箱").iterdir())) == 9
    # the same folder scored by the CLI, for comparison
    twin = tmp_path / "命令行"
    shutil.copytree(campaign, twin, ignore=shutil.ignore_patterns(".qz-web.json"))
    assert CliRunner().invoke(main, ["-C", str(twin), "score"]).exit_code == 1

    started = client.post("/score", data={"csrf": token})
    assert started.status_code == 303 and started.headers["location"] == "/job"
    for _ in range(600):
        progress = client.get("/job/progress").text
        if "评分完成" in progress or "出错" in progress:
            break
        time.sleep(0.1)
    assert "评分完成：9 个单位参加排名，1 个未报送，1 个需要修改。" in progress
    assert result_digests(campaign / "结果") == result_digests(twin / "结果")  # one implementation

    board = client.get("/board").text
    assert "双桥镇" in board and "未报送" in board and "城关镇质量考核（已填）.xlsx" in board
    waiting = client.get("/board", params={"status": "待核实"}).text
    assert "东港街道" in waiting and "城关镇质量考核" not in waiting
    ranking = client.get("/ranking").text
    assert "汇总排名" in ranking and "城关镇" in ranking
    link = re.search(r'<a href="(/files/[0-9a-f]+)">汇总.xlsx</a>', ranking).group(1)
    assert client.get(link).content == (campaign / "结果" / "汇总.xlsx").read_bytes()
    town = client.get("/town/东港街道").text
    assert "东港街道" in town and "问题" in town and "修改通知（反馈）" in town
    assert client.get("/town/不存在镇").status_code == 404


def wait_for_job(client: httpx.Client, words: str) -> str:
    for _ in range(600):
        progress = client.get("/job/progress").text
        if words in progress or "出错" in progress:
            return progress
        time.sleep(0.1)
    return progress


def test_towns_templates_and_settings_pages(running, campaign, tmp_path):
    import io
    import zipfile

    client = running.session()
    towns = client.get("/towns").text
    assert "单位名单.csv" in towns and towns.count("example.com") == 10
    token = csrf_of(towns)
    # a list without a name column is refused with the reader's sentence; nothing changes
    bad = client.post(
        "/towns", data={"csrf": token}, files={"towns": ("新名单.csv", "名字,邮箱\n甲,a@b.cn\n".encode())}
    )
    assert "没有换" in httpx.URL(bad.headers["location"]).params["msg"]
    assert (campaign / "单位名单.csv").exists()
    # a good one replaces it; the old list is kept beside it
    good = "单位名称,邮箱\n城关镇,a@b.cn\n新城镇,\n".encode()
    client.post("/towns", data={"csrf": token}, files={"towns": ("新名单.csv", good)})
    assert (campaign / "单位名单.csv").read_bytes() == good and (campaign / "单位名单（旧）.csv").exists()
    assert "新城镇" in client.get("/towns").text and "没有邮箱的单位 1 个：新城镇" in client.get("/towns").text

    started = client.post("/templates", data={"csrf": token, "deadline": "2010年12月20日", "contact": "王科长"})
    assert started.headers["location"] == "/job"
    assert "已生成 2 份填报表" in wait_for_job(client, "已生成")
    listed = client.get("/templates").text
    assert "新城镇" in listed  # (the other towns' templates of the old list stay: nothing is deleted)
    archive = zipfile.ZipFile(io.BytesIO(client.get("/templates/all.zip").content))
    assert sorted(archive.namelist()) == sorted(p.name for p in (campaign / "模板").glob("*.xlsx"))
    # the same templates as `qz template` makes in the same campaign: byte for byte
    twin = tmp_path / "命令行"
    shutil.copytree(campaign, twin, ignore=shutil.ignore_patterns(".qz-web.json"))
    for path in (twin / "模板").glob("*.xlsx"):
        path.unlink()
    args = ["-C", str(twin), "template", "--deadline", "2010年12月20日", "--contact", "王科长"]
    assert CliRunner().invoke(main, args).exit_code == 0
    made = sorted((twin / "模板").glob("*.xlsx"))
    assert len(made) == 2
    for path in made:
        assert (campaign / "模板" / path.name).read_bytes() == path.read_bytes(), path.name
    settings = client.get("/settings").text
    assert "qz.toml" in settings and "year = 2010" in settings
    # the form writes qz.toml in place (comments kept) and refuses what does not fit
    form = {"csrf": csrf_of(settings), "maker": "县局", "mail.smtp": "smtp.qq.com:465", "deadline": "2010/12/20"}
    assert client.post("/settings", data=form).status_code == 303
    text = (campaign / "qz.toml").read_text(encoding="utf-8")
    assert 'maker = "县局"' in text and 'smtp = "smtp.qq.com:465"' in text and 'deadline = "2010-12-20"' in text
    assert "# 制表单位" in text  # the comments stay
    refused = client.post("/settings", data={**form, "mail.security": "tls"})
    assert refused.status_code == 422 and "starttls" in refused.text
    assert 'security = "tls"' not in (campaign / "qz.toml").read_text(encoding="utf-8")


def test_a_cancelled_score_leaves_the_results_as_they_were(running, campaign, big_inbox):
    inbox, towns_csv, _ = big_inbox
    for path in inbox.iterdir():
        shutil.copy(path, campaign / "收件箱" / path.name)
    shutil.copy(towns_csv, campaign / "单位名单.csv")
    client = running.session()
    token = csrf_of(client.get("/score").text)
    client.post("/score", data={"csrf": token})
    assert client.post("/job/cancel", data={"csrf": token}).status_code == 303
    outcome = wait_for_job(client, "已取消")
    assert "已取消：结果目录仍是上一次的完整结果" in outcome, outcome
    assert not any(p.name != ".qz-lock" for p in (campaign / "结果").iterdir())  # nothing half-written
    again = client.post("/score", data={"csrf": token})  # and the next run works
    assert again.status_code == 303 and "评分完成：120 个单位参加排名" in wait_for_job(client, "评分完成")


def test_sending_from_the_page_to_a_real_smtp_server(running, campaign, smtp_server):
    """发送: the dry run as a table, a letter to read, then a real send to aiosmtpd with
    the password typed in the page; nothing goes twice."""
    handler, smtp_port = smtp_server
    settings = campaign / "qz.toml"
    text = settings.read_text(encoding="utf-8")
    section = text[text.index("[mail]") : text.index("[mailbox]")]
    filled = section.replace('smtp = ""', f'smtp = "127.0.0.1:{smtp_port}"').replace(
        'security = ""', 'security = "none"'
    )
    settings.write_text(
        text.replace(section, filled.replace('sender = ""', 'sender = "bureau@example.cn"')), encoding="utf-8"
    )
    # (the server reads qz.toml again when it changes: no restart)
    client = running.session()
    page = client.get("/mail").text
    assert "演练（还没有发出）：共 10 封下发邮件" in page and "shuangqiao@example.com" in page
    letter = client.get("/mail/letter", params={"kind": "下发", "town": "城关镇"}).text
    assert "城关镇" in letter and "填报表" in letter
    token = csrf_of(page)
    assert client.post("/mail/send", data={"csrf": token, "kind": "下发", "password": ""}).headers["location"] == "/job"
    outcome = wait_for_job(client, "已发送")
    assert "已发送 10 封下发邮件" in outcome, outcome
    assert len(handler.messages) == 10
    assert not re.search(r"(?im)^\s*\w*password\w*\s*=", (campaign / "qz.toml").read_text(encoding="utf-8"))
    again = client.get("/mail").text
    assert again.count("已发送过（跳过）") == 10  # a rerun sends nothing twice


def test_review_entered_in_the_page(running, campaign):
    """核定 in the page: a wrong entry is refused with its reason and nothing is written; the
    right ones go into 结果/核定表.xlsx and the town becomes 已核定, the ranking 核定."""
    for path in (SAMPLES / "returned").iterdir():
        shutil.copy(path, campaign / "收件箱" / path.name)
    client = running.session()
    token = csrf_of(client.get("/score").text)
    client.post("/score", data={"csrf": token})
    assert "评分完成" in wait_for_job(client, "评分完成")
    page = client.get("/review").text
    assert "东港街道" in page and "未填写" in page
    fields = dict(re.findall(r'name="((?:town|code)_\d+)" value="([^"]*)"', page))
    row_of = {(fields[f"town_{k}"], fields[f"code_{k}"]): k for k in range(len(fields) // 2)}
    fixes = {
        "r1_annual_plan": "是",
        "r3_credit_eval_rate": "0.5",
        "r7_liaison": "是",
        "r10_trainings": "2",
        "r9_units_in_ledger": "40",
    }
    base = {"csrf": token, "rows": str(len(row_of))} | {key: value for key, value in fields.items()}
    wrong = dict(base)
    k = row_of[("东港街道", "r10_trainings")]
    wrong |= {f"value_{k}": "两次", f"reason_{k}": "签到表", f"who_{k}": "李明"}
    refused = client.post("/review", data=wrong)
    assert refused.status_code == 422 and "不是数量" in refused.text
    entered = dict(base)
    for code, value in fixes.items():
        k = row_of[("东港街道", code)]
        entered |= {f"value_{k}": value, f"reason_{k}": "查看原始记录", f"who_{k}": "考核组"}
    assert client.post("/review", data=entered).headers["location"] == "/job"
    assert "核定完成：采用核定值 5 个" in wait_for_job(client, "核定完成")
    assert "已核定" in client.get("/board", params={"status": "已核定"}).text
    ranking = client.get("/ranking").text
    assert "汇总排名（核定）" in ranking and ranking.count("<meter") == 9  # 总分图: a bar per ranked town
    assert "已采用的核定值（5）" in client.get("/review").text
    town = client.get("/town/东港街道").text
    assert "各项得分" in town and "1 组织领导" in town


def test_a_filled_review_table_uploaded(running, campaign, tmp_path):
    """The 考核组 filled the 核定表 in Excel and saved it under another name: uploaded, it is
    applied as `qz score --review 文件` applies it; a file that is no 核定表 is refused."""
    import openpyxl

    for path in (SAMPLES / "returned").iterdir():
        shutil.copy(path, campaign / "收件箱" / path.name)
    client = running.session()
    token = csrf_of(client.get("/score").text)
    client.post("/score", data={"csrf": token})
    assert "评分完成" in wait_for_job(client, "评分完成")
    book = openpyxl.load_workbook(campaign / "结果" / "核定表.xlsx")
    sheet = book["核定"]
    header = [c.value for c in sheet[1]]
    at = {name: header.index(name) for name in ("单位名称", "指标代码", "核定值", "核定理由", "核定人")}
    for row in sheet.iter_rows(min_row=2):
        if (row[at["单位名称"]].value, row[at["指标代码"]].value) == ("城关镇", "r1_meetings"):
            row[at["核定值"]].value, row[at["核定理由"]].value, row[at["核定人"]].value = 1, "会议记录仅1次", "王科长"
    filled = tmp_path / "考核组改过的.xlsx"
    book.save(filled)
    not_a_table = client.post("/review/upload", data={"csrf": token}, files={"table": ("名单.csv", b"a,b\n")})
    assert (
        "不是" in httpx.URL(not_a_table.headers["location"]).params["msg"]
        or "无法读取" in httpx.URL(not_a_table.headers["location"]).params["msg"]
    )
    sent = client.post("/review/upload", data={"csrf": token}, files={"table": (filled.name, filled.read_bytes())})
    assert sent.headers["location"] == "/job"
    assert "核定完成：采用核定值 1 个" in wait_for_job(client, "核定完成")
    assert "会议记录仅1次" in client.get("/review").text


def test_qz_web_outside_a_campaign_offers_to_make_one(tmp_path):
    """`qz web 2011年考核` for a folder not made yet: the first page makes it, then the year's
    pages follow in the same server; 关闭 ends the command."""
    import subprocess
    import sys

    target = tmp_path / "2011年考核"
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "qz_excel", "web", str(target), "--no-browser", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = [process.stdout.readline() for _ in range(2)]
        link = next(re.search(r"http://\S+", line).group(0) for line in lines if "http://" in line)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        assert client.get(link.replace(f"http://127.0.0.1:{port}", "")).status_code == 303
        setup = client.get("/").text
        assert "新建考核年度工作目录" in setup and 'value="2011年考核"' in setup
        made = client.post(
            "/create",
            data={"csrf": csrf_of(setup), "name": "2011年考核", "rules": "2010", "maker": "县局"},
            files={"towns": ("名单.csv", (SAMPLES / "towns.csv").read_bytes())},
        )
        assert made.status_code == 303, made.text
        assert (target / "qz.toml").is_file() and (target / "单位名单.csv").is_file()
        home = client.get("/").text
        assert "本年度" in home and "10 个单位" in home  # the session goes on in the new campaign
        client.post("/close", data={"csrf": csrf_of(home)})
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
