"""Mail with the towns: templates, reminders (催报) and correction requests (反馈) out;
their returned workbooks in (`qz fetch`).

Takes: a templates folder or a results folder, the towns list with 邮箱, jinja2 letter
templates. Gives: :mod:`.letters` (letters built, dry-run .eml drafts, the append-only send
log that keeps a rerun from sending twice), :mod:`.smtp` (the connection, retries, and
every failure in Chinese), :mod:`.fetch` (attachments out of the bureau's mailbox into the
inbox, never twice) over :mod:`.imap` (a read-only IMAP connection).

Must not import: pipeline, cli.
"""
