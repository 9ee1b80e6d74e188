"""`qz web`: the year's work in a browser on this PC."""

from __future__ import annotations

from pathlib import Path

import click

from qz_excel.cli.common import fail, loading


@click.command(short_help="在浏览器里完成一年的工作（只在本机，127.0.0.1）。")
@click.argument("folder", required=False, type=click.Path(file_okay=False), metavar="[考核目录]")
@click.option("--port", type=click.IntRange(1024, 65535), default=None, help="端口（默认：自动找一个空闲端口）")
@click.option("--no-browser", is_flag=True, help="不自动打开浏览器，只显示链接")
@click.pass_context
def web(ctx, folder, port, no_browser):
    """在本机启动网页版（只有这台电脑能打开），浏览器里看报送情况、上传回件、评分、看排名和下载结果。"""
    from qz_excel.cli.campaign import campaign_of

    if folder:
        ctx.find_root().obj = {**(ctx.find_root().obj or {}), "campaign_dir": folder}
    campaign = campaign_of(ctx) if folder is None or (Path(folder) / "qz.toml").exists() else None
    with loading():
        from qz_excel.web.server import WebBusy, serve

    if campaign is None:
        click.echo("这里还没有考核年度工作目录：浏览器里的第一页可以新建一个")
    try:
        serve(campaign, port, not no_browser, click.echo, folder=Path(folder).resolve() if folder else None)
    except WebBusy as exc:
        fail(f"这个考核目录已有 qz web 在运行：{exc.url}（请用已经打开的页面，或先在那里点“关闭”）")
    except OSError as exc:
        fail(f"无法启动网页服务：{exc.strerror or exc}（端口被占用时可用 --port 换一个）")
    click.echo("qz web 已关闭")
