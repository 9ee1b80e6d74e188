"""`qz status` (进度): where the year's work stands, from what is on disk — the towns list,
the send log, the inbox and the last results — with no network.

One row per town (template sent, file returned, problems, 反馈 sent, status, total and
rank), the counts a clerk asks for each morning (谁还没报？谁要改？核定到哪了？), and the
next things to do as exact commands. The web board shows the same :class:`Status`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from qz_excel.campaign.folder import Campaign
from qz_excel.common.files import safe_file_stem
from qz_excel.followup.reminders import FEEDBACK_DIR, SUMMARY_NAME, summary_sheets
from qz_excel.mail.letters import CORRECTION, LOG_NAME, MAIL_DIR, REMINDER, TEMPLATE

NOT_RETURNED = "未报送"
COUNTS = ("单位", "已发模板", "已报送", "未报送", "需修改", "已发修改通知", "已核定", "待核实")
COLUMNS = ("单位名称", "模板发送", "报回文件", "报回日期", "问题", "修改通知", "状态", "总分", "排名")


@dataclass
class TownRow:
    town: str
    template_sent: str = ""  # date the template was delivered
    file: str = ""  # the returned file the last results used
    returned_on: str = ""
    problems: int = 0
    correction_sent: str = ""
    status: str = NOT_RETURNED
    total: object = None
    rank: object = None

    def cells(self) -> tuple:
        return (
            self.town,
            self.template_sent,
            self.file,
            self.returned_on,
            self.problems or "",
            self.correction_sent,
            self.status,
            "" if self.total is None else self.total,
            "" if self.rank is None else self.rank,
        )


@dataclass
class Status:
    rows: list[TownRow]
    counts: dict[str, int]
    scored_at: str = ""  # when the last results were written ("" when never)
    unscored_files: list[str] = field(default_factory=list)  # in the inbox, newer than the results
    next_steps: list[tuple[str, str]] = field(default_factory=list)  # (what, the command)


def _send_log(campaign: Campaign) -> dict[tuple[str, str], str]:
    """(kind, town) → the date of its last delivery."""
    path = campaign.templates / MAIL_DIR / LOG_NAME
    sent: dict[tuple[str, str], str] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                entry = json.loads(line)
                sent[(entry.get("kind", TEMPLATE), entry["town"])] = entry.get("sent_at", "")[:10]
    return sent


def _day(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d")


def _results(campaign: Campaign) -> tuple[dict, dict, dict, set[str], str]:
    """From the last 汇总.xlsx: ranking rows, files used, problem counts by town, towns
    with a 反馈 workbook, and when it was written."""
    summary = campaign.results / SUMMARY_NAME
    if not summary.is_file():
        return {}, {}, {}, set(), ""
    sheets = summary_sheets(campaign.results, ("汇总排名", "文件清单", "问题清单"))
    ranking = {r["单位名称"]: r for r in sheets["汇总排名"]}
    used = {r["单位名称"]: r["文件"] for r in sheets["文件清单"] if r.get("状态") == "已评分"}
    problems: dict[str, int] = {}
    for r in sheets["问题清单"]:
        if r.get("单位名称") and r.get("问题代码") != "NOT_RETURNED":
            problems[r["单位名称"]] = problems.get(r["单位名称"], 0) + 1
    feedback = {p.stem for p in (campaign.results / FEEDBACK_DIR).glob("*.xlsx")}
    return ranking, used, problems, feedback, datetime.fromtimestamp(summary.stat().st_mtime).strftime("%Y-%m-%d %H:%M")


def campaign_status(campaign: Campaign, towns: list[str]) -> Status:
    sent = _send_log(campaign)
    ranking, used, problems, feedback, scored_at = _results(campaign)
    rows = []
    for town in towns:
        row = TownRow(town, template_sent=sent.get((TEMPLATE, town), ""))
        ranked = ranking.get(town)
        if ranked:
            row.status = ranked.get("状态") or NOT_RETURNED
            row.total = _points(ranked.get("总分"))
            row.rank = int(ranked["排名"]) if ranked.get("排名") not in ("", None) else None
        if town in used:
            row.file = used[town]
            path = campaign.inbox / used[town]
            row.returned_on = _day(path) if path.is_file() else ""
        row.problems = problems.get(town, 0)
        row.correction_sent = sent.get((CORRECTION, town), "")
        rows.append(row)
    needs_fix = {r.town for r in rows if safe_file_stem(r.town) in feedback}
    counts = {
        "单位": len(rows),
        "已发模板": sum(bool(r.template_sent) for r in rows),
        "已报送": sum(r.status != NOT_RETURNED for r in rows),
        "未报送": sum(r.status == NOT_RETURNED for r in rows),
        "需修改": len(needs_fix),
        "已发修改通知": sum(bool(r.correction_sent) for r in rows if r.town in needs_fix),
        "已核定": sum(r.status == "已核定" for r in rows),
        "待核实": sum(r.status == "待核实" for r in rows),
    }
    results_time = (campaign.results / SUMMARY_NAME).stat().st_mtime if scored_at else 0.0
    unscored = (
        sorted(
            p.name
            for p in campaign.inbox.glob("*")
            if p.is_file() and not p.name.startswith(".") and p.stat().st_mtime > results_time
        )
        if campaign.inbox.is_dir()
        else []
    )
    status = Status(rows, counts, scored_at, unscored)
    status.next_steps = _next_steps(campaign, status, sent, needs_fix)
    return status


def _points(value: object) -> object:
    """A total as the ranking shows it: 117, 82.93 (calamine reads every number as float)."""
    if value in ("", None):
        return None
    number = float(value)  # type: ignore[arg-type]
    return int(number) if number.is_integer() else round(number, 2)


def _next_steps(campaign: Campaign, status: Status, sent: dict, needs_fix: set[str]) -> list[tuple[str, str]]:
    counts, steps = status.counts, []
    has_templates = any(campaign.templates.glob("*.xlsx"))
    if not has_templates:
        return [("生成各单位的填报表", "qz template")]
    if counts["已发模板"] < counts["单位"]:
        steps.append(
            (f"还有 {counts['单位'] - counts['已发模板']} 个单位没有发出模板：先演练，看过草稿再发送", "qz mail")
        )
        steps.append(("确认草稿无误后发送", "qz mail --send"))
    if campaign.settings.mailbox.imap and counts["未报送"]:
        steps.append(("从局里的邮箱收取各单位的回件（只读）", "qz fetch"))
    if status.unscored_files or not status.scored_at:
        what = f"收件箱里有 {len(status.unscored_files)} 个新文件未评分" if status.unscored_files else "还没有评过分"
        steps.append((what, "qz score"))
    if status.scored_at and counts["未报送"]:
        steps.append((f"催报 {counts['未报送']} 个未报送的单位（先演练，再加 --send）", "qz mail --remind"))
    unsent = [t for t in needs_fix if not sent.get((CORRECTION, t))]
    if unsent:
        steps.append((f"给 {len(unsent)} 个单位发修改通知（先演练，再加 --send）", "qz mail --corrections"))
    if counts["待核实"]:
        steps.append(
            (
                f"{counts['待核实']} 个单位待核实：考核组填写 结果/核定表.xlsx 的核定值、理由、核定人后重新评分",
                "qz score --review",
            )
        )
    if not steps:
        steps.append(("各单位均已报送并核定：打印结果（加 --pdf 生成 PDF 和打印汇编）", "qz score --pdf"))
    return steps


__all__ = ["COLUMNS", "COUNTS", "REMINDER", "Status", "TownRow", "campaign_status"]
