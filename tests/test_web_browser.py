"""The whole year in a real browser: Debian's chromium driven by playwright through
``executable_path`` (never `playwright install`), against `qz web` on 127.0.0.1, a real
SMTP server (aiosmtpd) behind the 发送 page."""

from __future__ import annotations

import os
import shutil

import pytest
from click.testing import CliRunner
from conftest import REPO
from test_web import CHROMIUM, SAMPLES, Running

from qz_excel.cli.commands import main
from qz_excel.rules.ruleset import load_rules

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="Debian's chromium is needed (.ci/run installs it)"
)


FIXES = {
    "r1_annual_plan": "是",
    "r3_credit_eval_rate": "0.5",
    "r7_liaison": "是",
    "r10_trainings": "2",
    "r9_units_in_ledger": "40",
}


def test_the_whole_year_in_a_real_browser(tmp_path, smtp_server):
    """A clerk who never opens a terminal after `qz web`: towns list → templates → the
    letters' dry run → a real send → returned files dropped in → score → the board's
    counts → 汇总.xlsx downloaded (the same bytes as `qz score`) → a 核定 entered in the
    page → the town 已核定 → the ranking's 核定 title → 关闭. Every page photographed."""
    from playwright.sync_api import expect, sync_playwright

    handler, smtp_port = smtp_server
    campaign = tmp_path / "2010年考核"
    assert CliRunner().invoke(main, ["init", str(campaign)]).exit_code == 0  # a blank towns list
    running = Running(campaign)
    # QZ_DOCS_SCREENSHOTS=1 redraws the README's pictures; otherwise they go to a tmp folder
    shots = REPO / "docs" / "web" if os.environ.get("QZ_DOCS_SCREENSHOTS") else tmp_path / "shots"
    shots.mkdir(exist_ok=True)
    labels = {code: ind.label for code, ind in load_rules(2010).catalog.items()}
    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[*flags, "--lang=zh-CN"])
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True)
            nav = page.get_by_role("navigation")

            def goto(name: str, shot: str) -> None:
                nav.get_by_role("link", name=name, exact=True).click()
                page.get_by_role("heading", name=name).first.wait_for()
                page.screenshot(path=str(shots / f"{shot}.png"), full_page=True)

            page.goto(running.guard.link)
            assert page.url == running.base + "/"  # the token left the address bar
            page.get_by_text("下一步").wait_for()

            goto("设置", "settings")  # the mail server, typed in the page, not in Notepad
            page.get_by_label("发信服务器（主机:端口）").fill(f"127.0.0.1:{smtp_port}")
            page.get_by_label("发信加密方式").fill("none")
            page.get_by_label("发件人邮箱").fill("bureau@example.cn")
            page.get_by_label("制表单位").fill("县质量技术监督局")
            page.get_by_role("button", name="保存设置").click()
            page.get_by_text("设置已保存").wait_for()

            goto("单位名单", "towns")
            page.set_input_files('input[name="towns"]', str(SAMPLES / "towns.csv"))
            page.get_by_role("button", name="更换名单").click()
            page.get_by_text("单位名单已更换").wait_for()
            expect(page.locator("table tbody tr")).to_have_count(10)

            goto("填报表", "templates")
            page.get_by_label("报送截止日期").fill("2010年12月20日")
            page.get_by_role("button", name="生成各单位的填报表").click()
            page.get_by_text("已生成 10 份填报表").wait_for(timeout=60_000)

            goto("发送", "mail")
            page.get_by_text("演练（还没有发出）：共 10 封下发邮件").wait_for()
            page.get_by_role("link", name="看信").first.click()
            page.get_by_text("2010年12月20日").first.wait_for()  # the deadline is in the letter
            page.go_back()
            page.get_by_role("button", name="发送", exact=True).click()
            page.get_by_text("已发送 10 封下发邮件").wait_for(timeout=60_000)
            assert len(handler.messages) == 10

            goto("报送情况", "board-empty")
            page.set_input_files('input[name="files"]', [str(x) for x in sorted((SAMPLES / "returned").iterdir())])
            page.get_by_role("button", name="存入收件箱").click()
            page.get_by_text("已存入收件箱 9 个文件").wait_for()
            twin = tmp_path / "命令行"  # the same folder, to be scored by `qz score`
            shutil.copytree(campaign, twin, ignore=shutil.ignore_patterns(".qz-web.json"))

            goto("评分", "score")
            page.get_by_role("button", name="开始评分").click()
            page.get_by_text("评分完成").wait_for(timeout=120_000)  # htmx polls the progress
            page.screenshot(path=str(shots / "job.png"), full_page=True)

            goto("报送情况", "board")
            expect(page.locator("tr.status-未报送")).to_have_count(1)
            counts = page.locator("ul.counts").inner_text().split()
            assert counts[counts.index("已报送") + 1] == "9" and counts[counts.index("未报送") + 1] == "1"

            goto("排名", "ranking")
            with page.expect_download() as download:
                page.get_by_role("link", name="汇总.xlsx").click()
            downloaded = tmp_path / "下载的汇总.xlsx"
            download.value.save_as(downloaded)
            assert CliRunner().invoke(main, ["-C", str(twin), "score"]).exit_code == 1
            assert downloaded.read_bytes() == (twin / "结果" / "汇总.xlsx").read_bytes()

            goto("核定", "review")
            for code, value in FIXES.items():
                row = f"东港街道 {labels[code]}"
                page.get_by_label(f"{row} 核定值").fill(value)
                page.get_by_label(f"{row} 核定理由").fill("查看原始记录")
                page.get_by_label(f"{row} 核定人").fill("考核组")
            page.get_by_role("button", name="保存并重新评分").click()
            page.get_by_text("核定完成：采用核定值 5 个").wait_for(timeout=120_000)

            nav.get_by_role("link", name="报送情况").click()
            page.get_by_role("link", name="已核定", exact=True).click()
            expect(page.locator("table.towns tbody tr")).to_have_count(1)
            assert "东港街道" in page.locator("table.towns").inner_text()
            nav.get_by_role("link", name="排名").click()
            page.get_by_role("heading", name="汇总排名（核定）").wait_for()
            page.get_by_role("link", name="东港街道").first.click()
            page.get_by_role("heading", name="东港街道").wait_for()
            page.screenshot(path=str(shots / "town.png"), full_page=True)
            goto("本年度", "home")
            page.get_by_role("button", name="关闭").click()
            page.get_by_text("qz web 已关闭").wait_for()
            browser.close()
        running.thread.join(timeout=10)
        assert not running.thread.is_alive()  # the page's 关闭 stopped the server
    finally:
        running.stop()
