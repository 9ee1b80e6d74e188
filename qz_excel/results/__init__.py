"""What a scoring run writes and how it reaches the results folder.

Takes: ``Rules``, a ``ScoreResult`` and intake's records. Gives: :mod:`.town_sheet` (the
评分细则 of one town, fit to sign), :mod:`.summary` (汇总.xlsx: 汇总排名, 总分图, 评分明细,
问题清单, 文件清单, 变更记录), :mod:`.booklet` (评分细则汇编.pdf), :mod:`.office` (LibreOffice
headless: PDF and format conversion), :mod:`.publish` (a results folder is always one run's,
whole: staged, journaled, renamed into place, locked), :mod:`.cache` (what a rerun takes
over from the run before: returned files read, 评分细则 and 反馈 written, when unchanged).

A new output is a writer here, called from :mod:`qz_excel.pipeline`. Must not import:
followup, mail, pipeline, cli.
"""
