"""qz_excel: a county bureau's 质量工作考核 of its towns, from Excel in to Excel out.

The package is laid out as the flow it runs, each stage a folder whose ``__init__`` says
what it takes, what it gives and what it must not import. Stages import only downward
(checked in CI by import-linter, ``[tool.importlinter]`` in pyproject.toml):

    cli             the `qz` command: parses, calls, renders; the only code that prints or exits
    campaign        a year's assessment as one folder: qz.toml, the layout, where things stand
    pipeline        `qz score` as one library call: inbox → Report and a results folder
    mail            letters to the towns over SMTP
    followup        反馈 per town, reminders read back from results, 核定表 and --review
    results         评分细则, 汇总, booklet, PDF through LibreOffice, publishing a results folder
    scoring         the engine: rules × values frame → points, outcomes, explanations
    intake          returned files → safety checks → cell facts → one values frame + problems
    template        the workbook a town fills: its layout contract, the writer, samples
    rules           the rules language: the rules file, sub-rule kinds, value types
    common          plain modules every stage uses: problems and Report, towns list, files,
                    xlsx writing, the worker pool, text width, bundled resources
"""

__version__ = "0.1.0"
