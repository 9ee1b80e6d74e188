"""Plain modules every stage uses, knowing nothing of any stage.

Takes: nothing of qz_excel. Gives: :mod:`.problems` (a problem is a record with a stable
code and a location; the Report a run hands the CLI), :mod:`.towns` (the towns list),
:mod:`.files` (umask, atomic writes, names every file system takes), :mod:`.xlsx`
(XlsxWriter formats declared once, workbooks assembled in memory), :mod:`.xlsx_rows`
(long plain tables streamed a column at a time, as XlsxWriter writes them), :mod:`.parallel` (both
cores through a process pool), :mod:`.textwidth`, :mod:`.resources` (the bundled rules
files and jinja2 templates).

Must not import: any stage (rules, template, intake, scoring, results, followup, mail,
pipeline, cli).
"""
