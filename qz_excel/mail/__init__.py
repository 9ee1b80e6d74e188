"""Mail to the towns: templates, reminders (催报) and correction requests (反馈).

Takes: a templates folder or a results folder, the towns list with 邮箱, jinja2 letter
templates. Gives: :mod:`.letters` (letters built, dry-run .eml drafts, the append-only send
log that keeps a rerun from sending twice), :mod:`.smtp` (the connection, retries, and
every failure in Chinese).

Must not import: pipeline, cli.
"""
