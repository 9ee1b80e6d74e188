"""`qz web`: the year's work in a browser on the clerk's own PC, a thin layer over the
library (the datasette way: Starlette views, Jinja2 pages, plain HTML forms, htmx for the
progress that updates itself).

Takes: a campaign folder. Gives: :mod:`.security` (127.0.0.1 only, the Host header
checked, a one-time link turned into an HttpOnly SameSite=Strict cookie, a CSRF token and
the Origin checked on every POST, a strict Content-Security-Policy, upload limits),
:mod:`.jobs` (one long job at a time in the background, its progress by phase, cancel),
:mod:`.views` (the pages), :mod:`.app` (the application), :mod:`.server` (uvicorn on a
free port, one server per campaign).

Every action calls the same library functions as the CLI. Must not import cli.
"""
