"""The application: routes to views, the guard in front, pages from templates/web."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from qz_excel.campaign.folder import Campaign
from qz_excel.common.resources import templates_dir
from qz_excel.web.jobs import Jobs
from qz_excel.web.security import Guard, GuardMiddleware
from qz_excel.web.views import MailPages, MorePages, ReviewPages, Views, fetch_mail_view


def create_app(campaign: Campaign, guard: Guard, shutdown: Callable[[], None] = lambda: None) -> Starlette:
    web = templates_dir() / "web"
    templates = Environment(loader=FileSystemLoader(str(web)), autoescape=select_autoescape(["html"]))
    views = Views(campaign, templates, Jobs(), shutdown)
    more = MorePages(views)
    mail = MailPages(views)
    review = ReviewPages(views)
    routes = [
        Route("/review", review.review),
        Route("/review", review.enter, methods=["POST"]),
        Route("/review/upload", review.upload, methods=["POST"]),
        Route("/mail", mail.mail),
        Route("/mail/letter", mail.letter),
        Route("/mail/send", mail.send, methods=["POST"]),
        Route("/towns", more.towns),
        Route("/towns", more.replace_towns, methods=["POST"]),
        Route("/templates", more.templates),
        Route("/templates", more.make_templates, methods=["POST"]),
        Route("/templates/all.zip", more.templates_zip),
        Route("/settings", more.settings),
        Route("/settings", more.save_settings, methods=["POST"]),
        Route("/", views.home),
        Route("/board", views.board),
        Route("/upload", views.upload, methods=["POST"]),
        Route("/fetch", partial(fetch_mail_view, views), methods=["POST"]),
        Route("/score", views.score_page),
        Route("/score", views.start_score, methods=["POST"]),
        Route("/job", views.job_page),
        Route("/job/progress", views.job_progress),
        Route("/job/cancel", views.cancel, methods=["POST"]),
        Route("/ranking", views.ranking),
        Route("/town/{town}", views.town),
        Route("/files/{key}", views.download),
        Route("/close", views.close, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(Path(web) / "static")), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(GuardMiddleware, guard=guard)])
    app.state.views = views
    return app


class Switchable:
    """The application the server runs, which the first page may replace: `qz web` started
    outside a campaign serves the page that creates one, then the campaign itself."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


def create_setup_app(folder: Path, guard: Guard, switch: Callable[[Campaign], None], name: str = "考核") -> Starlette:
    """The one page shown when `qz web` starts outside a campaign: it makes one (qz init)
    as ``folder``/<name>."""
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, RedirectResponse, Response

    web = templates_dir() / "web"
    templates = Environment(loader=FileSystemLoader(str(web)), autoescape=select_autoescape(["html"]))

    async def form(request: Request) -> Response:
        from qz_excel.common.resources import bundled_rules

        page = templates.get_template("setup.html").render(
            csrf=request.state.csrf,
            folder=str(folder),
            name=name,
            rules=list(bundled_rules()),
            error=request.query_params.get("msg", ""),
        )
        return HTMLResponse(page)

    async def create(request: Request) -> Response:
        import tempfile
        from urllib.parse import quote

        from qz_excel.campaign.folder import CampaignError, init_campaign
        from qz_excel.common.files import safe_file_stem
        from qz_excel.common.towns import TownsError, read_towns
        from qz_excel.rules.ruleset import RulesError, load_rules

        data = request.state.form
        name = safe_file_stem(str(data.get("name", "")).strip() or "考核")
        rules_name = str(data.get("rules", ""))
        upload = data.get("towns")
        try:
            rules = load_rules(rules_name or None)
            with tempfile.TemporaryDirectory() as spare:
                towns = None
                if getattr(upload, "filename", None):
                    towns = Path(spare) / ("名单" + Path(upload.filename).suffix.lower())
                    towns.write_bytes(await upload.read())
                    read_towns(towns)  # refused before anything is made
                campaign, _ = init_campaign(
                    folder / name, rules.year, towns, rules_name or None, str(data.get("maker", ""))
                )
        except (CampaignError, TownsError, RulesError, OSError) as exc:
            return RedirectResponse(f"/?msg={quote(str(exc))}", status_code=303)
        switch(campaign)
        return RedirectResponse("/", status_code=303)

    routes = [
        Route("/", form),
        Route("/create", create, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(Path(web) / "static")), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(GuardMiddleware, guard=guard)])
