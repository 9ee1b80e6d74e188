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
        Route("/mail", mail.mail),
        Route("/mail/letter", mail.letter),
        Route("/mail/send", mail.send, methods=["POST"]),
        Route("/towns", more.towns),
        Route("/towns", more.replace_towns, methods=["POST"]),
        Route("/templates", more.templates),
        Route("/templates", more.make_templates, methods=["POST"]),
        Route("/templates/all.zip", more.templates_zip),
        Route("/settings", more.settings),
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
