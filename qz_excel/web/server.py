"""uvicorn on 127.0.0.1 and a free port, one server per campaign folder."""

from __future__ import annotations

import json
import os
import socket
import threading
import webbrowser
from collections.abc import Callable
from pathlib import Path

from qz_excel.campaign.folder import Campaign
from qz_excel.web.app import Switchable, create_app, create_setup_app
from qz_excel.web.security import Guard

LOCK_NAME = ".qz-web.json"


class WebBusy(Exception):
    """Another `qz web` serves this campaign; ``url`` is where."""

    def __init__(self, url: str):
        super().__init__(url)
        self.url = url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claim(campaign: Campaign, port: int) -> Path:
    """One server per campaign: a second one would run jobs on the same folders."""
    lock = campaign.root / LOCK_NAME
    try:
        held = json.loads(lock.read_text(encoding="utf-8"))
        if _alive(int(held["pid"])) and int(held["pid"]) != os.getpid():
            raise WebBusy(f"http://127.0.0.1:{held['port']}/")
    except (OSError, ValueError, KeyError):
        pass  # no lock, or one left by a server that died
    lock.write_text(json.dumps({"pid": os.getpid(), "port": port}), encoding="utf-8")
    return lock


def serve(
    campaign: Campaign | None,
    port: int | None,
    open_browser: bool,
    echo: Callable[[str], None],
    folder: Path | None = None,
) -> None:
    """Serves ``campaign``; without one, the page that creates it in ``folder`` first."""
    import uvicorn

    port = port or free_port()
    guard = Guard(port)
    server: uvicorn.Server | None = None
    locks: list[Path] = []

    def shutdown() -> None:
        if server is not None:
            server.should_exit = True

    def switch(made: Campaign) -> None:
        locks.append(_claim(made, port))
        app.app = create_app(made, guard, shutdown)

    if campaign is not None:
        locks.append(_claim(campaign, port))
        app = Switchable(create_app(campaign, guard, shutdown))
    else:
        app = Switchable(None)
        # `qz web 2011年考核` for a folder not made yet: the page offers to make it, there
        target = folder if folder is not None else Path.cwd() / "考核"
        app.app = create_setup_app(target.parent, guard, switch, target.name)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    echo(f"qz web 已在本机启动：{guard.link}")
    echo("（这个链接只能打开一次；关闭时点页面右上角的“关闭”，或在这里按 Ctrl+C）")
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(guard.link,)).start()
    try:
        server.run()
    finally:
        for lock in locks:
            lock.unlink(missing_ok=True)
