"""A local server is still a server: what every request must show before a view runs.

- the Host header must name 127.0.0.1 or localhost (a DNS-rebinding page cannot reach us);
- the one-time link's token becomes a session cookie (HttpOnly, SameSite=Strict) and leaves
  the address bar; without the cookie every page is 403;
- every POST carries the session's CSRF token and, when the browser sends one, an Origin
  of this server;
- every response forbids inline and foreign scripts (CSP ``script-src 'self'``);
- uploads are limited in size and count before anything is written.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

COOKIE = "qz_session"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
#: one upload: this many files at most, each within intake's file limit
MAX_FILES = 200
MAX_REQUEST_BYTES = 50 * 1024 * 1024


@dataclass
class Guard:
    """The server's secrets: the one-time token of the link it printed, and the sessions
    that link opened (each with its CSRF token)."""

    port: int
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    sessions: dict[str, str] = field(default_factory=dict)  # session id → CSRF token
    token_used: bool = False

    @property
    def link(self) -> str:
        return f"http://127.0.0.1:{self.port}/?token={self.token}"

    def hosts(self) -> set[str]:
        return {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}

    def origins(self) -> set[str]:
        return {f"http://{host}" for host in self.hosts()}

    def open_session(self) -> tuple[str, str]:
        session, csrf = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.sessions[session] = csrf
        return session, csrf

    def csrf_of(self, request: Request) -> str | None:
        return self.sessions.get(request.cookies.get(COOKIE, ""))


def _refuse(status: int, text: str) -> Response:
    return PlainTextResponse(text, status_code=status, headers={"Content-Security-Policy": CSP})


class GuardMiddleware:
    """Checks Host, session and CSRF before any view; adds the security headers."""

    def __init__(self, app: ASGIApp, guard: Guard):
        self.app, self.guard = app, guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        response = await self._check(request)
        if response is not None:
            await response(scope, receive, send)
            return

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),  # no-referrer would make the Origin of our own POSTs "null"
                    (b"cache-control", b"no-store"),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)

    async def _check(self, request: Request) -> Response | None:
        guard = self.guard
        if request.headers.get("host", "") not in guard.hosts():
            return _refuse(400, "请求的主机名不对：请用 qz web 给出的 http://127.0.0.1 链接打开")
        token = request.query_params.get("token")
        if request.url.path == "/" and token is not None:
            if guard.token_used or not hmac.compare_digest(token, guard.token):
                return _refuse(403, "这个链接已用过或不对：请关闭此页，在运行 qz web 的窗口里重新打开它给出的链接")
            guard.token_used = True
            session, _ = guard.open_session()
            response = RedirectResponse("/", status_code=303)  # the token leaves the address bar
            response.set_cookie(COOKIE, session, httponly=True, samesite="strict", path="/")
            return response
        csrf = guard.csrf_of(request)
        if csrf is None:
            return _refuse(403, "没有登录：请用运行 qz web 时给出的链接打开（每个链接只能用一次）")
        request.state.csrf = csrf
        if request.method == "POST":
            origin = request.headers.get("origin")
            if origin is not None and origin not in guard.origins():
                return _refuse(403, "请求来自别的网站，已拒绝")
            length = int(request.headers.get("content-length") or 0)
            if length > MAX_REQUEST_BYTES:
                return _refuse(
                    413,
                    f"上传的内容太大（{length // 1024 // 1024} MB）：一次最多 {MAX_REQUEST_BYTES // 1024 // 1024} MB",
                )
            sent = request.headers.get("x-csrf-token")
            if sent is None:
                try:
                    form = await request.form(max_files=MAX_FILES, max_fields=1000)
                except Exception:  # noqa: BLE001 — too many files, a malformed body
                    return _refuse(413, f"一次最多上传 {MAX_FILES} 个文件")
                request.state.form = form  # scope state: the view reads the form parsed here
                sent = str(form.get("csrf", ""))
            if not hmac.compare_digest(sent, csrf):
                return _refuse(403, "表单已过期或不是从本页提交的：请刷新页面后重试")
        return None
