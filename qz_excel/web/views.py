"""The pages, in the clerk's words. Each view reads the campaign through the library and
renders a template; actions are plain HTML forms posted back here."""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse, Response

from qz_excel.campaign.folder import Campaign
from qz_excel.campaign.status import COUNTS, campaign_status
from qz_excel.common.files import atomic_write_bytes, safe_file_stem, unique_path
from qz_excel.common.towns import read_towns
from qz_excel.followup.reminders import SUMMARY_NAME, summary_sheets
from qz_excel.intake.safety import LIMITS
from qz_excel.web.jobs import Jobs

#: folders of the campaign whose files the pages offer for download
DOWNLOADS = ("结果", "模板")


def file_index(campaign: Campaign) -> dict[str, Path]:
    """Download key → file: only files found under the campaign's results and templates,
    so no path from a request ever reaches the disk."""
    index = {}
    for folder in (campaign.results, campaign.templates):
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.is_file() and not any(part.startswith(".") for part in path.relative_to(campaign.root).parts):
                    relative = path.relative_to(campaign.root).as_posix()
                    index[hashlib.sha256(relative.encode()).hexdigest()[:16]] = path
    return index


def link_of(campaign: Campaign, path: Path) -> str:
    relative = path.relative_to(campaign.root).as_posix()
    return "/files/" + hashlib.sha256(relative.encode()).hexdigest()[:16]


def started(jobs: Jobs, kind: str, work) -> Response:
    """The job started and its progress page, or the page saying another job runs."""
    if jobs.start(kind, work) is None:
        return RedirectResponse(f"/job?msg={quote('另一项工作正在进行，请等它结束')}", status_code=303)
    return RedirectResponse("/job", status_code=303)


class Views:
    def __init__(self, campaign: Campaign, templates, jobs: Jobs, shutdown):
        self.templates, self.jobs, self.shutdown = templates, jobs, shutdown
        self._campaign, self._read_at = campaign, self._mtime(campaign)

    @staticmethod
    def _mtime(campaign: Campaign) -> float:
        return campaign.settings_file.stat().st_mtime_ns if campaign.settings_file.exists() else 0

    @property
    def campaign(self) -> Campaign:
        """The campaign as qz.toml says now: the clerk may edit it while the server runs."""
        if self._mtime(self._campaign) != self._read_at:
            from qz_excel.campaign.folder import open_campaign

            self._campaign = open_campaign(self._campaign.root)
            self._read_at = self._mtime(self._campaign)
        return self._campaign

    @campaign.setter
    def campaign(self, campaign: Campaign) -> None:
        self._campaign, self._read_at = campaign, self._mtime(campaign)

    def page(self, request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
        body = self.templates.get_template(name).render(
            csrf=request.state.csrf,
            year=self.campaign.settings.year,
            job=self.jobs.current,
            message=request.query_params.get("msg", ""),
            path=request.url.path,
            **context,
        )
        return HTMLResponse(body, status_code=status_code)

    def _status(self):
        towns = read_towns(self.campaign.towns_file)
        return campaign_status(self.campaign, list(towns["单位名称"]))

    async def home(self, request: Request) -> Response:
        """本年度: the cycle as a checklist, each step's state, and what to do next."""
        state = self._status()
        counts = state.counts
        steps = [
            ("单位名单", f"{counts['单位']} 个单位", counts["单位"] > 0),
            (
                "填报表",
                "已生成" if any(self.campaign.templates.glob("*.xlsx")) else "未生成",
                any(self.campaign.templates.glob("*.xlsx")),
            ),
            ("发送模板", f"已发 {counts['已发模板']} / {counts['单位']}", counts["已发模板"] == counts["单位"]),
            (
                "报送",
                f"已报送 {counts['已报送']}，未报送 {counts['未报送']}",
                counts["未报送"] == 0 and bool(state.scored_at),
            ),
            (
                "评分",
                f"最近一次：{state.scored_at}" if state.scored_at else "还没有评分",
                bool(state.scored_at) and not state.unscored_files,
            ),
            (
                "修改与催报",
                f"需修改 {counts['需修改']}，已发修改通知 {counts['已发修改通知']}",
                bool(state.scored_at) and counts["需修改"] == 0,
            ),
            (
                "核定",
                f"已核定 {counts['已核定']}，待核实 {counts['待核实']}",
                counts["待核实"] == 0 and bool(state.scored_at),
            ),
        ]
        return self.page(request, "home.html", steps=steps, state=state, counts=[(k, counts[k]) for k in COUNTS])

    async def board(self, request: Request) -> Response:
        """报送情况: counts, a row per town, filters, the drop zone for returned files."""
        state = self._status()
        wanted = request.query_params.get("status", "")
        rows = [r for r in state.rows if not wanted or r.status == wanted]
        return self.page(
            request,
            "board.html",
            state=state,
            rows=rows,
            wanted=wanted,
            counts=[(k, state.counts[k]) for k in COUNTS],
            filters=["", "正常", "待核实", "已核定", "未报送"],
        )

    async def upload(self, request: Request) -> Response:
        """Returned files dropped in the page: saved into the inbox under cleaned, unique
        names, each within intake's size limit; nothing is overwritten."""
        form = request.state.form
        inbox = self.campaign.inbox
        inbox.mkdir(exist_ok=True)
        taken = {p.name for p in inbox.iterdir()}
        saved, refused = [], []
        for upload in form.getlist("files"):
            if not getattr(upload, "filename", None):
                continue
            data = await upload.read(LIMITS.file_bytes + 1)
            if len(data) > LIMITS.file_bytes:
                refused.append(f"{upload.filename}（超过 {LIMITS.file_bytes // 1024 // 1024} MB）")
                continue
            name = Path(upload.filename.replace("\\", "/")).name
            stem, suffix = Path(name).stem, Path(name).suffix.lower()[:10]
            path = unique_path(inbox, safe_file_stem(stem or "回件"), suffix, taken)
            atomic_write_bytes(path, data)
            saved.append(path.name)
        if refused and not saved:
            return PlainTextResponse("没有保存：" + "、".join(refused), status_code=413)
        text = f"已存入收件箱 {len(saved)} 个文件" + (f"；未保存：{'、'.join(refused)}" if refused else "")
        return RedirectResponse(f"/board?msg={quote(text)}", status_code=303)

    async def score_page(self, request: Request) -> Response:
        return self.page(request, "score.html")

    async def start_score(self, request: Request) -> Response:
        from qz_excel.campaign.scoring import CampaignScore, score_campaign

        form = request.state.form
        choice = CampaignScore(
            strict=bool(form.get("strict")), pdf=bool(form.get("pdf")), review=bool(form.get("review"))
        )

        def work(progress):
            report = score_campaign(self.campaign, choice, progress)
            returned = int(report.summary["排名"].notna().sum())
            words = f"评分完成：{returned} 个单位参加排名，{len(report.not_returned)} 个未报送，{len(report.requests)} 个需要修改。"
            return words, report

        return started(self.jobs, "评分", work)

    async def job_page(self, request: Request) -> Response:
        return self.page(request, "job.html")

    async def job_progress(self, request: Request) -> Response:
        return self.page(request, "_progress.html")

    async def cancel(self, request: Request) -> Response:
        self.jobs.cancel()
        return RedirectResponse("/job", status_code=303)

    async def ranking(self, request: Request) -> Response:
        """排名: 汇总排名 as a page, with the downloads of the printed results."""
        sheets = summary_sheets(self.campaign.results, ("汇总排名", "核定记录"))
        rows = sheets["汇总排名"]
        columns = list(rows[0]) if rows else []
        stage = "（核定）" if sheets["核定记录"] else "（初评）"
        # 总分图 as the page shows it: a bar per town, on one scale
        scored = [r for r in rows if isinstance(r.get("总分"), (int, float))]
        top = max((float(r["总分"]) for r in scored), default=0) or 1
        chart = [(r["单位名称"], r["总分"], top) for r in scored]
        results = self.campaign.results
        downloads = [
            (name, link_of(self.campaign, path))
            for name, path in (
                ("汇总.xlsx", results / SUMMARY_NAME),
                ("核定表.xlsx", results / "核定表.xlsx"),
                ("汇总排名.pdf", results / "pdf" / "汇总排名.pdf"),
                ("评分细则汇编.pdf", results / "pdf" / "评分细则汇编.pdf"),
            )
            if path.is_file()
        ]
        return self.page(
            request, "ranking.html", rows=rows, columns=columns, downloads=downloads, stage=stage, chart=chart
        )

    async def town(self, request: Request) -> Response:
        """One town: its problems with sheet, cell and how to fix, its scores, its changes,
        its 评分细则 and 反馈."""
        town = request.path_params["town"]
        known = set(read_towns(self.campaign.towns_file)["单位名称"])
        if town not in known:
            return PlainTextResponse("名单中没有这个单位", status_code=404)
        sheets = summary_sheets(self.campaign.results, ("汇总排名", "问题清单", "变更记录"))
        ranking = next((r for r in sheets["汇总排名"] if r.get("单位名称") == town), None)
        problems = [r for r in sheets["问题清单"] if r.get("单位名称") == town]
        changes = [r for r in sheets["变更记录"] if r.get("单位名称") == town]
        stem = safe_file_stem(town)
        files = [
            (label, link_of(self.campaign, path))
            for label, path in (
                ("评分细则", self.campaign.results / "评分细则" / f"{stem}.xlsx"),
                ("修改通知（反馈）", self.campaign.results / "反馈" / f"{stem}.xlsx"),
            )
            if path.is_file()
        ]
        items = [(name, value) for name, value in (ranking or {}).items() if name[:1].isdigit()]
        return self.page(
            request,
            "town.html",
            town=town,
            ranking=ranking,
            items=items,
            problems=problems,
            changes=changes,
            files=files,
        )

    async def download(self, request: Request) -> Response:
        path = file_index(self.campaign).get(request.path_params["key"])
        if path is None:
            return PlainTextResponse("没有这个文件", status_code=404)
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return FileResponse(path, media_type=kind, filename=path.name)

    async def close(self, request: Request) -> Response:
        self.shutdown()
        return self.page(request, "closed.html")


class MorePages:
    """单位名单, 填报表 and 设置: the steps before the towns return their workbooks."""

    def __init__(self, views: Views):
        self.views = views

    @property
    def campaign(self) -> Campaign:
        return self.views.campaign

    async def towns(self, request: Request) -> Response:
        """单位名单: the parsed table, the notes on how it was read, towns without 邮箱."""
        from qz_excel.common.towns import TownsError

        try:
            towns = read_towns(self.campaign.towns_file)
            error = ""
        except TownsError as exc:
            towns, error = None, str(exc)
        rows = [] if towns is None else towns.to_dict("records")
        no_mail = [r["单位名称"] for r in rows if not str(r.get("邮箱", "")).strip()]
        notes = [] if towns is None else towns.attrs.get("notes", [])
        return self.views.page(
            request,
            "towns.html",
            rows=rows,
            notes=notes,
            no_mail=no_mail,
            error=error,
            file=self.campaign.towns_file.name,
        )

    async def replace_towns(self, request: Request) -> Response:
        """A new towns list replaces the campaign's: checked first, the old one kept beside it."""
        import tempfile

        from qz_excel.common.towns import TownsError

        upload = request.state.form.get("towns")
        if not getattr(upload, "filename", None):
            return RedirectResponse(f"/towns?msg={quote('请选择名单文件')}", status_code=303)
        suffix = Path(upload.filename).suffix.lower()
        if suffix not in (".csv", ".xlsx", ".xls"):
            return RedirectResponse(f"/towns?msg={quote('名单要是 .csv、.xlsx 或 .xls 文件')}", status_code=303)
        data = await upload.read(LIMITS.file_bytes + 1)
        with tempfile.TemporaryDirectory() as folder:
            trial = Path(folder) / f"名单{suffix}"
            trial.write_bytes(data)
            try:
                read_towns(trial)
            except TownsError as exc:
                return RedirectResponse(
                    f"/towns?msg={quote('没有换：' + str(exc).replace(str(trial), upload.filename))}", status_code=303
                )
        current = self.campaign.towns_file
        if current.exists():  # nothing is lost: the old list stays beside the new one
            kept = unique_path(current.parent, f"{current.stem}（旧）", current.suffix, set())
            current.rename(kept)
        target = current.with_suffix(suffix)
        atomic_write_bytes(target, data)
        if target != current:
            from qz_excel.campaign.settings import set_settings

            set_settings(self.campaign.settings_file, {("", "towns"): target.name})
        return RedirectResponse(f"/towns?msg={quote('单位名单已更换')}", status_code=303)

    async def templates(self, request: Request) -> Response:
        """填报表: 截止日期 and 联系人, 生成, download one or all."""
        books = sorted(self.campaign.templates.glob("*.xlsx"))
        links = [(p.name, link_of(self.campaign, p)) for p in books]
        settings = self.campaign.settings
        return self.views.page(
            request, "templates.html", links=links, deadline=settings.deadline_text, contact=settings.contact
        )

    async def make_templates(self, request: Request) -> Response:
        from qz_excel.campaign.making import template_options
        from qz_excel.campaign.settings import parse_date, set_settings
        from qz_excel.rules.ruleset import load_rules
        from qz_excel.template.writer import write_templates

        form = request.state.form
        deadline, contact = str(form.get("deadline", "")).strip(), str(form.get("contact", "")).strip()
        try:
            day = parse_date(deadline)
        except ValueError as exc:
            return RedirectResponse(f"/templates?msg={quote(str(exc))}", status_code=303)
        # kept in qz.toml: the letters and the next templates say the same
        set_settings(
            self.campaign.settings_file, {("", "deadline"): day.isoformat() if day else "", ("", "contact"): contact}
        )
        deadline = f"{day.year}年{day.month}月{day.day}日" if day else ""

        def work(progress):
            rules = load_rules(self.campaign.rules)
            towns = read_towns(self.campaign.towns_file)
            options = template_options(self.campaign, deadline, contact)
            with progress("生成填报表", len(towns)) as bar:
                paths = write_templates(rules, towns, self.campaign.templates, options, progress=bar.update)
            return f"已生成 {len(paths)} 份填报表。", paths

        return started(self.views.jobs, "生成填报表", work)

    async def templates_zip(self, request: Request) -> Response:
        """Every template in one .zip (UTF-8 names, which Windows' own unzip reads)."""
        import io
        import zipfile

        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(self.campaign.templates.glob("*.xlsx")):
                archive.write(path, path.name)
        name = quote(f"{self.campaign.settings.year}年填报表.zip")
        return Response(
            buffer.getvalue(),
            media_type="application/zip",
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"},
        )

    async def settings(self, request: Request, problems: list[str] | None = None, status_code: int = 200) -> Response:
        """设置: the campaign's settings as a form (qz.toml, comments kept), and the file."""
        from qz_excel.campaign.settings import EDITABLE

        current = self.campaign.settings.model_dump()
        fields = []
        for (section, key), label in EDITABLE.items():
            value = (current.get(section) or {}).get(key) if section else current.get(key)
            if key == "deadline":
                value = self.campaign.settings.deadline_text
            fields.append((f"{section}.{key}" if section else key, label, "" if value is None else str(value)))
        text = self.campaign.settings_file.read_text(encoding="utf-8")
        return self.views.page(
            request,
            "settings.html",
            status_code=status_code,
            fields=fields,
            text=text,
            file=str(self.campaign.settings_file),
            problems=problems or [],
        )

    async def save_settings(self, request: Request) -> Response:
        """The form written into qz.toml; refused whole when a value does not fit (a bad
        date, an unknown 加密方式), with the reason."""
        from qz_excel.campaign.settings import EDITABLE, SettingsError, parse_date, set_settings

        form = request.state.form
        values = {}
        for section, key in EDITABLE:
            name = f"{section}.{key}" if section else key
            value = str(form.get(name, "")).strip()
            if key == "deadline" and value:
                try:
                    value = parse_date(value).isoformat()  # type: ignore[union-attr]
                except ValueError as exc:
                    return await self.settings(request, [str(exc)], status_code=422)
            values[(section, key)] = value
        try:
            set_settings(self.campaign.settings_file, values)
        except SettingsError as exc:
            return await self.settings(request, exc.problems, status_code=422)
        return RedirectResponse(f"/settings?msg={quote('设置已保存')}", status_code=303)


class MailPages:
    """发送: each kind of letter as a dry run (who gets what, who cannot be reached, each
    letter readable), then sent with the password typed here (kept in memory for that send
    only), with each town's result."""

    def __init__(self, views: Views):
        self.views = views

    @property
    def campaign(self) -> Campaign:
        return self.views.campaign

    def _kind(self, request: Request) -> str:
        from qz_excel.campaign.mailing import KINDS

        kind = request.query_params.get("kind") or str(getattr(request.state, "form", {}).get("kind", "")) or KINDS[0]
        return kind if kind in KINDS else KINDS[0]

    async def mail(self, request: Request) -> Response:
        from qz_excel.campaign.mailing import KINDS, campaign_plan
        from qz_excel.followup.reminders import ResultsError

        kind = self._kind(request)
        try:
            plan, log = campaign_plan(self.campaign, kind)
            error = ""
        except (ResultsError, FileNotFoundError) as exc:
            plan, log, error = None, None, str(exc)
        settings = self.campaign.settings.mail
        return self.views.page(
            request,
            "mail.html",
            kind=kind,
            kinds=KINDS,
            plan=plan,
            error=error,
            smtp=settings.smtp,
            sender=settings.sender or settings.user,
            log=log.path.name if log else "",
        )

    async def letter(self, request: Request) -> Response:
        from qz_excel.campaign.mailing import campaign_plan

        plan, _ = campaign_plan(self.campaign, self._kind(request))
        town = request.query_params.get("town", "")
        for letter in plan.letters:
            if letter.town == town:
                return self.views.page(request, "letter.html", letter=letter, kind=self._kind(request))
        return PlainTextResponse("没有给这个单位的信", status_code=404)

    async def send(self, request: Request) -> Response:
        from qz_excel.campaign.mailing import campaign_plan, send_campaign

        kind = self._kind(request)
        password = str(request.state.form.get("password", ""))

        def work(progress):
            plan, _ = campaign_plan(self.campaign, kind)
            ready = sum(letter.status == "待发送" for letter in plan.letters)
            with progress(f"发送{kind}", ready) as bar:
                plan, stopped = send_campaign(self.campaign, kind, password, progress=lambda _letter: bar.update(1))
            lines = [
                f"{letter.town}：{letter.status}{'（' + letter.detail + '）' if letter.detail else ''}"
                for letter in plan.letters
            ]
            sent = sum(letter.status == "已发送" for letter in plan.letters)
            head = f"已发送 {sent} 封{kind}邮件" + (f"；发送中断：{stopped}" if stopped else "。")
            return head + "\n" + "\n".join(lines), plan

        return started(self.views.jobs, f"发送{kind}", work)


class ReviewPages:
    """核定: the rows to check first, 核定值 / 核定理由 / 核定人 entered here (checked as the
    核定表 is checked), written into 结果/核定表.xlsx, then rescored as `qz score --review`."""

    def __init__(self, views: Views):
        self.views = views

    @property
    def campaign(self) -> Campaign:
        return self.views.campaign

    async def review(self, request: Request, problems: list[str] | None = None, status_code: int = 200) -> Response:
        from qz_excel.campaign.reviewing import rows_to_check

        try:
            rows, error = rows_to_check(self.campaign), ""
        except FileNotFoundError as exc:
            rows, error = [], str(exc)
        sheets = summary_sheets(self.campaign.results, ("核定记录", "问题清单"))
        applied = sheets["核定记录"]
        refused = [r for r in sheets["问题清单"] if str(r.get("问题代码", "")).startswith("REVIEW_")]
        return self.views.page(
            request,
            "review.html",
            status_code=status_code,
            rows=rows,
            error=error,
            problems=problems or [],
            applied=applied,
            refused=refused,
        )

    async def upload(self, request: Request) -> Response:
        """A 核定表 the 考核组 filled in Excel, uploaded: kept beside the results, then the
        campaign rescored with it (as `qz score --review 文件`)."""
        from qz_excel.campaign.scoring import CampaignScore, score_campaign
        from qz_excel.followup.review import ReviewError, read_review
        from qz_excel.rules.ruleset import load_rules

        upload = request.state.form.get("table")
        if not getattr(upload, "filename", None):
            return RedirectResponse(f"/review?msg={quote('请选择填好的核定表')}", status_code=303)
        suffix = Path(upload.filename).suffix.lower()[:6] or ".xlsx"
        data = await upload.read(LIMITS.file_bytes + 1)
        if len(data) > LIMITS.file_bytes:
            return PlainTextResponse("核定表太大", status_code=413)
        kept = unique_path(self.campaign.root, "核定表（上传）", suffix, set())
        atomic_write_bytes(kept, data)
        try:
            read_review(kept, load_rules(self.campaign.rules))  # a file that is no 核定表: said now
        except ReviewError as exc:
            kept.unlink()
            return RedirectResponse(f"/review?msg={quote(str(exc))}", status_code=303)
        campaign = self.campaign

        def work(progress):
            report = score_campaign(campaign, CampaignScore(review=True, review_file=kept), progress)
            verified = len(report.reviews) if report.reviews is not None else 0
            return f"核定完成：采用核定值 {verified} 个，已重新评分。", report

        return started(self.views.jobs, "核定", work)

    async def enter(self, request: Request) -> Response:
        from qz_excel.campaign.reviewing import Entry, enter_reviews
        from qz_excel.campaign.scoring import CampaignScore, score_campaign

        form = request.state.form
        entries = []
        for k in range(int(form.get("rows", 0))):
            value, reason = str(form.get(f"value_{k}", "")).strip(), str(form.get(f"reason_{k}", "")).strip()
            if value or reason:
                entries.append(
                    Entry(
                        town=str(form.get(f"town_{k}", "")),
                        code=str(form.get(f"code_{k}", "")),
                        value=value,
                        reason=reason,
                        reviewer=str(form.get(f"who_{k}", "")).strip(),
                    )
                )
        if not entries:
            return RedirectResponse(f"/review?msg={quote('没有填写任何核定值')}", status_code=303)
        problems = enter_reviews(self.campaign, entries)
        if problems:
            return await self.review(request, problems, status_code=422)

        def work(progress):
            report = score_campaign(self.campaign, CampaignScore(review=True), progress)
            verified = len(report.reviews) if report.reviews is not None else 0
            return f"核定完成：采用核定值 {verified} 个，已重新评分。", report

        return started(self.views.jobs, "核定", work)


async def fetch_mail_view(views: Views, request: Request) -> Response:
    """收取回件 from the board: the mailbox of qz.toml, the password typed in the page."""
    from qz_excel.campaign.fetching import fetch_campaign

    password = str(request.state.form.get("password", ""))
    campaign = views.campaign

    def work(progress):
        with progress("收取回件", 0) as bar:
            state = {"done": 0}

            def step(done: int, total: int) -> None:
                bar.update(done - state["done"])
                state["done"] = done

            report = fetch_campaign(campaign, password, step)
        lines = [f"已保存 {s.file.name}（{s.town or s.sender}）" for s in report.saved]
        lines += [f"需联系 {u.town or u.sender}：{u.what + '：' if u.what else ''}{u.ask}" for u in report.unusable]
        head = f"收到 {report.messages} 封来信，{len(report.saved)} 个工作簿已存入收件箱。"
        return "\n".join([head, *lines]), report

    return started(views.jobs, "收取回件", work)
